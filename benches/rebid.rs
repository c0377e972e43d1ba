//! `cargo bench --bench rebid`: blocks from a base-fee spike to the cancel being mined, on
//! anvil mining a block every second, with and without re-bidding, against `cast send`.
//!
//! Each round plots a new plan, has it cancelled at 1.5 gwei (tip 0.1), and once the cancel is
//! in the pool holds the base fee at 20 gwei for every block from then on: a bid of 1.5 gwei can
//! land in none of them. Counted: blocks from the first spiked block to the one that drops the
//! plan, within DEFENDER_BENCH_WINDOW blocks (default 20), over DEFENDER_BENCH_ROUNDS rounds
//! (default 3) per way of sending:
//! - `defender cancel` without --max-fee-cap (nothing is re-bid);
//! - `defender cancel --max-fee-cap 100` (re-bid after the default 3 blocks) and with
//!   `--rebid-after 1`;
//! - `defender broadcast` of a bundle built with `--fee-ladder 4 --max-fee-cap 100`, signed
//!   offline;
//! - `cast send --async` with the same fees (cast has no replacement).
//!
//! Not a test: it prints tables.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use alloy::sol_types::SolCall;
use common::cli::{Cli, KEYS, output, sign_offline, text};
use common::{Chain, activate, attack, plan_of};
use defender::chain::addresses::keys;
use defender::chain::bindings::{DSPause, DssExec};

const GWEI: u128 = 1_000_000_000;
const SPIKE: u128 = 20 * GWEI;
/// The account that cancels (anvil's account 5): not a depositor, any account can.
const CANCELLER: usize = 5;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A new plan of the attacker's (who holds the hat), queued in the pause.
async fn plot(chain: &Chain, n: u64) -> common::Plan {
    let attacker = chain.holder(common::ATTACKER);
    let spell = chain.mint_spell(attacker, attacker, common::wad(1 + n)).await;
    chain.world.lock_and_vote(attacker, alloy::primitives::U256::ZERO, spell).await.unwrap();
    chain.world.lift(attacker, spell).await.unwrap();
    chain.ok(attacker, spell, DssExec::scheduleCall {}).await;
    plan_of(chain, spell).await
}

/// Ways of sending the cancel of `plan`: each starts it and returns the process to stop.
enum Way {
    Defender(&'static [&'static str]),
    Ladder,
    Cast,
}

impl Way {
    fn name(&self) -> String {
        match self {
            Way::Defender([]) => "defender cancel, no --max-fee-cap".into(),
            Way::Defender(args) => format!("defender cancel {}", args.join(" ")),
            Way::Ladder => "defender broadcast, --fee-ladder 4 --max-fee-cap 100 (signed offline)".into(),
            Way::Cast => "cast send --async, same fees".into(),
        }
    }

    async fn start(&self, cli: &Cli, plan: &common::Plan, dir: &std::path::Path) -> Child {
        let spell = plan.spell.to_string();
        let fees = ["--max-fee", "1.5", "--priority-fee", "0.1"];
        match self {
            Way::Defender(extra) => {
                let mut args = vec!["cancel", &spell, "--yes", "--json"];
                args.extend(fees);
                args.extend(extra.iter());
                quiet(cli.signed(CANCELLER, &args))
            }
            Way::Ladder => {
                let unsigned = dir.join(format!("cancel-{spell}.json"));
                let signed = dir.join(format!("cancel-{spell}.signed.json"));
                let from = cli.chain.outsider(CANCELLER - 5).await.to_string();
                let mut args =
                    vec!["cancel", &spell, "--from", &from, "--unsigned-out", unsigned.to_str().unwrap()];
                args.extend(fees);
                args.extend(["--max-fee-cap", "100", "--fee-ladder", "4"]);
                let out = output(cli.command(&args));
                assert!(out.status.success(), "{}", text(&out.stderr));
                sign_offline(&unsigned, &signed, CANCELLER);
                quiet(cli.command(&["broadcast", signed.to_str().unwrap(), "--json"]))
            }
            Way::Cast => {
                let cast = concat!(env!("CARGO_MANIFEST_DIR"), "/node_modules/.bin/cast");
                let data = format!("0x{}", hex::encode(plan.cancel().abi_encode()));
                let mut command = Command::new(cast);
                command
                    .args(["send", "--async", "--rpc-url", &cli.rpc_url, "--private-key", KEYS[CANCELLER]])
                    .args(["--gas-price", "1.5gwei", "--priority-gas-price", "0.1gwei"])
                    .arg(cli.addr(keys::MCD_DEFENDER).to_string())
                    .arg(data);
                quiet(command)
            }
        }
    }
}

