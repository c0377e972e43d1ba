//! `defender watch`: follows the pause and cancels every new plot while the defender is
//! canceling. One line per event (or JSON lines); survives RPC outages by resuming from the
//! last block it finished; never sends a second cancel for a plan it already cancelled.

use std::collections::HashSet;
use std::process::ExitCode;
use std::time::Duration;

use alloy::primitives::{Address, B256};
use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::session::Session;
use crate::actions;
use crate::chain::pause_log::{self, PlanState, QueuedPlan, ScanOptions};
use crate::chain::snapshot::{Prepared, Reads, prepare};
use crate::pipeline::{Options, Pipeline};
use crate::send::PartlySent;
use crate::units::format_duration;

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Seconds between looks at the chain (one batched request and one log query each).
    #[arg(long, default_value_t = 0.5, value_name = "SECONDS")]
    pub interval: f64,
    /// Also handle plans plotted from this block on (default: only plots from now on).
    #[arg(long, value_name = "BLOCK")]
    pub from_block: Option<u64>,
}

struct Watch<'a> {
    session: Session<'a>,
    json: bool,
    dry_run: bool,
    /// The last block fully handled.
    last: Option<u64>,
    /// Plans already cancelled (or alerted on): never acted on twice.
    handled: HashSet<B256>,
}

pub async fn run(cli: &crate::cli::Cli, args: &WatchArgs) -> Result<ExitCode> {
    let session = Session::open(cli).await?;
    let dry_run = cli.global.dry_run || session.signer.is_none();
    let mut watch = Watch {
        session,
        json: cli.global.json,
        dry_run,
        last: args.from_block.map(|b| b.saturating_sub(1)),
        handled: HashSet::new(),
    };
    let interval = Duration::from_secs_f64(args.interval.max(0.05));
    let mode = if dry_run { "alerting only (no signer, or --dry-run)" } else { "cancelling new plots" };
    watch.log(
        "start",
        json!({ "mode": mode, "rpc": cli.global.rpc_url }),
        &format!("watching the pause, {mode}"),
    );
    // A first look that fails is a wrong URL or chain, not an outage: say so and stop.
    watch
        .tick()
        .await
        .map_err(|e| e.context("the first look at the chain failed: nothing is being watched"))?;
    let mut trouble = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        match watch.tick().await {
            Ok(()) if trouble => {
                trouble = false;
                watch.log(
                    "rpc",
                    json!({ "ok": true }),
                    "the RPC answers again; rescanned from the last block seen",
                );
            }
            Ok(()) => {}
            Err(e) => {
                if !trouble {
                    let from = watch.last.map(|b| b + 1);
                    let resume = from.map_or("the latest block".to_owned(), |b| format!("block {b}"));
                    watch.log(
                        "rpc",
                        json!({ "ok": false, "error": format!("{e:#}"), "resume_from": from }),
                        &format!("RPC trouble ({e:#}); retrying, then rescanning from {resume}"),
                    );
                }
                trouble = true;
            }
        }
    }
    watch.log("stop", json!({}), "stopped");
    Ok(ExitCode::SUCCESS)
}

impl Watch<'_> {
    fn log(&self, event: &str, mut fields: serde_json::Value, text: &str) {
        if self.json {
            fields["event"] = event.into();
            println!("{fields}");
        } else {
            let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
            println!("{now}  {event:<7} {text}");
        }
    }

    async fn prepare(&self) -> Result<Prepared> {
        let s = &self.session;
        let reads = Reads { user: s.from, fees: true, extra: vec![] };
        prepare(&s.connection, &s.sources, s.cli.global.chain, &reads).await
    }

    async fn tick(&mut self) -> Result<()> {
        let prepared = self.prepare().await?;
        let s = &prepared.snapshot;
        let head: u64 = s.block.number.saturating_to();
        let from = self.last.map_or(head, |l| l + 1);
        if from > head {
            return Ok(());
        }
        let options = ScanOptions { from_block: from, to_block: Some(head), ..ScanOptions::default() };
        let plans = pause_log::queue(&self.session.connection, s.at.pause, s.now(), options).await?;
        for plan in plans {
            if !matches!(plan.state, PlanState::Pending | PlanState::Executable)
                || self.handled.contains(&plan.id)
            {
                continue;
            }
            self.plotted(&plan, s.now());
            self.act(&prepared, &plan).await?;
        }
        self.last = Some(head);
        Ok(())
    }

    fn plotted(&self, plan: &QueuedPlan, now: u64) {
        let eta: u64 = plan.key.eta.saturating_to();
        let due = format_duration(eta.saturating_sub(now));
        let what = plan.description.clone().unwrap_or_else(|| "no description".into());
        self.log(
            "plot",
            json!({ "plan": plan.id, "spell": plan.plotted_by, "usr": plan.key.usr, "eta": eta, "block": plan.plotted_in, "description": plan.description }),
            &format!("plan {} by {} in block {} ({what}), executable in {due}", plan.id, plan.plotted_by, plan.plotted_in),
        );
    }

    /// Cancels `plan` (or says why not). An error leaves the plan unhandled, to retry next
    /// tick, unless a transaction may have gone out.
    async fn act(&mut self, prepared: &Prepared, plan: &QueuedPlan) -> Result<()> {
        let s = &prepared.snapshot;
        if self.dry_run {
            self.handled.insert(plan.id);
            self.log("alert", json!({ "plan": plan.id }), &format!("would cancel {} (dry run)", plan.id));
            return Ok(());
        }
        if let Some(reason) = actions::cancel::not_canceling(s) {
            self.handled.insert(plan.id);
            self.log(
                "cannot",
                json!({ "plan": plan.id, "reason": reason }),
                &format!("cannot cancel {}: {reason}", plan.id),
            );
            return Ok(());
        }
        // Unattended: no terminal prompt (a device still asks on its own screen each time).
        let options = Options { dry_run: false, yes: true, burn: false, json: self.json, unsigned_out: None };
        let pipeline = Pipeline {
            connection: &self.session.connection,
            sources: &self.session.sources,
            prepared,
            fees: &self.session.cli.fees,
            options: &options,
        };
        let from = self.session.from.unwrap_or(Address::ZERO);
        let result = pipeline
            .run(actions::cancel::plan_all(s, std::slice::from_ref(plan)), from, self.session.signer.as_ref())
            .await;
        match result {
            Ok(_) => {
                self.handled.insert(plan.id);
                self.log("cancel", json!({ "plan": plan.id, "ok": true }), &format!("cancelled {}", plan.id));
                Ok(())
            }
            Err(e) if e.is::<PartlySent>() || e.is::<crate::pipeline::Refused>() => {
                self.handled.insert(plan.id);
                self.log(
                    "cancel",
                    json!({ "plan": plan.id, "ok": false, "error": format!("{e:#}") }),
                    &format!("cancel of {} failed: {e:#}", plan.id),
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
