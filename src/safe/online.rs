//! `--safe` on an action, online: the plan simulated as the Safe, previewed as one Safe
//! transaction, then either written as a bundle for the owners to sign in turn, or signed by
//! this owner and executed at once when the signatures at hand meet the threshold.

use std::process::ExitCode;

use anyhow::{Result, bail};
use serde_json::json;

use super::preview::{OwnerView, SafePreview};
use super::{SafeSetup, progress, sign_as_owner};
use crate::actions::Plan;
use crate::chain::safe::{OwnerSignature, check_signatures};
use crate::offline::bundle::SimulationNote;
use crate::offline::safe_bundle::{SafeCall, SafeSection};
use crate::pipeline::{Pipeline, Refused};
use crate::preview::decode;
use crate::signers::Signer;

/// The Safe an action acts from, and the other owners' signatures brought with
/// `--signatures FILE`.
#[derive(Debug, Clone)]
pub struct SafeAction {
    pub setup: SafeSetup,
    pub given: Vec<OwnerSignature>,
    /// The safeTxHash the `--signatures` bundle is for.
    pub given_hash: Option<alloy::primitives::B256>,
}

pub async fn run(
    p: &Pipeline<'_>,
    plan: Plan,
    safe: &SafeAction,
    signer: Option<&Signer>,
) -> Result<ExitCode> {
    let prepared = p.prepared;
    let s = &prepared.snapshot;
    let setup = &safe.setup;
    let owners = &setup.state.owners;
    let refuse = |why: String| Refused(format!("{why}; nothing was signed or sent"));
    let tx = setup.transaction(prepared.chain_id, &plan.calls);
    let hash = tx.safe_tx_hash();
    tx.inner_calls().map_err(|why| refuse(format!("this Safe transaction is refused: {why}")))?;
    if tx.domain_separator() != setup.state.domain_separator {
        return Err(refuse(format!(
            "the Safe's domain separator is {}, not the {} of a Safe 1.3 or later at {} on chain {}: defender \
             cannot compute what its owners must sign",
            setup.state.domain_separator,
            tx.domain_separator(),
            setup.address,
            prepared.chain_id
        ))
        .into());
    }
    if plan.calls.len() > 1 && !setup.multi_send_deployed {
        return Err(refuse(format!(
            "{} calls go through MultiSendCallOnly, but its canonical address {} has no code on this chain: a \
             Safe transaction to it would do nothing",
            plan.calls.len(),
            crate::chain::safe::CANONICAL_MULTI_SEND_CALL_ONLY
        ))
        .into());
    }
    if let Some(theirs) = safe.given_hash.filter(|h| *h != hash) {
        return Err(refuse(format!(
            "--signatures holds signatures of safeTxHash {theirs}, but this action builds safeTxHash {hash} (the \
             Safe's nonce or the plan moved on since that bundle was built): send that bundle with `defender \
             broadcast FILE` once it has its signatures, or have the owners sign a new one"
        ))
        .into());
    }
    check_signatures(&safe.given, hash, owners).map_err(|e| refuse(format!("--signatures: {e}")))?;
    let simulation =
        crate::simulate::simulate(p.connection, p.sources, s, setup.address, &plan.calls).await?;
    let will_sign = signer
        .filter(|s| owners.contains(&s.address()) && !safe.given.iter().any(|g| g.owner == s.address()));
    let ctx = decode::Context { book: &prepared.book, symbol: s.symbol(), decimals: s.decimals() };
    let preview = SafePreview {
        action: plan.action.to_owned(),
        summary: plan.summary.clone(),
        chain_id: prepared.chain_id,
        safe: setup.address,
        safe_version: setup.state.version.clone(),
        owners: owners.clone(),
        threshold: setup.state.threshold,
        calls: super::preview::calls(&plan.calls, Some(&simulation.outcomes), &ctx),
        transaction: tx.clone(),
        domain_separator: tx.domain_separator(),
        message_hash: tx.message_hash(),
        safe_tx_hash: hash,
        signed_by: safe.given.iter().map(|g| g.owner).collect(),
        changes: simulation.after.as_ref().map(|after| crate::preview::deltas(s, after)).unwrap_or_default(),
        warnings: plan.warnings.clone(),
        simulated_with: Some(simulation.method),
        signer: will_sign.map(|signer| OwnerView::of(signer, &tx)),
    };
    crate::stdout_guard::keep_printing();
    let json = p.options.json;
    if !json {
        super::preview::print(&preview);
    }
    if let Some((i, outcome)) = simulation.outcomes.iter().enumerate().find(|(_, o)| !o.ok) {
        if json {
            println!("{}", json!({ "preview": preview, "sent": false }));
        }
        return Err(Refused(format!(
            "call {} of {} would revert when the Safe makes it: {}; nothing was signed or sent",
            i + 1,
            plan.calls.len(),
            outcome.revert.as_deref().unwrap_or("no reason given")
        ))
        .into());
    }
    if p.options.dry_run {
        if json {
            println!("{}", json!({ "preview": preview, "sent": false }));
        } else {
            eprintln!("\ndry run: nothing was signed or sent");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let section = |signatures: &[OwnerSignature]| SafeSection {
        transaction: tx.clone(),
        calls: plan
            .calls
            .iter()
            .zip(&simulation.outcomes)
            .map(|(c, o)| SafeCall {
                label: c.label.clone(),
                to: c.to,
                value: c.value,
                data: c.data.clone(),
                simulation: Some(SimulationNote { ok: o.ok, gas_used: o.gas_used, revert: o.revert.clone() }),
            })
            .collect(),
        owners: owners.clone(),
        threshold: setup.state.threshold,
        version: setup.state.version.clone(),
        domain_separator: tx.domain_separator(),
        message_hash: tx.message_hash(),
        safe_tx_hash: hash,
        signatures: signatures.to_vec(),
    };
    if let Some(path) = &p.options.unsigned_out {
        let section = section(&safe.given);
        let bundle = crate::offline::build::bundle_of_safe(&plan, section, &preview.changes, prepared);
        return crate::offline::build::write_safe(path, &bundle, &preview, json);
    }
    let Some(signer) = signer else {
        bail!(
            "no signer: pass an owner's --ledger, --trezor, --keystore FILE or --private-key-env VAR, or write a \
             bundle for the owners with --unsigned-out FILE (or --dry-run to only preview)"
        );
    };
    let count = safe.given.len() + usize::from(will_sign.is_some());
    if (count as u64) < setup.state.threshold {
        let why = if owners.contains(&signer.address()) || will_sign.is_some() {
            format!("{} would be at hand", progress(count, setup.state.threshold))
        } else {
            format!(
                "{} signs as {}, which is not an owner, and {} are at hand",
                signer.description,
                signer.address(),
                progress(count, setup.state.threshold)
            )
        };
        return Err(Refused(format!(
            "this Safe needs {} signatures and {why}: write a bundle with --unsigned-out FILE and have the owners \
             sign it in turn (`defender sign FILE --out FILE`), or bring their signatures with --signatures FILE; \
             nothing was signed or sent",
            setup.state.threshold
        ))
        .into());
    }
    p.confirm(&plan, 1)?;
    let mut signatures = safe.given.clone();
    if let Some(owner) = will_sign {
        if !json {
            eprintln!("signing safeTxHash {hash} as owner {}", owner.address());
        }
        let signed = sign_as_owner(owner, &tx, owners, &signatures)
            .await
            .map_err(|e| anyhow::anyhow!("signing the Safe transaction failed: {e:#}; nothing was sent"))?;
        signatures.push(signed);
    }
    let run = super::execute::Execution {
        connection: p.connection,
        fees: p.fees,
        json,
        preview: Some(json!(preview)),
        confirm: None,
        yes: p.options.yes,
    };
    let result = super::execute::execute(&run, &tx, &signatures, signer).await;
    match (result, will_sign) {
        (Err(error), Some(_)) => {
            // The device's signature must outlive a failed execution: keep it in a bundle.
            let bundle = crate::offline::build::bundle_of_safe(
                &plan,
                section(&signatures),
                &preview.changes,
                prepared,
            );
            Err(match crate::offline::build::keep_safe(&bundle, hash) {
                Ok(path) => error.context(format!(
                    "your signature is kept with the others in {} ({}): `defender broadcast {}` executes it \
                     once the chain allows, without signing again",
                    path.display(),
                    progress(signatures.len(), setup.state.threshold),
                    path.display()
                )),
                Err(e) => error.context(format!("your signature could not be saved ({e:#}); sign again")),
            })
        }
        (result, _) => result,
    }
}
