//! `cargo bench --bench watch`: plot-to-cancel latency of `defender watch` on anvil mining a
//! block every second, in blocks and milliseconds, over several plots, for each way watch can
//! follow the chain: polling an http:// RPC (the default 0.5 s, and 0.1 s) and new heads over a
//! ws:// subscription. Not a test: it prints tables. DEFENDER_BENCH_ROUNDS sets the number of
//! plots per way (default 10).
//!
//! With 1-second blocks the cancel lands in the next block whatever the feed, so the mined
//! latency hides the feed's part. The reaction column shows it: from the plot's block being
//! visible on the node to the cancel transaction being in its pool, both read every 5 ms by
//! an observer task.

use std::process::Stdio;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256};
use alloy::providers::ext::AnvilApi;
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::Filter;
use alloy::sol_types::SolCall;
use alloy::sol_types::SolEvent;
use defender::chain::bindings::{DSPause, DssDefender, DssExec};
use defender::devnet::anvil::free_port;
use defender::devnet::{AnvilOptions, DeployParams, LocalChain, launch};
use defender::drill::world::{World, tokens};

const CANCELLER_KEY: &str = "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e";

#[tokio::main]
async fn main() {
    let rounds: usize =
        std::env::var("DEFENDER_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let options = AnvilOptions { port: free_port().unwrap(), ..Default::default() };
    let LocalChain { anvil, provider, deployment } =
        launch(&options, &DeployParams::default()).await.unwrap();
    let chainlog = deployment.book.get(defender::chain::addresses::keys::CHANGELOG).unwrap();
    let world = World::new(provider.clone(), chainlog).await.unwrap();
    let attacker = world.accounts[4];
    // The attacker holds the hat; the defender is activated (automine while setting up).
    let first = world.mint_spell(attacker, attacker, tokens(1), "warm-up").await.unwrap();
    world.lock_and_vote(attacker, tokens(100_000), first).await.unwrap();
    world.lift(attacker, first).await.unwrap();
    world.deposit(world.accounts[0], tokens(50_000)).await.unwrap();
    let ws_url = anvil.url().replacen("http://", "ws://", 1);
    let feeds = [
        ("http:// polled every 0.5 s (the default)", anvil.url(), "0.5"),
        ("http:// polled every 0.1 s", anvil.url(), "0.1"),
        ("ws:// new-heads subscription", ws_url.as_str(), "0.5"),
    ];
    let mut spells: Vec<Address> = {
        let mut v = Vec::new();
        for i in 0..rounds * feeds.len() {
            v.push(world.mint_spell(attacker, attacker, tokens(1 + i as u64), "bench").await.unwrap());
        }
        v
    };
    let defender_address = world.snapshot(Address::ZERO).await.unwrap().at.defender;
    provider.anvil_set_interval_mining(1).await.unwrap();

    let mut summaries = Vec::new();
    for (feed, url, interval) in feeds {
        let mine: Vec<Address> = spells.drain(..rounds).collect();
        let summary = measure(&world, &mine, defender_address, chainlog, feed, url, interval).await;
        summaries.push((feed, summary));
    }
    println!();
    for (feed, summary) in summaries {
        println!("{feed}: {summary}");
    }
    drop(anvil);
}

/// Runs `defender watch` on `url` and plots each of `spells` in turn; returns the summary line.
async fn measure(
    world: &World,
    spells: &[Address],
    defender_address: Address,
    chainlog: Address,
    feed: &str,
    url: &str,
    interval: &str,
) -> String {
    let provider = &world.provider;
    let mut watcher = tokio::process::Command::new(env!("CARGO_BIN_EXE_defender"))
        .args(["watch", "--json", "--interval", interval, "--rpc-url", url])
        .args(["--chainlog", &chainlog.to_string()])
        .args(["--private-key-env", "BENCH_KEY", "--urgent"])
        .env("BENCH_KEY", CANCELLER_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    println!("\nplot-to-cancel latency, defender watch on anvil with 1-second blocks: {feed}");
    println!(
        "{:>5} {:>10} {:>11} {:>7} {:>12} {:>14}",
        "plot", "plot block", "cancel blk", "blocks", "ms to mined", "reaction ms"
    );
    let attacker = world.accounts[4];
    let canceller = alloy::signers::local::PrivateKeySigner::from_str(CANCELLER_KEY).unwrap().address();
    let observer = Observer::start(provider.clone(), canceller);
    let mut gaps = Vec::new();
    let mut times = Vec::new();
    let mut reactions = Vec::new();
    for (i, spell) in spells.iter().enumerate() {
        world.lock_and_vote(attacker, alloy::primitives::U256::ZERO, *spell).await.unwrap();
        world.lift(attacker, *spell).await.unwrap();
        let sent_before = provider.get_transaction_count(canceller).pending().await.unwrap();
        let receipt =
            world.send(attacker, Some(*spell), DssExec::scheduleCall {}.abi_encode()).await.unwrap();
        let mined = Instant::now();
        let plot_block = receipt.block_number.unwrap();
        let id = plan_id(world, *spell).await;
        let pause = world.snapshot(Address::ZERO).await.unwrap().at.pause;
        let filter = Filter::new()
            .from_block(plot_block)
            .address(defender_address)
            .event_signature(DssDefender::Cancel::SIGNATURE_HASH)
            .topic2(id);
        let cancel_block = loop {
            if let Some(log) = provider.get_logs(&filter).await.unwrap().first() {
                break log.block_number.unwrap();
            }
            assert!(mined.elapsed() < Duration::from_secs(30), "not cancelled within 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let ms = mined.elapsed().as_millis();
        assert!(!world.read(pause, DSPause::plansCall(id)).await.unwrap(), "the plan is gone");
        let gap = cancel_block - plot_block;
        let reaction = observer.reaction(plot_block, sent_before);
        println!(
            "{:>5} {:>10} {:>11} {:>7} {:>12} {:>14}",
            i + 1,
            plot_block,
            cancel_block,
            gap,
            ms,
            reaction
        );
        gaps.push(gap);
        times.push(ms);
        reactions.push(reaction);
    }
    watcher.kill().await.unwrap();
    observer.stop();
    gaps.sort_unstable();
    times.sort_unstable();
    reactions.sort_unstable();
    let within_one = gaps.iter().filter(|g| **g <= 1).count();
    format!(
        "{within_one}/{} cancelled in the next block; mined after median {} ms, worst {} ms; \
         reaction median {} ms, worst {} ms",
        gaps.len(),
        times[times.len() / 2],
        times[times.len() - 1],
        reactions[reactions.len() / 2],
        reactions[reactions.len() - 1],
    )
}

/// Reads the head and the canceller's pending nonce every 5 ms, remembering when each changed.
struct Observer {
    samples: Arc<Mutex<Vec<(Instant, u64, u64)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Observer {
    fn start(provider: DynProvider, canceller: Address) -> Self {
        let samples: Arc<Mutex<Vec<(Instant, u64, u64)>>> = Arc::default();
        let sink = samples.clone();
        let task = tokio::spawn(async move {
            loop {
                let head = provider.get_block_number().await.unwrap();
                let sent = provider.get_transaction_count(canceller).pending().await.unwrap();
                sink.lock().unwrap().push((Instant::now(), head, sent));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        Self { samples, task }
    }

    /// Milliseconds from `block` first seen to the canceller's pending nonce passing `before`.
    fn reaction(&self, block: u64, before: u64) -> u128 {
        let samples = self.samples.lock().unwrap();
        let seen = samples.iter().find(|(_, head, _)| *head >= block).expect("the plot's block was seen").0;
        let sent = samples.iter().find(|(_, _, sent)| *sent > before).expect("the cancel was seen").0;
        sent.saturating_duration_since(seen).as_millis()
    }

    fn stop(self) {
        self.task.abort();
    }
}

async fn plan_id(world: &World, spell: Address) -> B256 {
    defender::chain::pause_log::PlanKey {
        usr: world.read(spell, DssExec::actionCall {}).await.unwrap(),
        tag: world.read(spell, DssExec::tagCall {}).await.unwrap(),
        fax: world.read(spell, DssExec::sigCall {}).await.unwrap(),
        eta: world.read(spell, DssExec::etaCall {}).await.unwrap(),
    }
    .id()
}
