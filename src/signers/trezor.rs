//! Trezor: USB, or the emulator over UDP, through `trezor-client`'s raw `call_raw` and message
//! types. The interaction (button confirmations, the PIN matrix, the passphrase) is driven here,
//! not by the crate's helpers, and every exchange with the device runs on its own thread under a
//! deadline, so that a device that stops answering ends the run with a message instead of
//! hanging it.
//!
//! One connection serves a whole command: `Initialize` (Features) once, the address once, then
//! one signing flow per transaction.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::consensus::{TxEip1559, TxLegacy, TypedTransaction};
use alloy::primitives::{Address, B256, Bytes, Signature, TxKind, U256};
use anyhow::{Result, anyhow, bail};
use async_trait::async_trait;
use futures::channel::oneshot;
use futures::lock::Mutex;
use trezor_client::TrezorMessage;
use trezor_client::protos::button_request::ButtonRequestType as Button;
use trezor_client::protos::failure::FailureType as Fail;
use trezor_client::protos::{self, MessageType};
use trezor_client::transport::ProtoMessage;
use trezor_client::transport::udp::UdpTransport;
use trezor_client::transport::webusb::WebUsbTransport;

use super::screens::{Screen, trezor as screens};
use super::{Backend, DerivationPath, Signer, SignerArgs};
use crate::quiet::ask;

/// The firmware sends calldata beyond this many bytes in `EthereumTxRequest` / `EthereumTxAck`
/// rounds.
const CHUNK: usize = 1024;
/// Oldest firmware signing EIP-1559 transactions: Trezor One, then the core models (T, Safe).
const MIN_ONE: (u32, u32, u32) = (1, 10, 4);
const MIN_CORE: (u32, u32, u32) = (2, 4, 2);
/// How long to wait, in seconds, for the device while a person acts on it (confirm a screen, type
/// a passphrase on the device); the default is [`USER_WAIT`].
pub const TIMEOUT_ENV: &str = "DEFENDER_TREZOR_TIMEOUT";
const USER_WAIT: Duration = Duration::from_secs(300);
/// How long an answer that needs nobody's action may take.
const QUICK_WAIT: Duration = Duration::from_secs(20);
/// While waiting for a person, say again what the device waits for this often.
const REMIND_EVERY: Duration = Duration::from_secs(30);
/// A PIN on the grid is at most this many positions; a passphrase at most this many bytes.
const MAX_PIN: usize = 50;
const MAX_PASSPHRASE: usize = 50;
/// A Trezor that speaks only THP (the Safe 7) answers any protocol-v1 message with a Failure whose
/// payload starts with these bytes: field 1 (code) = 17, Failure_InvalidProtocol.
const THP_FAILURE_PREFIX: [u8; 2] = [0x08, 0x11];
const UDEV_RULES: &str = "https://trezor.io/learn/a/udev-rules";
const BOOTLOADER: &str = "the Trezor is in bootloader mode (the firmware update screen): unplug it and plug \
                          it in again without touching the screen, then run the command again";

/// The signer for `--trezor`.
pub async fn open(args: &SignerArgs) -> Result<Signer> {
    let backend = TrezorBackend::connect(args).await?;
    let description = format!("{} at {}", backend.device, backend.path);
    Ok(Signer::new(Arc::new(backend), description, Some("Trezor")))
}

/// The addresses at `paths`, over one connection, each read without showing it on the device
/// (for `defender accounts --trezor`).
pub async fn addresses(args: &SignerArgs, paths: &[DerivationPath]) -> Result<Vec<Address>> {
    let mut link = Link::connect(args).await?;
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        out.push(link.address(path, false).await?);
    }
    Ok(out)
}

/// A Trezor behind [`Backend`]: the connection it was opened with, the key's path and address.
pub struct TrezorBackend {
    address: Address,
    path: DerivationPath,
    /// "Trezor Model T (firmware 2.8.1)".
    device: String,
    model: Model,
    link: Mutex<Link>,
}

impl TrezorBackend {
    /// Connects, reads Features, and reads the address at `args.path.path()` (shown on the device
    /// with `--verify`).
    pub async fn connect(args: &SignerArgs) -> Result<Self> {
        let mut link = Link::connect(args).await?;
        let path = args.path.path();
        let address = link.address(&path, args.verify).await?;
        if args.verify {
            eprintln!("the Trezor showed {address} at {path} and you confirmed it");
        }
        let device = link.info.to_string();
        let model = link.info.model;
        Ok(Self { address, path, device, model, link: Mutex::new(link) })
    }
}

#[async_trait]
impl Backend for TrezorBackend {
    fn address(&self) -> Address {
        self.address
    }

    async fn sign_transaction(&self, tx: &TypedTransaction) -> Result<Signature> {
        let mut link = self.link.lock().await;
        match tx {
            TypedTransaction::Eip1559(tx) => link.sign_eip1559(&self.path, tx).await,
            TypedTransaction::Legacy(tx) => link.sign_legacy(&self.path, tx).await,
            other => bail!(
                "a Trezor signs legacy and EIP-1559 transactions only, not type {}: rebuild it as EIP-1559",
                u8::from(other.tx_type())
            ),
        }
    }

