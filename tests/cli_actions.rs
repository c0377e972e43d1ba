//! Every action command through the built binary against a fresh devnet: effects asserted on
//! chain, and each bad input refused with its message and nothing sent (the nonce stays).

mod common;

use std::process::Command;

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use common::cli::{Cli, KEYS, text};
use common::{activate, attack, mkr_balance, wad};
use defender::chain::addresses::keys;
use defender::chain::bindings::{DSChief, DSPause, DSToken, DssDefender, ESM};

#[tokio::test]
async fn deposit_approves_exactly_then_deposits_and_reports_json() {
    let cli = Cli::start().await;
    let alice = cli.chain.holder(0);
    let out = cli.ok(0, &["deposit", "1500.5", "--yes", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let txs = report["preview"]["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 2, "approve then deposit");
    assert_eq!(txs[0]["call"]["signature"], "approve(address,uint256)");
    assert_eq!(txs[1]["call"]["signature"], "deposit(uint256)");
    assert_eq!(report["sent"], true);
    assert!(report["receipts"].as_array().unwrap().iter().all(|r| r["status"] == true));

    let deposited = cli.chain.read(cli.addr(keys::MCD_DEFENDER), DssDefender::depositsCall(alice)).await;
    assert_eq!(deposited, wad(1500) + wad(1) / U256::from(2));
    assert_eq!(mkr_balance(&cli.chain, alice).await, wad(100_000) - deposited);
    // The approval was for exactly the amount, so nothing is left over.
    let allowance = cli
        .chain
        .read(
            cli.addr(keys::MCD_GOV),
            defender::chain::bindings::DSToken::allowanceCall { _0: alice, _1: cli.addr(keys::MCD_DEFENDER) },
        )
        .await;
    assert_eq!(allowance, U256::ZERO);

    // A second deposit with an allowance already in place needs no approval.
    cli.chain
        .ok(
            alice,
            cli.addr(keys::MCD_GOV),
            defender::chain::bindings::overloads::approveAmountCall {
                guy: cli.addr(keys::MCD_DEFENDER),
                wad: wad(10),
            },
        )
        .await;
    let out = cli.ok(0, &["deposit", "10", "--yes", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["preview"]["transactions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn dry_run_previews_and_sends_nothing() {
    let cli = Cli::start().await;
    let alice = cli.chain.holder(0);
    let out = cli.run(0, &["deposit", "all", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("deposit 100,000 MKR into the defender"), "{stderr}");
    assert!(stderr.contains("simulated ok") && stderr.contains("dry run"), "{stderr}");
    assert!(stderr.contains("defender deposits") && stderr.contains("your unlock date"), "{stderr}");
    assert!(stderr.contains("reaches the threshold"), "all 100,000 MKR activates the defender: {stderr}");
    assert_eq!(cli.chain.provider.get_transaction_count(alice).await.unwrap(), 0);
}

#[tokio::test]
async fn cancel_all_drops_every_queued_plan_and_queue_shows_it() {
    let cli = Cli::start().await;
    let first = attack(&cli.chain).await;
    // The attacker plots a second malicious spell.
    let second_spell = common::attack_again(&cli.chain).await.spell;

    let queue: serde_json::Value = serde_json::from_str(&cli.ok(5, &["queue", "--json"])).unwrap();
    assert_eq!(queue["plans"].as_array().unwrap().len(), 2);
    assert!(queue["plans"].as_array().unwrap().iter().all(|p| p["state"] == "pending"));
    assert_eq!(queue["plans"][0]["description"], "mint MKR to the attacker");

    // Before activation the defender cannot cancel.
    cli.refused(5, &["cancel", "--all", "--yes"], 3, "the defender is not activated").await;
    activate(&cli.chain).await;
    // Account 5 holds no MKR at all: cancelling is permissionless.
    cli.ok(5, &["cancel", "--all", "--yes", "--urgent"]);
    for spell in [first.spell, second_spell] {
        let key = common::plan_of(&cli.chain, spell).await;
        assert!(!cli.chain.read(cli.addr(keys::MCD_PAUSE), DSPause::plansCall(key.id())).await);
    }
    let queue: serde_json::Value =
        serde_json::from_str(&cli.ok(5, &["queue", "--json", "--history"])).unwrap();
    assert!(queue["plans"].as_array().unwrap().iter().all(|p| p["state"] == "dropped"), "{queue}");
    cli.refused(5, &["cancel", "--all", "--yes"], 3, "nothing to cancel").await;
}

#[tokio::test]
async fn cancel_by_spell_and_by_plan_id() {
    let cli = Cli::start().await;
    let first = attack(&cli.chain).await;
    activate(&cli.chain).await;
    let spell = first.spell.to_string();
    cli.ok(6, &["cancel", &spell, "--yes"]);
    assert!(!cli.chain.read(cli.addr(keys::MCD_PAUSE), DSPause::plansCall(first.id())).await);
    cli.refused(6, &["cancel", &spell, "--yes"], 3, "no longer queued").await;
    cli.refused(6, &["cancel", &format!("{}", first.id()), "--yes"], 3, "no longer queued").await;
    let unknown = format!("0x{}", "ab".repeat(32));
    cli.refused(6, &["cancel", &unknown, "--yes"], 2, "was plotted").await;
    // A mixed-case address with a broken checksum is refused, not guessed at.
    let mut bad = first.spell.to_checksum(None);
    let flip = bad.char_indices().skip(2).find(|(_, c)| c.is_ascii_alphabetic()).unwrap().0;
    let flipped: String = bad[flip..=flip]
        .chars()
        .map(|c| if c.is_uppercase() { c.to_ascii_lowercase() } else { c.to_ascii_uppercase() })
        .collect();
    bad.replace_range(flip..=flip, &flipped);
    cli.refused(6, &["cancel", &bad, "--yes"], 2, "checksum").await;
    cli.refused(6, &["vote", "--spell", &bad, "--yes"], 2, "checksum").await;
}

#[tokio::test]
async fn vote_with_lock_then_lift_makes_the_default_spell_the_hat() {
    let cli = Cli::start().await;
    let attack = attack(&cli.chain).await;
    let chief = cli.addr(keys::MCD_ADM);
    let spell = cli.chain.deployment.default_spell;
    cli.refused(1, &["vote", "--yes"], 3, "--lock").await;
    cli.ok(1, &["vote", "--lock", "100000", "--yes"]);
    cli.ok(2, &["vote", "--lock", "60000", "--yes"]);
    assert_eq!(cli.chain.read(chief, DSChief::approvalsCall(spell)).await, wad(160_000));
    cli.ok(3, &["lift", "--yes"]);
    assert_eq!(cli.chain.read(chief, DSChief::hatCall {}).await, spell);
    cli.refused(3, &["lift", "--yes"], 3, "already the hat").await;
    // The attacker's spell lost the hat: it can still be executed later, which is what
    // cancelling is for; here only the hat changed.
    assert_ne!(cli.chain.read(chief, DSChief::hatCall {}).await, attack.spell);
}

#[tokio::test]
async fn esm_needs_a_typed_or_explicit_burn_and_counts_in_sum() {
    let cli = Cli::start().await;
    cli.ok(0, &["deposit", "1000", "--yes"]);
    cli.refused(0, &["esm", "400", "--yes"], 3, "irreversible").await;
    cli.ok(0, &["esm", "400", "--yes", "--burn"]);
    assert_eq!(cli.chain.read(cli.addr(keys::MCD_ESM), ESM::SumCall {}).await, wad(400));
    cli.ok(1, &["esm", "250", "--direct", "--yes", "--burn"]);
    assert_eq!(cli.chain.read(cli.addr(keys::MCD_ESM), ESM::SumCall {}).await, wad(650));
    cli.refused(1, &["esm", "fire", "--yes", "--burn"], 3, "needs to fire").await;
}

#[tokio::test]
async fn withdraw_waits_for_the_lockup() {
    let cli = Cli::start().await;
    cli.ok(0, &["deposit", "1000", "--yes"]);
    cli.refused(0, &["withdraw", "all", "--yes"], 3, "the lockup is not over").await;
    cli.chain.warp(cli.chain.params.lockup_duration.as_secs()).await;
    cli.ok(0, &["withdraw", "all", "--yes"]);
    assert_eq!(mkr_balance(&cli.chain, cli.chain.holder(0)).await, wad(100_000));
}

#[tokio::test]
async fn bad_input_is_refused_with_what_to_do_and_nothing_is_sent() {
    let cli = Cli::start().await;
    cli.refused(0, &["deposit", "1.0000000000000000001", "--yes"], 2, "has 19 decimals").await;
    cli.refused(0, &["deposit", "-5", "--yes"], 2, "negative").await;
    cli.refused(0, &["deposit", "0", "--yes"], 2, "zero").await;
    cli.refused(0, &["deposit", "abc", "--yes"], 2, "not an amount").await;
    cli.refused(0, &["deposit", &"9".repeat(90), "--yes"], 2, "too large").await;
    cli.refused(0, &["deposit", "100001", "--yes"], 3, "more than the 100,000 MKR in your wallet").await;
    cli.refused(5, &["deposit", "1", "--yes"], 3, "you have no MKR in your wallet").await;
    cli.refused(0, &["deposit", "1", "--yes", "--chain", "1"], 1, "serves chain 31337, but --chain says 1")
        .await;
    cli.refused(
        0,
        &["deposit", "1", "--yes", "--from", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"],
        1,
        "signs as",
    )
    .await;
    cli.refused(0, &["deposit", "1"], 3, "pass --yes").await;
    cli.refused(0, &["withdraw", "1", "--yes"], 3, "no MKR deposited").await;
    let nowhere = "0x0000000000000000000000000000000000000001";
    cli.refused(0, &["vote", "--delegate", nowhere, "--yes"], 2, "there is no contract at").await;

    let port = defender::devnet::anvil::free_port().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_defender"))
        .args(["deposit", "1", "--yes", "--rpc-url", &format!("http://127.0.0.1:{port}")])
        .args(["--addresses", cli.book.to_str().unwrap(), "--private-key-env", "K"])
        .env("K", KEYS[0])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot reach the RPC"), "{}", text(&out.stderr));
    let out = Command::new(env!("CARGO_BIN_EXE_defender"))
        .args(["deposit", "1", "--private-key-env", "NOT_SET_ANYWHERE"])
        .output()
        .unwrap();
    assert!(text(&out.stderr).contains("NOT_SET_ANYWHERE is not set"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn a_keystore_signs_and_accounts_shows_the_result() {
    let cli = Cli::start().await;
    let dir = cli.book.parent().unwrap().join("keys");
    std::fs::create_dir_all(&dir).unwrap();
    let cast = concat!(env!("CARGO_MANIFEST_DIR"), "/node_modules/.bin/cast");
    let made = Command::new(cast)
        .args(["wallet", "new", dir.to_str().unwrap(), "--unsafe-password", "correct horse"])
        .output()
        .unwrap();
    let made = text(&made.stdout);
    let address: Address =
        made.lines().find_map(|l| l.strip_prefix("Address:")).unwrap().trim().parse().unwrap();
    let file = made.lines().find_map(|l| l.split("keystore file: ").nth(1)).unwrap().trim().to_owned();
    let password = dir.join("password");
    std::fs::write(&password, "correct horse\n").unwrap();

    // Fund it from holder 1: ETH for gas, MKR to deposit.
    let holder = cli.chain.holder(1);
    let fund = alloy::rpc::types::TransactionRequest::default()
        .from(holder)
        .to(address)
        .value(U256::from(10u64).pow(U256::from(18)));
    let _ = cli.chain.provider.send_transaction(fund).await.unwrap();
    cli.chain
        .ok(
            holder,
            cli.addr(keys::MCD_GOV),
            defender::chain::bindings::DSToken::transferCall { dst: address, wad: wad(50) },
        )
        .await;

    let run = |args: &[&str], password_file: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_defender"))
            .args(args)
            .args(["--rpc-url", cli.chain.anvil.url(), "--addresses", cli.book.to_str().unwrap()])
            .args(["--keystore", &file, "--password-file", password_file.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = run(&["deposit", "20", "--yes"], &password);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        cli.chain.read(cli.addr(keys::MCD_DEFENDER), DssDefender::depositsCall(address)).await,
        wad(20)
    );

    let wrong = dir.join("wrong");
    std::fs::write(&wrong, "battery staple").unwrap();
    let out = run(&["deposit", "1", "--yes"], &wrong);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("wrong password"), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("battery"), "the password must never be printed");

    let out = run(&["accounts", "--json"], &password);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["accounts"][0]["balance"], wad(30).to_string());
    assert_eq!(json["accounts"][0]["defender_deposit"], wad(20).to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_eth_simulate_v1_gets_the_state_override_simulation() {
    let mut cli = Cli::start().await;
    let direct: serde_json::Value =
        serde_json::from_str(&cli.ok(0, &["deposit", "1500", "--dry-run", "--json"])).unwrap();
    assert_eq!(direct["preview"]["simulated_with"], "simulate_v1");

    let upstream = cli.chain.anvil.url().trim_start_matches("http://").parse().unwrap();
    let proxy = defender_sim::rpc_proxy::RpcProxy::start(upstream).await.unwrap();
    proxy.refuse("eth_simulateV1");
    cli.rpc_url = proxy.url();
    let out: serde_json::Value =
        serde_json::from_str(&cli.ok(0, &["deposit", "1500", "--yes", "--json"])).unwrap();
    assert_eq!(out["preview"]["simulated_with"], "state_override");
    let methods: Vec<String> = proxy.requests().concat();
    assert!(methods.contains(&"eth_simulateV1".to_owned()) && methods.contains(&"eth_call".to_owned()));

    // Same plan, same order, gas within a few percent of eth_simulateV1's (the runner sees the
    // approve's slots warm, and pays to reach each contract), and the state changes agree.
    let txs = |r: &serde_json::Value| r["preview"]["transactions"].as_array().unwrap().clone();
    for (a, b) in txs(&direct).iter().zip(txs(&out)) {
        assert_eq!(a["data"], b["data"]);
        let (a, b) =
            (a["simulation"]["gas_used"].as_f64().unwrap(), b["simulation"]["gas_used"].as_f64().unwrap());
        assert!((a - b).abs() / a < 0.1, "gas {a} by eth_simulateV1, {b} by state override");
    }
    assert_eq!(direct["preview"]["changes"], out["preview"]["changes"]);
    let alice = cli.chain.holder(0);
    assert_eq!(
        cli.chain.read(cli.addr(keys::MCD_DEFENDER), DssDefender::depositsCall(alice)).await,
        wad(1500)
    );

    // A call that reverts is refused with the reason the runner brought back: governance
    // stops MKR, which nothing but the token itself knows.
    let governance = cli.chain.as_governance().await;
    cli.chain.ok(governance, cli.addr(keys::MCD_GOV), DSToken::stopCall {}).await;
    cli.refused(2, &["deposit", "10", "--yes"], 3, "ds-stop-is-stopped").await;
}

#[tokio::test]
async fn a_reader_that_goes_away_ends_a_reading_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let cli = Cli::start().await;
    for args in [&["status"][..], &["queue", "--history"][..]] {
        let mut command = cli.command(args);
        command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        let mut child = command.spawn().unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "defender {args:?}: {stderr}");
        assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "defender {args:?}: {:?} {stderr}", out.status);
    }
}

#[tokio::test]
async fn a_batch_whose_reader_went_away_still_lands_and_reports_on_stderr() {
    let cli = Cli::start().await;
    let mut command = cli.signed(0, &["deposit", "10", "--yes"]);
    command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("output continues here on stderr"), "{stderr}");
    // The preview and every receipt line are there, on stderr.
    assert!(stderr.contains("1/2  approve the defender to spend 10 MKR"), "{stderr}");
    assert_eq!(stderr.matches("mined in block").count(), 2, "{stderr}");
    let alice = cli.chain.holder(0);
    let deposited = cli.chain.read(cli.addr(keys::MCD_DEFENDER), DssDefender::depositsCall(alice)).await;
    assert_eq!(deposited, wad(10));
}

#[tokio::test]
async fn slates_are_checked_and_free_returns_mkr_against_the_iou() {
    let cli = Cli::start().await;
    let chief = cli.addr(keys::MCD_ADM);
    let (a, b) = ("0x1111111111111111111111111111111111111111", "0x2222222222222222222222222222222222222222");
    cli.refused(1, &["vote", "--lock", "10", "--spell", a, "--spell", a, "--yes"], 3, "named twice").await;
    let six: Vec<String> = (1..=6).map(|i| format!("0x{}", format!("{i}").repeat(40))).collect();
    let mut args = vec!["vote", "--lock", "10", "--yes"];
    for spell in &six {
        args.extend(["--spell", spell.as_str()]);
    }
    cli.refused(1, &args, 3, "at most 5 addresses").await;

    // Given in the wrong order, the slate is sorted as the chief requires, and lands.
    let out = cli.run(1, &["vote", "--lock", "10", "--spell", b, "--spell", a, "--yes"]);
    assert!(out.status.success());
    let shown = text(&out.stdout) + &text(&out.stderr);
    assert!(shown.contains("sorted ascending"), "{shown}");
    let alice = cli.chain.holder(1);
    let slate = cli.chain.read(chief, DSChief::votesCall(alice)).await;
    let first = cli.chain.read(chief, DSChief::slatesCall { _0: slate, _1: U256::ZERO }).await;
    assert_eq!(first.to_string().to_lowercase(), a);
    assert_eq!(cli.chain.read(chief, DSChief::approvalsCall(b.parse().unwrap())).await, wad(10));

    // free on DSChief 1.2 approves the IOU it burns, then returns the MKR.
    cli.refused(1, &["free", "11", "--yes"], 3, "more than the 10 MKR locked in the chief").await;
    let before = mkr_balance(&cli.chain, alice).await;
    let out = cli.ok(1, &["free", "all", "--yes", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["preview"]["transactions"].as_array().unwrap().len(), 2, "IOU approval, then free");
    assert_eq!(mkr_balance(&cli.chain, alice).await, before + wad(10));
    assert_eq!(cli.chain.read(chief, DSChief::depositsCall(alice)).await, U256::ZERO);
    cli.refused(1, &["free", "--legacy-chief", "1", "--yes"], 3, "no legacy chief").await;
}
