//! Offline fee ladders (`--fee-ladder`): built online, every level signed with no network,
//! climbed by `broadcast` when the node refuses a level's fee or a level waits unmined; and a
//! broadcast killed while it waits, run again, sends nothing twice.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use alloy::consensus::Transaction as _;
use alloy::primitives::B256;
use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use common::cli::{Cli, output, sign_offline, text};
use defender::offline::bundle::Bundle;
use defender_sim::rpc_proxy::RpcProxy;

const GWEI: u128 = 1_000_000_000;

fn dir_of(cli: &Cli, name: &str) -> PathBuf {
    let dir = cli.book.parent().unwrap().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn load(file: &Path) -> Bundle {
    Bundle::from_json(&std::fs::read_to_string(file).unwrap()).unwrap()
}

/// `deposit 10` as account 0 with 4 fee levels from 1.5 gwei up to a 100 gwei cap, built
/// online and every level signed offline; the signed bundle.
async fn signed_ladder(cli: &Cli, dir: &Path) -> PathBuf {
    let unsigned = built_ladder(cli, dir);
    let signed = dir.join("ladder.signed.json");
    let shown = sign_offline(&unsigned, &signed, 0);
    assert!(shown.contains("signing 2/2 at fee level 4 of 4"), "{shown}");
    assert_eq!(load(&signed).signatures(), (8, 8));
    signed
}

/// The unsigned bundle of [`signed_ladder`], its shape checked.
fn built_ladder(cli: &Cli, dir: &Path) -> PathBuf {
    let unsigned = dir.join("ladder.json");
    let from = cli.chain.holder(0).to_string();
    let args = [
        "deposit",
        "10",
        "--max-fee",
        "1.5",
        "--priority-fee",
        "0.1",
        "--max-fee-cap",
        "100",
        "--fee-ladder",
        "4",
        "--from",
        &from,
        "--unsigned-out",
        unsigned.to_str().unwrap(),
    ];
    let out = output(cli.command(&args));
    let said = text(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("2 unsigned transactions at 4 fee levels each (8 signatures)"), "{said}");
    assert!(said.contains("level 4  max fee 100 gwei (tip "), "the preview lists every level: {said}");

    let bundle = load(&unsigned);
    let schema: serde_json::Value = serde_json::from_str(include_str!("../docs/bundle.schema.json")).unwrap();
    let value: serde_json::Value = serde_json::from_str(&bundle.to_json()).unwrap();
    common::schema::validate(&schema, &schema, &value, "bundle").unwrap();
    let mut hashes = Vec::new();
    for t in &bundle.transactions {
        assert_eq!(t.fee_ladder.len(), 3, "levels 2 to 4");
        assert_eq!(t.fee_ladder[2].max_fee_per_gas, 100 * GWEI, "the top level bids the cap");
        let mut below = (t.max_fee_per_gas, t.max_priority_fee_per_gas);
        for level in &t.fee_ladder {
            assert!(level.max_fee_per_gas * 10 > below.0 * 11, "max fee +10%: {level:?}");
            assert!(level.max_priority_fee_per_gas * 10 > below.1 * 11, "tip +10%: {level:?}");
            below = (level.max_fee_per_gas, level.max_priority_fee_per_gas);
            hashes.push(level.signing_hash);
        }
        hashes.push(t.signing_hash);
    }
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), 8, "every level has a hash of its own");
    unsigned
}

/// A Ledger confirms every level on its own, and shows each level's hash for the deposit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_level_is_a_confirmation_of_its_own_on_the_ledger() {
    use defender_sim::ledger::{LedgerConfig, LedgerSim};
    let ledger = LedgerSim::start(LedgerConfig::default()).await.unwrap();
    let cli = Cli::start().await;
    let dir = dir_of(&cli, "ledger");
    let unsigned = built_ladder(&cli, &dir);
    let signed = dir.join("ladder.signed.json");
    let mut sign = std::process::Command::new(env!("CARGO_BIN_EXE_defender"));
    sign.args(["sign", unsigned.to_str().unwrap(), "--out", signed.to_str().unwrap(), "--yes"])
        .args(["--rpc-url", "http://127.0.0.1:9", "--ledger", "--speculos", &ledger.addr().to_string()])
        .args(["--hd-path", "m/44'/60'/0'/0/0"])
        .env_remove("ETH_RPC_URL")
        .env_remove("DEFENDER_ADDRESSES");
    let out = output(sign);
    let said = text(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("level 3  max fee"), "sign's preview lists the levels: {said}");
    let bundle = load(&signed);
    assert_eq!(bundle.signatures(), (8, 8));
    let requests: Vec<String> = ledger.texts().iter().map(|r| r.join("").to_lowercase()).collect();
    assert_eq!(requests.len(), 8, "one confirmation per level: {requests:?}");
    let deposit = &bundle.transactions[1];
    let hashes =
        std::iter::once(deposit.signing_hash).chain(deposit.fee_ladder.iter().map(|l| l.signing_hash));
    for (request, hash) in requests[4..].iter().zip(hashes) {
        let digits = hash.to_string();
        assert!(request.contains(&digits[2..22]), "the Ledger showed {hash}: {request}");
    }
}

