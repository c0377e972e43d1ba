//! Re-bidding while waiting, on anvil with a base-fee spike (`anvil_setNextBlockBaseFeePerGas`)
//! right after the plan reaches the pool, so that its first bids can be mined by no block.

mod common;

use std::time::Duration;

use alloy::primitives::B256;
use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use common::cli::{Cli, text};

const GWEI: u128 = 1_000_000_000;

/// A deposit bidding 1.5 gwei, allowed to re-bid up to 100 gwei two blocks after each bid.
const DEPOSIT_UNDER_A_CAP: [&str; 12] = [
    "deposit",
    "10",
    "--max-fee",
    "1.5",
    "--priority-fee",
    "0.1",
    "--max-fee-cap",
    "100",
    "--rebid-after",
    "2",
    "--yes",
    "--json",
];

/// Runs `args` as account 0 while the test mines by hand: once the first transaction is in
/// the pool the next base fee jumps to `spike`, then a block every 300 ms; after `blocks`
/// blocks (when given) the command is stopped.
async fn run_through_spike(
    cli: &Cli,
    args: &[&str],
    spike: u128,
    blocks: Option<u64>,
) -> (std::process::Output, serde_json::Value) {
    let provider = cli.chain.provider.clone();
    provider.anvil_set_auto_mine(false).await.unwrap();
    let mut command = cli.signed(0, args);
    command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = command.spawn().unwrap();
    let pid = child.id();
    let miner = {
        let provider = provider.clone();
        tokio::spawn(async move {
            loop {
                let pool: serde_json::Value =
                    provider.raw_request("txpool_content".into(), ()).await.unwrap();
                if pool["pending"].as_object().is_some_and(|p| !p.is_empty()) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            provider.anvil_set_next_block_base_fee_per_gas(spike).await.unwrap();
            for n in 0.. {
                let _ = provider.evm_mine(None).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
                if blocks.is_some_and(|b| n >= b) {
                    let _ = std::process::Command::new("kill").arg(pid.to_string()).status();
                    break;
                }
            }
        })
    };
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    miner.abort();
    provider.anvil_set_auto_mine(true).await.unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_default();
    (out, report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_priced_out_plan_is_re_bid_under_the_cap_and_lands_once_per_nonce() {
    let cli = Cli::start().await;
    let provider = cli.chain.provider.clone();
    let me = cli.chain.holder(0);
    let start = provider.get_transaction_count(me).await.unwrap();
    let (out, report) = run_through_spike(&cli, &DEPOSIT_UNDER_A_CAP, 20 * GWEI, None).await;
    let said = text(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("re-bid nonce"), "{said}");
    assert_eq!(report["preview"]["rebid"]["max_fee_cap"], serde_json::json!(100 * GWEI as u64));
    let receipts = report["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 2, "approve and deposit");
    for r in receipts {
        assert_eq!(r["status"], true, "{r}");
        let replaced = r["replaced"].as_array().expect("each was re-bid at least once");
        let landed: B256 = r["hash"].as_str().unwrap().parse().unwrap();
        let tx = provider.get_transaction_by_hash(landed).await.unwrap().unwrap();
        use alloy::consensus::Transaction;
        assert!(tx.inner.max_fee_per_gas() <= 100 * GWEI, "the cap holds: {}", tx.inner.max_fee_per_gas());
        assert!(tx.inner.max_fee_per_gas() > 15 * GWEI / 10, "the landed bid is a replacement");
        for old in replaced {
            let old: B256 = old.as_str().unwrap().parse().unwrap();
            assert!(
                provider.get_transaction_receipt(old).await.unwrap().is_none(),
                "a replaced bid never lands"
            );
        }
    }
    assert_eq!(provider.get_transaction_count(me).await.unwrap(), start + 2, "one transaction per nonce");
    let deposits = cli
        .chain
        .read(
            cli.addr(defender::chain::addresses::keys::MCD_DEFENDER),
            defender::chain::bindings::DssDefender::depositsCall(me),
        )
        .await;
    assert_eq!(deposits, common::wad(10));
}

/// A cap below what the spiked market needs: the transactions are not re-bid, which is said,
/// and nothing is signed above the cap. (anvil then drops the priced-out transactions from its
/// pool, where geth would keep them; the command, left waiting for them, is stopped.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cap_too_low_to_replace_is_said_and_never_passed() {
    let cli = Cli::start().await;
    let provider = cli.chain.provider.clone();
    let me = cli.chain.holder(0);
    let start = provider.get_transaction_count(me).await.unwrap();
    let args = [
        "esm",
        "1",
        "--direct",
        "--burn",
        "--max-fee",
        "1.5",
        "--priority-fee",
        "0.1",
        "--max-fee-cap",
        "1.6",
        "--rebid-after",
        "2",
        "--yes",
        "--json",
    ];
    let (out, _) = run_through_spike(&cli, &args, 3 * GWEI, Some(12)).await;
    let said = text(&out.stderr);
    assert!(said.contains("nonce 0 is not re-bid: a replacement needs a max fee of at least"), "{said}");
    assert!(said.contains("nonce 1 is not re-bid"), "{said}");
    assert!(said.contains("above --max-fee-cap (1600000000 wei)"), "{said}");
    assert!(!said.contains("re-bid nonce"), "no replacement was signed: {said}");
    assert_eq!(provider.get_transaction_count(me).await.unwrap(), start, "nothing above the cap landed");
}

/// On a Ledger the replacement is a new request on the device: it shows the new fees and, for
/// the deposit, the new tx hash that the terminal printed first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_signs_each_replacement_and_shows_its_new_hash() {
    use defender_sim::ledger::{LedgerConfig, LedgerSim};
    let ledger = LedgerSim::start(LedgerConfig::default()).await.unwrap();
    let cli = Cli::start_signing_with(common::cli::SignWith::Ledger(ledger.addr())).await;
    let (out, report) = run_through_spike(&cli, &DEPOSIT_UNDER_A_CAP, 20 * GWEI, None).await;
    let said = text(&out.stderr);
    assert!(out.status.success(), "{said}");
    let requests = ledger.texts();
    assert_eq!(requests.len(), 4, "two bids, two replacements: {requests:?}");
    let deposit = &report["receipts"][1];
    assert_eq!(deposit["status"], true);
    // The replacement's hash, as the terminal said it before the device asked.
    let new_hash = said
        .lines()
        .filter(|l| l.starts_with("re-bid nonce"))
        .filter_map(|l| l.rsplit("new tx hash ").next())
        .next_back()
        .unwrap()
        .trim()
        .to_owned();
    let shown = requests.last().unwrap().join("");
    let digits = new_hash.trim_start_matches("0x");
    assert!(shown.to_lowercase().contains(&digits[..20]), "the Ledger showed {new_hash}: {shown}");
}

/// On a Trezor too: each replacement is a new request on the device, whose fee screen shows
/// the new max fee per gas the terminal announced first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trezor_signs_each_replacement_and_shows_its_new_fee() {
    use defender_sim::trezor::{TrezorConfig, TrezorSim};
    let trezor = TrezorSim::start(TrezorConfig::default()).await.unwrap();
    let cli = Cli::start_signing_with(common::cli::SignWith::Trezor(trezor.addr())).await;
    let (out, report) = run_through_spike(&cli, &DEPOSIT_UNDER_A_CAP, 20 * GWEI, None).await;
    let said = text(&out.stderr);
    assert!(out.status.success(), "{said}");
    // The address request draws nothing; each signature is a request of its own.
    let requests: Vec<_> = trezor.texts().into_iter().filter(|r| !r.is_empty()).collect();
    assert_eq!(requests.len(), 4, "two bids, two replacements: {requests:?}");
    assert_eq!(report["receipts"][1]["status"], true);
    let announced: Vec<&str> = said
        .lines()
        .filter(|l| l.starts_with("re-bid nonce"))
        .filter_map(|l| l.split("new max fee ").nth(1)?.split(" gwei").next())
        .collect();
    assert_eq!(announced.len(), 2, "{said}");
    for (request, max_fee) in requests[2..].iter().zip(&announced) {
        let fee_screen = format!("Confirm fee Maximum fee per gas {max_fee} Gwei");
        assert!(request.contains(&fee_screen), "{fee_screen:?} in {request:?}");
    }
}

/// A bid the node refuses because the base fee rose between the preview and the send (anvil
/// refuses a max fee below the next block's base fee) is re-bid at once, under the cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bid_refused_for_its_fee_at_sending_is_re_bid_at_once() {
    let cli = Cli::start().await;
    let provider = cli.chain.provider.clone();
    let me = cli.chain.holder(0);
    let start = provider.get_transaction_count(me).await.unwrap();
    provider.anvil_set_next_block_base_fee_per_gas(5 * GWEI).await.unwrap();
    let out = cli.run(0, &DEPOSIT_UNDER_A_CAP);
    let said = text(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("note: the node refused nonce 0"), "{said}");
    assert!(said.contains("re-bid nonce 0"), "{said}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for r in report["receipts"].as_array().unwrap() {
        assert_eq!(r["status"], true, "{r}");
        let landed: B256 = r["hash"].as_str().unwrap().parse().unwrap();
        let tx = provider.get_transaction_by_hash(landed).await.unwrap().unwrap();
        use alloy::consensus::Transaction;
        assert!(tx.inner.max_fee_per_gas() >= 5 * GWEI && tx.inner.max_fee_per_gas() <= 100 * GWEI);
    }
    assert_eq!(provider.get_transaction_count(me).await.unwrap(), start + 2, "one transaction per nonce");
}
