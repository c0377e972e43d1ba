//! The genuine Safe 1.4.1 contracts on the devnet, and SAFE_DEMO: a 2-of-3 Safe owned by
//! anvil's accounts 5, 6 and 7, for drills and tests of `--safe`.

use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use alloy::sol_types::{SolCall, SolEvent};
use anyhow::{Context, Result, ensure};

use super::deploy::Sender;
use crate::chain::addresses::{AddressBook, keys};
use crate::chain::bindings::{Safe, SafeProxyFactory, bytecode};
use crate::chain::safe::CANONICAL_MULTI_SEND_CALL_ONLY;

/// anvil's accounts that own SAFE_DEMO.
pub const DEMO_OWNERS: [usize; 3] = [5, 6, 7];
pub const DEMO_THRESHOLD: u64 = 2;

/// Deploys the singletons, the factory, the handler and MultiSendCallOnly, then SAFE_DEMO
/// through the factory as the Safe web app would; records them all in `book`.
pub(crate) async fn deploy(tx: &Sender<'_>, owners: Vec<Address>, book: &mut AddressBook) -> Result<Address> {
    let singleton = tx.create(bytecode::SAFE, Vec::new(), "Safe").await?;
    let singleton_l2 = tx.create(bytecode::SAFE_L2, Vec::new(), "SafeL2").await?;
    let factory = tx.create(bytecode::SAFE_PROXY_FACTORY, Vec::new(), "SafeProxyFactory").await?;
    let handler = tx
        .create(bytecode::COMPATIBILITY_FALLBACK_HANDLER, Vec::new(), "CompatibilityFallbackHandler")
        .await?;
    // MultiSendCallOnly also at its canonical address, as on mainnet, so that commands
    // following the chainlog (which does not list Safe's contracts) find it there too.
    let deployed = tx.create(bytecode::MULTI_SEND_CALL_ONLY, Vec::new(), "MultiSendCallOnly").await?;
    let code = tx.provider.get_code_at(deployed).await.context("reading MultiSendCallOnly's code")?;
    let multi_send = CANONICAL_MULTI_SEND_CALL_ONLY;
    tx.provider
        .anvil_set_code(multi_send, code)
        .await
        .context("placing MultiSendCallOnly at its canonical address")?;

    let setup = Safe::setupCall {
        _owners: owners,
        _threshold: U256::from(DEMO_THRESHOLD),
        to: Address::ZERO,
        data: Bytes::new(),
        fallbackHandler: handler,
        paymentToken: Address::ZERO,
        payment: U256::ZERO,
        paymentReceiver: Address::ZERO,
    };
    let create = SafeProxyFactory::createProxyWithNonceCall {
        _singleton: singleton,
        initializer: setup.abi_encode().into(),
        saltNonce: U256::ZERO,
    };
    let receipt =
        tx.call(factory, &create.abi_encode().into(), "SafeProxyFactory.createProxyWithNonce").await?;
    let safe = receipt
        .inner
        .logs()
        .iter()
        .find_map(|log| SafeProxyFactory::ProxyCreation::decode_log(&log.inner).ok())
        .context("SafeProxyFactory emitted no ProxyCreation")?
        .proxy;
    ensure!(safe != Address::ZERO, "the Safe proxy landed at the zero address");

    for (key, address) in [
        (keys::SAFE_DEMO, safe),
        (keys::SAFE_SINGLETON, singleton),
        (keys::SAFE_L2_SINGLETON, singleton_l2),
        (keys::SAFE_PROXY_FACTORY, factory),
        (keys::SAFE_FALLBACK_HANDLER, handler),
        (keys::SAFE_MULTI_SEND_CALL_ONLY, multi_send),
    ] {
        book.insert(key, address);
    }
    Ok(safe)
}
