//! The Maker stand-ins keep the mainnet rules the client depends on (shared/spec/maker-governance.md).

mod common;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use common::{Chain, wad};
use defender::chain::addresses::chainlog_key;
use defender::chain::addresses::keys;
use defender::chain::bindings::overloads::{approveAmountCall, approveUnlimitedCall, chiefVoteYaysCall};
use defender::chain::bindings::{ChainLog, DSChief, DSPause, DSToken, DefenderAuthority, ESM};

#[tokio::test]
async fn chief_refuses_free_in_the_block_of_the_lock() {
    let chain = Chain::start().await;
    let chief = chain.addr(keys::MCD_ADM);
    let alice = chain.holder(0);
    chain.ok(alice, chain.addr(keys::MCD_GOV), approveUnlimitedCall { guy: chief }).await;
    chain.ok(alice, chain.addr(keys::MCD_IOU), approveUnlimitedCall { guy: chief }).await;

    // Both in one block: the free must fail even though the lock before it succeeded.
    chain.provider.anvil_set_auto_mine(false).await.unwrap();
    let send = |call: Vec<u8>| {
        let request = TransactionRequest::default()
            .with_from(alice)
            .with_to(chief)
            .with_input(call)
            .with_gas_limit(300_000);
        let provider = chain.provider.clone();
        async move { *provider.send_transaction(request).await.unwrap().tx_hash() }
    };
    let lock = send(DSChief::lockCall { wad: wad(10) }.abi_encode()).await;
    let free = send(DSChief::freeCall { wad: wad(10) }.abi_encode()).await;
    chain.provider.anvil_mine(Some(1), None).await.unwrap();
    chain.provider.anvil_set_auto_mine(true).await.unwrap();
    let lock = chain.provider.get_transaction_receipt(lock).await.unwrap().unwrap();
    let free = chain.provider.get_transaction_receipt(free).await.unwrap().unwrap();
    assert_eq!(lock.block_number, free.block_number);
    assert!(lock.status() && !free.status(), "lock then free in one block: only the lock lands");

    // One block later it works.
    chain.ok(alice, chief, DSChief::freeCall { wad: wad(10) }).await;
    assert_eq!(chain.read(chain.addr(keys::MCD_GOV), DSToken::balanceOfCall(alice)).await, wad(100_000));
}

#[tokio::test]
async fn chief_free_needs_an_iou_allowance() {
    let chain = Chain::start().await;
    let chief = chain.addr(keys::MCD_ADM);
    let alice = chain.holder(0);
    chain.ok(alice, chain.addr(keys::MCD_GOV), approveAmountCall { guy: chief, wad: wad(5) }).await;
    chain.ok(alice, chief, DSChief::lockCall { wad: wad(5) }).await;
    assert_eq!(chain.read(chain.addr(keys::MCD_IOU), DSToken::balanceOfCall(alice)).await, wad(5));
    chain.reverts(alice, chief, DSChief::freeCall { wad: wad(5) }, "ds-token-insufficient-approval").await;
    chain.ok(alice, chain.addr(keys::MCD_IOU), approveAmountCall { guy: chief, wad: wad(5) }).await;
    chain.ok(alice, chief, DSChief::freeCall { wad: wad(5) }).await;
    // An exact allowance is used up; an unlimited one (2^256-1) is never decreased.
    assert_eq!(
        chain.read(chain.addr(keys::MCD_IOU), DSToken::allowanceCall { _0: alice, _1: chief }).await,
        U256::ZERO
    );
    chain.ok(alice, chain.addr(keys::MCD_GOV), approveUnlimitedCall { guy: chief }).await;
    chain.ok(alice, chief, DSChief::lockCall { wad: wad(5) }).await;
    assert_eq!(
        chain.read(chain.addr(keys::MCD_GOV), DSToken::allowanceCall { _0: alice, _1: chief }).await,
        U256::MAX
    );
}

#[tokio::test]
async fn chief_slates_must_be_strictly_ascending_and_short() {
    let chain = Chain::start().await;
    let chief = chain.addr(keys::MCD_ADM);
    let alice = chain.holder(0);
    let (low, high) = (Address::repeat_byte(0x11), Address::repeat_byte(0x22));
    chain.reverts(alice, chief, chiefVoteYaysCall { yays: vec![high, low] }, "ds-chief").await;
    chain.reverts(alice, chief, chiefVoteYaysCall { yays: vec![low, low] }, "ds-chief").await;
    let six: Vec<Address> = (1..=6u8).map(Address::repeat_byte).collect();
    chain.reverts(alice, chief, DSChief::etchCall { yays: six }, "ds-chief").await;
    chain.ok(alice, chief, chiefVoteYaysCall { yays: vec![low, high] }).await;
    let slate = chain.read(chief, DSChief::votesCall(alice)).await;
    assert_eq!(chain.read(chief, DSChief::slatesCall { _0: slate, _1: U256::from(1) }).await, high);
}

