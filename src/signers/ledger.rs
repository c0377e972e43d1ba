//! Ledger: the Ethereum app's APDUs over USB HID, or over Speculos's TCP port, via coins-ledger.
//!
//! One connection per run. The app configuration and the address are read once when the signer
//! opens; each signature then costs only the chunks of its payload. Status words become errors
//! that say what to do on the device.

use std::fmt;
use std::time::Duration;

use alloy::consensus::{SignableTransaction, Transaction, TypedTransaction};
use alloy::eips::Typed2718;
use alloy::primitives::{Address, B256, Signature, U256};
use alloy::rlp::Header;
use anyhow::{Context, Result, anyhow, bail};
use async_trait::async_trait;
use coins_ledger::transports::{HidTransport, SpeculosTransport};
use coins_ledger::{ApduAnswer, CommandBuilder, Ledger, LedgerError, Model, StatusWord};
use tokio::sync::Mutex;

use super::ledger_model::LedgerModel;
use super::screens::Screen;
use super::screens::ledger::{self as screens, Layout};
use super::{Backend, DerivationPath, Signer, SignerArgs};

const CLA: u8 = 0xE0;
const INS_GET_ADDRESS: u8 = 0x02;
const INS_SIGN_TX: u8 = 0x04;
const INS_GET_CONFIG: u8 = 0x06;
const INS_SIGN_PERSONAL: u8 = 0x08;
const INS_SIGN_EIP712_HASHED: u8 = 0x0C;
const P1_FIRST: u8 = 0x00;
const P1_MORE: u8 = 0x80;
/// The largest APDU payload.
const CHUNK: usize = 255;
/// Silent requests (address, configuration) answer at once; a signature waits for a person.
const SILENT_TIMEOUT: Duration = Duration::from_secs(15);
/// The app signs EIP-1559 transactions from this version on.
const MIN_EIP1559: (u8, u8, u8) = (1, 9, 0);

const FLAG_BLIND_SIGNING: u8 = 0x01;

/// The two ways to reach the app.
enum Link {
    Hid(Ledger<HidTransport>),
    Speculos(Ledger<SpeculosTransport>),
}

impl Link {
    async fn exchange(&mut self, command: coins_ledger::ApduCommand) -> Result<ApduAnswer, LedgerError> {
        match self {
            Link::Hid(l) => l.exchange(command).await,
            Link::Speculos(l) => l.exchange(command).await,
        }
    }

    fn set_timeout(&mut self, timeout: Option<Duration>) {
        match self {
            Link::Hid(l) => l.set_timeout(timeout),
            Link::Speculos(l) => l.set_timeout(timeout),
        }
    }
}

/// What GET APP CONFIGURATION answers.
#[derive(Debug, Clone, Copy)]
pub struct AppConfig {
    pub blind_signing: bool,
    pub version: (u8, u8, u8),
}

impl fmt::Display for AppConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, b, c) = self.version;
        write!(f, "Ethereum app {a}.{b}.{c}, blind signing {}", if self.blind_signing { "on" } else { "off" })
    }
}

/// An open Ledger, its app configuration, and the key the run signs with.
pub struct LedgerDevice {
    link: Mutex<Link>,
    /// Read once; refreshed only when a signature is refused for blind signing.
    config: std::sync::Mutex<AppConfig>,
    path: DerivationPath,
    address: Address,
    /// "USB" or "Speculos 127.0.0.1:9999", for messages.
    place: String,
    /// What the user says of the app's Debug contracts setting (the app does not tell).
    debug_contracts: bool,
    /// The model, or the USB product id of one this defender does not know.
    model: Result<LedgerModel, u16>,
}

impl LedgerDevice {
    /// How the model draws, if the recording has its screens.
    fn layout(&self) -> Option<Layout> {
        self.model.ok().and_then(Layout::of)
    }

    /// The screens of `tx`, or why they are not predicted.
    fn predict(&self, tx: &TypedTransaction) -> Result<Vec<Screen>, String> {
        let model = model_name(self.model);
        let Some(layout) = self.layout() else {
            return Err(format!(
                "the Ledger {model}'s screens are not in the recording this defender predicts from"
            ));
        };
        screens::transaction(tx, self.address, self.settings(), layout)
            .map_err(|flow| format!("the Ledger {model}'s pages for {flow} are not in the recording"))
    }
}

