//! `queue` through a provider's limits, enforced by the RPC proxy as hosted providers do: a cap
//! on calls per batch (in each of the three ways providers refuse), a cap on the blocks of one
//! `eth_getLogs` (with and without the number in the refusal), and a cap on its results. Every
//! plan is listed each time, with the reads counted.

mod common;

use alloy::sol_types::SolCall;
use common::cli::{Cli, SignWith, text};
use common::{activate, attack, attack_again, attacker_as_hat, direct_plot, mine};
use defender::chain::addresses::keys;
use defender::chain::bindings::{DSPause, DssExec};
use defender_sim::rpc_proxy::{BatchRefusal, ProviderLimits, RpcProxy};

/// Plans the attacker plots itself, as the hat, beside its two spells' plans.
const DIRECT_PLOTS: u64 = 60;
/// Blocks mined after each direct plot: the history spans about 2,000 blocks.
const BLOCKS_BETWEEN: u64 = 32;

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A chain whose pause holds two spells' plans and [`DIRECT_PLOTS`] plotted by the attacker's
/// own address, spread over about 2,000 blocks, and a proxy in front of it.
async fn history() -> (Cli, RpcProxy) {
    let mut cli = Cli::start_signing_with(SignWith::EnvKey).await;
    let chain = &cli.chain;
    attack(chain).await;
    attack_again(chain).await;
    let attacker = attacker_as_hat(chain).await;
    let pause = chain.addr(keys::MCD_PAUSE);
    for i in 0..DIRECT_PLOTS {
        chain.ok(attacker, pause, direct_plot(i)).await;
        mine(chain, BLOCKS_BETWEEN).await;
    }
    activate(chain).await;
    let upstream = chain.anvil.url().trim_start_matches("http://").parse().unwrap();
    let proxy = RpcProxy::start(upstream).await.unwrap();
    cli.rpc_url = proxy.url();
    (cli, proxy)
}

/// Each plan's id, state and description, in order.
fn plans(queue: &serde_json::Value) -> Vec<(String, String, String)> {
    let plans = queue["plans"].as_array().expect("a list of plans");
    plans
        .iter()
        .map(|p| (p["id"].to_string(), p["state"].to_string(), p["description"].to_string()))
        .collect()
}

