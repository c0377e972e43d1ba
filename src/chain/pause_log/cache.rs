//! What the pause's log (and Protego's) has already told, kept on disk so a command does not
//! read 16 million blocks of history again. One file per chain and pair of contracts, holding
//! only blocks at least [`SAFE_DEPTH`] below the head they were read at; everything above is
//! read again each time, so a reorg there cannot leave a stale log behind.
//!
//! The cache only saves `eth_getLogs` requests: the state of each plan the logs leave open is
//! still asked of the chain (`plans(id)`), and a file that cannot be read is ignored with a
//! warning. What the provider was found to accept is kept beside it (`chain::limits`).

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256, Bytes, LogData};
use alloy::rpc::types::Log;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Blocks below the head before a log is cached: two epochs, past mainnet's finality.
pub const SAFE_DEPTH: u64 = 64;

const VERSION: u32 = 1;

/// Where the cache lives: `$DEFENDER_CACHE_DIR`, else `$XDG_CACHE_HOME/defender`, else
/// `~/.cache/defender`.
pub fn default_dir() -> Option<PathBuf> {
    crate::dirs::from_env("DEFENDER_CACHE_DIR")
        .or_else(|| crate::dirs::defender_dir("XDG_CACHE_HOME", ".cache"))
}

/// What a cache file is for: logs of these contracts on this chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub chain_id: u64,
    pub contracts: Vec<Address>,
}

/// A log as stored: enough to decode it again.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredLog {
    block: u64,
    index: u64,
    address: Address,
    topics: Vec<B256>,
    data: Bytes,
}

/// The file's contents: every matching log in `from..=to`.
#[derive(Debug, Serialize, Deserialize)]
struct File {
    version: u32,
    scope: Scope,
    from: u64,
    to: u64,
    /// The hash of block `to`: a chain that no longer has it (a deep reorg, or a devnet
    /// started again with the same id and addresses) is not the one these logs came from.
    to_hash: B256,
    logs: Vec<StoredLog>,
}

/// The logs one cache file holds, and the blocks they cover.
#[derive(Debug, Clone, Default)]
pub struct Covered {
    pub from: u64,
    pub to: u64,
    pub to_hash: B256,
    pub logs: Vec<Log>,
}

/// One cache file.
pub struct LogCache {
    path: PathBuf,
    scope: Scope,
}

impl LogCache {
    pub fn new(dir: &Path, scope: Scope) -> Self {
        let names: Vec<String> = scope.contracts.iter().map(|a| format!("{a:x}")).collect();
        let path =
            dir.join("pause-logs").join(scope.chain_id.to_string()).join(format!("{}.json", names.join("-")));
        Self { path, scope }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the file holds; `None` when there is no file, or one that does not belong (a
    /// warning is printed for a damaged or foreign one, which is then ignored).
    pub fn load(&self) -> Option<Covered> {
        let text = match std::fs::read(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                self.warn(&e.to_string());
                return None;
            }
        };
        let file: File = match serde_json::from_slice(&text) {
            Ok(file) => file,
            Err(e) => {
                self.warn(&format!("it is not a log cache ({e})"));
                return None;
            }
        };
        if file.version != VERSION || file.scope != self.scope || file.from > file.to {
            self.warn("it was written for another chain, contract or version");
            return None;
        }
        let logs = file
            .logs
            .into_iter()
            .map(|l| Log {
                inner: alloy::primitives::Log {
                    address: l.address,
                    data: LogData::new_unchecked(l.topics, l.data),
                },
                block_number: Some(l.block),
                log_index: Some(l.index),
                ..Log::default()
            })
            .collect();
        Some(Covered { from: file.from, to: file.to, to_hash: file.to_hash, logs })
    }

    /// Replaces the file with `logs`, every matching log of blocks `from..=to` (`to_hash` being
    /// block `to`'s hash), atomically: a reader never sees half a file.
    pub fn store(&self, from: u64, to: u64, to_hash: B256, logs: &[Log]) -> Result<()> {
        let file = File {
            version: VERSION,
            scope: self.scope.clone(),
            from,
            to,
            to_hash,
            logs: logs
                .iter()
                .map(|l| StoredLog {
                    block: l.block_number.unwrap_or_default(),
                    index: l.log_index.unwrap_or_default(),
                    address: l.inner.address,
                    topics: l.inner.data.topics().to_vec(),
                    data: l.inner.data.data.clone(),
                })
                .collect(),
        };
        let dir = self.path.parent().expect("the cache path has a directory");
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let temporary = self.path.with_extension(format!("json.{}", std::process::id()));
        std::fs::write(&temporary, serde_json::to_vec(&file)?)
            .with_context(|| format!("writing {}", temporary.display()))?;
        std::fs::rename(&temporary, &self.path).with_context(|| format!("replacing {}", self.path.display()))
    }

    pub fn warn(&self, why: &str) {
        eprintln!(
            "warning: ignoring the log cache {}: {why}; reading the history from the chain instead",
            self.path.display()
        );
    }
}

/// The ranges of `from..=to` the cache does not cover, at most two.
pub fn missing(from: u64, to: u64, cached: Option<&Covered>) -> Vec<(u64, u64)> {
    let Some(c) = cached else { return vec![(from, to)] };
    let mut out = Vec::new();
    if from < c.from {
        out.push((from, to.min(c.from - 1)));
    }
    if to > c.to {
        out.push((from.max(c.to + 1), to));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covered(from: u64, to: u64) -> Covered {
        Covered { from, to, to_hash: B256::ZERO, logs: Vec::new() }
    }

    #[test]
    fn only_blocks_outside_the_cache_are_asked() {
        assert_eq!(missing(0, 100, None), vec![(0, 100)]);
        assert_eq!(missing(0, 100, Some(&covered(0, 36))), vec![(37, 100)]);
        assert_eq!(missing(10, 30, Some(&covered(0, 36))), Vec::<(u64, u64)>::new());
        assert_eq!(missing(0, 100, Some(&covered(20, 36))), vec![(0, 19), (37, 100)]);
        assert_eq!(missing(50, 100, Some(&covered(20, 36))), vec![(50, 100)]);
    }

    #[test]
    fn a_damaged_or_foreign_file_is_ignored() {
        let dir = std::env::temp_dir().join(format!("defender-cache-test-{}", std::process::id()));
        let scope = Scope { chain_id: 31337, contracts: vec![Address::repeat_byte(1)] };
        let cache = LogCache::new(&dir, scope.clone());
        assert!(cache.load().is_none());
        let log = Log {
            inner: alloy::primitives::Log {
                address: Address::repeat_byte(1),
                data: LogData::new_unchecked(vec![B256::repeat_byte(2)], Bytes::from(vec![3])),
            },
            block_number: Some(7),
            log_index: Some(1),
            ..Log::default()
        };
        cache.store(0, 9, B256::repeat_byte(9), std::slice::from_ref(&log)).unwrap();
        let back = cache.load().unwrap();
        assert_eq!((back.from, back.to, back.to_hash, back.logs.len()), (0, 9, B256::repeat_byte(9), 1));
        assert_eq!(back.logs[0].inner, log.inner);
        assert_eq!(back.logs[0].block_number, Some(7));

        let other = LogCache::new(&dir, Scope { chain_id: 1, ..scope });
        std::fs::create_dir_all(other.path().parent().unwrap()).unwrap();
        std::fs::copy(cache.path(), other.path()).unwrap();
        assert!(other.load().is_none(), "a file for another chain is not used");

        std::fs::write(cache.path(), b"{\"version\":1,\"scope\":").unwrap();
        assert!(cache.load().is_none(), "a truncated file is not used");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
