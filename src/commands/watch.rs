//! `defender watch`: follows the pause and cancels every new plot while the defender is
//! canceling. It looks on every new head when the RPC pushes them (a websocket with
//! `eth_subscribe`) and polls otherwise. One line per event (or JSON lines); survives RPC
//! outages by dialling again and resuming from the last block it finished; never sends a second
//! cancel for a plan it already cancelled.

use std::collections::HashSet;
use std::process::ExitCode;
use std::time::Duration;

use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::pubsub::Subscription;
use alloy::rpc::types::pubsub::SubscriptionKind;
use alloy::transports::{RpcError, TransportErrorKind};
use anyhow::Result;
use clap::Args;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::session::Session;
use crate::actions;
use crate::chain::pause_log::{self, PlanState, QueuedPlan, ScanOptions};
use crate::chain::rpc;
use crate::chain::snapshot::{Prepared, Reads, prepare};
use crate::pipeline::{Options, Pipeline};
use crate::send::PartlySent;
use crate::units::format_duration;

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Seconds between looks when polling (an http(s):// RPC, or a websocket that offers no
    /// subscription). With a ws(s):// RPC that offers `eth_subscribe`, each new head triggers a
    /// look instead. While the RPC is unreachable, retries come every second (or this, if shorter).
    #[arg(long, default_value_t = 0.5, value_name = "SECONDS")]
    pub interval: f64,
    /// Also handle plans plotted from this block on (default: only plots from now on).
    #[arg(long, value_name = "BLOCK")]
    pub from_block: Option<u64>,
}

/// With a subscription, a look this long after the last new head even if none comes, so a
/// subscription that goes quiet delays a plot by at most a mainnet slot instead of hiding it.
const QUIET_SUBSCRIPTION_LOOK: Duration = Duration::from_secs(12);

/// The longest wait between retries while the RPC is unreachable, whatever `--interval` says.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(1);

/// What made the watcher look at the chain; said in each plot's log line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Look {
    Start,
    NewHead,
    Timer,
    Retry,
}

impl Look {
    fn name(self) -> &'static str {
        match self {
            Look::Start => "start",
            Look::NewHead => "new-head",
            Look::Timer => "timer",
            Look::Retry => "retry",
        }
    }
}

/// Where the next look comes from: the node's new heads, or a timer.
enum Feed {
    NewHeads(Subscription<serde_json::Value>),
    Poll,
}

impl Feed {
    fn describe(&self, interval: Duration) -> String {
        match self {
            Feed::NewHeads(_) => "looking on each new head (websocket subscription)".into(),
            Feed::Poll => format!("polling every {} s", interval.as_secs_f64()),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Feed::NewHeads(_) => "subscription",
            Feed::Poll => "poll",
        }
    }

    /// Waits for the next reason to look; `None` means the subscription ended.
    async fn next(&mut self, interval: Duration) -> Option<Look> {
        match self {
            Feed::Poll => {
                tokio::time::sleep(interval).await;
                Some(Look::Timer)
            }
            Feed::NewHeads(heads) => {
                tokio::select! {
                    head = heads.recv() => match head {
                        // Heads we were too slow to read change nothing: a look scans every block since the last.
                        Ok(_) | Err(RecvError::Lagged(_)) => Some(Look::NewHead),
                        Err(RecvError::Closed) => None,
                    },
                    _ = tokio::time::sleep(QUIET_SUBSCRIPTION_LOOK) => Some(Look::Timer),
                }
            }
        }
    }
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
    // Subscribe before the first look, so a block mined in between still triggers one.
    let (mut feed, why_poll) = watch.subscribe().await;
    let source = feed.describe(interval);
    watch.log(
        "start",
        json!({ "mode": mode, "rpc": cli.global.rpc_url, "feed": feed.name(), "why_poll": why_poll }),
        &format!(
            "watching the pause, {mode}; {source}{}",
            why_poll.as_deref().map(|why| format!(" ({why})")).unwrap_or_default()
        ),
    );
    // A first look that fails is a wrong URL or chain, not an outage: say so and stop.
    watch
        .look(Look::Start)
        .await
        .map_err(|e| e.context("the first look at the chain failed: nothing is being watched"))?;
    let mut trouble = false;
    loop {
        let wait = if trouble { interval.min(MAX_RETRY_WAIT) } else { interval };
        let look = tokio::select! {
            look = feed.next(wait) => look,
            _ = tokio::signal::ctrl_c() => break,
        };
        let Some(look) = look else {
            watch.trouble("the new-heads subscription ended".into());
            trouble = true;
            feed = Feed::Poll;
            continue;
        };
        let look = if trouble { Look::Retry } else { look };
        match watch.look(look).await {
            Ok(()) if trouble => {
                trouble = false;
                (feed, _) = watch.subscribe().await;
                watch.log(
                    "rpc",
                    json!({ "ok": true, "feed": feed.name() }),
                    &format!(
                        "the RPC answers again; rescanned from the last block seen; {}",
                        feed.describe(interval)
                    ),
                );
            }
            Ok(()) => {}
            Err(e) => {
                if !trouble {
                    watch.trouble(format!("{e:#}"));
                }
                trouble = true;
                feed = Feed::Poll;
            }
        }
    }
    watch.log("stop", json!({}), "stopped");
    Ok(ExitCode::SUCCESS)
}

