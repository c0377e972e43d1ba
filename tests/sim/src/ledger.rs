//! A Ledger Ethereum-app simulator that speaks Speculos's APDU-over-TCP protocol.
//!
//! # Wire protocol
//!
//! Exactly Speculos's APDU socket: a request is a 4-byte big-endian length followed by the APDU
//! (`CLA INS P1 P2 [Lc data] [Le]`); an answer is a 4-byte big-endian length of the answer DATA
//! (the status word is not counted), the data, then the 2-byte status word. Connections are
//! served one APDU at a time; a new connection may be opened at any time (for instance after a
//! dropped one) and sees the same device: the app's state (settings, a signing flow in progress)
//! is device-wide, as on Speculos.
//!
//! # Commands (CLA 0xE0)
//!
//! | INS | command | answer |
//! |---|---|---|
//! | 0x02 | GET ETH PUBLIC ADDRESS | `65, pubkey(65), 40, address as ASCII EIP-55 hex without 0x, [chain code(32) if P2=1]` |
//! | 0x04 | SIGN ETH TRANSACTION | `9000` with no data per chunk until the transaction is complete, then `v r s` |
//! | 0x06 | GET APP CONFIGURATION | `flags, major, minor, patch` (flags 0x01 = blind signing on) |
//! | 0x08 | SIGN PERSONAL MESSAGE | `9000` per chunk until all bytes arrived, then `v(27/28) r s` |
//! | 0x0C | SIGN EIP-712 (hashed, P2=0) | `v(27/28) r s` |
//!
//! Keys come from [`LedgerConfig::mnemonic`] (BIP39, no passphrase) at the path the client sends;
//! signatures are made by alloy's local signer (RFC 6979), so they are byte-identical to a
//! software signer holding the same key.
//!
//! # Status words, and when they are answered
//!
//! Checked in this order for every APDU:
//!
//! 1. [`Fault::WrongApp`]: `0x6E00` to everything (the dashboard is open).
//! 2. [`Fault::Locked`]: `0x5515` to everything.
//! 3. [`Fault::Busy`]: `0x6901` to everything.
//! 4. A frame shorter than 4 bytes, or whose `Lc` disagrees with its length: `0x6700`.
//! 5. CLA other than 0xE0: `0x6E00`. Unknown INS: `0x6D00`.
//! 6. [`Fault::DisconnectDuringSign`]: the first chunk (P1 0x00) of INS 0x04 is read, logged with
//!    status 0, and the connection is closed without an answer. The fault stays set (call
//!    [`LedgerSim::set_fault`] with [`Fault::None`] to clear it); the server keeps accepting
//!    connections.
//!
//! Then per command:
//!
//! - P1 or P2 outside the values the command defines: `0x6B00`.
//! - Malformed data (bad BIP32 path: count 0 or above 10, or too few bytes; an address request
//!   whose data after the path is neither empty nor an 8-byte chain id; malformed or non-canonical
//!   transaction RLP; a field of the wrong type or too long; bytes after the end of the
//!   transaction; a personal message longer than announced; EIP-712 data other than exactly two
//!   32-byte hashes after the path): `0x6A80`.
//! - INS 0x04 whose first payload byte is a transaction type other than 0x01 (EIP-2930) or 0x02
//!   (EIP-1559), i.e. 0x00, 0x03..=0x7F: `0x6501`. A first byte 0x80..=0xBF (an RLP string) is
//!   taken as a legacy transaction and fails with `0x6A80`, as in the app.
//! - A continuation chunk (P1 0x80) of INS 0x04 or 0x08 when no such flow is in progress (never
//!   started, already answered, or aborted by an error): `0x6985`, the app's "signature not
//!   initialized". Every error a signing command answers ends the flow in progress, as the app's
//!   context is reset. (Faults 1-3 above leave it untouched: the app never saw those APDUs.)
//! - Blind signing: a transaction with a non-empty `data` field (the simulator has no
//!   clear-signing metadata, so any calldata needs blind signing) while blind signing is off is
//!   refused with `0x6A80` on the chunk that COMPLETES the transaction (the app decides in its
//!   finalisation step, once the whole transaction is parsed; earlier chunks answer `0x9000`). The
//!   screen `["Blind signing must be enabled in settings"]` is recorded.
//! - [`Fault::RejectOnDevice`]: the user rejects on the screen that would confirm: `0x6985` on the
//!   APDU that completes a transaction, message or EIP-712 request, or on a GET ETH PUBLIC
//!   ADDRESS with P1 0x01 (the screens are still recorded). Silent address requests (P1 0x00) and
//!   GET APP CONFIGURATION are unaffected.
//! - Otherwise `0x9000`.
//!
//! # Transactions: parsing and the app's quirks
//!
//! The payload (the transaction as `encode_for_signing` produces it: legacy = RLP list
//! `[nonce, gasPrice, gas, to, value, data, chainId, 0, 0]`; typed = type byte then the RLP list)
//! is parsed field by field as the chunks arrive, like the app's streaming parser: the list
//! header, then each field's header and content. A typed or EIP-155 legacy transaction is complete
//! when its last field (`accessList`; `s`) has been read; it must then end exactly at the end
//! announced by the list header and the chunk must hold nothing more, else `0x6A80`. The signing
//! hash is keccak256 of the bytes the app streamed (type byte included), which for a complete
//! transaction is alloy's `signature_hash()`.
//!
//! Quirk (a), legacy transactions only, reproduced from the app's parser (the "old style
//! transaction" shortcut in `ethUstream.c`; LedgerHQ/app-ethereum#409, foundry-rs/foundry#4362
//! and #5819): **when a chunk ends exactly after the `data` field** (the parser's next field is
//! `v` and the chunk has no bytes left), the app takes the transaction as a complete pre-EIP-155
//! transaction. It signs keccak256 of the bytes received so far (the list header, which still
//! counts the EIP-155 tail, and the six fields nonce..data), with chain id 0, and answers
//! `v = 27 + parity`, r, s to THAT chunk, after showing the review with "Network" "0". The
//! following chunk (the EIP-155 tail `chainId, 0x80, 0x80`) then gets `0x6985`, the flow being
//! over. The condition is "a chunk ends right after `data`", whatever the chain id: with a chain id
//! below 128 the tail is 3 bytes, so it is exactly "the last chunk holds only 3 bytes"; with a
//! larger chain id the tail is longer (5 bytes for 31337 or 8453) and the same split triggers it.
//! A genuine pre-EIP-155 transaction (six fields) takes the same path and is signed correctly.
//! Typed transactions are not affected (their parser has no such shortcut).
//!
//! Quirk (b): legacy `v` is `(chain_id * 2 + 35 + parity)` truncated to one byte, where
//! `chain_id` is read from at most the first 4 bytes of the `v` field as the app does; an empty
//! `v` field (chain id 0) or the quirk-(a) path gives `27 + parity`. Typed transactions answer the
//! parity (0 or 1).
//!
//! # Screens
//!
//! [`LedgerSim::screens`] holds one entry per signing or verification request that reached the
//! user (in order): the screens the device showed, each the lines it drew, every text wrapped
//! at 19 characters (at spaces, and inside a word too long for a line: an address takes three
//! lines). [`LedgerSim::texts`] has the same texts unwrapped and in one list per request. The
//! texts, screen by screen (one `[...]` a screen), as the genuine app 1.22 draws them on a Nano
//! S Plus (shared/spec/hardware-wallets.md). The unit is "ETH" on the chains the app knows (1,
//! Sepolia, Holesky) and "???" elsewhere.
//! - Contract call (non-empty data), blind signing on:
//!   `["Blind signing ahead", "To accept risk, press both buttons"], ["Review transaction"],
//!   ["From", <from>], ["To", <to>], (["Amount", "<value> <unit>"] when value != 0),
//!   ["Max fees", "<fee> <unit>"], (["Network", <network>] when chain id != 1),
//!   ["Tx hash (1/2)", "0x" + the first 32 hex digits], ["Tx hash (2/2)", the last 32],
//!   ["Accept risk and sign transaction"]`
//! - ERC-20 `approve(address,uint256)` (the app's own flow: no To, spender, amount or hash):
//!   `["Blind signing ahead", "To accept risk, press both buttons"], ["Review transaction to
//!   approve ERC20 token"], ["From", <from>], (["Network", <network>] when chain id != 1),
//!   ["Max fees", "<fee> <unit>"], ["Accept risk and sign transaction"]`
//! - With "Debug contracts" on ([`LedgerConfig::debug_contracts`]), every contract call, the
//!   approve included, first shows `["Verify selector"], ["Selector", "095EA7B3"], ["Confirm
//!   selector"]`, then per 32-byte parameter `["Verify parameter"], ["Parameter",
//!   "00:929D9A14:35662357F54ADCF6:4DCEE4D6B867A6F9"], ["Confirm parameter"]` (four groups of
//!   eight bytes, upper-case hex, leading zero bytes dropped but one kept), then the contract
//!   call flow above.
//! - Plain transfer (empty data): `["Amount", "<value> <unit>"], ["To", <to>], ["Max fees",
//!   "<fee> <unit>"], (["Network", <network>] when chain id != 1), ["Sign transaction"]`
//! - Blind signing off and non-empty data: `["Blind signing must be enabled in settings"]`.
//! - Address verification (INS 0x02, P1 0x01): `["Verify address", <address>]`.
//! - Personal message: `["Review message"], ["Message", <text, or 0x-hex if not printable
//!   ASCII>], ["Sign message"]` (not in the recording).
//! - EIP-712 hashed: `["Review typed message"], ["Domain hash", "0x<hash>"], ["Message hash",
//!   "0x<hash>"], ["Sign typed message"]` (not in the recording).
//!
//!
//! With [`LedgerConfig::model`] a touch model ([`Model::Stax`], [`Model::Flex`], [`Model::ApexP`];
//! the APDUs are the same), the screens are NBGL pages, each text one line (the recording gives
//! no width for them), every review page closed by `"Reject", "<n> of <m>"`:
//! - Contract call: `["Blind signing ahead", "If you sign this transaction, you could loose your
//!   assets. Explore safer alternatives: ledger.com/integrated-apps", "Accept risk and continue",
//!   "Back to safety"]`, then `["Review transaction", "Blind signing required."]`, `["From",
//!   <from>, "To", <to>]` (the Stax adds `"Max fees", <fee>` here), `[("Max fees", <fee>) on the
//!   Flex and Apex P, ("Network", <network>) off chain 1, "Transaction hash", "0x<64 digits>"]`,
//!   `["Accept risk and sign transaction?", "Hold to sign"]`: 4 numbered pages.
//! - ERC-20 approve: the same warning page, then `["Review transaction to approve ERC20 token",
//!   "Blind signing required."]`, `["From", <from>, ("Network", <network>), "Max fees", <fee>]`,
//!   `["Accept risk and sign transaction to approve ERC20 token?", "Hold to sign"]`: 3 pages.
//! - Blind signing off: `["This transaction cannot be clear-signed", "Enable blind signing in
//!   the settings to sign this transaction.", "Go to settings", "Reject transaction"]` (recorded
//!   on the Stax, drawn so on all three).
//! - Flows the recording lacks on these models (plain transfer, a call with ETH, Debug
//!   contracts): one page `["(unrecorded flow)", <to>, <fee>]`, so a test cannot mistake it for
//!   a prediction. Address, message and EIP-712 screens are the Nanos'.
//!
//! Addresses are EIP-55 checksummed with 0x; `<to>` is "New contract" for a creation. Amounts and
//! fees are in ETH with trailing zeros trimmed (`0.002`, `1`, `0`); the max fee is
//! `gas * maxFeePerGas` (EIP-1559) or `gas * gasPrice` (legacy, EIP-2930). The network is
//! "Sepolia" (11155111), "Holesky" (17000), else the decimal chain id. The hash is lower-case hex.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::signers::SignerSync;
use alloy::signers::local::coins_bip39::{English, Mnemonic};
use alloy::signers::local::{MnemonicBuilder, PrivateKeySigner};
use anyhow::Context as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinSet};

