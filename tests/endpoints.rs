//! Every kind of endpoint a user may be handed: `http://`, `https://`, `ws://` and `wss://`.
//! The TLS ones go through a proxy whose certificate is signed by the test CA, trusted with
//! `SSL_CERT_FILE` as a user with a private CA would. Reads agree, actions sign and send over
//! each, and an untrusted certificate is refused with the way out. And one quirk of the local
//! node, anvil, that every devnet user meets.

mod common;

use std::net::SocketAddr;

use alloy::primitives::U256;
use common::cli::{Cli, output, text};
use common::wad;
use defender::chain::addresses::keys;
use defender::chain::bindings::DssDefender;
use defender_sim::socket_proxy::{SocketProxy, test_ca_file};

fn upstream(cli: &Cli) -> SocketAddr {
    cli.chain.anvil.url().trim_start_matches("http://").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reads_the_same_over_http_https_ws_and_wss() {
    let mut cli = Cli::start().await;
    let plain = SocketProxy::plain(upstream(&cli)).await.unwrap();
    let tls = SocketProxy::tls(upstream(&cli)).await.unwrap();
    let urls = [cli.rpc_url.clone(), tls.url("http"), plain.url("ws"), tls.url("ws")];
    assert!(urls[1].starts_with("https://") && urls[3].starts_with("wss://"), "{urls:?}");
    let mut answers = vec![];
    for url in &urls {
        cli.rpc_url = url.clone();
        let mut command = cli.command(&["status", "--json"]);
        command.env("SSL_CERT_FILE", test_ca_file());
        let out = output(command);
        assert!(out.status.success(), "status over {url}: {}", text(&out.stderr));
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        answers.push(status);
    }
    assert!(answers[0]["defender"].is_object(), "{}", answers[0]);
    for (url, answer) in urls.iter().zip(&answers) {
        assert_eq!(answer, &answers[0], "status over {url} differs from http");
    }
    // Both proxies carried the websocket and TLS traffic (not a fallback to the plain port).
    assert!(plain.connections() >= 1 && tls.connections() >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_signs_and_lands_over_wss() {
    let mut cli = Cli::start().await;
    let tls = SocketProxy::tls(upstream(&cli)).await.unwrap();
    cli.rpc_url = tls.url("ws");
    let mut command = cli.signed(0, &["deposit", "250", "--yes", "--json"]);
    command.env("SSL_CERT_FILE", test_ca_file());
    let out = output(command);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["receipts"].as_array().unwrap().len(), 2, "{report}");
    assert!(report["receipts"].as_array().unwrap().iter().all(|r| r["status"] == true));
    let alice = cli.chain.holder(0);
    let deposited = cli.chain.read(cli.addr(keys::MCD_DEFENDER), DssDefender::depositsCall(alice)).await;
    assert_eq!(deposited, wad(250));
    assert_ne!(deposited, U256::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_refused_with_the_way_out() {
    let mut cli = Cli::start().await;
    let tls = SocketProxy::tls(upstream(&cli)).await.unwrap();
    for scheme in ["http", "ws"] {
        cli.rpc_url = tls.url(scheme);
        let mut command = cli.command(&["status"]);
        command.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
        let out = output(command);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("UnknownIssuer"), "{scheme}: {stderr}");
        assert!(stderr.contains("SSL_CERT_FILE=/path/to/ca.pem"), "{scheme}: {stderr}");
    }
    // And the refusal sent nothing: the deposit below is the account's first transaction.
    cli.rpc_url = tls.url("http");
    let refused = cli.refused(0, &["deposit", "1", "--yes"], 1, "SSL_CERT_FILE").await;
    assert!(refused.contains("cannot reach the RPC"), "{refused}");
}

#[test]
fn a_scheme_that_is_no_rpc_is_refused_by_name() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_defender"))
        .args(["status", "--rpc-url", "ftp://127.0.0.1:8545"])
        .env_remove("ETH_RPC_URL")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("ftp:// is not served; use http://, https://, ws:// or wss://"), "{stderr}");
}

/// anvil's automine race (a ready transaction left in the pool) is met by mining it, and only
/// on an anvil that says it automines: with automine off, or on a node that is not anvil, the
/// transaction is left where it is. The race itself cannot be called up at will, so a proxy
/// says "automine on" for an anvil that holds the transaction with automine off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_left_in_an_automining_anvil_s_pool_is_mined_and_only_there() {
    use alloy::network::TransactionBuilder;
    use alloy::providers::Provider;
    use alloy::providers::ext::AnvilApi;
    use alloy::rpc::types::TransactionRequest;
    use defender::chain::anvil::StuckPoolGuard;
    use defender_sim::rpc_proxy::RpcProxy;

    let cli = Cli::start().await;
    let chain = &cli.chain;
    let alice = chain.holder(0);
    chain.provider.anvil_set_auto_mine(false).await.unwrap();
    let request = TransactionRequest::default().with_from(alice).with_to(alice).with_gas_limit(21_000);
    let hash = *chain.provider.send_transaction(request).await.unwrap().tx_hash();
    let mined = || async { chain.provider.get_transaction_receipt(hash).await.unwrap().is_some() };

    let through = |proxy: &RpcProxy| defender::devnet::provider(&proxy.url()).unwrap();
    let not_anvil = RpcProxy::start(upstream(&cli)).await.unwrap();
    not_anvil.refuse("anvil_getAutomine");
    let says_automine = RpcProxy::start(upstream(&cli)).await.unwrap();
    says_automine.answer("anvil_getAutomine", serde_json::json!(true));

    assert!(!StuckPoolGuard::default().unstick(&chain.provider, hash).await, "automine off");
    assert!(!StuckPoolGuard::default().unstick(&through(&not_anvil), hash).await, "not anvil");
    assert!(!mined().await, "left to the user");

    let mut guard = StuckPoolGuard::default();
    assert!(guard.unstick(&through(&says_automine), hash).await, "automine on and it waits");
    assert!(mined().await);
    assert!(!guard.unstick(&through(&says_automine), hash).await, "mined once, not again");
    let methods: Vec<String> = says_automine.requests().concat();
    assert_eq!(methods.iter().filter(|m| *m == "anvil_getAutomine").count(), 1, "asked once: {methods:?}");

    // A transaction that waits behind a nonce gap gets one block, not one per look.
    let nonce = chain.provider.get_transaction_count(alice).await.unwrap() + 3;
    let gapped = TransactionRequest::default()
        .with_from(alice)
        .with_to(alice)
        .with_gas_limit(21_000)
        .with_nonce(nonce);
    let gapped = *chain.provider.send_transaction(gapped).await.unwrap().tx_hash();
    let head = chain.provider.get_block_number().await.unwrap();
    assert!(guard.unstick(&through(&says_automine), gapped).await, "it waits: one block for it");
    assert!(!guard.unstick(&through(&says_automine), gapped).await, "still waiting: no second block");
    assert_eq!(chain.provider.get_block_number().await.unwrap(), head + 1);
}