    async fn sign_message(&self, message: &[u8]) -> Result<Signature> {
        let mut m = protos::EthereumSignMessage::new();
        m.address_n = self.path.elements().to_vec();
        m.set_message(message.to_vec());
        let mut link = self.link.lock().await;
        let answer = link.flow(m, "signing the message", Some(&self.path)).await?;
        let signed: protos::EthereumMessageSignature = decode(answer, "signing the message")?;
        rsv_signature(signed.signature())
    }

    async fn sign_typed_hashes(&self, domain: B256, message: B256) -> Result<Signature> {
        if self.model != Model::One {
            bail!(
                "the {} cannot sign EIP-712 data by its hashes: only the Trezor One has \
                 EthereumSignTypedHash; the Model T and the Safe models sign only full EIP-712 \
                 structures, which defender does not send. Sign this with a Trezor One, a Ledger or \
                 a keystore; nothing was signed",
                self.device
            );
        }
        let mut m = protos::EthereumSignTypedHash::new();
        m.address_n = self.path.elements().to_vec();
        m.set_domain_separator_hash(domain.to_vec());
        m.set_message_hash(message.to_vec());
        let mut link = self.link.lock().await;
        let answer = link.flow(m, "signing the EIP-712 hashes", Some(&self.path)).await?;
        let signed: protos::EthereumTypedDataSignature = decode(answer, "signing the EIP-712 hashes")?;
        rsv_signature(signed.signature())
    }

    fn screens(&self, tx: &TypedTransaction) -> Option<Vec<Screen>> {
        Some(screens::transaction(tx))
    }

    fn message_screens(&self, message: &[u8]) -> Option<Vec<Screen>> {
        Some(screens::personal_message(message, self.address))
    }

    fn signs_typed_hashes(&self) -> bool {
        self.model == Model::One
    }

    fn typed_hash_screens(&self, domain: B256, message: B256) -> Option<Vec<Screen>> {
        // The other models refuse the request (see sign_typed_hashes): nothing to show.
        (self.model == Model::One).then(|| screens::typed_hashes(domain, message, self.address))
    }

    fn note(&self, tx: &TypedTransaction) -> Option<String> {
        screens::note(tx)
    }
}

// ---------------------------------------------------------------------------------------------
// The device

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Model {
    One,
    T,
    /// Safe 3, Safe 5 and later core models.
    Safe,
    /// THP only: Safe 7.
    Safe7,
    Unknown,
}

/// What Features said, once per connection.
#[derive(Debug, Clone)]
struct DeviceInfo {
    model: Model,
    name: String,
    version: (u32, u32, u32),
}

impl std::fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (a, b, c) = self.version;
        write!(f, "{} (firmware {a}.{b}.{c})", self.name)
    }
}

impl DeviceInfo {
    fn from_features(f: &protos::Features) -> Self {
        let (model, name) = match (f.internal_model(), f.model()) {
            ("T1B1", _) | (_, "1") => (Model::One, "Trezor One".to_string()),
            ("T2T1", _) | (_, "T") => (Model::T, "Trezor Model T".to_string()),
            ("T2B1" | "T3B1", _) | (_, "Safe 3") => (Model::Safe, "Trezor Safe 3".to_string()),
            ("T3T1", _) | (_, "Safe 5") => (Model::Safe, "Trezor Safe 5".to_string()),
            ("T3W1", _) | (_, "Safe 7") => (Model::Safe7, "Trezor Safe 7".to_string()),
            (internal, model) => {
                let shown = if model.is_empty() { internal } else { model };
                (Model::Unknown, format!("Trezor {shown}").trim().to_string())
            }
        };
        Self { model, name, version: (f.major_version(), f.minor_version(), f.patch_version()) }
    }

    /// Refuses a device defender cannot sign EIP-1559 transactions with, from its Features.
    fn check(&self, features: &protos::Features) -> Result<()> {
        if features.bootloader_mode() {
            bail!(BOOTLOADER);
        }
        if self.model == Model::Safe7 {
            bail!(thp_only());
        }
        let minimum = if self.model == Model::One { MIN_ONE } else { MIN_CORE };
        if self.version < minimum {
            let (a, b, c) = minimum;
            bail!(
                "the {self} is too old: defender needs firmware {a}.{b}.{c} or newer to sign \
                 EIP-1559 transactions. Update it in Trezor Suite (Settings > Device > Firmware), \
                 close Suite, and run the command again"
            );
        }
        if features.has_initialized() && !features.initialized() {
            bail!(
                "the {self} has no wallet (never set up, or wiped after too many wrong PINs): set it \
                 up or restore it from its recovery seed in Trezor Suite, close Suite, and run the \
                 command again"
            );
        }
        let ethereum = protos::features::Capability::Capability_Ethereum;
        if !features.capabilities.is_empty()
            && !features.capabilities.iter().any(|c| c.enum_value() == Ok(ethereum))
        {
            bail!(
                "the {self} runs firmware without Ethereum (the Bitcoin-only edition): install the \
                 universal firmware in Trezor Suite to sign Ethereum transactions"
            );
        }
        Ok(())
    }
}

