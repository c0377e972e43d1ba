//! A guard against a known anvil race: under automine, anvil now and then leaves a ready
//! transaction in its pool and mines it only when the next transaction arrives (foundry
//! issues 10122 and 14867), so a batch's last transaction can wait forever on a quiet devnet.
//! Whoever waits for a receipt asks here whether that is what happened and, only on an anvil
//! that promised to mine every transaction at once, has it mine one block. Any other node
//! (one without `anvil_getAutomine`) is left alone.

use std::collections::HashSet;

use alloy::primitives::B256;
use alloy::providers::ext::AnvilApi;
use alloy::providers::{DynProvider, Provider};

/// Whether the node is known to be an anvil under automine (asked at most once), and the
/// transactions a block was already mined for: one block is all the race needs, and a
/// transaction still waiting after it waits for something else (a nonce gap), which more
/// empty blocks would not mend.
#[derive(Debug, Default)]
pub struct StuckPoolGuard {
    automine: Option<bool>,
    mined_for: HashSet<B256>,
}

impl StuckPoolGuard {
    /// Mines one block when `hash` sits in the pool of an anvil under automine; says whether
    /// it did. Errors of the node count as "not anvil": this must never fail a send.
    pub async fn unstick(&mut self, provider: &DynProvider, hash: B256) -> bool {
        if self.automine.is_none() {
            self.automine = Some(provider.anvil_get_auto_mine().await.unwrap_or(false));
        }
        if self.automine != Some(true) || self.mined_for.contains(&hash) {
            return false;
        }
        let pending = provider.get_transaction_by_hash(hash).await;
        let in_pool = matches!(pending, Ok(Some(tx)) if tx.block_number.is_none());
        let mined = in_pool && provider.evm_mine(None).await.is_ok();
        if mined {
            self.mined_for.insert(hash);
        }
        mined
    }
}
