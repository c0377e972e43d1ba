//! Dropping the attacker's plans on today's mainnet (`devnet --layout sky`): every route of
//! `cancel` with its effect on chain, `drop-spell` and its reuse, the log cache, and the same
//! actions signed on the device simulators and through an offline bundle.

mod common;

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use common::cli::{Cli, SignWith};
use common::{Chain, Plan, events, mine, sky_lock_and_vote, sky_plot, wad};
use defender::chain::addresses::keys;
use defender::chain::bindings::overloads::protegoDropOneCall;
use defender::chain::bindings::{Chief, DSPause, EmergencyDropSpell, Protego};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

async fn queued(chain: &Chain, plan: &Plan) -> bool {
    chain.read(chain.addr(keys::MCD_PAUSE), DSPause::plansCall(plan.id())).await
}

/// The drop spells `queue --json` lists for `plan`.
fn drop_spells_of(queue: &serde_json::Value, plan: &Plan) -> Vec<Address> {
    let id = plan.id().to_string();
    let entry = queue["plans"].as_array().unwrap().iter().find(|p| p["id"] == id.as_str());
    let Some(entry) = entry else { return Vec::new() };
    entry["drop_spells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["address"].as_str().unwrap().parse().unwrap())
        .collect()
}

async fn nonce(chain: &Chain, account: usize) -> u64 {
    let who = chain.provider.get_accounts().await.unwrap()[account];
    chain.provider.get_transaction_count(who).await.unwrap()
}

/// The attacker (holder 0, 100 SKY) plots two plans, one after the other.
async fn two_plots(chain: &Chain) -> (Plan, Plan) {
    let attacker = chain.holder(0);
    let first = sky_plot(chain, attacker, wad(100)).await;
    let second = sky_plot(chain, attacker, U256::ZERO).await;
    assert!(queued(chain, &first).await && queued(chain, &second).await);
    (first, second)
}

#[tokio::test]
async fn drop_spells_are_deployed_once_per_plan_and_reused() {
    let cli = Cli::start_sky(SignWith::EnvKey).await;
    let chain = &cli.chain;
    let (first, second) = two_plots(chain).await;

    let out = cli.ok(5, &["drop-spell", "--all", "--yes"]);
    let queue = json(&cli.ok(5, &["queue", "--json"]));
    let (a, b) = (drop_spells_of(&queue, &first), drop_spells_of(&queue, &second));
    assert_eq!((a.len(), b.len()), (1, 1), "one drop spell per plan: {queue}");
    for spell in [a[0], b[0]] {
        assert!(out.contains(&spell.to_string()), "the report names {spell}: {out}");
        assert!(out.contains(&format!("`defender vote --spell {spell} --lock 101`")), "{out}");
        // Protego made it, for exactly that plan.
        assert_eq!(chain.read(spell, EmergencyDropSpell::protegoCall {}).await, cli.addr(keys::MCD_PROTEGO));
    }
    assert_eq!(chain.read(a[0], EmergencyDropSpell::actionCall {}).await, first.usr);

    // Again: both are reused, nothing is sent, and the report still gives the addresses.
    let before = nonce(chain, 5).await;
    let again = cli.ok(5, &["drop-spell", &first.spell.to_string(), &second.id().to_string(), "--yes"]);
    assert_eq!(nonce(chain, 5).await, before, "no second deploy");
    assert!(again.contains(&a[0].to_string()) && again.contains(&b[0].to_string()), "{again}");
    let queue = json(&cli.ok(5, &["queue", "--json"]));
    assert_eq!(drop_spells_of(&queue, &first), a);
    assert_eq!(queue["route"]["kind"], "closed");
}

#[tokio::test]
async fn cancel_takes_the_open_route_and_skips_plans_already_gone() {
    let cli = Cli::start_sky(SignWith::EnvKey).await;
    let chain = &cli.chain;
    let (first, second) = two_plots(chain).await;
    cli.ok(5, &["drop-spell", "--all", "--yes"]);
    let spell_a = drop_spells_of(&json(&cli.ok(5, &["queue", "--json"])), &first)[0];
    let spell_text = spell_a.to_string();

    // No route: refused before signing, with the closest way in (the drop spell has 50 of 100).
    cli.ok(2, &["vote", "--spell", &spell_text, "--lock", "50", "--yes"]);
    let refusal = cli.refused(5, &["cancel", "--all", "--yes"], 3, "no route to drop plans is open").await;
    assert!(refusal.contains(&format!("closer: the drop spell {spell_text}")), "{refusal}");
    assert!(refusal.contains(&format!("`defender vote --spell {spell_text} --lock 51`")), "{refusal}");

    // Targeted: the drop spell is lifted, and cancel sends its schedule(), which drops its plan.
    cli.ok(2, &["vote", "--spell", &spell_text, "--lock", "100", "--yes"]);
    mine(chain, 10).await;
    cli.ok(2, &["lift", "--spell", &spell_text, "--yes"]);
    let out = json(&cli.ok(5, &["cancel", "--all", "--yes", "--json"]));
    let txs = out["preview"]["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 1);
    assert_eq!(txs[0]["to"].as_str().unwrap().parse::<Address>().unwrap(), spell_a);
    let warnings = out["preview"]["warnings"].to_string();
    assert!(warnings.contains(&second.id().to_string()), "says the other plan is not dropped: {warnings}");
    assert!(!queued(chain, &first).await, "the drop spell dropped its plan");
    assert!(queued(chain, &second).await, "and only its plan");

    // The hat's drop spell has nothing left to drop: said, nothing sent.
    cli.refused(5, &["cancel", &second.id().to_string(), "--yes"], 3, "which is already gone").await;

    // Blanket: Protego is lifted; a plan already gone is skipped, the open one dropped.
    cli.ok(3, &["vote", "--protego", "--lock", "1000", "--yes"]);
    mine(chain, 10).await;
    cli.ok(3, &["lift", "--protego", "--yes"]);
    let ids = [first.id().to_string(), second.id().to_string()];
    let out = json(&cli.ok(5, &["cancel", &ids[0], &ids[1], "--yes", "--json"]));
    let txs = out["preview"]["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 1);
    assert_eq!(txs[0]["to"].as_str().unwrap().parse::<Address>().unwrap(), cli.addr(keys::MCD_PROTEGO));
    assert!(txs[0]["label"].as_str().unwrap().starts_with("drop 1 plan through Protego"), "{}", txs[0]);
    let warnings = out["preview"]["warnings"].to_string();
    assert!(warnings.contains("no longer queued") && warnings.contains(&ids[0]), "{warnings}");
    assert!(!queued(chain, &second).await);

    // Protego would emit Drop for a plan that is gone, so the client does not count it.
    let protego = cli.addr(keys::MCD_PROTEGO);
    let receipt = chain
        .ok(
            chain.outsider(0).await,
            protego,
            protegoDropOneCall { usr: first.usr, tag: first.tag, fax: first.fax.clone(), eta: first.eta },
        )
        .await;
    assert_eq!(events::<Protego::Drop>(&receipt).len(), 1, "Protego's Drop says nothing about the plan");
    cli.refused(5, &["cancel", &ids[0], "--yes"], 3, "no longer queued").await;
    let history = json(&cli.ok(5, &["queue", "--json", "--history"]));
    assert!(history["plans"].as_array().unwrap().iter().all(|p| p["state"] == "dropped"), "{history}");
}

/// A second `queue` reads no block below the safe depth again; a damaged cache is ignored with a
/// warning; a reorg above the safe depth is read again, and one below it (or a devnet started
/// again with the same id) is noticed by the block hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_cache_saves_old_blocks_and_is_never_taken_on_trust() {
    use defender::chain::pause_log::cache::SAFE_DEPTH;
    let mut cli = Cli::start_sky(SignWith::EnvKey).await;
    let attacker = cli.chain.holder(0);
    let first = sky_plot(&cli.chain, attacker, wad(100)).await;
    mine(&cli.chain, 100).await;
    let upstream = cli.chain.anvil.url().trim_start_matches("http://").parse().unwrap();
    let proxy = defender_sim::rpc_proxy::RpcProxy::start(upstream).await.unwrap();
    cli.rpc_url = proxy.url();
    let open_ids = |queue: &serde_json::Value| -> Vec<String> {
        queue["plans"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect()
    };

    let first_run = json(&cli.ok(5, &["queue", "--json"]));
    let head = first_run["block"].as_u64().unwrap();
    assert_eq!(open_ids(&first_run), [first.id().to_string()]);
    assert_eq!(proxy.log_ranges().first().map(|r| r.0), Some(0), "the first run reads from genesis");

    let asked = proxy.log_ranges().len();
    let second_run = json(&cli.ok(5, &["queue", "--json"]));
    assert_eq!(second_run["block"].as_u64(), Some(head), "the chain did not move");
    let ranges = proxy.log_ranges()[asked..].to_vec();
    assert!(!ranges.is_empty(), "the blocks near the head are read again");
    assert!(
        ranges.iter().all(|(from, _)| *from > head - SAFE_DEPTH),
        "no getLogs below the safe depth: {ranges:?}"
    );
    assert_eq!(open_ids(&second_run), open_ids(&first_run));
    assert_eq!(second_run["history"]["cached"], serde_json::json!([0, head - SAFE_DEPTH]));

    // --no-cache reads everything again.
    let asked = proxy.log_ranges().len();
    cli.ok(5, &["queue", "--json", "--no-cache"]);
    assert_eq!(proxy.log_ranges()[asked..].first().map(|r| r.0), Some(0));

    // A damaged file: a warning, and the answer from the chain.
    let file = cache_file(&cli.cache_dir.0);
    std::fs::write(&file, b"{ not a cache").unwrap();
    let out = cli.run(5, &["queue", "--json"]);
    assert!(out.status.success());
    let stderr = common::cli::text(&out.stderr);
    assert!(stderr.contains("warning: ignoring the log cache"), "{stderr}");
    assert_eq!(open_ids(&json(&common::cli::text(&out.stdout))), [first.id().to_string()]);

    // A plot near the head, then a reorg that takes it away: read again, so it is gone.
    let chain = &cli.chain;
    let before_plot = chain.provider.anvil_snapshot().await.unwrap();
    let second = sky_plot(chain, attacker, U256::ZERO).await;
    assert_eq!(json(&cli.ok(5, &["queue", "--json"]))["plans"].as_array().unwrap().len(), 2);
    assert!(chain.provider.anvil_revert(before_plot).await.unwrap());
    mine(chain, 3).await;
    let out = cli.run(5, &["queue", "--json"]);
    assert!(!common::cli::text(&out.stderr).contains("warning"), "a shallow reorg is no surprise");
    assert_eq!(open_ids(&json(&common::cli::text(&out.stdout))), [first.id().to_string()]);
    assert!(!queued(chain, &second).await);

    // A reorg below the safe depth: the block the cache ends at is not there any more.
    let cached_to = json(&cli.ok(5, &["queue", "--json"]))["history"]["cached"][1].as_u64().unwrap();
    revert_to_block(chain, cached_to - 10).await;
    mine(chain, 200).await;
    let out = cli.run(5, &["queue", "--json"]);
    let stderr = common::cli::text(&out.stderr);
    assert!(stderr.contains("is not the one it was read from"), "{stderr}");
    assert!(out.status.success());
    assert_eq!(open_ids(&json(&common::cli::text(&out.stdout))), [first.id().to_string()]);
}

/// The one cache file under `dir`.
fn cache_file(dir: &std::path::Path) -> std::path::PathBuf {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                return path;
            }
        }
    }
    panic!("no cache file under {}", dir.display());
}

