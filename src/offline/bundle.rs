//! The offline bundle: a versioned JSON file of EIP-1559 transactions, unsigned or signed.
//!
//! Every transaction carries its raw fields (chain id, from, to, nonce, gas, fees, value,
//! data), the unsigned EIP-2718 payload they encode to, its signing hash and, once signed,
//! the signed raw transaction. Readers trust none of it by itself: [`Bundle::check`] rebuilds
//! each payload from the raw fields and compares it with the stored payload and hash, and
//! checks every signature against its fields and its `from`. Labels, the summary, warnings and
//! contract names are for people; the raw fields are the truth (docs/bundle.md).

use std::collections::BTreeMap;

use alloy::consensus::transaction::RlpEcdsaDecodableTx;
use alloy::consensus::{SignableTransaction, Signed, TxEip1559};
use alloy::primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use serde::{Deserialize, Serialize};

use crate::send::raw_signed;

/// The `format` every bundle names.
pub const FORMAT: &str = "defender-offline-bundle";
/// The version this defender reads and writes.
pub const VERSION: u32 = 1;
/// The only transaction type a bundle carries: EIP-1559.
pub const TX_TYPE: u8 = 2;

/// A bundle as written to disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`] for this defender.
    pub version: u32,
    /// When the bundle was built, in unix seconds of the building machine's clock; absent for
    /// transactions imported from raw hex, which carry no time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<u64>,
    /// The program that built it, e.g. `defender 0.1.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// The chain every transaction is for.
    pub chain_id: u64,
    /// The block the plan was read and simulated at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built_at_block: Option<BlockRef>,
    /// For people: the command that built it ("deposit").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// For people: one line on what the bundle does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// For people: the warnings the online preview showed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The online plan was irreversible (an ESM move). Readers also detect it from the calls
    /// themselves: this flag can only add a confirmation, never remove one.
    #[serde(default)]
    pub irreversible: bool,
    /// For people: the voting token's symbol and decimals, to show amounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Token>,
    /// For people: contract names (chainlog keys) by address, to label calls.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub contracts: BTreeMap<String, Address>,
    /// For people: what the online simulation said would change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    pub transactions: Vec<BundleTx>,
    /// A bundle of a Safe transaction (`--safe`): the Safe's part, and no transactions of
    /// its own (the account that executes it builds that at `broadcast`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safe: Option<super::safe_bundle::SafeSection>,
}

/// A block by number and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockRef {
    pub number: u64,
    pub timestamp: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    pub symbol: String,
    pub decimals: u8,
}

/// One before → after line of the online preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub what: String,
    pub before: String,
    pub after: String,
}

/// What the online simulation said of one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationNote {
    pub ok: bool,
    pub gas_used: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert: Option<String>,
}

/// One transaction of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleTx {
    /// For people: what the transaction is for. Never trusted: the preview decodes `data`.
    pub label: String,
    /// The EIP-2718 type: always 2 (EIP-1559).
    #[serde(rename = "type")]
    pub tx_type: u8,
    pub chain_id: u64,
    pub from: Address,
    pub to: Address,
    pub nonce: u64,
    pub gas_limit: u64,
    /// Wei per gas, as a decimal string.
    #[serde(with = "decimal_u128")]
    pub max_fee_per_gas: u128,
    /// Wei per gas, as a decimal string.
    #[serde(with = "decimal_u128")]
    pub max_priority_fee_per_gas: u128,
    /// Wei, as a decimal string.
    #[serde(with = "crate::units::decimal")]
    pub value: U256,
    pub data: Bytes,
    /// The unsigned EIP-2718 payload: `0x02 || rlp([chain_id, nonce, tip, max_fee, gas, to,
    /// value, data, []])`, what `cast mktx --raw-unsigned` prints.
    pub unsigned: Bytes,
    /// keccak256 of `unsigned`: what the signature covers (a Ledger shows it).
    pub signing_hash: B256,
    /// For people: the online simulation's verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulation: Option<SimulationNote>,
    /// The signed raw transaction (EIP-2718), as `eth_sendRawTransaction` and `cast publish`
    /// take it; null until signed.
    #[serde(default)]
    pub signed: Option<Bytes>,
    /// keccak256 of `signed`: the transaction hash on chain; null until signed.
    #[serde(default)]
    pub tx_hash: Option<B256>,
    /// `--fee-ladder`: the same transaction at higher fees (levels 2 and up, in order), each
    /// a replacement a node takes for the level below; `broadcast` climbs them while the
    /// transaction is not mined.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fee_ladder: Vec<FeeLevel>,
}

