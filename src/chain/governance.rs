//! Which governance a chain runs, told from the snapshot alone: the one place that knows
//! "which chief" and "who can cancel", so actions ask here instead of testing contracts.
//!
//! Nothing is taken from the chain id. DSChief 1.2 answers `IOU()`; the new Chief (mainnet
//! since May 2025) has no IOU and answers `liftCooldown()`. A dss-defender answers under
//! MCD_DEFENDER; Protego under MCD_PROTEGO. DefenderLens makes those reads in the same round
//! trip as everything else.

use alloy::primitives::{Address, U256};

use crate::chain::snapshot::Snapshot;

/// The chief whose hat rules the pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChiefKind {
    /// dapphub's DSChief 1.2: votes with MKR, mints an IOU per lock, frees not in the block of
    /// your own lock. MIP91's world.
    DsChief,
    /// The new Chief: votes with SKY, no IOU, a lift cooldown, no free in a lift's block.
    SkyChief,
}

impl ChiefKind {
    pub fn describe(self) -> &'static str {
        match self {
            ChiefKind::DsChief => "DSChief 1.2 (IOU receipts)",
            ChiefKind::SkyChief => "the new Chief (no IOU, lift cooldown)",
        }
    }
}

/// Who can drop a queued plan right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelRoute {
    /// MIP91: the live dss-defender is canceling, until this unix time.
    Defender { until: u64 },
    /// Protego is the hat: anyone may drop any plan through it.
    Protego,
    /// An EmergencyDropSpell made by Protego is the hat: its `schedule()` drops its plan.
    DropSpell(Address),
    /// Nobody, for now.
    Closed,
}

/// When a `lift` is possible on the new Chief, seen from the next block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiftWindow {
    /// DSChief 1.2 has no cooldown.
    Always,
    /// In the block of the last lift, or after the cooldown.
    Open,
    /// Not before this block.
    From(u64),
}

impl Snapshot {
    pub fn chief_kind(&self) -> Option<ChiefKind> {
        match self.gov.chiefKind.saturating_to::<u8>() {
            1 => Some(ChiefKind::DsChief),
            2 => Some(ChiefKind::SkyChief),
            _ => None,
        }
    }

    pub fn is_sky(&self) -> bool {
        self.chief_kind() == Some(ChiefKind::SkyChief)
    }

    /// The route open now, in the order a defender prefers them.
    pub fn cancel_route(&self) -> CancelRoute {
        if self.has_defender() && self.defender.canceling {
            return CancelRoute::Defender { until: self.canceling_until().unwrap_or_default() };
        }
        let protego = self.at.protego;
        if protego != Address::ZERO && self.gov.chiefLive == U256::from(1) {
            if self.gov.hat == protego {
                return CancelRoute::Protego;
            }
            if self.gov.hatProtego == protego {
                return CancelRoute::DropSpell(self.gov.hat);
            }
        }
        CancelRoute::Closed
    }

    /// The block the next transaction lands in, at the earliest.
    pub fn next_block(&self) -> u64 {
        self.block.number.saturating_to::<u64>() + 1
    }

    /// The new Chief's rule: a lift in the block of the last lift, or after `liftCooldown`.
    pub fn lift_window(&self) -> LiftWindow {
        if !self.is_sky() {
            return LiftWindow::Always;
        }
        let last = self.gov.last.saturating_to::<u64>();
        let first_after = last.saturating_add(self.gov.liftCooldown.saturating_to::<u64>()).saturating_add(1);
        let next = self.next_block();
        if next == last || next >= first_after { LiftWindow::Open } else { LiftWindow::From(first_after) }
    }

    /// MKR where it is a separate token from the voting one (the Sky layout).
    pub fn has_mkr_converter(&self) -> bool {
        self.at.mkr != Address::ZERO && self.at.mkrSky != Address::ZERO && !self.gov.mkrSkyRate.is_zero()
    }

    pub fn has_legacy_chief(&self) -> bool {
        self.at.legacyChief != Address::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sky(number: u64, last: u64) -> Snapshot {
        let mut s = Snapshot::default();
        s.gov.chiefKind = U256::from(2);
        s.gov.liftCooldown = U256::from(10);
        s.gov.last = U256::from(last);
        s.block.number = U256::from(number);
        s
    }

    #[test]
    fn lift_cooldown_counts_from_the_last_lift() {
        // Lifted at 100: the next lift may land in 111 or later (100 + 10 + 1).
        assert_eq!(sky(100, 100).lift_window(), LiftWindow::From(111));
        assert_eq!(sky(109, 100).lift_window(), LiftWindow::From(111));
        assert_eq!(sky(110, 100).lift_window(), LiftWindow::Open);
        assert_eq!(Snapshot::default().lift_window(), LiftWindow::Always);
    }

    #[test]
    fn routes_follow_the_hat() {
        let mut s = sky(10, 0);
        let protego = Address::repeat_byte(0x77);
        s.at.protego = protego;
        s.gov.chiefLive = U256::from(1);
        assert_eq!(s.cancel_route(), CancelRoute::Closed);
        s.gov.hat = protego;
        assert_eq!(s.cancel_route(), CancelRoute::Protego);
        s.gov.hat = Address::repeat_byte(0x55);
        s.gov.hatProtego = protego;
        assert_eq!(s.cancel_route(), CancelRoute::DropSpell(Address::repeat_byte(0x55)));
    }
}