/// Opens the Ledger the options name and derives the signing address.
pub async fn open(args: &SignerArgs) -> Result<Signer> {
    let path = args.path.path();
    let (mut link, place, model) = connect(args).await?;
    let config = read_config(&mut link).await?;
    let address = get_address(&mut link, &path, args.verify).await?;
    let description = format!("the Ledger {} ({place}, {path})", model_name(model));
    let device = LedgerDevice {
        link: Mutex::new(link),
        config: std::sync::Mutex::new(config),
        path,
        address,
        place,
        debug_contracts: args.ledger_debug_contracts,
        model,
    };
    Ok(Signer::new(std::sync::Arc::new(device), description, Some("Ledger")))
}

/// The addresses at `paths`, read silently over one connection (for `accounts --ledger`), and
/// the device: "Ledger Nano S Plus (USB)".
pub async fn addresses(args: &SignerArgs, paths: &[DerivationPath]) -> Result<(Vec<Address>, String)> {
    let (mut link, place, model) = connect(args).await?;
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        out.push(get_address(&mut link, path, false).await?);
    }
    Ok((out, format!("Ledger {} ({place})", model_name(model))))
}

/// The model's name, or what is known of an unknown one.
fn model_name(model: Result<LedgerModel, u16>) -> String {
    match model {
        Ok(model) => model.name().to_owned(),
        Err(product_id) => format!("of unknown model (USB product id {product_id:#06x})"),
    }
}

/// The link, where it goes, and the model (or the product id of one this defender does not know).
async fn connect(args: &SignerArgs) -> Result<(Link, String, Result<LedgerModel, u16>)> {
    match args.speculos {
        Some(addr) => {
            let model = LedgerModel::from(args.ledger_model.unwrap_or_default());
            let ledger = Ledger::connect_speculos(addr, Model::NanoSPlus).await.map_err(|e| {
                anyhow!(
                    "cannot reach Speculos at {addr} ({e}): start it with its APDU port (--apdu-port) \
                     and the Ethereum app, or check --speculos"
                )
            })?;
            Ok((Link::Speculos(ledger), format!("Speculos {addr}"), Ok(model)))
        }
        None => {
            // The product id first: coins-ledger's own model names stop before the Apex.
            let (ledger, product_id) = tokio::task::spawn_blocking(|| {
                let ids = HidTransport::list()?;
                match ids.first() {
                    Some(id) => Ledger::open_hid(id).map(|l| (l, Some(id.product_id()))),
                    None => Ledger::open_first_hid().map(|l| (l, None)),
                }
            })
            .await
            .context("the USB thread stopped")?
            .map_err(|e| usb_error(&e.to_string()))?;
            let model = product_id
                .map_or(Ok(LedgerModel::NanoSPlus), |id| LedgerModel::from_product_id(id).ok_or(id));
            Ok((Link::Hid(ledger), "USB".to_owned(), model))
        }
    }
}

fn usb_error(detail: &str) -> anyhow::Error {
    let lower = detail.to_lowercase();
    if lower.contains("not found") {
        anyhow!(
            "no Ledger found over USB: plug it in, unlock it and open the Ethereum app. On Linux, \
             install Ledger's udev rules first (docs/ledger.md)"
        )
    } else {
        anyhow!(
            "cannot open the Ledger over USB ({detail}): close Ledger Live or any other program using \
             it; on Linux check Ledger's udev rules (docs/ledger.md)"
        )
    }
}

fn command(ins: u8, p1: u8, p2: u8, data: &[u8]) -> Result<coins_ledger::ApduCommand> {
    Ok(CommandBuilder::new().cla(CLA).ins(ins).p1(p1).p2(p2).data(data).build()?)
}

/// One exchange, its failure turned into what the user should do.
async fn exchange(link: &mut Link, ins: u8, p1: u8, p2: u8, data: &[u8], silent: bool) -> Result<Vec<u8>> {
    link.set_timeout(silent.then_some(SILENT_TIMEOUT));
    let answer = link.exchange(command(ins, p1, p2, data)?).await.map_err(|e| device_error(e, ins))?;
    Ok(answer.data().to_vec())
}

