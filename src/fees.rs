//! EIP-1559 fee defaults from `eth_feeHistory`, and the user's overrides.

use alloy::primitives::U256;
use alloy::rpc::types::FeeHistory;
use clap::Args;

const GWEI: u128 = 1_000_000_000;

/// Fee options shared by every command that sends.
#[derive(Debug, Clone, Default, Args)]
pub struct FeeArgs {
    /// Priority fee (tip) in gwei [default: the median of recent blocks, at least 0.1].
    #[arg(long, value_name = "GWEI", value_parser = parse_gwei, global = true)]
    pub priority_fee: Option<u128>,

    /// Maximum fee per gas in gwei [default: twice the next base fee plus the tip].
    #[arg(long, value_name = "GWEI", value_parser = parse_gwei, global = true)]
    pub max_fee: Option<u128>,

    /// Gas limit for every transaction [default: simulated use plus a margin].
    #[arg(long, value_name = "GAS", global = true)]
    pub gas_limit: Option<u64>,

    /// Fees to win a race (cancelling a plot): a high tip and room for three base-fee rises.
    #[arg(long, global = true)]
    pub urgent: bool,

    /// While waiting for receipts, re-bid a transaction that no block could take (its max fee
    /// below the next base fee) this many blocks after it was sent; needs --max-fee-cap.
    #[arg(long, value_name = "BLOCKS", default_value_t = 3, global = true)]
    pub rebid_after: u64,

    /// The most a re-bid may offer per gas, in gwei; without it nothing is re-bid.
    #[arg(long, value_name = "GWEI", value_parser = parse_gwei, global = true)]
    pub max_fee_cap: Option<u128>,
}

/// The fees every transaction of a plan will carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Fees {
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
}

impl Fees {
    /// What `tx` bids.
    pub fn of(tx: &alloy::consensus::TxEip1559) -> Self {
        Self { max_fee_per_gas: tx.max_fee_per_gas, max_priority_fee_per_gas: tx.max_priority_fee_per_gas }
    }

    /// Whether a node takes these fees as a replacement of a pooled bid of `below`.
    pub fn outbids(self, below: Fees) -> bool {
        let least = replacement(below.max_fee_per_gas, below.max_priority_fee_per_gas, Fees::default());
        self.max_fee_per_gas >= least.max_fee_per_gas
            && self.max_priority_fee_per_gas >= least.max_priority_fee_per_gas
    }
}

/// What the last blocks say about fees.
#[derive(Debug, Clone, Copy, Default)]
pub struct FeeMarket {
    pub next_base_fee: u128,
    pub median_tip: u128,
    pub high_tip: u128,
}

/// Percentiles requested from `eth_feeHistory`: the median and the 90th.
pub const REWARD_PERCENTILES: [f64; 2] = [50.0, 90.0];
/// How many recent blocks `eth_feeHistory` covers.
pub const HISTORY_BLOCKS: u64 = 10;

impl FeeMarket {
    pub fn from_history(history: &FeeHistory) -> Self {
        let next_base_fee = history.base_fee_per_gas.last().copied().unwrap_or_default();
        let column = |i: usize| {
            let mut tips: Vec<u128> =
                history.reward.iter().flatten().filter_map(|row| row.get(i).copied()).collect();
            tips.sort_unstable();
            tips.get(tips.len() / 2).copied().unwrap_or_default()
        };
        Self { next_base_fee, median_tip: column(0), high_tip: column(1) }
    }
}

impl FeeArgs {
    pub fn resolve(&self, market: FeeMarket) -> Fees {
        let (floor, base_multiplier, tip) = if self.urgent {
            (2 * GWEI, 3, market.high_tip.saturating_mul(2))
        } else {
            (GWEI / 10, 2, market.median_tip)
        };
        let priority = self.priority_fee.unwrap_or(tip.max(floor));
        let max_fee = self
            .max_fee
            .unwrap_or(market.next_base_fee.saturating_mul(base_multiplier).saturating_add(priority));
        Fees { max_fee_per_gas: max_fee.max(priority), max_priority_fee_per_gas: priority }
    }
}

