//! The fire drill through the built binary: every scenario's verdict is computed on chain, so
//! a drill that ends "ok" means MIP91's expectations (and, on the Sky layout, Protego's) held on
//! the chain it played.

mod common;

use std::process::Command;

use alloy::providers::Provider;
use common::Chain;
use common::cli::{output, text};
use defender_sim::ledger::{LedgerConfig, LedgerSim};

fn drill(args: &[&str]) -> serde_json::Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_defender"));
    command.arg("drill").args(args).arg("--json").env_remove("ETH_RPC_URL");
    let out = output(command);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: no verdict from drill {args:?}:\n{}", text(&out.stderr)))
}

fn assert_all_ok(verdict: &serde_json::Value, scenarios: &[&str]) {
    let played: Vec<&str> =
        verdict["scenarios"].as_array().unwrap().iter().map(|s| s["scenario"].as_str().unwrap()).collect();
    assert_eq!(played, scenarios);
    for s in verdict["scenarios"].as_array().unwrap() {
        let checks = s["checks"].as_array().unwrap();
        assert!(checks.len() >= 5, "{s}");
        for c in checks {
            assert_eq!(c["ok"], true, "{}: {}", s["scenario"], c["what"]);
        }
    }
    assert_eq!(verdict["ok"], true);
}

const MIP91_SCENARIOS: [&str; 5] =
    ["genuine-attack", "safe-genuine-attack", "alternate-ending", "false-alarm", "disgruntled-minority"];
const PROTEGO_SCENARIOS: [&str; 2] = ["protego-blanket", "protego-targeted"];

#[test]
fn every_scenario_ends_as_it_should_each_on_a_chain_of_its_layout() {
    let verdict = drill(&["all", "--auto"]);
    let every: Vec<&str> = MIP91_SCENARIOS.iter().chain(&PROTEGO_SCENARIOS).copied().collect();
    assert_all_ok(&verdict, &every);
    let layouts: Vec<&str> =
        verdict["scenarios"].as_array().unwrap().iter().map(|s| s["layout"].as_str().unwrap()).collect();
    assert_eq!(layouts, ["mip91", "mip91", "mip91", "mip91", "mip91", "sky", "sky"]);
    // The Protego verdicts include watch's drop in the block after the user's lift.
    for s in &verdict["scenarios"].as_array().unwrap()[5..] {
        let whats: Vec<&str> =
            s["checks"].as_array().unwrap().iter().map(|c| c["what"].as_str().unwrap()).collect();
        assert!(
            whats.iter().any(|w| w.contains("watch dropped the second plot in the block after your lift")),
            "{whats:?}"
        );
        assert!(whats.iter().any(|w| w.contains("execution of the second plan reverts")), "{whats:?}");
    }
}