use crate::TEST_MNEMONIC;

/// Status words the simulated app answers.
pub mod sw {
    /// Success.
    pub const OK: u16 = 0x9000;
    /// The user rejected on the device; also a continuation chunk with no flow in progress.
    pub const CONDITIONS_NOT_SATISFIED: u16 = 0x6985;
    /// Invalid data: malformed input, or blind signing needed but disabled.
    pub const INVALID_DATA: u16 = 0x6A80;
    /// Wrong P1 or P2.
    pub const INVALID_P1_P2: u16 = 0x6B00;
    /// Unknown INS.
    pub const INS_NOT_SUPPORTED: u16 = 0x6D00;
    /// Unknown CLA; also what the dashboard answers when the Ethereum app is not open.
    pub const CLA_NOT_SUPPORTED: u16 = 0x6E00;
    /// Transaction type not supported.
    pub const TX_TYPE_NOT_SUPPORTED: u16 = 0x6501;
    /// The device is locked.
    pub const LOCKED: u16 = 0x5515;
    /// The device is busy.
    pub const BUSY: u16 = 0x6901;
    /// A frame too short to be an APDU, or whose Lc disagrees with its length.
    pub const WRONG_LENGTH: u16 = 0x6700;
}

const CLA: u8 = 0xE0;
const INS_GET_ADDRESS: u8 = 0x02;
const INS_SIGN_TX: u8 = 0x04;
const INS_GET_CONFIG: u8 = 0x06;
const INS_SIGN_PERSONAL: u8 = 0x08;
const INS_SIGN_EIP712: u8 = 0x0C;
const P1_FIRST: u8 = 0x00;
const P1_MORE: u8 = 0x80;
const MAX_PATH_LEN: usize = 10;

