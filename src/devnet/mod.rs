//! A local chain with the reference contracts, wired as mainnet is, for drills and tests.

pub mod anvil;
pub mod deploy;

pub use anvil::{Anvil, AnvilOptions};
pub use deploy::{DeployParams, Deployment, deploy};

use std::path::PathBuf;

/// File name of the address book inside the devnet's state directory.
pub const ADDRESS_BOOK: &str = "addresses.json";
/// File name of a detached devnet's process id.
pub const PID_FILE: &str = "anvil.pid";

/// `$XDG_STATE_HOME/defender/devnet`, else `~/.local/state/defender/devnet`.
pub fn default_state_dir() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("defender").join("devnet")
}
