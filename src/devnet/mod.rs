//! A local chain with the reference contracts, wired as mainnet is, for drills and tests.

pub mod anvil;
pub mod deploy;
pub mod safe;
pub mod sky;

pub use anvil::{Anvil, AnvilOptions};
pub use deploy::{DeployParams, Deployment, Layout, deploy};

use std::path::PathBuf;

use alloy::providers::DynProvider;
use anyhow::Result;

/// An HTTP provider that sends exactly what it is told (no nonce, gas or fee fillers).
pub fn provider(url: &str) -> Result<DynProvider> {
    Ok(crate::chain::rpc::http_provider(url.parse()?))
}

/// A running anvil with the reference contracts deployed on it.
pub struct LocalChain {
    pub anvil: Anvil,
    pub provider: DynProvider,
    pub deployment: Deployment,
}

/// Starts anvil with `options` and deploys everything with `params`.
pub async fn launch(options: &AnvilOptions, params: &DeployParams) -> Result<LocalChain> {
    let anvil = Anvil::spawn(options).await?;
    let provider = provider(anvil.url())?;
    let deployment = deploy(&provider, params).await?;
    Ok(LocalChain { anvil, provider, deployment })
}

/// As [`launch`], on a free port of its own choosing: when another process takes the port
/// between its pick and anvil's bind (tests and drills start many nodes side by side), it
/// picks another, up to five times.
pub async fn launch_on_free_port(options: &AnvilOptions, params: &DeployParams) -> Result<LocalChain> {
    let mut taken = Vec::new();
    for _ in 0..5 {
        let options = AnvilOptions { port: anvil::free_port()?, ..options.clone() };
        match Anvil::spawn(&options).await {
            Ok(anvil) => {
                let provider = provider(anvil.url())?;
                let deployment = deploy(&provider, params).await?;
                return Ok(LocalChain { anvil, provider, deployment });
            }
            Err(e) if e.is::<anvil::PortInUse>() => taken.push(options.port),
            Err(e) => return Err(e),
        }
    }
    anyhow::bail!("five free ports in a row were taken before anvil could bind them: {taken:?}")
}

/// File name of the address book inside the devnet's state directory.
pub const ADDRESS_BOOK: &str = "addresses.json";
/// File name of a detached devnet's process id.
pub const PID_FILE: &str = "anvil.pid";

/// `$XDG_STATE_HOME/defender/devnet`, else `~/.local/state/defender/devnet`.
pub fn default_state_dir() -> PathBuf {
    crate::dirs::defender_dir("XDG_STATE_HOME", ".local/state")
        .unwrap_or_else(|| PathBuf::from("defender"))
        .join("devnet")
}
