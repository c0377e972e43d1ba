//! `defender queue`: the plans in DSPause, their drop spells, and who can drop them now.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::history::{self, HistoryArgs};
use crate::actions::{self, Tokens};
use crate::chain::governance::CancelRoute;
use crate::chain::pause_log::{PlanState, QueuedPlan};
use crate::chain::snapshot::{Reads, Snapshot, prepare};
use crate::cli::Cli;
use crate::units::format_duration;

#[derive(Debug, Args)]
pub struct QueueArgs {
    /// Also list dropped and executed plans.
    #[arg(long)]
    pub history: bool,
    #[command(flatten)]
    pub read: HistoryArgs,
}

/// Who can drop plans now, in words, with the command to run.
fn route_line(s: &Snapshot, open: &[&QueuedPlan]) -> String {
    match s.cancel_route() {
        CancelRoute::Defender { until } => {
            format!("the defender cancels until {}: `defender cancel --all`", actions::date(until))
        }
        CancelRoute::Protego => {
            "Protego is the hat: `defender cancel --all` drops every plan in one transaction".into()
        }
        CancelRoute::DropSpell(spell) => {
            format!("the drop spell {spell} is the hat: `defender cancel --all` drops its plan")
        }
        CancelRoute::Closed => actions::cancel::no_route(s, open),
    }
}

fn route_json(s: &Snapshot) -> serde_json::Value {
    match s.cancel_route() {
        CancelRoute::Defender { until } => json!({ "kind": "defender", "until": until }),
        CancelRoute::Protego => json!({ "kind": "protego" }),
        CancelRoute::DropSpell(spell) => json!({ "kind": "drop_spell", "spell": spell }),
        CancelRoute::Closed => json!({ "kind": "closed" }),
    }
}

pub async fn queue(cli: &Cli, args: &QueueArgs) -> Result<ExitCode> {
    let connection = crate::chain::rpc::connect(&cli.global.rpc_url).await?;
    let sources = crate::chain::discovery::resolve(&cli.global.wanted())?;
    let prepared = prepare(&connection, &sources, cli.global.chain, &Reads::default()).await?;
    let s = &prepared.snapshot;
    let hat = match s.cancel_route() {
        CancelRoute::DropSpell(spell) => vec![spell],
        _ => Vec::new(),
    };
    let queue = history::read(&connection, &prepared, &args.read, cli.global.no_cache, &hat).await?;
    let open: Vec<&QueuedPlan> = queue.open().collect();
    let shown: Vec<&QueuedPlan> = queue.plans.iter().filter(|p| args.history || p.state.is_open()).collect();
    let t = Tokens::voting(s);
    if cli.global.json {
        let plans: Vec<serde_json::Value> = shown
            .iter()
            .map(|p| {
                let mut value = serde_json::to_value(p).unwrap_or_default();
                value["seconds_to_eta"] = json!(p.key.eta.saturating_to::<u64>() as i128 - s.now() as i128);
                if let Some(spells) = value["drop_spells"].as_array_mut() {
                    for (spell, d) in spells.iter_mut().zip(&p.drop_spells) {
                        spell["is_hat"] = json!(d.address == s.gov.hat);
                    }
                }
                value
            })
            .collect();
        let protego = (!s.at.protego.is_zero()).then(|| {
            json!({
                "address": s.at.protego,
                "approvals": s.gov.protegoApprovals.to_string(),
                "is_hat": s.gov.hat == s.at.protego,
            })
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "chain_id": prepared.chain_id,
                "pause": s.at.pause,
                "block": s.block.number.saturating_to::<u64>(),
                "timestamp": s.now(),
                "from_block": queue.read.from_block,
                "hat": { "address": s.gov.hat, "approvals": s.gov.hatApprovals.to_string() },
                "protego": protego,
                "route": route_json(s),
                "history": queue.read,
                "plotted": queue.plans.len(),
                "plans": plans,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "DSPause {}: {} queued of {} plotted since block {} (at block {})",
        s.at.pause,
        open.len(),
        queue.plans.len(),
        queue.read.from_block,
        s.block.number
    );
    let hat_name = if s.gov.hat == s.at.protego && !s.at.protego.is_zero() { " (Protego)" } else { "" };
    if s.gov.hat.is_zero() {
        println!("no hat yet (the chief has lifted nobody)");
    } else {
        println!("hat {}{hat_name} with {}", s.gov.hat, t.fmt(s.gov.hatApprovals));
    }
    if !s.at.protego.is_zero() && s.gov.hat != s.at.protego {
        println!("Protego {} has {}", s.at.protego, t.fmt(s.gov.protegoApprovals));
    }
    if !open.is_empty() {
        println!("route: {}", route_line(s, &open));
    }
    for p in shown {
        let eta: u64 = p.key.eta.saturating_to();
        let when = match p.state {
            PlanState::Pending => format!("in {}", format_duration(eta.saturating_sub(s.now()))),
            PlanState::Executable => {
                format!("{} ago: EXECUTABLE", format_duration(s.now().saturating_sub(eta)))
            }
            _ => String::new(),
        };
        let state = format!("{:?}", p.state).to_lowercase();
        println!("{}  {state:<10} eta {} {when}", p.id, actions::date(eta));
        let about = p.description.as_deref().unwrap_or("");
        println!("    spell {}  action {}  {about}", p.plotted_by, p.key.usr);
        for d in &p.drop_spells {
            let hat = if d.address == s.gov.hat { "  (the hat)" } else { "" };
            println!("    drop spell {} with {}{hat}", d.address, t.fmt(d.approvals));
        }
        if p.drop_spells.is_empty() && p.state.is_open() && !s.at.protego.is_zero() {
            println!("    no drop spell yet: `defender drop-spell {}`", p.id);
        }
    }
    Ok(ExitCode::SUCCESS)
}
