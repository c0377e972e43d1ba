//! lift: make a spell (by default the defender's) the chief's hat once it leads.

use alloy::primitives::{Address, U256};

use super::{Call, Plan, PlanResult, Tokens, refuse};
use crate::chain::bindings::DSChief;
use crate::chain::snapshot::Snapshot;

/// `approvals` is the chief's count for `spell` when known (the snapshot has the default
/// spell's); without it the simulation decides.
pub fn plan(s: &Snapshot, spell: Address, approvals: Option<U256>) -> PlanResult {
    let t = Tokens(s);
    if spell == s.gov.hat {
        return refuse(format!("{spell} is already the hat"));
    }
    if let Some(approvals) = approvals
        && approvals <= s.gov.hatApprovals
    {
        return refuse(format!(
            "{spell} has {} of approval, not more than the hat's {}: lift would revert",
            t.fmt(approvals),
            t.fmt(s.gov.hatApprovals)
        ));
    }
    Ok(Plan {
        action: "lift",
        summary: format!("make {spell} the hat"),
        calls: vec![Call::new("lift the spell to the hat", s.at.chief, DSChief::liftCall { whom: spell })],
        warnings: vec![],
        irreversible: false,
    })
}