/// The simulated app's settings and seed.
#[derive(Clone, Debug)]
pub struct LedgerConfig {
    /// "Blind signing" in the app's settings. Default: on (Speculos starts with it off; tests
    /// that need it off say so).
    pub blind_signing: bool,
    /// The app version answered by GET APP CONFIGURATION. Default: 1.22.0.
    pub version: (u8, u8, u8),
    /// The BIP39 mnemonic of the device (no passphrase). Default: [`TEST_MNEMONIC`].
    pub mnemonic: String,
    /// "Debug contracts" in the app's settings. Default: off, as after a reset.
    pub debug_contracts: bool,
    /// The model whose screens are drawn. Default: the Nano S Plus.
    pub model: Model,
}

/// The models the recording has screens for. They answer the same APDUs and differ only in
/// what they draw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Model {
    #[default]
    NanoSPlus,
    NanoX,
    Stax,
    Flex,
    ApexP,
}

impl Model {
    /// Every model, in `--ledger-model`'s order.
    pub const ALL: [Model; 5] = [Model::NanoSPlus, Model::NanoX, Model::Stax, Model::Flex, Model::ApexP];

    /// The name `--ledger-model` takes.
    pub fn arg(self) -> &'static str {
        match self {
            Model::NanoSPlus => "nanosp",
            Model::NanoX => "nanox",
            Model::Stax => "stax",
            Model::Flex => "flex",
            Model::ApexP => "apex_p",
        }
    }

    /// A touch screen: pages, "Hold to sign".
    pub fn touch(self) -> bool {
        matches!(self, Model::Stax | Model::Flex | Model::ApexP)
    }
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            blind_signing: true,
            version: (1, 22, 0),
            mnemonic: TEST_MNEMONIC.to_string(),
            debug_contracts: false,
            model: Model::NanoSPlus,
        }
    }
}

/// A failure mode the device shows until changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Normal operation.
    None,
    /// The user presses reject: `0x6985` on the confirming APDU.
    RejectOnDevice,
    /// The device is locked: `0x5515` to every APDU.
    Locked,
    /// The dashboard (or another app) is open: `0x6E00` to every APDU.
    WrongApp,
    /// The device is busy: `0x6901` to every APDU.
    Busy,
    /// The connection is closed, without an answer, when the first INS 0x04 chunk arrives.
    DisconnectDuringSign,
}

/// One APDU received, with the status word answered (0 if none was).
#[derive(Clone, Debug)]
pub struct Apdu {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// The data field (without Lc and Le).
    pub data: Vec<u8>,
    /// The status word answered, 0 if none (connection closed).
    pub status: u16,
}

/// A running simulator. Cheap to clone; the server stops when the last clone is dropped.
#[derive(Clone)]
pub struct LedgerSim {
    shared: Arc<Shared>,
    server: Arc<ServerGuard>,
}

impl std::fmt::Debug for LedgerSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerSim").field("addr", &self.server.addr).finish_non_exhaustive()
    }
}

struct ServerGuard {
    addr: SocketAddr,
    abort: AbortHandle,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        self.abort.abort();
    }
}

struct Shared {
    version: (u8, u8, u8),
    mnemonic: String,
    state: Mutex<State>,
    keys: Mutex<HashMap<Vec<u32>, PrivateKeySigner>>,
}

struct State {
    fault: Fault,
    /// `(n, fault)`: sign `n` more transactions normally, then show `fault`.
    armed: Option<(usize, Fault)>,
    blind_signing: bool,
    debug_contracts: bool,
    model: Model,
    apdus: Vec<Apdu>,
    /// Per request, its screens, each as its texts (a title, then its value if it has one; a
    /// touch page every text it holds), and whether they are drawn wrapped (the Nanos).
    screens: Vec<(bool, Vec<Vec<String>>)>,
    flow: Flow,
}

enum Flow {
    Idle,
    Tx(TxFlow),
    Message(MessageFlow),
}

struct TxFlow {
    path: Vec<u32>,
    kind: TxType,
    /// The payload received so far, without the type byte.
    rlp: Vec<u8>,
}

struct MessageFlow {
    path: Vec<u32>,
    len: usize,
    message: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TxType {
    Legacy,
    Eip2930,
    Eip1559,
}

/// What the server does with a request.
enum Outcome {
    Answer(Vec<u8>, u16),
    Disconnect,
}

type Answer = Result<Vec<u8>, u16>;

impl LedgerSim {
    /// Start a simulator on 127.0.0.1 with a free port.
    pub async fn start(config: LedgerConfig) -> anyhow::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Start a simulator on `addr`.
    pub async fn start_on(addr: SocketAddr, config: LedgerConfig) -> anyhow::Result<Self> {
        Mnemonic::<English>::new_from_phrase(&config.mnemonic)
            .map_err(|e| anyhow::anyhow!("invalid mnemonic for the Ledger simulator: {e}"))?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the Ledger simulator to {addr}"))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            version: config.version,
            mnemonic: config.mnemonic,
            state: Mutex::new(State {
                fault: Fault::None,
                armed: None,
                blind_signing: config.blind_signing,
                debug_contracts: config.debug_contracts,
                model: config.model,
                apdus: Vec::new(),
                screens: Vec::new(),
                flow: Flow::Idle,
            }),
            keys: Mutex::new(HashMap::new()),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(Self { shared, server: Arc::new(ServerGuard { addr, abort: task.abort_handle() }) })
    }

    /// The address of the APDU socket.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// Set the failure mode (persists until changed).
    pub fn set_fault(&self, fault: Fault) {
        let mut st = self.shared.state();
        st.fault = fault;
        st.armed = None;
    }

    /// Let the user approve `signatures` more transactions, then show `fault` (which then
    /// persists until changed): a rejection in the middle of a batch.
    pub fn set_fault_after_signatures(&self, signatures: usize, fault: Fault) {
        let mut st = self.shared.state();
        st.fault = Fault::None;
        st.armed = Some((signatures, fault));
    }

