//! `eth_getLogs` over long block ranges, through whatever the provider allows. A cap on the
//! blocks of one request is learnt once, from the number its refusal names or else by stepping
//! down the caps providers commonly set, and the rest is scanned in requests of that size,
//! several at a time. A cap on the results of one request splits only that request (where the
//! refusal suggests, else in halves) and leaves the block cap alone. Knows nothing of what the
//! logs mean.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use alloy::primitives::B256;
use alloy::providers::Provider;
use alloy::rpc::client::BatchRequest;
use alloy::rpc::types::{BlockNumberOrTag, Filter, Log};
use alloy::transports::{RpcError, TransportErrorKind};
use anyhow::{Result, bail};
use futures::stream::{self, StreamExt};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::chain::limits::{http_status, is_rate_limit};
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

/// Block caps providers set on `eth_getLogs`, tried from the top when a refusal names none.
const COMMON_CAPS: [u64; 13] =
    [100_000, 50_000, 20_000, 10_000, 5_000, 3_000, 2_000, 1_000, 500, 100, 50, 10, 1];

/// Tries of one request the provider refuses as too frequent.
const RATE_LIMITED_TRIES: u32 = 6;

/// Why a provider did not answer a request, when it is a limit rather than a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Too many blocks; the most it takes, when it says.
    Blocks {
        cap: Option<u64>,
    },
    /// Too many results (or too large, or too slow, a response); the last block of a range
    /// it would answer, when it suggests one.
    Results {
        until: Option<u64>,
    },
    RateLimited,
}

/// Every log `base` matches in each of `ranges` (inclusive), in chain order.
pub async fn logs_in(
    connection: &Connection,
    base: &Filter,
    ranges: &[(u64, u64)],
    how: Chunking,
) -> Result<Vec<Log>> {
    let mut pending: VecDeque<(u64, u64)> = ranges.iter().copied().filter(|(from, to)| from <= to).collect();
    let mut logs = Vec::new();

    // One request at a time until one of the full size has been answered: a refusal then
    // teaches the cap before four requests at once run into it.
    let mut rate_limited = 0;
    while let Some((from, to)) = pending.pop_front() {
        let size = request_size(connection, how);
        let end = to.min(from.saturating_add(size - 1));
        if end < to {
            pending.push_front((end + 1, to));
        }
        match ask(connection, base, from, end).await? {
            Ok(found) => {
                logs.extend(found);
                if end - from + 1 == size {
                    break;
                }
            }
            Err(Refusal::Blocks { cap }) => {
                let asked = end - from + 1;
                if asked == 1 {
                    bail!(
                        "the RPC at {} refuses eth_getLogs even for block {from}: use another --rpc-url",
                        connection.url
                    );
                }
                connection.limits.cap_log_range(smaller_cap(asked, cap));
                give_back(&mut pending, from, end);
            }
            Err(Refusal::Results { until }) => {
                logs.extend(split(connection, base, from, end, Some(Refusal::Results { until })).await?);
            }
            Err(Refusal::RateLimited) => {
                rate_limited += 1;
                wait_for_rate(connection, rate_limited).await?;
                give_back(&mut pending, from, end);
            }
        }
    }

    // The rest in requests of the size learnt, several at a time.
    let size = request_size(connection, how);
    let pieces: Vec<(u64, u64)> = pending
        .into_iter()
        .flat_map(|(from, to)| {
            (from..=to)
                .step_by(size as usize)
                .map(move |start| (start, start.saturating_add(size - 1).min(to)))
        })
        .collect();
    if let Some(cap) = connection.limits.log_range()
        && pieces.len() > 1
    {
        let blocks: u64 = pieces.iter().map(|(from, to)| to - from + 1).sum();
        connection.limits.say_once("log range", || {
            format!(
                "the provider limits eth_getLogs to {} blocks: scanning {} blocks in {} requests, {} at a time",
                grouped(cap),
                grouped(blocks),
                grouped(pieces.len() as u64),
                how.concurrency.max(1)
            )
        });
    }
    let bar = Progress::new(pieces.len());
    let mut results = stream::iter(pieces)
        .map(|(from, to)| split(connection, base, from, to, None))
        .buffered(how.concurrency.max(1));
    while let Some(result) = results.next().await {
        logs.extend(result?);
        bar.advance();
    }
    bar.finish();
    logs.sort_by_key(|log| (log.block_number, log.log_index));
    Ok(logs)
}

