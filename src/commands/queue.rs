//! `defender queue` and `defender cancel`: the plans in DSPause, and dropping them.

use std::process::ExitCode;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, Bytes};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use anyhow::{Result, anyhow};
use clap::Args;
use serde_json::json;

use super::session::{InputError, Session};
use crate::actions;
use crate::chain::bindings::{DSPause, DssExec};
use crate::chain::pause_log::{self, PlanKey, PlanState, QueuedPlan, ScanOptions};
use crate::chain::snapshot::{Reads, prepare};
use crate::cli::Cli;
use crate::units::format_duration;

/// Where to start reading the pause's history when not told: mainnet's DSPause came with MCD
/// (November 2019); local chains start at genesis.
fn default_from_block(chain_id: u64) -> u64 {
    if chain_id == 1 { 8_900_000 } else { 0 }
}

#[derive(Debug, Args)]
pub struct QueueArgs {
    /// First block to read the pause's logs from [default: DSPause's deployment era].
    #[arg(long, value_name = "BLOCK")]
    pub from_block: Option<u64>,
    /// Also list dropped and executed plans.
    #[arg(long)]
    pub history: bool,
    /// Blocks per eth_getLogs request (split further when the provider refuses).
    #[arg(long, default_value_t = 100_000, value_name = "BLOCKS", hide = true)]
    pub chunk: u64,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Plan ids (0x + 64 hex) or spell addresses (0x + 40 hex) to cancel.
    #[arg(value_name = "PLAN_ID|SPELL", required_unless_present = "all")]
    pub targets: Vec<String>,
    /// Cancel every plan queued in DSPause.
    #[arg(long, conflicts_with = "targets")]
    pub all: bool,
    /// First block to read the pause's logs from, for plan ids and --all.
    #[arg(long, value_name = "BLOCK")]
    pub from_block: Option<u64>,
}

pub async fn queue(cli: &Cli, args: &QueueArgs) -> Result<ExitCode> {
    let connection = crate::chain::rpc::connect(&cli.global.rpc_url).await?;
    let sources = crate::chain::discovery::resolve(&cli.global.wanted())?;
    let prepared = prepare(&connection, &sources, cli.global.chain, &Reads::default()).await?;
    let s = &prepared.snapshot;
    let options = ScanOptions {
        from_block: args.from_block.unwrap_or_else(|| default_from_block(prepared.chain_id)),
        to_block: Some(s.block.number.saturating_to()),
        chunk: args.chunk,
        ..ScanOptions::default()
    };
    let plans = pause_log::queue(&connection, s.at.pause, s.now(), options).await?;
    let shown: Vec<&QueuedPlan> = plans
        .iter()
        .filter(|p| args.history || matches!(p.state, PlanState::Pending | PlanState::Executable))
        .collect();
    if cli.global.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "chain_id": prepared.chain_id,
                "pause": s.at.pause,
                "block": s.block.number.saturating_to::<u64>(),
                "timestamp": s.now(),
                "from_block": options.from_block,
                "plotted": plans.len(),
                "plans": shown,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let open = plans.iter().filter(|p| matches!(p.state, PlanState::Pending | PlanState::Executable)).count();
    println!(
        "DSPause {}: {open} queued of {} plotted since block {} (at block {})",
        s.at.pause,
        plans.len(),
        options.from_block,
        s.block.number
    );
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
    }
    Ok(ExitCode::SUCCESS)
}

enum Target {
    Plan(B256),
    Spell(Address),
}

fn parse_target(text: &str) -> Result<Target> {
    let hex = text.strip_prefix("0x").unwrap_or(text);
    match hex.len() {
        64 => text
            .parse()
            .map(Target::Plan)
            .map_err(|_| InputError(format!("{text:?} is not a plan id")).into()),
        40 => {
            crate::chain::addresses::parse_address(text).map(Target::Spell).map_err(|m| InputError(m).into())
        }
        _ => Err(InputError(format!(
            "{text:?} is neither a plan id (0x + 64 hex digits) nor a spell address (0x + 40 hex digits)"
        ))
        .into()),
    }
}

