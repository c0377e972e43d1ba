//! lift: make a spell (by default the defender's; on the Sky layout Protego or a drop spell)
//! the chief's hat once it leads, and on the new Chief only when its cooldown allows.

use alloy::primitives::{Address, U256};

use super::{Call, Plan, PlanResult, Tokens, refuse};
use crate::chain::bindings::DSChief;
use crate::chain::governance::LiftWindow;
use crate::chain::snapshot::Snapshot;

/// Mainnet's slot time, for "in about N min".
const SECONDS_PER_BLOCK: u64 = 12;

/// `approvals` is the chief's count for `spell`, read in the same batch as the snapshot.
pub fn plan(s: &Snapshot, spell: Address, approvals: U256) -> PlanResult {
    let t = Tokens::voting(s);
    if spell == s.gov.hat {
        return refuse(format!("{spell} is already the hat"));
    }
    if let LiftWindow::From(block) = s.lift_window() {
        let last = s.gov.last.saturating_to::<u64>();
        let wait = block - s.block.number.saturating_to::<u64>();
        return refuse(format!(
            "the chief lifted at block {last}: a lift is possible from block {block}, in about {} \
             ({wait} block{} of {SECONDS_PER_BLOCK} s); run `defender lift` again then",
            crate::units::format_duration(wait * SECONDS_PER_BLOCK),
            if wait == 1 { "" } else { "s" }
        ));
    }
    if approvals <= s.gov.hatApprovals {
        return refuse(format!(
            "{spell} has {} of approval, not more than the hat's {}: lift would revert; it needs more than {} more",
            t.fmt(approvals),
            t.fmt(s.gov.hatApprovals),
            t.fmt(s.gov.hatApprovals - approvals)
        ));
    }
    let mut warnings = Vec::new();
    if s.is_sky() {
        warnings.push(format!(
            "after this lift no other lift is possible for {} blocks, and nobody can free in its block",
            s.gov.liftCooldown
        ));
    }
    Ok(Plan {
        action: "lift",
        summary: format!("make {spell} the hat"),
        calls: vec![Call::new("lift the spell to the hat", s.at.chief, DSChief::liftCall { whom: spell })],
        warnings,
        irreversible: false,
    })
}