/// One higher fee level of a transaction: its fees, and what they change (payload, hash,
/// signature). Every other field is the transaction's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeLevel {
    /// Wei per gas, as a decimal string.
    #[serde(with = "decimal_u128")]
    pub max_fee_per_gas: u128,
    /// Wei per gas, as a decimal string.
    #[serde(with = "decimal_u128")]
    pub max_priority_fee_per_gas: u128,
    pub unsigned: Bytes,
    pub signing_hash: B256,
    #[serde(default)]
    pub signed: Option<Bytes>,
    #[serde(default)]
    pub tx_hash: Option<B256>,
}

impl FeeLevel {
    pub fn fees(&self) -> crate::fees::Fees {
        crate::fees::Fees {
            max_fee_per_gas: self.max_fee_per_gas,
            max_priority_fee_per_gas: self.max_priority_fee_per_gas,
        }
    }
}

/// A transaction whose fields, payload, hash and signature (if any) all agree.
#[derive(Debug, Clone)]
pub struct CheckedTx {
    pub label: String,
    pub from: Address,
    pub tx: TxEip1559,
    pub signed: Option<Signed<TxEip1559>>,
    /// Its higher fee levels (level 2 first), checked the same way.
    pub higher: Vec<CheckedLevel>,
}

/// A higher fee level of a checked transaction.
#[derive(Debug, Clone)]
pub struct CheckedLevel {
    pub tx: TxEip1559,
    pub signed: Option<Signed<TxEip1559>>,
}

impl CheckedTx {
    pub fn to(&self) -> Address {
        match self.tx.to {
            TxKind::Call(to) => to,
            TxKind::Create => Address::ZERO,
        }
    }

    /// The signed raw transaction, when signed.
    pub fn raw(&self) -> Option<Bytes> {
        self.signed.as_ref().map(raw_signed)
    }

    /// Every level, the transaction's own first: what each bids and its signature.
    pub fn levels(&self) -> impl Iterator<Item = (&TxEip1559, Option<&Signed<TxEip1559>>)> {
        std::iter::once((&self.tx, self.signed.as_ref()))
            .chain(self.higher.iter().map(|l| (&l.tx, l.signed.as_ref())))
    }

    /// Whether every level is signed.
    pub fn fully_signed(&self) -> bool {
        self.levels().all(|(_, s)| s.is_some())
    }
}

/// The address whose key made the signature.
pub fn recover(signed: &Signed<TxEip1559>) -> Result<Address, alloy::primitives::SignatureError> {
    signed.signature().recover_address_from_prehash(&signed.tx().signature_hash())
}

/// The unsigned payload a signature covers (EIP-2718 type byte, then the RLP of the fields).
pub fn unsigned_payload(tx: &TxEip1559) -> Bytes {
    let mut out = Vec::with_capacity(tx.payload_len_for_signature());
    tx.encode_for_signing(&mut out);
    Bytes::from(out)
}

impl BundleTx {
    /// The transaction the raw fields describe.
    pub fn rebuild(&self) -> TxEip1559 {
        TxEip1559 {
            chain_id: self.chain_id,
            nonce: self.nonce,
            gas_limit: self.gas_limit,
            max_fee_per_gas: self.max_fee_per_gas,
            max_priority_fee_per_gas: self.max_priority_fee_per_gas,
            to: TxKind::Call(self.to),
            value: self.value,
            access_list: Default::default(),
            input: self.data.clone(),
        }
    }

    /// A bundle entry for `tx` from `from`, unsigned.
    pub fn new(label: String, from: Address, tx: &TxEip1559) -> Self {
        let to = match tx.to {
            TxKind::Call(to) => to,
            TxKind::Create => Address::ZERO,
        };
        Self {
            label,
            tx_type: TX_TYPE,
            chain_id: tx.chain_id,
            from,
            to,
            nonce: tx.nonce,
            gas_limit: tx.gas_limit,
            max_fee_per_gas: tx.max_fee_per_gas,
            max_priority_fee_per_gas: tx.max_priority_fee_per_gas,
            value: tx.value,
            data: tx.input.clone(),
            unsigned: unsigned_payload(tx),
            signing_hash: tx.signature_hash(),
            simulation: None,
            signed: None,
            tx_hash: None,
            fee_ladder: Vec::new(),
        }
    }