/// Errors of the Ledger, in the words of what to do about them.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("rejected on the Ledger: nothing was signed")]
    Rejected,
    #[error(
        "the Ledger is locked: unlock it with your PIN, open the Ethereum app, and run the command again"
    )]
    Locked,
    #[error(
        "the Ethereum app is not open on the Ledger: unlock it, open the Ethereum app, and run the command again"
    )]
    AppNotOpen,
    #[error(
        "the Ledger is busy with another request: finish or cancel what its screen shows, then run the command again"
    )]
    Busy,
    #[error(
        "blind signing is off in the Ethereum app ({0}): on the Ledger open Ethereum > Settings > \
         Blind signing, enable it, and run the command again (defender's calls carry contract data \
         the app cannot display; Speculos turns the setting off at every start)"
    )]
    BlindSigningOff(AppConfig),
    #[error(
        "this Ethereum app does not sign {0} transactions: update it in Ledger Live (EIP-1559 needs \
         app 1.9.0 or later)"
    )]
    TxTypeUnsupported(&'static str),
    #[error(
        "the Ledger was disconnected or stopped answering during the exchange ({0}): nothing was signed; reconnect it, unlock it, open the Ethereum app and run the command again"
    )]
    Disconnected(String),
    #[error("the Ledger answered {0} (unexpected): {1}")]
    Other(StatusWord, &'static str),
}

fn device_error(e: LedgerError, ins: u8) -> anyhow::Error {
    let sw = match e {
        LedgerError::BadRetcode(sw) => sw,
        LedgerError::Timeout(t) => {
            return DeviceError::Disconnected(format!("no answer within {}s", t.as_secs())).into();
        }
        LedgerError::Transport(inner) if ins == INS_GET_CONFIG => {
            return usb_error(&inner.to_string()).context("the first request to the Ledger failed");
        }
        other => return DeviceError::Disconnected(other.to_string()).into(),
    };
    let error = match sw.raw() {
        0x6985 | 0x5501 => DeviceError::Rejected,
        0x5515 | 0x6B0C | 0x6804 => DeviceError::Locked,
        0x6D00 | 0x6E00 | 0x6D02 | 0x6511 => DeviceError::AppNotOpen,
        0x6901 => DeviceError::Busy,
        0x6501 => DeviceError::TxTypeUnsupported("typed (EIP-2718)"),
        0x6A80 => DeviceError::Other(sw, "the app found the data invalid"),
        0x6982 => DeviceError::Other(sw, "security condition not satisfied: unlock the device and retry"),
        0x6984 => DeviceError::Other(sw, "a plugin the app needs is missing: install it from Ledger Live"),
        0x6700 => DeviceError::Other(sw, "wrong length: this is a bug in defender, please report it"),
        _ => DeviceError::Other(sw, "see docs/ledger.md"),
    };
    error.into()
}

async fn read_config(link: &mut Link) -> Result<AppConfig> {
    let data = exchange(link, INS_GET_CONFIG, 0, 0, &[], true).await?;
    if data.len() < 4 {
        bail!(
            "the Ledger's app answered GET APP CONFIGURATION with {} bytes: is the Ethereum app open?",
            data.len()
        );
    }
    Ok(AppConfig { blind_signing: data[0] & FLAG_BLIND_SIGNING != 0, version: (data[1], data[2], data[3]) })
}

fn path_bytes(path: &DerivationPath) -> Vec<u8> {
    let elements = path.elements();
    let mut out = Vec::with_capacity(1 + 4 * elements.len());
    out.push(elements.len() as u8);
    for e in elements {
        out.extend_from_slice(&e.to_be_bytes());
    }
    out
}

async fn get_address(link: &mut Link, path: &DerivationPath, verify: bool) -> Result<Address> {
    if verify {
        eprintln!("check the address on your Ledger ({path}) and approve it there");
    }
    let data = exchange(link, INS_GET_ADDRESS, u8::from(verify), 0, &path_bytes(path), !verify).await?;
    parse_address_answer(&data).context("the Ledger's address answer is malformed")
}

/// `pubkey len, pubkey, address len, address as ASCII hex`: the address is checked against the
/// public key it comes with.
fn parse_address_answer(data: &[u8]) -> Result<Address> {
    let key_len = *data.first().context("empty")? as usize;
    let key = data.get(1..1 + key_len).context("short public key")?;
    let addr_len = *data.get(1 + key_len).context("no address length")? as usize;
    let text = data.get(2 + key_len..2 + key_len + addr_len).context("short address")?;
    let text = std::str::from_utf8(text).context("address is not text")?;
    let address: Address =
        format!("0x{}", text.trim_start_matches("0x")).parse().context("address is not hex")?;
    if key_len == 65 && Address::from_raw_public_key(&key[1..]) != address {
        bail!("the address does not belong to the public key the Ledger sent");
    }
    Ok(address)
}

