//! free: take locked tokens back out of a chief: the chief voting now (SKY on the new Chief),
//! or DSChief 1.2 on the Sky layout (`--legacy-chief`), whose MKR comes back against its IOU.

use super::{Call, Plan, PlanResult, Tokens, approval_if_needed, refuse};
use crate::chain::bindings::DSChief;
use crate::chain::governance::ChiefKind;
use crate::chain::snapshot::Snapshot;
use crate::units::Amount;

/// Which chief to free from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    /// MCD_ADM, the chief that votes today.
    Current,
    /// MCD_ADM_LEGACY: DSChief 1.2 beside the new Chief.
    Legacy,
}

/// `pending_last` is the new Chief's `last()` in the node's pending block, where it says:
/// a lift waiting there would make a free in that block revert.
pub fn plan(s: &Snapshot, amount: Amount, from: From, pending_last: Option<u64>) -> PlanResult {
    let u = &s.user;
    let (chief, kind, t, deposits, iou, iou_balance, iou_allowance) = match from {
        From::Legacy => {
            if !s.has_legacy_chief() {
                return refuse(
                    "there is no legacy chief on this chain (MCD_ADM_LEGACY): the chief is DSChief 1.2 \
                     itself; free without --legacy-chief",
                );
            }
            let t = Tokens::mkr(s);
            (
                s.at.legacyChief,
                ChiefKind::DsChief,
                t,
                u.legacyDeposits,
                s.at.legacyIou,
                u.legacyIouBalance,
                u.legacyIouAllowance,
            )
        }
        From::Current => {
            let Some(kind) = s.chief_kind() else {
                return refuse(
                    "the chief answers neither IOU() nor liftCooldown(): it is no chief defender knows",
                );
            };
            (
                s.at.chief,
                kind,
                Tokens::voting(s),
                u.chiefDeposits,
                s.at.iou,
                u.iouBalance,
                u.iouAllowanceChief,
            )
        }
    };
    let where_ = if from == From::Legacy { "locked in the legacy chief" } else { "locked in the chief" };
    let wad = t.resolve(amount, deposits, where_)?;
    let mut calls = Vec::new();
    let mut warnings = Vec::new();
    match kind {
        ChiefKind::SkyChief => {
            let next = s.next_block();
            if let Some(last) = pending_last
                && last >= next
            {
                return refuse(format!(
                    "a lift is waiting in the node's pending block {last}: a free landing in that block reverts \
                     (Chief/cant-free-same-block); run it again after block {last}"
                ));
            }
            warnings.push(
                "a lift landing in the same block as this free makes it revert: then run it again".into(),
            );
        }
        ChiefKind::DsChief => {
            if iou_balance < wad {
                return refuse(format!(
                    "you hold {} of the chief's IOU, less than the {} to free: the IOU may have been moved away",
                    Tokens::iou(iou).fmt(iou_balance),
                    t.fmt(wad)
                ));
            }
            calls.extend(approval_if_needed(
                chief,
                "the chief",
                iou_allowance,
                wad,
                false,
                &Tokens::iou(iou),
            ));
        }
    }
    if !u.yays.is_empty() && from == From::Current {
        warnings.push(format!("your slate loses {} of approval", t.fmt(wad)));
    }
    if from == From::Legacy && s.has_mkr_converter() {
        warnings.push(
            "MKR does not vote in the new Chief: `defender convert` turns it into SKY (one way, for a fee)"
                .into(),
        );
    }
    let which = if from == From::Legacy { "the legacy chief" } else { "the chief" };
    calls.push(Call::new(format!("free {} from {which}", t.fmt(wad)), chief, DSChief::freeCall { wad }));
    Ok(Plan {
        action: "free",
        summary: format!("free {} from {which}", t.fmt(wad)),
        calls,
        warnings,
        irreversible: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{Address, U256};

    #[test]
    fn a_pending_lift_refuses_the_free() {
        let mut s = Snapshot::default();
        s.gov.chiefKind = U256::from(2);
        s.block.number = U256::from(50);
        s.user.chiefDeposits = U256::from(10);
        s.at.chief = Address::repeat_byte(1);
        let refused = plan(&s, Amount::All, From::Current, Some(51)).unwrap_err();
        assert!(refused.0.contains("pending block 51"), "{refused}");
        assert!(plan(&s, Amount::All, From::Current, Some(50)).is_ok());
        assert!(plan(&s, Amount::All, From::Legacy, None).unwrap_err().0.contains("no legacy chief"));
    }
}