fn parse_gwei(text: &str) -> Result<u128, String> {
    match crate::units::parse_amount(text, 9, "gwei") {
        Ok(crate::units::Amount::Exact(wei)) => {
            u128::try_from(wei).map_err(|_| format!("{text} gwei is more than any fee"))
        }
        Ok(crate::units::Amount::All) => Err("a fee cannot be `all`".into()),
        Err(message) => Err(message),
    }
}

/// Gas limit for a transaction the simulation says uses `used`: refunds and the 63/64 rule
/// mean the limit must exceed the use; a quarter more plus a fixed margin covers both.
pub fn gas_limit_for(used: u64) -> u64 {
    used.saturating_add(used / 4).saturating_add(20_000)
}

/// Fees a node accepts for a transaction replacing a pooled one of the same nonce that bids
/// `old_max` and `old_tip`: both at least 10% more, rounded up (geth's default price bump, the
/// strictest of the common clients), and never less than `market`.
pub fn replacement(old_max: u128, old_tip: u128, market: Fees) -> Fees {
    let bump = |v: u128| v.saturating_add(v.div_ceil(10)).saturating_add(1);
    let tip = bump(old_tip).max(market.max_priority_fee_per_gas);
    let max = bump(old_max).max(market.max_fee_per_gas).max(tip);
    Fees { max_fee_per_gas: max, max_priority_fee_per_gas: tip }
}

/// The most levels `--fee-ladder` builds: each needs its own signature (a device
/// confirmation), and ten +10% steps already cover a base fee 2.6 times the first bid.
pub const MAX_LADDER_LEVELS: usize = 16;

/// Refuses a ladder of fewer than 2 or more than [`MAX_LADDER_LEVELS`] levels.
pub fn check_levels(levels: usize) -> Result<(), String> {
    if (2..=MAX_LADDER_LEVELS).contains(&levels) {
        Ok(())
    } else {
        Err(format!("--fee-ladder takes 2 to {MAX_LADDER_LEVELS} levels, not {levels}"))
    }
}

/// The fee levels of an offline fee ladder: `start` first, `cap` last, the max fees in
/// between spread evenly on a log scale, each level a replacement a node takes for the one
/// below it ([`replacement`]). The tip only rises by that minimum: a spike of the base fee is
/// what prices a transaction out, and the tip is paid in full wherever the base fee stands.
pub fn ladder(start: Fees, cap: u128, levels: usize) -> Result<Vec<Fees>, String> {
    use crate::units::gwei;
    check_levels(levels)?;
    if start.max_fee_per_gas >= cap {
        return Err(format!(
            "the first level already bids {} per gas, not below --max-fee-cap ({}): raise the cap or lower --max-fee",
            gwei(start.max_fee_per_gas),
            gwei(cap)
        ));
    }
    let mut least = start;
    for _ in 1..levels {
        least = replacement(least.max_fee_per_gas, least.max_priority_fee_per_gas, Fees::default());
    }
    if least.max_fee_per_gas > cap {
        return Err(format!(
            "a ladder of {levels} levels from {} needs --max-fee-cap of at least {}: each level must bid more than \
             10% over the one below for a node to take it as a replacement; raise the cap or take fewer levels",
            gwei(start.max_fee_per_gas),
            gwei(least.max_fee_per_gas)
        ));
    }
    // The most level k may bid and still leave room under the cap for the levels above it.
    let mut ceilings = vec![cap; levels];
    for k in (0..levels - 1).rev() {
        ceilings[k] = ceilings[k + 1].saturating_sub(2) / 11 * 10;
    }
    let ratio = cap as f64 / start.max_fee_per_gas.max(1) as f64;
    let mut out = vec![start];
    for k in 1..levels {
        let prev = out[k - 1];
        let spread = match k + 1 == levels {
            true => cap,
            false => (start.max_fee_per_gas as f64 * ratio.powf(k as f64 / (levels - 1) as f64)) as u128,
        };
        let floor = replacement(prev.max_fee_per_gas, prev.max_priority_fee_per_gas, Fees::default());
        let max_fee_per_gas = spread.min(ceilings[k]).max(floor.max_fee_per_gas);
        if max_fee_per_gas > cap {
            return Err(format!(
                "a ladder of {levels} levels from {} does not fit under --max-fee-cap ({}): raise the cap or take \
                 fewer levels",
                gwei(start.max_fee_per_gas),
                gwei(cap)
            ));
        }
        out.push(Fees { max_fee_per_gas, max_priority_fee_per_gas: floor.max_priority_fee_per_gas });
    }
    Ok(out)
}

