//! `-q/--quiet`, for scripts: only the result (stdout) and errors. What a command says along
//! the way goes to stderr from many places, so rather than a switch at each, stderr itself is
//! pointed at /dev/null and errors, and questions that need an answer, keep the real one.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::OnceLock;

static REAL_STDERR: OnceLock<File> = OnceLock::new();

/// Silences stderr for the rest of the process, keeping a handle on the real one.
pub fn enable() -> std::io::Result<()> {
    let null = File::options().write(true).open("/dev/null")?;
    // SAFETY: plain descriptor calls on the main thread before any other thread exists; the
    // duplicate is owned by the File from here on.
    unsafe {
        let saved = libc::dup(2);
        if saved < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::dup2(null.as_raw_fd(), 2) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let _ = REAL_STDERR.set(File::from_raw_fd(saved));
    }
    Ok(())
}

/// Where errors and questions go: the real stderr, also under `--quiet`, coloured as allowed.
pub fn errors() -> anstream::AutoStream<Box<dyn Write>> {
    let raw: Box<dyn Write> = match REAL_STDERR.get().and_then(|f| f.try_clone().ok()) {
        Some(file) => Box::new(file),
        None => Box::new(std::io::stderr()),
    };
    let choice = match anstream::ColorChoice::global() {
        anstream::ColorChoice::Auto => {
            let terminal = match REAL_STDERR.get() {
                Some(file) => std::io::IsTerminal::is_terminal(file),
                None => std::io::IsTerminal::is_terminal(&std::io::stderr()),
            };
            let allowed = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            if terminal && allowed { anstream::ColorChoice::Always } else { anstream::ColorChoice::Never }
        }
        other => other,
    };
    anstream::AutoStream::new(raw, choice)
}

/// Text a question needs (a prompt, the keypad to answer it on, why an answer was refused), on
/// the real stderr also under `--quiet`: hidden, the question could not be answered.
pub fn ask(text: &str) {
    let mut err = errors();
    let _ = write!(err, "{text}");
    let _ = err.flush();
}

/// The descriptor of the real stderr: the saved one under `--quiet`, else 2.
pub fn real_stderr_fd() -> std::os::fd::RawFd {
    REAL_STDERR.get().map_or(libc::STDERR_FILENO, |file| file.as_raw_fd())
}
