//! `defender watch` against a live devnet: plots made while it runs are cancelled, also after
//! the RPC connection is cut and restored, and no plan is cancelled twice.

mod common;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use alloy::providers::Provider;
use common::cli::KEYS;
use common::{Chain, activate, attack, mine, plan_of, sky_lock_and_vote, sky_plot, wad};
use defender::chain::addresses::keys;
use defender::chain::bindings::overloads::chiefVoteYaysCall;
use defender::chain::bindings::{DSChief, DSPause, DssExec};
use defender_sim::rpc_proxy::RpcProxy;
use defender_sim::socket_proxy::{SocketProxy, test_ca_file};
use tokio::io::{AsyncBufReadExt, BufReader};

struct Watcher {
    child: tokio::process::Child,
    lines: Arc<Mutex<Vec<serde_json::Value>>>,
}

async fn watch(chain: &Chain, url: &str, account: usize, extra: &[&str]) -> Watcher {
    let book = chain.book_file();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_defender"))
        .args(["watch", "--json", "--rpc-url"])
        .args([url, "--addresses", book.to_str().unwrap()])
        .args(["--private-key-env", "WATCH_KEY"])
        .args(if extra.contains(&"--interval") { &[][..] } else { &["--interval", "0.1"][..] })
        .args(extra)
        .env("WATCH_KEY", KEYS[account])
        .env(
            "DEFENDER_CACHE_DIR",
            std::env::temp_dir().join(format!(
                "defender-watch-cache-{}",
                chain.anvil.url().rsplit(':').next().unwrap_or("0")
            )),
        )
        .env("SSL_CERT_FILE", test_ca_file())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let lines: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let sink = lines.clone();
    let mut reader = BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = reader.next_line().await {
            if let Ok(value) = serde_json::from_str(&line) {
                sink.lock().unwrap().push(value);
            }
        }
    });
    let watcher = Watcher { child, lines };
    watcher.wait_for(|l| l["event"] == "start").await;
    watcher
}

