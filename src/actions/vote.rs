//! vote: put weight on a slate (by default the defender's default spell; on the Sky layout
//! Protego, drop spells or any spell) through the chief directly, a VoteDelegate the signer
//! runs, or a VoteProxy it controls.

use alloy::primitives::{Address, U256};

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

/// What to vote for, as the user named it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ballot {
    /// `--spell` addresses, in the order given (and Protego's with `--protego`).
    pub named: Vec<Address>,
    /// `--add`: keep the addresses of the current slate.
    pub keep_current: bool,
    /// Those of `named` that say Protego made them (EmergencyDropSpells), for the Atlas warning.
    pub drop_spells: Vec<Address>,
}

/// The mainnet rule on drop spells and Protego (shared/spec/sky-governance.md, Atlas A.1.10.5.3).
pub const ATLAS_WARNING: &str = "Sky Atlas A.1.10.5.3: a drop spell (or Protego) is to be used on the Core \
     Facilitator's decision after validation by two Core GovOps representatives; Aligned Delegates who vote \
     for an unvalidated one are \"severely misaligned\"";

/// The chief's slate for `ballot`: strictly ascending (the chief's rule), at most `maxYays`.
/// A duplicate the user typed is refused rather than silently dropped: it is likely a
/// pasted address where another was meant.
pub fn slate(s: &Snapshot, ballot: &Ballot) -> Result<(Vec<Address>, Vec<String>), super::Refusal> {
    let mut notes = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for address in &ballot.named {
        if !seen.insert(*address) {
            return refuse(format!("{address} is named twice: name each address once"));
        }
    }
    if ballot.named.windows(2).any(|w| w[0] > w[1]) {
        notes.push("the addresses are sorted ascending, as the chief requires".to_owned());
    }
    if ballot.keep_current {
        seen.extend(s.user.yays.iter().copied());
    }
    let yays: Vec<Address> = seen.into_iter().collect();
    let max = s.gov.maxYays.saturating_to::<usize>();
    if max > 0 && yays.len() > max {
        return refuse(format!(
            "the chief takes at most {max} addresses per slate; this one has {}: vote for fewer",
            yays.len()
        ));
    }
    Ok((yays, notes))
}

pub fn plan(s: &Snapshot, chain_id: u64, from: Address, ballot: &Ballot, voter: Voter) -> PlanResult {
    let t = Tokens::voting(s);
    let mut ballot = ballot.clone();
    if ballot.named.is_empty() && !ballot.keep_current {
        if s.defender.spell == Address::ZERO {
            return refuse(
                "no spell to vote for: this chain has no dss-defender; name one with --spell ADDRESS or --protego",
            );
        }
        ballot.named.push(s.defender.spell);
    }
    let (yays, mut warnings) = slate(s, &ballot)?;
    let shown = |list: &[Address]| {
        let names: Vec<String> = list.iter().map(|a| label(s, *a)).collect();
        if names.is_empty() { "nobody".to_owned() } else { names.join(", ") }
    };
    let mut calls = Vec::new();
    let summary = match voter {
        Voter::Chief { lock, approve_max } => {
            let mut weight = s.user.chiefDeposits;
            if let Some(amount) = lock {
                let wad = t.resolve(amount, s.user.govBalance, "in your wallet")?;
                weight += wad;
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
                warnings.push(if s.is_sky() {
                    "the new Chief refuses any free in the block of a lift (anyone's): free from a later block"
                        .into()
                } else {
                    "the chief refuses to free in the block of a lock: you can free from the next block on".into()
                });
            } else if s.user.chiefDeposits.is_zero() {
                return refuse(format!(
                    "you have no {} locked in the chief, so the vote would carry no weight: add --lock AMOUNT",
                    s.symbol()
                ));
            }
            if s.user.yays != yays {
                if !s.user.yays.is_empty() {
                    warnings.push(moved(&t, &s.user.yays, &yays, s.user.chiefDeposits, weight, &shown));
                }
                calls.push(Call::new(
                    format!("vote for {}", shown(&yays)),
                    s.at.chief,
                    chiefVoteYaysCall { yays: yays.clone() },
                ));
            } else if !s.user.yays.is_empty() && weight > s.user.chiefDeposits {
                warnings.push(format!(
                    "your slate stays {}; it gains {}",
                    shown(&yays),
                    t.fmt(weight - s.user.chiefDeposits)
                ));
            }
            if calls.is_empty() {
                return refuse(format!(
                    "you already vote for {} with {}",
                    shown(&yays),
                    t.fmt(s.user.chiefDeposits)
                ));
            }
            format!("vote for {} through the chief", shown(&yays))
        }
        Voter::Delegate { contract, delegate } => {
            if delegate != from {
                return refuse(format!(
                    "{contract} is the VoteDelegate of {delegate}, not of {from}: only its delegate can vote with it"
                ));
            }
            calls.push(Call::new(
                "vote through your VoteDelegate",
                contract,
                delegateVoteYaysCall { yays: yays.clone() },
            ));
            warnings.push("this replaces the delegate contract's whole slate".into());
            format!("vote for {} through VoteDelegate {contract}", shown(&yays))
        }
        Voter::Proxy { contract, hot, cold } => {
            if from != hot && from != cold {
                return refuse(format!(
                    "{from} is neither the hot ({hot}) nor the cold ({cold}) wallet of VoteProxy {contract}"
                ));
            }
            calls.push(Call::new(
                "vote through your VoteProxy",
                contract,
                proxyVoteYaysCall { yays: yays.clone() },
            ));
            warnings.push("this replaces the proxy's whole slate".into());
            format!("vote for {} through VoteProxy {contract}", shown(&yays))
        }
    };
    if yays.contains(&s.defender.spell) && s.defender.spell != Address::ZERO && s.defender.spellDone {
        warnings.push("the default spell has already been cast: this vote changes nothing".into());
    }
    let protego = s.at.protego;
    let for_a_drop =
        yays.iter().any(|a| (protego != Address::ZERO && *a == protego) || ballot.drop_spells.contains(a));
    if chain_id == 1 && for_a_drop {
        warnings.push(ATLAS_WARNING.into());
    }
    Ok(Plan { action: "vote", summary, calls, warnings, irreversible: false })
}

