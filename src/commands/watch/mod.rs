//! `defender watch`: follows the pause and the chief, and drops every plan it can the moment it
//! can. In MIP91's world that is each new plot, cancelled through the defender while it is
//! canceling. On today's mainnet nobody can plot while Protego (or a drop spell) is the hat, so
//! it follows the hat, the rivals' approvals and the lift cooldown, alerts on each plot with the
//! commands to run (optionally deploying its drop spell), and the moment Protego or a drop spell
//! becomes the hat drops every open plan in one transaction, old ones included.
//!
//! It looks on every new head when the RPC pushes them (a websocket with `eth_subscribe`) and
//! polls otherwise. One line per event (or JSON lines); survives RPC outages by dialling again
//! and resuming from the last block it finished; never sends a second drop for a plan.

mod chief;
mod feed;

use std::collections::HashSet;
use std::process::ExitCode;
use std::time::Duration;

use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::rpc::types::pubsub::SubscriptionKind;
use alloy::transports::{RpcError, TransportErrorKind};
use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::history;
use super::session::Session;
use crate::actions::{self, PlanResult, cancel::Targets};
use crate::chain::governance::CancelRoute;
use crate::chain::pause_log::{self, Queue, QueuedPlan};
use crate::chain::rpc;
use crate::chain::snapshot::{Prepared, Reads, Snapshot, prepare};
use crate::pipeline::{Options, Pipeline};
use crate::send::PartlySent;
use crate::units::format_duration;
use chief::ChiefWatch;
use feed::{Feed, Look, MAX_RETRY_WAIT};

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Seconds between looks when polling (an http(s):// RPC, or a websocket that offers no
    /// subscription). With a ws(s):// RPC that offers `eth_subscribe`, each new head triggers a
    /// look instead. While the RPC is unreachable, retries come every second (or this, if shorter).
    #[arg(long, default_value_t = 0.5, value_name = "SECONDS")]
    pub interval: f64,
    /// Also handle plans plotted from this block on (default: only plots from now on). Once
    /// Protego or a drop spell is the hat, every open plan is dropped, whenever plotted.
    #[arg(long, value_name = "BLOCK")]
    pub from_block: Option<u64>,
    /// Deploy a Protego drop spell for each new plot, so voters can act on it at once.
    #[arg(long)]
    pub deploy_drop_spells: bool,
    /// Say when a rival's approvals come within this many percent of the hat's.
    #[arg(long, default_value_t = 10, value_name = "PERCENT", value_parser = clap::value_parser!(u64).range(0..=100))]
    pub margin: u64,
}

struct Watch<'a> {
    session: Session<'a>,
    json: bool,
    dry_run: bool,
    /// The last block fully handled.
    last: Option<u64>,
    /// Plans already dropped (or alerted on): never acted on twice.
    handled: HashSet<B256>,
    /// Plans alerted on while no route was open: said once, and dropped once a route opens.
    alerted: HashSet<B256>,
    deploy_drop_spells: bool,
    chief: ChiefWatch,
    /// Whether a Protego route was open at the last look.
    route_open: bool,
}

