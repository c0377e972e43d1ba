//! What the watcher follows in the chief. While Protego or a drop spell is the hat nobody can
//! plot, so the danger on today's mainnet is the hat moving: this says at once when it moves,
//! when a rival's approvals come within a margin of the hat's, and when the lift cooldown
//! opens. It only compares snapshots; it reads nothing itself.

use std::collections::{HashMap, HashSet};

use alloy::primitives::{Address, U256};
use serde_json::json;

use crate::actions::Tokens;
use crate::chain::governance::LiftWindow;
use crate::chain::snapshot::Snapshot;

/// One thing worth a log line.
pub struct Event {
    pub kind: &'static str,
    pub fields: serde_json::Value,
    pub text: String,
}

/// What the last snapshot showed.
pub struct ChiefWatch {
    /// Within this share of the hat's approvals (percent) a rival is reported.
    pub margin_percent: u64,
    hat: Option<Address>,
    window: Option<LiftWindow>,
    /// Rivals already reported as close, until they fall back.
    close: HashSet<Address>,
    /// Names for addresses the watcher has met (Protego, drop spells, spells that plotted).
    names: HashMap<Address, String>,
    /// Addresses whose approvals the next snapshot should read.
    rivals: Vec<Address>,
}

impl ChiefWatch {
    pub fn new(margin_percent: u64) -> Self {
        Self {
            margin_percent,
            hat: None,
            window: None,
            close: HashSet::new(),
            names: HashMap::new(),
            rivals: Vec::new(),
        }
    }

    /// The addresses the next snapshot reads approvals of (`Reads::approvals_of`).
    pub fn rivals(&self) -> &[Address] {
        &self.rivals
    }

    /// Remembers an address to follow, with a name for log lines.
    pub fn follow(&mut self, address: Address, name: String) {
        if address.is_zero() {
            return;
        }
        if !self.rivals.contains(&address) {
            self.rivals.push(address);
        }
        self.names.entry(address).or_insert(name);
    }

    fn name(&self, s: &Snapshot, address: Address) -> String {
        if address.is_zero() {
            return "nobody (address zero)".into();
        }
        if address == s.at.protego && !address.is_zero() {
            return format!("Protego {address}");
        }
        match self.names.get(&address) {
            Some(name) => format!("{name} {address}"),
            None => address.to_string(),
        }
    }

    /// Compares `s` with the last snapshot. `s` must have been read with `rivals_read` as its
    /// `approvals_of`, in that order; Protego's approvals come with every snapshot.
    pub fn observe(&mut self, s: &Snapshot, rivals_read: &[Address]) -> Vec<Event> {
        let mut events = Vec::new();
        let t = Tokens::voting(s);
        let hat = s.gov.hat;
        if self.hat != Some(hat) {
            let was = self.hat.map(|h| self.name(s, h));
            events.push(Event {
                kind: "hat",
                fields: json!({ "hat": hat, "approvals": s.gov.hatApprovals.to_string(), "was": self.hat }),
                text: match was {
                    Some(was) => format!(
                        "the hat moved from {was} to {} with {}",
                        self.name(s, hat),
                        t.fmt(s.gov.hatApprovals)
                    ),
                    None => format!("the hat is {} with {}", self.name(s, hat), t.fmt(s.gov.hatApprovals)),
                },
            });
            self.hat = Some(hat);
            self.close.clear();
        }

        let window = s.lift_window();
        if s.is_sky() && self.window != Some(window) {
            let text = match window {
                LiftWindow::From(block) => {
                    Some(format!("no lift is possible before block {block} (lift cooldown)"))
                }
                LiftWindow::Open if self.window.is_some() => {
                    Some("the lift cooldown is over: a lift is possible from the next block".to_owned())
                }
                _ => None,
            };
            if let Some(text) = text {
                let from = match window {
                    LiftWindow::From(block) => Some(block),
                    _ => None,
                };
                events.push(Event {
                    kind: "cooldown",
                    fields: json!({ "open": from.is_none(), "from_block": from }),
                    text,
                });
            }
            self.window = Some(window);
        }

        let mut candidates: Vec<(Address, U256)> =
            rivals_read.iter().copied().zip(s.approvals.iter().copied()).collect();
        if !s.at.protego.is_zero() {
            candidates.push((s.at.protego, s.gov.protegoApprovals));
        }
        let hat_approvals = s.gov.hatApprovals;
        let floor = hat_approvals * U256::from(100u64.saturating_sub(self.margin_percent)) / U256::from(100);
        for (rival, approvals) in candidates {
            if rival == hat {
                continue;
            }
            let near = !approvals.is_zero() && approvals >= floor;
            if near && self.close.insert(rival) {
                let verdict = if approvals > hat_approvals { "more than" } else { "within reach of" };
                events.push(Event {
                    kind: "rival",
                    fields: json!({ "rival": rival, "approvals": approvals.to_string(), "hat": hat, "hat_approvals": hat_approvals.to_string() }),
                    text: format!(
                        "{} has {}, {verdict} the hat's {}",
                        self.name(s, rival),
                        t.fmt(approvals),
                        t.fmt(hat_approvals)
                    ),
                });
            } else if !near {
                self.close.remove(&rival);
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sky(block: u64, hat: Address, hat_approvals: u64) -> Snapshot {
        let mut s = Snapshot::default();
        s.gov.chiefKind = U256::from(2);
        s.gov.liftCooldown = U256::from(10);
        s.gov.last = U256::from(100);
        s.gov.decimals = U256::from(18);
        s.block.number = U256::from(block);
        s.gov.hat = hat;
        s.gov.hatApprovals = U256::from(hat_approvals);
        s.at.protego = Address::repeat_byte(0x77);
        s
    }

    #[test]
    fn reports_the_hat_the_cooldown_and_a_close_rival_once_each() {
        let attacker = Address::repeat_byte(0xaa);
        let mut watch = ChiefWatch::new(10);
        let mut s = sky(101, attacker, 1000);
        s.gov.protegoApprovals = U256::from(500);
        let kinds = |events: Vec<Event>| events.iter().map(|e| e.kind).collect::<Vec<_>>();
        assert_eq!(kinds(watch.observe(&s, &[])), ["hat", "cooldown"]);
        // Protego comes within 10% of the hat: said once, not on every look.
        s.gov.protegoApprovals = U256::from(950);
        s.block.number = U256::from(102);
        assert_eq!(kinds(watch.observe(&s, &[])), ["rival"]);
        assert!(watch.observe(&s, &[]).is_empty());
        // The cooldown ends (the next block is 111).
        s.block.number = U256::from(110);
        assert_eq!(kinds(watch.observe(&s, &[])), ["cooldown"]);
        // Protego is lifted.
        s.gov.hat = s.at.protego;
        s.gov.hatApprovals = U256::from(950);
        let events = watch.observe(&s, &[]);
        assert_eq!(kinds(events), ["hat"]);
    }
}