impl Watch<'_> {
    /// Subscribes to new heads if the RPC offers it; otherwise says why it will poll.
    async fn subscribe(&self) -> (Feed, Option<String>) {
        let provider = &self.session.connection.provider;
        let request = provider.subscribe::<_, serde_json::Value>((SubscriptionKind::NewHeads,));
        match tokio::time::timeout(rpc::REQUEST_TIMEOUT, request).await {
            Ok(Ok(heads)) => (Feed::NewHeads(heads), None),
            Ok(Err(RpcError::Transport(TransportErrorKind::PubsubUnavailable))) => {
                (Feed::Poll, Some("an http(s) RPC; a ws:// or wss:// URL gets new heads pushed".into()))
            }
            Ok(Err(e)) => (Feed::Poll, Some(format!("the RPC refused eth_subscribe: {e}"))),
            Err(_) => (Feed::Poll, Some("eth_subscribe got no answer".into())),
        }
    }

    /// Logs an outage once, with where the rescan will start.
    fn trouble(&self, error: String) {
        let from = self.last.map(|b| b + 1);
        let resume = from.map_or("the latest block".to_owned(), |b| format!("block {b}"));
        self.log(
            "rpc",
            json!({ "ok": false, "error": error, "resume_from": from }),
            &format!("RPC trouble ({error}); retrying, then rescanning from {resume}"),
        );
    }

    /// One look at the chain. A retry dials again first: a websocket that dropped stays dead.
    async fn look(&mut self, look: Look) -> Result<()> {
        if look == Look::Retry {
            let url = self.session.connection.url.clone();
            self.session.connection = rpc::connect(&url).await?;
        }
        self.tick(look).await
    }

    fn log(&self, event: &str, mut fields: serde_json::Value, text: &str) {
        // A watcher whose log reader died keeps cancelling: its lines move to stderr.
        crate::stdout_guard::keep_printing();
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
        let reads = Reads { user: s.from, fees: true, ..Reads::default() };
        prepare(&s.connection, &s.sources, s.cli.global.chain, &reads).await
    }

    async fn tick(&mut self, look: Look) -> Result<()> {
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
            self.plotted(&plan, s.now(), look);
            self.act(&prepared, &plan).await?;
        }
        self.last = Some(head);
        Ok(())
    }

    fn plotted(&self, plan: &QueuedPlan, now: u64, look: Look) {
        let eta: u64 = plan.key.eta.saturating_to();
        let due = format_duration(eta.saturating_sub(now));
        let what = plan.description.clone().unwrap_or_else(|| "no description".into());
        self.log(
            "plot",
            json!({ "plan": plan.id, "spell": plan.plotted_by, "usr": plan.key.usr, "eta": eta, "block": plan.plotted_in, "description": plan.description, "seen_on": look.name() }),
            &format!(
                "plan {} by {} in block {} ({what}), executable in {due}; seen on {} look",
                plan.id,
                plan.plotted_by,
                plan.plotted_in,
                look.name()
            ),
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
