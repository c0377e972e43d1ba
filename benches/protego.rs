//! `cargo bench --bench protego`: today's mainnet (`devnet --layout sky`).
//!
//! 1. HTTP requests before sending for `cancel --all` on both Protego routes (the hat's drop
//!    spell, Protego itself), against `cast logs` + `cast send` doing the same by hand.
//! 2. `queue` over a history of DEFENDER_BENCH_PLOTS plots (default 10,000): the first run, which
//!    reads the whole history, and the second, which takes the blocks below the safe depth from
//!    the log cache (requests, getLogs calls and wall time).
//! 3. With anvil mining a block every second: blocks from Protego's lift to the drop of every
//!    open plan by `defender watch` (target: the next block), over DEFENDER_BENCH_ROUNDS fights
//!    for the hat (default 3).
//!
//! Not a test: it prints tables.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use alloy::rpc::types::{Filter, TransactionRequest};
use alloy::sol_types::SolCall;
use common::cli::KEYS;
use common::{Chain, mine, sky_lock_and_vote, sky_plot, wad};
use defender::chain::addresses::keys;
use defender::chain::bindings::{Chief, DSPause};
use defender_sim::rpc_proxy::RpcProxy;

fn cast() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/node_modules/.bin/cast").to_owned()
}

fn run(program: &str, args: &[&str], envs: &[(&str, &str)]) -> String {
    let out = Command::new(program).args(args).envs(envs.iter().copied()).output().expect("runs");
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Requests before the first broadcast, since `start`.
fn before_sending(proxy: &RpcProxy, start: usize) -> usize {
    let all = proxy.requests()[start..].to_vec();
    all.iter().position(|m| m.iter().any(|m| m == "eth_sendRawTransaction")).unwrap_or(all.len())
}

struct Bench {
    chain: Chain,
    proxy: RpcProxy,
    book: String,
    cache: std::path::PathBuf,
}

impl Bench {
    fn defender(&self, account: usize, args: &[&str]) -> String {
        let mut all: Vec<&str> = args.to_vec();
        let url = self.proxy.url();
        all.extend(["--rpc-url", &url, "--addresses", &self.book, "--private-key-env", "BENCH_KEY"]);
        let cache = self.cache.to_str().unwrap();
        run(
            env!("CARGO_BIN_EXE_defender"),
            &all,
            &[("BENCH_KEY", KEYS[account]), ("DEFENDER_CACHE_DIR", cache)],
        )
    }

    fn addr(&self, key: &str) -> Address {
        self.chain.addr(key)
    }
}

#[tokio::main]
async fn main() {
    let chain = Chain::start_sky().await;
    let upstream = chain.anvil.url().trim_start_matches("http://").parse().unwrap();
    let proxy = RpcProxy::start(upstream).await.unwrap();
    let book = chain.book_file().to_str().unwrap().to_owned();
    let cache = std::env::temp_dir().join(format!("defender-bench-protego-{}", std::process::id()));
    let b = Bench { chain, proxy, book, cache };
    routes(&b).await;
    queue(&b).await;
    drop(b);
    lift_to_drop().await;
}

async fn routes(b: &Bench) {
    let chain = &b.chain;
    let attacker = chain.holder(0);
    let first = sky_plot(chain, attacker, wad(100)).await;
    let _second = sky_plot(chain, attacker, U256::ZERO).await;
    b.defender(5, &["drop-spell", "--all", "--yes"]);
    let queue: serde_json::Value = serde_json::from_str(&b.defender(5, &["queue", "--json"])).unwrap();
    let id = first.id().to_string();
    let spell: Address = queue["plans"].as_array().unwrap().iter().find(|p| p["id"] == id.as_str()).unwrap()
        ["drop_spells"][0]["address"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    sky_lock_and_vote(chain, chain.holder(2), wad(200), vec![spell]).await;
    mine(chain, 10).await;
    chain.ok(chain.holder(2), b.addr(keys::MCD_ADM), Chief::liftCall { whom: spell }).await;

    println!("HTTP requests before sending, cancel --all (sky devnet, counting proxy, log cache warm)");
    let start = b.proxy.requests().len();
    b.defender(5, &["cancel", "--all", "--yes"]);
    let drop_spell = before_sending(&b.proxy, start);
    let start = b.proxy.requests().len();
    run(
        &cast(),
        &["send", "--private-key", KEYS[6], "--rpc-url", &b.proxy.url(), &spell.to_string(), "schedule()"],
        &[],
    );
    let cast_drop_spell = before_sending(&b.proxy, start);

    sky_lock_and_vote(chain, chain.holder(3), wad(1_000), vec![b.addr(keys::MCD_PROTEGO)]).await;
    mine(chain, 10).await;
    chain
        .ok(chain.holder(3), b.addr(keys::MCD_ADM), Chief::liftCall { whom: b.addr(keys::MCD_PROTEGO) })
        .await;
    let start = b.proxy.requests().len();
    b.defender(5, &["cancel", "--all", "--yes"]);
    let protego = before_sending(&b.proxy, start);
    // By hand: the plans' fields from the pause's logs, then one send with them pasted in.
    let third = sky_plot_as_hat_again(b).await;
    let start = b.proxy.requests().len();
    let pause = b.addr(keys::MCD_PAUSE).to_string();
    run(
        &cast(),
        &["logs", "--rpc-url", &b.proxy.url(), "--from-block", "0", "--address", &pause, "--json"],
        &[],
    );
    let plans = format!("[({},{},0x{},{})]", third.usr, third.tag, hex::encode(&third.fax), third.eta);
    let protego_text = b.addr(keys::MCD_PROTEGO).to_string();
    let send = ["send", "--private-key", KEYS[6], "--rpc-url", &b.proxy.url(), &protego_text];
    run(&cast(), &[&send[..], &["drop((address,bytes32,bytes,uint256)[])", &plans]].concat(), &[]);
    let cast_protego = before_sending(&b.proxy, start);
    println!("{:<44} {:>9} {:>24}", "route", "defender", "cast (logs + send)");
    println!(
        "{:<44} {:>9} {:>24}",
        "the hat's drop spell: schedule()",
        drop_spell,
        format!("{cast_drop_spell} (send only)")
    );
    println!("{:<44} {:>9} {:>24}", "Protego is the hat: drop(Plan[])", protego, cast_protego);
}

/// The attacker takes the hat back from Protego and plots once more, then Protego is lifted
/// again: one open plan for the hand-made drop.
async fn sky_plot_as_hat_again(b: &Bench) -> common::Plan {
    let chain = &b.chain;
    let plan = sky_plot(chain, chain.holder(0), wad(2_000)).await;
    sky_lock_and_vote(chain, chain.holder(3), wad(5_000), vec![b.addr(keys::MCD_PROTEGO)]).await;
    mine(chain, 10).await;
    chain
        .ok(chain.holder(3), b.addr(keys::MCD_ADM), Chief::liftCall { whom: b.addr(keys::MCD_PROTEGO) })
        .await;
    plan
}

async fn queue(b: &Bench) {
    let plots: usize =
        std::env::var("DEFENDER_BENCH_PLOTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let chain = &b.chain;
    let p = &chain.provider;
    let (chief, pause) = (b.addr(keys::MCD_ADM), b.addr(keys::MCD_PAUSE));
    let plotter = chain.holder(4);
    // The plotter becomes the hat and plots directly, ten plans per block.
    sky_lock_and_vote(chain, plotter, wad(100_000), vec![plotter]).await;
    mine(chain, 10).await;
    chain.ok(plotter, chief, Chief::liftCall { whom: plotter }).await;
    let built = Instant::now();
    p.anvil_set_auto_mine(false).await.unwrap();
    for i in 0..plots {
        let plot = common::direct_plot(i as u64);
        let tx = TransactionRequest::default()
            .with_from(plotter)
            .with_to(pause)
            .with_input(plot.abi_encode())
            .with_gas_limit(200_000);
        let _pending = p.send_transaction(tx).await.unwrap();
        if i % 10 == 9 {
            p.anvil_mine(Some(1), None).await.unwrap();
        }
    }
    p.anvil_set_auto_mine(true).await.unwrap();
    mine(chain, 100).await;
    let head = p.get_block_number().await.unwrap();
    println!(
        "\nqueue over {plots} plots in {head} blocks (history built in {:.1} s), through the counting proxy",
        built.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&b.cache);
    println!("{:<34} {:>9} {:>9} {:>10}", "run", "requests", "getLogs", "wall ms");
    for run_name in ["first (cache empty)", "second (cache warm)", "third (cache warm)"] {
        let (requests, ranges) = (b.proxy.requests().len(), b.proxy.log_ranges().len());
        let started = Instant::now();
        b.defender(5, &["queue", "--json"]);
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let asked = &b.proxy.log_ranges()[ranges..];
        let lowest = asked.iter().map(|r| r.0).min().unwrap_or(head);
        println!(
            "{run_name:<34} {:>9} {:>9} {ms:>10.0}   getLogs from block {lowest} (head {head})",
            b.proxy.requests().len() - requests,
            asked.len()
        );
    }
    let started = Instant::now();
    let pause = pause.to_string();
    run(
        &cast(),
        &["logs", "--rpc-url", &b.proxy.url(), "--from-block", "0", "--address", &pause, "--json"],
        &[],
    );
    println!(
        "{:<34} {:>9} {:>9} {:>10.0}",
        "cast logs (raw logs only)",
        "",
        "",
        started.elapsed().as_secs_f64() * 1e3
    );
}

/// The plan a pause LogNote of `drop` names.
fn dropped_plan(log: &alloy::rpc::types::Log) -> Option<B256> {
    let note = defender::chain::pause_log::decode_note(log)?;
    (note.selector == DSPause::dropCall::SELECTOR).then(|| note.key.id())
}

/// Fights for the hat on a chain with 1-second blocks; `watch` drops the open plans each time
/// Protego is lifted.
async fn lift_to_drop() {
    let rounds: u64 = std::env::var("DEFENDER_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let chain = Chain::start_sky().await;
    let (chief, protego) = (chain.addr(keys::MCD_ADM), chain.addr(keys::MCD_PROTEGO));
    let attacker = chain.holder(0);
    let book = chain.book_file();
    let cache = std::env::temp_dir().join(format!("defender-bench-protego-watch-{}", std::process::id()));
    let ws = chain.anvil.url().replacen("http://", "ws://", 1);
    let mut watcher = tokio::process::Command::new(env!("CARGO_BIN_EXE_defender"))
        .args(["watch", "--json", "--rpc-url", &ws, "--addresses", book.to_str().unwrap()])
        .args(["--private-key-env", "BENCH_KEY", "--urgent"])
        .env("BENCH_KEY", KEYS[6])
        .env("DEFENDER_CACHE_DIR", &cache)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    chain.provider.anvil_set_interval_mining(1).await.unwrap();
    println!(
        "\nProtego's lift to the drop of every open plan: defender watch (ws://), anvil with 1-second blocks"
    );
    println!("{:>5} {:>6} {:>10} {:>10} {:>7}", "round", "plans", "lift blk", "drop blk", "blocks");
    let mut worst = 0;
    let mut attacker_lock = wad(100);
    let mut protego_lock = wad(0);
    for round in 1..=rounds {
        // The attacker out-votes Protego, lifts its spell after the cooldown and plots twice.
        attacker_lock += wad(1_000) + protego_lock;
        let plans =
            [sky_plot(&chain, attacker, attacker_lock).await, sky_plot(&chain, attacker, U256::ZERO).await];
        // The defenders out-vote it and lift Protego once the cooldown allows.
        protego_lock = attacker_lock * U256::from(3);
        sky_lock_and_vote(&chain, chain.holder(3), protego_lock, vec![protego]).await;
        let last: u64 = chain.read(chief, Chief::lastCall {}).await.saturating_to();
        while chain.provider.get_block_number().await.unwrap() < last + 10 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let lift = chain.ok(chain.holder(3), chief, Chief::liftCall { whom: protego }).await;
        let lifted = lift.block_number.unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut dropped_in = None;
        while Instant::now() < deadline && dropped_in.is_none() {
            // The block of the pause's drop note for the last of the plans.
            let filter = Filter::new().address(chain.addr(keys::MCD_PAUSE)).from_block(lifted);
            let logs = chain.provider.get_logs(&filter).await.unwrap();
            let blocks: Vec<u64> = plans
                .iter()
                .filter_map(|plan| {
                    logs.iter().find(|l| dropped_plan(l) == Some(plan.id())).and_then(|l| l.block_number)
                })
                .collect();
            if blocks.len() == plans.len() {
                dropped_in = blocks.into_iter().max();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let dropped = dropped_in.expect("watch dropped the plans within 30 s");
        worst = worst.max(dropped - lifted);
        println!("{round:>5} {:>6} {lifted:>10} {dropped:>10} {:>7}", plans.len(), dropped - lifted);
    }
    println!("worst: {worst} block(s) after the lift (target: 1, the next block)");
    watcher.kill().await.unwrap();
    let _ = std::fs::remove_dir_all(&cache);
}
