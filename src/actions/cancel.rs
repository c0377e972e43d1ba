//! cancel: drop queued plans through whichever route the chain has open (chain/governance.rs
//! says which): the live dss-defender while it is canceling (MIP91c2, one transaction per
//! plan so one failure spares the others), Protego while it is the hat (one `drop(Plan[])`),
//! or the hat's own drop spell (`schedule()`, which drops its one plan at once).
//!
//! Every plan's fields are the ones its plot's LogNote gave (chain/pause_log), and only
//! plans `plans(id)` still calls queued are sent: Protego emits `Drop` even for a plan that is
//! already gone, so a drop that changes nothing would look like success.

use alloy::primitives::{Address, U256};

use super::{Call, Plan, PlanResult, Tokens, date, refuse};
use crate::chain::bindings::{DssDefender, DssExec};
use crate::chain::bindings::{Protego, overloads::protegoDropPlansCall};
use crate::chain::governance::{CancelRoute, LiftWindow};
use crate::chain::pause_log::{Queue, QueuedPlan};
use crate::chain::snapshot::Snapshot;
use crate::units::format_duration;

/// Which plans the user asked to cancel.
pub enum Targets<'a> {
    /// Every open plan, except the defender's own default spell.
    All,
    /// These plans, as the queue knows them.
    Named(Vec<&'a QueuedPlan>),
}

/// Why no route is open, with the shortest way to open one: Protego's or a plan's drop spell
/// where there is a Protego, else why the defender cannot cancel (MIP91's world).
pub fn no_route(s: &Snapshot, wanted: &[&QueuedPlan]) -> String {
    if s.at.protego != Address::ZERO {
        return closed(s, wanted);
    }
    let d = &s.defender;
    if !s.has_defender() {
        "there is no dss-defender on this chain (MCD_DEFENDER)".into()
    } else if d.live != U256::from(1) {
        "the defender instance is caged: it can no longer cancel".into()
    } else if d.activatedAt.is_zero() {
        let tokens = Tokens::voting(s);
        format!(
            "the defender is not activated: it holds {} of the {} threshold; deposit to activate it",
            tokens.fmt(d.total),
            tokens.fmt(d.threshold)
        )
    } else {
        format!("the defender's cancel window ended at {}", date(s.canceling_until().unwrap_or_default()))
    }
}

/// The plan: the open plans among `targets`, through the route that is open.
pub fn plan(s: &Snapshot, queue: &Queue, targets: &Targets) -> PlanResult {
    let (wanted, gone): (Vec<&QueuedPlan>, Vec<&QueuedPlan>) = match targets {
        Targets::All => (
            queue.open().filter(|p| !(s.has_defender() && p.plotted_by == s.defender.spell)).collect(),
            Vec::new(),
        ),
        Targets::Named(plans) => plans.iter().partition(|p| p.state.is_open()),
    };
    let gone_note = (!gone.is_empty()).then(|| {
        format!(
            "no longer queued in DSPause, so not sent (already dropped or executed): {}",
            ids(gone.iter().copied())
        )
    });
    if wanted.is_empty() {
        return refuse(match gone_note {
            Some(note) => format!("nothing to cancel: every plan named is {note}"),
            None => "nothing to cancel: no plan is queued in DSPause".into(),
        });
    }
    let mut plan = match s.cancel_route() {
        CancelRoute::Defender { until } => through_defender(s, &wanted, until),
        CancelRoute::Protego => through_protego(s, &wanted),
        CancelRoute::DropSpell(spell) => through_drop_spell(s, queue, spell, &wanted)?,
        CancelRoute::Closed => return refuse(no_route(s, &wanted)),
    };
    plan.warnings.extend(gone_note);
    Ok(plan)
}

fn ids<'a>(plans: impl Iterator<Item = &'a QueuedPlan>) -> String {
    plans.map(|p| p.id.to_string()).collect::<Vec<_>>().join(", ")
}