impl Watcher {
    async fn wait_for(&self, found: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(line) = self.lines.lock().unwrap().iter().find(|l| found(l)) {
                return line.clone();
            }
            assert!(Instant::now() < deadline, "watch never printed it: {:?}", self.lines.lock().unwrap());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn count(&self, event: &str) -> usize {
        self.lines.lock().unwrap().iter().filter(|l| l["event"] == event).count()
    }

    /// Waits until `spell`'s plan is reported cancelled and checks it is gone; returns the
    /// watcher's plot line for it.
    async fn saw_cancelled(&self, chain: &Chain, spell: Address) -> serde_json::Value {
        let plan = plan_of(chain, spell).await.id().to_string();
        let plot = self.wait_for(|l| l["event"] == "plot" && l["plan"] == plan.as_str()).await;
        self.wait_for(|l| l["event"] == "cancel" && l["plan"] == plan.as_str() && l["ok"] == true).await;
        assert!(dropped(chain, spell).await, "reported cancelled but still queued: {plan}");
        plot
    }

    /// Exactly `n` plots seen, `n` cancels reported, and `n` transactions from the canceller.
    async fn handled_exactly(&self, chain: &Chain, n: u64) {
        let canceller = chain.provider.get_accounts().await.unwrap()[6];
        assert_eq!(chain.provider.get_transaction_count(canceller).await.unwrap(), n);
        assert_eq!(self.count("plot") as u64, n);
        assert_eq!(self.count("cancel") as u64, n);
    }
}

/// The attacker (already the hat holder) plots another minting spell.
async fn plot_again(chain: &Chain) -> Address {
    let attacker = chain.holder(common::ATTACKER);
    let spell = chain.mint_spell(attacker, attacker, wad(7)).await;
    chain.ok(attacker, chain.addr(keys::MCD_ADM), chiefVoteYaysCall { yays: vec![spell] }).await;
    chain.ok(attacker, chain.addr(keys::MCD_ADM), DSChief::liftCall { whom: spell }).await;
    chain.ok(attacker, spell, DssExec::scheduleCall {}).await;
    spell
}

async fn dropped(chain: &Chain, spell: Address) -> bool {
    let plan = plan_of(chain, spell).await;
    !chain.read(chain.addr(keys::MCD_PAUSE), DSPause::plansCall(plan.id())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancels_new_plots_across_an_rpc_outage_and_never_twice() {
    let chain = Chain::start().await;
    attack(&chain).await;
    activate(&chain).await;
    let upstream = chain.anvil.url().trim_start_matches("http://").parse().unwrap();
    let proxy = RpcProxy::start(upstream).await.unwrap();
    let mut watcher = watch(&chain, &proxy.url(), 6, &[]).await;

    // A plot while watching: cancelled.
    let first = plot_again(&chain).await;
    watcher.saw_cancelled(&chain, first).await;

    // The RPC goes away; a plot lands meanwhile; the RPC comes back: the watcher rescans.
    proxy.set_down(true);
    watcher.wait_for(|l| l["event"] == "rpc" && l["ok"] == false).await;
    let second = plot_again(&chain).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!dropped(&chain, second).await, "nothing can cancel while the RPC is down");
    proxy.set_down(false);
    watcher.saw_cancelled(&chain, second).await;

    // Quiet for a while: no second cancel of either plan, exactly two transactions sent.
    tokio::time::sleep(Duration::from_millis(800)).await;
    watcher.handled_exactly(&chain, 2).await;
    watcher.child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_websocket_new_heads_trigger_the_look_and_a_cut_socket_is_dialled_again() {
    let chain = Chain::start().await;
    attack(&chain).await;
    activate(&chain).await;
    let upstream = chain.anvil.url().trim_start_matches("http://").parse().unwrap();
    let proxy = SocketProxy::plain(upstream).await.unwrap();
    // A poll every 60 s could not explain a cancel within the test's 30 s: the heads do.
    let mut watcher = watch(&chain, &proxy.url("ws"), 6, &["--interval", "60"]).await;
    let start = watcher.wait_for(|l| l["event"] == "start").await;
    assert_eq!(start["feed"], "subscription", "{start}");

    let first = plot_again(&chain).await;
    let seen = watcher.saw_cancelled(&chain, first).await;
    assert_eq!(seen["seen_on"], "new-head", "{seen}");

    // The socket is cut and stays down: once the transport gives up, the watcher says so.
    let dials = proxy.connections();
    proxy.set_down(true);
    watcher.wait_for(|l| l["event"] == "rpc" && l["ok"] == false).await;
    let second = plot_again(&chain).await;
    assert!(!dropped(&chain, second).await, "nothing can cancel while the RPC is down");
    proxy.set_down(false);
    // It dials again on its own, rescans, cancels, and follows new heads again.
    watcher.saw_cancelled(&chain, second).await;
    let back = watcher.wait_for(|l| l["event"] == "rpc" && l["ok"] == true).await;
    assert_eq!(back["feed"], "subscription", "{back}");
    assert!(proxy.connections() > dials, "no new connection after the cut");

    let third = plot_again(&chain).await;
    let seen = watcher.saw_cancelled(&chain, third).await;
    assert_eq!(seen["seen_on"], "new-head", "{seen}");
    watcher.handled_exactly(&chain, 3).await;
    watcher.child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_rpc_is_polled_and_the_start_line_says_why() {
    let chain = Chain::start().await;
    let mut watcher = watch(&chain, chain.anvil.url(), 6, &["--dry-run"]).await;
    let start = watcher.wait_for(|l| l["event"] == "start").await;
    assert_eq!(start["feed"], "poll", "{start}");
    assert!(start["why_poll"].as_str().unwrap().contains("ws:// or wss://"), "{start}");
    watcher.child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_only_alerts() {
    let chain = Chain::start().await;
    attack(&chain).await;
    activate(&chain).await;
    let mut watcher = watch(&chain, chain.anvil.url(), 6, &["--dry-run"]).await;
    let spell = plot_again(&chain).await;
    watcher.wait_for(|l| l["event"] == "alert").await;
    assert!(!dropped(&chain, spell).await);
    let canceller = chain.provider.get_accounts().await.unwrap()[6];
    assert_eq!(chain.provider.get_transaction_count(canceller).await.unwrap(), 0);
    watcher.child.kill().await.unwrap();
}

#[test]
fn a_wrong_url_at_start_is_an_error_not_an_endless_retry() {
    let port = defender::devnet::anvil::free_port().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_defender"))
        .args(["watch", "--rpc-url", &format!("http://127.0.0.1:{port}")])
        .env_remove("ETH_RPC_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("nothing is being watched") && stderr.contains("cannot reach the RPC"),
        "{stderr}"
    );
}

/// Today's mainnet: nobody can plot while Protego is the hat, so the watcher follows the hat.
/// Plots made while the attacker holds it are alerted with the commands and get a drop spell;
/// when Protego is lifted (here during an RPC outage) every open plan, including one plotted
/// before the watcher started, is dropped in one transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_sky_layout_it_follows_the_hat_and_drops_every_open_plan_once_protego_is_lifted() {
    use alloy::primitives::U256;
    use defender::chain::bindings::Chief;
    let chain = Chain::start_sky().await;
    let (attacker, chief, protego) =
        (chain.holder(0), chain.addr(keys::MCD_ADM), chain.addr(keys::MCD_PROTEGO));
    let old = sky_plot(&chain, attacker, wad(100)).await;
    let upstream = chain.anvil.url().trim_start_matches("http://").parse().unwrap();
    let proxy = RpcProxy::start(upstream).await.unwrap();
    let watcher = watch(&chain, &proxy.url(), 6, &["--deploy-drop-spells"]).await;
    let is = |value: &serde_json::Value, address: Address| {
        value.as_str().and_then(|a| a.parse().ok()) == Some(address)
    };
    watcher.wait_for(|l| l["event"] == "hat").await;

    // A plot while the attacker holds the hat: the commands to run, and a drop spell for it.
    let new = sky_plot(&chain, attacker, U256::ZERO).await;
    let new_id = new.id().to_string();
    let cannot = watcher.wait_for(|l| l["event"] == "cannot" && l["plan"] == new_id.as_str()).await;
    assert!(cannot["reason"].as_str().unwrap().contains("`defender vote --protego --lock 101`"), "{cannot}");
    watcher.wait_for(|l| l["event"] == "deploy" && l["plan"] == new_id.as_str() && l["ok"] == true).await;
    watcher.wait_for(|l| l["event"] == "cooldown" && l["open"] == false).await;

    // Protego comes within 10% of the hat, then the cooldown ends: both said at once.
    sky_lock_and_vote(&chain, chain.holder(2), wad(95), vec![protego]).await;
    watcher.wait_for(|l| l["event"] == "rival" && is(&l["rival"], protego)).await;
    mine(&chain, 10).await;
    watcher.wait_for(|l| l["event"] == "cooldown" && l["open"] == true).await;

    // The RPC goes down; meanwhile Protego overtakes the attacker and is lifted.
    proxy.set_down(true);
    watcher.wait_for(|l| l["event"] == "rpc" && l["ok"] == false).await;
    sky_lock_and_vote(&chain, chain.holder(3), wad(1_000), vec![protego]).await;
    chain.ok(chain.holder(3), chief, Chief::liftCall { whom: protego }).await;
    let watcher_account = chain.provider.get_accounts().await.unwrap()[6];
    let sent_before = chain.provider.get_transaction_count(watcher_account).await.unwrap();
    proxy.set_down(false);

    for plan in [&old, &new] {
        let id = plan.id().to_string();
        let line = watcher.wait_for(|l| l["event"] == "cancel" && l["plan"] == id.as_str()).await;
        assert_eq!(line["ok"], true, "{line}");
        assert_eq!(line["route"], "Protego");
        assert!(!chain.read(chain.addr(keys::MCD_PAUSE), DSPause::plansCall(plan.id())).await);
    }
    watcher.wait_for(|l| l["event"] == "hat" && is(&l["hat"], protego)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let sent = chain.provider.get_transaction_count(watcher_account).await.unwrap() - sent_before;
    assert_eq!(sent, 1, "both plans in one drop(Plan[]), and never a second one");
    assert_eq!(watcher.count("cancel"), 2);
}
