//! `defender sign FILE --out FILE` for a bundle of a Safe transaction: one owner adds their
//! signature of the safeTxHash, offline. The owners and threshold are the ones recorded when
//! the bundle was built; `broadcast` checks them again on chain.

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use serde_json::json;

use super::sign::{SignArgs, input_error, save};
use crate::cli::Cli;
use crate::offline::bundle::Bundle;
use crate::offline::files;
use crate::offline::input::{self, Input};
use crate::offline::safe_bundle::SafeSection;
use crate::offline::show;
use crate::pipeline::Refused;
use crate::preview::decode;
use crate::safe::preview::{CallPreview, OwnerView, SafePreview};
use crate::safe::{check_can_sign, progress, sign_as_owner};
use crate::signers::Signer;
use crate::simulate::Outcome;

pub async fn run(cli: &Cli, args: &SignArgs, mut bundle: Bundle, signer: Option<Signer>) -> Result<ExitCode> {
    let g = &cli.global;
    let file = args.file.display().to_string();
    let out = &args.out;
    let out_shown = out.display().to_string();
    if args.raw_out.is_some() || args.qr {
        return Err(input_error(
            "a Safe bundle holds no transaction of its own to carry as raw hex or QR: copy the signed bundle \
             itself to the machine that broadcasts it",
        ));
    }
    // --out: a new file, the input itself, or an earlier output of the same Safe transaction,
    // whose signatures are kept (owners may sign copies in parallel).
    let mut owned = files::same_file(&args.file, out);
    let mut merged = 0;
    if !owned && out.exists() {
        match input::read(out) {
            Ok(Input::Bundle(earlier)) if same_safe_transaction(&earlier, &bundle) => {
                earlier.check().map_err(|e| input_error(format!("{out_shown}: {e}")))?;
                let section = bundle.safe.as_mut().expect("a Safe bundle");
                for s in earlier.safe.map(|e| e.signatures).unwrap_or_default() {
                    if !section.signatures.iter().any(|have| have.owner == s.owner) {
                        section.signatures.push(s);
                        merged += 1;
                    }
                }
                owned = true;
            }
            _ => {
                return Err(input_error(format!(
                    "{out_shown} already exists and is not an earlier output of this Safe transaction: defender \
                     never overwrites a file; choose another name for --out"
                )));
            }
        }
    }
    bundle.check().map_err(|e| input_error(format!("{file}: {e}")))?;
    let section = bundle.safe.clone().expect("a Safe bundle");
    let names = show::names(&bundle, &[], g.addresses.as_deref())?;
    let preview = preview_of(&bundle, &section, &names, signer.as_ref());
    if !g.json {
        crate::safe::preview::print(&preview);
        eprintln!();
        eprintln!(
            "  offline: no chain is consulted here. Not checked: the simulation and whether the Safe's owners,"
        );
        eprintln!(
            "  threshold and nonce are still those above; `defender broadcast` checks them before it sends."
        );
        if names.checked_with.is_none() && !bundle.contracts.is_empty() {
            eprintln!(
                "  contract names are the bundle's own: pass --addresses FILE to check them against yours"
            );
        }
    }
    // Copies signed side by side: their signatures are merged even when this signer has nothing
    // to add (or no signer is given).
    let adds = signer.as_ref().is_some_and(|s| {
        section.owners.contains(&s.address()) && !section.signed_by().contains(&s.address())
    });
    if merged > 0 && !adds {
        bundle.check().map_err(|e| anyhow!("internal error after merging: {e}"))?;
        save(&bundle, out, &mut owned)?;
        return report_signed(g.json, &bundle, &preview, &out_shown);
    }
    let Some(signer) = signer else {
        return Err(input_error(format!(
            "no signer: pass an owner's --ledger, --trezor, --keystore FILE or --private-key-env VAR ({} so far)",
            progress(section.signatures.len(), section.threshold)
        )));
    };
    check_can_sign(&signer, &section.owners, &section.signatures).map_err(|e| Refused(format!("{e:#}")))?;
    let irreversible =
        bundle.irreversible || section.calls.iter().any(|c| show::irreversible(&c.data).is_some());
    confirm(g.yes, args.burn, irreversible)?;
    if !g.json {
        eprintln!("signing safeTxHash {} as owner {}", section.safe_tx_hash, signer.address());
    }
    let signed = sign_as_owner(&signer, &section.transaction, &section.owners, &section.signatures)
        .await
        .map_err(|e| {
            let kept = if owned {
                format!("{out_shown} keeps the signatures it had")
            } else {
                format!("{out_shown} was not written")
            };
            anyhow!("signing the Safe transaction failed: {e:#}; {kept}")
        })?;
    bundle.safe.as_mut().expect("a Safe bundle").signatures.push(signed);
    bundle.check().map_err(|e| anyhow!("internal error after signing: {e}"))?;
    save(&bundle, out, &mut owned)?;
    report_signed(g.json, &bundle, &preview, &out_shown)
}

