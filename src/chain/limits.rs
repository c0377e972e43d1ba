//! What an endpoint accepts, learnt from its refusals: how many calls one JSON-RPC batch may
//! carry and how many blocks one `eth_getLogs` may span. Learnt once, shared by every request
//! of the run, said once on stderr, and kept in the cache directory per endpoint so that the
//! next run starts where this one ended instead of being refused all over again.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use alloy::primitives::keccak256;
use alloy::transports::{RpcError, TransportErrorKind};
use serde::{Deserialize, Serialize};

/// Calls per batch to start with over HTTP. geth, Nethermind, Besu and Alchemy take about a
/// thousand, but Erigon and Polygon's bor refuse more than 100 by default, and a hundred keeps
/// a 5,000-plan queue to a few dozen requests.
pub const HTTP_BATCH: usize = 100;
/// Over a websocket: Alchemy takes at most 20 calls a batch there.
pub const WS_BATCH: usize = 20;

/// One endpoint's limits, as learnt so far.
#[derive(Debug)]
pub struct Limits {
    /// The batch size the run started with.
    initial_batch: usize,
    batch: AtomicUsize,
    /// Blocks per `eth_getLogs`; 0 while no cap is known.
    log_range: AtomicU64,
    /// Whether this run learnt something the file does not hold yet.
    changed: AtomicBool,
    /// Whether the file was read (once per run).
    loaded: AtomicBool,
    said: Mutex<HashSet<&'static str>>,
}

/// What the file keeps per endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Learnt {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    batch: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_range: Option<u64>,
}

impl Limits {
    pub fn new(websocket: bool) -> Self {
        let initial_batch = if websocket { WS_BATCH } else { HTTP_BATCH };
        Self {
            initial_batch,
            batch: AtomicUsize::new(initial_batch),
            log_range: AtomicU64::new(0),
            changed: AtomicBool::new(false),
            loaded: AtomicBool::new(false),
            said: Mutex::new(HashSet::new()),
        }
    }

    /// Calls to put in one batch.
    pub fn batch(&self) -> usize {
        self.batch.load(Ordering::Relaxed)
    }

    /// After a batch of `size` calls was refused with `answered` of them answered: the size
    /// to send from now on (the count answered when the provider stopped there, else half).
    pub fn shrink_batch(&self, size: usize, answered: usize) -> usize {
        let smaller = if (1..size).contains(&answered) { answered } else { (size / 2).max(1) };
        let before = self.batch.fetch_min(smaller, Ordering::Relaxed);
        self.changed.store(true, Ordering::Relaxed);
        before.min(smaller)
    }

    /// The most blocks one `eth_getLogs` may span, when a cap is known.
    pub fn log_range(&self) -> Option<u64> {
        Some(self.log_range.load(Ordering::Relaxed)).filter(|&blocks| blocks > 0)
    }

    /// Caps `eth_getLogs` at `blocks` blocks (never raising a cap already learnt).
    pub fn cap_log_range(&self, blocks: u64) {
        self.lower_log_range(blocks);
        self.changed.store(true, Ordering::Relaxed);
    }