/// Splits `first_prefix || payload` into APDU chunks of at most 255 bytes. For legacy
/// transactions no chunk may end right after the `data` field: the app would take the
/// transaction as pre-EIP-155 and sign it with chain id 0 (LedgerHQ/app-ethereum#409).
pub fn chunks(prefix: &[u8], payload: &[u8], legacy: bool) -> Vec<Vec<u8>> {
    let stream: Vec<u8> = [prefix, payload].concat();
    let forbidden_end = if legacy { legacy_data_end(payload).map(|end| prefix.len() + end) } else { None };
    let mut out = Vec::new();
    let mut start = 0;
    while start < stream.len() {
        let mut end = (start + CHUNK).min(stream.len());
        if Some(end) == forbidden_end && end < stream.len() {
            end -= 1;
        }
        out.push(stream[start..end].to_vec());
        start = end;
    }
    out
}

/// Where the `data` field of an unsigned legacy transaction's RLP ends.
fn legacy_data_end(payload: &[u8]) -> Option<usize> {
    let mut rest = payload;
    Header::decode(&mut rest).ok().filter(|h| h.list)?;
    for _ in 0..6 {
        let header = Header::decode(&mut rest).ok()?;
        rest = rest.get(header.payload_length..)?;
    }
    Some(payload.len() - rest.len())
}

/// Turns the app's `v` into the y parity. Legacy: `chain_id*2+35+parity` truncated to a byte, or
/// `27+parity`; both odd bases, so the parity is the opposite of v's low bit. Typed: the parity.
fn parity_from_v(v: u8, typed: bool) -> Result<bool> {
    match (typed, v) {
        (true, 0 | 1) => Ok(v == 1),
        (true, _) => bail!("the Ledger returned v = {v} for a typed transaction (expected 0 or 1)"),
        (false, _) => Ok(v & 1 == 0),
    }
}

fn signature_from(answer: &[u8], typed: bool) -> Result<Signature> {
    if answer.len() < 65 {
        bail!("the Ledger returned {} bytes instead of a signature", answer.len());
    }
    let parity = parity_from_v(answer[0], typed)?;
    Ok(Signature::new(U256::from_be_slice(&answer[1..33]), U256::from_be_slice(&answer[33..65]), parity))
}

impl LedgerDevice {
    fn config(&self) -> AppConfig {
        *self.config.lock().expect("config lock")
    }

    fn settings(&self) -> screens::Settings {
        screens::Settings {
            blind_signing: self.config().blind_signing,
            debug_contracts: self.debug_contracts,
        }
    }

    /// Sends `chunks` as one flow of `ins`; the last answer holds the signature.
    async fn stream(&self, ins: u8, chunks: &[Vec<u8>]) -> Result<Vec<u8>> {
        let mut link = self.link.lock().await;
        let mut answer = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            let p1 = if i == 0 { P1_FIRST } else { P1_MORE };
            answer = exchange(&mut link, ins, p1, 0, chunk, false).await?;
        }
        Ok(answer)
    }

    /// Before sending a contract call: the cached configuration says blind signing is off, so
    /// read it again (the user may have just enabled it) and refuse if it still is.
    async fn require_blind_signing(&self) -> Result<()> {
        if self.config().blind_signing {
            return Ok(());
        }
        let fresh = read_config(&mut *self.link.lock().await).await?;
        *self.config.lock().expect("config lock") = fresh;
        if !fresh.blind_signing {
            return Err(DeviceError::BlindSigningOff(fresh).into());
        }
        Ok(())
    }
}

#[async_trait]
impl Backend for LedgerDevice {
    fn address(&self) -> Address {
        self.address
    }

    async fn sign_transaction(&self, tx: &TypedTransaction) -> Result<Signature> {
        let typed = match tx {
            TypedTransaction::Legacy(_) => false,
            TypedTransaction::Eip2930(_) | TypedTransaction::Eip1559(_) => true,
            _ => bail!(
                "the Ledger signs legacy, EIP-2930 and EIP-1559 transactions; this one is type {}",
                tx.ty()
            ),
        };
        if typed && self.config().version < MIN_EIP1559 {
            let error = DeviceError::TxTypeUnsupported("EIP-1559");
            bail!("{error} (this Ledger runs {})", self.config());
        }
        if !tx.input().is_empty() {
            self.require_blind_signing().await?;
        }
        let mut payload = Vec::new();
        tx.encode_for_signing(&mut payload);
        let parts = chunks(&path_bytes(&self.path), &payload, !typed);
        let answer = match self.stream(INS_SIGN_TX, &parts).await {
            Err(e) if !tx.input().is_empty() && is_invalid_data(&e) => {
                // The app refuses blind signing with 0x6A80 once the transaction is parsed.
                let mut config = self.config();
                config.blind_signing = false;
                return Err(DeviceError::BlindSigningOff(config).into());
            }
            other => other?,
        };
        signature_from(&answer, typed)
    }

