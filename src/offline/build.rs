//! `--unsigned-out FILE`: the pipeline's plan, simulated and previewed online, written as an
//! unsigned bundle instead of being signed.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use super::bundle::{BlockRef, Bundle, BundleTx, Change, SimulationNote, Token};
use super::files::{self, Replace};
use crate::actions::Plan;
use crate::chain::snapshot::Prepared;
use crate::commands::session::InputError;
use crate::pipeline::Transaction;
use crate::preview::Preview;
use crate::simulate::Simulation;

/// The bundle of a planned, simulated run.
pub fn bundle_of_plan(
    plan: &Plan,
    txs: &[Transaction],
    ladder: &[crate::fees::Fees],
    simulation: &Simulation,
    preview: &Preview,
    prepared: &Prepared,
) -> Bundle {
    let mut bundle = header(plan, prepared);
    bundle.changes = preview
        .changes
        .iter()
        .map(|d| Change { what: d.what.clone(), before: d.before.clone(), after: d.after.clone() })
        .collect();
    for (i, tx) in txs.iter().enumerate() {
        let mut entry = BundleTx::new(tx.call.label.clone(), tx.from, &tx.unsigned());
        entry.simulation = simulation.outcomes.get(i).map(|o| SimulationNote {
            ok: o.ok,
            gas_used: o.gas_used,
            revert: o.revert.clone(),
        });
        for &fees in ladder {
            entry.add_level(fees);
        }
        bundle.transactions.push(entry);
    }
    bundle
}

/// The bundle of a Safe transaction: the Safe's part, no transactions of the account's own.
pub fn bundle_of_safe(
    plan: &Plan,
    section: super::safe_bundle::SafeSection,
    changes: &[crate::preview::Delta],
    prepared: &Prepared,
) -> Bundle {
    let mut bundle = header(plan, prepared);
    bundle.changes = changes
        .iter()
        .map(|d| Change { what: d.what.clone(), before: d.before.clone(), after: d.after.clone() })
        .collect();
    bundle.safe = Some(section);
    bundle
}

/// Writes a Safe bundle (never over an existing file) and says who signs it next.
pub fn write_safe(
    path: &Path,
    bundle: &Bundle,
    preview: &crate::safe::preview::SafePreview,
    json_output: bool,
) -> Result<ExitCode> {
    write_new(path, bundle)?;
    if json_output {
        println!(
            "{}",
            json!({
                "preview": preview,
                "sent": false,
                "bundle": path.display().to_string(),
                "safe_tx_hash": preview.safe_tx_hash,
            })
        );
    } else {
        eprintln!(
            "\nwrote {}: the Safe transaction {} for {} (nonce {}) on chain {}, {}; nothing was signed or sent",
            path.display(),
            preview.safe_tx_hash,
            preview.safe,
            preview.transaction.nonce,
            bundle.chain_id,
            crate::safe::progress(preview.signed_by.len(), preview.threshold)
        );
        eprintln!(
            "next: each owner, on their own machine, `defender sign {} --out SIGNED.json` with their signer \
             options (the next owner signs SIGNED.json); then, online, `defender broadcast SIGNED.json` with \
             any account that pays the gas",
            path.display()
        );
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Keeps a Safe bundle in the current directory under a name of its own (never over a file),
/// when its signatures would otherwise be lost; returns where.
pub fn keep_safe(bundle: &Bundle, safe_tx_hash: alloy::primitives::B256) -> Result<std::path::PathBuf> {
    let stem = format!("defender-safe-{}", &safe_tx_hash.to_string()[..12]);
    for n in 0..100 {
        let name = if n == 0 { format!("{stem}.json") } else { format!("{stem}-{n}.json") };
        let path = std::path::PathBuf::from(name);
        if !path.exists() {
            write_new(&path, bundle)?;
            return Ok(path);
        }
    }
    anyhow::bail!("{stem}.json and 99 more names are taken in this directory")
}

/// Writes `bundle` to a new file, once it passes the checks `sign` makes: a bug here should
/// stop at home.
fn write_new(path: &Path, bundle: &Bundle) -> Result<()> {
    bundle.check().map_err(|e| anyhow::anyhow!("internal error, the bundle does not check out: {e}"))?;
    files::write_atomic(path, bundle.to_json().as_bytes(), Replace::Never).map_err(|e| {
        match e.downcast::<files::Exists>() {
            Ok(exists) => InputError(exists.to_string()).into(),
            Err(other) => other,
        }
    })
}

/// What every bundle of a plan says for people: when, at which block, what and in whose names.
fn header(plan: &Plan, prepared: &Prepared) -> Bundle {
    let s = &prepared.snapshot;
    let mut bundle = Bundle::new(prepared.chain_id, Some(super::show::now()));
    bundle.built_at_block = Some(BlockRef { number: s.block.number.saturating_to(), timestamp: s.now() });
    bundle.action = Some(plan.action.to_owned());
    bundle.summary = Some(plan.summary.clone());
    bundle.warnings = plan.warnings.clone();
    bundle.irreversible = plan.irreversible;
    bundle.token = Some(Token { symbol: s.symbol(), decimals: s.decimals() });
    bundle.contracts = prepared.book.contracts.clone();
    bundle
}

/// Refuses before any RPC work when the file is already there.
pub fn check_free(path: &Path) -> Result<()> {
    if path.exists() {
        return Err(InputError(format!(
            "{} already exists: defender never overwrites a bundle; choose another name for --unsigned-out",
            path.display()
        ))
        .into());
    }
    Ok(())
}

/// Writes the bundle (never over an existing file) and says what to do next.
pub fn write(path: &Path, bundle: &Bundle, preview: &Preview, json_output: bool) -> Result<ExitCode> {
    write_new(path, bundle)?;
    let txs = &bundle.transactions;
    let (first, last) = (txs.first().map(|t| t.nonce), txs.last().map(|t| t.nonce));
    let signatures: usize = txs.iter().map(|t| 1 + t.fee_ladder.len()).sum();
    if json_output {
        println!(
            "{}",
            json!({
                "preview": preview,
                "sent": false,
                "bundle": path.display().to_string(),
                "signing_hashes": txs.iter().map(|t| t.signing_hash).collect::<Vec<_>>(),
                "signatures_needed": signatures,
            })
        );
    } else {
        let nonces = match (first, last) {
            (Some(a), Some(b)) if a == b => format!("nonce {a}"),
            (Some(a), Some(b)) => format!("nonces {a} to {b}"),
            _ => String::new(),
        };
        let levels = match signatures / txs.len().max(1) {
            1 => String::new(),
            n => format!(" at {n} fee levels each ({signatures} signatures)"),
        };
        eprintln!(
            "\nwrote {}: {} unsigned transaction{}{levels} for {} on chain {}, {nonces}; nothing was signed or sent",
            path.display(),
            txs.len(),
            if txs.len() == 1 { "" } else { "s" },
            preview.from,
            bundle.chain_id
        );
        eprintln!(
            "next: on the signing machine, `defender sign {} --out SIGNED.json` with your signer options; \
             then, online, `defender broadcast SIGNED.json`",
            path.display()
        );
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
