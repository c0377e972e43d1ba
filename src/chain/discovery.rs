//! Where the contracts come from: an address book file or a chainlog, decided without RPC.

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, address};
use anyhow::Result;

use crate::chain::addresses::{AddressBook, keys};

/// MakerDAO's chainlog on Ethereum mainnet.
pub const MAINNET_CHAINLOG: Address = address!("dA0Ab1e0017DEbCd72Be8599041a2aa3bA7e740F");

/// The origin of the addresses for this run.
#[derive(Debug, Clone)]
pub struct Sources {
    /// A chainlog to read missing addresses from (zero: none).
    pub chainlog: Address,
    /// Addresses known up front (from `--addresses`, or the devnet's book).
    pub book: Option<AddressBook>,
    /// Where the book came from, for messages.
    pub origin: String,
    /// `--defender`: this instance rather than the book's or the chainlog's.
    pub defender: Option<Address>,
}

impl Sources {
    /// The book in DefenderLens's order (see its constructor); zero = look it up.
    pub fn lens_book(&self) -> [Address; 9] {
        let get = |key| self.book.as_ref().and_then(|b| b.contracts.get(key).copied()).unwrap_or_default();
        [
            get(keys::MCD_ADM),
            get(keys::MCD_PAUSE),
            get(keys::MCD_ESM),
            self.defender.unwrap_or_else(|| get(keys::MCD_DEFENDER)),
            get(keys::MCD_PROTEGO),
            get(keys::MCD_ADM_LEGACY),
            get(keys::MKR),
            get(keys::MKR_SKY),
            get(keys::VOTE_DELEGATE_FACTORY),
        ]
    }
}

/// What the user said about where the contracts are: plain values, so this layer never
/// depends on the command line's structs.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    pub rpc_url: &'a str,
    /// `--addresses FILE`.
    pub addresses: Option<&'a Path>,
    /// `--chainlog ADDRESS`.
    pub chainlog: Option<Address>,
    /// `--defender ADDRESS`.
    pub defender: Option<Address>,
}

/// In order: `--addresses FILE`; `--chainlog ADDRESS`; the running devnet's address book when
/// `--rpc-url` is that devnet's; else mainnet's chainlog (on another chain it has no code, and
/// the snapshot then says that no contracts were found).
pub fn resolve(wanted: &Wanted<'_>) -> Result<Sources> {
    let mut sources = resolve_book(wanted)?;
    sources.defender = wanted.defender;
    Ok(sources)
}

fn resolve_book(global: &Wanted<'_>) -> Result<Sources> {
    if let Some(path) = global.addresses {
        let book = AddressBook::load(path)?;
        let chainlog = book.contracts.get(keys::CHANGELOG).copied().unwrap_or_default();
        return Ok(Sources {
            chainlog,
            book: Some(book),
            origin: path.display().to_string(),
            defender: None,
        });
    }
    if let Some(chainlog) = global.chainlog {
        return Ok(Sources {
            chainlog,
            book: None,
            origin: format!("the chainlog at {chainlog}"),
            defender: None,
        });
    }
    let devnet_book: PathBuf = crate::devnet::default_state_dir().join(crate::devnet::ADDRESS_BOOK);
    if let Ok(book) = AddressBook::load(&devnet_book)
        && book.rpc_url.as_deref().is_some_and(|url| same_endpoint(url, global.rpc_url))
    {
        let chainlog = book.contracts.get(keys::CHANGELOG).copied().unwrap_or_default();
        return Ok(Sources {
            chainlog,
            book: Some(book),
            origin: devnet_book.display().to_string(),
            defender: None,
        });
    }
    Ok(Sources {
        chainlog: MAINNET_CHAINLOG,
        book: None,
        origin: "mainnet's chainlog".into(),
        defender: None,
    })
}

/// Whether two URLs reach the same node. A node serves websockets on its HTTP port (anvil
/// does), so ws:// and http:// to the same host and port are one endpoint.
fn same_endpoint(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        let s = s.trim_end_matches('/').replace("localhost", "127.0.0.1");
        s.replacen("wss://", "https://", 1).replacen("ws://", "http://", 1)
    };
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::same_endpoint;

    #[test]
    fn one_node_under_its_several_names() {
        assert!(same_endpoint("http://127.0.0.1:8545", "http://localhost:8545/"));
        assert!(same_endpoint("http://127.0.0.1:8545", "ws://127.0.0.1:8545"));
        assert!(same_endpoint("https://node.example/rpc", "wss://node.example/rpc"));
        assert!(!same_endpoint("http://127.0.0.1:8545", "http://127.0.0.1:8546"));
        assert!(!same_endpoint("http://127.0.0.1:8545", "wss://127.0.0.1:8545"));
    }
}