    /// Records a signature (already checked by the signer).
    pub fn set_signed(&mut self, signed: &Signed<TxEip1559>) {
        self.signed = Some(raw_signed(signed));
        self.tx_hash = Some(*signed.hash());
    }

    /// Adds a higher fee level: this transaction at `fees`, unsigned.
    pub fn add_level(&mut self, fees: crate::fees::Fees) {
        let tx = TxEip1559 {
            max_fee_per_gas: fees.max_fee_per_gas,
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
            ..self.rebuild()
        };
        self.fee_ladder.push(FeeLevel {
            max_fee_per_gas: fees.max_fee_per_gas,
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
            unsigned: unsigned_payload(&tx),
            signing_hash: tx.signature_hash(),
            signed: None,
            tx_hash: None,
        });
    }

    /// Records the signature of `level` (1: the transaction's own, 2 and up: its ladder).
    pub fn set_level_signed(&mut self, level: usize, signed: &Signed<TxEip1559>) {
        match level.checked_sub(2) {
            None => self.set_signed(signed),
            Some(j) => {
                let l = &mut self.fee_ladder[j];
                l.signed = Some(raw_signed(signed));
                l.tx_hash = Some(*signed.hash());
            }
        }
    }

    /// Whether every level is signed.
    pub fn fully_signed(&self) -> bool {
        self.signed.is_some() && self.fee_ladder.iter().all(|l| l.signed.is_some())
    }

    /// A level of the ladder as a whole transaction entry, to check like one.
    fn level_entry(&self, level: &FeeLevel) -> BundleTx {
        BundleTx {
            max_fee_per_gas: level.max_fee_per_gas,
            max_priority_fee_per_gas: level.max_priority_fee_per_gas,
            unsigned: level.unsigned.clone(),
            signing_hash: level.signing_hash,
            signed: level.signed.clone(),
            tx_hash: level.tx_hash,
            fee_ladder: Vec::new(),
            ..self.clone()
        }
    }
}

impl Bundle {
    /// An empty bundle for `chain_id`, stamped with the current time when `now` is given.
    pub fn new(chain_id: u64, created_at: Option<u64>) -> Self {
        Self {
            format: FORMAT.into(),
            version: VERSION,
            created_at,
            created_by: Some(format!("defender {}", env!("CARGO_PKG_VERSION"))),
            chain_id,
            built_at_block: None,
            action: None,
            summary: None,
            warnings: Vec::new(),
            irreversible: false,
            token: None,
            contracts: BTreeMap::new(),
            changes: Vec::new(),
            transactions: Vec::new(),
            safe: None,
        }
    }