/// "this replaces your slate A, B: A and B lose 10 SKY, C gains 15 SKY".
fn moved(
    t: &Tokens,
    old: &[Address],
    new: &[Address],
    old_weight: U256,
    new_weight: U256,
    shown: &dyn Fn(&[Address]) -> String,
) -> String {
    let mut parts = Vec::new();
    let lose: Vec<Address> = old.iter().filter(|a| !new.contains(a)).copied().collect();
    let gain: Vec<Address> = new.iter().filter(|a| !old.contains(a)).copied().collect();
    if !lose.is_empty() && !old_weight.is_zero() {
        parts.push(format!(
            "{} lose{} {}",
            shown(&lose),
            if lose.len() == 1 { "s" } else { "" },
            t.fmt(old_weight)
        ));
    }
    if !gain.is_empty() && !new_weight.is_zero() {
        parts.push(format!(
            "{} gain{} {}",
            shown(&gain),
            if gain.len() == 1 { "s" } else { "" },
            t.fmt(new_weight)
        ));
    }
    format!("this vote replaces your whole slate ({}): {}", shown(old), parts.join(", "))
}

/// An address with the name the chain gives it, where it has one.
fn label(s: &Snapshot, address: Address) -> String {
    if address != Address::ZERO && address == s.at.protego {
        format!("Protego {address}")
    } else if address != Address::ZERO && address == s.defender.spell {
        format!("the default spell {address}")
    } else {
        address.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sky() -> Snapshot {
        let mut s = Snapshot::default();
        s.gov.chiefKind = U256::from(2);
        s.gov.maxYays = U256::from(5);
        s
    }

    #[test]
    fn slates_are_sorted_and_capped() {
        let s = sky();
        let (a, b) = (Address::repeat_byte(0x22), Address::repeat_byte(0x11));
        let (yays, notes) = slate(&s, &Ballot { named: vec![a, b], ..Ballot::default() }).unwrap();
        assert_eq!(yays, vec![b, a]);
        assert!(notes[0].contains("sorted"));
        let twice = slate(&s, &Ballot { named: vec![a, a], ..Ballot::default() }).unwrap_err();
        assert!(twice.0.contains("named twice"), "{twice}");
        let six: Vec<Address> = (1..=6).map(Address::repeat_byte).collect();
        let many = slate(&s, &Ballot { named: six, ..Ballot::default() }).unwrap_err();
        assert!(many.0.contains("at most 5"), "{many}");
    }

    #[test]
    fn a_vote_for_protego_on_mainnet_carries_the_atlas_rule_without_refusing() {
        let mut s = sky();
        s.at.protego = Address::repeat_byte(0x70);
        s.user.chiefDeposits = U256::from(5);
        let ballot = Ballot { named: vec![s.at.protego], ..Ballot::default() };
        let voter = || Voter::Chief { lock: None, approve_max: false };
        let mainnet = plan(&s, 1, Address::ZERO, &ballot, voter()).unwrap();
        assert!(mainnet.warnings.iter().any(|w| w.contains("A.1.10.5.3")), "{:?}", mainnet.warnings);
        let devnet = plan(&s, 31337, Address::ZERO, &ballot, voter()).unwrap();
        assert!(!devnet.warnings.iter().any(|w| w.contains("A.1.10.5.3")));
        let spell = Address::repeat_byte(0x05);
        let drop_spell = Ballot { named: vec![spell], drop_spells: vec![spell], ..Ballot::default() };
        let warned = plan(&s, 1, Address::ZERO, &drop_spell, voter()).unwrap();
        assert!(warned.warnings.iter().any(|w| w.contains("Core GovOps")));
    }

    #[test]
    fn add_keeps_the_current_slate() {
        let mut s = sky();
        let (old, new) = (Address::repeat_byte(0x33), Address::repeat_byte(0x11));
        s.user.yays = vec![old];
        let ballot = Ballot { named: vec![new], keep_current: true, ..Ballot::default() };
        assert_eq!(slate(&s, &ballot).unwrap().0, vec![new, old]);
    }
}
