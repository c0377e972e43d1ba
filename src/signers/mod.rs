//! Signers: one interface (alloy's `TxSigner`) and one file per kind of key.
//!
//! Keys in files or the environment are for automation and devnets; the devices (Ledger,
//! Trezor) keep the key on the device. Every signature is checked by recovering its signer
//! before anything is sent.

pub mod env_key;
pub mod keystore;

use std::path::PathBuf;
use std::sync::Arc;

use alloy::consensus::{SignableTransaction, TxEip1559};
use alloy::network::TxSigner;
use alloy::primitives::{Address, Signature};
use anyhow::{Result, bail};
use clap::Args;

/// Options that choose the signer, shared by every command that signs.
#[derive(Debug, Clone, Default, Args)]
pub struct SignerArgs {
    /// Sign with this encrypted JSON keystore (the password is asked on the terminal).
    #[arg(long, value_name = "FILE", global = true)]
    pub keystore: Option<PathBuf>,

    /// Read the keystore password from this file instead of the terminal.
    #[arg(long, value_name = "FILE", requires = "keystore", global = true)]
    pub password_file: Option<PathBuf>,

    /// Sign with the hex private key in this environment variable (for devnets and bots).
    #[arg(long, value_name = "VAR", conflicts_with = "keystore", global = true)]
    pub private_key_env: Option<String>,
}

/// A signer and how to describe it to the user.
#[derive(Clone)]
pub struct Signer {
    inner: Arc<dyn TxSigner<Signature> + Send + Sync>,
    pub description: String,
    /// A key held in software (file or environment) rather than on a device.
    pub hot_key: bool,
}

impl Signer {
    pub fn address(&self) -> Address {
        self.inner.address()
    }

    /// Signs `tx` and checks that the signature recovers to this signer's address.
    pub async fn sign(&self, tx: &mut TxEip1559) -> Result<Signature> {
        let signature = self.inner.sign_transaction(tx).await?;
        let hash = tx.signature_hash();
        let recovered = signature.recover_address_from_prehash(&hash)?;
        if recovered != self.address() {
            bail!(
                "{} returned a signature of {recovered}, not of {}: nothing was sent",
                self.description,
                self.address()
            );
        }
        Ok(signature)
    }
}

/// Opens the signer the options name, if any, and checks it against `--from`.
pub fn open(args: &SignerArgs, from: Option<Address>) -> Result<Option<Signer>> {
    let signer = if let Some(path) = &args.keystore {
        Some(keystore::open(path, args.password_file.as_deref())?)
    } else if let Some(var) = &args.private_key_env {
        Some(env_key::open(var)?)
    } else {
        None
    };
    if let (Some(signer), Some(from)) = (&signer, from)
        && signer.address() != from
    {
        bail!(
            "--from is {from}, but {} signs as {}: fix --from or choose the right key",
            signer.description,
            signer.address()
        );
    }
    Ok(signer)
}
