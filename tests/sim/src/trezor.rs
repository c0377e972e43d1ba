//! A Trezor simulator that speaks the Trezor emulator's UDP transport and follows the firmware's
//! Ethereum flows, errors included, so that `defender` (through the real `trezor-client` crate) can
//! be tested without hardware.
//!
//! # Transport (exactly the emulator's)
//!
//! UDP on one port. A datagram `PINGPING` is answered `PONGPONG`. Everything else travels in 64-byte
//! packets: the first packet of a message is `?##`, the message type (u16 BE), the payload length
//! (u32 BE) and the start of the protobuf payload; every further packet is `?` and 63 more bytes;
//! the last is zero padded. Packets of another size are ignored, as the emulator does. Answers go to the address that sent the last
//! packet, so only one host can talk to the simulator at a time. The payloads are the messages of
//! `trezor_client::protos` (rust-protobuf 3), the very types the client crate encodes and decodes.
//!
//! The simulator runs on its own OS thread with a blocking socket, so a test may drive it with
//! blocking calls (the `trezor-client` crate blocks) from any runtime, even a current-thread one.
//! It stops when the last [`TrezorSim`] handle is dropped.
//!
//! # Flows (after the legacy firmware, `legacy/firmware/fsm_msg_ethereum.h` and `ethereum.c`, and
//! the core firmware, `core/src/apps/ethereum/`)
//!
//! A request that needs a key (`EthereumGetAddress`, `EthereumSignTx`, `EthereumSignTxEIP1559`,
//! `EthereumSignMessage`, `EthereumSignTypedHash`) goes: PIN (when locked) → path check → passphrase
//! (when protected and not yet entered in this session) → validation → confirmations (one
//! `ButtonRequest` per screen, each answered by `ButtonAck`) → calldata chunks (`EthereumTxRequest
//! {data_length}` / `EthereumTxAck{data_chunk}`) → answer. [`TrezorSim::screens`] records what the
//! device showed, screen by screen and line by line, with the Trezor One's texts and layout (for
//! both models), as recorded on firmware 1.14.1: "Send", the amount (a line runs off the screen
//! after 21 characters), "to " + the address's first 15 characters, 18 more, the rest + "?";
//! data pages of five lines (the last keeps its empty hex lines); the fees, the "Maximum fee"
//! cut every 18 characters; an ERC-20 `transfer` in the token layout, without data pages.
//!
//! ## Failures, and when
//!
//! | code | message | when |
//! |---|---|---|
//! | ActionCancelled | One: "Action cancelled by user", T: "Cancelled" | host `Cancel` during a flow (or idle); [`Fault::CancelOnDevice`] at the first confirmation, after its `ButtonAck` |
//! | PinCancelled | One: "PIN cancelled", T: "PIN entry cancelled" | host `Cancel` while the PIN matrix is shown |
//! | PinInvalid | "PIN invalid" (both firmwares' text; no tries count, the firmware sends none) | wrong `PinMatrixAck`; one try is used up ([`TrezorSim::pin_tries_left`]) |
//! | NotInitialized | "Device not initialized" | key request after the last PIN try wiped the device |
//! | DataError | "Forbidden key path" | path outside m/44'/{60,1}'/a'[/c/i] (safety checks Strict) |
//! | DataError | "Chain ID out of bounds" | `chain_id` missing or 0 |
//! | DataError | "Data length provided, but no initial chunk" | `data_length > 0`, empty `data_initial_chunk` |
//! | DataError | "Data length exceeds limit" | `data_length > 16,000,000` |
//! | DataError | "Invalid size of initial chunk" | `data_initial_chunk` longer than `data_length` or than 1024 bytes |
//! | DataError | One: "Safety check failed", T: "Invalid recipient address" | `to` not 0, 40 or 42 characters |
//! | DataError | One: "Safety check failed", T: "Contract creation without data" | empty `to` and no data |
//! | DataError | "Invalid address" | `to` of the right length but not hex (the One would hash an empty `to`: the sim refuses) |
//! | DataError | One: "Safety check failed", T: "Fee overflow" | fee bytes + gas limit bytes > 30 |
//! | DataError | One: "Txtype out of bounds", T: "tx_type out of bounds" | legacy `tx_type` not 1 or 6 |
//! | DataError | "Value too long" | an integer field longer than 32 bytes |
//! | DataError | "Malformed address" | an access-list address that is not 40 hex digits |
//! | DataError | "Too much data" | an `EthereumTxAck` chunk longer than the `data_length` requested |
//! | DataError | "Empty data chunk received" | an empty `EthereumTxAck` chunk while data remains |
//! | DataError | "Invalid hash length" | typed-hash hashes not 32 bytes |
//! | DataError | One: "This firmware is incapable of passphrase entry on the device." | `PassphraseAck{on_device}` on the One |
//! | DataError | "No passphrase provided. Use empty string to set an empty passphrase." (One) / "Passphrase not provided and on_device is False. Use empty string to set an empty passphrase." (T) | `PassphraseAck` with neither field |
//! | DataError | "Passphrase provided when it should not be" | T: `PassphraseAck` with both `on_device` and a passphrase |
//! | DataError | "Maximum passphrase length is 50 bytes" | longer passphrase |
//! | DataError | "Failed to decode message" | a payload that does not decode as its message type |
//! | UnexpectedMessage | "Not in Ethereum signing mode" | `EthereumTxAck` outside a signing flow |
//! | UnexpectedMessage | "Unexpected message" | a message the state does not expect (a stray `ButtonAck`, `PinMatrixAck`, ...), an unknown type, or `EthereumSignTypedData` (see below) |
//! | Busy | "Device busy" | every message while [`Fault::Busy`] is set |
//! | InvalidProtocol | (none) | [`Model::Safe7`]: the first packet of every v1 message (see below) |
//!
//! `Initialize` during any flow aborts it and is answered with `Features` (the firmware does the
//! same); a new request (`Ping`, `Ethereum*`) during a flow aborts the flow and starts afresh.
//! `GetFeatures` is answered without disturbing a flow. A stray message aborts the flow.
//!
//! # PIN matrix convention
//!
//! [`TrezorSim::matrix`] returns `m: [u8; 9]` where `m[i]` is the digit the device shows at keypad
//! position `i + 1`, positions laid out as on a numeric keypad:
//!
//! ```text
//!   7 8 9        m[6] m[7] m[8]
//!   4 5 6   =>   m[3] m[4] m[5]
//!   1 2 3        m[0] m[1] m[2]
//! ```
//!
//! The host sends `PinMatrixAck{pin}` with the *positions* typed (characters '1'..'9'); position
//! `p` means digit `m[p - 1]` (the firmware's `pinmatrix_done`). [`TrezorSim::positions_for`] turns a
//! PIN into those positions. Scrambling is deterministic (a seeded PRNG): each `PinMatrixRequest`
//! shows a new matrix. Before a request, `matrix()` already returns the matrix the *next*
//! `PinMatrixRequest` will show, so a test may prepare the positions before starting the flow; while
//! a request is outstanding it returns the one shown. Both models use the matrix in the simulator
//! (a real Trezor T asks for the PIN on its touchscreen instead). A wrong PIN uses up a try
//! (`pin_tries` in the config, default 16, as the firmware's); when none is left the device wipes
//! itself: `Features.initialized` becomes false and key requests fail with NotInitialized.
//!
//! # Passphrase
//!
//! With `passphrase_protection`, the first key request of a session asks `PassphraseRequest`; the
//! passphrase is the BIP39 passphrase (a different one is a different wallet) and is cached for the
//! session. `Initialize` without the current `session_id` (Features.session_id) starts a new session
//! and forgets it; `Initialize{session_id}` with the current id keeps it. `PassphraseAck{on_device}`:
//! the One refuses (as its firmware does); the T answers `ButtonRequest{PassphraseEntry}` and, after
//! the `ButtonAck`, uses the empty passphrase (what the simulated user types on the touchscreen).
//!
//! # Signatures
//!
//! Keys come from the mnemonic, the BIP39 passphrase and the BIP32 path through alloy's local
//! signer, which signs RFC 6979 deterministically with low s: the signatures are byte-identical to
//! a software signer's. The signing hash is streamed as the firmware does (legacy: EIP-155 RLP with
//! chain id, 0, 0; EIP-1559: 0x02 || RLP with the access list); integer fields are hashed as the
//! bytes the host sent. `signature_v`: EIP-1559 → the parity (0/1); legacy →
//! `parity + 2 * chain_id + 35`, or only the parity when `chain_id > 2147483629`
//! (`(0xFFFFFFFF - 36) >> 1`, the firmware's MAX_CHAIN_ID, as `signature_v` is a uint32). Messages and typed hashes: 65 bytes r || s || v with
//! v = 27/28.
//!
//! # Choices where the simulator departs from, or approximates, a real device
//!
//! - [`Model::Safe7`] speaks only THP: like the real firmware (`core/src/trezor/wire/thp/
//!   thp_main.py`, `_get_codec_v1_error_message`) it answers the first packet of every v1 message
//!   with one fixed packet: `?##`, type 3 (Failure), length 20, payload `08 11` (code
//!   Failure_InvalidProtocol = 17) then zeros. The declared length includes 18 zero bytes, which is
//!   not valid protobuf (field number 0), so `trezor-client`'s `call`/`init_device` fail to decode
//!   it; a client should look at the raw `call_raw` answer: type Failure and a payload starting
//!   `08 11`. `PINGPING` is still answered (the emulator's UDP layer does that for every model).
//!   [`TrezorSim::messages`] records the host's message with only the payload bytes of its first
//!   packet (the device reads no further), then the Failure with its 20 declared bytes.
//! - [`Fault::Busy`]: every message is answered `Failure{code: Failure_Busy (15), message: "Device
//!   busy"}`, as a device that is busy with something else (Trezor Suite's "device busy" status).
//! - [`Fault::Disconnect`]: after the first `ButtonAck` of a signing flow (transaction, message,
//!   typed hash) the device goes silent and ignores everything except `Initialize` and
//!   `GetFeatures`, which end the silence and are answered normally. It fires again on the next
//!   signing flow while the fault is set.
//! - `EthereumSignTypedHash` is implemented for both models. A real Trezor T does not know that
//!   message (only the One does; the T has full EIP-712 signing with `EthereumSignTypedData`).
//!   `EthereumSignTypedData` is answered `Failure{UnexpectedMessage}` on both models: on the One as
//!   its firmware does; on the T because struct signing is not simulated.
//! - Screens use the Trezor One's texts for both models; a T's `ButtonRequest` codes follow core
//!   (ConfirmOutput for the recipient, SignTx for the rest), the One's are all SignTx (ProtectCall
//!   for the long-data warning). ERC-20 transfers are not recognised (shown as contract data).
//! - Chunks shorter than requested are accepted (the firmware asks again for the rest); longer or
//!   empty ones fail.

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use alloy::primitives::{Address, B256, Keccak256, U256, keccak256};
use alloy::signers::SignerSync;
use alloy::signers::local::coins_bip39::English;
use alloy::signers::local::{MnemonicBuilder, PrivateKeySigner};
use anyhow::Context as _;
use protobuf::{Enum, Message};
use trezor_client::TrezorMessage;
use trezor_client::protos::{self, MessageType};

