//! The preview of a Safe transaction: the calls the Safe will make, decoded as any action's;
//! then every SafeTx field, the owners and threshold, the three hashes, and what this owner's
//! device will show before it signs. The same data feeds `--json`.

use alloy::primitives::{Address, B256, U256};
use anstream::eprintln;
use serde::Serialize;

use crate::actions::Call;
use crate::chain::safe::{SafeTransaction, SignatureKind};
use crate::preview::{Delta, decode, print_call, print_screens};
use crate::signers::{Screen, Signer};
use crate::simulate::{Method, Outcome};
use crate::style::{COMPARE, DANGER, GOOD, of_warning, paint};

/// One call the Safe makes.
#[derive(Debug, Clone, Serialize)]
pub struct CallPreview {
    pub label: String,
    pub to: Address,
    pub to_name: Option<String>,
    pub call: Option<decode::Decoded>,
    pub data: String,
    #[serde(with = "crate::units::decimal")]
    pub value: U256,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simulation: Option<Outcome>,
}

/// What the owner about to sign will see and sign.
#[derive(Debug, Clone, Serialize)]
pub struct OwnerView {
    pub owner: Address,
    pub kind: SignatureKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<&'static str>,
    /// The device's screens before it signs, one list of lines per screen (devices only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_screens: Option<Vec<Screen>>,
}

impl OwnerView {
    pub fn of(signer: &Signer, tx: &SafeTransaction) -> Self {
        Self {
            owner: signer.address(),
            kind: super::kind_for(signer),
            device: signer.device_name(),
            device_screens: super::screens_for(signer, tx),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SafePreview {
    pub action: String,
    pub summary: String,
    pub chain_id: u64,
    pub safe: Address,
    pub safe_version: String,
    pub owners: Vec<Address>,
    pub threshold: u64,
    pub calls: Vec<CallPreview>,
    pub transaction: SafeTransaction,
    pub domain_separator: B256,
    pub message_hash: B256,
    pub safe_tx_hash: B256,
    /// Owners whose signatures are already at hand.
    pub signed_by: Vec<Address>,
    pub changes: Vec<Delta>,
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simulated_with: Option<Method>,
    /// The owner signing now, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<OwnerView>,
}

/// The Safe's calls decoded, each with its simulated outcome when there is one.
pub fn calls(calls: &[Call], outcomes: Option<&[Outcome]>, ctx: &decode::Context<'_>) -> Vec<CallPreview> {
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| CallPreview {
            label: c.label.clone(),
            to: c.to,
            to_name: ctx.book.name_of(c.to).map(str::to_owned),
            call: decode::decode(c.to, &c.data, ctx),
            data: format!("0x{}", hex::encode(&c.data)),
            value: c.value,
            simulation: outcomes.and_then(|o| o.get(i).cloned()),
        })
        .collect()
}

/// The human preview, on stderr.
pub fn print(p: &SafePreview) {
    let n = p.calls.len();
    eprintln!("{}", p.summary);
    eprintln!(
        "  from Safe {} (version {}, {} of {} owners sign) on chain {} · {n} call{} in one Safe transaction",
        p.safe,
        p.safe_version,
        p.threshold,
        p.owners.len(),
        p.chain_id,
        if n == 1 { "" } else { "s" }
    );
    for (i, c) in p.calls.iter().enumerate() {
        eprintln!();
        eprintln!("  call {}/{n}  {}", i + 1, c.label);
        print_call(c.to, c.to_name.as_deref(), c.call.as_ref(), &c.data, c.value);
        match &c.simulation {
            Some(o) if o.ok => {
                eprintln!("       {} as the Safe, {} gas", paint(GOOD, "simulated ok"), o.gas_used)
            }
            Some(o) => eprintln!(
                "       {}",
                paint(DANGER, format!("SIMULATION REVERTS: {}", o.revert.as_deref().unwrap_or("no reason")))
            ),
            None => eprintln!("       not simulated"),
        }
    }
    if !p.changes.is_empty() {
        eprintln!();
        eprintln!("  changes for the Safe");
        let width = p.changes.iter().map(|d| d.what.len()).max().unwrap_or(0);
        for d in &p.changes {
            eprintln!("    {:<width$}  {} → {}", d.what, d.before, d.after);
        }
    }
    let t = &p.transaction;
    eprintln!();
    eprintln!("  Safe transaction");
    let operation = if t.operation == 1 { "1 (DELEGATECALL: the calls above, in order)" } else { "0 (CALL)" };
    for (field, value) in [
        ("to", t.to.to_string()),
        ("value", t.value.to_string()),
        ("data", short_hex(&t.data)),
        ("operation", operation.to_owned()),
        ("safeTxGas", t.safe_tx_gas.to_string()),
        ("baseGas", t.base_gas.to_string()),
        ("gasPrice", t.gas_price.to_string()),
        ("gasToken", t.gas_token.to_string()),
        ("refundReceiver", t.refund_receiver.to_string()),
        ("nonce", t.nonce.to_string()),
    ] {
        eprintln!("    {field:<16}{value}");
    }
    eprintln!("    owners          {}", super::list(&p.owners));
    eprintln!("    threshold       {}", p.threshold);
    eprintln!("    domain hash     {}", p.domain_separator);
    eprintln!("    message hash    {}", p.message_hash);
    eprintln!("    safeTxHash      {}", paint(COMPARE, p.safe_tx_hash));
    eprintln!(
        "    signed          {}{}",
        super::progress(p.signed_by.len(), p.threshold),
        if p.signed_by.is_empty() { String::new() } else { format!(" ({})", super::list(&p.signed_by)) }
    );
    if let Some(owner) = &p.signer {
        let how = match owner.kind {
            SignatureKind::Eip712 => "EIP-712 by its domain and message hashes",
            SignatureKind::EthSign => "the safeTxHash as a personal message (the Safe's eth_sign form)",
        };
        eprintln!("    {} signs {how}", owner.owner);
        if let (Some(device), Some(screens)) = (owner.device, &owner.device_screens) {
            eprintln!("    your {device} will show, screen by screen (compare the hashes above):");
            print_screens(screens);
        }
    }
    if !p.warnings.is_empty() {
        eprintln!();
        for w in &p.warnings {
            eprintln!("  {}", paint(of_warning(w), format!("! {w}")));
        }
    }
}

/// Long calldata as its start, end and length; the full bytes are in `--json` and the bundle.
fn short_hex(data: &[u8]) -> String {
    let text = hex::encode(data);
    if text.len() <= 74 {
        return format!("0x{text}");
    }
    format!("0x{}…{} ({} bytes)", &text[..40], &text[text.len() - 32..], data.len())
}
