//! The user's `defender watch`, left running beside the drill as a child process with the
//! user's own connection and signer, as it runs beside a holder during an attack. The drill
//! shows its log lines in the timeline, keeps them to show when a verdict fails, and stops
//! the process when the scenario ends (or fails), so no watcher outlives its chain.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::Drill;

/// How long `watch` may take to print its first line before the drill gives up on it.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `defender watch`; stopped when dropped.
pub struct Watcher {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Drill {
    /// Starts `defender watch` with the user's options, watching plots from `from_block` on,
    /// and waits for its first log line.
    pub async fn start_watch(&self, from_block: u64) -> Result<Watcher> {
        let from = from_block.to_string();
        let args = ["watch", "--interval", "0.1", "--from-block", from.as_str()];
        let typed = format!("defender {} &", args.join(" "));
        self.event("YOU", &format!("{typed}   (left running in the background)")).await?;
        self.confirm_step("start it")?;
        let mut command = Command::new(&self.part.exe);
        command
            .args(args)
            .args(&self.part.connection)
            .args(&self.part.signer)
            .envs(self.part.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().with_context(|| format!("starting {typed}"))?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (first_line, started) = mpsc::channel();
        let streams: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stdout.take().context("watch's stdout")?),
            Box::new(child.stderr.take().context("watch's stderr")?),
        ];
        for stream in streams {
            let (lines, first_line, show) = (lines.clone(), first_line.clone(), !self.json);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    // Its log lines only: the previews of what it sends would bury the timeline.
                    if let Some(logged) = log_line(&line).filter(|_| show) {
                        eprintln!("  {:>13} watch          {logged}", "");
                    }
                    lines.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(line);
                    let _ = first_line.send(());
                }
            });
        }
        drop(first_line);
        let waited = tokio::task::spawn_blocking(move || started.recv_timeout(START_TIMEOUT)).await?;
        let mut watcher = Watcher { child, lines };
        if waited.is_err() || !watcher.running() {
            // Give the readers a moment to collect what the process said before it ended.
            tokio::time::sleep(Duration::from_millis(200)).await;
            bail!("`{typed}` did not start:\n{}", watcher.output());
        }
        Ok(watcher)
    }
}

impl Watcher {
    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything it printed so far, stdout and stderr interleaved as they came.
    pub fn output(&self) -> String {
        self.lines.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).join("\n")
    }

    /// Stops it; says whether it was still running (a watcher that died is a failure).
    pub fn stop(mut self) -> bool {
        let was_running = self.running();
        self.kill();
        was_running
    }

    fn kill(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.kill();
    }
}

/// watch's own log lines start with an RFC 3339 time (the timeline has its own, so it goes);
/// anything else it prints is the preview and report of a transaction it sends.
fn log_line(line: &str) -> Option<&str> {
    let (first, rest) = line.split_once("  ")?;
    humantime::parse_rfc3339(first).is_ok().then_some(rest)
}
