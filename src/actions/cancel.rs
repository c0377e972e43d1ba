//! cancel: drop queued plans through the defender while it is canceling (MIP91c2).
//! Anyone may do it; every plan is its own transaction, so one failure spares the others.

use alloy::primitives::{Address, U256};

use super::{Call, Plan, PlanResult, date, refuse};
use crate::chain::bindings::DssDefender;
use crate::chain::bindings::{Protego, overloads::protegoDropPlansCall};
use crate::chain::governance::{CancelRoute, LiftWindow};
use crate::chain::pause_log::{PlanKey, PlanState, QueuedPlan};
use crate::chain::snapshot::Snapshot;
use crate::units::format_duration;

/// Why the defender cannot cancel right now, if it cannot.
pub fn not_canceling(s: &Snapshot) -> Option<String> {
    let d = &s.defender;
    if s.cancel_route() == CancelRoute::Protego {
        return None;
    }
    if !s.has_defender() {
        if s.at.protego != Address::ZERO {
            return Some(open_protego(s));
        }
        return Some("there is no dss-defender on this chain (MCD_DEFENDER)".into());
    }
    if d.canceling {
        return None;
    }
    Some(if d.live != U256::from(1) {
        "the defender instance is caged: it can no longer cancel".into()
    } else if d.activatedAt.is_zero() {
        let tokens = super::Tokens::voting(s);
        format!(
            "the defender is not activated: it holds {} of the {} threshold; deposit to activate it",
            tokens.fmt(d.total),
            tokens.fmt(d.threshold)
        )
    } else {
        format!("the defender's cancel window ended at {}", date(s.canceling_until().unwrap_or_default()))
    })
}

/// The shortest way to open Protego's route, with the commands.
pub fn open_protego(s: &Snapshot) -> String {
    let t = super::Tokens::voting(s);
    if let CancelRoute::DropSpell(spell) = s.cancel_route() {
        return format!(
            "the drop spell {spell} is the hat: its schedule() drops its own plan; dropping through drop \
             spells is not in this defender yet, and `defender vote --protego` then `defender lift --protego` \
             opens the route for every plan"
        );
    }
    // Whole tokens, rounded up, so the command can be typed as it stands.
    let unit = U256::from(10).pow(U256::from(t.decimals));
    let short =
        (s.gov.hatApprovals + U256::from(1)).saturating_sub(s.gov.protegoApprovals).div_ceil(unit) * unit;
    let from = match s.lift_window() {
        LiftWindow::From(block) => format!(" from block {block}"),
        _ => String::new(),
    };
    format!(
        "no route to drop plans is open: there is no dss-defender, and Protego has {} of the hat's {}: \
         `defender vote --protego --lock {}`, then `defender lift --protego`{from}",
        t.fmt(s.gov.protegoApprovals),
        t.fmt(s.gov.hatApprovals),
        crate::units::format_token(short, t.decimals)
    )
}

/// Plans named by the user: every one must still be queued.
pub fn plan_named(s: &Snapshot, targets: &[PlanKey], queued: &[bool]) -> PlanResult {
    if let Some(reason) = not_canceling(s) {
        return refuse(reason);
    }
    if let Some(i) = queued.iter().position(|q| !q) {
        return refuse(format!(
            "plan {} is not queued in DSPause (already dropped or executed, or never plotted)",
            targets[i].id()
        ));
    }
    Ok(build(s, targets.iter()))
}

/// Every open plan of the queue, except the defender's own default spell.
pub fn plan_all(s: &Snapshot, queue: &[QueuedPlan]) -> PlanResult {
    if let Some(reason) = not_canceling(s) {
        return refuse(reason);
    }
    let open: Vec<&QueuedPlan> = queue
        .iter()
        .filter(|p| matches!(p.state, PlanState::Pending | PlanState::Executable))
        .filter(|p| p.plotted_by != s.defender.spell)
        .collect();
    if open.is_empty() {
        return refuse("nothing to cancel: no plan is queued in DSPause");
    }
    Ok(build(s, open.iter().map(|p| &p.key)))
}

fn build<'a>(s: &Snapshot, keys: impl Iterator<Item = &'a PlanKey>) -> Plan {
    if s.cancel_route() == CancelRoute::Protego {
        return through_protego(s, keys.collect());
    }
    let calls: Vec<Call> = keys
        .map(|k| {
            let eta: u64 = k.eta.saturating_to();
            let when = if eta > s.now() {
                format!("due in {}", format_duration(eta - s.now()))
            } else {
                "EXECUTABLE NOW".into()
            };
            Call::new(
                format!("cancel plan {} ({when})", k.id()),
                s.at.defender,
                DssDefender::cancelCall { usr: k.usr, tag: k.tag, fax: k.fax.clone(), eta: k.eta },
            )
        })
        .collect();
    let until = s.canceling_until().unwrap_or_default();
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

/// Protego is the hat: one `drop(Plan[])` for every plan, their fields as the pause's plot
/// LogNotes gave them.
fn through_protego(s: &Snapshot, keys: Vec<&PlanKey>) -> Plan {
    let plans: Vec<Protego::Plan> = keys
        .iter()
        .map(|k| Protego::Plan { usr: k.usr, tag: k.tag, fax: k.fax.clone(), eta: k.eta })
        .collect();
    let ids: Vec<String> = keys.iter().map(|k| k.id().to_string()).collect();
    let count = plans.len();
    let plural = if count == 1 { "" } else { "s" };
    Plan {
        action: "cancel",
        summary: format!("drop {count} queued plan{plural} through Protego (it is the hat)"),
        calls: vec![Call::new(
            format!("drop {count} plan{plural} through Protego: {}", ids.join(", ")),
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
