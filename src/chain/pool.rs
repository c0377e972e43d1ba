//! An account's nonces as the node sees them: the latest (mined) and pending counts, and the
//! account's transactions in the node's pool, where the node tells (`txpool_contentFrom`, else
//! `txpool_content`; public endpoints often answer neither). From these, the nonces a plan is
//! stuck behind.

use alloy::primitives::{Address, B256, U64};
use alloy::rpc::client::BatchRequest;
use alloy::rpc::types::BlockNumberOrTag;
use anyhow::Result;
use serde::Serialize;

use super::rpc::Connection;

/// One transaction of the account in the node's pool.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Pooled {
    pub nonce: u64,
    pub hash: B256,
    pub to: Option<Address>,
    /// Max fee per gas (EIP-1559), or the gas price of a legacy transaction.
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: Option<u128>,
    /// Waiting for an earlier nonce (the pool's "queued"), not ready to be mined.
    pub queued: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountNonces {
    pub address: Address,
    /// Transactions mined: the next nonce to land.
    pub latest: u64,
    /// Mined plus those the node holds as ready.
    pub pending: u64,
    /// The account's pooled transactions by nonce; `None` where the node does not say.
    pub pool: Option<Vec<Pooled>>,
}

impl AccountNonces {
    /// Nonces nobody fills: each below a pooled transaction, at or above `latest`, with no
    /// transaction of its own. The transactions above wait for them forever.
    pub fn gaps(&self) -> Vec<u64> {
        let Some(pool) = &self.pool else { return Vec::new() };
        let Some(highest) = pool.iter().map(|t| t.nonce).max() else { return Vec::new() };
        (self.latest..highest).filter(|n| !pool.iter().any(|t| t.nonce == *n)).collect()
    }

    pub fn at(&self, nonce: u64) -> Option<&Pooled> {
        self.pool.as_ref()?.iter().find(|t| t.nonce == nonce)
    }
}

/// One request for both counts and the pool (the pool's answer may be an error: then `None`).
pub async fn read(connection: &Connection, address: Address) -> Result<AccountNonces> {
    use alloy::providers::Provider;
    let client = connection.provider.client();
    let mut batch = BatchRequest::new(client);
    let latest = batch.add_call::<_, U64>("eth_getTransactionCount", &(address, BlockNumberOrTag::Latest))?;
    let pending =
        batch.add_call::<_, U64>("eth_getTransactionCount", &(address, BlockNumberOrTag::Pending))?;
    let from = batch.add_call::<_, serde_json::Value>("txpool_contentFrom", &(address,))?;
    connection.timed(batch.send()).await?;
    let latest = connection.timed(latest).await?.to::<u64>();
    let pending = connection.timed(pending).await?.to::<u64>();
    let pool = match from.await {
        Ok(content) => Some(pooled(&content, None)),
        // Nodes without contentFrom (anvil) may have the whole pool; it is this account's part
        // that is kept.
        Err(_) => match client.request_noparams::<serde_json::Value>("txpool_content").await {
            Ok(content) => Some(pooled(&content, Some(address))),
            Err(_) => None,
        },
    };
    Ok(AccountNonces { address, latest, pending, pool })
}

/// The pool's `pending` and `queued` sections (of `address` when the content is the whole
/// pool), sorted by nonce.
fn pooled(content: &serde_json::Value, address: Option<Address>) -> Vec<Pooled> {
    let mut out = Vec::new();
    for (section, queued) in [("pending", false), ("queued", true)] {
        let Some(section) = content.get(section).and_then(|s| s.as_object()) else { continue };
        // contentFrom answers {nonce: tx}; content answers {address: {nonce: tx}}.
        let by_nonce: Vec<&serde_json::Map<String, serde_json::Value>> = match address {
            None => vec![section],
            Some(address) => section
                .iter()
                .filter(|(a, _)| a.parse::<Address>().is_ok_and(|a| a == address))
                .filter_map(|(_, v)| v.as_object())
                .collect(),
        };
        for txs in by_nonce {
            for (nonce, tx) in txs {
                let Ok(nonce) = nonce.parse::<u64>() else { continue };
                let quantity = |key: &str| {
                    tx.get(key)
                        .and_then(|v| v.as_str())
                        .and_then(|s| u128::from_str_radix(s.trim_start_matches("0x"), 16).ok())
                };
                let Some(hash) = tx.get("hash").and_then(|h| h.as_str()).and_then(|h| h.parse().ok()) else {
                    continue;
                };
                out.push(Pooled {
                    nonce,
                    hash,
                    to: tx.get("to").and_then(|t| t.as_str()).and_then(|t| t.parse().ok()),
                    max_fee_per_gas: quantity("maxFeePerGas")
                        .or_else(|| quantity("gasPrice"))
                        .unwrap_or_default(),
                    max_priority_fee_per_gas: quantity("maxPriorityFeePerGas"),
                    queued,
                });
            }
        }
    }
    out.sort_by_key(|t| t.nonce);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_is_read_in_both_shapes_and_gaps_are_the_missing_nonces() {
        let me: Address = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8".parse().unwrap();
        let tx = |nonce: u64, fee: &str| {
            serde_json::json!({
                "hash": format!("0x{:064x}", nonce + 1),
                "nonce": format!("0x{nonce:x}"),
                "to": "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc",
                "maxFeePerGas": fee,
                "maxPriorityFeePerGas": "0x1",
            })
        };
        let whole = serde_json::json!({
            "pending": { "0x70997970c51812dc3a010c7d01b50e0d17dc79c8": { "5": tx(5, "0x64") } },
            "queued": {
                "0x70997970C51812dc3A010C7d01b50e0d17dc79C8": { "8": tx(8, "0x64") },
                "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC": { "0": tx(0, "0x64") }
            },
        });
        let pool = pooled(&whole, Some(me));
        assert_eq!(pool.iter().map(|t| (t.nonce, t.queued)).collect::<Vec<_>>(), [(5, false), (8, true)]);
        assert_eq!(pool[0].max_fee_per_gas, 100);
        let from = serde_json::json!({ "pending": { "5": tx(5, "0x64") }, "queued": { "8": tx(8, "0x64") } });
        assert_eq!(pooled(&from, None), pool);
        let nonces = AccountNonces { address: me, latest: 5, pending: 6, pool: Some(pool) };
        assert_eq!(nonces.gaps(), [6, 7]);
        assert_eq!(nonces.at(8).map(|t| t.queued), Some(true));
        let none = AccountNonces { pool: None, ..nonces };
        assert!(none.gaps().is_empty(), "a node that does not say shows no gap");
    }
}
