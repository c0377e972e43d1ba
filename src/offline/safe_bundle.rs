//! The Safe part of a bundle: one Safe transaction instead of the account's own
//! transactions, the calls it makes, the Safe's owners and threshold as read when it was built,
//! its hashes, and the owners' signatures as they are added one machine after another.
//!
//! As with transactions, nothing stored is trusted by itself: [`SafeSection::check`]
//! recomputes the hashes from the fields, unpacks the data back into the listed calls, and
//! recovers every signature.

use alloy::primitives::{Address, B256, Bytes, U256};
use serde::{Deserialize, Serialize};

use super::bundle::SimulationNote;
use crate::chain::safe::{OwnerSignature, SafeTransaction, check_signatures};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafeSection {
    /// Every field the safeTxHash covers, with the Safe and the chain.
    pub transaction: SafeTransaction,
    /// The calls the Safe makes, in order; the transaction's data must make exactly these.
    pub calls: Vec<SafeCall>,
    /// The owners and threshold when the bundle was built (`broadcast` reads them again).
    pub owners: Vec<Address>,
    pub threshold: u64,
    pub version: String,
    pub domain_separator: B256,
    pub message_hash: B256,
    pub safe_tx_hash: B256,
    /// The owners' signatures so far, one per owner.
    #[serde(default)]
    pub signatures: Vec<OwnerSignature>,
}

/// One call the Safe makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafeCall {
    /// For people: what the call is for.
    pub label: String,
    pub to: Address,
    #[serde(with = "crate::units::decimal")]
    pub value: U256,
    pub data: Bytes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulation: Option<SimulationNote>,
}

impl SafeSection {
    /// Checks the section against itself and returns how many signatures count.
    pub fn check(&self, chain_id: u64) -> Result<usize, String> {
        let t = &self.transaction;
        let edited = "the file was edited or damaged; rebuild the bundle";
        if t.chain_id != chain_id {
            return Err(format!(
                "the Safe transaction is for chain {}, but the bundle says {chain_id}: {edited}",
                t.chain_id
            ));
        }
        for (name, stored, computed) in [
            ("domain separator", self.domain_separator, t.domain_separator()),
            ("message hash", self.message_hash, t.message_hash()),
            ("safeTxHash", self.safe_tx_hash, t.safe_tx_hash()),
        ] {
            if stored != computed {
                return Err(format!(
                    "the Safe transaction's {name} is {stored}, but its fields hash to {computed}: {edited}"
                ));
            }
        }
        let made =
            t.inner_calls().map_err(|why| format!("the Safe transaction is refused: {why}; {edited}"))?;
        if made.len() != self.calls.len() {
            return Err(format!(
                "the Safe transaction makes {} call(s), but the bundle lists {}: {edited}",
                made.len(),
                self.calls.len()
            ));
        }
        for (i, (made, listed)) in made.iter().zip(&self.calls).enumerate() {
            if made.to != listed.to || made.value != listed.value || made.data != listed.data {
                return Err(format!(
                    "call {} of {} in the bundle is not what the Safe transaction's data makes: {edited}",
                    i + 1,
                    self.calls.len()
                ));
            }
        }
        if self.threshold == 0 || self.owners.is_empty() {
            return Err(format!("the bundle lists no owners or a zero threshold: {edited}"));
        }
        check_signatures(&self.signatures, self.safe_tx_hash, &self.owners)
    }

    /// The owners who have signed, in the order they signed.
    pub fn signed_by(&self) -> Vec<Address> {
        self.signatures.iter().map(|s| s.owner).collect()
    }
}
