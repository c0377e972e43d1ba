//! deposit: approve the defender if needed, then deposit (MIP91c2).

use alloy::primitives::U256;

use super::{Call, Plan, PlanResult, Tokens, approval_if_needed, date, refuse};
use crate::chain::bindings::DssDefender;
use crate::chain::snapshot::Snapshot;
use crate::units::{Amount, format_duration};

pub fn plan(s: &Snapshot, amount: Amount, approve_max: bool) -> PlanResult {
    let t = Tokens::voting(s);
    let d = &s.defender;
    if !s.has_defender() {
        return refuse("there is no dss-defender on this chain (MCD_DEFENDER): nothing to deposit into");
    }
    if d.live != U256::from(1) {
        return refuse("the defender instance is caged (replaced by a newer one): it takes no deposits");
    }
    let wad = t.resolve(amount, s.user.govBalance, "in your wallet")?;
    let mut calls = Vec::new();
    calls.extend(approval_if_needed(
        s.at.defender,
        "the defender",
        s.user.govAllowanceDefender,
        wad,
        approve_max,
        &t,
    ));
    calls.push(Call::new(format!("deposit {}", t.fmt(wad)), s.at.defender, DssDefender::depositCall { wad }));

    let lockup = d.lockupDuration.saturating_to::<u64>();
    let mut warnings = vec![format!(
        "locked until about {} ({} from now) unless governance releases the defender early",
        date(s.now() + lockup),
        format_duration(lockup)
    )];
    if !s.user.deposit.is_zero() {
        warnings.push(format!(
            "you already have {} deposited: this deposit restarts the lockup of all of it",
            t.fmt(s.user.deposit)
        ));
    }
    if d.activatedAt.is_zero() && d.total + wad >= d.threshold {
        warnings.push(format!(
            "this deposit reaches the threshold of {}: the defender activates and anyone can cancel queued plans for {}",
            t.fmt(d.threshold),
            format_duration(d.cancelDuration.saturating_to())
        ));
    }
    Ok(Plan {
        action: "deposit",
        summary: format!("deposit {} into the defender", t.fmt(wad)),
        calls,
        warnings,
        irreversible: false,
    })
}
