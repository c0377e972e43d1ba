//! `defender drop-spell`: a Protego drop spell per plan, then the list of plans with their
//! drop spells, ready for `vote --spell`.

use std::collections::HashSet;
use std::process::ExitCode;

use alloy::primitives::{Address, B256};
use anyhow::Result;
use clap::Args;

use super::history::{self, PlanTargets};
use super::session::Session;
use crate::actions::{self, Tokens};
use crate::chain::pause_log::{Queue, QueuedPlan};
use crate::chain::snapshot::{Reads, Snapshot, prepare};

#[derive(Debug, Args)]
pub struct DropSpellArgs {
    #[command(flatten)]
    pub plans: PlanTargets,
}

pub async fn run(cli: &crate::cli::Cli, args: &DropSpellArgs) -> Result<ExitCode> {
    let (targets, plans) = (args.plans.parsed()?, &args.plans);
    let session = Session::open(cli).await?;
    let prepared = session.prepare(Vec::new()).await?;
    let queue =
        history::read(&session.connection, &prepared, &plans.history, cli.global.no_cache, &[]).await?;
    let wanted: Vec<&QueuedPlan> =
        if plans.all { queue.open().collect() } else { history::plans_named(&queue, &targets)? };
    let ids: Vec<B256> = wanted.iter().map(|p| p.id).collect();
    let plan = actions::drop_spell::plan(&prepared.snapshot, &wanted);
    if let Ok(plan) = &plan
        && plan.calls.is_empty()
    {
        report(cli, &prepared.snapshot, &queue, &ids, None);
        return Ok(ExitCode::SUCCESS);
    }
    let before: HashSet<_> =
        queue.plans.iter().flat_map(|p| p.drop_spells.iter().map(|d| d.address)).collect();
    let code = session.execute(&prepared, plan, false).await?;
    let g = &cli.global;
    if g.dry_run || g.json || cli.offline.unsigned_out.is_some() || session.signer.is_none() {
        return Ok(code);
    }
    // What Protego made, read back from its Deploy events.
    let after = prepare(&session.connection, &session.sources, g.chain, &Reads::default()).await?;
    let queue = history::read(&session.connection, &after, &plans.history, g.no_cache, &[]).await?;
    report(cli, &after.snapshot, &queue, &ids, Some(&before));
    Ok(code)
}

/// Each plan with its drop spell, and the vote that lifts it.
fn report(
    cli: &crate::cli::Cli,
    s: &Snapshot,
    queue: &Queue,
    ids: &[B256],
    before: Option<&HashSet<Address>>,
) {
    if cli.global.json {
        let plans: Vec<_> = ids
            .iter()
            .filter_map(|id| queue.find(*id))
            .map(|p| serde_json::json!({ "plan": p.id, "state": p.state, "drop_spells": p.drop_spells }))
            .collect();
        println!("{}", serde_json::json!({ "sent": false, "drop_spells": plans }));
        return;
    }
    let t = Tokens::voting(s);
    println!("\ndrop spells (lift one to drop its plan at once):");
    for p in ids.iter().filter_map(|id| queue.find(*id)) {
        let Some(d) = p.drop_spells.first() else {
            println!("  plan {}: no drop spell found yet (look again with `defender queue`)", p.id);
            continue;
        };
        let new = if before.is_some_and(|b| !b.contains(&d.address)) { " (new)" } else { "" };
        println!(
            "  plan {}  drop spell {}{new}  {} of the hat's {}",
            p.id,
            d.address,
            t.fmt(d.approvals),
            t.fmt(s.gov.hatApprovals)
        );
        println!(
            "    `defender vote --spell {} --lock {}`, then `defender lift --spell {}`, then `defender cancel {}`",
            d.address,
            actions::lock_to_outvote(s, d.approvals),
            d.address,
            p.id
        );
    }
}