fn due(s: &Snapshot, plan: &QueuedPlan) -> String {
    let eta: u64 = plan.key.eta.saturating_to();
    if eta > s.now() { format!("due in {}", format_duration(eta - s.now())) } else { "EXECUTABLE NOW".into() }
}

fn through_defender(s: &Snapshot, wanted: &[&QueuedPlan], until: u64) -> Plan {
    let calls: Vec<Call> = wanted
        .iter()
        .map(|p| {
            let k = &p.key;
            Call::new(
                format!("cancel plan {} ({})", p.id, due(s, p)),
                s.at.defender,
                DssDefender::cancelCall { usr: k.usr, tag: k.tag, fax: k.fax.clone(), eta: k.eta },
            )
        })
        .collect();
    Plan {
        action: "cancel",
        summary: format!(
            "cancel {} queued plan{} through the defender",
            calls.len(),
            if calls.len() == 1 { "" } else { "s" }
        ),
        warnings: vec![format!(
            "the defender can cancel until {} ({} left); new plots after that cannot be cancelled by this instance",
            date(until),
            format_duration(until.saturating_sub(s.now()))
        )],
        calls,
        irreversible: false,
    }
}

/// Protego is the hat: one `drop(Plan[])` for every plan.
fn through_protego(s: &Snapshot, wanted: &[&QueuedPlan]) -> Plan {
    let plans: Vec<Protego::Plan> = wanted
        .iter()
        .map(|p| Protego::Plan { usr: p.key.usr, tag: p.key.tag, fax: p.key.fax.clone(), eta: p.key.eta })
        .collect();
    let count = plans.len();
    let plural = if count == 1 { "" } else { "s" };
    let soonest = wanted.iter().min_by_key(|p| p.key.eta).map(|p| due(s, p)).unwrap_or_default();
    Plan {
        action: "cancel",
        summary: format!(
            "drop {count} queued plan{plural} through Protego (it is the hat; the first {soonest})"
        ),
        calls: vec![Call::new(
            format!("drop {count} plan{plural} through Protego: {}", ids(wanted.iter().copied())),
            s.at.protego,
            protegoDropPlansCall { plans },
        )],
        warnings: vec![
            "while Protego is the hat anyone can drop any plan, legitimate ones included; the attacker can \
             take the hat back once it out-votes Protego and the lift cooldown allows"
                .into(),
        ],
        irreversible: false,
    }
}

/// A drop spell is the hat: its `schedule()` drops its own plan, and only that one.
fn through_drop_spell(s: &Snapshot, queue: &Queue, hat: Address, wanted: &[&QueuedPlan]) -> PlanResult {
    let Some(own) = queue.plan_of_drop_spell(hat) else {
        return refuse(format!(
            "the hat {hat} names Protego but drops no plan plotted in DSPause since block {}: {}",
            queue.read.from_block,
            closed(s, wanted)
        ));
    };
    if !own.state.is_open() {
        return refuse(format!(
            "the hat is the drop spell for plan {}, which is already gone; it can drop nothing else: {}",
            own.id,
            closed(s, wanted)
        ));
    }
    if !wanted.iter().any(|p| p.id == own.id) {
        return refuse(format!(
            "the hat is the drop spell {hat} for plan {} only; it cannot drop {}: {}",
            own.id,
            ids(wanted.iter().copied()),
            closed(s, wanted)
        ));
    }
    let others: Vec<&QueuedPlan> = wanted.iter().copied().filter(|p| p.id != own.id).collect();
    let mut warnings = Vec::new();
    if !others.is_empty() {
        warnings.push(format!(
            "not dropped by this transaction: {}; the hat's drop spell drops only its own plan. \
             `defender drop-spell` then a vote and a lift for each, or `defender vote --protego` and \
             `defender lift --protego` for all of them at once",
            ids(others.iter().copied())
        ));
    }
    Ok(Plan {
        action: "cancel",
        summary: format!(
            "drop plan {} through its drop spell {hat} (it is the hat; {})",
            own.id,
            due(s, own)
        ),
        calls: vec![Call::new(
            format!("schedule() the drop spell: drops plan {} at once", own.id),
            hat,
            DssExec::scheduleCall {},
        )],
        warnings,
        irreversible: false,
    })
}

