//! `defender cancel`: drop queued plans through the route the chain has open.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::history::{self, HistoryArgs, Target, parse_target};
use super::session::Session;
use crate::actions::cancel::{self, Targets};
use crate::chain::governance::CancelRoute;

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Plan ids (0x + 64 hex) or the spells that plotted them (0x + 40 hex).
    #[arg(value_name = "PLAN_ID|SPELL", required_unless_present = "all")]
    pub targets: Vec<String>,
    /// Every plan queued in DSPause (but the defender's own default spell).
    #[arg(long, conflicts_with = "targets")]
    pub all: bool,
    #[command(flatten)]
    pub history: HistoryArgs,
}

pub async fn run(cli: &crate::cli::Cli, args: &CancelArgs) -> Result<ExitCode> {
    let targets: Vec<Target> = args.targets.iter().map(|t| parse_target(t)).collect::<Result<_>>()?;
    let session = Session::open(cli).await?;
    let prepared = session.prepare(Vec::new()).await?;
    let s = &prepared.snapshot;
    // The hat's own plan, when the hat is a drop spell deployed before --from-block.
    let hat = match s.cancel_route() {
        CancelRoute::DropSpell(spell) => vec![spell],
        _ => Vec::new(),
    };
    let queue =
        history::read(&session.connection, &prepared, &args.history, cli.global.no_cache, &hat).await?;
    let plan = if args.all {
        cancel::plan(s, &queue, &Targets::All)
    } else {
        cancel::plan(s, &queue, &Targets::Named(history::plans_named(&queue, &targets)?))
    };
    session.execute(&prepared, plan, false).await
}