fn thp_only() -> String {
    "this Trezor (a Trezor Safe 7, or firmware that speaks only the THP protocol) cannot be used: \
     trezor-client 0.1.6, which defender uses, speaks only the older protocol. Sign with a Trezor \
     One, Model T, Safe 3 or Safe 5, a Ledger, or build an unsigned bundle (--unsigned-out FILE) \
     and sign it elsewhere; nothing was signed or sent"
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// The connection: exchanges under deadlines, and the interaction

/// How long an exchange may take, and what the device waits for meanwhile.
enum Wait {
    /// No person involved: the device answers at once.
    Quick,
    /// A person acts on the device (the text says what).
    Person(String),
}

struct Link {
    /// `None` once an exchange has been abandoned (its thread may still be blocked on the
    /// transport): the reason is in `lost`.
    client: Option<trezor_client::Trezor>,
    lost: Option<String>,
    info: DeviceInfo,
    /// "the Trezor" (USB) or "the Trezor emulator at 127.0.0.1:21324", for messages.
    place: String,
    passphrase_on_device: bool,
    user_wait: Duration,
    quick_wait: Duration,
}

impl Link {
    /// Finds the device (USB, or the emulator with `--trezor-emulator`), reads Features and refuses
    /// a device defender cannot use.
    async fn connect(args: &SignerArgs) -> Result<Self> {
        let user_wait = user_wait()?;
        let quick_wait = QUICK_WAIT.min(user_wait);
        let place = match args.trezor_emulator {
            Some(addr) => format!("the Trezor emulator at {addr}"),
            None => "the Trezor".to_string(),
        };
        let emulator = args.trezor_emulator;
        let overran = match emulator {
            Some(addr) => format!(
                "the Trezor emulator at {addr} did not answer within {} s: check that it runs and \
                 listens there (--trezor-emulator HOST:PORT)",
                quick_wait.as_secs()
            ),
            None => format!(
                "looking for a Trezor on USB failed or took more than {} s: unplug it, plug it in \
                 again, and check that this user may use USB devices ({UDEV_RULES})",
                quick_wait.as_secs()
            ),
        };
        let client =
            on_thread(quick_wait, move || find(emulator)).await.ok_or_else(|| anyhow!(overran))??;
        let mut link = Self {
            client: Some(client),
            lost: None,
            info: DeviceInfo { model: Model::Unknown, name: "Trezor".into(), version: (0, 0, 0) },
            place,
            passphrase_on_device: args.passphrase_on_device,
            user_wait,
            quick_wait,
        };
        let answer = link.exchange(protos::Initialize::new(), Wait::Quick, "starting a session").await?;
        if answer.message_type() == MessageType::MessageType_Failure {
            return Err(link.failure(answer, "starting a session", None));
        }
        let features: protos::Features = decode(answer, "starting a session")?;
        link.info = DeviceInfo::from_features(&features);
        link.info.check(&features)?;
        if args.passphrase_on_device && link.info.model == Model::One {
            bail!(
                "the Trezor One cannot take a passphrase on the device: drop --passphrase-on-device \
                 and defender will ask for the passphrase on this terminal"
            );
        }
        Ok(link)
    }

    /// Sends `message` and returns the device's answer, waiting at most the deadline `wait`
    /// implies. The exchange runs on its own thread: the crate's UDP transport has no read
    /// timeout, and a USB read may block as long as the device is silent.
    async fn exchange<M: TrezorMessage + Send + 'static>(
        &mut self,
        message: M,
        wait: Wait,
        doing: &str,
    ) -> Result<ProtoMessage> {
        let Some(mut client) = self.client.take() else {
            bail!(self.lost.clone().unwrap_or_else(|| "the connection to the Trezor was lost".into()));
        };
        let sent = M::MESSAGE_TYPE;
        let (limit, waiting_for) = match &wait {
            Wait::Quick => (self.quick_wait, None),
            Wait::Person(what) => (self.user_wait, Some(what.as_str())),
        };
        let started = Instant::now();
        let (tx, mut rx) = oneshot::channel();
        std::thread::Builder::new().name("trezor-io".into()).spawn(move || {
            let result = client.call_raw(message);
            let _ = tx.send((client, result));
        })?;
        loop {
            let left = limit.saturating_sub(started.elapsed());
            let step = if waiting_for.is_some() { left.min(REMIND_EVERY) } else { left };
            match tokio::time::timeout(step, &mut rx).await {
                Ok(Ok((client, result))) => {
                    self.client = Some(client);
                    return result.map_err(|e| self.transport_error(e, doing));
                }
                Ok(Err(_)) => {
                    let why = format!(
                        "the connection to {} broke while {doing}: reconnect it and run the command \
                         again",
                        self.place
                    );
                    self.lost = Some(why.clone());
                    bail!(why);
                }
                Err(_) if started.elapsed() < limit => {
                    if let Some(what) = waiting_for {
                        eprintln!(
                            "  still waiting for the Trezor: {what} (giving up in {} s)",
                            limit.saturating_sub(started.elapsed()).as_secs()
                        );
                    }
                }
                Err(_) => {
                    let waited = match waiting_for {
                        Some(what) => format!("while it waited for you ({what})"),
                        None => format!("to {}", message_name(sent)),
                    };
                    let why = format!(
                        "{} stopped answering {waited}: no answer in {} s while {doing}. It was \
                         probably disconnected, locked, or taken by another program: reconnect it (or \
                         restart the emulator), close Trezor Suite, and run the command again",
                        self.place,
                        limit.as_secs()
                    );
                    self.lost = Some(why.clone());
                    bail!(why);
                }
            }
        }
    }

    /// Sends `request` and answers what the device asks on the way (button confirmations, PIN,
    /// passphrase) until it answers something else, which is returned; a Failure becomes an error.
    async fn flow<M: TrezorMessage + Send + 'static>(
        &mut self,
        request: M,
        doing: &str,
        path: Option<&DerivationPath>,
    ) -> Result<ProtoMessage> {
        let mut answer = self.exchange(request, Wait::Quick, doing).await?;
        let mut screen = 0;
        loop {
            answer = match answer.message_type() {
                MessageType::MessageType_ButtonRequest => {
                    let request: protos::ButtonRequest = decode(answer, doing)?;
                    screen += 1;
                    let what = button_hint(request.code(), screen);
                    eprintln!("  confirm on your Trezor: {what}");
                    self.exchange(protos::ButtonAck::new(), Wait::Person(what), doing).await?
                }
                MessageType::MessageType_PinMatrixRequest => {
                    let device = self.info.name.clone();
                    let pin = match blocking_prompt(move || prompt_pin(&device)).await {
                        Ok(pin) => pin,
                        Err(e) => {
                            self.cancel().await;
                            return Err(e);
                        }
                    };
                    let mut ack = protos::PinMatrixAck::new();
                    ack.set_pin(pin);
                    // A wrong PIN makes the next try wait longer: allow a person's time.
                    self.exchange(ack, Wait::Person("checking the PIN".into()), doing).await?
                }
                MessageType::MessageType_PassphraseRequest => {
                    let mut ack = protos::PassphraseAck::new();
                    if self.passphrase_on_device {
                        ack.set_on_device(true);
                        eprintln!("  type your passphrase on the Trezor");
                    } else {
                        match blocking_prompt(prompt_passphrase).await {
                            Ok(passphrase) => ack.set_passphrase(passphrase),
                            Err(e) => {
                                self.cancel().await;
                                return Err(e);
                            }
                        }
                    }
                    self.exchange(ack, Wait::Person("the passphrase".into()), doing).await?
                }
                MessageType::MessageType_Failure => return Err(self.failure(answer, doing, path)),
                _ => return Ok(answer),
            };
        }
    }

    /// Tells the device to drop the request it is in (after a prompt failed on this side).
    async fn cancel(&mut self) {
        let _ = self.exchange(protos::Cancel::new(), Wait::Quick, "cancelling").await;
    }

    async fn address(&mut self, path: &DerivationPath, show: bool) -> Result<Address> {
        let mut m = protos::EthereumGetAddress::new();
        m.address_n = path.elements().to_vec();
        m.set_show_display(show);
        let doing = format!("reading the address at {path}");
        let answer = self.flow(m, &doing, Some(path)).await?;
        let answer: protos::EthereumAddress = decode(answer, &doing)?;
        if answer.has_address() {
            answer.address().parse().map_err(|_| {
                anyhow!("the Trezor answered {:?}, not an address, while {doing}", answer.address())
            })
        } else if answer._old_address().len() == 20 {
            Ok(Address::from_slice(answer._old_address()))
        } else {
            bail!("the Trezor sent no address while {doing}")
        }
    }

    async fn sign_eip1559(&mut self, path: &DerivationPath, tx: &TxEip1559) -> Result<Signature> {
        let mut m = protos::EthereumSignTxEIP1559::new();
        m.address_n = path.elements().to_vec();
        m.set_nonce(be(U256::from(tx.nonce)));
        m.set_max_gas_fee(be(U256::from(tx.max_fee_per_gas)));
        m.set_max_priority_fee(be(U256::from(tx.max_priority_fee_per_gas)));
        m.set_gas_limit(be(U256::from(tx.gas_limit)));
        m.set_to(recipient(&tx.to));
        m.set_value(be(tx.value));
        m.set_chain_id(tx.chain_id);
        set_data(&tx.input, |initial, length| {
            m.set_data_initial_chunk(initial);
            m.set_data_length(length);
        })?;
        for item in tx.access_list.iter() {
            let mut entry = protos::ethereum_sign_tx_eip1559::EthereumAccessList::new();
            entry.set_address(item.address.to_checksum(None));
            entry.storage_keys = item.storage_keys.iter().map(|k| k.to_vec()).collect();
            m.access_list.push(entry);
        }
        self.sign_tx(m, path, &tx.input, Some(tx.chain_id)).await
    }

    async fn sign_legacy(&mut self, path: &DerivationPath, tx: &TxLegacy) -> Result<Signature> {
        let Some(chain_id) = tx.chain_id else {
            bail!("a Trezor signs only transactions with a chain id (EIP-155): this one has none");
        };
        let mut m = protos::EthereumSignTx::new();
        m.address_n = path.elements().to_vec();
        m.set_nonce(be(U256::from(tx.nonce)));
        m.set_gas_price(be(U256::from(tx.gas_price)));
        m.set_gas_limit(be(U256::from(tx.gas_limit)));
        m.set_to(recipient(&tx.to));
        m.set_value(be(tx.value));
        m.set_chain_id(chain_id);
        set_data(&tx.input, |initial, length| {
            m.set_data_initial_chunk(initial);
            m.set_data_length(length);
        })?;
        self.sign_tx(m, path, &tx.input, Some(chain_id)).await
    }

    /// The signing flow common to both transaction types: the request, then calldata chunks as
    /// the device asks for them, until it answers the signature.
    async fn sign_tx<M: TrezorMessage + Send + 'static>(
        &mut self,
        request: M,
        path: &DerivationPath,
        data: &Bytes,
        chain_id: Option<u64>,
    ) -> Result<Signature> {
        let doing = "signing the transaction";
        let mut sent = data.len().min(CHUNK);
        let mut answer = self.flow(request, doing, Some(path)).await?;
        loop {
            let request: protos::EthereumTxRequest = decode(answer, doing)?;
            if request.has_signature_r() || request.has_signature_s() {
                let v = request.signature_v();
                let parity = parity(u64::from(v), chain_id)?;
                return Ok(Signature::new(
                    word(request.signature_r(), "r")?,
                    word(request.signature_s(), "s")?,
                    parity,
                ));
            }
            let wanted = request.data_length() as usize;
            if wanted == 0 || sent + wanted > data.len() {
                bail!(
                    "the Trezor asked for {wanted} more bytes of calldata after {sent} of {}: it does \
                     not agree with defender on the transaction; nothing was signed",
                    data.len()
                );
            }
            let mut ack = protos::EthereumTxAck::new();
            ack.set_data_chunk(data[sent..sent + wanted].to_vec());
            sent += wanted;
            answer = self.flow(ack, doing, Some(path)).await?;
        }
    }

    fn transport_error(&mut self, error: trezor_client::Error, doing: &str) -> anyhow::Error {
        use trezor_client::Error as E;
        use trezor_client::transport::error::Error as T;
        let inner = match &error {
            E::TransportSendMessage(e) | E::TransportReceiveMessage(e) => Some(e),
            _ => None,
        };
        let why = match inner {
            Some(T::Usb(e)) if format!("{e:?}") == "NoDevice" => {
                format!(
                    "the Trezor was disconnected while {doing}: plug it in again and run the command again"
                )
            }
            Some(T::IO(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => format!(
                "{} stopped while {doing} (nothing listens there any more): restart it and run the command again",
                self.place
            ),
            Some(T::DeviceDisconnected) => {
                format!(
                    "the Trezor was disconnected while {doing}: plug it in again and run the command again"
                )
            }
            _ => format!(
                "talking to {} failed while {doing}: {error}. Reconnect it, close other wallet \
                 programs, and run the command again",
                self.place
            ),
        };
        self.client = None;
        self.lost = Some(why.clone());
        anyhow!(why)
    }

    /// Turns a Failure answer into a message saying what happened and what to do.
    fn failure(&self, answer: ProtoMessage, doing: &str, path: Option<&DerivationPath>) -> anyhow::Error {
        if answer.payload().starts_with(&THP_FAILURE_PREFIX) {
            return anyhow!(thp_only());
        }
        let failure: protos::Failure = match answer.into_message() {
            Ok(f) => f,
            Err(_) => return anyhow!("the Trezor refused while {doing} (an unreadable Failure answer)"),
        };
        let text = failure.message();
        let device = &self.info.name;
        match failure.code() {
            Fail::Failure_ActionCancelled => anyhow!(
                "cancelled on the Trezor while {doing}: nothing was signed. Run the command again and \
                 confirm on the device if you meant it"
            ),
            Fail::Failure_PinCancelled => {
                anyhow!("PIN entry was cancelled while {doing}: run the command again to unlock the {device}")
            }
            Fail::Failure_PinInvalid => {
                let left = tries_left(text).map(|n| format!(" ({n} tries left)")).unwrap_or_default();
                anyhow!(
                    "wrong PIN: the {device} refused it{left}. The digits move on every try: type the \
                     positions of your PIN's digits as the device shows them now. Each wrong PIN makes \
                     the next try wait longer, and too many wipe the device; nothing was signed"
                )
            }
            Fail::Failure_PinExpected | Fail::Failure_PinMismatch => {
                anyhow!("the {device} wants its PIN ({text}): run the command again at a terminal to type it")
            }
            Fail::Failure_NotInitialized => anyhow!(
                "the {device} has no wallet (never set up, or wiped after too many wrong PINs): set it \
                 up or restore it from its recovery seed in Trezor Suite"
            ),
            Fail::Failure_Busy => anyhow!(
                "the {device} is busy: another program is using it (Trezor Suite, Trezor Bridge, a \
                 browser wallet) or it shows something that waits for you. Close the other program, \
                 finish or cancel what the device shows, and run the command again"
            ),
            Fail::Failure_InvalidProtocol => anyhow!(thp_only()),
            Fail::Failure_DataError if text.contains("key path") => {
                let path = path.map(|p| p.to_string()).unwrap_or_else(|| "this path".into());
                anyhow!(
                    "the {device} refuses the derivation path {path} (\"{text}\"): its safety checks \
                     allow Ethereum paths only, such as m/44'/60'/N'/0/0 (--ledger-live N) or \
                     m/44'/60'/0'/N (--legacy N). Choose such a path"
                )
            }
            Fail::Failure_DataError if text.contains("passphrase entry on the device") => anyhow!(
                "the {device} cannot take a passphrase on the device: drop --passphrase-on-device and \
                 type it on this terminal"
            ),
            code => anyhow!(
                "the {device} refused while {doing}: \"{text}\" ({}); nothing was signed",
                format!("{code:?}").trim_start_matches("Failure_")
            ),
        }
    }
}

/// Connects to the emulator at `emulator` or to the one Trezor on USB (runs on a thread).
fn find(emulator: Option<SocketAddr>) -> Result<trezor_client::Trezor> {
    use trezor_client::transport::error::Error as T;
    if let Some(addr) = emulator {
        let refused = || {
            anyhow!(
                "no Trezor emulator answers at {addr}: start it (trezor-user-env, or core/emu.py in the \
                 firmware repository), or fix --trezor-emulator HOST:PORT"
            )
        };
        let found = UdpTransport::find_devices(false, Some(&addr.to_string())).map_err(|_| refused())?;
        let device = found.into_iter().next().ok_or_else(refused)?;
        return device.connect().map_err(|e| anyhow!("cannot open the Trezor emulator at {addr}: {e}"));
    }
    let found = WebUsbTransport::find_devices(false)
        .map_err(|e| anyhow!("cannot list USB devices to find a Trezor: {e}"))?;
    let in_bootloader = found.iter().any(|d| d.model == trezor_client::Model::TrezorBootloader);
    let mut found: Vec<_> =
        found.into_iter().filter(|d| d.model != trezor_client::Model::TrezorBootloader).collect();
    if found.is_empty() && in_bootloader {
        bail!(BOOTLOADER);
    }
    if found.is_empty() {
        bail!(
            "no Trezor found on USB: plug it in and unlock it. On Linux, install Trezor's udev rules \
             ({UDEV_RULES}, the file 51-trezor.rules in /etc/udev/rules.d), then unplug and plug it \
             in again. For the emulator pass --trezor-emulator [HOST:PORT]"
        );
    }
    if found.len() > 1 {
        bail!("{} Trezors are connected: unplug all but the one to sign with", found.len());
    }
    found.remove(0).connect().map_err(|e| {
        let usb = match &e {
            trezor_client::Error::TransportConnect(T::Usb(u)) => format!("{u:?}"),
            _ => String::new(),
        };
        match usb.as_str() {
            "Access" => anyhow!(
                "no permission to open the Trezor on USB: install Trezor's udev rules ({UDEV_RULES}, \
                 the file 51-trezor.rules in /etc/udev/rules.d), then unplug it and plug it in again"
            ),
            "Busy" => anyhow!(
                "the Trezor is claimed by another program (Trezor Suite, Trezor Bridge / trezord, a \
                 browser wallet): close it and run the command again"
            ),
            "NoDevice" => anyhow!("the Trezor was unplugged while connecting: plug it in again"),
            _ => anyhow!("cannot open the Trezor on USB: {e}"),
        }
    })
}

/// Runs `job` on its own thread and waits at most `limit` for it; `None` when it overran (the
/// thread is left behind and ends with the process) or died.
async fn on_thread<T: Send + 'static>(
    limit: Duration,
    job: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("trezor-io".into())
        .spawn(move || {
            let _ = tx.send(job());
        })
        .ok()?;
    tokio::time::timeout(limit, rx).await.ok()?.ok()
}

