//! `cargo bench --bench rpc`: HTTP round trips per action, defender against `cast` on the same
//! devnet through a counting proxy, and `queue` over a long pause history (time and peak RSS).
//!
//! Not a test: it prints a table. Set DEFENDER_BENCH_PLOTS to change the history size.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider, ext::AnvilApi};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use defender::chain::addresses::keys;
use defender::chain::bindings::overloads::{approveAmountCall, chiefVoteYaysCall};
use defender::chain::bindings::{DSChief, DSPause};
use defender::devnet::anvil::free_port;
use defender::devnet::{Anvil, AnvilOptions, DeployParams, Deployment, LocalChain, launch};
use defender::units::WAD;
use defender_sim::rpc_proxy::RpcProxy;

const KEY0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const KEY1: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/// (requests before the first broadcast, all requests) since `start`.
fn count(proxy: &RpcProxy, start: usize) -> (usize, usize) {
    let all = proxy.requests()[start..].to_vec();
    let prepare =
        all.iter().position(|m| m.iter().any(|m| m == "eth_sendRawTransaction")).unwrap_or(all.len());
    (prepare, all.len())
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(program: &str, args: &[&str], envs: &[(&str, &str)]) {
    let out = Command::new(program).args(args).envs(envs.iter().copied()).output().expect("runs");
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Bench {
    _anvil: Anvil,
    provider: DynProvider,
    deployment: Deployment,
    book: PathBuf,
    proxy: RpcProxy,
    url: String,
}

impl Bench {
    async fn start() -> Self {
        let options = AnvilOptions { port: free_port().unwrap(), ..Default::default() };
        let LocalChain { anvil, provider, deployment } =
            launch(&options, &DeployParams::default()).await.unwrap();
        let book = std::env::temp_dir().join(format!("defender-bench-{}.json", std::process::id()));
        deployment.book.save(&book).unwrap();
        let upstream: SocketAddr = anvil.url().trim_start_matches("http://").parse().unwrap();
        let proxy = RpcProxy::start(upstream).await.unwrap();
        let url = proxy.url();
        Self { _anvil: anvil, provider, deployment, book, proxy, url }
    }

    fn mark(&self) -> usize {
        self.proxy.requests().len()
    }

    fn defender(&self, key: &str, args: &[&str]) -> (usize, usize) {
        let start = self.mark();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--yes", "--rpc-url", &self.url, "--addresses", self.book.to_str().unwrap()]);
        all.extend(["--private-key-env", "BENCH_KEY"]);
        run(env!("CARGO_BIN_EXE_defender"), &all, &[("BENCH_KEY", key)]);
        count(&self.proxy, start)
    }

    fn cast_sends(&self, key: &str, sends: &[(Address, &str, Vec<String>)]) -> (usize, usize) {
        let start = self.mark();
        let cast = root().join("node_modules/.bin/cast");
        for (to, sig, args) in sends {
            let to = to.to_string();
            let mut all =
                vec!["send", "--private-key", key, "--rpc-url", self.url.as_str(), to.as_str(), sig];
            all.extend(args.iter().map(String::as_str));
            run(cast.to_str().unwrap(), &all, &[]);
        }
        let (_, total) = count(&self.proxy, start);
        // cast prepares each transaction just before sending it; count all requests that are
        // not the broadcast or the receipt polling as preparation.
        let methods: Vec<Vec<String>> = self.proxy.requests()[start..].to_vec();
        let prepare = methods
            .iter()
            .filter(|m| !m.iter().any(|m| m == "eth_sendRawTransaction" || m == "eth_getTransactionReceipt"))
            .count();
        (prepare, total)
    }

    fn addr(&self, key: &str) -> Address {
        self.deployment.book.get(key).unwrap()
    }
}

async fn send(provider: &DynProvider, from: Address, to: Address, data: Vec<u8>) {
    let tx =
        TransactionRequest::default().with_from(from).with_to(to).with_input(data).with_gas_limit(500_000);
    let _pending = provider.send_transaction(tx).await.unwrap();
}

/// `plots` plans, ten per block (`DEFENDER_BENCH_GAP` empty blocks between blocks of plots):
/// an account lifted to the hat plots them. anvil mines empty blocks at well under a thousand
/// per second here, so a history spread over a million blocks takes hours to build; the gap
/// defaults to none and the scan's block span is reported with the result.
async fn history(b: &Bench, plots: usize) -> Duration {
    let started = Instant::now();
    let p = &b.provider;
    let plotter = b.deployment.holders[4];
    let (gov, chief, pause) = (b.addr(keys::MCD_GOV), b.addr(keys::MCD_ADM), b.addr(keys::MCD_PAUSE));
    send(p, plotter, gov, approveAmountCall { guy: chief, wad: U256::from(1000) * WAD }.abi_encode()).await;
    send(p, plotter, chief, DSChief::lockCall { wad: U256::from(1000) * WAD }.abi_encode()).await;
    send(p, plotter, chief, chiefVoteYaysCall { yays: vec![plotter] }.abi_encode()).await;
    send(p, plotter, chief, DSChief::liftCall { whom: plotter }.abi_encode()).await;
    p.anvil_set_auto_mine(false).await.unwrap();
    let per_block = 10;
    let gap: u64 = std::env::var("DEFENDER_BENCH_GAP").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    for i in 0..plots {
        let eta = U256::from(4_000_000_000u64 + i as u64);
        let plot = DSPause::plotCall {
            usr: Address::repeat_byte(0x42),
            tag: B256::repeat_byte(7),
            fax: vec![0u8; 4].into(),
            eta,
        };
        send(p, plotter, pause, plot.abi_encode()).await;
        if i % per_block == per_block - 1 {
            p.anvil_mine(Some(1), None).await.unwrap();
            if gap > 0 {
                p.anvil_mine(Some(gap), None).await.unwrap();
            }
        }
    }
    p.anvil_mine(Some(1), None).await.unwrap();
    p.anvil_set_auto_mine(true).await.unwrap();
    started.elapsed()
}

/// Wall time and peak RSS (KiB) of a command, from wait4's rusage.
fn measure(program: &str, args: &[&str]) -> (Duration, i64) {
    let started = Instant::now();
    // Reaped by wait4 below, which also returns the child's peak RSS.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child with valid pointers.
    unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(status, 0, "{program} {args:?} failed");
    (started.elapsed(), usage.ru_maxrss)
}

#[tokio::main]
async fn main() {
    let b = Bench::start().await;
    let (gov, chief, defender_addr) =
        (b.addr(keys::MCD_GOV), b.addr(keys::MCD_ADM), b.addr(keys::MCD_DEFENDER));
    let spell = b.deployment.default_spell.to_string();
    let wad100 = (U256::from(100) * WAD).to_string();
    let wad1000 = (U256::from(1000) * WAD).to_string();

    println!("HTTP requests per action (defender vs cast, same devnet, counting proxy)");
    println!("{:<34} {:>18} {:>18}", "action", "defender prep/all", "cast prep/all");
    let d = b.defender(KEY0, &["deposit", "100"]);
    let c = b.cast_sends(
        KEY1,
        &[
            (gov, "approve(address,uint256)", vec![defender_addr.to_string(), wad100.clone()]),
            (defender_addr, "deposit(uint256)", vec![wad100.clone()]),
        ],
    );
    println!(
        "{:<34} {:>18} {:>18}",
        "approve + deposit 100 MKR",
        format!("{}/{}", d.0, d.1),
        format!("{}/{}", c.0, c.1)
    );
    let d = b.defender(KEY0, &["vote", "--lock", "1000"]);
    let c = b.cast_sends(
        KEY1,
        &[
            (gov, "approve(address,uint256)", vec![chief.to_string(), wad1000.clone()]),
            (chief, "lock(uint256)", vec![wad1000.clone()]),
            (chief, "vote(address[])", vec![format!("[{spell}]")]),
        ],
    );
    println!(
        "{:<34} {:>18} {:>18}",
        "approve + lock + vote",
        format!("{}/{}", d.0, d.1),
        format!("{}/{}", c.0, c.1)
    );
    let start = b.mark();
    run(
        env!("CARGO_BIN_EXE_defender"),
        &[
            "status",
            "--rpc-url",
            &b.url,
            "--addresses",
            b.book.to_str().unwrap(),
            "--from",
            &b.deployment.holders[0].to_string(),
        ],
        &[],
    );
    println!(
        "{:<34} {:>18} {:>18}",
        "status (all figures + position)",
        format!("{}", count(&b.proxy, start).1),
        "-"
    );

    let plots: usize =
        std::env::var("DEFENDER_BENCH_PLOTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let built = history(&b, plots).await;
    let head = b.provider.get_block_number().await.unwrap();
    let url = b._anvil.url().to_owned();
    let book = b.book.to_str().unwrap().to_owned();
    println!("\nqueue over {plots} plots in {head} blocks (history built in {:.1} s)", built.as_secs_f64());
    report(
        "defender queue",
        &median_of_3(
            env!("CARGO_BIN_EXE_defender"),
            &["queue", "--json", "--rpc-url", &url, "--addresses", &book],
        ),
    );
    let cast = root().join("node_modules/.bin/cast");
    let pause = b.addr(keys::MCD_PAUSE).to_string();
    let logs = [
        "logs",
        "--rpc-url",
        &url,
        "--from-block",
        "0",
        "--to-block",
        "latest",
        "--address",
        &pause,
        "--json",
    ];
    report("cast logs (raw logs only)", &median_of_3(cast.to_str().unwrap(), &logs));
}

/// The run with the median time of three, as (time, peak RSS in KiB).
fn median_of_3(program: &str, args: &[&str]) -> (Duration, i64) {
    let mut runs: Vec<(Duration, i64)> = (0..3).map(|_| measure(program, args)).collect();
    runs.sort();
    runs[1]
}

fn report(what: &str, (time, rss): &(Duration, i64)) {
    println!(
        "  {what:<26} median {:>7.0} ms, peak RSS {:>6.1} MB",
        time.as_secs_f64() * 1e3,
        *rss as f64 / 1024.0
    );
}