/// No route is open: the shortest way to open one, with the commands to type.
fn closed(s: &Snapshot, wanted: &[&QueuedPlan]) -> String {
    let t = Tokens::voting(s);
    let short = |approvals: U256| super::lock_to_outvote(s, approvals);
    let from = match s.lift_window() {
        LiftWindow::From(block) => format!(" from block {block}"),
        _ => String::new(),
    };
    let why = if s.has_defender() { "the defender is not canceling" } else { "there is no dss-defender" };
    // Already ahead, only the lift is missing; otherwise the votes first.
    let open_with = |approvals: U256, vote: String, lift: String| {
        if approvals > s.gov.hatApprovals {
            format!("`{lift}`{from}")
        } else {
            format!("`{vote} --lock {}`, then `{lift}`{from}", short(approvals))
        }
    };
    let relation = |approvals: U256| if approvals > s.gov.hatApprovals { "more than" } else { "of" };
    let mut text = format!(
        "no route to drop plans is open: {why}, and Protego has {} {} the hat's {}: {}",
        t.fmt(s.gov.protegoApprovals),
        relation(s.gov.protegoApprovals),
        t.fmt(s.gov.hatApprovals),
        open_with(s.gov.protegoApprovals, "defender vote --protego".into(), "defender lift --protego".into())
    );
    // A single plan's drop spell may be closer to the hat than Protego.
    let best = wanted
        .iter()
        .flat_map(|p| p.drop_spells.iter().map(move |d| (p, d)))
        .max_by_key(|(_, d)| d.approvals);
    match best {
        Some((plan, spell)) if spell.approvals > s.gov.protegoApprovals => text.push_str(&format!(
            "; or, closer: the drop spell {} for plan {} has {}: {}, then `defender cancel {}`",
            spell.address,
            plan.id,
            t.fmt(spell.approvals),
            open_with(
                spell.approvals,
                format!("defender vote --spell {}", spell.address),
                format!("defender lift --spell {}", spell.address)
            ),
            plan.id
        )),
        Some(_) => {}
        None if !wanted.is_empty() => text.push_str(
            "; or plan by plan: `defender drop-spell --all`, then a vote and a lift for each drop spell",
        ),
        None => {}
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sky(hat: u64, protego: u64) -> Snapshot {
        let mut s = Snapshot::default();
        s.gov.chiefKind = U256::from(2);
        s.gov.decimals = U256::from(18);
        s.gov.symbol = alloy::sol_types::SolValue::abi_encode(&"SKY".to_string()).into();
        s.gov.liftCooldown = U256::from(10);
        s.gov.last = U256::from(100);
        s.block.number = U256::from(104);
        s.gov.chiefLive = U256::from(1);
        s.at.protego = Address::repeat_byte(0x77);
        s.gov.hat = Address::repeat_byte(0xaa);
        s.gov.hatApprovals = U256::from(hat) * crate::units::WAD;
        s.gov.protegoApprovals = U256::from(protego) * crate::units::WAD;
        s
    }

    #[test]
    fn a_closed_route_says_the_shortest_way_in() {
        let behind = closed(&sky(9_000, 1_200), &[]);
        assert!(
            behind.contains(
                "`defender vote --protego --lock 7801`, then `defender lift --protego` from block 111"
            ),
            "{behind}"
        );
        // Protego already leads: only the lift is missing.
        let ahead = closed(&sky(4_800, 6_300), &[]);
        assert!(ahead.contains("more than the hat's"), "{ahead}");
        assert!(
            ahead.contains(": `defender lift --protego` from block 111") && !ahead.contains("--lock"),
            "{ahead}"
        );
    }
}
