//! Ledger: not built yet (issue C).

use anyhow::{Result, bail};

use super::{Signer, SignerArgs};

pub async fn open(_args: &SignerArgs) -> Result<Signer> {
    bail!("Ledger signing is not available in this build yet: use --keystore or --private-key-env")
}