pub async fn run(cli: &crate::cli::Cli, args: &WatchArgs) -> Result<ExitCode> {
    if cli.global.safe.is_some() {
        return Err(super::session::InputError(
            "watch cancels from an account of its own, not from a Safe (anyone can cancel; no tokens are needed): \
             drop --safe"
                .into(),
        )
        .into());
    }
    let session = Session::open(cli).await?;
    let dry_run = cli.global.dry_run || session.signer.is_none();
    let mut watch = Watch {
        session,
        json: cli.global.json,
        dry_run,
        last: args.from_block.map(|b| b.saturating_sub(1)),
        handled: HashSet::new(),
        alerted: HashSet::new(),
        deploy_drop_spells: args.deploy_drop_spells,
        chief: ChiefWatch::new(args.margin),
        route_open: false,
    };
    let interval = Duration::from_secs_f64(args.interval.max(0.05));
    let mode = if dry_run {
        "alerting only (no signer, or --dry-run)"
    } else {
        "dropping plans as soon as a route opens"
    };
    // Subscribe before the first look, so a block mined in between still triggers one.
    let (mut feed, why_poll) = watch.subscribe().await;
    let source = feed.describe(interval);
    watch.log(
        "start",
        json!({ "mode": mode, "rpc": cli.global.rpc_url, "feed": feed.name(), "why_poll": why_poll }),
        &format!(
            "watching the pause and the chief, {mode}; {source}{}",
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

    fn event(&self, event: &chief::Event) {
        self.log(event.kind, event.fields.clone(), &event.text);
    }

    /// The snapshot, with the approvals of every rival followed so far.
    async fn prepare(&self, rivals: &[Address]) -> Result<Prepared> {
        let s = &self.session;
        let reads = Reads { user: s.from, fees: true, approvals_of: rivals.to_vec(), ..Reads::default() };
        prepare(&s.connection, &s.sources, s.cli.global.chain, &reads).await
    }

    async fn tick(&mut self, look: Look) -> Result<()> {
        let rivals = self.chief.rivals().to_vec();
        let prepared = self.prepare(&rivals).await?;
        let s = &prepared.snapshot;
        for event in self.chief.observe(s, &rivals) {
            self.event(&event);
        }
        let head: u64 = s.block.number.saturating_to();
        let from = self.last.map_or(head, |l| l + 1);
        let new = if from > head {
            Queue::default()
        } else {
            let (contracts, mut options) = history::scan_options(&prepared, from, 100_000, true);
            options.to_block = head;
            pause_log::queue(&self.session.connection, &contracts, s.now(), &options, &[]).await?
        };
        for plan in &new.plans {
            self.chief.follow(plan.plotted_by, format!("the spell that plotted {}", plan.id));
            for d in &plan.drop_spells {
                self.chief.follow(d.address, format!("the drop spell for {}", plan.id));
            }
        }
        let fresh: Vec<&QueuedPlan> =
            new.open().filter(|p| !self.handled.contains(&p.id) && !self.alerted.contains(&p.id)).collect();
        for plan in &fresh {
            self.plotted(plan, s.now(), look);
        }
        match s.cancel_route() {
            CancelRoute::Defender { .. } => {
                for plan in fresh {
                    if self.handled.contains(&plan.id) {
                        continue;
                    }
                    let queue = Queue { plans: vec![plan.clone()], read: new.read.clone() };
                    let result = actions::cancel::plan(s, &queue, &Targets::All);
                    self.act(&prepared, result, &[plan.id]).await?;
                }
            }
            CancelRoute::Protego | CancelRoute::DropSpell(_) if !self.route_open || !fresh.is_empty() => {
                self.drop_open(&prepared).await?;
            }
            CancelRoute::Protego | CancelRoute::DropSpell(_) => {}
            CancelRoute::Closed => {
                for plan in fresh {
                    if self.handled.contains(&plan.id) {
                        continue;
                    }
                    let reason = actions::cancel::no_route(s, &[plan]);
                    self.log(
                        "cannot",
                        json!({ "plan": plan.id, "reason": reason }),
                        &format!("cannot drop {} yet: {reason}", plan.id),
                    );
                    if s.at.protego.is_zero() {
                        // MIP91's world: nothing else will open a route for it.
                        self.handled.insert(plan.id);
                    } else if self.deploy_drop_spells {
                        self.deploy(&prepared, plan).await?;
                    } else {
                        self.alerted.insert(plan.id);
                    }
                }
            }
        }
        self.route_open = !matches!(s.cancel_route(), CancelRoute::Closed | CancelRoute::Defender { .. });
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

    /// A route through Protego is open: every open plan not yet handled, read from the whole
    /// history (through the cache), in one transaction.
    async fn drop_open(&mut self, prepared: &Prepared) -> Result<()> {
        let s = &prepared.snapshot;
        let hat = match s.cancel_route() {
            CancelRoute::DropSpell(spell) => vec![spell],
            _ => Vec::new(),
        };
        let args = history::HistoryArgs { from_block: None, chunk: 100_000 };
        let no_cache = self.session.cli.global.no_cache;
        let queue = history::read(&self.session.connection, prepared, &args, no_cache, &hat).await?;
        let wanted: Vec<&QueuedPlan> = queue.open().filter(|p| !self.handled.contains(&p.id)).collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let ids: Vec<B256> = match s.cancel_route() {
            CancelRoute::DropSpell(spell) => {
                queue.plan_of_drop_spell(spell).map(|p| vec![p.id]).unwrap_or_default()
            }
            _ => wanted.iter().map(|p| p.id).collect(),
        };
        let result = actions::cancel::plan(s, &queue, &Targets::Named(wanted));
        self.act(prepared, result, &ids).await
    }

    /// Deploys a drop spell for `plan` unless it has one.
    async fn deploy(&mut self, prepared: &Prepared, plan: &QueuedPlan) -> Result<()> {
        self.alerted.insert(plan.id);
        if !plan.drop_spells.is_empty() {
            return Ok(());
        }
        let result = actions::drop_spell::plan(&prepared.snapshot, &[plan]);
        if self.dry_run {
            self.log(
                "alert",
                json!({ "plan": plan.id }),
                &format!("would deploy a drop spell for {} (dry run)", plan.id),
            );
            return Ok(());
        }
        match self.send(prepared, result).await {
            Ok(()) => {
                self.log(
                    "deploy",
                    json!({ "plan": plan.id, "ok": true }),
                    &format!("deployed a drop spell for {}", plan.id),
                );
                Ok(())
            }
            Err(e) if e.is::<PartlySent>() || e.is::<crate::pipeline::Refused>() => {
                self.log(
                    "deploy",
                    json!({ "plan": plan.id, "ok": false, "error": format!("{e:#}") }),
                    &format!("deploying a drop spell for {} failed: {e:#}", plan.id),
                );
                Ok(())
            }
            Err(e) => {
                self.alerted.remove(&plan.id);
                Err(e)
            }
        }
    }

    /// Sends `result` unattended: no terminal prompt (a device still asks on its own screen).
    async fn send(&self, prepared: &Prepared, result: PlanResult) -> Result<()> {
        let options =
            Options { dry_run: false, yes: true, burn: false, json: self.json, ..Options::default() };
        let pipeline = Pipeline {
            connection: &self.session.connection,
            sources: &self.session.sources,
            prepared,
            fees: &self.session.cli.fees,
            options: &options,
            safe: None,
        };
        let from = self.session.from.unwrap_or(Address::ZERO);
        pipeline.run(result, from, self.session.signer.as_ref()).await.map(|_| ())
    }

    /// Drops the plans `ids` with `result` (or says why not). An error leaves them unhandled,
    /// to retry next look, unless a transaction may have gone out.
    async fn act(&mut self, prepared: &Prepared, result: PlanResult, ids: &[B256]) -> Result<()> {
        let route = route_name(&prepared.snapshot);
        if let Err(refusal) = &result {
            for id in ids {
                self.handled.insert(*id);
                self.log(
                    "cannot",
                    json!({ "plan": id, "reason": refusal.to_string(), "route": route }),
                    &format!("cannot drop {id}: {refusal}"),
                );
            }
            return Ok(());
        }
        if self.dry_run {
            for id in ids {
                self.handled.insert(*id);
                self.log(
                    "alert",
                    json!({ "plan": id, "route": route }),
                    &format!("would drop {id} through {route} (dry run)"),
                );
            }
            return Ok(());
        }
        match self.send(prepared, result).await {
            Ok(()) => {
                for id in ids {
                    self.handled.insert(*id);
                    self.log(
                        "cancel",
                        json!({ "plan": id, "ok": true, "route": route }),
                        &format!("dropped {id} through {route}"),
                    );
                }
                Ok(())
            }
            Err(e) if e.is::<PartlySent>() || e.is::<crate::pipeline::Refused>() => {
                for id in ids {
                    self.handled.insert(*id);
                    self.log(
                        "cancel",
                        json!({ "plan": id, "ok": false, "error": format!("{e:#}"), "route": route }),
                        &format!("drop of {id} through {route} failed: {e:#}"),
                    );
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

fn route_name(s: &Snapshot) -> &'static str {
    match s.cancel_route() {
        CancelRoute::Defender { .. } => "the defender",
        CancelRoute::Protego => "Protego",
        CancelRoute::DropSpell(_) => "the hat's drop spell",
        CancelRoute::Closed => "no route",
    }
}
