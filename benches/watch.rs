//! `cargo bench --bench watch`: plot-to-cancel latency of `defender watch` on anvil mining a
//! block every second, in blocks and milliseconds, over several plots. Not a test: it prints
//! a table. DEFENDER_BENCH_ROUNDS sets the number of plots (default 10).

use std::process::Stdio;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use alloy::rpc::types::Filter;
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
    let spells: Vec<Address> = {
        let mut v = Vec::new();
        for i in 0..rounds {
            v.push(world.mint_spell(attacker, attacker, tokens(1 + i as u64), "bench").await.unwrap());
        }
        v
    };
    let defender_address = world.snapshot(Address::ZERO).await.unwrap().at.defender;
    provider.anvil_set_interval_mining(1).await.unwrap();

    let mut watcher = tokio::process::Command::new(env!("CARGO_BIN_EXE_defender"))
        .args([
            "watch",
            "--json",
            "--interval",
            "0.1",
            "--rpc-url",
            anvil.url(),
            "--chainlog",
            &chainlog.to_string(),
        ])
        .args(["--private-key-env", "BENCH_KEY", "--urgent"])
        .env("BENCH_KEY", CANCELLER_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    println!("plot-to-cancel latency, defender watch --interval 0.1 on anvil with 1-second blocks");
    println!("{:>5} {:>10} {:>11} {:>7} {:>12}", "plot", "plot block", "cancel blk", "blocks", "ms");
    let mut gaps = Vec::new();
    let mut times = Vec::new();
    for (i, spell) in spells.iter().enumerate() {
        world.lock_and_vote(attacker, alloy::primitives::U256::ZERO, *spell).await.unwrap();
        world.lift(attacker, *spell).await.unwrap();
        world.call(attacker, *spell, DssExec::scheduleCall {}).await.unwrap();
        let mined = Instant::now();
        let plot_block = provider.get_block_number().await.unwrap();
        let id = plan_id(&world, *spell).await;
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
        println!("{:>5} {:>10} {:>11} {:>7} {:>12}", i + 1, plot_block, cancel_block, gap, ms);
        gaps.push(gap);
        times.push(ms);
    }
    watcher.kill().await.unwrap();
    gaps.sort_unstable();
    times.sort_unstable();
    let within_one = gaps.iter().filter(|g| **g <= 1).count();
    println!(
        "median {} block(s), {} ms; worst {} block(s), {} ms; {within_one}/{} cancelled in the next block",
        gaps[gaps.len() / 2],
        times[times.len() / 2],
        gaps[gaps.len() - 1],
        times[times.len() - 1],
        gaps.len()
    );
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
