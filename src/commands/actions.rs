//! The commands that send transactions: deposit, withdraw, esm, vote, lift.
//! Each parses its arguments, reads the chain once, plans, and hands over to the pipeline.

use std::process::ExitCode;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use anyhow::{Result, anyhow};
use clap::Args;

use super::session::{InputError, Session};
use crate::actions::{self, esm::Source, vote::Voter};
use crate::chain::bindings::{VoteDelegate, VoteProxy};
use crate::cli::Cli;

#[derive(Debug, Args)]
pub struct DepositArgs {
    /// How much: `1.5`, `50000`, or `all` of your wallet balance.
    #[arg(allow_hyphen_values = true)]
    pub amount: String,
    /// Approve an unlimited allowance instead of exactly the amount.
    #[arg(long)]
    pub approve_max: bool,
}

#[derive(Debug, Args)]
pub struct WithdrawArgs {
    /// How much: an amount, or `all` of your deposit.
    #[arg(allow_hyphen_values = true)]
    pub amount: String,
}

#[derive(Debug, Args)]
pub struct EsmArgs {
    /// An amount (or `all`) to put into the ESM, or `fire` to trigger emergency shutdown.
    #[arg(allow_hyphen_values = true)]
    pub amount: String,
    /// Join the ESM from the wallet (approve + join) instead of moving the defender deposit.
    #[arg(long)]
    pub direct: bool,
    /// With --direct: approve an unlimited allowance.
    #[arg(long, requires = "direct")]
    pub approve_max: bool,
    /// With --yes: confirm the burn without typing it.
    #[arg(long)]
    pub burn: bool,
}

#[derive(Debug, Args)]
pub struct VoteArgs {
    /// Lock this much more in the chief first (an amount, or `all` of your wallet).
    #[arg(long, value_name = "AMOUNT", conflicts_with_all = ["delegate", "proxy"])]
    pub lock: Option<String>,
    /// Vote through this VoteDelegate contract (you must be its delegate).
    #[arg(long, value_name = "ADDRESS", conflicts_with = "proxy", value_parser = crate::chain::addresses::parse_address)]
    pub delegate: Option<Address>,
    /// Vote through this VoteProxy contract (you must be its hot or cold wallet).
    #[arg(long, value_name = "ADDRESS", value_parser = crate::chain::addresses::parse_address)]
    pub proxy: Option<Address>,
    /// The spell to vote for [default: the defender's default spell].
    #[arg(long, value_name = "ADDRESS", value_parser = crate::chain::addresses::parse_address)]
    pub spell: Option<Address>,
    /// With --lock: approve an unlimited allowance to the chief.
    #[arg(long)]
    pub approve_max: bool,
}

#[derive(Debug, Args)]
pub struct LiftArgs {
    /// The spell to lift [default: the defender's default spell].
    #[arg(long, value_name = "ADDRESS", value_parser = crate::chain::addresses::parse_address)]
    pub spell: Option<Address>,
}

pub async fn deposit(cli: &Cli, args: &DepositArgs) -> Result<ExitCode> {
    let session = Session::open(cli).await?;
    let prepared = session.prepare(vec![]).await?;
    let amount = session.amount(&args.amount, &prepared)?;
    let plan = actions::deposit::plan(&prepared.snapshot, amount, args.approve_max);
    session.execute(&prepared, plan, false).await
}

pub async fn withdraw(cli: &Cli, args: &WithdrawArgs) -> Result<ExitCode> {
    let session = Session::open(cli).await?;
    let prepared = session.prepare(vec![]).await?;
    let amount = session.amount(&args.amount, &prepared)?;
    let plan = actions::withdraw::plan(&prepared.snapshot, amount);
    session.execute(&prepared, plan, false).await
}

pub async fn esm(cli: &Cli, args: &EsmArgs) -> Result<ExitCode> {
    let session = Session::open(cli).await?;
    let prepared = session.prepare(vec![]).await?;
    let plan = if args.amount.eq_ignore_ascii_case("fire") {
        actions::esm::plan_fire(&prepared.snapshot)
    } else {
        let amount = session.amount(&args.amount, &prepared)?;
        let source =
            if args.direct { Source::Wallet { approve_max: args.approve_max } } else { Source::Deposit };
        actions::esm::plan_join(&prepared.snapshot, amount, source)
    };
    session.execute(&prepared, plan, args.burn).await
}

fn read(to: Address, call: impl SolCall) -> TransactionRequest {
    TransactionRequest::default().with_to(to).with_input(call.abi_encode())
}

/// Decodes an extra read of `contract`; `what` says what the contract should have been.
fn answer<C: SolCall>(result: &Result<Bytes, String>, contract: Address, what: &str) -> Result<C::Return> {
    let bytes = result
        .as_ref()
        .map_err(|e| anyhow!("{contract} reverted on {}: is it {what}? ({e})", C::SIGNATURE))?;
    if bytes.is_empty() {
        return Err(InputError(format!(
            "there is no contract at {contract} on this chain: check the address"
        ))
        .into());
    }
    C::abi_decode_returns(bytes)
        .map_err(|_| InputError(format!("{contract} does not answer {} like {what}", C::SIGNATURE)).into())
}

pub async fn vote(cli: &Cli, args: &VoteArgs) -> Result<ExitCode> {
    let session = Session::open(cli).await?;
    let from = session.require_from()?;
    let extra = match (args.delegate, args.proxy) {
        (Some(contract), _) => vec![read(contract, VoteDelegate::delegateCall {})],
        (_, Some(contract)) => {
            vec![read(contract, VoteProxy::hotCall {}), read(contract, VoteProxy::coldCall {})]
        }
        _ => vec![],
    };
    let prepared = session.prepare(extra).await?;
    let spell = args.spell.unwrap_or(prepared.snapshot.defender.spell);
    let voter = match (args.delegate, args.proxy) {
        (Some(contract), _) => {
            let delegate =
                answer::<VoteDelegate::delegateCall>(&prepared.extra[0], contract, "a VoteDelegate")?;
            Voter::Delegate { contract, delegate }
        }
        (_, Some(contract)) => {
            let what = "a VoteProxy";
            Voter::Proxy {
                contract,
                hot: answer::<VoteProxy::hotCall>(&prepared.extra[0], contract, what)?,
                cold: answer::<VoteProxy::coldCall>(&prepared.extra[1], contract, what)?,
            }
        }
        _ => {
            let lock = match &args.lock {
                Some(text) => Some(session.amount(text, &prepared)?),
                None => None,
            };
            Voter::Chief { lock, approve_max: args.approve_max }
        }
    };
    let plan = actions::vote::plan(&prepared.snapshot, from, spell, voter);
    session.execute(&prepared, plan, false).await
}

pub async fn lift(cli: &Cli, args: &LiftArgs) -> Result<ExitCode> {
    let session = Session::open(cli).await?;
    let prepared = session.prepare(vec![]).await?;
    let s = &prepared.snapshot;
    // The snapshot knows the default spell's approvals; another spell is checked by the
    // simulation (lift reverts unless it leads).
    let (spell, approvals) = match args.spell {
        Some(spell) => (spell, None),
        None => (s.defender.spell, Some(s.defender.spellApprovals)),
    };
    if spell == Address::ZERO {
        return Err(InputError("no default spell on this chain: name one with --spell".into()).into());
    }
    session.execute(&prepared, actions::lift::plan(s, spell, approvals), false).await
}