/// Runs a terminal prompt without holding up the async runtime.
async fn blocking_prompt<T: Send + 'static>(
    prompt: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new().name("trezor-prompt".into()).spawn(move || {
        let _ = tx.send(prompt());
    })?;
    rx.await.map_err(|_| anyhow!("the terminal prompt failed"))?
}

fn user_wait() -> Result<Duration> {
    match std::env::var(TIMEOUT_ENV) {
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(s) if s > 0 => Ok(Duration::from_secs(s)),
            _ => bail!("{TIMEOUT_ENV}={text:?}: give a number of seconds, at least 1"),
        },
        Err(_) => Ok(USER_WAIT),
    }
}

// ---------------------------------------------------------------------------------------------
// Prompts (the terminal, through rpassword: nothing typed is echoed or kept)

const GRID: &str = "    7 8 9\n    4 5 6\n    1 2 3";

/// Fails when there is no terminal to prompt at (rpassword reads /dev/tty).
fn terminal(what: &'static str) -> Result<()> {
    std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty").map(drop).map_err(no_terminal(what))
}

fn prompt_pin(device: &str) -> Result<String> {
    terminal("its PIN")?;
    ask(&format!(
        "\nYour {device} asks for its PIN. It shows the digits in a scrambled grid; for each digit of \
         your PIN, type its position on this keypad:\n\n{GRID}\n\n"
    ));
    for _ in 0..3 {
        let typed =
            rpassword::prompt_password("PIN positions (not shown): ").map_err(no_terminal("its PIN"))?;
        match check_pin_positions(&typed) {
            Ok(()) => return Ok(typed.trim().to_string()),
            Err(why) => ask(&format!("{why}\n")),
        }
    }
    bail!("no valid PIN positions typed: the PIN was not sent; run the command again")
}

