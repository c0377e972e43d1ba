//! The preview shown before any signature: each transaction decoded from its bytes, the
//! simulation's verdict, what changes on chain, and the warnings. The same data feeds `--json`.

pub mod decode;

use alloy::primitives::{Address, U256};
use anstream::eprintln;
use serde::Serialize;

use crate::actions::{Plan, date};
use crate::chain::addresses::AddressBook;
use crate::chain::snapshot::Snapshot;
use crate::fees::{Fees, max_cost};
use crate::pipeline::Transaction;
use crate::simulate::Simulation;
use crate::style::{COMPARE, DANGER, GOOD, WARNING, of_warning, paint};
use crate::units::{format_token, gwei};

/// One before → after line of the preview.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Delta {
    pub what: String,
    pub before: String,
    pub after: String,
}

/// What changes for the user and the protocol, from two snapshots.
pub fn deltas(before: &Snapshot, after: &Snapshot) -> Vec<Delta> {
    let tokens = |v: U256| format!("{} {}", format_token(v, before.decimals()), before.symbol());
    let mut out = Vec::new();
    let mut push = |what: &str, b: String, a: String| {
        if b != a {
            out.push(Delta { what: what.into(), before: b, after: a });
        }
    };
    push("wallet balance", tokens(before.user.govBalance), tokens(after.user.govBalance));
    push("your defender deposit", tokens(before.user.deposit), tokens(after.user.deposit));
    let unlock = |s: &Snapshot| {
        if s.user.unlockAt.is_zero() { "-".to_owned() } else { date(s.user.unlockAt.saturating_to()) }
    };
    push("your unlock date", unlock(before), unlock(after));
    let progress = |s: &Snapshot| format!("{} of {}", tokens(s.defender.total), tokens(s.defender.threshold));
    push("defender deposits", progress(before), progress(after));
    let state = |s: &Snapshot| match (s.defender.canceling, s.defender.activatedAt.is_zero()) {
        (true, _) => "canceling".to_owned(),
        (false, true) => "not activated".to_owned(),
        (false, false) => "activated, window over".to_owned(),
    };
    push("defender", state(before), state(after));
    let race = |s: &Snapshot| {
        format!("default spell {} vs hat {}", tokens(s.defender.spellApprovals), tokens(s.gov.hatApprovals))
    };
    push("chief approvals", race(before), race(after));
    push("your chief deposit", tokens(before.user.chiefDeposits), tokens(after.user.chiefDeposits));
    push("your chief vote", format!("{:?}", before.user.yays), format!("{:?}", after.user.yays));
    push("hat", before.gov.hat.to_string(), after.gov.hat.to_string());
    let mkr = |v: U256| format!("{} MKR", format_token(v, 18));
    if before.at.mkr != alloy::primitives::Address::ZERO {
        push("your MKR", mkr(before.user.mkrBalance), mkr(after.user.mkrBalance));
        push("your legacy chief deposit", mkr(before.user.legacyDeposits), mkr(after.user.legacyDeposits));
    }
    if before.at.protego != alloy::primitives::Address::ZERO {
        push("Protego's approvals", tokens(before.gov.protegoApprovals), tokens(after.gov.protegoApprovals));
    }
    let gem = |v: U256| if before.is_sky() { mkr(v) } else { tokens(v) };
    let esm = |s: &Snapshot| {
        if s.gov.esmMin == U256::MAX {
            format!("{} (switched off)", gem(s.gov.esmSum))
        } else {
            format!("{} of {}", gem(s.gov.esmSum), gem(s.gov.esmMin))
        }
    };
    push("ESM", esm(before), esm(after));
    out
}

/// The preview of one transaction, as printed and as `--json` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct TxPreview {
    pub label: String,
    pub from: Address,
    pub to: Address,
    pub to_name: Option<String>,
    pub call: Option<decode::Decoded>,
    pub data: String,
    #[serde(with = "crate::units::decimal")]
    pub value: U256,
    pub nonce: u64,
    pub gas_limit: u64,
    pub fees: Fees,
    #[serde(with = "crate::units::decimal")]
    pub max_cost_wei: U256,
    pub simulation: Option<crate::simulate::Outcome>,
    /// keccak256 of the unsigned payload: what the signature covers. A Ledger shows it for a
    /// contract call, except in its ERC-20 approval flow.
    pub signing_hash: String,
    /// What the signing device will show, screen by screen (devices only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_screens: Option<Vec<crate::signers::Screen>>,
    /// Whether the device shows `signing_hash` for this transaction (devices only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_shows_hash: Option<bool>,
    /// What the device leaves out, said above the transaction (devices only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_note: Option<String>,
    /// An offline fee ladder's higher levels (`--fee-ladder`), each signed on its own.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fee_ladder: Vec<LevelPreview>,
}