    /// Parses a bundle from JSON text: first the format and version (so that another version
    /// is named as such), then every field strictly.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(json_error)?;
        let Some(object) = value.as_object() else {
            return Err("the file is JSON but not an object: a bundle is a JSON object with \
                        \"format\": \"defender-offline-bundle\""
                .into());
        };
        match object.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT) => {}
            Some(other) => {
                return Err(format!(
                    "the file's format is {other:?}, not {FORMAT:?}: it is not a defender bundle"
                ));
            }
            None => {
                return Err(format!(
                    "the JSON has no \"format\": {FORMAT:?}: it is not a defender bundle \
                     (build one with an action and --unsigned-out FILE)"
                ));
            }
        }
        match object.get("version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(VERSION) => {}
            Some(v) => {
                return Err(format!(
                    "the bundle is version {v}, this defender reads version {VERSION}: \
                     sign and broadcast it with the defender version that built it, or rebuild it"
                ));
            }
            None => return Err("the bundle has no numeric \"version\": the file was edited".into()),
        }
        serde_json::from_value(value)
            .map_err(|e| format!("the bundle does not fit format version {VERSION}: {e}"))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a bundle serializes") + "\n"
    }

    /// Signatures made and needed, every fee level counted.
    pub fn signatures(&self) -> (usize, usize) {
        let levels = self.transactions.iter().flat_map(|t| {
            std::iter::once(t.signed.is_some()).chain(t.fee_ladder.iter().map(|l| l.signed.is_some()))
        });
        levels.fold((0, 0), |(done, total), signed| (done + usize::from(signed), total + 1))
    }

    /// How many transactions are signed (at every fee level).
    pub fn signed_count(&self) -> usize {
        self.transactions.iter().filter(|t| t.fully_signed()).count()
    }

    /// Checks everything that can be checked without a chain; returns the transactions as the
    /// raw fields describe them. Every error names the transaction and what disagrees.
    pub fn check(&self) -> Result<Vec<CheckedTx>, String> {
        if self.format != FORMAT || self.version != VERSION {
            return Err(format!(
                "not a version-{VERSION} defender bundle (format {:?}, version {})",
                self.format, self.version
            ));
        }
        if let Some(safe) = &self.safe {
            if !self.transactions.is_empty() {
                return Err(
                    "a Safe bundle carries no transactions of its own: the file was edited; rebuild it"
                        .into(),
                );
            }
            safe.check(self.chain_id)?;
            return Ok(Vec::new());
        }
        let n = self.transactions.len();
        if n == 0 {
            return Err("the bundle holds no transactions".into());
        }
        let mut checked = Vec::with_capacity(n);
        for (i, t) in self.transactions.iter().enumerate() {
            let at = format!("transaction {} of {n}", i + 1);
            let (tx, signed) = self.check_entry(&at, t)?;
            if t.fee_ladder.len() >= crate::fees::MAX_LADDER_LEVELS {
                return Err(format!(
                    "{at} has {} fee levels, more than the {} a bundle is built with: the file was edited; rebuild it",
                    t.fee_ladder.len() + 1,
                    crate::fees::MAX_LADDER_LEVELS
                ));
            }
            let mut higher = Vec::with_capacity(t.fee_ladder.len());
            let mut below = crate::fees::Fees::of(&tx);
            for (j, level) in t.fee_ladder.iter().enumerate() {
                let at = format!("{at}, fee level {}", j + 2);
                if !level.fees().outbids(below) {
                    return Err(format!(
                        "{at} bids a max fee of {} wei and a tip of {} wei: not 10% over the level below ({} and {}), \
                         so no node takes it as a replacement; the file was edited; rebuild it",
                        level.max_fee_per_gas,
                        level.max_priority_fee_per_gas,
                        below.max_fee_per_gas,
                        below.max_priority_fee_per_gas
                    ));
                }
                let (level_tx, signed) = self.check_entry(&at, &t.level_entry(level))?;
                below = level.fees();
                higher.push(CheckedLevel { tx: level_tx, signed });
            }
            checked.push(CheckedTx { label: t.label.clone(), from: t.from, tx, signed, higher });
        }
        check_order(&checked)?;
        Ok(checked)
    }

    /// Checks one entry's type, chain, fees, payload, hash and signature; returns the
    /// transaction its raw fields describe and its signature.
    fn check_entry(&self, at: &str, t: &BundleTx) -> Result<(TxEip1559, Option<Signed<TxEip1559>>), String> {
        if t.tx_type != TX_TYPE {
            return Err(format!(
                "{at} is of type {}: a bundle carries EIP-1559 (type 2) transactions only",
                t.tx_type
            ));
        }
        if t.chain_id != self.chain_id {
            return Err(format!(
                "{at} is for chain {}, but the bundle says chain {}: the file was edited; rebuild it",
                t.chain_id, self.chain_id
            ));
        }
        if t.max_priority_fee_per_gas > t.max_fee_per_gas {
            return Err(format!(
                "{at} has a priority fee ({} wei) above its max fee ({} wei): no node accepts it; rebuild it",
                t.max_priority_fee_per_gas, t.max_fee_per_gas
            ));
        }
        let tx = t.rebuild();
        let payload = unsigned_payload(&tx);
        if payload != t.unsigned {
            let why = match decode_unsigned(&t.unsigned) {
                Ok(stored) => match first_difference(&stored, &tx) {
                    Some(d) => format!("the unsigned payload says {d} in the fields"),
                    None => "the unsigned payload is not encoded as this defender encodes it".into(),
                },
                Err(e) => format!("the unsigned payload is not an EIP-1559 transaction ({e})"),
            };
            return Err(format!(
                "{at}: {why}: the payload does not match the raw fields (the file was edited or damaged); \
                 rebuild the bundle"
            ));
        }
        let hash = keccak256(&payload);
        if hash != t.signing_hash {
            return Err(format!(
                "{at}: the signing hash {} is not the hash of its payload ({hash}): the file was edited or \
                 damaged; rebuild the bundle",
                t.signing_hash
            ));
        }
        let signed = match &t.signed {
            None => {
                if t.tx_hash.is_some() {
                    return Err(format!("{at} has a tx_hash but no signed transaction: the file was edited"));
                }
                None
            }
            Some(raw) => {
                let signed = decode_signed(raw).map_err(|e| format!("{at}: the signed transaction {e}"))?;
                if let Some(d) = first_difference(signed.tx(), &tx) {
                    return Err(format!(
                        "{at}: the signed transaction does not match the raw fields: it says {d} in the fields; \
                         the file was edited"
                    ));
                }
                let signer =
                    recover(&signed).map_err(|e| format!("{at}: the signature cannot be recovered ({e})"))?;
                if signer != t.from {
                    return Err(format!(
                        "{at} is signed by {signer}, but its from is {}: signed by another key, or the file was \
                         edited; sign it again with the key of {}",
                        t.from, t.from
                    ));
                }
                if let Some(recorded) = t.tx_hash
                    && recorded != *signed.hash()
                {
                    return Err(format!(
                        "{at}: the recorded tx_hash {recorded} is not the hash of the signed transaction ({}): \
                         the file was edited",
                        signed.hash()
                    ));
                }
                Some(signed)
            }
        };
        Ok((tx, signed))
    }
}