    /// Switch "Blind signing" in the app's settings.
    pub fn set_blind_signing(&self, on: bool) {
        self.shared.state().blind_signing = on;
    }

    /// Switch "Debug contracts" in the app's settings.
    pub fn set_debug_contracts(&self, on: bool) {
        self.shared.state().debug_contracts = on;
    }

    /// Draw the screens of `model` from now on.
    pub fn set_model(&self, model: Model) {
        self.shared.state().model = model;
    }

    /// Every APDU received, in order, with the status word answered.
    pub fn apdus(&self) -> Vec<Apdu> {
        self.shared.state().apdus.clone()
    }

    /// Per signing or verification request, the screens the device showed, each as the lines
    /// it drew: every text wrapped at 19 characters (see the module docs).
    pub fn screens(&self) -> Vec<Vec<Vec<String>>> {
        let drawn = |wrapped: bool, texts: &Vec<String>| match wrapped {
            true => texts.iter().flat_map(|t| wrap(t, LINE_WIDTH)).collect(),
            false => texts.clone(),
        };
        let st = self.shared.state();
        st.screens
            .iter()
            .map(|(wrapped, request)| request.iter().map(|s| drawn(*wrapped, s)).collect())
            .collect()
    }

    /// Per request, every text it showed in order, unwrapped: titles and values alike.
    pub fn texts(&self) -> Vec<Vec<String>> {
        self.shared.state().screens.iter().map(|(_, request)| request.concat()).collect()
    }

    /// Forget the APDU and screen logs.
    pub fn clear_log(&self) {
        let mut st = self.shared.state();
        st.apdus.clear();
        st.screens.clear();
    }

