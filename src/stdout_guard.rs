//! Keeps a command that sends from dying in `println!` when whoever read its stdout has gone
//! (`defender watch | tee log` and tee killed, a closed terminal). Rust turns that into a
//! panic; for a watcher that must keep cancelling, or a batch whose receipts must be reported,
//! the output moves to stderr instead, once, with a note saying so.

use std::sync::atomic::{AtomicBool, Ordering};

static MOVED: AtomicBool = AtomicBool::new(false);

/// If stdout's reader is gone, points stdout at stderr from now on. Cheap: one `poll`.
pub fn keep_printing() {
    if MOVED.load(Ordering::Relaxed) || !reader_gone() {
        return;
    }
    // SAFETY: dup2 onto the process's own stdout; Rust's stdout keeps writing to descriptor 1,
    // which now refers to the real stderr (not /dev/null under --quiet: this is the output).
    let moved = unsafe { libc::dup2(crate::quiet::real_stderr_fd(), libc::STDOUT_FILENO) } >= 0;
    if moved && !MOVED.swap(true, Ordering::Relaxed) {
        crate::quiet::ask("note: stdout was closed by its reader; output continues here on stderr\n");
    }
}

/// A pipe or socket whose other end is closed reports POLLERR (or POLLHUP) on the write side.
fn reader_gone() -> bool {
    let mut fd = libc::pollfd { fd: libc::STDOUT_FILENO, events: libc::POLLOUT, revents: 0 };
    // SAFETY: one valid pollfd, zero timeout.
    let ready = unsafe { libc::poll(&mut fd, 1, 0) };
    ready > 0 && fd.revents & (libc::POLLERR | libc::POLLHUP) != 0
}