    async fn sign_message(&self, message: &[u8]) -> Result<Signature> {
        let mut prefix = path_bytes(&self.path);
        prefix.extend_from_slice(&(message.len() as u32).to_be_bytes());
        let parts = chunks(&prefix, message, false);
        let answer = self.stream(INS_SIGN_PERSONAL, &parts).await?;
        signature_from(&answer, false)
    }

    async fn sign_typed_hashes(&self, domain: B256, message: B256) -> Result<Signature> {
        let mut data = path_bytes(&self.path);
        data.extend_from_slice(domain.as_slice());
        data.extend_from_slice(message.as_slice());
        let answer = self.stream(INS_SIGN_EIP712_HASHED, &[data]).await?;
        signature_from(&answer, false)
    }

    fn screens(&self, tx: &TypedTransaction) -> Option<Vec<Screen>> {
        self.predict(tx).ok()
    }

    fn message_screens(&self, message: &[u8]) -> Option<Vec<Screen>> {
        (self.layout() == Some(Layout::Buttons)).then(|| screens::personal_message(message))
    }

    fn typed_hash_screens(&self, domain: B256, message: B256) -> Option<Vec<Screen>> {
        (self.layout() == Some(Layout::Buttons)).then(|| screens::typed_hashes(domain, message))
    }

    fn note(&self, tx: &TypedTransaction) -> Option<String> {
        let own = screens::note(tx, self.settings()).map(str::to_owned);
        let Err(why) = self.predict(tx) else { return own };
        let unpredicted = format!(
            "{why}, so they are not listed here: the device shows the same fields in its own way; compare them \
             with this preview"
        );
        Some(match own {
            Some(own) => format!("{own}. {unpredicted}"),
            None => unpredicted,
        })
    }

    fn shows_hash(&self, tx: &TypedTransaction) -> bool {
        screens::shows_hash(tx, self.settings())
    }
}

fn is_invalid_data(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref::<DeviceError>(), Some(DeviceError::Other(sw, _)) if sw.raw() == 0x6A80)
}

impl fmt::Debug for LedgerDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ledger at {} ({}, {})", self.place, self.path, self.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::consensus::TxLegacy;
    use alloy::primitives::{Bytes, TxKind};

    fn legacy(data_len: usize, chain_id: u64) -> TxLegacy {
        TxLegacy {
            chain_id: Some(chain_id),
            nonce: 7,
            gas_price: 2_000_000_000,
            gas_limit: 100_000,
            to: TxKind::Call(Address::repeat_byte(0x11)),
            value: U256::ZERO,
            input: Bytes::from(vec![0xab; data_len]),
        }
    }

    #[test]
    fn no_chunk_ends_right_after_legacy_data() {
        let prefix = path_bytes(&DerivationPath::default());
        for chain_id in [1u64, 5, 31_337, 11_155_111] {
            for data_len in 0..1200 {
                let mut payload = Vec::new();
                legacy(data_len, chain_id).encode_for_signing(&mut payload);
                let end = prefix.len() + legacy_data_end(&payload).unwrap();
                let parts = chunks(&prefix, &payload, true);
                assert_eq!(parts.concat(), [&prefix[..], &payload].concat());
                let mut at = 0;
                for part in &parts[..parts.len() - 1] {
                    assert!(part.len() <= CHUNK);
                    at += part.len();
                    assert_ne!(at, end, "chain {chain_id}, data {data_len}: a chunk ends after data");
                }
                let fewest = (prefix.len() + payload.len()).div_ceil(CHUNK);
                assert!(parts.len() <= fewest + 1);
            }
        }
    }

    #[test]
    fn typed_payloads_use_full_chunks() {
        let parts = chunks(&[0; 21], &[1; 600], false);
        assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), [255, 255, 111]);
    }

    #[test]
    fn legacy_v_of_any_chain_gives_the_parity() {
        for chain_id in [0u64, 1, 56, 137, 31_337, 11_155_111] {
            for parity in [false, true] {
                let full = if chain_id == 0 {
                    27 + u64::from(parity)
                } else {
                    chain_id * 2 + 35 + u64::from(parity)
                };
                assert_eq!(parity_from_v(full as u8, false).unwrap(), parity, "chain {chain_id}");
            }
        }
        assert!(parity_from_v(1, true).unwrap());
        assert!(parity_from_v(27, true).is_err());
    }
}
