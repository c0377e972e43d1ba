//! drop-spell: the targeted route of Protego. `deploy(usr, tag, fax, eta)` makes an
//! EmergencyDropSpell for exactly one plan; voters lift it, and its `schedule()` drops that
//! plan alone. A plan that already has one gets no second: voters must gather behind one
//! address, and the report gives it for `vote --spell`.

use super::{Call, Plan, PlanResult, refuse};
use crate::chain::bindings::Protego;
use crate::chain::pause_log::QueuedPlan;
use crate::chain::snapshot::Snapshot;
use crate::units::format_duration;

/// One `deploy` per open plan that has no drop spell yet.
pub fn plan(s: &Snapshot, wanted: &[&QueuedPlan]) -> PlanResult {
    if s.at.protego.is_zero() {
        return refuse(
            "there is no Protego on this chain (chainlog MCD_PROTEGO): drop spells come from Protego",
        );
    }
    let gone: Vec<String> = wanted.iter().filter(|p| !p.state.is_open()).map(|p| p.id.to_string()).collect();
    let open: Vec<&&QueuedPlan> = wanted.iter().filter(|p| p.state.is_open()).collect();
    if open.is_empty() {
        return refuse(if gone.is_empty() {
            "nothing to do: no plan is queued in DSPause".to_owned()
        } else {
            format!("nothing to do: no longer queued in DSPause: {}", gone.join(", "))
        });
    }
    let calls: Vec<Call> = open
        .iter()
        .filter(|p| p.drop_spells.is_empty())
        .map(|p| {
            let eta: u64 = p.key.eta.saturating_to();
            let due = if eta > s.now() {
                format!("due in {}", format_duration(eta - s.now()))
            } else {
                "EXECUTABLE NOW".into()
            };
            Call::new(
                format!("deploy a drop spell for plan {} ({due})", p.id),
                s.at.protego,
                Protego::deployCall {
                    usr: p.key.usr,
                    tag: p.key.tag,
                    fax: p.key.fax.clone(),
                    eta: p.key.eta,
                },
            )
        })
        .collect();
    let mut warnings: Vec<String> = open
        .iter()
        .filter_map(|p| p.drop_spells.first().map(|d| (p, d)))
        .map(|(p, d)| {
            format!("plan {} already has the drop spell {}: reused, not deployed again", p.id, d.address)
        })
        .collect();
    if !gone.is_empty() {
        warnings.push(format!("no longer queued in DSPause, skipped: {}", gone.join(", ")));
    }
    warnings.push(
        "a drop spell drops its plan only once it is the hat: vote for it (`defender vote --spell`) and lift it"
            .into(),
    );
    let count = calls.len();
    Ok(Plan {
        action: "drop-spell",
        summary: format!("deploy {count} drop spell{} through Protego", if count == 1 { "" } else { "s" }),
        calls,
        warnings,
        irreversible: false,
    })
}
