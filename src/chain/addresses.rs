//! Where the contracts are: the address book file, and the names the chainlog gives them.
//!
//! Contracts are named by their chainlog keys everywhere (files, previews, JSON output), so a
//! devnet address book and mainnet's chainlog read the same way.

use std::collections::BTreeMap;
use std::path::Path;

use alloy::primitives::Address;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// Chainlog keys the client reads. The names are mainnet's, plus the defender's own.
pub mod keys {
    pub const CHANGELOG: &str = "CHANGELOG";
    pub const MCD_GOV: &str = "MCD_GOV";
    pub const MCD_IOU: &str = "MCD_IOU";
    pub const MCD_ADM: &str = "MCD_ADM";
    pub const MCD_PAUSE: &str = "MCD_PAUSE";
    pub const MCD_PAUSE_PROXY: &str = "MCD_PAUSE_PROXY";
    pub const MCD_ESM: &str = "MCD_ESM";
    pub const MCD_END: &str = "MCD_END";
    pub const VOTE_DELEGATE_FACTORY: &str = "VOTE_DELEGATE_FACTORY";
    pub const VOTE_PROXY_FACTORY: &str = "VOTE_PROXY_FACTORY";
    pub const MCD_DEFENDER: &str = "MCD_DEFENDER";
    pub const MCD_DEFENDER_AUTHORITY: &str = "MCD_DEFENDER_AUTHORITY";
    pub const MCD_DEFENDER_FAB: &str = "MCD_DEFENDER_FAB";
    pub const MCD_PROTEGO: &str = "MCD_PROTEGO";
    pub const MKR: &str = "MKR";
    pub const MKR_SKY: &str = "MKR_SKY";
    pub const MCD_ADM_LEGACY: &str = "MCD_ADM_LEGACY";
    pub const VOTE_DELEGATE_FACTORY_LEGACY: &str = "VOTE_DELEGATE_FACTORY_LEGACY";
    /// Not a chainlog key: the legacy chief's IOU, named so previews can label it.
    pub const MCD_IOU_LEGACY: &str = "MCD_IOU_LEGACY";
    // Not chainlog keys: the devnet's Safe contracts and its demo Safe (address book only).
    pub const SAFE_DEMO: &str = "SAFE_DEMO";
    pub const SAFE_SINGLETON: &str = "SAFE_SINGLETON";
    pub const SAFE_L2_SINGLETON: &str = "SAFE_L2_SINGLETON";
    pub const SAFE_PROXY_FACTORY: &str = "SAFE_PROXY_FACTORY";
    pub const SAFE_FALLBACK_HANDLER: &str = "SAFE_FALLBACK_HANDLER";
    pub const SAFE_MULTI_SEND_CALL_ONLY: &str = "SAFE_MULTI_SEND_CALL_ONLY";
}

/// A chainlog key as the chainlog stores it: the name left-aligned in a bytes32, as
/// `"MCD_PAUSE"` is in Solidity. DSToken's bytes32 symbols use the same form.
pub fn chainlog_key(key: &str) -> alloy::primitives::B256 {
    let mut word = alloy::primitives::B256::ZERO;
    word[..key.len()].copy_from_slice(key.as_bytes());
    word
}

/// The JSON file a devnet writes and `--addresses` reads, for chains without a chainlog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressBook {
    /// Format version, bumped on incompatible changes.
    pub version: u32,
    pub chain_id: u64,
    /// Where the devnet that wrote the file listens; informational for other chains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc_url: Option<String>,
    /// Contracts by chainlog key.
    pub contracts: BTreeMap<String, Address>,
}

impl AddressBook {
    pub const VERSION: u32 = 1;

    pub fn new(chain_id: u64, rpc_url: Option<String>) -> Self {
        Self { version: Self::VERSION, chain_id, rpc_url, contracts: BTreeMap::new() }
    }

    pub fn insert(&mut self, key: &str, address: Address) {
        self.contracts.insert(key.to_owned(), address);
    }

    /// The address registered under `key`, or an error naming the key and the file's keys.
    pub fn get(&self, key: &str) -> Result<Address> {
        match self.contracts.get(key) {
            Some(address) => Ok(*address),
            None => bail!(
                "the address book has no {key} (it has: {}); regenerate it with `defender devnet` or add the key",
                self.contracts.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// The chainlog key of `address`, for labelling transactions.
    pub fn name_of(&self, address: Address) -> Option<&str> {
        self.contracts.iter().find(|(_, a)| **a == address).map(|(k, _)| k.as_str())
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the address book {}", path.display()))?;
        let book: Self = serde_json::from_str(&text).with_context(|| {
            format!("{} is not a defender address book (JSON with chain_id and contracts)", path.display())
        })?;
        if book.version != Self::VERSION {
            bail!(
                "{} is address-book version {}, this defender reads version {}: regenerate it with `defender devnet`",
                path.display(),
                book.version,
                Self::VERSION
            );
        }
        Ok(book)
    }

    /// Writes the file atomically (temp file, then rename), so a reader never sees half of it.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)? + "\n";
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names_addresses() {
        let mut book = AddressBook::new(31337, Some("http://127.0.0.1:8545".into()));
        let pause = Address::repeat_byte(0x11);
        book.insert(keys::MCD_PAUSE, pause);
        let text = serde_json::to_string(&book).unwrap();
        let back: AddressBook = serde_json::from_str(&text).unwrap();
        assert_eq!(back, book);
        assert_eq!(back.name_of(pause), Some("MCD_PAUSE"));
        assert_eq!(back.get(keys::MCD_PAUSE).unwrap(), pause);
        let missing = back.get(keys::MCD_ESM).unwrap_err().to_string();
        assert!(missing.contains("MCD_ESM") && missing.contains("MCD_PAUSE"), "{missing}");
    }
}

/// Parses an address as people paste them: all lower or upper case is taken as is; mixed
/// case must carry a correct EIP-55 checksum, so a mistyped character is caught.
pub fn parse_address(text: &str) -> Result<Address, String> {
    let hex = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
    if hex.len() != 40 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("{text:?} is not an address (0x followed by 40 hex digits)"));
    }
    let mixed = hex.chars().any(|c| c.is_ascii_lowercase()) && hex.chars().any(|c| c.is_ascii_uppercase());
    if mixed {
        Address::parse_checksummed(format!("0x{hex}"), None).map_err(|_| {
            format!("{text:?} has a wrong EIP-55 checksum: a character is mistyped; copy the address again")
        })
    } else {
        format!("0x{hex}").parse().map_err(|_| format!("{text:?} is not an address"))
    }
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn checksums_are_enforced_only_on_mixed_case() {
        let good = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
        assert!(parse_address(good).is_ok());
        assert!(parse_address(&good.to_lowercase()).is_ok());
        assert!(parse_address(&good.to_uppercase().replace("0X", "0x")).is_ok());
        let bad = "0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
        assert!(parse_address(bad).unwrap_err().contains("checksum"));
        assert!(parse_address("0x1234").unwrap_err().contains("40 hex digits"));
    }
}