    /// The address the app derives at `path` ("m/44'/60'/0'/0/0" style). Panics on a bad path.
    pub fn address_at(&self, path: &str) -> Address {
        let elements = parse_path_str(path).unwrap_or_else(|| panic!("invalid derivation path {path:?}"));
        self.shared.signer(&elements).unwrap_or_else(|e| panic!("deriving {path}: {e}")).address()
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        while connections.try_join_next().is_some() {}
        connections.spawn(serve(stream, shared.clone()));
    }
}

async fn serve(mut stream: TcpStream, shared: Arc<Shared>) {
    loop {
        let mut len = [0u8; 4];
        if stream.read_exact(&mut len).await.is_err() {
            return;
        }
        let len = u32::from_be_bytes(len) as usize;
        if len > 64 * 1024 {
            return; // not an APDU stream
        }
        let mut frame = vec![0u8; len];
        if stream.read_exact(&mut frame).await.is_err() {
            return;
        }
        match shared.process(&frame) {
            Outcome::Answer(data, status) => {
                let mut out = Vec::with_capacity(4 + data.len() + 2);
                out.extend_from_slice(&(data.len() as u32).to_be_bytes());
                out.extend_from_slice(&data);
                out.extend_from_slice(&status.to_be_bytes());
                if stream.write_all(&out).await.is_err() {
                    return;
                }
            }
            Outcome::Disconnect => {
                let _ = stream.shutdown().await;
                return;
            }
        }
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn signer(&self, path: &[u32]) -> anyhow::Result<PrivateKeySigner> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(signer) = keys.get(path) {
            return Ok(signer.clone());
        }
        let signer = MnemonicBuilder::<English>::default()
            .phrase(self.mnemonic.as_str())
            .derivation_path(path_string(path))?
            .build()?;
        keys.insert(path.to_vec(), signer.clone());
        Ok(signer)
    }

    fn chain_code(&self, path: &[u32]) -> anyhow::Result<[u8; 32]> {
        let mnemonic = Mnemonic::<English>::new_from_phrase(&self.mnemonic)?;
        let xpriv = mnemonic.derive_key(path_string(path).as_str(), None)?;
        let info: &coins_bip32::primitives::XKeyInfo = xpriv.as_ref();
        Ok(info.chain_code.0)
    }

    fn process(&self, frame: &[u8]) -> Outcome {
        let mut st = self.state();
        let (apdu, outcome) = match split_apdu(frame) {
            Some((cla, ins, p1, p2, data)) => {
                let mut apdu = Apdu { cla, ins, p1, p2, data: data.to_vec(), status: 0 };
                let outcome = self.dispatch(&mut st, &apdu);
                if let Outcome::Answer(_, status) = &outcome {
                    apdu.status = *status;
                }
                (apdu, outcome)
            }
            None => {
                let b = |i: usize| frame.get(i).copied().unwrap_or(0);
                let status = match st.fault {
                    Fault::WrongApp => sw::CLA_NOT_SUPPORTED,
                    Fault::Locked => sw::LOCKED,
                    Fault::Busy => sw::BUSY,
                    _ => sw::WRONG_LENGTH,
                };
                let data = frame.get(5..).unwrap_or_default().to_vec();
                let apdu = Apdu { cla: b(0), ins: b(1), p1: b(2), p2: b(3), data, status };
                (apdu, Outcome::Answer(Vec::new(), status))
            }
        };
        st.apdus.push(apdu);
        outcome
    }

    fn dispatch(&self, st: &mut State, apdu: &Apdu) -> Outcome {
        match st.fault {
            Fault::WrongApp => return Outcome::Answer(Vec::new(), sw::CLA_NOT_SUPPORTED),
            Fault::Locked => return Outcome::Answer(Vec::new(), sw::LOCKED),
            Fault::Busy => return Outcome::Answer(Vec::new(), sw::BUSY),
            _ => {}
        }
        if apdu.cla != CLA {
            return Outcome::Answer(Vec::new(), sw::CLA_NOT_SUPPORTED);
        }
        if apdu.ins == INS_SIGN_TX && apdu.p1 == P1_FIRST && st.fault == Fault::DisconnectDuringSign {
            st.flow = Flow::Idle;
            return Outcome::Disconnect;
        }
        let answer = match apdu.ins {
            INS_GET_ADDRESS => self.get_address(st, apdu),
            INS_GET_CONFIG => {
                Ok(vec![u8::from(st.blind_signing), self.version.0, self.version.1, self.version.2])
            }
            INS_SIGN_TX => self.sign_tx(st, apdu),
            INS_SIGN_PERSONAL => self.sign_personal(st, apdu),
            INS_SIGN_EIP712 => self.sign_eip712(st, apdu),
            _ => Err(sw::INS_NOT_SUPPORTED),
        };
        match answer {
            Ok(data) => Outcome::Answer(data, sw::OK),
            Err(status) => {
                // The app wipes its context on every error.
                if matches!(apdu.ins, INS_SIGN_TX | INS_SIGN_PERSONAL | INS_SIGN_EIP712) {
                    st.flow = Flow::Idle;
                }
                Outcome::Answer(Vec::new(), status)
            }
        }
    }

    fn get_address(&self, st: &mut State, apdu: &Apdu) -> Answer {
        if apdu.p1 > 1 || apdu.p2 > 1 {
            return Err(sw::INVALID_P1_P2);
        }
        let (path, rest) = parse_path(&apdu.data).ok_or(sw::INVALID_DATA)?;
        if !(rest.is_empty() || rest.len() == 8) {
            return Err(sw::INVALID_DATA);
        }
        let signer = self.signer(&path).map_err(|_| sw::INVALID_DATA)?;
        let address = signer.address();
        if apdu.p1 == 1 {
            st.screens.push((true, vec![vec!["Verify address".to_string(), address.to_checksum(None)]]));
            if st.fault == Fault::RejectOnDevice {
                return Err(sw::CONDITIONS_NOT_SATISFIED);
            }
        }
        let pubkey = signer.credential().verifying_key().to_encoded_point(false);
        let mut out = Vec::with_capacity(1 + 65 + 1 + 40 + 32);
        out.push(65);
        out.extend_from_slice(pubkey.as_bytes());
        let hex_address = address.to_checksum(None);
        out.push(40);
        out.extend_from_slice(&hex_address.as_bytes()[2..]);
        if apdu.p2 == 1 {
            out.extend_from_slice(&self.chain_code(&path).map_err(|_| sw::INVALID_DATA)?);
        }
        Ok(out)
    }

    fn sign_tx(&self, st: &mut State, apdu: &Apdu) -> Answer {
        if apdu.p2 != 0 {
            return Err(sw::INVALID_P1_P2);
        }
        let chunk: &[u8] = match apdu.p1 {
            P1_FIRST => {
                st.flow = Flow::Idle;
                let (path, payload) = parse_path(&apdu.data).ok_or(sw::INVALID_DATA)?;
                let (&first, _) = payload.split_first().ok_or(sw::INVALID_DATA)?;
                let (kind, payload) = match first {
                    0x01 => (TxType::Eip2930, &payload[1..]),
                    0x02 => (TxType::Eip1559, &payload[1..]),
                    0x00..=0x7F => return Err(sw::TX_TYPE_NOT_SUPPORTED),
                    _ => (TxType::Legacy, payload),
                };
                st.flow = Flow::Tx(TxFlow { path, kind, rlp: Vec::new() });
                payload
            }
            P1_MORE => {
                if !matches!(st.flow, Flow::Tx(_)) {
                    return Err(sw::CONDITIONS_NOT_SATISFIED);
                }
                &apdu.data
            }
            _ => return Err(sw::INVALID_P1_P2),
        };
        let Flow::Tx(flow) = &mut st.flow else { unreachable!("a transaction flow was set up above") };
        flow.rlp.extend_from_slice(chunk);
        let parsed = match parse_tx(flow.kind, &flow.rlp)? {
            Parse::NeedMore => return Ok(Vec::new()),
            Parse::Done(parsed) => parsed,
        };
        let Flow::Tx(flow) = std::mem::replace(&mut st.flow, Flow::Idle) else { unreachable!() };
        self.finish_tx(st, flow, parsed)
    }

    fn finish_tx(&self, st: &mut State, flow: TxFlow, tx: ParsedTx) -> Answer {
        let f = |i: usize| tx.fields[i].as_slice();
        // Field indices per type: (to, value, data, gas, fee per gas, chain id).
        let (to, value, data, gas, fee_per_gas, chain_id) = match flow.kind {
            TxType::Legacy => (f(3), f(4), f(5), f(2), f(1), tx.fields.get(6).map(Vec::as_slice)),
            TxType::Eip2930 => (f(4), f(5), f(6), f(3), f(2), Some(f(0))),
            TxType::Eip1559 => (f(5), f(6), f(7), f(4), f(3), Some(f(0))),
        };
        let contract_call = !data.is_empty();
        if contract_call && !st.blind_signing {
            let refusal = if st.model.touch() {
                vec![
                    "This transaction cannot be clear-signed",
                    "Enable blind signing in the settings to sign this transaction.",
                    "Go to settings",
                    "Reject transaction",
                ]
            } else {
                vec!["Blind signing must be enabled in settings"]
            };
            let touch = st.model.touch();
            st.screens.push((!touch, vec![refusal.into_iter().map(String::from).collect()]));
            return Err(sw::INVALID_DATA);
        }
        let signer = self.signer(&flow.path).map_err(|_| sw::INVALID_DATA)?;
        // The app hashes every byte it streamed: the type byte, then the RLP up to where it stopped.
        let mut preimage = Vec::with_capacity(1 + tx.consumed);
        match flow.kind {
            TxType::Legacy => {}
            TxType::Eip2930 => preimage.push(0x01),
            TxType::Eip1559 => preimage.push(0x02),
        }
        preimage.extend_from_slice(&flow.rlp[..tx.consumed]);
        let hash = keccak256(&preimage);

        let chain_bytes = chain_id.unwrap_or(&[]);
        let chain_display = U256::from_be_slice(chain_bytes);
        let to_display = if to.is_empty() {
            "New contract".to_string()
        } else {
            Address::from_slice(to).to_checksum(None)
        };
        let value = U256::from_be_slice(value);
        let max_fee = U256::from_be_slice(gas).saturating_mul(U256::from_be_slice(fee_per_gas));
        // App 1.22 on a Nano S Plus / Nano X, default settings but blind signing, as recorded.
        let unit = if [1u64, 11_155_111, 17_000].iter().any(|c| chain_display == U256::from(*c)) {
            "ETH"
        } else {
            "???"
        };
        let approve = data.len() == 68 && data[..4] == [0x09, 0x5e, 0xa7, 0xb3];
        let mut screens: Vec<Vec<String>> = Vec::new();
        let mut show = |texts: &[&str]| screens.push(texts.iter().map(|t| t.to_string()).collect());
        let network = (chain_display != U256::from(1)).then(|| network_name(chain_display));
        let fee = format!("{} {unit}", format_ether(max_fee));
        let from = signer.address().to_checksum(None);
        let warning = ["Blind signing ahead", "To accept risk, press both buttons"];
        if st.model.touch() {
            let pages = touch_pages(TouchTx {
                stax: st.model == Model::Stax,
                approve: approve && !st.debug_contracts,
                contract_call,
                value: !value.is_zero(),
                debug_contracts: st.debug_contracts,
                from: &from,
                to: &to_display,
                fee: &fee,
                network: network.as_deref(),
                hash: &format!("{hash:#x}"),
            });
            st.screens.push((false, pages));
        } else if approve && !st.debug_contracts {
            show(&warning);
            show(&["Review transaction to approve ERC20 token"]);
            show(&["From", &from]);
            if let Some(network) = &network {
                show(&["Network", network]);
            }
            show(&["Max fees", &fee]);
            show(&["Accept risk and sign transaction"]);
        } else if contract_call {
            if st.debug_contracts && data.len() >= 4 {
                show(&["Verify selector"]);
                show(&["Selector", &hex::encode_upper(&data[..4])]);
                show(&["Confirm selector"]);
                for word in data[4..].chunks(32) {
                    show(&["Verify parameter"]);
                    show(&["Parameter", &debug_parameter(word)]);
                    show(&["Confirm parameter"]);
                }
            }
            show(&warning);
            show(&["Review transaction"]);
            show(&["From", &from]);
            show(&["To", &to_display]);
            if !value.is_zero() {
                show(&["Amount", &format!("{} {unit}", format_ether(value))]);
            }
            show(&["Max fees", &fee]);
            if let Some(network) = &network {
                show(&["Network", network]);
            }
            let hash = format!("{hash:#x}");
            show(&["Tx hash (1/2)", &hash[..34]]);
            show(&["Tx hash (2/2)", &hash[34..]]);
            show(&["Accept risk and sign transaction"]);
        } else {
            show(&["Amount", &format!("{} {unit}", format_ether(value))]);
            show(&["To", &to_display]);
            show(&["Max fees", &fee]);
            if let Some(network) = &network {
                show(&["Network", network]);
            }
            show(&["Sign transaction"]);
        }
        if !st.model.touch() {
            st.screens.push((true, screens));
        }
        if let Some((0, fault)) = st.armed {
            st.fault = fault;
            st.armed = None;
        }
        if st.fault == Fault::RejectOnDevice {
            return Err(sw::CONDITIONS_NOT_SATISFIED);
        }

        let sig = signer.sign_hash_sync(&hash).map_err(|_| sw::INVALID_DATA)?;
        if let Some((left, _)) = &mut st.armed {
            *left -= 1;
        }
        let parity = u8::from(sig.v());
        let v = match flow.kind {
            TxType::Eip2930 | TxType::Eip1559 => parity,
            TxType::Legacy if chain_bytes.is_empty() => 27 + parity,
            TxType::Legacy => {
                // The app reads at most the first 4 bytes of the v field into a u32, then writes
                // `v * 2 + 35` into one byte and increments it for an odd parity.
                let head = &chain_bytes[..chain_bytes.len().min(4)];
                let chain = head.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
                (chain.wrapping_mul(2).wrapping_add(35) as u8).wrapping_add(parity)
            }
        };
        Ok(signature_answer(v, &sig))
    }

    fn sign_personal(&self, st: &mut State, apdu: &Apdu) -> Answer {
        if apdu.p2 != 0 {
            return Err(sw::INVALID_P1_P2);
        }
        match apdu.p1 {
            P1_FIRST => {
                st.flow = Flow::Idle;
                let (path, rest) = parse_path(&apdu.data).ok_or(sw::INVALID_DATA)?;
                let (len, message) = rest.split_first_chunk::<4>().ok_or(sw::INVALID_DATA)?;
                let len = u32::from_be_bytes(*len) as usize;
                if message.len() > len {
                    return Err(sw::INVALID_DATA);
                }
                st.flow = Flow::Message(MessageFlow { path, len, message: message.to_vec() });
            }
            P1_MORE => {
                let Flow::Message(flow) = &mut st.flow else {
                    return Err(sw::CONDITIONS_NOT_SATISFIED);
                };
                if flow.message.len() + apdu.data.len() > flow.len {
                    return Err(sw::INVALID_DATA);
                }
                flow.message.extend_from_slice(&apdu.data);
            }
            _ => return Err(sw::INVALID_P1_P2),
        }
        let Flow::Message(flow) = &st.flow else { unreachable!("a message flow was set up above") };
        if flow.message.len() < flow.len {
            return Ok(Vec::new());
        }
        let Flow::Message(flow) = std::mem::replace(&mut st.flow, Flow::Idle) else { unreachable!() };
        let shown = if flow.message.iter().all(|b| (0x20..0x7F).contains(b) || *b == b'\n') {
            String::from_utf8_lossy(&flow.message).into_owned()
        } else {
            format!("0x{}", hex::encode(&flow.message))
        };
        st.screens.push((
            true,
            vec![
                vec!["Review message".to_string()],
                vec!["Message".to_string(), shown],
                vec!["Sign message".to_string()],
            ],
        ));
        if st.fault == Fault::RejectOnDevice {
            return Err(sw::CONDITIONS_NOT_SATISFIED);
        }
        let mut prefixed = format!("\x19Ethereum Signed Message:\n{}", flow.message.len()).into_bytes();
        prefixed.extend_from_slice(&flow.message);
        self.sign_27(&flow.path, keccak256(&prefixed))
    }

    fn sign_eip712(&self, st: &mut State, apdu: &Apdu) -> Answer {
        if apdu.p1 != 0 || apdu.p2 != 0 {
            return Err(sw::INVALID_P1_P2);
        }
        st.flow = Flow::Idle;
        let (path, rest) = parse_path(&apdu.data).ok_or(sw::INVALID_DATA)?;
        if rest.len() != 64 {
            return Err(sw::INVALID_DATA);
        }
        let (domain, message) = rest.split_at(32);
        st.screens.push((
            true,
            vec![
                vec!["Review typed message".to_string()],
                vec!["Domain hash".to_string(), format!("0x{}", hex::encode(domain))],
                vec!["Message hash".to_string(), format!("0x{}", hex::encode(message))],
                vec!["Sign typed message".to_string()],
            ],
        ));
        if st.fault == Fault::RejectOnDevice {
            return Err(sw::CONDITIONS_NOT_SATISFIED);
        }
        let mut preimage = vec![0x19, 0x01];
        preimage.extend_from_slice(rest);
        self.sign_27(&path, keccak256(&preimage))
    }

    fn sign_27(&self, path: &[u32], hash: B256) -> Answer {
        let signer = self.signer(path).map_err(|_| sw::INVALID_DATA)?;
        let sig = signer.sign_hash_sync(&hash).map_err(|_| sw::INVALID_DATA)?;
        Ok(signature_answer(27 + u8::from(sig.v()), &sig))
    }
}

fn signature_answer(v: u8, sig: &alloy::primitives::Signature) -> Vec<u8> {
    let mut out = Vec::with_capacity(65);
    out.push(v);
    out.extend_from_slice(&sig.r().to_be_bytes::<32>());
    out.extend_from_slice(&sig.s().to_be_bytes::<32>());
    out
}

/// Split a raw APDU: header, then either nothing, a lone Lc/Le byte, `Lc data`, or `Lc data Le`.
fn split_apdu(frame: &[u8]) -> Option<(u8, u8, u8, u8, &[u8])> {
    let (&[cla, ins, p1, p2], body) = frame.split_first_chunk::<4>()?;
    let data = match body {
        [] | [_] => &[][..],
        [lc, rest @ ..] => {
            let lc = usize::from(*lc);
            if rest.len() != lc && rest.len() != lc + 1 {
                return None;
            }
            &rest[..lc]
        }
    };
    Some((cla, ins, p1, p2, data))
}

/// A BIP32 path as the app reads it: count (1..=10), then 4-byte big-endian elements.
fn parse_path(data: &[u8]) -> Option<(Vec<u32>, &[u8])> {
    let (&count, rest) = data.split_first()?;
    let count = usize::from(count);
    if count == 0 || count > MAX_PATH_LEN || rest.len() < 4 * count {
        return None;
    }
    let (elements, rest) = rest.split_at(4 * count);
    let path = elements.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect();
    Some((path, rest))
}

fn path_string(path: &[u32]) -> String {
    let mut s = String::from("m");
    for &element in path {
        if element & 0x8000_0000 != 0 {
            s.push_str(&format!("/{}'", element & 0x7FFF_FFFF));
        } else {
            s.push_str(&format!("/{element}"));
        }
    }
    s
}

fn parse_path_str(path: &str) -> Option<Vec<u32>> {
    let mut parts = path.split('/');
    if parts.next()? != "m" {
        return None;
    }
    parts
        .map(|p| {
            let (digits, hardened) = match p.strip_suffix('\'').or_else(|| p.strip_suffix('h')) {
                Some(d) => (d, 0x8000_0000),
                None => (p, 0),
            };
            let n: u32 = digits.parse().ok()?;
            (n < 0x8000_0000).then_some(n | hardened)
        })
        .collect()
}

/// What a touch model's pages show of a transaction.
struct TouchTx<'a> {
    stax: bool,
    approve: bool,
    contract_call: bool,
    value: bool,
    debug_contracts: bool,
    from: &'a str,
    to: &'a str,
    fee: &'a str,
    network: Option<&'a str>,
    hash: &'a str,
}