/// `defender watch` processes still running against `url`.
fn watchers_of(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<String> =
            cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if args.iter().any(|a| a == "watch") && args.iter().any(|a| a == url) {
            found.push(args.join(" "));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_on_a_running_sky_devnet_plays_protego_s_scenarios_and_leaves_it_as_it_was() {
    let chain = Chain::start_sky().await;
    let book = chain.book_file();
    let block = chain.provider.get_block_number().await.unwrap();
    let attacker = chain.holder(4);
    let sky = chain.addr(defender::chain::addresses::keys::MCD_GOV);
    let balance = chain.read(sky, defender::chain::bindings::Sky::balanceOfCall(attacker)).await;
    let url = chain.anvil.url().to_owned();
    let verdict = drill(&["all", "--auto", "--rpc-url", &url, "--addresses", book.to_str().unwrap()]);
    assert_all_ok(&verdict, &PROTEGO_SCENARIOS);
    assert_eq!(chain.provider.get_block_number().await.unwrap(), block, "rolled back");
    assert_eq!(chain.read(sky, defender::chain::bindings::Sky::balanceOfCall(attacker)).await, balance);
    assert_eq!(watchers_of(&url), Vec::<String>::new(), "the drill stops the watch it started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_of_the_other_layout_is_refused_on_a_running_devnet() {
    let chain = Chain::start().await;
    let book = chain.book_file();
    let mut command = Command::new(env!("CARGO_BIN_EXE_defender"));
    command
        .args(["drill", "protego-blanket", "--auto", "--rpc-url", chain.anvil.url()])
        .args(["--addresses", book.to_str().unwrap()])
        .env_remove("ETH_RPC_URL");
    let out = command.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    assert!(said.contains("protego-blanket needs a devnet with --layout sky"), "{said}");
    assert!(said.contains("runs the mip91 layout"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_on_a_running_devnet_leaves_it_as_it_was() {
    let chain = Chain::start().await;
    let book = chain.book_file();
    let block = chain.provider.get_block_number().await.unwrap();
    let verdict = drill(&[
        "false-alarm",
        "--auto",
        "--rpc-url",
        chain.anvil.url(),
        "--addresses",
        book.to_str().unwrap(),
    ]);
    assert_all_ok(&verdict, &["false-alarm"]);
    assert_eq!(chain.provider.get_block_number().await.unwrap(), block, "rolled back");
    assert_eq!(common::mkr_balance(&chain, chain.holder(0)).await, common::wad(100_000));
}

/// `scenario` played with the user's part signed on the simulator, as account 7.
fn drill_on_ledger(sim: &LedgerSim, scenario: &str) -> serde_json::Value {
    let speculos = sim.addr().to_string();
    drill(&[scenario, "--auto", "--ledger", "--speculos", &speculos, "--hd-path", "m/44'/60'/0'/0/7"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_part_signs_on_a_ledger() {
    let sim = LedgerSim::start(LedgerConfig::default()).await.unwrap();
    // Account 7 of the test mnemonic holds no MKR on the devnet: the drill funds it.
    let verdict = drill_on_ledger(&sim, "genuine-attack");
    assert_all_ok(&verdict, &["genuine-attack"]);
    // Signed on the device: deposit (approve + deposit), two cancels, vote --lock all (approve,
    // lock, vote), lift, withdraw.
    let user = sim.address_at("m/44'/60'/0'/0/7").to_checksum(None);
    let screens = sim.texts();
    assert_eq!(screens.len(), 9, "{screens:?}");
    assert!(
        screens.iter().all(|s| s.contains(&user) && s.last().unwrap() == "Accept risk and sign transaction")
    );
}

/// From the demo Safe with `--ledger`: the device's account (8, no owner of any devnet Safe)
/// becomes the Safe's first owner; it signs each step's safeTxHash in EIP-712 hashed mode and
/// then pays for the execution, while test account 6 signs second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_safe_drill_makes_the_ledger_an_owner_and_signs_there() {
    let sim = LedgerSim::start(LedgerConfig::default()).await.unwrap();
    let speculos = sim.addr().to_string();
    let path = "m/44'/60'/0'/0/8";
    let verdict =
        drill(&["safe-genuine-attack", "--auto", "--ledger", "--speculos", &speculos, "--hd-path", path]);
    assert_all_ok(&verdict, &["safe-genuine-attack"]);
    // deposit, two cancels, vote --lock all, lift, withdraw: each a safeTxHash and an execution.
    let requests = sim.texts();
    assert_eq!(requests.len(), 12, "{requests:?}");
    let typed = requests.iter().filter(|r| r.iter().any(|line| line.contains("Domain hash"))).count();
    assert_eq!(typed, 6, "one EIP-712 signature per step: {requests:?}");
    let user = sim.address_at(path).to_checksum(None);
    let executions =
        requests.iter().filter(|r| r.last().is_some_and(|l| l == "Accept risk and sign transaction"));
    assert!(executions.clone().all(|r| r.contains(&user)), "{requests:?}");
    assert_eq!(executions.count(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_protego_drill_the_user_s_watch_signs_on_the_same_ledger() {
    let sim = LedgerSim::start(LedgerConfig::default()).await.unwrap();
    // Account 7 has no SKY on the devnet: the drill funds it with what a test holder has.
    let verdict = drill_on_ledger(&sim, "protego-blanket");
    assert_all_ok(&verdict, &["protego-blanket"]);
    // Signed on the device: vote --lock (approve, lock, vote), lift, cancel; then vote --lock all
    // (approve, lock), lift, and watch's drop.
    let user = sim.address_at("m/44'/60'/0'/0/7").to_checksum(None);
    let screens = sim.texts();
    assert_eq!(screens.len(), 9, "{screens:?}");
    assert!(screens.iter().all(|s| s.contains(&user)));
}

#[test]
fn a_drill_refuses_a_chain_that_is_not_a_devnet() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_defender"));
    let port = defender::devnet::anvil::free_port().unwrap();
    command.args(["drill", "all", "--auto", "--rpc-url", &format!("http://127.0.0.1:{port}")]);
    let out = command.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot reach"), "{}", text(&out.stderr));
}
