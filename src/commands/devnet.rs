//! `defender devnet`: anvil with the reference contracts, wired as mainnet is.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;

use crate::chain::addresses::{AddressBook, keys};
use crate::cli::GlobalArgs;
use crate::devnet::{self, AnvilOptions, DeployParams, Layout};
use crate::units::{WAD, format_duration, format_token};

#[derive(Debug, Args)]
pub struct DevnetArgs {
    /// Port for anvil on 127.0.0.1.
    #[arg(long, default_value_t = 8545)]
    pub port: u16,

    /// Where the address book, pid file and log go [default: ~/.local/state/defender/devnet].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Leave the devnet running in the background (pid file in the state dir) and return.
    #[arg(long, conflicts_with = "stop")]
    pub detach: bool,

    /// Stop a devnet started with --detach.
    #[arg(long)]
    pub stop: bool,

    /// Which governance to stand up: MIP91's (DSChief 1.2 and the reference dss-defender) or
    /// mainnet's of today (the new Chief with SKY, MKR_SKY, Protego, the ESM switched off).
    #[arg(long, value_enum, default_value_t = Layout::Mip91)]
    pub layout: Layout,

    /// Chain id of the local chain.
    #[arg(long, default_value_t = 31337)]
    pub chain_id: u64,

    /// Seconds per block (default: a block per transaction).
    #[arg(long, value_name = "SECONDS")]
    pub block_time: Option<u64>,

    /// MKR deposits that activate the defender (MIP91c1 `threshold amount`).
    #[arg(long, default_value = "50000", value_parser = parse_whole_tokens, value_name = "MKR")]
    pub threshold: U256,

    /// How long the activated defender can cancel (MIP91c1 `cancel-spells duration`).
    #[arg(long, default_value = "7days", value_parser = humantime::parse_duration)]
    pub cancel_duration: Duration,

    /// How long each deposit stays locked (MIP91c1 `lockup duration`).
    #[arg(long, default_value = "30days", value_parser = humantime::parse_duration)]
    pub lockup: Duration,

    /// DSPause delay (the GSM pause delay).
    #[arg(long, default_value = "48h", value_parser = humantime::parse_duration)]
    pub pause_delay: Duration,

    /// MKR the ESM needs to fire.
    #[arg(long, default_value = "100000", value_parser = parse_whole_tokens, value_name = "MKR")]
    pub esm_min: U256,
}

fn parse_whole_tokens(text: &str) -> Result<U256, String> {
    let whole: u64 = text
        .replace([',', '_'], "")
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number of tokens (e.g. 50000)"))?;
    if whole == 0 {
        return Err("must be more than zero".into());
    }
    Ok(U256::from(whole) * WAD)
}

pub async fn run(global: &GlobalArgs, args: &DevnetArgs) -> Result<ExitCode> {
    let state_dir = args.state_dir.clone().unwrap_or_else(devnet::default_state_dir);
    if args.stop {
        return stop(&state_dir, global.json);
    }
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("cannot create the state dir {}", state_dir.display()))?;
    let pid_file = state_dir.join(devnet::PID_FILE);
    if let Some(pid) = running_pid(&pid_file) {
        bail!(
            "a detached devnet is already running (pid {pid}, {}): stop it with `defender devnet --stop` \
             or use another --state-dir and --port",
            pid_file.display()
        );
    }

    let started = Instant::now();
    let options = AnvilOptions {
        port: args.port,
        chain_id: args.chain_id,
        block_time: args.block_time,
        detach: args.detach,
        log_file: args.detach.then(|| state_dir.join("anvil.log")),
    };
    let params = DeployParams {
        layout: args.layout,
        threshold: args.threshold,
        cancel_duration: args.cancel_duration,
        lockup_duration: args.lockup,
        pause_delay: args.pause_delay,
        esm_min: args.esm_min,
        ..DeployParams::default()
    };
    let devnet::LocalChain { mut anvil, deployment, .. } = devnet::launch(&options, &params).await?;
    let mut book = deployment.book.clone();
    book.rpc_url = Some(anvil.url().to_owned());
    let book_path = state_dir.join(devnet::ADDRESS_BOOK);
    book.save(&book_path)?;
    let ready_in = started.elapsed();

    if global.json {
        let summary = json!({
            "rpc_url": anvil.url(),
            "chain_id": book.chain_id,
            "layout": format!("{:?}", params.layout).to_lowercase(),
            "address_book": book_path,
            "ready_ms": ready_in.as_millis() as u64,
            "pid": anvil.pid(),
            "detached": args.detach,
            "contracts": book.contracts,
            "default_spell": (params.layout == Layout::Mip91).then_some(deployment.default_spell),
            "holders": deployment.holders,
            "parameters": {
                "threshold": params.threshold.to_string(),
                "cancel_duration": params.cancel_duration.as_secs(),
                "lockup_duration": params.lockup_duration.as_secs(),
                "pause_delay": params.pause_delay.as_secs(),
                "esm_min": params.esm_min.to_string(),
            },
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&book, &book_path, &deployment, &params, ready_in);
    }

    if args.detach {
        std::fs::write(&pid_file, format!("{}\n", anvil.pid()))
            .with_context(|| format!("cannot write {}", pid_file.display()))?;
        let pid = anvil.release();
        if !global.json {
            println!("\nrunning in the background (pid {pid}); stop it with `defender devnet --stop`");
        }
        return Ok(ExitCode::SUCCESS);
    }

    if !global.json {
        println!("\nCtrl-C stops the devnet.");
    }
    tokio::select! {
        _ = shutdown_signal() => {}
        status = anvil.wait() => {
            let status = status?;
            bail!("anvil exited unexpectedly ({status})");
        }
    }
    anvil.stop().await?;
    let _ = std::fs::remove_file(&book_path);
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match terminate.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
    }
}

