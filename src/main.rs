//! The `defender` binary: parses the command line before anything else (so `--help` stays
//! instant), then runs the command on a Tokio runtime and turns errors into exit codes.

use std::process::ExitCode;

use defender::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse_with_sources();
    defender::style::init(cli.global.color, cli.global.json);
    if cli.global.quiet
        && let Err(error) = defender::quiet::enable()
    {
        eprintln!("error: --quiet: cannot silence stderr: {error}");
        return ExitCode::FAILURE;
    }
    if only_reads(&cli.command) {
        die_quietly_on_a_closed_pipe();
    } else {
        defender::stdout_guard::keep_printing();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(defender::commands::run(cli)) {
        Ok(code) => code,
        Err(error) => {
            use defender::style::{DANGER, paint};
            use std::io::Write;
            let mut err = defender::quiet::errors();
            let _ = writeln!(err, "{} {error}", paint(DANGER, "error:"));
            for cause in error.chain().skip(1) {
                let _ = writeln!(err, "  caused by: {cause}");
            }
            exit_code(&error)
        }
    }
}

/// Commands that only print what they read: nothing is lost if their reader goes away.
fn only_reads(command: &Command) -> bool {
    matches!(
        command,
        Command::Status(_)
            | Command::Queue(_)
            | Command::Accounts(_)
            | Command::Completions(_)
            | Command::Man(_)
    )
}

/// `defender queue --history | head` should end like any Unix filter, not panic in `println!`.
/// Rust ignores SIGPIPE so that writes fail instead; for the reading commands the default
/// (end the process) is right. Commands that send keep Rust's choice, so a vanished reader can
/// never cut a batch short without the report on stderr.
fn die_quietly_on_a_closed_pipe() {
    // SAFETY: called first thing on the main thread, before any other thread exists; restoring
    // a signal's default disposition touches no Rust state.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Exit codes (docs/cli.md): 1 failed, 2 bad input, 3 refused before signing, 4 partly sent.
fn exit_code(error: &anyhow::Error) -> ExitCode {
    if error.is::<defender::send::PartlySent>() {
        ExitCode::from(4)
    } else if error.is::<defender::pipeline::Refused>() {
        ExitCode::from(3)
    } else if error.is::<defender::commands::session::InputError>() {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}
