//! Mainnet as it runs today (`devnet --layout sky`): the stand-ins keep the rules of
//! shared/spec/sky-governance.md, and every command works against them through the same
//! pipeline, signers and bundles as on MIP91's layout.

mod common;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use common::cli::{Cli, SignWith};
use common::{Chain, events, wad};
use defender::chain::addresses::keys;
use defender::chain::bindings::overloads::{approveAmountCall, skyChiefVoteYaysCall};
use defender::chain::bindings::{Chief, DSChief, DSToken, ESM, MkrSky, Sky};

fn sky_wad(n: u64) -> U256 {
    wad(n)
}

async fn lock_and_vote(chain: &Chain, who: Address, amount: U256, yays: Vec<Address>) {
    common::sky_lock_and_vote(chain, who, amount, yays).await
}

use common::mine;

#[tokio::test]
async fn the_new_chief_keeps_its_cooldown_same_block_and_slate_rules() {
    let chain = Chain::start_sky().await;
    let chief = chain.addr(keys::MCD_ADM);
    let (alice, bob) = (chain.holder(0), chain.holder(1));
    let (a, b) = (Address::repeat_byte(0x11), Address::repeat_byte(0x22));

    // No IOU: the call reverts, which is how the client tells the chiefs apart.
    let iou = TransactionRequest::default().with_to(chief).with_input(DSChief::IOUCall {}.abi_encode());
    assert!(chain.provider.call(iou).await.is_err());
    assert_eq!(chain.read(chief, Chief::liftCooldownCall {}).await, U256::from(10));

    // Slates: ascending, at most maxYays, known.
    chain.reverts(alice, chief, skyChiefVoteYaysCall { yays: vec![b, a] }, "Chief/yays-not-ordered").await;
    chain.reverts(alice, chief, skyChiefVoteYaysCall { yays: vec![a, a] }, "Chief/yays-not-ordered").await;
    let six: Vec<Address> = (1..=6).map(Address::repeat_byte).collect();
    chain.reverts(alice, chief, skyChiefVoteYaysCall { yays: six }, "Chief/greater-max-yays").await;
    let unknown = Chief::vote_0Call { slate: alloy::primitives::B256::repeat_byte(7) };
    chain.reverts(alice, chief, unknown, "Chief/invalid-slate").await;

    lock_and_vote(&chain, alice, sky_wad(10), vec![a]).await;
    lock_and_vote(&chain, bob, sky_wad(20), vec![b]).await;
    chain
        .reverts(
            alice,
            chief,
            Chief::liftCall { whom: Address::repeat_byte(0x33) },
            "Chief/not-higher-current-hat",
        )
        .await;
    let lift_a = chain.ok(alice, chief, Chief::liftCall { whom: a }).await;
    let last = lift_a.block_number.unwrap();
    assert_eq!(chain.read(chief, Chief::lastCall {}).await, U256::from(last));
    assert!(
        chain.read(chief, Chief::canCallCall { caller: a, _1: Address::ZERO, _2: Default::default() }).await
    );
    assert!(
        !chain.read(chief, Chief::canCallCall { caller: b, _1: Address::ZERO, _2: Default::default() }).await
    );

    // Within the cooldown another lift reverts, however strong.
    chain.reverts(bob, chief, Chief::liftCall { whom: b }, "Chief/cant-lift-again-yet").await;
    // A lift and a free in one block: the free reverts; from the next block it works.
    chain.provider.anvil_set_auto_mine(false).await.unwrap();
    mine(&chain, 10).await;
    let send = |from: Address, data: Vec<u8>| {
        let request = TransactionRequest::default()
            .with_from(from)
            .with_to(chief)
            .with_input(data)
            .with_gas_limit(400_000);
        let provider = chain.provider.clone();
        async move { *provider.send_transaction(request).await.unwrap().tx_hash() }
    };
    let lift_b = send(bob, Chief::liftCall { whom: b }.abi_encode()).await;
    let free = send(alice, Chief::freeCall { wad: sky_wad(1) }.abi_encode()).await;
    mine(&chain, 1).await;
    chain.provider.anvil_set_auto_mine(true).await.unwrap();
    let lift_b = chain.provider.get_transaction_receipt(lift_b).await.unwrap().unwrap();
    let free = chain.provider.get_transaction_receipt(free).await.unwrap().unwrap();
    assert_eq!(lift_b.block_number, free.block_number);
    assert_eq!(lift_b.block_number.unwrap(), last + 11, "allowed again at last + 11");
    assert!(lift_b.status() && !free.status(), "the free in the lift's block reverts");
    chain.ok(alice, chief, Chief::freeCall { wad: sky_wad(1) }).await;
    assert_eq!(chain.read(chief, Chief::hatCall {}).await, b);
}