    fn lower_log_range(&self, blocks: u64) {
        let blocks = blocks.max(1);
        let _ = self.log_range.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
            (now == 0 || blocks < now).then_some(blocks)
        });
    }

    /// Prints `message()` on stderr the first time `topic` comes up in this run.
    pub fn say_once(&self, topic: &'static str, message: impl FnOnce() -> String) {
        if self.said.lock().expect("said lock").insert(topic) {
            eprintln!("{}", message());
        }
    }

    /// Starts from what an earlier run learnt of `url`, kept under `dir` (once per run; a
    /// missing or damaged file is no limit at all).
    pub fn load(&self, dir: &Path, url: &str) {
        if self.loaded.swap(true, Ordering::Relaxed) {
            return;
        }
        let Some(learnt) = read(dir).remove(&endpoint_key(url)) else { return };
        if let Some(batch) = learnt.batch {
            self.batch.fetch_min(batch.max(1), Ordering::Relaxed);
        }
        if let Some(blocks) = learnt.log_range {
            self.lower_log_range(blocks);
        }
    }

    /// Keeps what this run learnt of `url` under `dir`, if anything (errors are the caller's to
    /// report: the limits are an optimisation).
    pub fn store(&self, dir: &Path, url: &str) -> std::io::Result<()> {
        if !self.changed.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        let mut all = read(dir);
        let batch = self.batch();
        let learnt =
            Learnt { batch: (batch < self.initial_batch).then_some(batch), log_range: self.log_range() };
        all.insert(endpoint_key(url), learnt);
        std::fs::create_dir_all(dir)?;
        let path = file(dir);
        let temporary = path.with_extension(format!("json.{}", std::process::id()));
        std::fs::write(&temporary, serde_json::to_vec_pretty(&all)?)?;
        std::fs::rename(&temporary, &path)
    }
}

/// Whether a provider's error (its code and lower-cased message) says "too fast" rather than
/// "too much": the request is then worth asking again after a wait.
pub fn is_rate_limit(code: i64, message: &str) -> bool {
    code == 429
        || ["rate limit", "too many requests", "request rate", "capacity", "throttl"]
            .iter()
            .any(|m| message.contains(m))
}

/// The HTTP status of a failure the endpoint answered with one (413, 429...).
pub fn http_status(error: &RpcError<TransportErrorKind>) -> Option<u16> {
    match error {
        RpcError::Transport(kind) => kind.as_http_error().map(|e| e.status),
        _ => None,
    }
}

/// The file of every endpoint's limits.
fn file(dir: &Path) -> PathBuf {
    dir.join("endpoints.json")
}

fn read(dir: &Path) -> BTreeMap<String, Learnt> {
    std::fs::read(file(dir)).ok().and_then(|text| serde_json::from_slice(&text).ok()).unwrap_or_default()
}

/// An endpoint's name in the file: a hash of its URL, which often carries an API key that has
/// no business in a cache file.
fn endpoint_key(url: &str) -> String {
    hex::encode(&keccak256(url.trim_end_matches('/').as_bytes())[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_shrinks_to_what_was_answered_or_by_half_and_never_grows() {
        let limits = Limits::new(false);
        assert_eq!(limits.batch(), HTTP_BATCH);
        assert_eq!(limits.shrink_batch(100, 50), 50, "the provider answered the first 50");
        assert_eq!(limits.shrink_batch(50, 0), 25, "nothing answered: half");
        assert_eq!(limits.shrink_batch(100, 0), 25, "a late refusal of a larger batch does not grow it");
        assert_eq!(Limits::new(true).batch(), WS_BATCH);
    }

    #[test]
    fn what_was_learnt_is_kept_per_endpoint_without_its_url() {
        let dir = std::env::temp_dir().join(format!("defender-limits-test-{}", std::process::id()));
        let url = "https://eth-mainnet.example/v2/SECRET-KEY";
        let limits = Limits::new(false);
        limits.cap_log_range(10_000);
        limits.cap_log_range(20_000);
        assert_eq!(limits.log_range(), Some(10_000), "a cap is never raised");
        limits.shrink_batch(100, 40);
        limits.store(&dir, url).unwrap();
        let text = std::fs::read_to_string(file(&dir)).unwrap();
        assert!(!text.contains("SECRET") && !text.contains("example"), "{text}");

        let next_run = Limits::new(false);
        next_run.load(&dir, url);
        assert_eq!((next_run.batch(), next_run.log_range()), (40, Some(10_000)));
        let other = Limits::new(false);
        other.load(&dir, "http://127.0.0.1:8545");
        assert_eq!((other.batch(), other.log_range()), (HTTP_BATCH, None), "another endpoint starts afresh");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
