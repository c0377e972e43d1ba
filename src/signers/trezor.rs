//! Trezor: not built yet (issue D).

use anyhow::{Result, bail};

use super::{Signer, SignerArgs};

pub async fn open(_args: &SignerArgs) -> Result<Signer> {
    bail!("Trezor signing is not available in this build yet: use --ledger, --keystore or an offline bundle")
}