fn print_summary(
    book: &AddressBook,
    book_path: &Path,
    deployment: &devnet::Deployment,
    params: &DeployParams,
    ready_in: Duration,
) {
    let rpc = book.rpc_url.as_deref().unwrap_or("?");
    println!("devnet ready in {:.1} s: chain {} at {rpc}", ready_in.as_secs_f64(), book.chain_id);
    if params.layout == Layout::Sky {
        print_sky_summary(book, book_path, deployment, params);
        println!("\nuse it: export ETH_RPC_URL={rpc}; defender status");
        return;
    }
    println!(
        "  threshold {} MKR, cancel window {}, lockup {}, GSM pause delay {}, ESM min {} MKR",
        format_token(params.threshold, 18),
        format_duration(params.cancel_duration.as_secs()),
        format_duration(params.lockup_duration.as_secs()),
        format_duration(params.pause_delay.as_secs()),
        format_token(params.esm_min, 18),
    );
    print_contracts(book, book_path, &[("default spell", deployment.default_spell)]);
    println!(
        "\ntest accounts holding {} MKR each (anvil's mnemonic \"{}\"):",
        format_token(params.holder_balance, 18),
        devnet::anvil::TEST_MNEMONIC
    );
    for (index, holder) in deployment.holders.iter().enumerate() {
        println!("  {index}  {holder}");
    }
    print_safe(book, "100,000 MKR");
    println!("\nuse it: export ETH_RPC_URL={rpc}; defender status");
}

/// The address book, one contract per line, names aligned.
fn print_contracts(book: &AddressBook, book_path: &Path, more: &[(&str, alloy::primitives::Address)]) {
    println!("\ncontracts (address book {}):", book_path.display());
    let rows: Vec<(&str, alloy::primitives::Address)> =
        book.contracts.iter().map(|(k, a)| (k.as_str(), *a)).chain(more.iter().copied()).collect();
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, address) in rows {
        println!("  {key:<width$} {address}");
    }
}

/// The demo Safe: who owns it and how to act from it.
fn print_safe(book: &AddressBook, holds: &str) {
    let Ok(safe) = book.get(keys::SAFE_DEMO) else { return };
    let owners: Vec<String> = devnet::safe::DEMO_OWNERS.iter().map(usize::to_string).collect();
    println!(
        "
demo Safe (SAFE_DEMO) {safe}: {} of {} owners, test accounts {}; it holds {holds}",
        devnet::safe::DEMO_THRESHOLD,
        owners.len(),
        owners.join(", ")
    );
    println!(
        "  act from it: defender deposit 1000 --safe {safe} --unsigned-out safe.json, then each owner signs"
    );
}

/// The Sky layout has no defender: the figures that matter are the chief's and the tokens'.
fn print_sky_summary(
    book: &AddressBook,
    book_path: &Path,
    deployment: &devnet::Deployment,
    params: &DeployParams,
) {
    println!(
        "  mainnet as it runs today: the new Chief (SKY, 5 yays, lift cooldown 10 blocks), MKR -> SKY at \
         24,000 for a 3% fee, Protego, the ESM switched off, DSChief 1.2 as MCD_ADM_LEGACY; GSM pause delay {}",
        format_duration(params.pause_delay.as_secs())
    );
    print_contracts(book, book_path, &[]);
    println!(
        "\ntest accounts holding 2,400,000,000 SKY and {} MKR each; 3 and 4 also have 10,000 MKR in the \
         legacy chief (anvil's mnemonic \"{}\"):",
        format_token(params.holder_balance, 18),
        devnet::anvil::TEST_MNEMONIC
    );
    for (index, holder) in deployment.holders.iter().enumerate() {
        println!("  {index}  {holder}");
    }
    print_safe(book, "2,400,000,000 SKY and 1,000 MKR");
}

/// The pid in `pid_file` if that process is still an anvil.
fn running_pid(pid_file: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file).ok()?.trim().parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let is_anvil = cmdline.split(|b| *b == 0).next().is_some_and(|arg0| arg0.ends_with(b"anvil"));
    is_anvil.then_some(pid)
}

fn stop(state_dir: &Path, json: bool) -> Result<ExitCode> {
    let pid_file = state_dir.join(devnet::PID_FILE);
    let Some(pid) = running_pid(&pid_file) else {
        let _ = std::fs::remove_file(&pid_file);
        if json {
            println!("{}", json!({ "stopped": null }));
        } else {
            println!("no detached devnet is running (state dir {})", state_dir.display());
        }
        return Ok(ExitCode::SUCCESS);
    };
    let status =
        std::process::Command::new("kill").arg(pid.to_string()).status().context("cannot run `kill`")?;
    if !status.success() {
        bail!("could not stop anvil (pid {pid}): kill exited with {status}");
    }
    let _ = std::fs::remove_file(&pid_file);
    let _ = std::fs::remove_file(state_dir.join(devnet::ADDRESS_BOOK));
    if json {
        println!("{}", json!({ "stopped": pid }));
    } else {
        println!("stopped the devnet (pid {pid})");
    }
    Ok(ExitCode::SUCCESS)
}
