//! Signers: one narrow interface ([`Backend`]) and one file per kind of key.
//!
//! Keys in files or the environment are for automation and devnets; the devices (Ledger,
//! Trezor) keep the key on the device. Every signature is checked by recovering its signer
//! before anything is written or sent.

pub mod env_key;
pub mod keystore;
pub mod ledger;
pub mod ledger_model;
pub mod local;
pub mod path;
pub mod screens;
pub mod trezor;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use alloy::consensus::{SignableTransaction, TypedTransaction};
use alloy::primitives::{Address, B256, Signature, eip191_hash_message, keccak256};
use anyhow::{Result, bail};
use async_trait::async_trait;
use clap::Args;

pub use path::{DerivationPath, PathArgs};
pub use screens::Screen;

/// What every kind of key does. Devices receive the whole transaction (they parse and show
/// it); software keys sign its hash.
#[async_trait]
pub trait Backend: Send + Sync {
    fn address(&self) -> Address;

    /// Signs an unsigned legacy, EIP-2930 or EIP-1559 transaction.
    async fn sign_transaction(&self, tx: &TypedTransaction) -> Result<Signature>;

    /// Signs an EIP-191 personal message.
    async fn sign_message(&self, message: &[u8]) -> Result<Signature>;

    /// Signs EIP-712 data given as its domain separator and struct hash (the form the Ledger
    /// app's hashed mode and the Trezor One take).
    async fn sign_typed_hashes(&self, domain: B256, message: B256) -> Result<Signature>;

    /// What the device shows for `tx`, screen by screen; `None` for keys held in software.
    fn screens(&self, _tx: &TypedTransaction) -> Option<Vec<Screen>> {
        None
    }

    /// What the device shows before it signs a personal message.
    fn message_screens(&self, _message: &[u8]) -> Option<Vec<Screen>> {
        None
    }

    /// What the device shows before it signs EIP-712 hashes.
    fn typed_hash_screens(&self, _domain: B256, _message: B256) -> Option<Vec<Screen>> {
        None
    }

    /// What the user must know about how the device shows `tx` (e.g. what it leaves out).
    fn note(&self, _tx: &TypedTransaction) -> Option<String> {
        None
    }

    /// Whether the device shows the signing hash for `tx`, to compare with the preview's.
    fn shows_hash(&self, _tx: &TypedTransaction) -> bool {
        false
    }

    /// Whether [`Backend::sign_typed_hashes`] can succeed (a Trezor other than the One
    /// cannot); callers then fall back to a personal message of the hash.
    fn signs_typed_hashes(&self) -> bool {
        true
    }
}

/// Options that choose the signer, shared by every command that signs.
#[derive(Debug, Clone, Default, Args)]
pub struct SignerArgs {
    /// Sign with this encrypted JSON keystore (the password is asked on the terminal).
    #[arg(long, value_name = "FILE", global = true, conflicts_with_all = ["ledger", "trezor"])]
    pub keystore: Option<PathBuf>,

    /// Read the keystore password from this file instead of the terminal.
    #[arg(long, value_name = "FILE", requires = "keystore", global = true)]
    pub password_file: Option<PathBuf>,

    /// Sign with the hex private key in this environment variable (for devnets and bots).
    #[arg(long, value_name = "VAR", conflicts_with_all = ["keystore", "ledger", "trezor"], global = true)]
    pub private_key_env: Option<String>,

    /// Sign on a Ledger (USB) with the Ethereum app open.
    #[arg(long, global = true, conflicts_with = "trezor")]
    pub ledger: bool,

    /// With --ledger: talk to Speculos (or the test simulator) on its APDU port instead of USB.
    #[arg(long, value_name = "HOST:PORT", requires = "ledger", global = true)]
    pub speculos: Option<SocketAddr>,

    /// Sign on a Trezor (USB).
    #[arg(long, global = true)]
    pub trezor: bool,

    /// With --trezor: talk to the Trezor emulator over UDP instead of USB.
    #[arg(
        long,
        value_name = "HOST:PORT",
        requires = "trezor",
        num_args = 0..=1,
        default_missing_value = "127.0.0.1:21324",
        global = true
    )]
    pub trezor_emulator: Option<SocketAddr>,

    /// With --trezor: type the passphrase on the device instead of the terminal.
    #[arg(long, requires = "trezor", global = true)]
    pub passphrase_on_device: bool,

    /// Show the address on the device and wait for it to be confirmed before going on.
    #[arg(long, global = true)]
    pub verify: bool,

    /// With --ledger: the Ethereum app's Settings > Debug contracts is on, so the preview
    /// lists its selector and parameter screens (the app does not tell the host).
    #[arg(long, requires = "ledger", global = true)]
    pub ledger_debug_contracts: bool,

    /// With --speculos: the model it runs (TCP carries no product id; over USB the device's
    /// own id says it).
    #[arg(long, value_name = "MODEL", value_enum, requires = "speculos", global = true)]
    pub ledger_model: Option<ledger_model::ModelArg>,

    #[command(flatten)]
    pub path: PathArgs,
}