/// Per sender, nonces must follow each other in the order listed: no gap, no repeat, no swap.
pub fn check_order(txs: &[CheckedTx]) -> Result<(), String> {
    let n = txs.len();
    let mut last: BTreeMap<Address, (usize, u64)> = BTreeMap::new();
    for (i, t) in txs.iter().enumerate() {
        if let Some(&(j, prev)) = last.get(&t.from) {
            let nonce = t.tx.nonce;
            if nonce == prev {
                return Err(format!(
                    "transactions {} and {} of {n} both have nonce {nonce}: only one of them could ever be mined; \
                     rebuild the bundle",
                    j + 1,
                    i + 1
                ));
            }
            if nonce < prev {
                return Err(format!(
                    "transaction {} of {n} (nonce {nonce}) is listed after transaction {} (nonce {prev}): the \
                     transactions were reordered; rebuild the bundle",
                    i + 1,
                    j + 1
                ));
            }
            if Some(nonce) != prev.checked_add(1) {
                return Err(format!(
                    "transaction {} of {n} has nonce {nonce} right after nonce {prev}: a gap the chain would never \
                     fill from this bundle; rebuild it",
                    i + 1
                ));
            }
        }
        last.insert(t.from, (i, t.tx.nonce));
    }
    Ok(())
}

/// The first field where `stored` differs from `fields`, as "`nonce` 3 where the fields say 5".
pub fn first_difference(stored: &TxEip1559, fields: &TxEip1559) -> Option<String> {
    let show = |name: &str, a: String, b: String| Some(format!("{name} {a} where there is {name} {b}"));
    if stored.chain_id != fields.chain_id {
        return show("chain id", stored.chain_id.to_string(), fields.chain_id.to_string());
    }
    if stored.nonce != fields.nonce {
        return show("nonce", stored.nonce.to_string(), fields.nonce.to_string());
    }
    if stored.to != fields.to {
        let to = |k: &TxKind| match k {
            TxKind::Call(a) => a.to_string(),
            TxKind::Create => "(contract creation)".into(),
        };
        return show("to", to(&stored.to), to(&fields.to));
    }
    if stored.value != fields.value {
        return show("value", format!("{} wei", stored.value), format!("{} wei", fields.value));
    }
    if stored.input != fields.input {
        return show("data", short_hex(&stored.input), short_hex(&fields.input));
    }
    if stored.gas_limit != fields.gas_limit {
        return show("gas limit", stored.gas_limit.to_string(), fields.gas_limit.to_string());
    }
    if stored.max_fee_per_gas != fields.max_fee_per_gas {
        return show(
            "max fee",
            format!("{} wei", stored.max_fee_per_gas),
            format!("{} wei", fields.max_fee_per_gas),
        );
    }
    if stored.max_priority_fee_per_gas != fields.max_priority_fee_per_gas {
        return show(
            "priority fee",
            format!("{} wei", stored.max_priority_fee_per_gas),
            format!("{} wei", fields.max_priority_fee_per_gas),
        );
    }
    if stored.access_list != fields.access_list {
        return show(
            "access list",
            format!("{} entries", stored.access_list.len()),
            format!("{} entries", fields.access_list.len()),
        );
    }
    None
}

