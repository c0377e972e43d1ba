//! withdraw: take deposited MKR back after the lockup or an early release (MIP91c3).

use alloy::primitives::U256;

use super::{Call, Plan, PlanResult, Tokens, date, refuse};
use crate::chain::bindings::DssDefender;
use crate::chain::snapshot::Snapshot;
use crate::units::{Amount, format_duration};

pub fn plan(s: &Snapshot, amount: Amount) -> PlanResult {
    let t = Tokens::voting(s);
    if !s.has_defender() {
        return refuse("there is no dss-defender on this chain (MCD_DEFENDER)");
    }
    let wad = t.resolve(amount, s.user.deposit, "deposited in the defender")?;
    let unlock = s.user.unlockAt.saturating_to::<u64>();
    let released = s.defender.released == U256::from(1);
    if !released && unlock > s.now() {
        return refuse(format!(
            "the lockup is not over: your deposit unlocks at {} (in {}), or earlier if governance releases the defender",
            date(unlock),
            format_duration(unlock - s.now())
        ));
    }
    Ok(Plan {
        action: "withdraw",
        summary: format!("withdraw {} from the defender", t.fmt(wad)),
        calls: vec![Call::new(
            format!("withdraw {}", t.fmt(wad)),
            s.at.defender,
            DssDefender::withdrawCall { wad },
        )],
        warnings: vec![],
        irreversible: false,
    })
}
