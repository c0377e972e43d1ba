//! `eth_getLogs` over long block ranges: asked in chunks, several at a time, and a chunk the
//! provider refuses (too many blocks or results) is split in two and asked again, down to
//! single blocks. Knows nothing of what the logs mean.

use alloy::primitives::B256;
use alloy::providers::Provider;
use alloy::rpc::client::BatchRequest;
use alloy::rpc::types::{BlockNumberOrTag, Filter, Log};
use anyhow::{Context, Result};
use futures::stream::{self, StreamExt};

use crate::chain::rpc::Connection;

/// How to ask.
#[derive(Debug, Clone, Copy)]
pub struct Chunking {
    /// Blocks per `eth_getLogs` to start with.
    pub chunk: u64,
    /// Requests in flight at once.
    pub concurrency: usize,
}

impl Default for Chunking {
    fn default() -> Self {
        Self { chunk: 100_000, concurrency: 4 }
    }
}

/// Every log `base` matches in each of `ranges` (inclusive), in chain order.
pub async fn logs_in(
    connection: &Connection,
    base: &Filter,
    ranges: &[(u64, u64)],
    how: Chunking,
) -> Result<Vec<Log>> {
    let chunk = how.chunk.max(1);
    let pieces: Vec<(u64, u64)> = ranges
        .iter()
        .flat_map(|&(from, to)| {
            (from..=to)
                .step_by(chunk as usize)
                .map(move |start| (start, start.saturating_add(chunk - 1).min(to)))
        })
        .collect();
    let results: Vec<Result<Vec<Log>>> = stream::iter(pieces)
        .map(|(from, to)| logs_split(connection, base, from, to))
        .buffered(how.concurrency.max(1))
        .collect()
        .await;
    let mut logs = Vec::new();
    for result in results {
        logs.extend(result?);
    }
    logs.sort_by_key(|log| (log.block_number, log.log_index));
    Ok(logs)
}

/// As [`logs_in`], and the hashes of `blocks` (`None` for a block the node does not have). When
/// the ranges fit one request, hashes and logs travel in the same HTTP request.
pub async fn logs_and_hashes(
    connection: &Connection,
    base: &Filter,
    ranges: &[(u64, u64)],
    how: Chunking,
    blocks: &[u64],
) -> Result<(Vec<Log>, Vec<Option<B256>>)> {
    if blocks.is_empty() {
        return Ok((logs_in(connection, base, ranges, how).await?, Vec::new()));
    }
    let single = match ranges {
        [(from, to)] if to - from < how.chunk.max(1) => Some((*from, *to)),
        _ => None,
    };
    let mut batch = BatchRequest::new(connection.provider.client());
    let hashes: Vec<_> = blocks
        .iter()
        .map(|&b| {
            batch.add_call::<_, Option<serde_json::Value>>(
                "eth_getBlockByNumber",
                &(BlockNumberOrTag::Number(b), false),
            )
        })
        .collect::<Result<_, _>>()?;
    let logs = match single {
        Some((from, to)) => Some(
            batch.add_call::<_, Vec<Log>>("eth_getLogs", &(base.clone().from_block(from).to_block(to),))?,
        ),
        None => None,
    };
    connection.timed(batch.send()).await?;
    let mut out = Vec::with_capacity(hashes.len());
    for waiter in hashes {
        let block = connection.timed(waiter).await?;
        out.push(block.and_then(|b| b.get("hash").and_then(|h| h.as_str()).and_then(|h| h.parse().ok())));
    }
    let mut logs = match (logs, single) {
        (Some(waiter), Some((from, to))) => match connection.timed_raw(waiter).await? {
            Ok(logs) => logs,
            // Refused as too large: asked again piece by piece.
            Err(_) => logs_split(connection, base, from, to).await?,
        },
        _ => logs_in(connection, base, ranges, how).await?,
    };
    logs.sort_by_key(|log| (log.block_number, log.log_index));
    Ok((logs, out))
}

/// One range, split in halves while the provider refuses it.
async fn logs_split(connection: &Connection, base: &Filter, from: u64, to: u64) -> Result<Vec<Log>> {
    let mut pending = vec![(from, to)];
    let mut logs = Vec::new();
    while let Some((from, to)) = pending.pop() {
        let filter = base.clone().from_block(from).to_block(to);
        match connection.timed_raw(connection.provider.get_logs(&filter)).await? {
            Ok(found) => logs.extend(found),
            Err(error) if to > from && is_range_refusal(&error.to_string()) => {
                let mid = from + (to - from) / 2;
                // Later half first on the stack, so the earlier half is fetched first.
                pending.push((mid + 1, to));
                pending.push((from, mid));
            }
            Err(error) => {
                return Err(connection.unreachable(error)).context(format!("reading pause logs {from}-{to}"));
            }
        }
    }
    Ok(logs)
}

/// Provider messages that mean "ask for less" (ranges, result counts, response size, time).
fn is_range_refusal(message: &str) -> bool {
    let m = message.to_lowercase();
    ["range", "too many", "limit", "exceed", "more than", "timeout", "too large", "query returned"]
        .iter()
        .any(|needle| m.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::is_range_refusal;

    #[test]
    fn provider_refusals_are_told_from_failures() {
        assert!(is_range_refusal("query returned more than 10000 results"));
        assert!(is_range_refusal("eth_getLogs block range is too large, max is 10000"));
        assert!(!is_range_refusal("connection refused"));
    }
}