fn short_hex(bytes: &[u8]) -> String {
    if bytes.len() > 12 {
        format!("0x{}…({} bytes)", hex::encode(&bytes[..8]), bytes.len())
    } else {
        format!("0x{}", hex::encode(bytes))
    }
}

/// Decodes an unsigned EIP-1559 payload (`0x02 || rlp(fields)`) exactly: canonical, whole.
pub fn decode_unsigned(bytes: &[u8]) -> Result<TxEip1559, String> {
    let Some((&ty, rest)) = bytes.split_first() else {
        return Err("is empty".into());
    };
    if ty != TX_TYPE {
        return Err(type_message(ty));
    }
    let mut buf = rest;
    let tx = TxEip1559::rlp_decode(&mut buf).map_err(|e| format!("is not valid RLP ({e})"))?;
    if !buf.is_empty() {
        return Err(format!("has {} bytes after the transaction", buf.len()));
    }
    if unsigned_payload(&tx)[..] != *bytes {
        return Err("is not in canonical RLP form".into());
    }
    Ok(tx)
}

/// Decodes a signed EIP-1559 transaction (EIP-2718 bytes) exactly, with a low-s signature.
pub fn decode_signed(bytes: &[u8]) -> Result<Signed<TxEip1559>, String> {
    let Some(&ty) = bytes.first() else {
        return Err("is empty".into());
    };
    if ty != TX_TYPE {
        return Err(type_message(ty));
    }
    let mut buf = bytes;
    let signed = TxEip1559::eip2718_decode(&mut buf).map_err(|e| format!("is not valid ({e})"))?;
    if !buf.is_empty() {
        return Err(format!("has {} bytes after the transaction", buf.len()));
    }
    if raw_signed(&signed)[..] != *bytes {
        return Err("is not in canonical RLP form".into());
    }
    if signed.signature().normalize_s().is_some() {
        return Err("has a high-s signature, which nodes refuse (EIP-2)".into());
    }
    Ok(signed)
}

fn type_message(ty: u8) -> String {
    match ty {
        0xc0..=0xff => "is a legacy (pre-EIP-1559) transaction: only EIP-1559 (type 2) transactions are \
                        supported; build it without --legacy"
            .into(),
        t => format!("is of type {t}: only EIP-1559 (type 2) transactions are supported"),
    }
}

fn json_error(e: serde_json::Error) -> String {
    if e.is_eof() {
        format!(
            "the file ends in the middle of the JSON (line {}): it was truncated, probably while \
             copying; copy it again from the machine that wrote it",
            e.line()
        )
    } else {
        format!("the file is not valid JSON: {e}")
    }
}