#[tokio::test]
async fn sky_mkr_sky_and_the_switched_off_esm_behave_as_on_mainnet() {
    let chain = Chain::start_sky().await;
    let (sky, mkr, converter) = (chain.addr(keys::MCD_GOV), chain.addr(keys::MKR), chain.addr(keys::MKR_SKY));
    let alice = chain.holder(0);
    assert_eq!(chain.read(sky, Sky::symbolCall {}).await, "SKY");
    assert_eq!(chain.read(sky, Sky::decimalsCall {}).await, 18u8);

    // 1 MKR at 24,000 and a 3% fee: 23,280 SKY to the user, 720 kept.
    let fresh = chain.outsider(1).await;
    chain.reverts(fresh, converter, MkrSky::mkrToSkyCall { usr: fresh, mkrAmt: wad(1) }, "ds-token").await;
    chain
        .reverts(
            alice,
            converter,
            MkrSky::mkrToSkyCall { usr: alice, mkrAmt: wad(1) },
            "ds-token-insufficient-approval",
        )
        .await;
    chain.ok(alice, mkr, approveAmountCall { guy: converter, wad: wad(1) }).await;
    let before = chain.read(sky, Sky::balanceOfCall(alice)).await;
    let receipt = chain.ok(alice, converter, MkrSky::mkrToSkyCall { usr: alice, mkrAmt: wad(1) }).await;
    assert_eq!(chain.read(sky, Sky::balanceOfCall(alice)).await - before, wad(23_280));
    assert_eq!(chain.read(converter, MkrSky::takeCall {}).await, wad(720));
    let event = &events::<MkrSky::MkrToSky>(&receipt)[0];
    assert_eq!(
        (event.caller, event.usr, event.mkrAmt, event.skyAmt, event.skyFee),
        (alice, alice, wad(1), wad(24_000), wad(720))
    );
    assert_eq!(chain.read(mkr, DSToken::balanceOfCall(alice)).await, wad(99_999));

    // The ESM takes MKR (which is then lost) but can never fire.
    let esm = chain.addr(keys::MCD_ESM);
    assert_eq!(chain.read(esm, ESM::minCall {}).await, U256::MAX);
    chain.ok(alice, mkr, approveAmountCall { guy: esm, wad: wad(1) }).await;
    chain.ok(alice, esm, ESM::joinCall { wad: wad(1) }).await;
    chain.reverts(alice, esm, ESM::fireCall {}, "").await;
    assert_eq!(chain.read(esm, ESM::SumCall {}).await, wad(1));
}