fn quiet(mut command: Command) -> Child {
    command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
}

async fn pooled(provider: &alloy::providers::DynProvider) -> bool {
    let pool: serde_json::Value = provider.raw_request("txpool_content".into(), ()).await.unwrap();
    pool["pending"].as_object().is_some_and(|p| !p.is_empty())
}

/// One round: the cancel in the pool, then spiked 1-second blocks until the plan is gone or
/// the window ends; the blocks it took, or None.
async fn round(cli: &Cli, way: &Way, n: u64, window: u64, dir: &std::path::Path) -> Option<u64> {
    let chain = &cli.chain;
    let provider = chain.provider.clone();
    let plan = plot(chain, n).await;
    let pause = chain.addr(keys::MCD_PAUSE);
    let nonce = provider.get_transaction_count(chain.outsider(CANCELLER - 5).await).latest().await.unwrap();
    provider.anvil_set_auto_mine(false).await.unwrap();
    let mut child = way.start(cli, &plan, dir).await;
    for _ in 0..1000 {
        if pooled(&provider).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Mined means in a block: the canceller's nonce at the latest block moves.
    let canceller = chain.outsider(CANCELLER - 5).await;
    let mut took = None;
    for block in 1..=window {
        provider.anvil_set_next_block_base_fee_per_gas(SPIKE).await.unwrap();
        provider.evm_mine(None).await.unwrap();
        if provider.get_transaction_count(canceller).latest().await.unwrap() > nonce {
            let gone = !chain.world.read(pause, DSPause::plansCall(plan.id())).await.unwrap();
            assert!(gone, "the cancel was mined, so the plan is gone");
            took = Some(block);
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    // Whatever is left in the pool must not hold the canceller's next nonce.
    provider.anvil_drop_all_transactions().await.unwrap();
    provider.anvil_set_auto_mine(true).await.unwrap();
    provider.anvil_set_next_block_base_fee_per_gas(GWEI).await.unwrap();
    provider.evm_mine(None).await.unwrap();
    took
}

#[tokio::main]
async fn main() {
    let rounds = env_or("DEFENDER_BENCH_ROUNDS", 3);
    let window = env_or("DEFENDER_BENCH_WINDOW", 20);
    let cli = Cli::start().await;
    // The attacker holds the hat with a plan queued; the defender is active.
    attack(&cli.chain).await;
    activate(&cli.chain).await;
    let dir = cli.book.parent().unwrap().join("bench-rebid");
    std::fs::create_dir_all(&dir).unwrap();
    let ways = [
        Way::Defender(&[]),
        Way::Defender(&["--max-fee-cap", "100"]),
        Way::Defender(&["--max-fee-cap", "100", "--rebid-after", "1"]),
        Way::Ladder,
        Way::Cast,
    ];
    println!(
        "blocks from a base-fee spike (1.5 gwei bid, 20 gwei base fee held) to the cancel mined; 1-second blocks; \
         window {window} blocks, {rounds} rounds each"
    );
    println!("{:<74} {:>16} {:>8}", "way", "blocks per round", "landed");
    let mut n = 0;
    for way in &ways {
        let mut results = Vec::new();
        for _ in 0..rounds {
            n += 1;
            results.push(round(&cli, way, n, window, &dir).await);
        }
        let shown: Vec<String> =
            results.iter().map(|r| r.map_or_else(|| format!(">{window}"), |b| b.to_string())).collect();
        let landed = results.iter().filter(|r| r.is_some()).count();
        println!("{:<74} {:>16} {:>5}/{rounds}", way.name(), shown.join(" "), landed);
    }
}