/// Rolls the chain back to `block` and mines different blocks on top (a deep reorg).
async fn revert_to_block(chain: &Chain, block: u64) {
    let head = chain.provider.get_block_number().await.unwrap();
    chain.provider.anvil_rollback(Some(head - block)).await.unwrap();
    chain.provider.anvil_set_next_block_timestamp(chain.now().await + 1_000).await.unwrap();
}

// The simulators run on the test's runtime while the binary blocks this thread: two workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protego_actions_sign_on_the_ledger_and_the_trezor_and_offline() {
    use defender_sim::ledger::{LedgerConfig, LedgerSim};
    use defender_sim::trezor::{TrezorConfig, TrezorSim};

    let ledger = LedgerSim::start(LedgerConfig::default()).await.unwrap();
    let cli = Cli::start_sky(SignWith::Ledger(ledger.addr())).await;
    let chain = &cli.chain;
    let (first, second) = two_plots(chain).await;
    let third = sky_plot(chain, chain.holder(0), U256::ZERO).await;
    // drop-spell on the Ledger.
    cli.ok(1, &["drop-spell", &first.id().to_string(), "--yes"]);
    let spell_a = drop_spells_of(&json(&cli.ok(1, &["queue", "--json"])), &first)[0];
    sky_lock_and_vote(chain, chain.holder(2), wad(200), vec![spell_a]).await;
    mine(chain, 10).await;
    chain.ok(chain.holder(2), cli.addr(keys::MCD_ADM), Chief::liftCall { whom: spell_a }).await;

    // The drop spell's schedule() on the Trezor.
    let trezor = TrezorSim::start(TrezorConfig::default()).await.unwrap();
    let cli = Cli { sign_with: SignWith::Trezor(trezor.addr()), ..cli };
    cli.ok(1, &["cancel", &first.id().to_string(), "--yes"]);
    assert!(!queued(&cli.chain, &first).await);

    // Protego's drop(Plan[]) through an offline bundle.
    let chain = &cli.chain;
    sky_lock_and_vote(chain, chain.holder(3), wad(1_000), vec![cli.addr(keys::MCD_PROTEGO)]).await;
    mine(chain, 10).await;
    chain
        .ok(chain.holder(3), cli.addr(keys::MCD_ADM), Chief::liftCall { whom: cli.addr(keys::MCD_PROTEGO) })
        .await;
    let dir = std::env::temp_dir().join(format!("defender-protego-offline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (unsigned, signed) = (dir.join("drop.json"), dir.join("drop.signed.json"));
    let _ = (std::fs::remove_file(&unsigned), std::fs::remove_file(&signed));
    let from = chain.holder(4).to_string();
    cli.ok(4, &["cancel", "--all", "--from", &from, "--unsigned-out", unsigned.to_str().unwrap()]);
    let shown = common::cli::sign_offline(&unsigned, &signed, 4);
    assert!(shown.contains("drop(plans:"), "offline, the drop is decoded: {shown}");
    cli.ok(4, &["broadcast", signed.to_str().unwrap()]);
    for plan in [&second, &third] {
        assert!(!queued(chain, plan).await, "dropped through the offline bundle: {}", plan.id());
    }
}