use self::protos::button_request::ButtonRequestType as Btn;
use self::protos::failure::FailureType as Fail;

/// The emulator's default port.
pub const DEFAULT_PORT: u16 = 21324;

/// Above this chain id the firmware returns only the parity in `signature_v` (legacy transactions).
pub const MAX_CHAIN_ID: u64 = (0xFFFF_FFFF - 36) >> 1;

const PACKET: usize = 64;
const HARDENED: u32 = 0x8000_0000;
const MAX_DATA_PAGES: usize = 5;
/// What a THP-only device answers to the first packet of any protocol-v1 message.
const THP_V1_ANSWER_HEADER: [u8; 11] = [0x3f, 0x23, 0x23, 0x00, 0x03, 0x00, 0x00, 0x00, 0x14, 0x08, 0x11];

/// The device model the simulator pretends to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// Trezor One (legacy firmware 1.x): PIN matrix on the host, no passphrase entry on device.
    One,
    /// Trezor Model T (core firmware 2.x).
    T,
    /// Trezor Safe 7: speaks only THP, which `trezor-client` does not; see the module docs.
    Safe7,
}

/// A fault to inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Behave.
    None,
    /// The user presses cancel at the first confirmation: after its `ButtonAck`, the device answers
    /// `Failure{ActionCancelled}`.
    CancelOnDevice,
    /// After the first `ButtonAck` of a signing flow, silence (no reply) until `Initialize` or
    /// `GetFeatures`.
    Disconnect,
    /// Every message is answered `Failure{Busy, "Device busy"}`.
    Busy,
}

/// The simulated device's configuration.
#[derive(Clone, Debug)]
pub struct TrezorConfig {
    /// BIP39 mnemonic; default [`crate::TEST_MNEMONIC`].
    pub mnemonic: String,
    /// `Some(pin)`: the device is locked until the PIN is entered.
    pub pin: Option<String>,
    /// Ask `PassphraseRequest` on the first key use of a session.
    pub passphrase_protection: bool,
    /// Default [`Model::T`].
    pub model: Model,
    /// Reported in Features. Default (2, 8, 1); a One left at that default reports (1, 12, 1).
    pub firmware: (u32, u32, u32),
    /// PIN tries before the device wipes itself; default 16.
    pub pin_tries: u32,
}

const T_FIRMWARE: (u32, u32, u32) = (2, 8, 1);
const ONE_FIRMWARE: (u32, u32, u32) = (1, 12, 1);

impl Default for TrezorConfig {
    fn default() -> Self {
        Self {
            mnemonic: crate::TEST_MNEMONIC.to_string(),
            pin: None,
            passphrase_protection: false,
            model: Model::T,
            firmware: T_FIRMWARE,
            pin_tries: 16,
        }
    }
}

impl TrezorConfig {
    /// The default configuration for `model`, with that model's default firmware version.
    pub fn for_model(model: Model) -> Self {
        let firmware = match model {
            Model::One => ONE_FIRMWARE,
            Model::T => T_FIRMWARE,
            Model::Safe7 => (2, 9, 5),
        };
        Self { model, firmware, ..Self::default() }
    }
}

/// One message on the wire, as the simulator saw or sent it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// true: host → device.
    pub from_host: bool,
    pub message_type: u16,
    /// The message type's name without the `MessageType_` prefix ("EthereumGetAddress"), or
    /// "Unknown(<n>)".
    pub name: String,
    /// The protobuf payload.
    pub payload: Vec<u8>,
}

/// A running simulator. Cheap to clone; the server stops when the last clone is dropped.
#[derive(Clone)]
pub struct TrezorSim {
    inner: Arc<Inner>,
}

struct Inner {
    addr: SocketAddr,
    device: Arc<Mutex<Device>>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = handle.join();
        }
    }
}

impl std::fmt::Debug for TrezorSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrezorSim").field("addr", &self.inner.addr).finish_non_exhaustive()
    }
}

