//! Trezor: not built yet (issue D).

use anyhow::{Result, bail};

use super::{Signer, SignerArgs};

pub async fn open(_args: &SignerArgs) -> Result<Signer> {
    bail!("Trezor signing is not available in this build yet: use --ledger, --keystore or an offline bundle")
}

pub async fn addresses(
    _args: &SignerArgs,
    _paths: &[super::DerivationPath],
) -> Result<Vec<alloy::primitives::Address>> {
    bail!("Trezor support is not available in this build yet")
}
