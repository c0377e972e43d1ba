//! Offline signing: an action builds an unsigned bundle online (`--unsigned-out FILE`), `sign`
//! signs it on a machine with no network, `broadcast` checks and sends it from anywhere.
//! docs/bundle.md describes the file and every check.

pub mod build;
pub mod bundle;
pub mod files;
pub mod input;
pub mod qr;
pub mod safe_bundle;
pub mod show;

use std::path::PathBuf;

use clap::Args;

/// Options of every action for building a bundle instead of signing.
#[derive(Debug, Clone, Default, Args)]
pub struct BuildArgs {
    /// Plan, simulate and preview online, then write an unsigned bundle to FILE instead of
    /// signing (no signer needed: --from names the account). Never overwrites a file.
    #[arg(long, value_name = "FILE", global = true)]
    pub unsigned_out: Option<PathBuf>,

    /// Nonce of the first transaction [default: the account's next, pending included]; with
    /// the fee options, builds for a later moment.
    #[arg(long, value_name = "N", global = true)]
    pub nonce: Option<u64>,
}