#[tokio::test]
async fn a_holder_converts_locks_votes_for_protego_lifts_after_the_cooldown_and_frees() {
    let cli = Cli::start_sky(SignWith::EnvKey).await;
    let chain = &cli.chain;
    let chief = cli.addr(keys::MCD_ADM);
    let protego = cli.addr(keys::MCD_PROTEGO);
    let me = chain.holder(2);

    let me_text = me.to_string();
    let status: serde_json::Value =
        serde_json::from_str(&cli.ok(2, &["status", "--json", "--from", &me_text])).unwrap();
    assert_eq!(status["chief"]["kind"], "sky_chief");
    assert_eq!(status["token"]["symbol"], "SKY");
    assert_eq!(status["esm"]["switched_off"], true);
    assert_eq!(status["protego"]["is_hat"], false);
    assert_eq!(status["position"]["mkr"], wad(100_000).to_string());

    // MKR -> SKY: approval, then the conversion, with the fee in the preview.
    let out = cli.ok(2, &["convert", "1000", "--yes", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let warnings = doc["preview"]["warnings"].to_string();
    assert!(
        warnings.contains("fee 3.00% = 720,000 SKY") && warnings.contains("23,280,000 SKY"),
        "{warnings}"
    );
    assert!(warnings.contains("one way"), "{warnings}");
    assert_eq!(chain.read(cli.addr(keys::MKR), DSToken::balanceOfCall(me)).await, wad(99_000));

    // An attacker spell holds the hat with 100 SKY; we lock 1,000 for Protego and lift it.
    let attacker = chain.holder(0);
    let spell = Address::repeat_byte(0xa7);
    lock_and_vote(chain, attacker, wad(100), vec![spell]).await;
    chain.ok(attacker, chief, Chief::liftCall { whom: spell }).await;
    cli.ok(2, &["vote", "--protego", "--lock", "1000", "--yes"]);
    assert_eq!(chain.read(chief, Chief::approvalsCall(protego)).await, wad(1000));
    let refused = cli.refused(2, &["lift", "--protego", "--yes"], 3, "a lift is possible from block").await;
    assert!(refused.contains("the chief lifted at block"), "{refused}");
    mine(chain, 10).await;
    cli.ok(2, &["lift", "--protego", "--yes"]);
    assert_eq!(chain.read(chief, Chief::hatCall {}).await, protego);
    let status: serde_json::Value = serde_json::from_str(&cli.ok(2, &["status", "--json"])).unwrap();
    assert_eq!(status["protego"]["is_hat"], true);
    assert_eq!(status["cancel_route"]["via"], "protego");

    cli.ok(2, &["free", "400", "--yes"]);
    assert_eq!(chain.read(chief, Chief::depositsCall(me)).await, wad(600));
    assert_eq!(chain.read(chief, Chief::approvalsCall(protego)).await, wad(600));
}

#[tokio::test]
async fn mkr_in_the_legacy_chief_is_freed_against_its_iou_and_converted() {
    let cli = Cli::start_sky(SignWith::EnvKey).await;
    let chain = &cli.chain;
    let me = chain.holder(3);
    let legacy = cli.addr(keys::MCD_ADM_LEGACY);
    let accounts: serde_json::Value = serde_json::from_str(&cli.ok(3, &["accounts", "--json"])).unwrap();
    assert_eq!(accounts["accounts"][0]["legacy_chief_deposit"], wad(10_000).to_string());
    let table = cli.ok(3, &["accounts"]);
    assert!(table.contains("MKR in old chief") && table.contains("10,000"), "{table}");

    let out: serde_json::Value =
        serde_json::from_str(&cli.ok(3, &["free", "--legacy-chief", "all", "--yes", "--json"])).unwrap();
    let calls: Vec<String> = out["preview"]["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["call"]["signature"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(calls, ["approve(address,uint256)", "free(uint256)"], "the IOU is approved first");
    assert_eq!(chain.read(legacy, DSChief::depositsCall(me)).await, U256::ZERO);
    assert_eq!(chain.read(cli.addr(keys::MKR), DSToken::balanceOfCall(me)).await, wad(110_000));
    cli.ok(3, &["convert", "all", "--yes"]);
    assert_eq!(chain.read(cli.addr(keys::MKR), DSToken::balanceOfCall(me)).await, U256::ZERO);
    assert_eq!(
        chain.read(cli.addr(keys::MCD_GOV), Sky::balanceOfCall(me)).await,
        wad(2_400_000_000) + wad(110_000) * U256::from(24_000) * U256::from(97) / U256::from(100)
    );
}

#[tokio::test]
async fn bad_input_on_the_sky_layout_is_refused_and_nothing_is_sent() {
    let cli = Cli::start_sky(SignWith::EnvKey).await;
    let chain = &cli.chain;
    cli.refused(
        1,
        &["vote", "--protego", "--lock", "3000000000", "--yes"],
        3,
        "is more than the 2,400,000,000 SKY in your wallet",
    )
    .await;
    let a = "0x1111111111111111111111111111111111111111";
    cli.refused(1, &["vote", "--spell", a, "--spell", a, "--lock", "1", "--yes"], 3, "named twice").await;
    let six: Vec<String> = (1..=6).map(|i| format!("0x{}", format!("{i}").repeat(40))).collect();
    let mut args = vec!["vote", "--lock", "1", "--yes"];
    for spell in &six {
        args.extend(["--spell", spell.as_str()]);
    }
    cli.refused(1, &args, 3, "at most 5 addresses").await;
    cli.refused(1, &["vote", "--yes"], 3, "--spell ADDRESS or --protego").await;
    cli.refused(
        1,
        &["esm", "1", "--direct", "--yes", "--burn"],
        3,
        "MKR sent there is lost and no emergency shutdown can follow",
    )
    .await;
    cli.refused(6, &["convert", "1", "--yes"], 3, "you have no MKR in your wallet").await;
    cli.refused(1, &["free", "1", "--yes"], 3, "you have no SKY locked in the chief").await;
    cli.refused(1, &["cancel", "--all", "--yes"], 3, "nothing to cancel: no plan is queued").await;

    // A lift waiting in the node's pending block: free would land in it and revert.
    cli.ok(1, &["vote", "--protego", "--lock", "10", "--yes"]);
    chain.provider.anvil_set_auto_mine(false).await.unwrap();
    let lift = TransactionRequest::default()
        .with_from(chain.holder(3))
        .with_to(cli.addr(keys::MCD_ADM))
        .with_input(Chief::liftCall { whom: cli.addr(keys::MCD_PROTEGO) }.abi_encode())
        .with_gas_limit(200_000);
    let _pending = chain.provider.send_transaction(lift).await.unwrap();
    cli.refused(1, &["free", "1", "--yes"], 3, "a lift is waiting in the node's pending block").await;
    chain.provider.anvil_set_auto_mine(true).await.unwrap();
    mine(chain, 1).await;
    assert_eq!(chain.read(cli.addr(keys::MCD_ADM), Chief::hatCall {}).await, cli.addr(keys::MCD_PROTEGO));
    // Once the lift is mined, the free goes through.
    cli.ok(1, &["free", "1", "--yes"]);
    let deposits = chain.read(cli.addr(keys::MCD_ADM), Chief::depositsCall(chain.holder(1))).await;
    assert_eq!(deposits, wad(9));
}

// The simulators run on the test's runtime while the binary blocks this thread: two workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sky_actions_sign_on_the_ledger_and_the_trezor_simulators() {
    use defender_sim::ledger::{LedgerConfig, LedgerSim};
    use defender_sim::trezor::{TrezorConfig, TrezorSim};

    let ledger = LedgerSim::start(LedgerConfig::default()).await.unwrap();
    let cli = Cli::start_sky(SignWith::Ledger(ledger.addr())).await;
    let me = cli.chain.holder(1);
    let out: serde_json::Value =
        serde_json::from_str(&cli.ok(1, &["convert", "10", "--yes", "--json"])).unwrap();
    let screens = &common::cli::listed_screens(&out)[1];
    let converter = cli.addr(keys::MKR_SKY).to_checksum(None);
    let to = screens.iter().find(|s| s[0] == "To").expect("a To screen");
    assert_eq!(to[1..].concat(), converter, "the Ledger's To screen names MKR_SKY: {screens:?}");
    assert_eq!(cli.chain.read(cli.addr(keys::MKR), DSToken::balanceOfCall(me)).await, wad(99_990));

    let trezor = TrezorSim::start(TrezorConfig::default()).await.unwrap();
    let cli = Cli { sign_with: SignWith::Trezor(trezor.addr()), ..cli };
    cli.ok(1, &["vote", "--protego", "--lock", "5", "--yes"]);
    let protego = cli.addr(keys::MCD_PROTEGO);
    assert_eq!(cli.chain.read(cli.addr(keys::MCD_ADM), Chief::approvalsCall(protego)).await, wad(5));
    cli.ok(1, &["lift", "--protego", "--yes"]);
    assert_eq!(cli.chain.read(cli.addr(keys::MCD_ADM), Chief::hatCall {}).await, protego);
}

#[tokio::test]
async fn a_legacy_free_goes_through_an_offline_bundle() {
    let cli = Cli::start_sky(SignWith::EnvKey).await;
    let me = cli.chain.holder(4);
    let dir = std::env::temp_dir().join(format!("defender-sky-offline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (unsigned, signed) = (dir.join("free.json"), dir.join("free.signed.json"));
    let _ = (std::fs::remove_file(&unsigned), std::fs::remove_file(&signed));
    let from = me.to_string();
    let build =
        ["free", "--legacy-chief", "all", "--from", &from, "--unsigned-out", unsigned.to_str().unwrap()];
    cli.ok(4, &build);
    let shown = common::cli::sign_offline(&unsigned, &signed, 4);
    assert!(shown.contains("free(wad: 10,000 MKR)"), "offline, the amount reads in MKR: {shown}");
    cli.ok(4, &["broadcast", signed.to_str().unwrap()]);
    assert_eq!(cli.chain.read(cli.addr(keys::MCD_ADM_LEGACY), DSChief::depositsCall(me)).await, U256::ZERO);
    assert_eq!(cli.chain.read(cli.addr(keys::MKR), DSToken::balanceOfCall(me)).await, wad(110_000));
}

/// Preparing any new action takes at most two HTTP requests before sending (snapshot batch, then
/// the simulation), as on MIP91's layout: counted through the JSON-RPC proxy on dry runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sky_action_prepares_in_two_http_requests() {
    let mut cli = Cli::start_sky(SignWith::EnvKey).await;
    cli.ok(3, &["vote", "--protego", "--lock", "10", "--yes"]);
    let upstream = cli.chain.anvil.url().trim_start_matches("http://").parse().unwrap();
    let proxy = defender_sim::rpc_proxy::RpcProxy::start(upstream).await.unwrap();
    cli.rpc_url = proxy.url();
    let spell = "0x1111111111111111111111111111111111111111";
    let actions: [&[&str]; 6] = [
        &["convert", "10", "--dry-run"],
        &["vote", "--protego", "--lock", "10", "--dry-run"],
        &["vote", "--spell", spell, "--add", "--dry-run"],
        &["lift", "--protego", "--dry-run"],
        &["free", "1", "--dry-run"],
        &["free", "--legacy-chief", "100", "--dry-run"],
    ];
    for args in actions {
        let before = proxy.requests().len();
        cli.ok(3, args);
        let requests = &proxy.requests()[before..];
        eprintln!("{args:?}: {} HTTP requests {:?}", requests.len(), requests);
        assert!(requests.len() <= 2, "{args:?} took {} HTTP requests: {requests:?}", requests.len());
    }
}

#[tokio::test]
async fn a_delegate_votes_for_protego_through_a_v3_vote_delegate() {
    use defender::chain::bindings::{SkyVoteDelegate, SkyVoteDelegateFactory};
    let cli = Cli::start_sky(SignWith::EnvKey).await;
    let chain = &cli.chain;
    let (delegate, holder) = (chain.holder(2), chain.holder(0));
    let factory = cli.addr(keys::VOTE_DELEGATE_FACTORY);
    chain.ok(delegate, factory, SkyVoteDelegateFactory::createCall {}).await;
    let contract = chain.read(factory, SkyVoteDelegateFactory::delegatesCall(delegate)).await;
    // A holder stakes SKY with the delegate; there is no IOU to get back.
    chain.ok(holder, cli.addr(keys::MCD_GOV), approveAmountCall { guy: contract, wad: wad(50) }).await;
    chain.ok(holder, contract, SkyVoteDelegate::lockCall { wad: wad(50) }).await;
    assert_eq!(chain.read(contract, SkyVoteDelegate::stakeCall(holder)).await, wad(50));

    let contract_text = contract.to_string();
    cli.refused(
        0,
        &["vote", "--protego", "--delegate", &contract_text, "--yes"],
        3,
        "only its delegate can vote",
    )
    .await;
    cli.ok(2, &["vote", "--protego", "--delegate", &contract_text, "--yes"]);
    let protego = cli.addr(keys::MCD_PROTEGO);
    assert_eq!(chain.read(cli.addr(keys::MCD_ADM), Chief::approvalsCall(protego)).await, wad(50));
}

#[tokio::test]
async fn once_protego_is_the_hat_cancel_drops_every_open_plan_in_one_transaction() {
    use defender::chain::bindings::{DSPause, DssExec};
    let cli = Cli::start_sky(SignWith::EnvKey).await;
    let chain = &cli.chain;
    let (chief, pause) = (cli.addr(keys::MCD_ADM), cli.addr(keys::MCD_PAUSE));
    let attacker = chain.holder(0);

    // The attacker lifts a minting spell and plots it.
    let spell = chain.mint_spell(attacker, attacker, wad(1_000_000)).await;
    lock_and_vote(chain, attacker, wad(100), vec![spell]).await;
    chain.ok(attacker, chief, Chief::liftCall { whom: spell }).await;
    chain.ok(attacker, spell, DssExec::scheduleCall {}).await;
    let plan = common::plan_of(chain, spell).await;
    assert!(chain.read(pause, DSPause::plansCall(plan.id())).await);

    // No route yet: refused with the way to open one.
    cli.refused(2, &["cancel", "--all", "--yes"], 3, "`defender vote --protego --lock 101`").await;
    cli.ok(2, &["vote", "--protego", "--lock", "1000", "--yes"]);
    mine(chain, 10).await;
    cli.ok(2, &["lift", "--protego", "--yes"]);
    let out: serde_json::Value =
        serde_json::from_str(&cli.ok(5, &["cancel", "--all", "--yes", "--json"])).unwrap();
    let txs = out["preview"]["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 1, "one drop((address,bytes32,bytes,uint256)[]) for every plan");
    assert_eq!(
        txs[0]["to"].as_str().unwrap().to_lowercase(),
        cli.addr(keys::MCD_PROTEGO).to_string().to_lowercase()
    );
    assert!(!chain.read(pause, DSPause::plansCall(plan.id())).await, "the plan is gone");
    cli.refused(5, &["cancel", "--all", "--yes"], 3, "nothing to cancel").await;
}