impl TrezorSim {
    /// Starts a simulator on 127.0.0.1 on a free port.
    pub async fn start(config: TrezorConfig) -> anyhow::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Starts a simulator on `addr` (the emulator's is 127.0.0.1:21324).
    pub async fn start_on(addr: SocketAddr, mut config: TrezorConfig) -> anyhow::Result<Self> {
        if config.model == Model::One && config.firmware == T_FIRMWARE {
            config.firmware = ONE_FIRMWARE;
        }
        let socket =
            UdpSocket::bind(addr).with_context(|| format!("binding the Trezor simulator on {addr}"))?;
        socket.set_read_timeout(Some(Duration::from_millis(20)))?;
        let addr = socket.local_addr()?;
        let device = Arc::new(Mutex::new(Device::new(config)?));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new().name(format!("trezor-sim-{}", addr.port())).spawn({
            let device = device.clone();
            let stop = stop.clone();
            move || serve(socket, device, stop)
        })?;
        Ok(Self { inner: Arc::new(Inner { addr, device, stop, thread: Mutex::new(Some(thread)) }) })
    }

    /// The UDP address the simulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    fn device(&self) -> MutexGuard<'_, Device> {
        self.inner.device.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Injects a fault (or clears it with [`Fault::None`]).
    pub fn set_fault(&self, fault: Fault) {
        self.device().fault = fault;
    }

    /// Every message both ways, in order.
    pub fn messages(&self) -> Vec<Recorded> {
        self.device().log.clone()
    }

    /// Per address / signing / protected-ping request, what the device showed, one string per
    /// screen (its lines joined by single spaces), e.g. "Send message to 0x5FbDB2315678a
    /// Per request, the screens the device showed, each the lines it drew top to bottom (empty
    /// lines kept: the last data page is five lines high).
    pub fn screens(&self) -> Vec<Vec<Vec<String>>> {
        self.device().screens.clone()
    }

    /// Per request, each screen's lines joined by spaces, empty lines left out.
    pub fn texts(&self) -> Vec<Vec<String>> {
        let joined = |screen: &Vec<String>| join_lines(screen);
        self.device().screens.iter().map(|request| request.iter().map(joined).collect()).collect()
    }

    /// The scrambled PIN matrix: `m[i]` is the digit shown at keypad position `i + 1` (grid
    /// 7 8 9 / 4 5 6 / 1 2 3, so `m[6..9]` is the top row). While a `PinMatrixRequest` is
    /// outstanding, the matrix it shows; otherwise the one the next `PinMatrixRequest` will show.
    pub fn matrix(&self) -> [u8; 9] {
        self.device().current_matrix()
    }

    /// The positions ('1'..'9') a user reading the device screen types for `pin` with the current
    /// matrix. A character that is not a digit 1..9 is passed through unchanged.
    pub fn positions_for(&self, pin: &str) -> String {
        positions_for_matrix(&self.matrix(), pin)
    }

    /// PIN tries left before the device wipes itself.
    pub fn pin_tries_left(&self) -> u32 {
        self.device().tries_left
    }

    /// Whether the device is unlocked (no PIN, or the PIN was entered).
    pub fn is_unlocked(&self) -> bool {
        let d = self.device();
        d.unlocked && !d.wiped
    }

    /// The address at `path` ("m/44'/60'/0'/0/0") with the BIP39 `passphrase`, as the device
    /// derives it.
    ///
    /// # Panics
    /// On an invalid path.
    pub fn address_at(&self, path: &str, passphrase: Option<&str>) -> Address {
        let mnemonic = self.device().cfg.mnemonic.clone();
        derive(&mnemonic, path, passphrase.unwrap_or("")).expect("valid derivation path").address()
    }

    /// Forgets the recorded messages and screens.
    pub fn clear_log(&self) {
        let mut d = self.device();
        d.log.clear();
        d.screens.clear();
    }
}

/// The positions ('1'..'9') to type for `pin` on matrix `m` (see [`TrezorSim::matrix`]).
pub fn positions_for_matrix(m: &[u8; 9], pin: &str) -> String {
    pin.chars()
        .map(|c| match c.to_digit(10) {
            Some(d @ 1..=9) => {
                m.iter().position(|&x| u32::from(x) == d).map(|i| char::from(b'1' + i as u8)).unwrap_or(c)
            }
            _ => c,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Transport

fn serve(socket: UdpSocket, device: Arc<Mutex<Device>>, stop: Arc<AtomicBool>) {
    let mut buf = [0u8; 2048];
    // A message being reassembled: type, declared length, bytes so far.
    let mut partial: Option<(u16, usize, Vec<u8>)> = None;
    while !stop.load(Ordering::SeqCst) {
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(x) => x,
            Err(_) => continue, // timeout (to look at `stop`), or an ICMP error from a gone host
        };
        let pkt = &buf[..n];
        if pkt == b"PINGPING" {
            let _ = socket.send_to(b"PONGPONG", from);
            continue;
        }
        if n != PACKET || pkt[0] != b'?' {
            continue;
        }
        let mut dev = device.lock().unwrap_or_else(|e| e.into_inner());
        if dev.cfg.model == Model::Safe7 {
            // THP-only firmware: every packet that starts a v1 message gets the fixed answer;
            // continuation packets are ignored.
            if &pkt[1..3] == b"##" {
                let ty = u16::from_be_bytes([pkt[3], pkt[4]]);
                let len = u32::from_be_bytes([pkt[5], pkt[6], pkt[7], pkt[8]]) as usize;
                let payload = pkt[9..9 + len.min(PACKET - 9)].to_vec();
                dev.record(true, ty, &payload);
                let mut answer = [0u8; PACKET];
                answer[..THP_V1_ANSWER_HEADER.len()].copy_from_slice(&THP_V1_ANSWER_HEADER);
                dev.record(false, MessageType::MessageType_Failure as u16, &answer[9..9 + 20]);
                drop(dev);
                let _ = socket.send_to(&answer, from);
            }
            continue;
        }
        match partial.as_mut() {
            Some((_, _, data)) => data.extend_from_slice(&pkt[1..]),
            None if &pkt[1..3] == b"##" => {
                let ty = u16::from_be_bytes([pkt[3], pkt[4]]);
                let len = u32::from_be_bytes([pkt[5], pkt[6], pkt[7], pkt[8]]) as usize;
                partial = Some((ty, len, pkt[9..].to_vec()));
            }
            None => continue, // a stray continuation packet
        }
        let complete = matches!(&partial, Some((_, len, data)) if data.len() >= *len);
        if !complete {
            continue;
        }
        let (ty, len, mut data) = partial.take().expect("complete message");
        data.truncate(len);
        let answers = dev.handle(ty, &data);
        drop(dev);
        for answer in answers {
            for packet in frame(answer.ty, &answer.payload) {
                let _ = socket.send_to(&packet, from);
            }
        }
    }
}

/// Splits a message into the v1 wire packets.
pub fn frame(message_type: u16, payload: &[u8]) -> Vec<[u8; PACKET]> {
    let mut data = Vec::with_capacity(8 + payload.len());
    data.extend_from_slice(b"##");
    data.extend_from_slice(&message_type.to_be_bytes());
    data.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    data.extend_from_slice(payload);
    data.chunks(PACKET - 1)
        .map(|chunk| {
            let mut packet = [0u8; PACKET];
            packet[0] = b'?';
            packet[1..1 + chunk.len()].copy_from_slice(chunk);
            packet
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Device state

/// A message to send.
struct Out {
    ty: u16,
    payload: Vec<u8>,
}

fn out<M: TrezorMessage>(m: &M) -> Out {
    Out { ty: M::MESSAGE_TYPE as u16, payload: m.write_to_bytes().expect("encodable message") }
}

/// A request that needs a key, kept while PIN or passphrase are asked.
#[derive(Clone)]
enum Req {
    Address(Box<protos::EthereumGetAddress>),
    Legacy(Box<protos::EthereumSignTx>),
    Eip1559(Box<protos::EthereumSignTxEIP1559>),
    Message(Box<protos::EthereumSignMessage>),
    TypedHash(Box<protos::EthereumSignTypedHash>),
}

impl Req {
    fn path(&self) -> &[u32] {
        match self {
            Req::Address(m) => &m.address_n,
            Req::Legacy(m) => &m.address_n,
            Req::Eip1559(m) => &m.address_n,
            Req::Message(m) => &m.address_n,
            Req::TypedHash(m) => &m.address_n,
        }
    }
}

/// What the device waits for.
enum Wait {
    Idle,
    /// [`Fault::Disconnect`] fired: no answers until Initialize / GetFeatures.
    Silent,
    /// PinMatrixRequest sent; the matrix shown.
    Pin(Req, [u8; 9]),
    /// PassphraseRequest sent.
    Passphrase(Req),
    /// T: ButtonRequest{PassphraseEntry} sent after PassphraseAck{on_device}.
    PassphraseOnDevice(Req),
    /// ButtonRequest sent for the first screen of the flow.
    Button(Box<Flow>),
    /// EthereumTxRequest{data_length} sent.
    TxData(Box<TxState>),
}

/// A flow of confirmations and what comes after them.
struct Flow {
    /// [`Fault::Disconnect`] applies.
    signing: bool,
    acked: bool,
    /// The screens still to confirm; the front one is displayed.
    screens: VecDeque<(Btn, Vec<String>)>,
    then: Then,
}

enum Then {
    Reply(Out),
    Tx(Box<TxState>),
}

struct TxState {
    key: PrivateKeySigner,
    hasher: Keccak256,
    data_left: u32,
    requested: u32,
    /// Hashed after the calldata: EIP-155 (chain id, 0, 0) or the access list.
    tail: Vec<u8>,
    eip1559: bool,
    chain_id: u64,
}

struct Device {
    cfg: TrezorConfig,
    fault: Fault,
    log: Vec<Recorded>,
    /// Per request, its screens, each the lines it drew.
    screens: Vec<Vec<Vec<String>>>,
    wait: Wait,
    unlocked: bool,
    wiped: bool,
    tries_left: u32,
    next_matrix: [u8; 9],
    rng: u64,
    session_id: Vec<u8>,
    session_seq: u64,
    session_passphrase: Option<String>,
    keys: HashMap<(Vec<u32>, String), PrivateKeySigner>,
}

impl Device {
    fn new(cfg: TrezorConfig) -> anyhow::Result<Self> {
        // Fail early on a bad mnemonic.
        derive(&cfg.mnemonic, "m/44'/60'/0'/0/0", "").context("the simulator's mnemonic")?;
        let mut d = Self {
            unlocked: cfg.pin.is_none(),
            tries_left: cfg.pin_tries.max(1),
            cfg,
            fault: Fault::None,
            log: Vec::new(),
            screens: Vec::new(),
            wait: Wait::Idle,
            wiped: false,
            next_matrix: [0; 9],
            rng: 0x7265_7A6F_7274_5F73, // fixed seed: the same matrices in every run
            session_id: Vec::new(),
            session_seq: 0,
            session_passphrase: None,
            keys: HashMap::new(),
        };
        d.next_matrix = d.scramble();
        d.new_session();
        Ok(d)
    }

    fn scramble(&mut self) -> [u8; 9] {
        let mut m = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        for i in (1..9).rev() {
            // splitmix64
            self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.rng;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            m.swap(i, (z % (i as u64 + 1)) as usize);
        }
        m
    }

    fn current_matrix(&self) -> [u8; 9] {
        match &self.wait {
            Wait::Pin(_, shown) => *shown,
            _ => self.next_matrix,
        }
    }

    fn new_session(&mut self) {
        self.session_seq += 1;
        let mut seed = b"defender-sim trezor session ".to_vec();
        seed.extend_from_slice(&self.session_seq.to_be_bytes());
        self.session_id = keccak256(&seed).to_vec();
        self.session_passphrase = None;
    }

    fn record(&mut self, from_host: bool, ty: u16, payload: &[u8]) {
        let name = match MessageType::from_i32(i32::from(ty)) {
            Some(mt) => format!("{mt:?}").trim_start_matches("MessageType_").to_string(),
            None => format!("Unknown({ty})"),
        };
        self.log.push(Recorded { from_host, message_type: ty, name, payload: payload.to_vec() });
    }

    fn one(&self) -> bool {
        self.cfg.model == Model::One
    }

    /// `one` on the Trezor One, `t` on the Model T.
    fn text(&self, one: &'static str, t: &'static str) -> &'static str {
        if self.one() { one } else { t }
    }

    fn fail(&self, code: Fail, message: &str) -> Out {
        let mut f = protos::Failure::new();
        f.set_code(code);
        f.set_message(message.to_string());
        out(&f)
    }

    fn data_error(&self, message: &str) -> Vec<Out> {
        vec![self.fail(Fail::Failure_DataError, message)]
    }

    fn cancelled(&self) -> Out {
        self.fail(Fail::Failure_ActionCancelled, self.text("Action cancelled by user", "Cancelled"))
    }

    fn unexpected(&self) -> Vec<Out> {
        vec![self.fail(Fail::Failure_UnexpectedMessage, "Unexpected message")]
    }

    fn handle(&mut self, ty: u16, payload: &[u8]) -> Vec<Out> {
        self.record(true, ty, payload);
        let answers = self.dispatch(ty, payload);
        for a in &answers {
            self.record(false, a.ty, &a.payload);
        }
        answers
    }

    fn take_wait(&mut self) -> Wait {
        std::mem::replace(&mut self.wait, Wait::Idle)
    }

    fn dispatch(&mut self, ty: u16, payload: &[u8]) -> Vec<Out> {
        use MessageType as T;
        let mt = MessageType::from_i32(i32::from(ty));
        if matches!(self.wait, Wait::Silent) {
            if !matches!(mt, Some(T::MessageType_Initialize | T::MessageType_GetFeatures)) {
                return Vec::new();
            }
            self.wait = Wait::Idle;
        }
        if self.fault == Fault::Busy {
            self.wait = Wait::Idle;
            return vec![self.fail(Fail::Failure_Busy, "Device busy")];
        }
        let Some(mt) = mt else {
            self.wait = Wait::Idle;
            return self.unexpected();
        };
        macro_rules! decode {
            ($t:ty) => {
                match <$t>::parse_from_bytes(payload) {
                    Ok(m) => m,
                    Err(_) => {
                        self.wait = Wait::Idle;
                        return self.data_error("Failed to decode message");
                    }
                }
            };
        }
        match mt {
            T::MessageType_Initialize => {
                let init = decode!(protos::Initialize);
                self.wait = Wait::Idle;
                if !(init.has_session_id() && init.session_id() == self.session_id.as_slice()) {
                    self.new_session();
                }
                vec![self.features()]
            }
            T::MessageType_GetFeatures => vec![self.features()],
            T::MessageType_Cancel => {
                match self.take_wait() {
                    Wait::Pin(..) => {
                        vec![self.fail(
                            Fail::Failure_PinCancelled,
                            self.text("PIN cancelled", "PIN entry cancelled"),
                        )]
                    }
                    _ => vec![self.cancelled()],
                }
            }
            T::MessageType_ButtonAck => match self.take_wait() {
                Wait::Button(flow) => self.button_ack(*flow),
                Wait::PassphraseOnDevice(req) => {
                    // The simulated user types the empty passphrase on the touchscreen.
                    self.session_passphrase = Some(String::new());
                    self.start(req)
                }
                _ => self.unexpected(),
            },
            T::MessageType_PinMatrixAck => {
                let ack = decode!(protos::PinMatrixAck);
                match self.take_wait() {
                    Wait::Pin(req, shown) => self.pin_ack(req, &shown, ack.pin()),
                    _ => self.unexpected(),
                }
            }
            T::MessageType_PassphraseAck => {
                let ack = decode!(protos::PassphraseAck);
                match self.take_wait() {
                    Wait::Passphrase(req) => self.passphrase_ack(req, &ack),
                    _ => self.unexpected(),
                }
            }
            T::MessageType_EthereumTxAck => {
                let ack = decode!(protos::EthereumTxAck);
                match self.take_wait() {
                    Wait::TxData(tx) => self.tx_ack(tx, ack.data_chunk()),
                    _ => vec![self.fail(Fail::Failure_UnexpectedMessage, "Not in Ethereum signing mode")],
                }
            }
            T::MessageType_Ping => {
                let ping = decode!(protos::Ping);
                self.wait = Wait::Idle;
                let mut ok = protos::Success::new();
                ok.set_message(ping.message().to_string());
                if ping.button_protection() {
                    self.screens.push(Vec::new());
                    let screen = titled("Ping?", ping.message());
                    self.advance(Flow {
                        signing: false,
                        acked: false,
                        screens: VecDeque::from([(Btn::ButtonRequest_ProtectCall, screen)]),
                        then: Then::Reply(out(&ok)),
                    })
                } else {
                    vec![out(&ok)]
                }
            }
            T::MessageType_LockDevice => {
                self.wait = Wait::Idle;
                if self.cfg.pin.is_some() {
                    self.unlocked = false;
                }
                self.session_passphrase = None;
                let mut ok = protos::Success::new();
                ok.set_message("Session cleared".to_string());
                vec![out(&ok)]
            }
            T::MessageType_EndSession => {
                self.wait = Wait::Idle;
                self.new_session();
                vec![out(&protos::Success::new())]
            }
            T::MessageType_EthereumGetAddress => {
                let m = decode!(protos::EthereumGetAddress);
                self.wait = Wait::Idle;
                self.start(Req::Address(Box::new(m)))
            }
            T::MessageType_EthereumSignTx => {
                let m = decode!(protos::EthereumSignTx);
                self.wait = Wait::Idle;
                self.start(Req::Legacy(Box::new(m)))
            }
            T::MessageType_EthereumSignTxEIP1559 => {
                let m = decode!(protos::EthereumSignTxEIP1559);
                self.wait = Wait::Idle;
                self.start(Req::Eip1559(Box::new(m)))
            }
            T::MessageType_EthereumSignMessage => {
                let m = decode!(protos::EthereumSignMessage);
                self.wait = Wait::Idle;
                self.start(Req::Message(Box::new(m)))
            }
            T::MessageType_EthereumSignTypedHash => {
                let m = decode!(protos::EthereumSignTypedHash);
                self.wait = Wait::Idle;
                self.start(Req::TypedHash(Box::new(m)))
            }
            _ => {
                // Includes EthereumSignTypedData (see the module docs) and everything not simulated.
                self.wait = Wait::Idle;
                self.unexpected()
            }
        }
    }

    fn features(&self) -> Out {
        let mut f = protos::Features::new();
        f.set_vendor("trezor.io".to_string());
        let (major, minor, patch) = self.cfg.firmware;
        f.set_major_version(major);
        f.set_minor_version(minor);
        f.set_patch_version(patch);
        f.set_bootloader_mode(false);
        f.set_device_id("DEFENDERSIM00001".to_string());
        f.set_pin_protection(self.cfg.pin.is_some() && !self.wiped);
        f.set_passphrase_protection(self.cfg.passphrase_protection && !self.wiped);
        f.set_language("en-US".to_string());
        f.set_label("defender-sim".to_string());
        f.set_initialized(!self.wiped);
        f.set_unlocked(self.unlocked && !self.wiped);
        f.set_passphrase_always_on_device(false);
        f.set_safety_checks(protos::SafetyCheckLevel::Strict);
        let (model, internal) = match self.cfg.model {
            Model::One => ("1", "T1B1"),
            Model::T => ("T", "T2T1"),
            Model::Safe7 => ("T3W1", "T3W1"),
        };
        f.set_model(model.to_string());
        f.set_internal_model(internal.to_string());
        f.set_session_id(self.session_id.clone());
        out(&f)
    }

    fn key(&mut self, path: &[u32], passphrase: &str) -> anyhow::Result<PrivateKeySigner> {
        let k = (path.to_vec(), passphrase.to_string());
        if let Some(key) = self.keys.get(&k) {
            return Ok(key.clone());
        }
        let key = derive(&self.cfg.mnemonic, &path_string(path), passphrase)?;
        self.keys.insert(k, key.clone());
        Ok(key)
    }

    /// Starts (or resumes, after PIN / passphrase) a request that needs a key.
    fn start(&mut self, req: Req) -> Vec<Out> {
        if self.wiped {
            return vec![self.fail(Fail::Failure_NotInitialized, "Device not initialized")];
        }
        if !self.unlocked {
            let shown = self.next_matrix;
            self.next_matrix = self.scramble();
            self.wait = Wait::Pin(req, shown);
            let mut r = protos::PinMatrixRequest::new();
            r.set_type(protos::pin_matrix_request::PinMatrixRequestType::PinMatrixRequestType_Current);
            return vec![out(&r)];
        }
        if !path_allowed(req.path()) {
            return self.data_error("Forbidden key path");
        }
        let passphrase = if self.cfg.passphrase_protection {
            match &self.session_passphrase {
                Some(p) => p.clone(),
                None => {
                    self.wait = Wait::Passphrase(req);
                    return vec![out(&protos::PassphraseRequest::new())];
                }
            }
        } else {
            String::new()
        };
        let key = match self.key(req.path(), &passphrase) {
            Ok(k) => k,
            Err(_) => return vec![self.fail(Fail::Failure_ProcessError, "Failed to derive private key")],
        };
        match req {
            Req::Address(m) => self.get_address(&m, &key),
            Req::Legacy(m) => self.sign_legacy(&m, key),
            Req::Eip1559(m) => self.sign_eip1559(&m, key),
            Req::Message(m) => self.sign_message(&m, &key),
            Req::TypedHash(m) => self.sign_typed_hash(&m, &key),
        }
    }

    fn pin_ack(&mut self, req: Req, shown: &[u8; 9], typed: &str) -> Vec<Out> {
        let entered: Option<String> = typed
            .chars()
            .map(|c| match c.to_digit(10) {
                Some(p @ 1..=9) => Some(char::from(b'0' + shown[p as usize - 1])),
                _ => None,
            })
            .collect();
        let right = !typed.is_empty() && entered.is_some() && entered == self.cfg.pin;
        if right {
            self.unlocked = true;
            self.tries_left = self.cfg.pin_tries.max(1);
            return self.start(req);
        }
        self.tries_left = self.tries_left.saturating_sub(1);
        if self.tries_left == 0 {
            // "Too many wrong PIN attempts. Storage has been wiped."
            self.wiped = true;
            self.unlocked = false;
        }
        vec![self.fail(Fail::Failure_PinInvalid, "PIN invalid")]
    }

    fn passphrase_ack(&mut self, req: Req, ack: &protos::PassphraseAck) -> Vec<Out> {
        let on_device = ack.on_device();
        if self.one() {
            if on_device {
                return self.data_error("This firmware is incapable of passphrase entry on the device.");
            }
            if !ack.has_passphrase() {
                return self
                    .data_error("No passphrase provided. Use empty string to set an empty passphrase.");
            }
        } else if on_device {
            if ack.has_passphrase() {
                return self.data_error("Passphrase provided when it should not be");
            }
            self.wait = Wait::PassphraseOnDevice(req);
            let mut r = protos::ButtonRequest::new();
            r.set_code(Btn::ButtonRequest_PassphraseEntry);
            return vec![out(&r)];
        } else if !ack.has_passphrase() {
            return self.data_error(
                "Passphrase not provided and on_device is False. Use empty string to set an empty passphrase.",
            );
        }
        if ack.passphrase().len() > 50 {
            return self.data_error("Maximum passphrase length is 50 bytes");
        }
        self.session_passphrase = Some(ack.passphrase().to_string());
        self.start(req)
    }

    /// Shows the front screen (ButtonRequest) or finishes the flow.
    fn advance(&mut self, flow: Flow) -> Vec<Out> {
        if let Some((code, lines)) = flow.screens.front() {
            let mut r = protos::ButtonRequest::new();
            r.set_code(*code);
            let lines = lines.clone();
            match self.screens.last_mut() {
                Some(s) => s.push(lines),
                None => self.screens.push(vec![lines]),
            }
            self.wait = Wait::Button(Box::new(flow));
            return vec![out(&r)];
        }
        match flow.then {
            Then::Reply(o) => vec![o],
            Then::Tx(tx) => self.tx_next(tx),
        }
    }

    fn button_ack(&mut self, mut flow: Flow) -> Vec<Out> {
        if flow.signing && !flow.acked && self.fault == Fault::Disconnect {
            self.wait = Wait::Silent;
            return Vec::new();
        }
        if self.fault == Fault::CancelOnDevice {
            return vec![self.cancelled()];
        }
        flow.acked = true;
        flow.screens.pop_front();
        self.advance(flow)
    }

    fn get_address(&mut self, m: &protos::EthereumGetAddress, key: &PrivateKeySigner) -> Vec<Out> {
        let address = key.address().to_checksum(None);
        let mut resp = protos::EthereumAddress::new();
        resp.set_address(address.clone());
        self.screens.push(Vec::new());
        let screens = if m.show_display() {
            VecDeque::from([(Btn::ButtonRequest_Address, titled("Address:", &address))])
        } else {
            VecDeque::new()
        };
        self.advance(Flow { signing: false, acked: false, screens, then: Then::Reply(out(&resp)) })
    }

    fn sign_message(&mut self, m: &protos::EthereumSignMessage, key: &PrivateKeySigner) -> Vec<Out> {
        let address = key.address().to_checksum(None);
        let message = m.message();
        let shown = match std::str::from_utf8(message) {
            Ok(s) if s.chars().all(|c| c == '\n' || (' '..='~').contains(&c)) => {
                titled("Sign message?", &s.replace('\n', " "))
            }
            _ => titled("Sign binary message?", &hex::encode_upper(message)),
        };
        let sig = match key.sign_message_sync(message) {
            Ok(s) => s,
            Err(_) => return vec![self.fail(Fail::Failure_ProcessError, "Signing failed")],
        };
        let mut resp = protos::EthereumMessageSignature::new();
        resp.set_address(address.clone());
        resp.set_signature(sig.as_bytes().to_vec());
        self.screens.push(Vec::new());
        self.advance(Flow {
            signing: true,
            acked: false,
            screens: VecDeque::from([
                (Btn::ButtonRequest_Other, titled("Confirm address?", &address)),
                (Btn::ButtonRequest_ProtectCall, shown),
            ]),
            then: Then::Reply(out(&resp)),
        })
    }

    fn sign_typed_hash(&mut self, m: &protos::EthereumSignTypedHash, key: &PrivateKeySigner) -> Vec<Out> {
        let domain = m.domain_separator_hash();
        if domain.len() != 32 || (m.has_message_hash() && m.message_hash().len() != 32) {
            return self.data_error("Invalid hash length");
        }
        let mut preimage = vec![0x19, 0x01];
        preimage.extend_from_slice(domain);
        let mut screens = VecDeque::from([
            (Btn::ButtonRequest_ProtectCall, wrap_21("Unable to show EIP-712 data. Sign at your own risk.")),
            (Btn::ButtonRequest_Other, titled("Confirm address?", &key.address().to_checksum(None))),
            (Btn::ButtonRequest_Other, titled("EIP-712 domain hash", &hex::encode_upper(domain))),
        ]);
        if m.has_message_hash() {
            preimage.extend_from_slice(m.message_hash());
            screens.push_back((
                Btn::ButtonRequest_Other,
                titled("EIP-712 message hash", &hex::encode_upper(m.message_hash())),
            ));
        }
        let sig = match key.sign_hash_sync(&keccak256(&preimage)) {
            Ok(s) => s,
            Err(_) => return vec![self.fail(Fail::Failure_ProcessError, "Signing failed")],
        };
        let mut resp = protos::EthereumTypedDataSignature::new();
        resp.set_signature(sig.as_bytes().to_vec());
        resp.set_address(key.address().to_checksum(None));
        self.screens.push(Vec::new());
        self.advance(Flow { signing: true, acked: false, screens, then: Then::Reply(out(&resp)) })
    }

    /// The checks common to both transaction types (`ethereum_signing_init_common` /
    /// `check_common_fields`). Returns the recipient (None: contract creation).
    fn check_tx(
        &self,
        chain_id: u64,
        data_length: u32,
        initial: &[u8],
        to: &str,
        integers: &[&[u8]],
    ) -> Result<Option<Address>, Vec<Out>> {
        if chain_id == 0 {
            return Err(self.data_error("Chain ID out of bounds"));
        }
        if data_length > 0 {
            if initial.is_empty() {
                return Err(self.data_error("Data length provided, but no initial chunk"));
            }
            if data_length > 16_000_000 {
                return Err(self.data_error("Data length exceeds limit"));
            }
        }
        if initial.len() > data_length as usize || initial.len() > 1024 {
            return Err(self.data_error("Invalid size of initial chunk"));
        }
        if ![0, 40, 42].contains(&to.len()) {
            return Err(self.data_error(self.text("Safety check failed", "Invalid recipient address")));
        }
        if to.is_empty() && data_length == 0 {
            return Err(self.data_error(self.text("Safety check failed", "Contract creation without data")));
        }
        if integers.iter().any(|b| b.len() > 32) {
            return Err(self.data_error("Value too long"));
        }
        if to.is_empty() {
            return Ok(None);
        }
        parse_address(to).map(Some).ok_or_else(|| self.data_error("Invalid address"))
    }

    /// The confirmation screens before the fee: the recipient and value, then the calldata
    /// pages and the warning; or, for an ERC-20 `transfer`, the token layout (the call's
    /// recipient and amount in base units) and no pages.
    fn tx_screens(
        &self,
        to: Option<Address>,
        value: U256,
        data: &[u8],
        total: u32,
        chain_id: u64,
    ) -> Vec<(Btn, Vec<String>)> {
        let symbol = chain_symbol(chain_id);
        let first_code =
            if self.one() { Btn::ButtonRequest_SignTx } else { Btn::ButtonRequest_ConfirmOutput };
        let token = (total == 68 && data.len() == 68 && data[..4] == [0xa9, 0x05, 0x9c, 0xbb])
            .then(|| (Address::from_slice(&data[16..36]), U256::from_be_slice(&data[36..68])));
        if let Some((recipient, amount)) = token {
            // An unknown token: its base units and "Wei UNKN".
            let amount = format!("{} Wei UNKN", format_units(amount, 0));
            return vec![(first_code, send_lines(&amount, Some(recipient)))];
        }
        let amount = if value.is_zero() {
            "message".to_string()
        } else {
            let (number, unit) = eth_amount(value, symbol, false);
            format!("{number} {unit}")
        };
        let mut screens = vec![(first_code, send_lines(&amount, to))];
        if total > 0 {
            let total = total as usize;
            let (mut offset, mut pos) = (0usize, 0usize);
            for _ in 0..MAX_DATA_PAGES {
                if offset >= total {
                    break;
                }
                let printed = (data.len() - pos).min(24);
                let page = &data[pos..pos + printed];
                // Three hex lines whether or not there are bytes for them: "N/M bytes" is
                // always the fifth line.
                let mut lines = vec!["Transaction data:".to_string()];
                let groups: Vec<String> = page.chunks(8).map(hex::encode_upper).collect();
                lines.extend((0..3).map(|i| groups.get(i).cloned().unwrap_or_default()));
                pos += printed;
                offset += printed;
                let ellipsis = if offset < total { "... " } else { "" };
                lines.push(format!("{ellipsis}{offset}/{total} bytes"));
                screens.push((Btn::ButtonRequest_SignTx, lines));
            }
            if offset < total {
                let code =
                    if self.one() { Btn::ButtonRequest_ProtectCall } else { Btn::ButtonRequest_SignTx };
                let warning =
                    vec!["Warning! Too long data to view.".to_string(), "Proceed with caution.".to_string()];
                screens.push((code, warning));
            }
        }
        screens
    }

    fn sign_legacy(&mut self, m: &protos::EthereumSignTx, key: PrivateKeySigner) -> Vec<Out> {
        let initial = m.data_initial_chunk();
        let integers = [m.nonce(), m.gas_price(), m.gas_limit(), m.value()];
        let to = match self.check_tx(m.chain_id(), m.data_length(), initial, m.to(), &integers) {
            Ok(to) => to,
            Err(e) => return e,
        };
        if m.gas_price().len() + m.gas_limit().len() > 30 {
            return self.data_error(self.text("Safety check failed", "Fee overflow"));
        }
        if m.has_tx_type() && ![1, 6].contains(&m.tx_type()) {
            return self.data_error(self.text("Txtype out of bounds", "tx_type out of bounds"));
        }
        let chain_id = m.chain_id();
        let symbol = chain_symbol(chain_id);
        let value = U256::from_be_slice(m.value());
        let mut screens = self.tx_screens(to, value, initial, m.data_length(), chain_id);
        // layoutEthereumFee: "Really send <amount> paying up to <fee> for gas?"
        let fee = U256::from_be_slice(m.gas_price()).saturating_mul(U256::from_be_slice(m.gas_limit()));
        let (fee_value, fee_unit) = eth_amount(fee, symbol, false);
        let (amount, unit) = if value.is_zero() {
            ("message".to_string(), String::new())
        } else {
            eth_amount(value, symbol, false)
        };
        let lines = vec![
            "Really send".to_string(),
            amount,
            join_lines(&[unit, "paying up to".to_string()]),
            fee_value,
            join_lines(&[fee_unit, "for gas?".to_string()]),
        ];
        screens.push((Btn::ButtonRequest_SignTx, lines));

        // The signing hash: RLP([tx_type,] nonce, gas_price, gas_limit, to, value, data, chain_id, 0, 0).
        let mut head = Vec::new();
        if m.has_tx_type() {
            head.extend(rlp_u64(u64::from(m.tx_type())));
        }
        for field in [m.nonce(), m.gas_price(), m.gas_limit()] {
            head.extend(rlp_bytes(field));
        }
        head.extend(rlp_bytes(to.as_ref().map(|a| a.as_slice()).unwrap_or(&[])));
        head.extend(rlp_bytes(m.value()));
        let mut tail = rlp_u64(chain_id);
        tail.extend([0x80, 0x80]);
        let tx = start_tx_hash(key, None, &head, initial, m.data_length(), tail, false, chain_id);
        self.screens.push(Vec::new());
        self.advance(Flow { signing: true, acked: false, screens: screens.into(), then: Then::Tx(tx) })
    }

    fn sign_eip1559(&mut self, m: &protos::EthereumSignTxEIP1559, key: PrivateKeySigner) -> Vec<Out> {
        let initial = m.data_initial_chunk();
        let integers = [m.nonce(), m.max_gas_fee(), m.max_priority_fee(), m.gas_limit(), m.value()];
        let to = match self.check_tx(m.chain_id(), m.data_length(), initial, m.to(), &integers) {
            Ok(to) => to,
            Err(e) => return e,
        };
        let limit = m.gas_limit().len();
        if m.max_gas_fee().len() + limit > 30 || m.max_priority_fee().len() + limit > 30 {
            return self.data_error(self.text("Safety check failed", "Fee overflow"));
        }
        // The access list, hashed after the calldata.
        let mut items = Vec::new();
        for entry in &m.access_list {
            let Some(address) = parse_address(entry.address()) else {
                return self.data_error("Malformed address");
            };
            let keys: Vec<u8> = entry.storage_keys.iter().flat_map(|k| rlp_bytes(k)).collect();
            let mut item = rlp_bytes(address.as_slice());
            item.extend(rlp_list_header(keys.len()));
            item.extend(keys);
            items.extend(rlp_list_header(item.len()));
            items.extend(item);
        }
        let mut tail = rlp_list_header(items.len());
        tail.extend(items);

        let chain_id = m.chain_id();
        let symbol = chain_symbol(chain_id);
        let value = U256::from_be_slice(m.value());
        let mut screens = self.tx_screens(to, value, initial, m.data_length(), chain_id);
        let max_fee = U256::from_be_slice(m.max_gas_fee());
        let priority = U256::from_be_slice(m.max_priority_fee());
        let total_fee = U256::from_be_slice(m.gas_limit()).saturating_mul(max_fee);
        for (what, amount, gwei) in [
            ("Maximum fee per gas", max_fee, true),
            ("Priority fee per gas", priority, true),
            ("Maximum fee", total_fee, false),
        ] {
            let (v, unit) = eth_amount(amount, symbol, gwei);
            let text = format!("{v} {unit}");
            let mut lines = vec!["Confirm fee".to_string(), what.to_string()];
            if what == "Maximum fee" {
                // The firmware cuts this line every 18 characters, mid-number if need be.
                let chars: Vec<char> = text.chars().collect();
                lines.extend(chars.chunks(18).map(|c| c.iter().collect::<String>()));
            } else {
                lines.push(text);
            }
            screens.push((Btn::ButtonRequest_SignTx, lines));
        }

        // The signing hash: 0x02 || RLP(chain_id, nonce, priority, max_fee, gas_limit, to, value,
        // data, access_list).
        let mut head = rlp_u64(chain_id);
        for field in [m.nonce(), m.max_priority_fee(), m.max_gas_fee(), m.gas_limit()] {
            head.extend(rlp_bytes(field));
        }
        head.extend(rlp_bytes(to.as_ref().map(|a| a.as_slice()).unwrap_or(&[])));
        head.extend(rlp_bytes(m.value()));
        let tx = start_tx_hash(key, Some(0x02), &head, initial, m.data_length(), tail, true, chain_id);
        self.screens.push(Vec::new());
        self.advance(Flow { signing: true, acked: false, screens: screens.into(), then: Then::Tx(tx) })
    }

    /// Asks for the next chunk of calldata, or signs.
    fn tx_next(&mut self, mut tx: Box<TxState>) -> Vec<Out> {
        if tx.data_left > 0 {
            tx.requested = tx.data_left.min(1024);
            let mut r = protos::EthereumTxRequest::new();
            r.set_data_length(tx.requested);
            self.wait = Wait::TxData(tx);
            return vec![out(&r)];
        }
        let TxState { key, mut hasher, tail, eip1559, chain_id, .. } = *tx;
        hasher.update(&tail);
        let hash: B256 = hasher.finalize();
        let sig = match key.sign_hash_sync(&hash) {
            Ok(s) => s,
            Err(_) => return vec![self.fail(Fail::Failure_ProcessError, "Signing failed")],
        };
        let parity = u32::from(sig.v());
        let v = if eip1559 || chain_id > MAX_CHAIN_ID { parity } else { parity + 2 * chain_id as u32 + 35 };
        let mut r = protos::EthereumTxRequest::new();
        r.set_signature_v(v);
        r.set_signature_r(sig.r().to_be_bytes::<32>().to_vec());
        r.set_signature_s(sig.s().to_be_bytes::<32>().to_vec());
        vec![out(&r)]
    }

    fn tx_ack(&mut self, mut tx: Box<TxState>, chunk: &[u8]) -> Vec<Out> {
        if chunk.len() > tx.requested as usize {
            return self.data_error("Too much data");
        }
        if chunk.is_empty() {
            return self.data_error("Empty data chunk received");
        }
        tx.hasher.update(chunk);
        tx.data_left -= chunk.len() as u32;
        self.tx_next(tx)
    }
}

/// Hashes the list header, `prefix` (the typed-transaction byte), `head`, the calldata header and
/// the initial chunk; the rest of the calldata and `tail` follow.
#[allow(clippy::too_many_arguments)]
fn start_tx_hash(
    key: PrivateKeySigner,
    prefix: Option<u8>,
    head: &[u8],
    initial: &[u8],
    data_length: u32,
    tail: Vec<u8>,
    eip1559: bool,
    chain_id: u64,
) -> Box<TxState> {
    let data_header = rlp_str_header(data_length as usize, initial.first().copied().unwrap_or(0));
    let total = head.len() + data_header.len() + data_length as usize + tail.len();
    let mut hasher = Keccak256::new();
    if let Some(p) = prefix {
        hasher.update([p]);
    }
    hasher.update(rlp_list_header(total));
    hasher.update(head);
    hasher.update(&data_header);
    hasher.update(initial);
    Box::new(TxState {
        key,
        hasher,
        data_left: data_length - initial.len() as u32,
        requested: 0,
        tail,
        eip1559,
        chain_id,
    })
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn derive(mnemonic: &str, path: &str, passphrase: &str) -> anyhow::Result<PrivateKeySigner> {
    let mut builder = MnemonicBuilder::<English>::default().phrase(mnemonic).derivation_path(path)?;
    if !passphrase.is_empty() {
        builder = builder.password(passphrase);
    }
    Ok(builder.build()?)
}

fn path_string(path: &[u32]) -> String {
    let mut s = String::from("m");
    for &i in path {
        if i & HARDENED != 0 {
            s += &format!("/{}'", i & !HARDENED);
        } else {
            s += &format!("/{i}");
        }
    }
    s
}

/// The firmware's `ethereum_path_check` for BIP44 paths under Strict safety checks (coin 60, or 1
/// for testnets): m/44'/c'/a' , m/44'/c'/0'/a (Ledger Live legacy) and m/44'/c'/a'/{0,1}/i.
fn path_allowed(p: &[u32]) -> bool {
    const MAX_ACCOUNT: u32 = 100;
    const MAX_CHANGE: u32 = 1;
    const MAX_ADDRESS_INDEX: u32 = 1_000_000;
    if p.len() < 3 || p[0] != HARDENED | 44 || p[1] & HARDENED == 0 || p[2] & HARDENED == 0 {
        return false;
    }
    if ![60, 1].contains(&(p[1] & !HARDENED)) || (p[2] & !HARDENED) > MAX_ACCOUNT {
        return false;
    }
    match p.len() {
        3 => true,
        4 => p[2] == HARDENED && p[3] <= MAX_ACCOUNT,
        5 => p[3] <= MAX_CHANGE && p[4] <= MAX_ADDRESS_INDEX,
        _ => false,
    }
}

/// 40 hex digits, optionally after "0x" / "0X" (`ethereum_parse`).
fn parse_address(s: &str) -> Option<Address> {
    let hex_part = match s.len() {
        40 => s,
        42 if s.starts_with("0x") || s.starts_with("0X") => &s[2..],
        _ => return None,
    };
    let bytes = hex::decode(hex_part).ok()?;
    Some(Address::from_slice(&bytes))
}

/// The network symbols the simulated firmware knows; "UNKN" otherwise (as the firmware shows).
fn chain_symbol(chain_id: u64) -> &'static str {
    match chain_id {
        1 | 10 | 8453 | 42161 => "ETH",
        61 => "ETC",
        56 => "BNB",
        100 => "xDAI",
        137 => "POL",
        17000 => "tHOL",
        11155111 => "tSEP",
        _ => "UNKN",
    }
}

/// `ethereumFormatAmount`: per-gas fees in Gwei; other amounts in Wei below 1 Gwei, else in the
/// chain's unit. Returns (number, unit).
fn eth_amount(v: U256, symbol: &str, per_gas: bool) -> (String, String) {
    if per_gas {
        (format_units(v, 9), "Gwei".to_string())
    } else if v < U256::from(1_000_000_000u64) {
        (format_units(v, 0), "Wei".to_string())
    } else {
        (format_units(v, 18), symbol.to_string())
    }
}

/// `bn_format` without trailing zeros and with ',' between thousands.
fn format_units(v: U256, decimals: usize) -> String {
    let digits = v.to_string();
    let (int, frac) = if digits.len() > decimals {
        let (i, f) = digits.split_at(digits.len() - decimals);
        (i.to_string(), f.to_string())
    } else {
        ("0".to_string(), format!("{}{digits}", "0".repeat(decimals - digits.len())))
    };
    let frac = frac.trim_end_matches('0');
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if frac.is_empty() { grouped } else { format!("{grouped}.{frac}") }
}

/// How many characters a line of the Trezor One's 128-pixel screen shows; the rest runs off.
const LINE_WIDTH: usize = 21;

/// The first screen of a transaction (`layoutEthereumConfirmTx`): "Send", the amount as far as
/// the screen shows it, then "to " and the address's first 15 characters, 18 more, the rest
/// and "?".
fn send_lines(amount: &str, to: Option<Address>) -> Vec<String> {
    let mut lines = vec!["Send".to_string(), amount.chars().take(LINE_WIDTH).collect()];
    match to {
        Some(to) => {
            let to = to.to_checksum(None);
            lines.push(format!("to {}", &to[..15]));
            lines.push(to[15..33].to_string());
            lines.push(format!("{}?", &to[33..]));
        }
        None => lines.push("to new contract?".to_string()),
    }
    lines
}

/// `text` broken into lines the screen's width (at spaces where it can).
fn wrap_21(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        let mut word = word.to_string();
        loop {
            match lines.last_mut() {
                Some(line) if line.len() + 1 + word.len() <= LINE_WIDTH => {
                    line.push(' ');
                    line.push_str(&word);
                    break;
                }
                _ if word.len() <= LINE_WIDTH => {
                    lines.push(word);
                    break;
                }
                _ => {
                    let rest = word.split_off(LINE_WIDTH);
                    lines.push(word);
                    word = rest;
                }
            }
        }
    }
    lines
}

/// A title line, then `body` over as many lines as it takes.
fn titled(title: &str, body: &str) -> Vec<String> {
    let mut lines = vec![title.to_string()];
    lines.extend(wrap_21(body));
    lines
}

fn join_lines(lines: &[String]) -> String {
    lines.iter().filter(|l| !l.is_empty()).cloned().collect::<Vec<_>>().join(" ")
}

fn be_trimmed(n: u64) -> Vec<u8> {
    let b = n.to_be_bytes();
    let skip = b.iter().take_while(|&&x| x == 0).count();
    b[skip..].to_vec()
}

fn rlp_header(len: usize, short: u8, long: u8) -> Vec<u8> {
    if len <= 55 {
        vec![short + len as u8]
    } else {
        let be = be_trimmed(len as u64);
        let mut h = vec![long + be.len() as u8];
        h.extend(be);
        h
    }
}

/// The header of a byte string of `len` bytes starting with `first` (none for one byte < 0x80).
fn rlp_str_header(len: usize, first: u8) -> Vec<u8> {
    if len == 1 && first <= 0x7f { Vec::new() } else { rlp_header(len, 0x80, 0xb7) }
}

fn rlp_list_header(len: usize) -> Vec<u8> {
    rlp_header(len, 0xc0, 0xf7)
}

/// A byte string as the firmware hashes it: the bytes as given (an integer's leading zeros kept).
fn rlp_bytes(b: &[u8]) -> Vec<u8> {
    let mut v = rlp_str_header(b.len(), b.first().copied().unwrap_or(0));
    v.extend_from_slice(b);
    v
}

fn rlp_u64(n: u64) -> Vec<u8> {
    rlp_bytes(&be_trimmed(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_format_as_the_firmware() {
        assert_eq!(format_units(U256::from(2_000_000_000u64), 9), "2");
        assert_eq!(format_units(U256::from(1_500_000_000u64), 9), "1.5");
        assert_eq!(format_units(U256::from(200_000_000_000_000u64), 18), "0.0002");
        assert_eq!(
            format_units(U256::from(1_234_567u64) * U256::from(10u64).pow(U256::from(18)), 18),
            "1,234,567"
        );
        assert_eq!(format_units(U256::ZERO, 9), "0");
    }

    #[test]
    fn rlp_matches_alloy() {
        use alloy::rlp::Encodable;
        for n in [0u64, 1, 0x7f, 0x80, 31337, u64::MAX] {
            let mut buf = Vec::new();
            n.encode(&mut buf);
            assert_eq!(rlp_u64(n), buf, "{n}");
        }
        let long = vec![0xabu8; 300];
        let mut buf = Vec::new();
        alloy::primitives::Bytes::from(long.clone()).encode(&mut buf);
        assert_eq!(rlp_bytes(&long), buf);
    }

    #[test]
    fn the_handle_is_send_sync_and_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<TrezorSim>();
    }

    #[test]
    fn paths() {
        let h = HARDENED;
        assert!(path_allowed(&[h | 44, h | 60, h, 0, 0]));
        assert!(path_allowed(&[h | 44, h | 60, h | 3, 0, 0]));
        assert!(path_allowed(&[h | 44, h | 60, h, 7]));
        assert!(!path_allowed(&[h | 44, h, h, 0, 0]));
        assert!(!path_allowed(&[h | 49, h | 60, h, 0, 0]));
        assert_eq!(path_string(&[h | 44, h | 60, h, 0, 5]), "m/44'/60'/0'/0/5");
    }
}
