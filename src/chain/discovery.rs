//! Finding the contracts of the chain at hand: an address book, or the on-chain chainlog.

use alloy::primitives::{Address, address};
use alloy::providers::Provider;
use anyhow::{Context, Result, bail};

use crate::chain::addresses::{AddressBook, keys};
use crate::chain::bindings::ChainLog;
use crate::chain::rpc::Connection;
use crate::cli::GlobalArgs;
use crate::devnet::deploy::chainlog_key;

/// MakerDAO's chainlog on Ethereum mainnet.
pub const MAINNET_CHAINLOG: Address = address!("dA0Ab1e0017DEbCd72Be8599041a2aa3bA7e740F");

/// Keys read from a chainlog; absent ones are simply left out of the book.
const CHAINLOG_KEYS: &[&str] = &[
    keys::MCD_GOV,
    keys::MCD_IOU,
    keys::MCD_ADM,
    keys::MCD_PAUSE,
    keys::MCD_PAUSE_PROXY,
    keys::MCD_ESM,
    keys::MCD_END,
    keys::VOTE_DELEGATE_FACTORY,
    keys::VOTE_PROXY_FACTORY,
    keys::MCD_DEFENDER,
    keys::MCD_DEFENDER_AUTHORITY,
    keys::MCD_DEFENDER_FAB,
];

/// The address book for `connection`'s chain, from (in order) `--addresses`, `--chainlog`,
/// mainnet's chainlog on chain 1, or the local devnet's address book.
pub async fn resolve(connection: &Connection, global: &GlobalArgs) -> Result<AddressBook> {
    if let Some(path) = &global.addresses {
        let book = AddressBook::load(path)?;
        check_chain(&book, connection, &path.display().to_string())?;
        return Ok(book);
    }
    if let Some(chainlog) = global.chainlog {
        return read_chainlog(connection, chainlog).await;
    }
    if connection.chain_id == 1 {
        return read_chainlog(connection, MAINNET_CHAINLOG).await;
    }
    let devnet_book = crate::devnet::default_state_dir().join(crate::devnet::ADDRESS_BOOK);
    if devnet_book.exists() {
        let book = AddressBook::load(&devnet_book)?;
        if book.chain_id == connection.chain_id {
            return Ok(book);
        }
    }
    bail!(
        "no contract addresses for chain {}: pass --addresses FILE (a devnet writes one) or --chainlog ADDRESS",
        connection.chain_id
    )
}

fn check_chain(book: &AddressBook, connection: &Connection, source: &str) -> Result<()> {
    if book.chain_id != connection.chain_id {
        bail!(
            "{source} is for chain {}, but the RPC at {} serves chain {}: use the address book of that chain",
            book.chain_id,
            connection.url,
            connection.chain_id
        );
    }
    Ok(())
}

async fn read_chainlog(connection: &Connection, chainlog: Address) -> Result<AddressBook> {
    let provider = &connection.provider;
    let code = provider.get_code_at(chainlog).await.context("cannot read the chainlog's code")?;
    if code.is_empty() {
        bail!(
            "there is no contract at the chainlog address {chainlog} on chain {}: pass --chainlog or --addresses",
            connection.chain_id
        );
    }
    let log = ChainLog::new(chainlog, provider);
    let mut book = AddressBook::new(connection.chain_id, Some(connection.url.clone()));
    book.insert(keys::CHANGELOG, chainlog);
    for key in CHAINLOG_KEYS {
        // getAddress reverts for an unknown key; that only means the chain has no such contract.
        if let Ok(address) = log.getAddress(chainlog_key(key)).call().await {
            book.insert(key, address);
        }
    }
    Ok(book)
}