/// The pages of a Stax, Flex or Apex P (see the module docs).
fn touch_pages(tx: TouchTx<'_>) -> Vec<Vec<String>> {
    let owned = |texts: &[&str]| texts.iter().map(|t| t.to_string()).collect::<Vec<_>>();
    if !tx.contract_call || tx.value || tx.debug_contracts {
        // Not in the recording: drawn as one page of the fields, marked as unrecorded.
        return vec![owned(&["(unrecorded flow)", tx.to, tx.fee])];
    }
    let network: Vec<&str> = tx.network.map(|n| vec!["Network", n]).unwrap_or_default();
    let pages: Vec<Vec<String>> = if tx.approve {
        vec![
            owned(&["Review transaction to approve ERC20 token", "Blind signing required."]),
            owned(&[&["From", tx.from][..], &network, &["Max fees", tx.fee]].concat()),
            owned(&["Accept risk and sign transaction to approve ERC20 token?", "Hold to sign"]),
        ]
    } else {
        let fees = ["Max fees", tx.fee];
        let (beside_parties, beside_network): (&[&str], &[&str]) =
            if tx.stax { (&fees, &[]) } else { (&[], &fees) };
        vec![
            owned(&["Review transaction", "Blind signing required."]),
            owned(&[&["From", tx.from, "To", tx.to][..], beside_parties].concat()),
            owned(&[beside_network, &network, &["Transaction hash", tx.hash]].concat()),
            owned(&["Accept risk and sign transaction?", "Hold to sign"]),
        ]
    };
    let count = pages.len();
    let mut out = vec![owned(&[
        "Blind signing ahead",
        "If you sign this transaction, you could loose your assets. Explore safer alternatives: ledger.com/integrated-apps",
        "Accept risk and continue",
        "Back to safety",
    ])];
    for (i, mut page) in pages.into_iter().enumerate() {
        page.push("Reject".to_string());
        page.push(format!("{} of {count}", i + 1));
        out.push(page);
    }
    out
}

