//! `cargo bench --bench queue`: `queue` at provider scale, against the raw read of the same
//! history by `cast logs` in the same run.
//!
//! A history of DEFENDER_BENCH_PLOTS plots (default 5,000: one address plotted them all, ten a
//! block, with DEFENDER_BENCH_GAP empty blocks after each block of plots, default 10, so about
//! 5,500 blocks). Each command runs five times and the median run is reported, with its peak
//! RSS:
//! 1. straight to anvil: `defender queue --no-cache` (the whole history classified, every
//!    plan's state read) against `cast logs` (the pause's logs, nothing more); target: within
//!    1.5x of the raw read;
//! 2. through a proxy that caps `eth_getLogs` at 1,000 blocks, as many hosted providers do:
//!    both again, with the getLogs each sent (cast's single request is refused).
//!
//! DEFENDER_BENCH_COMPARE=/path/to/defender adds a row for another build of defender.
//!
//! Not a test: it prints a table.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use alloy::network::TransactionBuilder;
use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use common::{Chain, attack, attacker_as_hat, direct_plot};
use defender::chain::addresses::keys;
use defender_sim::rpc_proxy::{ProviderLimits, RpcProxy};

const RUNS: usize = 5;

thread_local! {
    /// The last stderr line of each failed run since the last median.
    static FAILURES: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}
const RANGE_CAP: u64 = 1_000;

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// One run: wall time, peak RSS (KiB), whether it succeeded.
fn measure(program: &str, args: &[&str]) -> (Duration, i64, bool) {
    let errors = std::env::temp_dir().join(format!("defender-bench-queue-{}.stderr", std::process::id()));
    let stderr = std::fs::File::create(&errors).expect("a file for stderr");
    let started = Instant::now();
    // Reaped by wait4 below, which also returns the child's peak RSS.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(program)
        .args(args)
        .env("DEFENDER_CONFIG", "/nonexistent/defender-bench.toml")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("runs");
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 on our own child with valid pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    if status != 0 {
        let said = std::fs::read_to_string(&errors).unwrap_or_default();
        FAILURES.with(|f| f.borrow_mut().push(said.lines().last().unwrap_or_default().to_owned()));
    }
    (elapsed, usage.ru_maxrss, status == 0)
}

/// The median of [`RUNS`] runs.
fn median(program: &str, args: &[&str]) -> (Duration, i64, bool) {
    let mut runs: Vec<_> = (0..RUNS).map(|_| measure(program, args)).collect();
    runs.sort_by_key(|r| r.0);
    let failures = FAILURES.with(|f| std::mem::take(&mut *f.borrow_mut()));
    if let Some(first) = failures.first() {
        println!("  ({} of {RUNS} runs failed: {first})", failures.len());
    }
    runs[RUNS / 2]
}

fn row(what: &str, (time, rss, ok): (Duration, i64, bool), get_logs: Option<usize>, note: &str) {
    let logs = get_logs.map_or_else(String::new, |n| n.to_string());
    let result = if ok { format!("{:.0}", time.as_secs_f64() * 1e3) } else { "refused".into() };
    println!("  {what:<34} {result:>9} {:>9.1} {logs:>9}  {note}", rss as f64 / 1024.0);
}

#[tokio::main]
async fn main() {
    let plots: u64 = std::env::var("DEFENDER_BENCH_PLOTS").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000);
    let gap: u64 = std::env::var("DEFENDER_BENCH_GAP").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let chain = Chain::start().await;
    let built = Instant::now();
    attack(&chain).await;
    let attacker = attacker_as_hat(&chain).await;
    let pause = chain.addr(keys::MCD_PAUSE);
    let p = &chain.provider;
    p.anvil_set_auto_mine(false).await.unwrap();
    for i in 0..plots {
        let plot = direct_plot(i);
        let tx = TransactionRequest::default()
            .with_from(attacker)
            .with_to(pause)
            .with_input(plot.abi_encode())
            .with_gas_limit(200_000);
        let _pending = p.send_transaction(tx).await.unwrap();
        if i % 10 == 9 {
            p.anvil_mine(Some(1 + gap), None).await.unwrap();
        }
    }
    p.anvil_mine(Some(1), None).await.unwrap();
    p.anvil_set_auto_mine(true).await.unwrap();
    let head = p.get_block_number().await.unwrap();
    println!(
        "queue over {} plots in {head} blocks (built in {:.1} s), median of {RUNS} runs",
        plots + 1,
        built.elapsed().as_secs_f64()
    );
    println!("  {:<34} {:>9} {:>9} {:>9}", "", "wall ms", "RSS MiB", "getLogs");

    let book = chain.book_file().to_str().unwrap().to_owned();
    let defender = env!("CARGO_BIN_EXE_defender");
    let cast = concat!(env!("CARGO_MANIFEST_DIR"), "/node_modules/.bin/cast");
    let pause = pause.to_string();
    let queue = |url: &str| -> Vec<String> {
        ["queue", "--json", "--no-cache", "--rpc-url", url, "--addresses", &book].map(str::to_owned).to_vec()
    };
    let logs = |url: &str| -> Vec<String> {
        ["logs", "--rpc-url", url, "--from-block", "0", "--to-block", "latest", "--address", &pause, "--json"]
            .map(str::to_owned)
            .to_vec()
    };

    let direct = chain.anvil.url().to_owned();
    let ours = median(defender, &args(&queue(&direct)));
    let raw = median(cast, &args(&logs(&direct)));
    row("defender queue --no-cache", ours, None, "");
    if let Ok(other) = std::env::var("DEFENDER_BENCH_COMPARE") {
        row("  the same, DEFENDER_BENCH_COMPARE", median(&other, &args(&queue(&direct))), None, &other);
    }
    row("cast logs (raw logs only)", raw, None, "");
    println!("  defender / cast: {:.2}x (target: at most 1.5x)", ours.0.as_secs_f64() / raw.0.as_secs_f64());

    let upstream = chain.anvil.url().trim_start_matches("http://").parse().unwrap();
    let proxy = RpcProxy::start(upstream).await.unwrap();
    proxy.set_limits(ProviderLimits {
        log_blocks: Some(RANGE_CAP),
        range_message: "eth_getLogs is limited to a {cap} block range".into(),
        ..ProviderLimits::default()
    });
    println!("through a proxy capping eth_getLogs at {RANGE_CAP} blocks:");
    let capped = proxy.url();
    let asked = proxy.log_ranges().len();
    let ours = median(defender, &args(&queue(&capped)));
    let per_run = (proxy.log_ranges().len() - asked) / RUNS;
    row("defender queue --no-cache", ours, Some(per_run), "");
    let asked = proxy.log_ranges().len();
    let raw = median(cast, &args(&logs(&capped)));
    row("cast logs", raw, Some((proxy.log_ranges().len() - asked) / RUNS), "one request for every block");
}