/// The positions typed for a PIN: 1 to 9 only, as on the grid.
pub fn check_pin_positions(typed: &str) -> Result<(), String> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Err("nothing typed: type the positions of your PIN's digits on the grid, 1 to 9".into());
    }
    if !typed.chars().all(|c| ('1'..='9').contains(&c)) {
        return Err("the PIN is typed as positions on the grid above: digits 1 to 9 only (no 0, letters \
                    or spaces); try again"
            .into());
    }
    if typed.len() > MAX_PIN {
        return Err(format!("a Trezor PIN has at most {MAX_PIN} digits; try again"));
    }
    Ok(())
}

fn prompt_passphrase() -> Result<String> {
    terminal("its passphrase")?;
    ask("\nYour Trezor asks for its passphrase: each passphrase opens a different wallet, the empty one \
         the standard wallet.\n");
    for _ in 0..3 {
        let first = rpassword::prompt_password("Trezor passphrase (not shown): ")
            .map_err(no_terminal("its passphrase"))?;
        if first.len() > MAX_PASSPHRASE {
            ask(&format!("a Trezor passphrase has at most {MAX_PASSPHRASE} bytes; try again\n"));
            continue;
        }
        let again = rpassword::prompt_password("The same passphrase again: ")
            .map_err(no_terminal("its passphrase"))?;
        if first == again {
            return Ok(first);
        }
        ask("the two passphrases differ; try again\n");
    }
    bail!("no passphrase confirmed: run the command again")
}

