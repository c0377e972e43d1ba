//! `defender nonce`: the account's nonces as the node sees them (mined, pending, the pooled
//! transactions and the gaps they wait behind), and `--unstick N` to take a nonce back.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::session::{InputError, Session};
use crate::chain::pool::{self, AccountNonces};
use crate::cli::Cli;
use crate::fees::{FeeArgs, replacement};
use crate::units::gwei;

#[derive(Debug, Args)]
pub struct NonceArgs {
    /// Take nonce N with a zero-value transfer to yourself: at a replacement fee over the
    /// transaction that holds it (signed like any action), or filling it when it is a gap.
    #[arg(long, value_name = "N")]
    pub unstick: Option<u64>,
}

pub async fn run(cli: &Cli, args: &NonceArgs) -> Result<ExitCode> {
    if cli.global.safe.is_some() {
        return Err(InputError(
            "a Safe's nonce is its own, not an account's: `defender accounts --safe ADDRESS` shows it".into(),
        )
        .into());
    }
    let session = Session::open(cli).await?;
    let from = session.require_from()?;
    let nonces = pool::read(&session.connection, from).await?;
    let Some(nonce) = args.unstick else {
        report(&nonces, cli.global.json);
        return Ok(ExitCode::SUCCESS);
    };
    let mut prepared = session.prepare(Vec::new()).await?;
    prepared.nonce = Some(nonce);
    let plan = crate::actions::unstick::plan(&nonces, nonce);
    // A replacement must outbid the transaction it replaces; the user's own fee flags win only
    // where they bid at least as much.
    let market = cli.fees.resolve(prepared.market);
    let fees = match nonces.at(nonce) {
        Some(held) => replacement(
            held.max_fee_per_gas,
            held.max_priority_fee_per_gas.unwrap_or(held.max_fee_per_gas),
            market,
        ),
        None => market,
    };
    let bid = FeeArgs {
        priority_fee: Some(fees.max_priority_fee_per_gas),
        max_fee: Some(fees.max_fee_per_gas),
        ..cli.fees.clone()
    };
    session.execute_with_fees(&prepared, plan, &bid).await
}

fn report(n: &AccountNonces, json: bool) {
    let gaps = n.gaps();
    if json {
        println!("{}", json!({ "nonces": n, "gaps": gaps }));
        return;
    }
    println!(
        "{}: {} transaction(s) mined (next nonce {}), pending count {}",
        n.address, n.latest, n.latest, n.pending
    );
    let Some(pool) = &n.pool else {
        println!("  the node does not show its pool (no txpool_contentFrom or txpool_content)");
        if n.pending > n.latest {
            println!(
                "  {} transaction(s) wait in it: nonces {} to {}",
                n.pending - n.latest,
                n.latest,
                n.pending - 1
            );
        }
        return;
    };
    if pool.is_empty() {
        println!("  nothing of this account waits in the node's pool");
    }
    for t in pool {
        let tip = t.max_priority_fee_per_gas.map(|tip| format!(", tip {}", gwei(tip))).unwrap_or_default();
        let to = t.to.map(|to| format!(" to {to}")).unwrap_or_default();
        let state = if t.queued { "queued: waits for an earlier nonce" } else { "ready" };
        println!("  nonce {}  {}{to}  max fee {}{tip}  {state}", t.nonce, t.hash, gwei(t.max_fee_per_gas));
    }
    for gap in gaps {
        println!(
            "  nonce {gap} is missing: the transactions after it cannot be mined; fill it with `defender nonce --unstick {gap}`"
        );
    }
}