/// Where the signatures stand, and what comes next.
fn report_signed(json: bool, bundle: &Bundle, preview: &SafePreview, out_shown: &str) -> Result<ExitCode> {
    let section = bundle.safe.as_ref().expect("a Safe bundle");
    let (count, threshold, hash) = (section.signatures.len(), section.threshold, section.safe_tx_hash);
    if json {
        println!(
            "{}",
            json!({
                "preview": preview,
                "out": out_shown,
                "safe_tx_hash": hash,
                "signed": count,
                "signed_by": section.signed_by(),
                "threshold": threshold,
            })
        );
    } else if (count as u64) < threshold {
        eprintln!(
            "\n{}: {out_shown}; the next owner signs it with `defender sign {out_shown} --out {out_shown}`",
            progress(count, threshold)
        );
    } else {
        eprintln!(
            "\n{}: {out_shown} is ready; online, `defender broadcast {out_shown}` with any account that pays the gas",
            progress(count, threshold)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The Safe preview from the bundle's fields alone.
fn preview_of(
    bundle: &Bundle,
    section: &SafeSection,
    names: &show::Names,
    signer: Option<&Signer>,
) -> SafePreview {
    let (symbol, decimals) = match &bundle.token {
        Some(t) => (t.symbol.clone(), t.decimals),
        None => ("tokens".to_owned(), 18),
    };
    let ctx = decode::Context { book: &names.book, symbol, decimals };
    let calls: Vec<crate::actions::Call> = section
        .calls
        .iter()
        .map(|c| crate::actions::Call {
            label: c.label.clone(),
            to: c.to,
            data: c.data.clone(),
            value: c.value,
        })
        .collect();
    let outcomes: Vec<Outcome> = section
        .calls
        .iter()
        .map(|c| match &c.simulation {
            Some(s) => Outcome { ok: s.ok, gas_used: s.gas_used, revert: s.revert.clone() },
            None => Outcome { ok: true, gas_used: 0, revert: None },
        })
        .collect();
    let calls: Vec<CallPreview> = crate::safe::preview::calls(&calls, Some(&outcomes), &ctx);
    let t = &section.transaction;
    SafePreview {
        action: bundle.action.clone().unwrap_or_else(|| "safe".into()),
        summary: bundle.summary.clone().unwrap_or_else(|| "a Safe transaction".into()),
        chain_id: bundle.chain_id,
        safe: t.safe,
        safe_version: section.version.clone(),
        owners: section.owners.clone(),
        threshold: section.threshold,
        calls,
        transaction: t.clone(),
        domain_separator: section.domain_separator,
        message_hash: section.message_hash,
        safe_tx_hash: section.safe_tx_hash,
        signed_by: section.signed_by(),
        changes: bundle
            .changes
            .iter()
            .map(|c| crate::preview::Delta {
                what: c.what.clone(),
                before: c.before.clone(),
                after: c.after.clone(),
            })
            .collect(),
        warnings: bundle.warnings.clone(),
        simulated_with: None,
        signer: signer
            .filter(|s| section.owners.contains(&s.address()) && !section.signed_by().contains(&s.address()))
            .map(|s| OwnerView::of(s, t)),
    }
}

fn same_safe_transaction(a: &Bundle, b: &Bundle) -> bool {
    match (&a.safe, &b.safe) {
        (Some(x), Some(y)) => {
            a.chain_id == b.chain_id && x.transaction == y.transaction && x.safe_tx_hash == y.safe_tx_hash
        }
        _ => false,
    }
}

fn confirm(yes: bool, burn: bool, irreversible: bool) -> Result<()> {
    let question = crate::confirm::Question {
        ask: "Sign the Safe transaction? [y/N] ",
        ask_burn: "Type BURN to sign the Safe transaction: ",
        no_terminal: "no terminal to confirm at: pass --yes to sign without asking",
        no_terminal_burn: "this Safe transaction is irreversible (ESM): confirm it at a terminal, or pass --yes --burn",
        nothing: "nothing was signed",
    };
    crate::confirm::ask(&question, yes, burn, irreversible)
}
