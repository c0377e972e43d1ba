//! Every action signed on a (simulated) Ledger over Speculos's APDU port: effects on chain,
//! the APDUs a plan costs, what the screens show, and each failure refused with nothing sent.

mod common;

use alloy::consensus::{SignableTransaction, TxEip1559, TxLegacy, TypedTransaction};
use alloy::primitives::{B256, Bytes, TxKind, U256, keccak256};
use alloy::providers::Provider;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use common::cli::{Cli, KEYS, SignWith, listed_screens, text};
use common::{activate, attack, mkr_balance, wad};
use defender::chain::addresses::keys;
use defender::chain::bindings::{DSChief, DSPause, DssDefender, ESM};
use defender::signers::{self, DerivationPath, SignerArgs};
use defender_sim::ledger::{Fault, LedgerConfig, LedgerSim, Model as SimModel};

const INS_SIGN_TX: u8 = 0x04;

async fn start(config: LedgerConfig) -> (Cli, LedgerSim) {
    let sim = LedgerSim::start(config).await.unwrap();
    let cli = Cli::start_signing_with(SignWith::Ledger(sim.addr())).await;
    (cli, sim)
}

fn report(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_and_deposit_cost_four_apdus_and_show_what_the_device_shows() {
    let (cli, sim) = start(LedgerConfig::default()).await;
    let alice = cli.chain.holder(0);
    let out = report(&cli.ok(0, &["deposit", "1500", "--yes", "--json"]));

    let deposited = cli.chain.read(cli.addr(keys::MCD_DEFENDER), DssDefender::depositsCall(alice)).await;
    assert_eq!(deposited, wad(1500));
    assert_eq!(mkr_balance(&cli.chain, alice).await, wad(98_500));

    // Configuration once, address once, then one APDU per signature: both payloads fit 255 bytes.
    let apdus = sim.apdus();
    let ins: Vec<u8> = apdus.iter().map(|a| a.ins).collect();
    assert_eq!(ins, [0x06, 0x02, INS_SIGN_TX, INS_SIGN_TX], "{apdus:?}");
    assert!(apdus.iter().all(|a| a.status == 0x9000));
    assert_eq!(apdus[1].p1, 0, "the address is read silently");

    // The preview said what the device then showed, screen for screen.
    let txs = out["preview"]["transactions"].as_array().unwrap();
    let drawn = sim.screens();
    assert_eq!(drawn.len(), 2);
    assert_eq!(listed_screens(&out), drawn, "screen by screen, line by line");
    let shown = sim.texts();
    // The approve takes the app's approval flow: no spender, amount or hash, and the preview
    // says so instead of pointing at a hash the device never shows.
    let approve = &shown[0];
    assert_eq!(approve[2], "Review transaction to approve ERC20 token");
    assert!(!approve.iter().any(|l| l.starts_with("Tx hash") || l == "To"), "{approve:?}");
    assert_eq!(txs[0]["device_shows_hash"], false);
    assert!(
        txs[0]["device_note"].as_str().unwrap().contains("will not show the spender, the amount or a hash")
    );
    assert_eq!(approve[approve.len() - 2].rsplit(' ').next(), Some("???"), "no currency known for 31337");
    // The deposit is a generic call: its hash over two screens, as in the preview.
    let deposit = &shown[1];
    let hash = txs[1]["signing_hash"].as_str().unwrap();
    let first = deposit.iter().position(|l| l == "Tx hash (1/2)").expect("the hash is shown");
    assert_eq!(format!("{}{}", deposit[first + 1], deposit[first + 3]), hash);
    assert_eq!(txs[1]["device_shows_hash"], true);
    assert!(txs[1].get("device_note").is_none());
    assert_eq!(out["preview"]["device"], "Ledger");
}

/// With Settings > Debug contracts on and `--ledger-debug-contracts`, the preview lists the
/// selector and parameter screens, and the approve's To and hash, as the device then shows them;
/// without the flag it lists the default flow and says how the setting changes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_contracts_is_predicted_when_the_user_says_it_is_on() {
    let (cli, sim) = start(LedgerConfig { debug_contracts: true, ..LedgerConfig::default() }).await;
    let out = report(&cli.ok(0, &["deposit", "1500", "--yes", "--json", "--ledger-debug-contracts"]));
    let txs = out["preview"]["transactions"].as_array().unwrap();
    assert_eq!(listed_screens(&out), sim.screens(), "screen by screen, line by line");
    let approve = &sim.texts()[0];
    assert_eq!(approve[..3], ["Verify selector", "Selector", "095EA7B3"].map(str::to_owned));
    let spender = cli.addr(keys::MCD_DEFENDER).to_checksum(None)[2..].to_uppercase();
    let parameter = approve.iter().find(|t| t.contains(':')).unwrap().replace(':', "");
    assert!(parameter.ends_with(&spender), "the spender on the device: {parameter} / {spender}");
    assert!(approve.contains(&"To".to_owned()) && approve.contains(&"Tx hash (1/2)".to_owned()));
    assert_eq!(txs[0]["device_shows_hash"], true);
    assert!(txs[0]["device_note"].as_str().unwrap().contains("Debug contracts on"));

    // Without the flag: the default flow, and the note says how to see the spender.
    sim.set_debug_contracts(false);
    sim.clear_log();
    let out = report(&cli.ok(1, &["deposit", "10", "--yes", "--json"]));
    assert_eq!(listed_screens(&out)[0], sim.screens()[0]);
    assert!(
        out["preview"]["transactions"][0]["device_note"]
            .as_str()
            .unwrap()
            .contains("--ledger-debug-contracts")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_signs_on_the_ledger() {
    let (cli, sim) = start(LedgerConfig::default()).await;
    let chain = &cli.chain;
    let chief = cli.addr(keys::MCD_ADM);
    let spell = chain.deployment.default_spell;
    // Runs an action and checks the APDUs it cost: configuration and address once, then the
    // chunks of each signature (a cancel's calldata carries the plan's `fax` and takes two);
    // and that the online preview listed every screen the device then drew.
    let run = |account: usize, args: &[&str], apdus: usize| {
        sim.clear_log();
        let out = report(&cli.ok(account, &[args, &["--json"]].concat()));
        let seen: Vec<u8> = sim.apdus().iter().map(|a| a.ins).collect();
        assert_eq!(seen.len(), apdus, "{args:?}: {seen:02x?}");
        assert_eq!(&seen[..2], [0x06, 0x02], "{args:?}");
        let predicted = listed_screens(&out);
        let drawn = sim.screens();
        let signed = &drawn[drawn.len() - predicted.len()..];
        assert_eq!(predicted, signed, "{args:?}: the preview listed what the device drew");
    };

    // An attack is queued; holders deposit past the threshold, then anyone cancels.
    let plan = attack(chain).await;
    activate(chain).await;
    run(6, &["cancel", "--all", "--yes", "--verify"], 4);
    assert!(!chain.read(cli.addr(keys::MCD_PAUSE), DSPause::plansCall(plan.id())).await);
    let canceller = chain.provider.get_accounts().await.unwrap()[6];
    assert_eq!(sim.texts()[0], ["Verify address".to_owned(), canceller.to_checksum(None)]);

    // Holder 1 deposited 25,000 in `activate`; the rest goes to the chief.
    let approvals = chain.read(chief, DSChief::approvalsCall(spell)).await;
    run(1, &["vote", "--lock", "all", "--yes"], 5);
    run(2, &["vote", "--lock", "60000", "--yes"], 5);
    assert_eq!(chain.read(chief, DSChief::approvalsCall(spell)).await, approvals + wad(135_000));
    run(3, &["lift", "--yes"], 3);
    assert_eq!(chain.read(chief, DSChief::hatCall {}).await, spell);

    run(3, &["esm", "250", "--direct", "--yes", "--burn"], 4);
    assert_eq!(chain.read(cli.addr(keys::MCD_ESM), ESM::SumCall {}).await, wad(250));

    // Holder 0 deposited in `activate`: part into the ESM, the rest back after the lockup.
    let alice = chain.holder(0);
    let before = chain.read(cli.addr(keys::MCD_DEFENDER), DssDefender::depositsCall(alice)).await;
    run(0, &["esm", "100", "--yes", "--burn"], 3);
    assert_eq!(chain.read(cli.addr(keys::MCD_ESM), ESM::SumCall {}).await, wad(350));
    chain.warp(chain.params.lockup_duration.as_secs()).await;
    let wallet = mkr_balance(chain, alice).await;
    run(0, &["withdraw", "all", "--yes"], 3);
    assert_eq!(mkr_balance(chain, alice).await, wallet + before - wad(100));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_lists_both_schemes_with_balances() {
    let (cli, sim) = start(LedgerConfig::default()).await;
    let out = text(
        &common::cli::output(cli.command(&[
            "accounts",
            "--ledger",
            "--speculos",
            &sim.addr().to_string(),
            "--count",
            "2",
            "--json",
        ]))
        .stdout,
    );
    let accounts = report(&out)["accounts"].as_array().unwrap().clone();
    let paths: Vec<&str> = accounts.iter().map(|a| a["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["m/44'/60'/0'/0/0", "m/44'/60'/1'/0/0", "m/44'/60'/0'/0", "m/44'/60'/0'/1"]);
    // Ledger Live account 0 is anvil's funded account 0; the others hold nothing.
    let address =
        |a: &serde_json::Value| a["address"].as_str().unwrap().parse::<alloy::primitives::Address>().unwrap();
    assert_eq!(address(&accounts[0]), cli.chain.holder(0));
    assert_eq!(accounts[0]["balance"], wad(100_000).to_string());
    for a in &accounts[1..] {
        assert_eq!(address(a), sim.address_at(a["path"].as_str().unwrap()));
        assert_eq!(a["balance"], "0");
    }
    assert!(sim.apdus().iter().all(|a| a.ins == 0x02 && a.p1 == 0), "silent address reads only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_device_failure_says_what_to_do_and_sends_nothing() {
    let (cli, sim) = start(LedgerConfig::default()).await;
    let cases = [
        (Fault::RejectOnDevice, "rejected on the Ledger"),
        (Fault::Locked, "the Ledger is locked"),
        (Fault::WrongApp, "the Ethereum app is not open"),
        (Fault::Busy, "the Ledger is busy"),
        (Fault::DisconnectDuringSign, "disconnected or stopped answering"),
    ];
    for (fault, message) in cases {
        sim.set_fault(fault);
        sim.clear_log();
        cli.refused(0, &["deposit", "10", "--yes"], 1, message).await;
        if fault == Fault::RejectOnDevice {
            // The user saw the approval and said no: nothing after it was sent to the device.
            assert_eq!(sim.apdus().iter().filter(|a| a.ins == INS_SIGN_TX).count(), 1);
        }
    }
    sim.set_fault(Fault::None);

    sim.set_fault(Fault::RejectOnDevice);
    sim.clear_log();
    cli.refused(0, &["deposit", "10", "--yes", "--verify"], 1, "rejected on the Ledger").await;
    assert!(sim.apdus().iter().all(|a| a.ins != INS_SIGN_TX), "stopped at the address");
    sim.set_fault(Fault::None);

    sim.set_blind_signing(false);
    sim.clear_log();
    let stderr = cli.refused(0, &["deposit", "10", "--yes"], 1, "blind signing is off").await;
    assert!(stderr.contains("Settings > Blind signing"), "{stderr}");
    assert!(sim.apdus().iter().all(|a| a.ins != INS_SIGN_TX), "refused before any signing APDU");
    sim.set_blind_signing(true);

    // The derived address must be the one --from names.
    let bob = cli.chain.holder(1).to_string();
    cli.refused(0, &["deposit", "10", "--yes", "--from", &bob], 1, "accounts --ledger").await;

    // An app too old for EIP-1559.
    let old = LedgerSim::start(LedgerConfig { version: (1, 8, 5), ..LedgerConfig::default() }).await.unwrap();
    let mut command = cli.command(&["deposit", "10", "--yes"]);
    command.args(["--ledger", "--speculos", &old.addr().to_string()]);
    let out = common::cli::output(command);
    assert!(text(&out.stderr).contains("EIP-1559 needs app 1.9.0"), "{}", text(&out.stderr));
    let nonce = cli.chain.provider.get_transaction_count(cli.chain.holder(0)).await.unwrap();
    assert_eq!(nonce, 0, "nothing was sent");

    // Nobody listening on the port.
    let port = defender::devnet::anvil::free_port().unwrap();
    let mut command = cli.command(&["deposit", "10", "--yes"]);
    command.args(["--ledger", "--speculos", &format!("127.0.0.1:{port}")]);
    let out = common::cli::output(command);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot reach Speculos"), "{}", text(&out.stderr));
}

fn device_args(sim: &LedgerSim, path: &str) -> SignerArgs {
    let mut args = SignerArgs { ledger: true, speculos: Some(sim.addr()), ..SignerArgs::default() };
    args.path.hd_path = Some(path.parse::<DerivationPath>().unwrap());
    args
}

fn local(account: usize) -> PrivateKeySigner {
    KEYS[account].parse().unwrap()
}

/// A legacy payload whose naive 255-byte split would end a chunk right after `data`, the
/// split on which the app signs early with chain id 0: the client must split elsewhere and
/// get a valid EIP-155 signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_transactions_avoid_the_early_signing_split() {
    let sim = LedgerSim::start(LedgerConfig::default()).await.unwrap();
    let signer = signers::ledger::open(&device_args(&sim, "m/44'/60'/0'/0/2")).await.unwrap();
    let prefix = 1 + 4 * 5;
    let tail = 5; // chain id 31337 (0x827a69), 0x80, 0x80
    let tx = (0..600)
        .map(|len| TxLegacy {
            chain_id: Some(31_337),
            nonce: 1,
            gas_price: 1_000_000_000,
            gas_limit: 90_000,
            to: TxKind::Call(alloy::primitives::Address::repeat_byte(0x42)),
            value: U256::from(5),
            input: Bytes::from(vec![0x5a; len]),
        })
        .find(|tx| {
            let mut payload = Vec::new();
            tx.encode_for_signing(&mut payload);
            (prefix + payload.len() - tail) % 255 == 0
        })
        .expect("some data length puts the naive boundary right after data");
    let typed = TypedTransaction::Legacy(tx.clone());
    let signature = signer.sign(&typed).await.unwrap();
    assert_eq!(signature.recover_address_from_prehash(&tx.signature_hash()).unwrap(), local(2).address());
    assert_eq!(signature, local(2).sign_hash_sync(&tx.signature_hash()).unwrap(), "RFC 6979: byte-identical");
    let signing: Vec<_> = sim.apdus().into_iter().filter(|a| a.ins == INS_SIGN_TX).collect();
    assert!(signing.iter().all(|a| a.status == 0x9000), "{signing:?}");
    assert_eq!(
        signing.last().unwrap().data.len(),
        tail + 1,
        "the last chunk carries one more byte than the tail"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_calldata_messages_and_typed_hashes_match_a_software_key() {
    let sim = LedgerSim::start(LedgerConfig::default()).await.unwrap();
    let signer = signers::ledger::open(&device_args(&sim, "m/44'/60'/0'/0/3")).await.unwrap();
    let key = local(3);
    assert_eq!(signer.address(), key.address());

    let tx = TxEip1559 {
        chain_id: 1,
        nonce: 9,
        gas_limit: 300_000,
        max_fee_per_gas: 30_000_000_000,
        max_priority_fee_per_gas: 2_000_000_000,
        to: TxKind::Call(alloy::primitives::Address::repeat_byte(0x17)),
        value: U256::ZERO,
        access_list: Default::default(),
        input: Bytes::from((0..3000u32).map(|i| i as u8).collect::<Vec<u8>>()),
    };
    sim.clear_log();
    let signature = signer.sign(&TypedTransaction::Eip1559(tx.clone())).await.unwrap();
    assert_eq!(signature, key.sign_hash_sync(&tx.signature_hash()).unwrap());
    let chunks = sim.apdus().iter().filter(|a| a.ins == INS_SIGN_TX).count();
    let mut payload = Vec::new();
    tx.encode_for_signing(&mut payload);
    assert_eq!(chunks, (21 + payload.len()).div_ceil(255), "the fewest chunks");

    let message = b"I control this address for the MIP91 war room".repeat(10);
    let signature = signer.sign_message(&message).await.unwrap();
    assert_eq!(signature, key.sign_message_sync(&message).unwrap());
    assert_eq!(
        signer.message_screens(&message).unwrap(),
        sim.screens().pop().unwrap(),
        "the message's screens"
    );

    let (domain, struct_hash) = (keccak256(b"domain"), B256::repeat_byte(0x33));
    let signature = signer.sign_typed_hashes(domain, struct_hash).await.unwrap();
    let digest = keccak256([&[0x19u8, 0x01][..], domain.as_slice(), struct_hash.as_slice()].concat());
    assert_eq!(signature, key.sign_hash_sync(&digest).unwrap());
    assert_eq!(signer.typed_hash_screens(domain, struct_hash).unwrap(), sim.screens().pop().unwrap());
}

/// On each of the five models of the recording, deposit, vote --lock and cancel are signed
/// over Speculos's port with `--ledger-model`, and the preview listed every page or screen
/// the simulated model then drew; the model is named in the preview and in `accounts`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_model_draws_what_the_preview_listed() {
    use common::cli::output;
    let sim = LedgerSim::start(LedgerConfig::default()).await.unwrap();
    let cli = Cli::start_signing_with(SignWith::Ledger(sim.addr())).await;
    let chain = &cli.chain;
    // One plan to cancel per model, then the defender is activated.
    let mut plans = vec![attack(chain).await];
    for _ in 1..SimModel::ALL.len() {
        plans.push(common::attack_again(chain).await);
    }
    activate(chain).await;

    for (model, plan) in SimModel::ALL.into_iter().zip(&plans) {
        sim.set_model(model);
        let plan = plan.id().to_string();
        let runs: [&[&str]; 3] = [&["deposit", "100"], &["vote", "--lock", "100"], &["cancel", &plan]];
        for args in runs {
            sim.clear_log();
            let args = [args, &["--yes", "--json", "--ledger-model", model.arg()]].concat();
            let out = report(&cli.ok(2, &args));
            let predicted = listed_screens(&out);
            let drawn = sim.screens();
            assert_eq!(predicted, drawn[drawn.len() - predicted.len()..], "{model:?} {args:?}");
            let signer = out["preview"]["signer"].as_str().unwrap();
            let name = ["Nano S Plus", "Nano X", "Stax", "Flex", "Apex P"][model as usize];
            assert!(signer.starts_with(&format!("the Ledger {name} (Speculos")), "{signer}");
            let txs = out["preview"]["transactions"].as_array().unwrap();
            assert!(
                txs.iter().all(|tx| tx
                    .get("device_note")
                    .is_none_or(|n| !n.as_str().unwrap().contains("not listed")))
            );
            if !model.touch() {
                assert!(predicted.iter().all(|tx| tx.last().unwrap() != &["Hold to sign"]));
                continue;
            }
            // Every transaction ends on the long press, numbered as the last page; a generic
            // call shows its hash whole, after its fees on the Flex and Apex P only.
            for (tx, pages) in txs.iter().zip(&predicted) {
                let last = pages.last().unwrap();
                assert_eq!(last[1], "Hold to sign", "{model:?}");
                let count = pages.len() - 1;
                assert_eq!(last[last.len() - 1], format!("{count} of {count}"));
                if tx["device_shows_hash"] == true {
                    let hash = tx["signing_hash"].as_str().unwrap();
                    let page = pages.iter().find(|p| p.contains(&"Transaction hash".to_owned())).unwrap();
                    assert!(page.contains(&hash.to_owned()), "{page:?}");
                    assert_eq!(page.contains(&"Max fees".to_owned()), model != SimModel::Stax, "{model:?}");
                }
            }
        }
    }
    let pause = cli.addr(keys::MCD_PAUSE);
    for plan in &plans {
        assert!(!chain.read(pause, DSPause::plansCall(plan.id())).await, "every plan was cancelled");
    }

    // A flow the recording lacks on a touch model is not guessed at: the preview says so.
    sim.set_model(SimModel::Stax);
    let out = output(cli.signed(
        0,
        &["deposit", "5", "--dry-run", "--json", "--ledger-debug-contracts", "--ledger-model", "stax"],
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let preview = &report(&text(&out.stdout))["preview"];
    for tx in preview["transactions"].as_array().unwrap() {
        assert!(tx["device_screens"].is_null(), "{tx}");
        let note = tx["device_note"].as_str().unwrap();
        assert!(
            note.contains("the Ledger Stax's pages for Debug contracts are not in the recording"),
            "{note}"
        );
    }
    let speculos = sim.addr().to_string();
    let apex = [
        "accounts",
        "--ledger",
        "--speculos",
        &speculos,
        "--ledger-model",
        "apex_p",
        "--count",
        "2",
        "--json",
    ];
    let apex = output(cli.command(&apex));
    let listed: serde_json::Value = serde_json::from_slice(&apex.stdout).unwrap();
    assert!(listed["device"].as_str().unwrap().starts_with("Ledger Apex P (Speculos"), "{listed}");
    let usb = output(cli.command(&["accounts", "--ledger", "--ledger-model", "stax"]));
    assert_eq!(usb.status.code(), Some(2), "over USB the device's own id says the model");
}