/// `u128` as a decimal string (fees in wei).
mod decimal_u128 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let text = String::deserialize(d)?;
        crate::units::decimal::check_digits(&text).map_err(serde::de::Error::custom)?;
        text.parse().map_err(|_| serde::de::Error::custom(format!("{text:?} is too large for a fee in wei")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::signers::SignerSync;
    use alloy::signers::local::PrivateKeySigner;

    fn key() -> PrivateKeySigner {
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d".parse().unwrap()
    }

    fn sample(nonces: &[u64]) -> Bundle {
        let key = key();
        let mut bundle = Bundle::new(31337, Some(1_700_000_000));
        for &nonce in nonces {
            let tx = TxEip1559 {
                chain_id: 31337,
                nonce,
                gas_limit: 90_000,
                max_fee_per_gas: 3_000_000_000,
                max_priority_fee_per_gas: 1_000_000_000,
                to: TxKind::Call(Address::repeat_byte(0x11)),
                value: U256::from(7),
                access_list: Default::default(),
                input: Bytes::from(vec![0xb6, 0xb5, 0x5f, 0x25, 0, 1]),
            };
            bundle.transactions.push(BundleTx::new(format!("tx {nonce}"), key.address(), &tx));
        }
        bundle
    }

    fn sign(bundle: &mut Bundle) {
        let key = key();
        for t in &mut bundle.transactions {
            let tx = t.rebuild();
            let signature = key.sign_hash_sync(&tx.signature_hash()).unwrap();
            t.set_signed(&tx.into_signed(signature));
        }
    }

    #[test]
    fn round_trips_and_checks() {
        let mut bundle = sample(&[4, 5]);
        sign(&mut bundle);
        let back = Bundle::from_json(&bundle.to_json()).unwrap();
        assert_eq!(back, bundle);
        let checked = back.check().unwrap();
        assert_eq!(checked.len(), 2);
        assert_eq!(recover(checked[1].signed.as_ref().unwrap()).unwrap(), key().address());
    }

    #[test]
    fn each_edit_is_named() {
        let mut edited = sample(&[0]);
        edited.transactions[0].nonce = 9;
        assert!(
            edited.check().unwrap_err().contains("nonce 0 where there is nonce 9"),
            "{:?}",
            edited.check()
        );

        let mut edited = sample(&[0]);
        edited.transactions[0].signing_hash = B256::repeat_byte(1);
        assert!(edited.check().unwrap_err().contains("signing hash"));

        let mut swapped = sample(&[0, 1]);
        swapped.transactions.swap(0, 1);
        assert!(swapped.check().unwrap_err().contains("reordered"));

        let mut signed = sample(&[0]);
        sign(&mut signed);
        signed.transactions[0].from = Address::repeat_byte(2);
        assert!(signed.check().unwrap_err().contains("signed by"));

        let text = sample(&[0]).to_json();
        assert!(Bundle::from_json(&text[..text.len() / 2]).unwrap_err().contains("truncated"));
        let v2 = text.replace("\"version\": 1", "\"version\": 2");
        assert!(Bundle::from_json(&v2).unwrap_err().contains("version 2"));
        let hexed =
            text.replace("\"max_fee_per_gas\": \"3000000000\"", "\"max_fee_per_gas\": \"0xb2d05e00\"");
        assert!(Bundle::from_json(&hexed).unwrap_err().contains("decimal"));
    }

    #[test]
    fn every_fee_level_is_checked_like_a_transaction_and_must_outbid_the_one_below() {
        let mut bundle = sample(&[0]);
        let fees =
            |max: u128, tip: u128| crate::fees::Fees { max_fee_per_gas: max, max_priority_fee_per_gas: tip };
        bundle.transactions[0].add_level(fees(3_300_000_001, 1_100_000_001));
        bundle.transactions[0].add_level(fees(9_000_000_000, 1_210_000_003));
        sign(&mut bundle);
        assert_eq!(bundle.signatures(), (1, 3), "sign() above signs level 1 only");
        let key = key();
        for level in 2..=3 {
            let tx = bundle.check().unwrap()[0].higher[level - 2].tx.clone();
            let signature = key.sign_hash_sync(&tx.signature_hash()).unwrap();
            bundle.transactions[0].set_level_signed(level, &tx.into_signed(signature));
        }
        assert_eq!((bundle.signed_count(), bundle.signatures()), (1, (3, 3)));
        let checked = Bundle::from_json(&bundle.to_json()).unwrap().check().unwrap();
        assert_eq!(checked[0].levels().count(), 3);

        let mut edited = bundle.clone();
        edited.transactions[0].fee_ladder[0].max_fee_per_gas = 3_200_000_000;
        let said = edited.check().unwrap_err();
        assert!(said.contains("transaction 1 of 1, fee level 2 bids a max fee of 3200000000 wei"), "{said}");
        let mut edited = bundle.clone();
        edited.transactions[0].fee_ladder[1].signing_hash = B256::repeat_byte(7);
        assert!(edited.check().unwrap_err().contains("fee level 3: the signing hash"));
        let mut edited = bundle;
        edited.transactions[0].fee_ladder[1].signed = edited.transactions[0].signed.clone();
        assert!(edited.check().unwrap_err().contains("fee level 3: the signed transaction does not match"));
    }

    #[test]
    fn raw_payloads_decode_exactly() {
        let bundle = sample(&[3]);
        let t = &bundle.transactions[0];
        assert_eq!(decode_unsigned(&t.unsigned).unwrap(), t.rebuild());
        let mut longer = t.unsigned.to_vec();
        longer.push(0);
        assert!(decode_unsigned(&longer).unwrap_err().contains("after"));
        assert!(decode_unsigned(&[0xe5, 0x80]).unwrap_err().contains("legacy"));
        assert!(decode_signed(&t.unsigned).is_err());
    }
}