fn no_terminal(what: &'static str) -> impl Fn(std::io::Error) -> anyhow::Error {
    move |e| {
        anyhow!(
            "the Trezor asks for {what}, but there is no terminal to type it at ({e}): run the command \
             in a terminal{}",
            if what.contains("passphrase") { ", or pass --passphrase-on-device" } else { "" }
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding and decoding

fn decode<M: TrezorMessage>(answer: ProtoMessage, doing: &str) -> Result<M> {
    let got = answer.message_type();
    if got != M::MESSAGE_TYPE {
        bail!(
            "the Trezor answered {} where {} was expected, while {doing}: nothing was signed",
            message_name(got),
            message_name(M::MESSAGE_TYPE)
        );
    }
    answer.into_message().map_err(|e| anyhow!("the Trezor's {} did not decode ({e})", message_name(got)))
}

fn message_name(t: MessageType) -> String {
    format!("{t:?}").trim_start_matches("MessageType_").to_string()
}

fn button_hint(code: Button, screen: usize) -> String {
    match code {
        Button::ButtonRequest_Address => "check that the address shown is yours and confirm it".into(),
        Button::ButtonRequest_PinEntry => "enter your PIN on the device".into(),
        Button::ButtonRequest_PassphraseEntry => "type your passphrase on the device".into(),
        Button::ButtonRequest_ProtectCall => format!("screen {screen}: read the warning, confirm to go on"),
        Button::ButtonRequest_ConfirmOutput => format!("screen {screen}: recipient and amount"),
        Button::ButtonRequest_SignTx => format!("screen {screen}: check it and confirm"),
        _ => format!("screen {screen}: check it and confirm"),
    }
}

/// An integer as the firmware takes it: big-endian bytes without leading zeros (zero is empty).
fn be(n: U256) -> Vec<u8> {
    let bytes = n.to_be_bytes::<32>();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    bytes[skip..].to_vec()
}

fn recipient(to: &TxKind) -> String {
    match to {
        TxKind::Call(address) => address.to_checksum(None),
        TxKind::Create => String::new(),
    }
}

/// Fills the initial chunk (at most 1024 bytes) and the total length.
fn set_data(data: &Bytes, mut set: impl FnMut(Vec<u8>, u32)) -> Result<()> {
    let length = u32::try_from(data.len()).map_err(|_| anyhow!("calldata too long for a Trezor"))?;
    set(data[..data.len().min(CHUNK)].to_vec(), length);
    Ok(())
}

fn word(bytes: &[u8], what: &str) -> Result<U256> {
    if bytes.is_empty() || bytes.len() > 32 {
        bail!("the Trezor returned a signature whose {what} has {} bytes: it was not used", bytes.len());
    }
    Ok(U256::from_be_slice(bytes))
}

/// The y-parity from any form of `v` a Trezor or the crate returns: the parity itself (EIP-1559,
/// and legacy on very large chain ids), 27/28 (messages), or EIP-155's `parity + 35 + 2 *
/// chain_id` (legacy, and what `trezor-client` reports even for EIP-1559).
pub fn parity(v: u64, chain_id: Option<u64>) -> Result<bool> {
    match v {
        0 | 1 => return Ok(v == 1),
        27 | 28 => return Ok(v == 28),
        _ => {}
    }
    if let Some(id) = chain_id {
        // The firmware's signature_v is a uint32: compare in 64 bits, and its truncation.
        let base = id.checked_mul(2).and_then(|x| x.checked_add(35));
        if let Some(base) = base {
            if v == base || v == base + 1 {
                return Ok(v == base + 1);
            }
            let truncated = base & 0xFFFF_FFFF;
            if v == truncated || v == (truncated + 1) & 0xFFFF_FFFF {
                return Ok(v == (truncated + 1) & 0xFFFF_FFFF);
            }
        }
    }
    bail!(
        "the Trezor returned v = {v}, which is no form of signature parity for chain {}: the signature was not used",
        chain_id.map(|c| c.to_string()).unwrap_or_else(|| "-".into())
    )
}

/// A 65-byte r || s || v signature (messages, typed hashes).
fn rsv_signature(bytes: &[u8]) -> Result<Signature> {
    if bytes.len() != 65 {
        bail!("the Trezor returned a signature of {} bytes, not 65: it was not used", bytes.len());
    }
    let parity = parity(u64::from(bytes[64]), None)?;
    Ok(Signature::new(U256::from_be_slice(&bytes[..32]), U256::from_be_slice(&bytes[32..64]), parity))
}

/// How many PIN tries are left, when the device's message says.
fn tries_left(message: &str) -> Option<u32> {
    let words: Vec<&str> = message.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    words.windows(2).find_map(|w| {
        let next = w[1].to_ascii_lowercase();
        (next.starts_with("attempt") || next.starts_with("tr") || next == "left")
            .then(|| w[0].parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_v_becomes_the_parity() {
        assert!(!parity(0, Some(1)).unwrap());
        assert!(parity(1, Some(31337)).unwrap());
        assert!(parity(28, None).unwrap());
        assert!(!parity(27, None).unwrap());
        // EIP-155 on anvil's chain: 35 + 2 * 31337 = 62709.
        assert!(!parity(62709, Some(31337)).unwrap());
        assert!(parity(62710, Some(31337)).unwrap());
        assert!(parity(38, Some(1)).unwrap());
        // A v for another chain is refused, not guessed at.
        assert!(parity(62709, Some(1)).is_err());
        assert!(parity(35, None).is_err());
        assert!(parity(2, Some(1)).is_err());
    }

    #[test]
    fn pin_positions_are_digits_one_to_nine() {
        assert!(check_pin_positions("7415").is_ok());
        assert!(check_pin_positions(" 123\n").is_ok());
        for bad in ["", "1203", "12a", "1 2", &"1".repeat(51)] {
            assert!(check_pin_positions(bad).is_err(), "{bad:?}");
        }
        assert!(check_pin_positions("1203").unwrap_err().contains("digits 1 to 9 only"));
    }

    #[test]
    fn devices_defender_cannot_use_are_refused_from_their_features() {
        use protos::features::Capability;
        let features = |model: &str, internal: &str, version: (u32, u32, u32)| {
            let mut f = protos::Features::new();
            f.set_model(model.into());
            f.set_internal_model(internal.into());
            f.set_major_version(version.0);
            f.set_minor_version(version.1);
            f.set_patch_version(version.2);
            f.set_initialized(true);
            f
        };
        let verdict = |f: &protos::Features| DeviceInfo::from_features(f).check(f).map_err(|e| e.to_string());
        assert!(verdict(&features("1", "T1B1", (1, 10, 4))).is_ok());
        assert!(verdict(&features("T", "T2T1", (2, 4, 2))).is_ok());
        assert!(verdict(&features("Safe 5", "T3T1", (2, 8, 0))).is_ok());
        let old = verdict(&features("1", "T1B1", (1, 9, 4))).unwrap_err();
        assert!(old.contains("Trezor One (firmware 1.9.4) is too old") && old.contains("1.10.4"), "{old}");
        assert!(verdict(&features("T", "T2T1", (2, 4, 1))).unwrap_err().contains("2.4.2 or newer"));
        assert!(verdict(&features("T3W1", "T3W1", (2, 9, 5))).unwrap_err().contains("THP"));
        let mut bitcoin_only = features("T", "T2T1", (2, 8, 1));
        bitcoin_only.capabilities.push(Capability::Capability_Bitcoin.into());
        assert!(verdict(&bitcoin_only).unwrap_err().contains("without Ethereum"));
        bitcoin_only.capabilities.push(Capability::Capability_Ethereum.into());
        assert!(verdict(&bitcoin_only).is_ok());
        let mut wiped = features("1", "T1B1", (1, 12, 1));
        wiped.set_initialized(false);
        assert!(verdict(&wiped).unwrap_err().contains("has no wallet"));
        let mut bootloader = features("T", "T2T1", (2, 8, 1));
        bootloader.set_bootloader_mode(true);
        assert!(verdict(&bootloader).unwrap_err().contains("bootloader mode"));
    }

    #[test]
    fn tries_are_read_when_the_message_has_them() {
        assert_eq!(tries_left("PIN invalid"), None);
        assert_eq!(tries_left("Invalid PIN, 3 attempts left"), Some(3));
        assert_eq!(tries_left("PIN invalid (14 tries left)"), Some(14));
    }
}
