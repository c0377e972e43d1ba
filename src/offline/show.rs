//! The preview `sign` shows: the same one as online, built from the raw fields alone, with
//! what needs the chain said plainly instead of guessed.

use std::path::Path;

use alloy::consensus::TypedTransaction;
use alloy::primitives::{Address, U256};
use alloy::sol_types::SolCall;
use anyhow::Result;

use super::bundle::{Bundle, CheckedTx};
use crate::chain::addresses::AddressBook;
use crate::chain::bindings::{DssDefender, ESM};
use crate::fees::{Fees, max_cost};
use crate::pipeline::Refused;
use crate::preview::{Preview, TxPreview, decode};
use crate::signers::Signer;
use crate::units::format_duration;

/// After this long, a bundle's fees and nonces may no longer fit the chain.
pub const STALE_AFTER_SECS: u64 = 10 * 60;

/// Contract names for the preview, and whether the user vouched for them.
pub struct Names {
    pub book: AddressBook,
    /// `Some(file)`: the user's `--addresses` file, checked against the bundle; `None`: the
    /// bundle's own names, unverified.
    pub checked_with: Option<String>,
}

/// The names to show: the user's address book (every target must be in it, and the bundle's
/// names must agree with it), else the bundle's names, marked as unverified.
pub fn names(bundle: &Bundle, txs: &[CheckedTx], addresses: Option<&Path>) -> Result<Names> {
    let Some(path) = addresses else {
        let mut book = AddressBook::new(bundle.chain_id, None);
        for (key, address) in &bundle.contracts {
            book.insert(key, *address);
        }
        return Ok(Names { book, checked_with: None });
    };
    let book = AddressBook::load(path)?;
    let file = path.display().to_string();
    if book.chain_id != bundle.chain_id {
        return Err(Refused(format!(
            "the address book {file} is for chain {}, but the bundle is for chain {}: nothing was signed",
            book.chain_id, bundle.chain_id
        ))
        .into());
    }
    for (key, address) in &bundle.contracts {
        if let Some(known) = book.contracts.get(key)
            && known != address
        {
            return Err(Refused(format!(
                "the bundle names {address} as {key}, but your address book {file} says {key} is {known}: \
                 the bundle was built against other contracts, or edited; nothing was signed"
            ))
            .into());
        }
    }
    let targets: Vec<Address> = match &bundle.safe {
        Some(safe) => safe.calls.iter().map(|c| c.to).collect(),
        None => txs.iter().map(CheckedTx::to).collect(),
    };
    let what = if bundle.safe.is_some() { "call" } else { "transaction" };
    for (i, to) in targets.iter().enumerate() {
        if book.name_of(*to).is_none() {
            return Err(Refused(format!(
                "{what} {} of {} calls {to}, which is not in your address book {file}: nothing was signed \
                 (sign without --addresses to judge it by the preview alone)",
                i + 1,
                targets.len(),
            ))
            .into());
        }
    }
    Ok(Names { book, checked_with: Some(file) })
}

/// The calls that cannot be undone, found from the bytes (never from labels): joining, firing
/// or burning the ESM, and moving a defender deposit into it.
pub fn irreversible_calls(txs: &[CheckedTx]) -> Vec<(usize, &'static str)> {
    txs.iter().enumerate().filter_map(|(i, t)| irreversible(&t.tx.input).map(|what| (i, what))).collect()
}

/// What `data` burns or shuts down, when it does.
pub fn irreversible(data: &[u8]) -> Option<&'static str> {
    let burns: [([u8; 4], &'static str); 4] = [
        (ESM::joinCall::SELECTOR, "ESM join: the tokens are burned"),
        (ESM::fireCall::SELECTOR, "ESM fire: emergency shutdown"),
        (ESM::burnCall::SELECTOR, "ESM burn"),
        (DssDefender::moveToEsmCall::SELECTOR, "moveToEsm: the deposit goes into the ESM and is burned"),
    ];
    let selector = data.get(..4)?;
    burns.iter().find(|(s, _)| s[..] == *selector).map(|(_, what)| *what)
}

fn action_name(action: Option<&str>) -> &'static str {
    match action {
        Some("deposit") => "deposit",
        Some("withdraw") => "withdraw",
        Some("esm") => "esm",
        Some("vote") => "vote",
        Some("lift") => "lift",
        Some("cancel") => "cancel",
        Some("free") => "free",
        Some("convert") => "convert",
        _ => "raw",
    }
}