/// The level of `hash` in transaction `i` of `bundle` (1: its own fees).
fn level_of(bundle: &Bundle, i: usize, hash: B256) -> usize {
    let t = &bundle.transactions[i];
    if t.tx_hash == Some(hash) {
        return 1;
    }
    t.fee_ladder.iter().position(|l| l.tx_hash == Some(hash)).expect("a hash of the ladder") + 2
}

async fn deposits(cli: &Cli) -> alloy::primitives::U256 {
    cli.chain
        .read(
            cli.addr(defender::chain::addresses::keys::MCD_DEFENDER),
            defender::chain::bindings::DssDefender::depositsCall(cli.chain.holder(0)),
        )
        .await
}

/// Every landed hash is a level of the bundle, at most the cap, reported at its level.
async fn check_landed(cli: &Cli, bundle: &Bundle, report: &serde_json::Value, at_least: usize) {
    let receipts = report["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 2);
    for (i, r) in receipts.iter().enumerate() {
        assert_eq!(r["status"], true, "{r}");
        let landed: B256 = r["hash"].as_str().unwrap().parse().unwrap();
        let level = level_of(bundle, i, landed);
        assert_eq!(r["fee_level"], serde_json::json!(level), "{r}");
        assert!(level >= at_least, "{r}");
        let tx = cli.chain.provider.get_transaction_by_hash(landed).await.unwrap().unwrap();
        assert!(tx.inner.max_fee_per_gas() <= 100 * GWEI);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ladder_signed_offline_climbs_past_the_level_the_node_refuses() {
    let cli = Cli::start().await;
    let dir = dir_of(&cli, "refused");
    let signed = signed_ladder(&cli, &dir).await;
    let bundle = load(&signed);
    let me = cli.chain.holder(0);
    let start = cli.chain.provider.get_transaction_count(me).await.unwrap();

    // The next block's base fee is 5 gwei, the latest block's still 1: anvil refuses level 1
    // (1.5 gwei) and takes level 2 (about 6 gwei).
    cli.chain.provider.anvil_set_next_block_base_fee_per_gas(5 * GWEI).await.unwrap();
    let out = output(cli.command(&["broadcast", signed.to_str().unwrap(), "--json"]));
    let said = text(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("the node refused nonce 0 at fee level 1"), "{said}");
    assert!(said.contains("sending fee level 2"), "{said}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    check_landed(&cli, &bundle, &report, 2).await;
    assert_eq!(report["receipts"][0]["fee_level"], 2, "{report}");
    assert_eq!(cli.chain.provider.get_transaction_count(me).await.unwrap(), start + 2, "one per nonce");
    assert_eq!(deposits(&cli).await, common::wad(10));
}

/// `broadcast FILE EXTRA...` as a child process, with its output piped.
fn spawn_broadcast(cli: &Cli, file: &Path, extra: &[&str]) -> std::process::Child {
    let mut args = vec!["broadcast", file.to_str().unwrap()];
    args.extend(extra);
    let mut command = cli.command(&args);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command.spawn().unwrap()
}

/// How many transactions anvil holds unmined.
async fn pooled(cli: &Cli) -> usize {
    let pool: serde_json::Value = cli.chain.provider.raw_request("txpool_content".into(), ()).await.unwrap();
    let count = |part: &serde_json::Value| {
        part.as_object().map_or(0, |senders| {
            senders.values().map(|nonces| nonces.as_object().map_or(0, |n| n.len())).sum()
        })
    };
    count(&pool["pending"]) + count(&pool["queued"])
}

async fn wait_for_pool(cli: &Cli, count: usize) {
    for _ in 0..500 {
        if pooled(cli).await >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the pool never held {count} transactions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_level_left_unmined_is_replaced_by_the_next_one_a_block_can_take() {
    let cli = Cli::start().await;
    let dir = dir_of(&cli, "unmined");
    let signed = signed_ladder(&cli, &dir).await;
    let bundle = load(&signed);
    let provider = cli.chain.provider.clone();
    let me = cli.chain.holder(0);
    let start = provider.get_transaction_count(me).await.unwrap();

    provider.anvil_set_auto_mine(false).await.unwrap();
    let child = spawn_broadcast(&cli, &signed, &["--rebid-after", "2", "--json"]);
    wait_for_pool(&cli, 2).await;
    // Level 1 is in the pool; then the base fee jumps to 20 gwei, and a block every 300 ms.
    provider.anvil_set_next_block_base_fee_per_gas(20 * GWEI).await.unwrap();
    let miner = {
        let provider = provider.clone();
        tokio::spawn(async move {
            loop {
                let _ = provider.evm_mine(None).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
    };
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    miner.abort();
    provider.anvil_set_auto_mine(true).await.unwrap();
    let said = text(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("fee ladder: nonce 0 (") && said.contains("is not mined yet; sending fee level"),
        "{said}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // 20 gwei and falling: level 2 (about 6 gwei) cannot be mined at first, level 3 (about 25) can.
    check_landed(&cli, &bundle, &report, 2).await;
    for (i, r) in report["receipts"].as_array().unwrap().iter().enumerate() {
        let level_one = bundle.transactions[i].tx_hash.unwrap().to_string();
        assert!(r["replaced"].as_array().unwrap().iter().any(|h| h == &level_one), "{r}");
        for old in r["replaced"].as_array().unwrap() {
            let old: B256 = old.as_str().unwrap().parse().unwrap();
            assert!(
                provider.get_transaction_receipt(old).await.unwrap().is_none(),
                "a replaced level never lands"
            );
        }
    }
    assert_eq!(provider.get_transaction_count(me).await.unwrap(), start + 2, "one per nonce");
    assert_eq!(deposits(&cli).await, common::wad(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_killed_while_waiting_and_run_again_sends_nothing_twice() {
    let mut cli = Cli::start().await;
    let dir = dir_of(&cli, "killed");
    let signed = signed_ladder(&cli, &dir).await;
    let upstream: SocketAddr = cli.chain.anvil.url().trim_start_matches("http://").parse().unwrap();
    let proxy = RpcProxy::start(upstream).await.unwrap();
    cli.rpc_url = proxy.url();
    let provider = cli.chain.provider.clone();
    let me = cli.chain.holder(0);
    let start = provider.get_transaction_count(me).await.unwrap();
    let sends = |from: usize| {
        proxy.requests()[from..].iter().flatten().filter(|m| *m == "eth_sendRawTransaction").count()
    };

    // Both sent, none mined: the first run is killed while it waits for the receipts.
    provider.anvil_set_auto_mine(false).await.unwrap();
    let mut first = spawn_broadcast(&cli, &signed, &["--json"]);
    wait_for_pool(&cli, 2).await;
    first.kill().unwrap();
    let _ = first.wait();
    assert_eq!(sends(0), 2, "the first run sent both");

    // Run again: both are found in the pool and awaited; a block mines them.
    let before = proxy.requests().len();
    let second = spawn_broadcast(&cli, &signed, &[]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    provider.evm_mine(None).await.unwrap();
    let out = tokio::task::spawn_blocking(move || second.wait_with_output().unwrap()).await.unwrap();
    provider.anvil_set_auto_mine(true).await.unwrap();
    let said = text(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("1/2 is already in the node's pool: not sent again"), "{said}");
    assert!(said.contains("2/2 is already in the node's pool: not sent again"), "{said}");
    assert_eq!(sends(before), 0, "nothing was sent again: {:?}", &proxy.requests()[before..]);
    assert_eq!(text(&out.stdout).matches("mined in block").count(), 2, "{}", text(&out.stdout));

    // And once more, with both mined: nothing to send, both reported as on chain.
    let before = proxy.requests().len();
    let out = output(cli.command(&["broadcast", signed.to_str().unwrap()]));
    let said = text(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("1/2 is already on chain") && said.contains("2/2 is already on chain"), "{said}");
    assert_eq!(text(&out.stdout).matches("at fee level 1").count(), 2, "{}", text(&out.stdout));
    assert_eq!(sends(before), 0);
    assert_eq!(provider.get_transaction_count(me).await.unwrap(), start + 2, "one per nonce");
    assert_eq!(deposits(&cli).await, common::wad(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ladder_without_its_bundle_or_cap_or_room_under_the_cap_is_refused() {
    let cli = Cli::start().await;
    let dir = dir_of(&cli, "refusals");
    let out = dir.join("never.json");
    let out = out.to_str().unwrap();
    let fees = ["--max-fee", "1.5", "--priority-fee", "0.1"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut args = vec!["deposit", "10", "--yes"];
        args.extend(fees);
        args.extend(extra);
        args
    };
    cli.refused(0, &with(&["--fee-ladder", "3", "--max-fee-cap", "50"]), 2, "add --unsigned-out FILE").await;
    let mut args = with(&["--fee-ladder", "3", "--unsigned-out"]);
    args.push(out);
    cli.refused(0, &args, 2, "--fee-ladder 3 climbs to a ceiling: add --max-fee-cap GWEI").await;
    let mut args = with(&["--fee-ladder", "40", "--max-fee-cap", "50", "--unsigned-out"]);
    args.push(out);
    cli.refused(0, &args, 2, "--fee-ladder takes 2 to 16 levels, not 40").await;
    let mut args = with(&["--fee-ladder", "5", "--max-fee-cap", "2", "--unsigned-out"]);
    args.push(out);
    let said = cli
        .refused(0, &args, 3, "a ladder of 5 levels from 1.5 gwei needs --max-fee-cap of at least 2.19")
        .await;
    assert!(said.contains("nothing was written"), "{said}");
    let safe = cli.addr(defender::chain::addresses::keys::SAFE_DEMO).to_string();
    let mut args = with(&["--fee-ladder", "3", "--max-fee-cap", "50", "--unsigned-out"]);
    args.extend([out, "--safe", &safe]);
    cli.refused(0, &args, 2, "--fee-ladder does not apply to --safe").await;
    assert!(!Path::new(out).exists(), "no bundle was written");
}
