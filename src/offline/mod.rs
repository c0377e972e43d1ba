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

    /// With --unsigned-out and --max-fee-cap: build N fee levels of every transaction, from
    /// the fees of now up to the cap, each signed on its own; `broadcast` climbs them while a
    /// transaction is not mined.
    #[arg(long, value_name = "N", global = true)]
    pub fee_ladder: Option<usize>,
}

impl BuildArgs {
    /// `--fee-ladder` needs a bundle to write and a cap to climb to.
    pub fn check_ladder(&self, cap: Option<u128>, safe: bool) -> Result<(), String> {
        let Some(levels) = self.fee_ladder else { return Ok(()) };
        if self.unsigned_out.is_none() {
            return Err("--fee-ladder builds the levels into a bundle: add --unsigned-out FILE (online, \
                        --max-fee-cap alone re-bids while waiting)"
                .into());
        }
        if safe {
            return Err(
                "--fee-ladder does not apply to --safe: the transaction that executes a Safe's is built \
                        and signed at broadcast, by whoever pays"
                    .into(),
            );
        }
        if cap.is_none() {
            return Err(format!("--fee-ladder {levels} climbs to a ceiling: add --max-fee-cap GWEI"));
        }
        crate::fees::check_levels(levels)
    }
}
