//! Re-bidding while a plan waits for its receipts. A transaction still unmined some blocks
//! after it was sent, whose max fee is below the next block's base fee (so no block can take
//! it), is replaced: the same nonce and call, both fees raised past a node's replacement rule
//! (`fees::replacement`: +10% on both, geth's default and the strictest of the common
//! clients), never above the cap the user set.

use alloy::consensus::{Signed, TxEip1559};

use crate::fees::{Fees, replacement};
use crate::signers::Signer;

/// What the user allowed: after how many blocks, and where a replacement comes from.
pub struct Rebid<'a> {
    pub after_blocks: u64,
    pub source: Source<'a>,
}

/// Where replacements come from.
pub enum Source<'a> {
    /// Signed now, online, when a transaction is priced out.
    Sign {
        signer: &'a Signer,
        /// The most any replacement's max fee per gas may be, in wei.
        cap: u128,
        /// Ask at the terminal before each replacement (a device then also asks on its screen).
        ask: bool,
    },
    /// Signed in advance: an offline fee ladder. Per transaction of the batch, its levels
    /// above the first, lowest first; the next one goes out whenever a transaction is still
    /// unmined `after_blocks` after its last bid.
    Ladder(Vec<Vec<Signed<TxEip1559>>>),
}

/// The ladder level to climb to from `current` (0: the transaction's own, 1: the ladder's
/// first): the lowest above it that the next block can take, else the top one; None at the top.
pub fn next_level(levels: &[Signed<TxEip1559>], current: usize, next_base_fee: u128) -> Option<usize> {
    let above = current..levels.len();
    let affordable = above.clone().find(|&j| levels[j].tx().max_fee_per_gas >= next_base_fee);
    affordable.or(above.last()).map(|j| j + 1)
}

/// Whether a block with `next_base_fee` can take a transaction bidding `fees`.
pub fn priced_out(fees: Fees, next_base_fee: u128) -> bool {
    fees.max_fee_per_gas < next_base_fee
}

/// The replacement's fees: room for two base-fee rises over `next_base_fee` plus the tip,
/// at least a node's replacement minimum, at most `cap`; an error when the cap leaves no
/// replacement a node would take.
pub fn next_bid(current: Fees, next_base_fee: u128, cap: u128) -> Result<Fees, String> {
    let wanted = Fees {
        max_fee_per_gas: next_base_fee.saturating_mul(2).saturating_add(current.max_priority_fee_per_gas),
        max_priority_fee_per_gas: current.max_priority_fee_per_gas,
    };
    let least = replacement(current.max_fee_per_gas, current.max_priority_fee_per_gas, Fees::default());
    let bid = replacement(current.max_fee_per_gas, current.max_priority_fee_per_gas, wanted);
    if least.max_fee_per_gas > cap || next_base_fee > cap {
        return Err(format!(
            "a replacement needs a max fee of at least {} wei (the next block's base fee is {next_base_fee} wei), above \
             --max-fee-cap ({cap} wei)",
            least.max_fee_per_gas.max(next_base_fee)
        ));
    }
    let max_fee_per_gas = bid.max_fee_per_gas.min(cap);
    Ok(Fees { max_fee_per_gas, max_priority_fee_per_gas: bid.max_priority_fee_per_gas.min(max_fee_per_gas) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GWEI: u128 = 1_000_000_000;

    fn fees(max: u128, tip: u128) -> Fees {
        Fees { max_fee_per_gas: max * GWEI, max_priority_fee_per_gas: tip * GWEI }
    }

    #[test]
    fn a_replacement_outbids_by_the_node_s_rule_and_never_passes_the_cap() {
        let current = fees(2, 1);
        assert!(priced_out(current, 5 * GWEI) && !priced_out(current, 2 * GWEI));
        let bid = next_bid(current, 5 * GWEI, 100 * GWEI).unwrap();
        assert_eq!(bid.max_fee_per_gas, 11 * GWEI, "two base-fee rises plus the tip");
        assert!(bid.max_priority_fee_per_gas * 10 >= 11 * GWEI, "the tip rises by more than 10%");
        let capped = next_bid(current, 5 * GWEI, 6 * GWEI).unwrap();
        assert_eq!(capped.max_fee_per_gas, 6 * GWEI, "held at the cap");
        assert!(next_bid(current, 5 * GWEI, 4 * GWEI).unwrap_err().contains("above --max-fee-cap"));
        assert!(next_bid(fees(10, 1), 1, 10 * GWEI).is_err(), "no room for +10% under the cap");
    }
}