/// The most a transaction can cost: gas limit times max fee.
pub fn max_cost(gas_limit: u64, fees: Fees) -> U256 {
    U256::from(gas_limit) * U256::from(fees.max_fee_per_gas)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_replacement_bids_more_than_ten_percent_over_both_fees_and_at_least_the_market() {
        let market = super::Fees { max_fee_per_gas: 5, max_priority_fee_per_gas: 1 };
        let r = super::replacement(100, 10, market);
        assert_eq!((r.max_fee_per_gas, r.max_priority_fee_per_gas), (111, 12));
        assert!(r.max_fee_per_gas * 10 >= 100 * 11 && r.max_priority_fee_per_gas * 10 >= 10 * 11);
        let market = super::Fees { max_fee_per_gas: 500, max_priority_fee_per_gas: 50 };
        let r = super::replacement(100, 10, market);
        assert_eq!((r.max_fee_per_gas, r.max_priority_fee_per_gas), (500, 50));
    }

    use super::*;

    #[test]
    fn a_ladder_climbs_to_the_cap_in_steps_a_node_takes_as_replacements() {
        let start = Fees { max_fee_per_gas: 3 * GWEI / 2, max_priority_fee_per_gas: GWEI / 10 };
        let levels = ladder(start, 100 * GWEI, 5).unwrap();
        assert_eq!(levels.len(), 5);
        assert_eq!(levels[0], start);
        assert_eq!(levels[4].max_fee_per_gas, 100 * GWEI, "the top level bids the cap");
        for pair in levels.windows(2) {
            let least =
                replacement(pair[0].max_fee_per_gas, pair[0].max_priority_fee_per_gas, Fees::default());
            assert!(pair[1].max_fee_per_gas >= least.max_fee_per_gas, "{pair:?}");
            assert!(pair[1].max_priority_fee_per_gas >= least.max_priority_fee_per_gas, "{pair:?}");
            assert!(pair[1].max_priority_fee_per_gas <= pair[1].max_fee_per_gas);
        }
        // Evenly on a log scale: 1.5, ~4.8, ~15.3, ~49.3, 100 gwei (each ×~3.2).
        assert!(levels[1].max_fee_per_gas > 4 * GWEI && levels[1].max_fee_per_gas < 5 * GWEI, "{levels:?}");
        // A cap barely above the start: the +10% floors decide, and fit exactly when they can.
        let tight = ladder(start, 2 * GWEI, 3).unwrap();
        assert_eq!(tight[2].max_fee_per_gas, 2 * GWEI);
        let said = ladder(start, 17 * GWEI / 10, 3).unwrap_err();
        assert!(said.contains("needs --max-fee-cap of at least 1.8150"), "{said}");
        assert!(ladder(start, GWEI, 3).unwrap_err().contains("not below --max-fee-cap"));
        assert!(ladder(start, 100 * GWEI, 1).unwrap_err().contains("2 to 16 levels"));
    }

    #[test]
    fn defaults_follow_the_market_and_urgent_outbids() {
        let market = FeeMarket { next_base_fee: 10 * GWEI, median_tip: GWEI, high_tip: 3 * GWEI };
        let normal = FeeArgs::default().resolve(market);
        assert_eq!(normal, Fees { max_fee_per_gas: 21 * GWEI, max_priority_fee_per_gas: GWEI });
        let urgent = FeeArgs { urgent: true, ..Default::default() }.resolve(market);
        assert_eq!(urgent, Fees { max_fee_per_gas: 36 * GWEI, max_priority_fee_per_gas: 6 * GWEI });
        let quiet = FeeArgs::default().resolve(FeeMarket::default());
        assert_eq!(quiet.max_priority_fee_per_gas, GWEI / 10);
        let set = FeeArgs { priority_fee: Some(2 * GWEI), max_fee: Some(GWEI), ..Default::default() };
        assert_eq!(set.resolve(market).max_fee_per_gas, 2 * GWEI, "max fee never below the tip");
        assert_eq!(parse_gwei("1.5"), Ok(1_500_000_000));
        assert!(parse_gwei("0.0000000001").is_err());
    }
}
