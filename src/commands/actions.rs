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
use crate::actions::{self, esm::Source, vote::Ballot, vote::Voter};
use crate::chain::bindings::{VoteDelegate, VoteProxy};
use crate::chain::snapshot::Reads;
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
    /// Vote for Protego (MCD_PROTEGO) too: once it is the hat, anyone can drop any plan.
    #[arg(long)]
    pub protego: bool,
    /// Keep the addresses of your current slate and add these to it.
    #[arg(long, conflicts_with_all = ["delegate", "proxy"])]
    pub add: bool,
    /// Vote through this VoteDelegate contract (you must be its delegate).
    #[arg(long, value_name = "ADDRESS", conflicts_with = "proxy", value_parser = crate::chain::addresses::parse_address)]
    pub delegate: Option<Address>,
    /// Vote through this VoteProxy contract (you must be its hot or cold wallet).
    #[arg(long, value_name = "ADDRESS", value_parser = crate::chain::addresses::parse_address)]
    pub proxy: Option<Address>,
    /// An address to vote for (repeat for a slate; the chief takes up to maxYays, sorted for
    /// you) [default: the defender's default spell].
    #[arg(long, value_name = "ADDRESS", value_parser = crate::chain::addresses::parse_address)]
    pub spell: Vec<Address>,
    /// With --lock: approve an unlimited allowance to the chief.
    #[arg(long)]
    pub approve_max: bool,
}

#[derive(Debug, Args)]
pub struct LiftArgs {
    /// The spell to lift [default: the defender's default spell].
    #[arg(long, value_name = "ADDRESS", value_parser = crate::chain::addresses::parse_address, conflicts_with = "protego")]
    pub spell: Option<Address>,
    /// Lift Protego (MCD_PROTEGO).
    #[arg(long)]
    pub protego: bool,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// MKR to convert: an amount, or `all` of your wallet's MKR.
    #[arg(allow_hyphen_values = true)]
    pub amount: String,
    /// Approve the converter for any amount of MKR instead of exactly this one.
    #[arg(long)]
    pub approve_max: bool,
}

#[derive(Debug, Args)]
pub struct FreeArgs {
    /// How much: an amount, or `all` of what you have locked.
    #[arg(allow_hyphen_values = true)]
    pub amount: String,
    /// Free MKR from DSChief 1.2 beside the new Chief (MCD_ADM_LEGACY), approving its IOU
    /// when short.
    #[arg(long)]
    pub legacy_chief: bool,
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
    let mut extra = match (args.delegate, args.proxy) {
        (Some(contract), _) => vec![read(contract, VoteDelegate::delegateCall {})],
        (_, Some(contract)) => {
            vec![read(contract, VoteProxy::hotCall {}), read(contract, VoteProxy::coldCall {})]
        }
        _ => vec![],
    };
    let asked = extra.len();
    // Which named spells say Protego made them: a drop spell gets the Atlas warning on chain 1.
    extra.extend(args.spell.iter().map(|spell| read(*spell, EmergencyDropSpellLike::protegoCall {})));
    let prepared = session.prepare(extra).await?;
    let s = &prepared.snapshot;
    let mut ballot = Ballot { named: args.spell.clone(), keep_current: args.add, drop_spells: vec![] };
    for (spell, answer) in args.spell.iter().zip(&prepared.extra[asked..]) {
        let made_by = answer
            .as_ref()
            .ok()
            .and_then(|b| EmergencyDropSpellLike::protegoCall::abi_decode_returns(b).ok());
        if made_by.is_some_and(|p| p == s.at.protego && p != Address::ZERO) {
            ballot.drop_spells.push(*spell);
        }
    }
    if args.protego {
        if s.at.protego == Address::ZERO {
            return Err(InputError(
                "this chain has no Protego (MCD_PROTEGO): name spells with --spell".into(),
            )
            .into());
        }
        ballot.named.push(s.at.protego);
    }
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
    let plan = actions::vote::plan(s, prepared.chain_id, from, &ballot, voter);
    session.execute(&prepared, plan, false).await
}

pub async fn lift(cli: &Cli, args: &LiftArgs) -> Result<ExitCode> {
    let session = Session::open(cli).await?;
    // The spell's approvals come in the same batch; the defender's spell and Protego are
    // known only after the snapshot, so their approvals are in it.
    let approvals_of = args.spell.into_iter().collect();
    let prepared = session.prepare_with(Reads { approvals_of, ..Reads::default() }).await?;
    let s = &prepared.snapshot;
    let (spell, approvals) = match (args.spell, args.protego) {
        (Some(spell), _) => (spell, s.approvals.first().copied().unwrap_or_default()),
        (None, true) => {
            if s.at.protego == Address::ZERO {
                return Err(InputError("this chain has no Protego (MCD_PROTEGO)".into()).into());
            }
            (s.at.protego, s.gov.protegoApprovals)
        }
        (None, false) => (s.defender.spell, s.defender.spellApprovals),
    };
    if spell == Address::ZERO {
        return Err(
            InputError("no default spell on this chain: name one with --spell or --protego".into()).into()
        );
    }
    session.execute(&prepared, actions::lift::plan(s, spell, approvals), false).await
}

pub async fn free(cli: &Cli, args: &FreeArgs) -> Result<ExitCode> {
    let session = Session::open(cli).await?;
    let prepared = session.prepare_with(Reads { pending: true, ..Reads::default() }).await?;
    let s = &prepared.snapshot;
    let (amount, from) = if args.legacy_chief {
        (session.mkr_amount(&args.amount)?, actions::free::From::Legacy)
    } else {
        (session.amount(&args.amount, &prepared)?, actions::free::From::Current)
    };
    let pending_last =
        prepared.pending.as_ref().filter(|_| s.is_sky()).map(|p| p.gov.last.saturating_to::<u64>());
    let plan = actions::free::plan(s, amount, from, pending_last);
    session.execute(&prepared, plan, false).await
}

alloy::sol! {
    /// The getters these commands read before the snapshot says what the contracts are.
    interface EmergencyDropSpellLike {
        function protego() external view returns (address);
    }
}

pub async fn convert(cli: &Cli, args: &ConvertArgs) -> Result<ExitCode> {
    let session = Session::open(cli).await?;
    let from = session.require_from()?;
    let prepared = session.prepare(vec![]).await?;
    let amount = session.mkr_amount(&args.amount)?;
    let plan = actions::convert::plan(&prepared.snapshot, from, amount, args.approve_max);
    session.execute(&prepared, plan, false).await
}
