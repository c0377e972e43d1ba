//! Finding and running anvil, the local Ethereum node the devnet and the tests use.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use alloy::providers::Provider;
use anyhow::{Context, Result, bail};
use tokio::process::{Child, Command};

/// How to find anvil when it is not given explicitly.
pub const INSTALL_HINT: &str = "install it with `npm install @foundry-rs/anvil-linux-amd64` in the defender checkout \
     (scripts/setup.sh does this) or with foundryup, or point DEFENDER_ANVIL at the binary";

/// anvil's default mnemonic; its first accounts are the devnet's holders and deployer.
pub const TEST_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// Locates the anvil binary: `$DEFENDER_ANVIL`, then `PATH`, then `node_modules/.bin` of the
/// current directory or of the checkout this binary was built in.
pub fn find_anvil() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("DEFENDER_ANVIL") {
        let path = PathBuf::from(path);
        if is_executable(&path) {
            return Ok(path);
        }
        bail!("DEFENDER_ANVIL={} is not an executable file; {INSTALL_HINT}", path.display());
    }
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|dir| dir.join("anvil")).collect())
        .unwrap_or_default();
    if let Ok(cwd) = std::env::current_dir() {
        candidates.push(cwd.join("node_modules/.bin/anvil"));
    }
    // target/{debug,release}/defender -> the checkout's node_modules.
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(4) {
            candidates.push(dir.join("node_modules/.bin/anvil"));
        }
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/.bin/anvil"));
    candidates
        .into_iter()
        .find(|path| is_executable(path))
        .with_context(|| format!("anvil was not found; {INSTALL_HINT}"))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// A free TCP port on 127.0.0.1, for tests that start many chains side by side.
/// The port asked for is held by another process.
#[derive(Debug, thiserror::Error)]
#[error(
    "port {0} on 127.0.0.1 is in use (another devnet? stop it with `defender devnet --stop`, or pick another with --port)"
)]
pub struct PortInUse(pub u16);

/// A port no process holds now. Another may take it before anvil binds it (an outgoing
/// connection's local port, say): [`super::launch_on_free_port`] then picks another.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

#[derive(Debug, Clone)]
pub struct AnvilOptions {
    pub port: u16,
    pub chain_id: u64,
    /// Seconds between blocks; `None` mines a block per transaction.
    pub block_time: Option<u64>,
    /// Keep running when this process exits (the devnet's `--detach`).
    pub detach: bool,
    /// Where anvil's own output goes (`--detach` keeps a log next to the pid file).
    pub log_file: Option<PathBuf>,
}

impl Default for AnvilOptions {
    fn default() -> Self {
        Self { port: 8545, chain_id: 31337, block_time: None, detach: false, log_file: None }
    }
}

/// A running anvil. Dropping it stops the node unless it was started detached.
#[derive(Debug)]
pub struct Anvil {
    child: Option<Child>,
    pid: u32,
    url: String,
    detached: bool,
}

impl Anvil {
    /// Starts anvil and waits until it answers JSON-RPC.
    pub async fn spawn(options: &AnvilOptions) -> Result<Self> {
        let binary = find_anvil()?;
        if TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, options.port)).is_err() {
            return Err(PortInUse(options.port).into());
        }
        let mut command = Command::new(&binary);
        command
            .args(["--host", "127.0.0.1", "--port", &options.port.to_string()])
            .args(["--chain-id", &options.chain_id.to_string()])
            .args(["--mnemonic", TEST_MNEMONIC, "--accounts", "10", "--balance", "10000"])
            // Mainnet-like fees, so previews show realistic costs rather than zero.
            .args(["--base-fee", "1000000000"])
            .stdin(Stdio::null());
        if let Some(seconds) = options.block_time {
            command.args(["--block-time", &seconds.to_string()]);
        }
        match &options.log_file {
            Some(path) => {
                let log = std::fs::File::create(path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                command.stdout(log.try_clone()?).stderr(log);
            }
            None => {
                command.stdout(Stdio::null()).stderr(Stdio::piped());
            }
        }
        if options.detach {
            // Its own process group: Ctrl-C in this terminal must not reach a detached node.
            command.process_group(0);
        } else {
            command.kill_on_drop(true);
        }
        let mut child = command.spawn().with_context(|| format!("cannot start {}", binary.display()))?;
        let pid = child.id().context("anvil exited at once")?;
        let url = format!("http://127.0.0.1:{}", options.port);

        let provider = super::provider(&url)?;
        let started = Instant::now();
        loop {
            if let Ok(chain_id) = provider.get_chain_id().await {
                if chain_id != options.chain_id {
                    bail!(
                        "the node on port {} reports chain {chain_id}, not {}",
                        options.port,
                        options.chain_id
                    );
                }
                break;
            }
            if let Some(status) = child.try_wait()? {
                let mut output = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    use tokio::io::AsyncReadExt;
                    let _ = stderr.read_to_string(&mut output).await;
                }
                if output.contains("in use") {
                    // Taken between the check above and anvil's own bind.
                    return Err(PortInUse(options.port).into());
                }
                bail!("anvil exited ({status}) before it was ready: {}", output.trim());
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!("anvil did not answer on {url} within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Self { child: Some(child), pid, url, detached: false })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits for the node to exit by itself (it only does when killed or on error).
    pub async fn wait(&mut self) -> Result<std::process::ExitStatus> {
        let child = self.child.as_mut().context("anvil is not attached")?;
        Ok(child.wait().await?)
    }

    /// Stops the node and waits for it to exit.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await.ok();
        }
        Ok(())
    }

    /// Lets the node outlive this process (it was spawned in its own process group).
    pub fn release(mut self) -> u32 {
        // Spawned in its own process group and without kill-on-drop: dropping the handle
        // leaves the process running.
        self.detached = true;
        self.child.take();
        self.pid
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        if !self.detached
            && let Some(child) = self.child.as_mut()
        {
            let _ = child.start_kill();
        }
    }
}