fn call(to: Address, data: impl SolCall) -> TransactionRequest {
    TransactionRequest::default().with_to(to).with_input(data.abi_encode())
}

pub async fn cancel(cli: &Cli, args: &CancelArgs) -> Result<ExitCode> {
    let targets: Vec<Target> = args.targets.iter().map(|t| parse_target(t)).collect::<Result<_>>()?;
    let session = Session::open(cli).await?;
    // A spell says its own plan: action, tag, sig, eta, read in the first round trip.
    let mut extra = Vec::new();
    for target in &targets {
        if let Target::Spell(spell) = target {
            extra.push(call(*spell, DssExec::actionCall {}));
            extra.push(call(*spell, DssExec::tagCall {}));
            extra.push(call(*spell, DssExec::sigCall {}));
            extra.push(call(*spell, DssExec::etaCall {}));
        }
    }
    let prepared = session.prepare(extra).await?;
    let s = &prepared.snapshot;
    if let Some(reason) = actions::cancel::not_canceling(s) {
        return session.execute(&prepared, actions::refuse(reason), false).await;
    }
    let needs_queue = args.all || targets.iter().any(|t| matches!(t, Target::Plan(_)));
    let queue = if needs_queue {
        let options = ScanOptions {
            from_block: args.from_block.unwrap_or_else(|| default_from_block(prepared.chain_id)),
            to_block: Some(s.block.number.saturating_to()),
            ..ScanOptions::default()
        };
        pause_log::queue(&session.connection, s.at.pause, s.now(), options).await?
    } else {
        Vec::new()
    };
    if args.all {
        return session.execute(&prepared, actions::cancel::plan_all(s, &queue), false).await;
    }

    let mut keys = Vec::new();
    let mut queued = Vec::new();
    let mut answers = prepared.extra.iter();
    for target in &targets {
        match target {
            Target::Plan(id) => {
                let Some(plan) = queue.iter().find(|p| p.id == *id) else {
                    return Err(InputError(format!(
                        "no plan {id} was ever plotted in DSPause {} (since block {})",
                        s.at.pause,
                        args.from_block.unwrap_or_else(|| default_from_block(prepared.chain_id))
                    ))
                    .into());
                };
                queued.push(matches!(plan.state, PlanState::Pending | PlanState::Executable));
                keys.push(plan.key.clone());
            }
            Target::Spell(spell) => {
                let mut next =
                    |what: &str| -> Result<Bytes> {
                        answers.next().cloned().unwrap_or_else(|| Err("missing".into())).map_err(|e| {
                            anyhow!("{spell} does not answer {what}() like a DssExec spell: {e}")
                        })
                    };
                let usr = DssExec::actionCall::abi_decode_returns(&next("action")?)?;
                let tag = DssExec::tagCall::abi_decode_returns(&next("tag")?)?;
                let fax = DssExec::sigCall::abi_decode_returns(&next("sig")?)?;
                let eta = DssExec::etaCall::abi_decode_returns(&next("eta")?)?;
                if eta.is_zero() {
                    return Err(InputError(format!(
                        "spell {spell} is not scheduled: there is no plan to cancel"
                    ))
                    .into());
                }
                let key = PlanKey { usr, tag, fax, eta };
                queued.push(queue_lookup(&session, s.at.pause, &key).await?);
                keys.push(key);
            }
        }
    }
    session.execute(&prepared, actions::cancel::plan_named(s, &keys, &queued), false).await
}

async fn queue_lookup(session: &Session<'_>, pause: Address, key: &PlanKey) -> Result<bool> {
    use alloy::providers::Provider;
    use std::future::IntoFuture;
    let output = session
        .connection
        .timed(
            session
                .connection
                .provider
                .call(call(pause, DSPause::plansCall(key.id())))
                .block(alloy::eips::BlockId::latest())
                .into_future(),
        )
        .await?;
    Ok(DSPause::plansCall::abi_decode_returns(&output).unwrap_or(false))
}