/// The online preview's shape, from the raw fields: decoded calls, gas, costs, signing hashes
/// and the device's screens. Nothing here comes from a chain.
pub fn build(bundle: &Bundle, txs: &[CheckedTx], names: &Names, signer: Option<&Signer>) -> Preview {
    let (symbol, decimals) = match &bundle.token {
        Some(t) => (t.symbol.clone(), t.decimals),
        None => ("tokens".to_owned(), 18),
    };
    let ctx = decode::Context { book: &names.book, symbol, decimals };
    let transactions: Vec<TxPreview> = txs
        .iter()
        .map(|t| {
            let fees = Fees::of(&t.tx);
            let to_name = names.book.name_of(t.to()).map(|n| match names.checked_with {
                Some(_) => n.to_owned(),
                None => format!("{n}, as the bundle names it"),
            });
            let typed = TypedTransaction::Eip1559(t.tx.clone());
            let mut shown = TxPreview {
                label: t.label.clone(),
                from: t.from,
                to: t.to(),
                to_name,
                call: decode::decode(t.to(), &t.tx.input, &ctx),
                data: format!("0x{}", hex::encode(&t.tx.input)),
                value: t.tx.value,
                nonce: t.tx.nonce,
                gas_limit: t.tx.gas_limit,
                fees,
                max_cost_wei: max_cost(t.tx.gas_limit, fees) + t.tx.value,
                simulation: None,
                signing_hash: alloy::consensus::SignableTransaction::signature_hash(&t.tx).to_string(),
                device_screens: None,
                device_shows_hash: None,
                device_note: None,
                fee_ladder: t
                    .higher
                    .iter()
                    .enumerate()
                    .map(|(j, l)| crate::preview::LevelPreview::of(j + 2, &l.tx))
                    .collect(),
            };
            if let Some(signer) = signer {
                shown.shown_on(signer, &typed);
            }
            shown
        })
        .collect();
    let total_max_cost_wei = transactions.iter().map(|t| t.max_cost_wei).fold(U256::ZERO, |a, b| a + b);
    let mut warnings = bundle.warnings.clone();
    for (i, what) in irreversible_calls(txs) {
        let line = format!("IRREVERSIBLE: transaction {} of {} calls {what}", i + 1, txs.len());
        if !warnings.contains(&line) {
            warnings.push(line);
        }
    }
    Preview {
        action: action_name(bundle.action.as_deref()),
        summary: bundle.summary.clone().unwrap_or_else(|| format!("{} transactions", txs.len())),
        chain_id: bundle.chain_id,
        from: txs.first().map(|t| t.from).unwrap_or(Address::ZERO),
        transactions,
        changes: Vec::new(),
        warnings,
        total_max_cost_wei,
        simulated_with: None,
        rebid: None,
        device: signer.and_then(Signer::device_name),
        signer: signer.map(|s| s.description.clone()),
    }
}

/// How old the bundle is by this machine's clock, with a warning when its fees and nonces may
/// be stale (or the clock disagrees).
pub fn age(bundle: &Bundle, now: u64) -> Option<(String, bool)> {
    let created = bundle.created_at?;
    let when = crate::actions::date(created);
    Some(if created > now + 120 {
        (
            format!(
                "the bundle says it was built at {when}, {} in this machine's future: one of the two clocks is \
                 wrong, so its age is unknown; fees and nonces may be stale",
                format_duration(created - now)
            ),
            true,
        )
    } else {
        let old = now.saturating_sub(created);
        if old > STALE_AFTER_SECS {
            (
                format!(
                    "the bundle was built {} ago ({when}): its fees and nonces may be stale by now \
                     (broadcast checks the nonces and the base fee before sending)",
                    // Past the stale mark, seconds are noise ("3h 1s").
                    format_duration(old / 60 * 60)
                ),
                true,
            )
        } else {
            (format!("the bundle was built {} ago ({when})", format_duration(old)), false)
        }
    })
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// What `sign` says after the preview: what it could not check, and what the online machine
/// reported (as its words, not as facts).
pub fn print_offline_notes(bundle: &Bundle, txs: &[CheckedTx], names: &Names) {
    eprintln!();
    eprintln!(
        "  offline: no chain is consulted here. Not checked: the simulation, balances and state changes,"
    );
    eprintln!(
        "  whether the nonces are still the account's next ones, and the fee market; `defender broadcast`"
    );
    eprintln!("  checks the chain id, nonces and base fee before it sends anything.");
    match &names.checked_with {
        Some(file) => eprintln!("  contract names checked against your address book {file}"),
        None if bundle.contracts.is_empty() => {
            eprintln!("  no contract names: the calls are shown as addresses")
        }
        None => eprintln!(
            "  contract names and token units come from the bundle, unverified: pass --addresses FILE to check them"
        ),
    }
    eprintln!(
        "  labels and the summary are the bundle's words; each call line above is decoded from its data"
    );
    match (&bundle.built_at_block, bundle.created_at) {
        (Some(block), _) => eprintln!(
            "  the online machine read the chain at block {} ({}) and reported:",
            block.number,
            crate::actions::date(block.timestamp)
        ),
        (None, _) => eprintln!("  the bundle carries no report from an online machine (raw transactions)"),
    }
    if bundle.built_at_block.is_some() {
        for (i, t) in bundle.transactions.iter().enumerate() {
            let verdict = match &t.simulation {
                Some(s) if s.ok => format!("simulated ok, {} gas", s.gas_used),
                Some(s) => format!("SIMULATION REVERTED: {}", s.revert.as_deref().unwrap_or("no reason")),
                None => "not simulated".into(),
            };
            eprintln!("    {}/{}  {verdict}", i + 1, txs.len());
        }
        for c in &bundle.changes {
            eprintln!("    {}  {} → {}", c.what, c.before, c.after);
        }
    }
    if let Some((line, stale)) = age(bundle, now()) {
        eprintln!("  {}{line}", if stale { "! " } else { "" });
    }
}
