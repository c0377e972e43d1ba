//! `defender cancel`: drop queued plans through the route the chain has open.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::history::{self, PlanTargets};
use super::session::Session;
use crate::actions::cancel::{self, Targets};
use crate::chain::governance::CancelRoute;

#[derive(Debug, Args)]
pub struct CancelArgs {
    #[command(flatten)]
    pub plans: PlanTargets,
}

pub async fn run(cli: &crate::cli::Cli, args: &CancelArgs) -> Result<ExitCode> {
    let (targets, plans) = (args.plans.parsed()?, &args.plans);
    let session = Session::open(cli).await?;
    let prepared = session.prepare(Vec::new()).await?;
    let s = &prepared.snapshot;
    // The hat's own plan, when the hat is a drop spell deployed before --from-block.
    let hat = match s.cancel_route() {
        CancelRoute::DropSpell(spell) => vec![spell],
        _ => Vec::new(),
    };
    let queue =
        history::read(&session.connection, &prepared, &plans.history, cli.global.no_cache, &hat).await?;
    let plan = if plans.all {
        cancel::plan(s, &queue, &Targets::All)
    } else {
        cancel::plan(s, &queue, &Targets::Named(history::plans_named(&queue, &targets)?))
    };
    session.execute(&prepared, plan, false).await
}