/// Blocks per request: the starting chunk, or the provider's cap once one is known.
fn request_size(connection: &Connection, how: Chunking) -> u64 {
    connection.limits.log_range().unwrap_or(how.chunk).min(how.chunk).max(1)
}

/// Puts `from..=end` back at the front of `pending`, joined to the piece cut from it.
fn give_back(pending: &mut VecDeque<(u64, u64)>, from: u64, end: u64) {
    match pending.front_mut() {
        Some(next) if next.0 == end + 1 => next.0 = from,
        _ => pending.push_front((from, end)),
    }
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
    let size = request_size(connection, how);
    let single = match ranges {
        [(from, to)] if to - from < size => Some((*from, *to)),
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
            Err(error) => match refusal(&error) {
                Some(Refusal::Blocks { cap }) if to > from => {
                    connection.limits.cap_log_range(smaller_cap(to - from + 1, cap));
                    logs_in(connection, base, ranges, how).await?
                }
                Some(results @ Refusal::Results { .. }) => {
                    split(connection, base, from, to, Some(results)).await?
                }
                Some(Refusal::RateLimited) => logs_in(connection, base, ranges, how).await?,
                _ => return Err(failure(connection, error, from, to)),
            },
        },
        _ => logs_in(connection, base, ranges, how).await?,
    };
    logs.sort_by_key(|log| (log.block_number, log.log_index));
    Ok((logs, out))
}

/// One range, split where the provider refuses it: at the block its refusal suggests, else
/// in halves. `first` is a refusal already had for the whole range.
async fn split(
    connection: &Connection,
    base: &Filter,
    from: u64,
    to: u64,
    mut first: Option<Refusal>,
) -> Result<Vec<Log>> {
    let mut pending = vec![(from, to)];
    let mut logs = Vec::new();
    let mut rate_limited = 0;
    while let Some((from, to)) = pending.pop() {
        let answer = match first.take() {
            Some(refusal) => Err(refusal),
            None => ask(connection, base, from, to).await?,
        };
        let refusal = match answer {
            Ok(found) => {
                logs.extend(found);
                continue;
            }
            Err(refusal) => refusal,
        };
        if refusal == Refusal::RateLimited {
            rate_limited += 1;
            wait_for_rate(connection, rate_limited).await?;
            pending.push((from, to));
            continue;
        }
        if from == to {
            bail!(
                "the RPC at {} refuses eth_getLogs even for block {from} alone ({refusal:?}): use another --rpc-url",
                connection.url
            );
        }
        let cut = match refusal {
            Refusal::Results { until: Some(until) } if (from..to).contains(&until) => until,
            Refusal::Blocks { cap } => {
                let cap = smaller_cap(to - from + 1, cap);
                connection.limits.cap_log_range(cap);
                from + cap - 1
            }
            _ => from + (to - from) / 2,
        };
        // The later part first on the stack, so the earlier one is read first.
        pending.push((cut + 1, to));
        pending.push((from, cut));
    }
    Ok(logs)
}

/// One `eth_getLogs`: the logs, a limit the provider set, or (the outer error) a failure.
async fn ask(
    connection: &Connection,
    base: &Filter,
    from: u64,
    to: u64,
) -> Result<Result<Vec<Log>, Refusal>> {
    let filter = base.clone().from_block(from).to_block(to);
    match connection.timed_raw(connection.provider.get_logs(&filter)).await? {
        Ok(logs) => Ok(Ok(logs)),
        Err(error) => match refusal(&error) {
            Some(refusal) => Ok(Err(refusal)),
            None => Err(failure(connection, error, from, to)),
        },
    }
}

fn failure(
    connection: &Connection,
    error: RpcError<TransportErrorKind>,
    from: u64,
    to: u64,
) -> anyhow::Error {
    connection.unreachable(error).context(format!("reading logs of blocks {from}-{to}"))
}