/// `queue --json --no-cache` (and `extra`): the queue and stderr.
fn queue(cli: &Cli, extra: &[&str]) -> (serde_json::Value, String) {
    let out = cli.run(5, &[&["queue", "--json", "--history"][..], extra].concat());
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "queue failed: {stderr}");
    (json(&text(&out.stdout)), stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn description_is_asked_once_per_spell_not_once_per_plan() {
    let (cli, proxy) = history().await;
    let (listed, _) = queue(&cli, &["--no-cache"]);
    let listed = plans(&listed);
    assert_eq!(listed.len() as u64, DIRECT_PLOTS + 2);
    // The attacker's address plotted 60 plans and two spells one each: three addresses.
    assert_eq!(proxy.calls_of(DssExec::descriptionCall::SELECTOR), 3);
    assert_eq!(proxy.calls_of(DSPause::plansCall::SELECTOR), 0, "the states come in one deployless call");
    let described = listed.iter().filter(|p| p.2 == "\"mint MKR to the attacker\"").count();
    assert_eq!(described, 2, "both spells' plans keep their description");
    assert!(listed.iter().all(|p| p.1 == "\"pending\""), "{listed:?}");
}

/// Under a gas cap the deployless check of every plan fails, and each plan is asked on its own:
/// 62 calls, through a provider that takes 50 a batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_refusing_batches_over_50_calls_still_gets_every_read() {
    let (cli, proxy) = history().await;
    let (reference, _) = queue(&cli, &["--no-cache"]);
    let reference = plans(&reference);
    let plan_states = hex::decode(defender::chain::bindings::bytecode::PLAN_STATES.trim()).unwrap();
    for refusal in [BatchRefusal::OneError, BatchRefusal::Http413, BatchRefusal::PerCall] {
        proxy.set_limits(ProviderLimits {
            batch_calls: Some(50),
            batch_refusal: refusal,
            out_of_gas_calls: Some(plan_states[..64].to_vec()),
            ..Default::default()
        });
        let asked = proxy.requests().len();
        let asked_plans = proxy.calls_of(DSPause::plansCall::SELECTOR);
        let (listed, stderr) = queue(&cli, &["--no-cache"]);
        assert_eq!(plans(&listed), reference, "{refusal:?}: every plan, state and description");
        assert_eq!(
            stderr.matches("the provider takes at most 50 calls a batch").count(),
            1,
            "{refusal:?}: {stderr}"
        );
        // After the refusal, no batch of calls is larger than the provider takes.
        let calls: Vec<usize> = proxy.requests()[asked..]
            .iter()
            .map(|methods| methods.iter().filter(|m| *m == "eth_call").count())
            .filter(|&n| n > 0)
            .collect();
        let refused = calls.iter().position(|&n| n > 50).expect("one batch was refused");
        assert!(calls[refused + 1..].iter().all(|&n| n <= 50), "{refusal:?}: {calls:?}");
        let one_by_one = proxy.calls_of(DSPause::plansCall::SELECTOR) - asked_plans;
        assert!(one_by_one >= 62, "{refusal:?}: every plan asked on its own: {one_by_one}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_range_cap_is_learnt_once_and_the_history_read_in_full() {
    let (cli, proxy) = history().await;
    let (reference, _) = queue(&cli, &["--no-cache"]);
    let head = reference["block"].as_u64().unwrap();
    let reference = plans(&reference);
    assert!(head >= 2_000, "a history of about 2,000 blocks: {head}");

    // No number in the refusal: the common caps are stepped down.
    let cap = 100;
    let limits = ProviderLimits {
        log_blocks: Some(cap),
        range_message: "block range too large".into(),
        ..Default::default()
    };
    proxy.set_limits(limits.clone());
    let asked = proxy.log_ranges().len();
    let (listed, stderr) = queue(&cli, &["--no-cache"]);
    assert_eq!(plans(&listed), reference);
    let requests = proxy.log_ranges().len() - asked;
    let budget = (head + 1).div_ceil(cap) as usize + 8;
    assert!(requests <= budget, "{requests} eth_getLogs for {} blocks, at most {budget}", head + 1);
    assert_eq!(
        stderr.matches("the provider limits eth_getLogs to 100 blocks: scanning").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("4 at a time"), "{stderr}");

    // The number in the refusal is taken at its word; what was learnt is kept for the next run.
    proxy.set_limits(ProviderLimits { range_message: "exceed maximum block range: {cap}".into(), ..limits });
    let asked = proxy.log_ranges().len();
    let (listed, _) = queue(&cli, &[]);
    assert_eq!(plans(&listed), reference);
    let refused = |ranges: &[(u64, u64)]| ranges.iter().filter(|(from, to)| to - from + 1 > cap).count();
    assert_eq!(refused(&proxy.log_ranges()[asked..]), 1, "one refusal, then every range fits");
    let endpoints = std::fs::read_to_string(cli.cache_dir.0.join("endpoints.json")).unwrap();
    assert!(endpoints.contains("\"log_range\": 100") && !endpoints.contains("127.0.0.1"), "{endpoints}");
    std::fs::remove_dir_all(cli.cache_dir.0.join("pause-logs")).unwrap();
    let asked = proxy.log_ranges().len();
    let (listed, _) = queue(&cli, &[]);
    assert_eq!(plans(&listed), reference);
    let ranges = &proxy.log_ranges()[asked..];
    assert_eq!(refused(ranges), 0, "the next run starts at the cap it learnt: {ranges:?}");
    assert!(ranges.first().is_some_and(|r| r.0 == 0), "the whole history is read again: {ranges:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_count_cap_splits_only_the_requests_it_refuses() {
    let (cli, proxy) = history().await;
    let (reference, _) = queue(&cli, &["--no-cache"]);
    let reference = plans(&reference);
    proxy.set_limits(ProviderLimits { log_results: Some(10), ..Default::default() });
    let asked = proxy.log_ranges().len();
    let (listed, stderr) = queue(&cli, &["--no-cache"]);
    assert_eq!(plans(&listed), reference, "every plan, though no answer holds more than 10 logs");
    assert!(!stderr.contains("limits eth_getLogs to"), "a result cap is no block cap: {stderr}");
    let requests = proxy.log_ranges().len() - asked;
    // About 70 logs, 10 at most an answer: the suggested ranges keep it near 70 / 10 requests
    // plus the refused ones.
    assert!(requests <= 20, "{requests} eth_getLogs");
}
