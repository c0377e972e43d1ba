//! unstick: a nonce held by a transaction that will never land (bid too low, or refused and
//! leaving a gap) is taken by a zero-value transfer to the account itself, so that the
//! transactions after it can be mined.

use alloy::primitives::{Bytes, U256};

use super::{Call, Plan, PlanResult, refuse};
use crate::chain::pool::AccountNonces;

pub fn plan(nonces: &AccountNonces, nonce: u64) -> PlanResult {
    let me = nonces.address;
    if nonce < nonces.latest {
        return refuse(format!(
            "nonce {nonce} of {me} is already mined (its next nonce is {}): nothing holds it",
            nonces.latest
        ));
    }
    let held = nonces.at(nonce);
    let known_gap = nonces.gaps().contains(&nonce);
    if held.is_none() && !known_gap && nonce >= nonces.pending {
        return refuse(format!(
            "no transaction of {me} waits at nonce {nonce} and nothing waits behind it (the next free nonce is {}): \
             there is nothing to unstick",
            nonces.pending
        ));
    }
    let (label, warning) = match held {
        Some(tx) => (
            format!("replace nonce {nonce} ({}) with a zero-value transfer to yourself", tx.hash),
            format!(
                "the transaction {} at nonce {nonce}{} will not be mined once this lands: re-run what it was for",
                tx.hash,
                tx.to.map(|to| format!(" (to {to})")).unwrap_or_default()
            ),
        ),
        None => (
            format!("fill nonce {nonce} with a zero-value transfer to yourself"),
            format!("nonce {nonce} was empty: the transactions after it can be mined once this lands"),
        ),
    };
    Ok(Plan {
        action: "nonce",
        summary: format!("take nonce {nonce} of {me} with a zero-value transfer to itself"),
        calls: vec![Call { label, to: me, data: Bytes::new(), value: U256::ZERO }],
        warnings: vec![warning],
        irreversible: false,
    })
}