impl SignerArgs {
    pub fn device(&self) -> Option<&'static str> {
        if self.ledger {
            Some("Ledger")
        } else if self.trezor {
            Some("Trezor")
        } else {
            None
        }
    }
}

/// A signer and how to describe it to the user.
#[derive(Clone)]
pub struct Signer {
    backend: Arc<dyn Backend>,
    pub description: String,
    /// The device's name ("Ledger", "Trezor"); `None` for a key held in software.
    device: Option<&'static str>,
}

impl Signer {
    pub fn new(backend: Arc<dyn Backend>, description: String, device: Option<&'static str>) -> Self {
        Self { backend, description, device }
    }

    /// A key held in software (file or environment) rather than on a device.
    pub fn hot_key(&self) -> bool {
        self.device.is_none()
    }

    pub fn device_name(&self) -> Option<&'static str> {
        self.device
    }

    pub fn address(&self) -> Address {
        self.backend.address()
    }

    /// What the device will show for `tx`, when the signer is a device.
    pub fn screens(&self, tx: &TypedTransaction) -> Option<Vec<Screen>> {
        self.backend.screens(tx)
    }

    /// What the device will show before it signs `message` (EIP-191).
    pub fn message_screens(&self, message: &[u8]) -> Option<Vec<Screen>> {
        self.backend.message_screens(message)
    }

    /// What the device will show before it signs EIP-712 `domain` and `message` hashes.
    pub fn typed_hash_screens(&self, domain: B256, message: B256) -> Option<Vec<Screen>> {
        self.backend.typed_hash_screens(domain, message)
    }

    /// What the preview must say about how the device shows `tx`.
    pub fn note(&self, tx: &TypedTransaction) -> Option<String> {
        self.backend.note(tx)
    }

    /// Whether the device shows the signing hash for `tx`.
    pub fn shows_hash(&self, tx: &TypedTransaction) -> bool {
        self.backend.shows_hash(tx)
    }

    /// Whether the signer can sign EIP-712 data given as its two hashes.
    pub fn signs_typed_hashes(&self) -> bool {
        self.backend.signs_typed_hashes()
    }

    /// Signs `tx` and checks that the signature recovers to this signer's address.
    pub async fn sign(&self, tx: &TypedTransaction) -> Result<Signature> {
        let signature = self.backend.sign_transaction(tx).await?;
        self.check(signature, tx.signature_hash())
    }

    /// Signs an EIP-191 message and checks the signature's signer.
    pub async fn sign_message(&self, message: &[u8]) -> Result<Signature> {
        let signature = self.backend.sign_message(message).await?;
        self.check(signature, eip191_hash_message(message))
    }

    /// Signs EIP-712 hashes and checks the signature's signer.
    pub async fn sign_typed_hashes(&self, domain: B256, message: B256) -> Result<Signature> {
        let signature = self.backend.sign_typed_hashes(domain, message).await?;
        let mut digest = Vec::with_capacity(66);
        digest.extend_from_slice(&[0x19, 0x01]);
        digest.extend_from_slice(domain.as_slice());
        digest.extend_from_slice(message.as_slice());
        self.check(signature, keccak256(digest))
    }

    fn check(&self, signature: Signature, hash: B256) -> Result<Signature> {
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

/// The device's addresses at `paths`, read silently (for `accounts`), and the device, e.g.
/// "Ledger Stax (USB)".
pub async fn device_addresses(args: &SignerArgs, paths: &[DerivationPath]) -> Result<(Vec<Address>, String)> {
    if args.ledger {
        ledger::addresses(args, paths).await
    } else if args.trezor {
        Ok((trezor::addresses(args, paths).await?, "Trezor".to_owned()))
    } else {
        bail!("no device: pass --ledger or --trezor")
    }
}

/// Opens the signer the options name, if any, and checks it against `--from`.
pub async fn open(args: &SignerArgs, from: Option<Address>) -> Result<Option<Signer>> {
    let signer = if let Some(path) = &args.keystore {
        Some(keystore::open(path, args.password_file.as_deref())?)
    } else if let Some(var) = &args.private_key_env {
        Some(env_key::open(var)?)
    } else if args.ledger {
        Some(ledger::open(args).await?)
    } else if args.trezor {
        Some(trezor::open(args).await?)
    } else {
        None
    };
    if let (Some(signer), Some(from)) = (&signer, from)
        && signer.address() != from
    {
        let hint = match args.device() {
            Some(_) => format!(
                " (path {}; try `defender accounts --{}` to list both derivation schemes)",
                args.path.path(),
                args.device().unwrap_or_default().to_lowercase()
            ),
            None => String::new(),
        };
        bail!(
            "--from is {from}, but {} signs as {}{hint}: fix --from or choose the right key",
            signer.description,
            signer.address(),
        );
    }
    Ok(signer)
}