async fn wait_for_rate(connection: &Connection, tries: u32) -> Result<()> {
    if tries > RATE_LIMITED_TRIES {
        bail!(
            "the RPC at {} kept refusing eth_getLogs as too frequent: wait a minute, or use another --rpc-url",
            connection.url
        );
    }
    connection
        .limits
        .say_once("log rate", || "the provider limits the rate of eth_getLogs: slowing down".into());
    tokio::time::sleep(Duration::from_millis(250 << tries.min(4))).await;
    Ok(())
}

/// The cap to try after `asked` blocks were refused: the one the refusal named, if below what
/// was asked, else the next common cap below it.
fn smaller_cap(asked: u64, named: Option<u64>) -> u64 {
    named
        .filter(|&cap| (1..asked).contains(&cap))
        .or_else(|| COMMON_CAPS.iter().copied().find(|&cap| cap < asked))
        .unwrap_or(1)
}

/// Whether (and how) `error` is a provider's limit, from its HTTP status, code and words.
fn refusal(error: &RpcError<TransportErrorKind>) -> Option<Refusal> {
    let (code, message) = match error {
        RpcError::ErrorResp(payload) => (payload.code, payload.message.to_lowercase()),
        _ => {
            return match http_status(error) {
                Some(429) => Some(Refusal::RateLimited),
                Some(413) => Some(Refusal::Results { until: None }),
                _ => None,
            };
        }
    };
    let has = |words: &[&str]| words.iter().any(|w| message.contains(w));
    if is_rate_limit(code, &message) {
        return Some(Refusal::RateLimited);
    }
    if has(&[
        "results",
        "response size",
        "too many logs",
        "log response",
        "response is too",
        "timeout",
        "timed out",
    ]) {
        return Some(Refusal::Results { until: suggested_end(&message) });
    }
    if has(&["block range", "range", "blocks"]) {
        return Some(Refusal::Blocks { cap: named_cap(&message) });
    }
    let limit_code = [-32005, -32600, -32602, -32000].contains(&code);
    (limit_code && has(&["limit", "exceed", "too large", "too big", "max"]))
        .then(|| Refusal::Blocks { cap: named_cap(&message) })
}

/// The last block of the range a refusal suggests: "[0x1c9c380, 0x1c9ea8f]".
fn suggested_end(message: &str) -> Option<u64> {
    let open = message.rfind('[')?;
    let inside = &message[open + 1..open + 1 + message[open + 1..].find(']')?];
    let (_, end) = inside.split_once(',')?;
    u64::from_str_radix(end.trim().trim_start_matches("0x"), 16).ok()
}

/// The block cap a refusal names: the number after "max", "limit", "up to" or the like, else
/// the only number in it ("10,000" and "2k" read as numbers).
fn named_cap(message: &str) -> Option<u64> {
    let numbers = numbers(message);
    let after = |keyword: &str| {
        let at = message.find(keyword)? + keyword.len();
        numbers.iter().find(|(position, _)| *position >= at).map(|(_, n)| *n)
    };
    ["maximum", "max", "limited to", "limit", "up to", "at most", "cap"]
        .iter()
        .find_map(|k| after(k))
        .or(match numbers.as_slice() {
            [(_, only)] => Some(*only),
            _ => None,
        })
        .filter(|&n| n > 0)
}

/// Each decimal number in `text` with where it starts: digits with ',' or '_' between them,
/// and a 'k' right after for thousands. Hex (0x...) is skipped.
fn numbers(text: &str) -> Vec<(usize, u64)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() || (i > 0 && bytes[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        if bytes[i] == b'0' && bytes.get(i + 1) == Some(&b'x') {
            i += 2;
            while i < bytes.len() && bytes[i].is_ascii_hexdigit() {
                i += 1;
            }
            continue;
        }
        let start = i;
        let mut value: u64 = 0;
        while i < bytes.len() {
            match bytes[i] {
                digit @ b'0'..=b'9' => {
                    value = value.saturating_mul(10).saturating_add(u64::from(digit - b'0'))
                }
                b',' | b'_' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {}
                _ => break,
            }
            i += 1;
        }
        if matches!(bytes.get(i), Some(b'k')) && !bytes.get(i + 1).is_some_and(u8::is_ascii_alphabetic) {
            value = value.saturating_mul(1_000);
        }
        out.push((start, value));
    }
    out
}

