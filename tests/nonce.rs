//! `defender nonce` on anvil: the pool and its gaps as the node shows them, a gap filled and a
//! held nonce taken back at a replacement fee, with the replaced transaction never mined.

mod common;

use std::time::Duration;

use alloy::network::TransactionBuilder;
use alloy::primitives::{B256, U256};
use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use alloy::rpc::types::TransactionRequest;
use common::cli::{Cli, text};

/// Sends a zero-value transfer from the unlocked `from` to itself at `nonce` and `tip`.
async fn hold(cli: &Cli, from: alloy::primitives::Address, nonce: u64, max_fee: u128, tip: u128) -> B256 {
    let request = TransactionRequest::default()
        .with_from(from)
        .with_to(from)
        .with_value(U256::ZERO)
        .with_nonce(nonce)
        .with_gas_limit(21_000)
        .with_max_fee_per_gas(max_fee)
        .with_max_priority_fee_per_gas(tip);
    *cli.chain.provider.send_transaction(request).await.unwrap().tx_hash()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_is_shown_and_filled() {
    let cli = Cli::start().await;
    let me = cli.chain.holder(1);
    let next = cli.chain.provider.get_transaction_count(me).await.unwrap();
    let waiting = hold(&cli, me, next + 1, 10_000_000_000, 1_000_000_000).await;
    let report: serde_json::Value = serde_json::from_str(&cli.ok(1, &["nonce", "--json"])).unwrap();
    assert_eq!(report["gaps"], serde_json::json!([next]), "{report}");
    assert_eq!(report["nonces"]["pool"][0]["queued"], true);
    assert_eq!(report["nonces"]["pool"][0]["hash"], waiting.to_string());
    let shown = cli.ok(1, &["nonce"]);
    assert!(shown.contains(&format!("fill it with `defender nonce --unstick {next}`")), "{shown}");

    // Nothing waits at the next free nonce after the queued one: refused, nothing sent.
    cli.refused(
        1,
        &["nonce", "--unstick", &(next + 5).to_string(), "--yes"],
        3,
        "there is nothing to unstick",
    )
    .await;
    cli.ok(1, &["nonce", "--unstick", &next.to_string(), "--yes"]);
    let mined = cli.chain.provider.get_transaction_count(me).await.unwrap();
    assert!(mined > next, "the gap was filled");
    let report: serde_json::Value = serde_json::from_str(&cli.ok(1, &["nonce", "--json"])).unwrap();
    assert_eq!(report["gaps"], serde_json::json!([]), "{report}");
}

/// With automine off a low bid waits in the pool; `--unstick` replaces it at more than 10%
/// over both of its fees, and only the replacement is ever mined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_nonce_is_replaced_and_the_old_transaction_never_lands() {
    let cli = Cli::start().await;
    let provider = cli.chain.provider.clone();
    let me = cli.chain.holder(2);
    let nonce = provider.get_transaction_count(me).await.unwrap();
    provider.anvil_set_auto_mine(false).await.unwrap();
    let held = hold(&cli, me, nonce, 3_000_000_000, 2_000_000_000).await;
    let shown = cli.ok(2, &["nonce"]);
    assert!(shown.contains(&format!("nonce {nonce}  {held}")), "{shown}");
    assert!(shown.contains("ready"), "{shown}");

    let mut command = cli.signed(2, &["nonce", "--unstick", &nonce.to_string(), "--yes", "--json"]);
    command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = command.spawn().unwrap();
    let miner = {
        let provider = provider.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let _ = provider.evm_mine(None).await;
            }
        })
    };
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    miner.abort();
    provider.anvil_set_auto_mine(true).await.unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tx = &report["preview"]["transactions"][0];
    let (max, tip): (u128, u128) = (
        tx["fees"]["max_fee_per_gas"].as_u64().unwrap().into(),
        tx["fees"]["max_priority_fee_per_gas"].as_u64().unwrap().into(),
    );
    assert!(max * 10 >= 3_000_000_000 * 11 && tip * 10 >= 2_000_000_000 * 11, "a replacement bid: {tx}");
    let replacement: B256 = report["receipts"][0]["hash"].as_str().unwrap().parse().unwrap();
    assert_eq!(report["receipts"][0]["status"], true);
    assert_ne!(replacement, held);
    assert!(
        provider.get_transaction_receipt(held).await.unwrap().is_none(),
        "the held transaction never landed"
    );
    assert_eq!(provider.get_transaction_count(me).await.unwrap(), nonce + 1);
}