/// About how many characters fit on a line of a Nano S Plus / Nano X.
const LINE_WIDTH: usize = 19;

/// A text as the screen draws it: broken at spaces, and inside a word too long for a line.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        let mut word = word.to_string();
        while !word.is_empty() || current.is_empty() {
            let room = if current.is_empty() { width } else { width.saturating_sub(current.len() + 1) };
            if word.len() <= room {
                if !current.is_empty() {
                    current.push(' ');
                }
                current.push_str(&word);
                break;
            }
            if current.is_empty() {
                let rest = word.split_off(width);
                lines.push(word);
                word = rest;
            } else {
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

/// A 32-byte parameter as Debug contracts shows it: four groups of eight bytes, upper-case hex,
/// each without leading zero bytes but at least one, joined by ':'.
fn debug_parameter(word: &[u8]) -> String {
    word.chunks(8)
        .map(|group| {
            let skip = group.iter().take_while(|b| **b == 0).count().min(group.len() - 1);
            hex::encode_upper(&group[skip..])
        })
        .collect::<Vec<_>>()
        .join(":")
}

/// Wei as ETH, trailing zeros trimmed.
fn format_ether(wei: U256) -> String {
    let digits = wei.to_string();
    let padded = format!("{digits:0>19}");
    let (int, frac) = padded.split_at(padded.len() - 18);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() { int.to_string() } else { format!("{int}.{frac}") }
}

fn network_name(chain_id: U256) -> String {
    if chain_id == U256::from(11_155_111u64) {
        "Sepolia".to_string()
    } else if chain_id == U256::from(17_000u64) {
        "Holesky".to_string()
    } else {
        chain_id.to_string()
    }
}

/// What a field must be.
#[derive(Clone, Copy)]
enum Field {
    /// An integer: a string of at most 32 bytes.
    Int,
    /// A recipient: a 20-byte string, or empty for a creation.
    To,
    /// Any string.
    Bytes,
    /// A list (the access list).
    List,
}

const LEGACY_FIELDS: &[Field] = &[
    Field::Int,   // nonce
    Field::Int,   // gasPrice
    Field::Int,   // gas
    Field::To,    // to
    Field::Int,   // value
    Field::Bytes, // data
    Field::Int,   // v = chainId
    Field::Bytes, // r
    Field::Bytes, // s
];
/// Index of `v` in a legacy transaction: the field after `data`.
const LEGACY_V: usize = 6;
const EIP2930_FIELDS: &[Field] = &[
    Field::Int,   // chainId
    Field::Int,   // nonce
    Field::Int,   // gasPrice
    Field::Int,   // gas
    Field::To,    // to
    Field::Int,   // value
    Field::Bytes, // data
    Field::List,  // accessList
];
const EIP1559_FIELDS: &[Field] = &[
    Field::Int,   // chainId
    Field::Int,   // nonce
    Field::Int,   // maxPriorityFeePerGas
    Field::Int,   // maxFeePerGas
    Field::Int,   // gas
    Field::To,    // to
    Field::Int,   // value
    Field::Bytes, // data
    Field::List,  // accessList
];

enum Parse {
    NeedMore,
    Done(ParsedTx),
}

struct ParsedTx {
    /// Bytes of the payload (after the type byte) the app consumed and hashed.
    consumed: usize,
    /// The contents of the fields read (lists as their raw payload).
    fields: Vec<Vec<u8>>,
}

/// An RLP item header at the start of `buf`: (header length, content length, is a list).
/// `Ok(None)` when more bytes are needed; `Err` when it is not canonical RLP.
fn item_header(buf: &[u8]) -> Result<Option<(usize, usize, bool)>, u16> {
    let Some(&b) = buf.first() else { return Ok(None) };
    let (short_base, long_base, is_list) = match b {
        0x00..=0x7F => return Ok(Some((0, 1, false))),
        0x80..=0xBF => (0x80u8, 0xB7u8, false),
        0xC0..=0xFF => (0xC0u8, 0xF7u8, true),
    };
    if b <= long_base {
        let len = usize::from(b - short_base);
        // A single byte below 0x80 must be encoded as itself.
        if !is_list && len == 1 {
            match buf.get(1) {
                None => return Ok(None),
                Some(&x) if x < 0x80 => return Err(sw::INVALID_DATA),
                Some(_) => {}
            }
        }
        return Ok(Some((1, len, is_list)));
    }
    let n = usize::from(b - long_base);
    if n > 4 {
        return Err(sw::INVALID_DATA);
    }
    let Some(bytes) = buf.get(1..1 + n) else { return Ok(None) };
    if bytes[0] == 0 {
        return Err(sw::INVALID_DATA);
    }
    let len = bytes.iter().fold(0usize, |acc, x| (acc << 8) | usize::from(*x));
    if len < 56 {
        return Err(sw::INVALID_DATA);
    }
    Ok(Some((1 + n, len, is_list)))
}

/// Parse the transaction received so far, as the app's streaming parser does (see the module
/// docs for quirk (a)). `buf` ends where the last chunk ended.
fn parse_tx(kind: TxType, buf: &[u8]) -> Result<Parse, u16> {
    let schema = match kind {
        TxType::Legacy => LEGACY_FIELDS,
        TxType::Eip2930 => EIP2930_FIELDS,
        TxType::Eip1559 => EIP1559_FIELDS,
    };
    let Some((header, list_len, is_list)) = item_header(buf)? else { return Ok(Parse::NeedMore) };
    if !is_list {
        return Err(sw::INVALID_DATA);
    }
    let list_end = header + list_len;
    let mut pos = header;
    let mut fields = Vec::with_capacity(schema.len());
    for (index, field) in schema.iter().enumerate() {
        // Quirk (a): the app's "old style transaction" shortcut. A legacy transaction whose
        // chunk ends exactly where `v` would start is taken as complete, without EIP-155.
        if kind == TxType::Legacy && index == LEGACY_V && pos == buf.len() {
            return Ok(Parse::Done(ParsedTx { consumed: pos, fields }));
        }
        if pos >= list_end {
            return Err(sw::INVALID_DATA);
        }
        let Some((h, len, is_list)) = item_header(&buf[pos..])? else { return Ok(Parse::NeedMore) };
        let ok = match field {
            Field::Int => !is_list && len <= 32,
            Field::To => !is_list && (len == 0 || len == 20),
            Field::Bytes => !is_list,
            Field::List => is_list,
        };
        if !ok || pos + h + len > list_end {
            return Err(sw::INVALID_DATA);
        }
        // Integers are minimal: no leading zero byte (so 0 is the empty string 0x80).
        let first = buf.get(pos + h);
        if matches!(field, Field::Int) && len > 0 && first == Some(&0) {
            return Err(sw::INVALID_DATA);
        }
        let Some(content) = buf.get(pos + h..pos + h + len) else { return Ok(Parse::NeedMore) };
        fields.push(content.to_vec());
        pos += h + len;
    }
    if pos != list_end || buf.len() != pos {
        return Err(sw::INVALID_DATA);
    }
    Ok(Parse::Done(ParsedTx { consumed: pos, fields }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ether_formatting() {
        assert_eq!(format_ether(U256::ZERO), "0");
        assert_eq!(format_ether(U256::from(2_000_000_000_000_000u64)), "0.002");
        assert_eq!(format_ether(U256::from(10u64).pow(U256::from(18))), "1");
        assert_eq!(format_ether(U256::from(1u64)), "0.000000000000000001");
        assert_eq!(format_ether(U256::from(12_345_000_000_000_000_000u128)), "12.345");
    }

    #[test]
    fn paths() {
        let p = parse_path_str("m/44'/60'/1'/0/0").unwrap();
        assert_eq!(p, vec![0x8000_002C, 0x8000_003C, 0x8000_0001, 0, 0]);
        assert_eq!(path_string(&p), "m/44'/60'/1'/0/0");
        assert!(parse_path_str("44'/60'").is_none());
        assert!(parse_path(&[0]).is_none());
        assert!(parse_path(&[11; 45]).is_none());
    }

    #[test]
    fn apdu_framing() {
        assert_eq!(split_apdu(&[0xE0, 0x06, 0, 0]).unwrap().4, &[] as &[u8]);
        assert_eq!(split_apdu(&[0xE0, 0x06, 0, 0, 0]).unwrap().4, &[] as &[u8]);
        assert_eq!(split_apdu(&[0xE0, 0x06, 0, 0, 2, 7, 8]).unwrap().4, &[7, 8]);
        assert_eq!(split_apdu(&[0xE0, 0x06, 0, 0, 2, 7, 8, 0]).unwrap().4, &[7, 8]);
        assert!(split_apdu(&[0xE0, 0x06, 0, 0, 3, 7]).is_none());
        assert!(split_apdu(&[0xE0, 0x06]).is_none());
    }
}