/// 1600 as "1,600".
fn grouped(n: u64) -> String {
    crate::units::format_token(alloy::primitives::U256::from(n), 0)
}

/// A bar on a terminal for a scan still running after a second; nothing elsewhere.
struct Progress {
    bar: ProgressBar,
    started: Instant,
    shown: AtomicBool,
}

impl Progress {
    fn new(requests: usize) -> Self {
        let bar = ProgressBar::with_draw_target(Some(requests as u64), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} reading the pause's history {pos}/{len} requests {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Self { bar, started: Instant::now(), shown: AtomicBool::new(false) }
    }

    fn advance(&self) {
        self.bar.inc(1);
        let due = self.started.elapsed() >= Duration::from_secs(1) && std::io::stderr().is_terminal();
        if due && !self.shown.swap(true, Ordering::Relaxed) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::rpc::json_rpc::ErrorPayload;

    fn error(code: i64, message: &str) -> RpcError<TransportErrorKind> {
        RpcError::ErrorResp(ErrorPayload { code, message: message.to_owned().into(), data: None })
    }

    #[test]
    fn the_usual_refusals_are_told_apart_and_their_numbers_read() {
        let blocks = |cap| Some(Refusal::Blocks { cap });
        assert_eq!(
            refusal(&error(-32602, "eth_getLogs block range is too large, max is 10000")),
            blocks(Some(10_000))
        );
        assert_eq!(refusal(&error(-32600, "eth_getLogs is limited to a 10,000 range")), blocks(Some(10_000)));
        assert_eq!(
            refusal(&error(-32000, "requested too many blocks from 0 to 20000, maximum is set to 2048")),
            blocks(Some(2_048))
        );
        assert_eq!(refusal(&error(-32005, "limit exceeded")), blocks(None));
        assert_eq!(
            refusal(&error(
                -32005,
                "query returned more than 10000 results. Try with this block range [0x1c9c380, 0x1c9ea8f]."
            )),
            Some(Refusal::Results { until: Some(0x1c9ea8f) })
        );
        assert_eq!(
            refusal(&error(
                -32602,
                "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no \
                 limit on the response size, or you can request any block range with a cap of 10K logs in the \
                 response. Based on your parameters, this block range should work: [0x3d090, 0x3fa7b]"
            )),
            Some(Refusal::Results { until: Some(0x3fa7b) })
        );
        assert_eq!(
            refusal(&error(429, "Your app has exceeded its compute units per second capacity")),
            Some(Refusal::RateLimited)
        );
        assert_eq!(refusal(&error(-32000, "header not found")), None);
        assert_eq!(refusal(&error(-32601, "the method eth_getLogs does not exist/is not available")), None);
    }

    #[test]
    fn without_a_number_the_next_common_cap_below_is_tried() {
        assert_eq!(smaller_cap(2_001, None), 2_000);
        assert_eq!(smaller_cap(2_000, None), 1_000);
        assert_eq!(smaller_cap(150, None), 100);
        assert_eq!(smaller_cap(100_000, Some(10_000)), 10_000);
        assert_eq!(smaller_cap(5_000, Some(10_000)), 3_000, "a named cap above what was refused is no help");
        assert_eq!(smaller_cap(2, None), 1);
    }

    #[test]
    fn numbers_read_with_separators_and_thousands() {
        assert_eq!(numbers("up to a 2k block range"), [(8, 2_000)]);
        assert_eq!(numbers("more than 10,000 results in 0x1f blocks"), [(10, 10_000)]);
        assert_eq!(named_cap("block range limit (100) exceeded"), Some(100));
        assert_eq!(grouped(1_600), "1,600");
        assert_eq!(grouped(16_000_000), "16,000,000");
    }
}