#[tokio::test]
async fn only_the_hat_can_plot_and_lift_needs_more_approvals() {
    let chain = Chain::start().await;
    let chief = chain.addr(keys::MCD_ADM);
    let pause = chain.addr(keys::MCD_PAUSE);
    let authority = chain.addr(keys::MCD_DEFENDER_AUTHORITY);
    let (alice, bob) = (chain.holder(0), chain.holder(1));
    let (a, b) = (chain.outsider(0).await, chain.outsider(1).await);
    let plot_sig = DSPause::plotCall::SELECTOR.into();

    for (who, candidate, amount) in [(alice, a, wad(1_000)), (bob, b, wad(999))] {
        chain.ok(who, chain.addr(keys::MCD_GOV), approveAmountCall { guy: chief, wad: amount }).await;
        chain.ok(who, chief, DSChief::lockCall { wad: amount }).await;
        chain.ok(who, chief, chiefVoteYaysCall { yays: vec![candidate] }).await;
    }
    chain.ok(alice, chief, DSChief::liftCall { whom: a }).await;
    chain.reverts(bob, chief, DSChief::liftCall { whom: b }, "").await;
    assert_eq!(chain.read(chief, DSChief::hatCall {}).await, a);
    assert!(
        chain.read(authority, DefenderAuthority::canCallCall { src: a, dst: pause, sig: plot_sig }).await
    );
    assert!(
        !chain.read(authority, DefenderAuthority::canCallCall { src: b, dst: pause, sig: plot_sig }).await
    );

    // The hat plots directly; anyone else is refused by ds-auth.
    let now = chain.now().await;
    let eta = U256::from(now + chain.params.pause_delay.as_secs() + 100);
    let plot = |eta| DSPause::plotCall {
        usr: Address::repeat_byte(7),
        tag: Default::default(),
        fax: Default::default(),
        eta,
    };
    chain.reverts(b, pause, plot(eta), "ds-auth-unauthorized").await;
    chain.reverts(a, pause, plot(U256::from(now + 10)), "ds-pause-delay-not-respected").await;
    chain.ok(a, pause, plot(eta)).await;
}

#[tokio::test]
async fn esm_counts_joins_and_fires_only_at_min() {
    let chain = Chain::start().await;
    let esm = chain.addr(keys::MCD_ESM);
    let (alice, bob) = (chain.holder(0), chain.holder(1));
    for who in [alice, bob] {
        chain.ok(who, chain.addr(keys::MCD_GOV), approveAmountCall { guy: esm, wad: wad(60_000) }).await;
        chain.ok(who, esm, ESM::joinCall { wad: wad(50_000) }).await;
        if who == alice {
            chain.reverts(alice, esm, ESM::fireCall {}, "ESM/min-not-reached").await;
        }
    }
    assert_eq!(chain.read(esm, ESM::sumCall(alice)).await, wad(50_000));
    assert_eq!(chain.read(esm, ESM::SumCall {}).await, chain.params.esm_min);
    chain.ok(bob, esm, ESM::fireCall {}).await;
    let end = chain.addr(keys::MCD_END);
    assert_eq!(chain.read(end, defender::chain::bindings::End::liveCall {}).await, U256::ZERO);
}

#[tokio::test]
async fn chainlog_lists_every_key_and_rejects_unknown_ones() {
    let chain = Chain::start().await;
    let log = chain.addr(keys::CHANGELOG);
    // The Safe's contracts are the address book's only: mainnet's chainlog does not list them.
    let maker: Vec<_> = chain.book().contracts.iter().filter(|(key, _)| !key.starts_with("SAFE_")).collect();
    assert_eq!(chain.book().contracts.len() - maker.len(), 6, "SAFE_DEMO and the Safe's five contracts");
    for (key, address) in &maker {
        assert_eq!(
            chain.read(log, ChainLog::getAddressCall { key: chainlog_key(key) }).await,
            **address,
            "{key}"
        );
    }
    let count: U256 = chain.read(log, ChainLog::countCall {}).await;
    assert_eq!(count, U256::from(maker.len()));
    let unknown = ChainLog::getAddressCall { key: chainlog_key("MCD_NOPE") };
    let request = TransactionRequest::default().with_to(log).with_input(unknown.abi_encode());
    let error = chain.provider.call(request).await.unwrap_err().to_string();
    assert!(error.contains("dss-chain-log/invalid-key"), "{error}");
    // Governance, not the deployer, controls it now.
    assert_eq!(chain.read(log, ChainLog::wardsCall(chain.deployment.deployer)).await, U256::ZERO);
    assert_eq!(chain.read(log, ChainLog::wardsCall(chain.addr(keys::MCD_PAUSE_PROXY))).await, U256::from(1));
}
