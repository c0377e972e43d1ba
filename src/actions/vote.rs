//! vote: put weight on a spell (by default the defender's default spell) through the chief
//! directly, a VoteDelegate the signer runs, or a VoteProxy it controls.

use alloy::primitives::Address;

use super::{Call, Plan, PlanResult, Tokens, approval_if_needed, refuse};
use crate::chain::bindings::DSChief;
use crate::chain::bindings::overloads::{chiefVoteYaysCall, delegateVoteYaysCall, proxyVoteYaysCall};
use crate::chain::snapshot::Snapshot;
use crate::units::Amount;

/// Who casts the vote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Voter {
    /// The signer's own chief account, optionally locking more first.
    Chief { lock: Option<Amount>, approve_max: bool },
    /// A VoteDelegate contract; `delegate` is what its `delegate()` returned.
    Delegate { contract: Address, delegate: Address },
    /// A VoteProxy; `hot` and `cold` are its wallets.
    Proxy { contract: Address, hot: Address, cold: Address },
}

pub fn plan(s: &Snapshot, from: Address, spell: Address, voter: Voter) -> PlanResult {
    let t = Tokens(s);
    if spell == Address::ZERO {
        return refuse("no spell to vote for: this chain has no dss-defender; name one with --spell");
    }
    let yays = vec![spell];
    let mut calls = Vec::new();
    let mut warnings = Vec::new();
    let summary = match voter {
        Voter::Chief { lock, approve_max } => {
            if let Some(amount) = lock {
                let wad = t.resolve(amount, s.user.govBalance, "in your wallet")?;
                calls.extend(approval_if_needed(
                    s.at.chief,
                    "the chief",
                    s.user.govAllowanceChief,
                    wad,
                    approve_max,
                    &t,
                ));
                calls.push(Call::new(
                    format!("lock {} in the chief", t.fmt(wad)),
                    s.at.chief,
                    DSChief::lockCall { wad },
                ));
                warnings.push(
                    "the chief refuses to free in the block of a lock: you can free from the next block on"
                        .into(),
                );
            } else if s.user.chiefDeposits.is_zero() {
                return refuse(format!(
                    "you have no {} locked in the chief, so the vote would carry no weight: add --lock AMOUNT",
                    s.symbol()
                ));
            }
            if s.user.yays != yays {
                if !s.user.yays.is_empty() {
                    warnings.push(format!("this replaces your current chief vote for {:?}", s.user.yays));
                }
                calls.push(Call::new("vote for the spell", s.at.chief, chiefVoteYaysCall { yays }));
            }
            if calls.is_empty() {
                return refuse(format!("you already vote for {spell} with {}", t.fmt(s.user.chiefDeposits)));
            }
            format!("vote for {spell} through the chief")
        }
        Voter::Delegate { contract, delegate } => {
            if delegate != from {
                return refuse(format!(
                    "{contract} is the VoteDelegate of {delegate}, not of {from}: only its delegate can vote with it"
                ));
            }
            calls.push(Call::new("vote through your VoteDelegate", contract, delegateVoteYaysCall { yays }));
            warnings.push("this replaces the delegate contract's whole slate".into());
            format!("vote for {spell} through VoteDelegate {contract}")
        }
        Voter::Proxy { contract, hot, cold } => {
            if from != hot && from != cold {
                return refuse(format!(
                    "{from} is neither the hot ({hot}) nor the cold ({cold}) wallet of VoteProxy {contract}"
                ));
            }
            calls.push(Call::new("vote through your VoteProxy", contract, proxyVoteYaysCall { yays }));
            warnings.push("this replaces the proxy's whole slate".into());
            format!("vote for {spell} through VoteProxy {contract}")
        }
    };
    if spell == s.defender.spell && s.defender.spellDone {
        warnings.push("the default spell has already been cast: this vote changes nothing".into());
    }
    Ok(Plan { action: "vote", summary, calls, warnings, irreversible: false })
}