/// One higher fee level of a transaction: the same call at these fees, under its own hash.
#[derive(Debug, Clone, Serialize)]
pub struct LevelPreview {
    /// 2 for the first level above the transaction's own.
    pub level: usize,
    pub fees: Fees,
    #[serde(with = "crate::units::decimal")]
    pub max_cost_wei: U256,
    pub signing_hash: String,
}

impl LevelPreview {
    pub fn of(level: usize, tx: &alloy::consensus::TxEip1559) -> Self {
        use alloy::consensus::{SignableTransaction, Transaction as _};
        let fees = Fees::of(tx);
        Self {
            level,
            fees,
            max_cost_wei: max_cost(tx.gas_limit, fees) + tx.value(),
            signing_hash: tx.signature_hash().to_string(),
        }
    }
}

impl TxPreview {
    /// Fills in what `signer`'s device will show for `tx`.
    pub fn shown_on(&mut self, signer: &crate::signers::Signer, tx: &alloy::consensus::TypedTransaction) {
        self.device_screens = signer.screens(tx);
        if signer.device_name().is_some() {
            self.device_shows_hash = Some(signer.shows_hash(tx));
            self.device_note = signer.note(tx);
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub action: &'static str,
    pub summary: String,
    pub chain_id: u64,
    pub from: Address,
    pub transactions: Vec<TxPreview>,
    pub changes: Vec<Delta>,
    pub warnings: Vec<String>,
    #[serde(with = "crate::units::decimal")]
    pub total_max_cost_wei: U256,
    /// How the node simulated the plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simulated_with: Option<crate::simulate::Method>,
    /// The signing device, when there is one ("Ledger", "Trezor").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<&'static str>,
    /// Who signs, e.g. "the Ledger Stax (USB, m/44'/60'/0'/0/0)".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// Re-bidding while waiting (`--max-fee-cap`): after how many blocks, up to what fee.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebid: Option<RebidPolicy>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct RebidPolicy {
    pub after_blocks: u64,
    pub max_fee_cap: u128,
}

pub fn build(
    plan: &Plan,
    txs: &[Transaction],
    simulation: Option<&Simulation>,
    before: &Snapshot,
    book: &AddressBook,
) -> Preview {
    let ctx = decode::Context { book, symbol: before.symbol(), decimals: before.decimals() };
    let transactions: Vec<TxPreview> = txs
        .iter()
        .enumerate()
        .map(|(i, tx)| TxPreview {
            label: tx.call.label.clone(),
            from: tx.from,
            to: tx.call.to,
            to_name: book.name_of(tx.call.to).map(str::to_owned),
            call: decode::decode(tx.call.to, &tx.call.data, &ctx),
            data: format!("0x{}", hex::encode(&tx.call.data)),
            value: tx.call.value,
            nonce: tx.nonce,
            gas_limit: tx.gas_limit,
            fees: tx.fees,
            max_cost_wei: max_cost(tx.gas_limit, tx.fees) + tx.call.value,
            simulation: simulation.and_then(|s| s.outcomes.get(i).cloned()),
            signing_hash: tx.signing_hash().to_string(),
            device_screens: None,
            device_shows_hash: None,
            device_note: None,
            fee_ladder: Vec::new(),
        })
        .collect();
    let changes =
        simulation.and_then(|s| s.after.as_ref()).map(|after| deltas(before, after)).unwrap_or_default();
    let total_max_cost_wei = transactions.iter().map(|t| t.max_cost_wei).fold(U256::ZERO, |a, b| a + b);
    let from = txs.first().map(|t| t.from).unwrap_or_default();
    Preview {
        action: plan.action,
        summary: plan.summary.clone(),
        chain_id: txs.first().map(|t| t.chain_id).unwrap_or_default(),
        from,
        transactions,
        changes,
        warnings: plan.warnings.clone(),
        total_max_cost_wei,
        simulated_with: simulation.map(|s| s.method),
        device: None,
        signer: None,
        rebid: None,
    }
}

fn eth(wei: U256) -> String {
    format!("{} ETH", format_token(wei, 18))
}

/// Device screens numbered, one line of the terminal per line of the device.
pub fn print_screens(screens: &[crate::signers::Screen]) {
    let width = screens.len().to_string().len();
    for (n, screen) in screens.iter().enumerate() {
        for (i, line) in screen.iter().enumerate() {
            let number = if i == 0 { (n + 1).to_string() } else { String::new() };
            eprintln!("         {number:>width$} │ {line}");
        }
    }
}

/// A call's target (named when known), its decoded function or raw data, and its value.
pub fn print_call(
    to: Address,
    to_name: Option<&str>,
    call: Option<&decode::Decoded>,
    data: &str,
    value: U256,
) {
    match to_name {
        Some(name) => eprintln!("       to       {to} ({name})"),
        None => eprintln!("       to       {to}"),
    }
    match call {
        Some(call) => eprintln!("       call     {}", call.display()),
        None => eprintln!("       data     {data} (not a known function)"),
    }
    if !value.is_zero() {
        eprintln!("       value    {}", eth(value));
    }
}

/// The human preview, on stderr so that stdout stays for results.
pub fn print(p: &Preview) {
    let n = p.transactions.len();
    eprintln!("{}", p.summary);
    eprintln!("  from {} on chain {} · {n} transaction{}", p.from, p.chain_id, if n == 1 { "" } else { "s" });
    if let Some(signer) = &p.signer {
        eprintln!("  signed by {signer}");
    }
    for (i, tx) in p.transactions.iter().enumerate() {
        eprintln!();
        eprintln!("  {}/{n}  {}", i + 1, tx.label);
        if let Some(note) = &tx.device_note {
            eprintln!("       {}", paint(WARNING, format!("! {note}")));
        }
        print_call(tx.to, tx.to_name.as_deref(), tx.call.as_ref(), &tx.data, tx.value);
        eprintln!(
            "       gas      {} limit, max fee {} (tip {}), nonce {} · costs at most {}",
            tx.gas_limit,
            gwei(tx.fees.max_fee_per_gas),
            gwei(tx.fees.max_priority_fee_per_gas),
            tx.nonce,
            eth(tx.max_cost_wei)
        );
        match &tx.simulation {
            Some(o) if o.ok => eprintln!("       {}, {} gas", paint(GOOD, "simulated ok"), o.gas_used),
            Some(o) => eprintln!(
                "       {}",
                paint(DANGER, format!("SIMULATION REVERTS: {}", o.revert.as_deref().unwrap_or("no reason")))
            ),
            None => eprintln!("       not simulated"),
        }
        let where_shown = match (p.device, tx.device_shows_hash) {
            (Some(device), Some(true)) => format!("your {device} shows it: compare"),
            (Some(device), _) => format!("your {device} does not show it for this transaction"),
            (None, _) => "a Ledger shows it for a contract call, not for an ERC-20 approve".into(),
        };
        let hash = match tx.device_shows_hash {
            Some(true) => paint(COMPARE, &tx.signing_hash),
            _ => tx.signing_hash.clone(),
        };
        eprintln!("       tx hash  {hash} ({where_shown})");
        for level in &tx.fee_ladder {
            eprintln!(
                "       level {}  max fee {} (tip {}) · costs at most {} · tx hash {}",
                level.level,
                gwei(level.fees.max_fee_per_gas),
                gwei(level.fees.max_priority_fee_per_gas),
                eth(level.max_cost_wei),
                level.signing_hash
            );
        }
        if let (Some(device), Some(screens)) = (p.device, &tx.device_screens) {
            eprintln!("       your {device} will show, screen by screen:");
            print_screens(screens);
        }
    }
    if !p.changes.is_empty() {
        eprintln!();
        eprintln!("  changes");
        let width = p.changes.iter().map(|d| d.what.len()).max().unwrap_or(0);
        for d in &p.changes {
            eprintln!("    {:<width$}  {} → {}", d.what, d.before, d.after);
        }
    }
    if !p.warnings.is_empty() {
        eprintln!();
        for w in &p.warnings {
            eprintln!("  {}", paint(of_warning(w), format!("! {w}")));
        }
    }
    if p.simulated_with == Some(crate::simulate::Method::StateOverride) {
        eprintln!();
        eprintln!("  simulated with eth_call and a state override: the node has no eth_simulateV1");
    }
    if let Some(r) = p.rebid {
        eprintln!();
        eprintln!(
            "  a transaction no block can take {} blocks after it is sent is re-bid, up to {} per gas (--max-fee-cap)",
            r.after_blocks,
            gwei(r.max_fee_cap)
        );
        if p.transactions.iter().any(|t| t.fees.max_fee_per_gas >= r.max_fee_cap) {
            eprintln!("  ! the cap is not above this plan's max fee: no re-bid is possible");
        }
    }
    if let Some(levels) = p.transactions.iter().map(|t| t.fee_ladder.len() + 1).max().filter(|&n| n > 1) {
        let top: U256 = p
            .transactions
            .iter()
            .map(|t| t.fee_ladder.last().map_or(t.max_cost_wei, |l| l.max_cost_wei))
            .fold(U256::ZERO, |a, b| a + b);
        eprintln!();
        eprintln!(
            "  fee ladder: {levels} levels per transaction, each signed on its own; `defender broadcast` sends level 1 \
             and climbs a level while a transaction is not mined after --rebid-after blocks (default 3)"
        );
        eprintln!("  total at most {} at level 1, {} at the top level", eth(p.total_max_cost_wei), eth(top));
        return;
    }
    eprintln!();
    eprintln!("  total at most {}", eth(p.total_max_cost_wei));
}
