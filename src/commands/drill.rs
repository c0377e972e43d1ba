//! `defender drill`: plays MIP91's scenarios and Protego's on a local chain of the layout each
//! needs (its own, or a devnet named with `--rpc-url`), the user's part through the real
//! commands with the user's signer, and checks on chain that each scenario ends as it should.

use std::process::ExitCode;

use alloy::primitives::{Address, U256};
use alloy::providers::ext::AnvilApi;
use alloy::providers::{DynProvider, Provider};
use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;

use crate::chain::discovery;
use crate::cli::Cli;
use crate::devnet::{self, AnvilOptions, DeployParams, Layout, LocalChain};
use crate::drill::scenarios::Scenario;
use crate::drill::world::{World, tokens};
use crate::drill::{Check, Drill, SafePart, UserPart};
use crate::signers::{self, SignerArgs};

/// anvil's account 0 (the standard test mnemonic): the user when no signer is named. Public,
/// and only ever used on the drill's local chain.
const DEVNET_KEY_0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const KEY_VAR: &str = "DEFENDER_DRILL_KEY";
/// anvil's accounts 5 and 6: the Safe drill's first owner (you, by default) and second owner.
const DEVNET_KEY_5: &str = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";
const DEVNET_KEY_6: &str = "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e";
const CO_OWNER_VAR: &str = "DEFENDER_DRILL_CO_OWNER_KEY";

#[derive(Debug, Args)]
pub struct DrillArgs {
    /// Which scenario to play.
    #[arg(value_enum, default_value = "all")]
    pub scenario: Scenario,
    /// Play your part too: run your commands with --yes (and --burn) without asking.
    #[arg(long)]
    pub auto: bool,
}

pub async fn run(cli: &Cli, args: &DrillArgs, rpc_url_given: bool) -> Result<ExitCode> {
    let json = cli.global.json;
    let mut scenarios: Vec<Scenario> =
        if args.scenario == Scenario::All { Scenario::EACH.to_vec() } else { vec![args.scenario] };
    let devnet = if rpc_url_given { Some(ExistingChain::open(cli).await?) } else { None };
    if let Some(devnet) = &devnet {
        scenarios = devnet.playable(args.scenario, scenarios, json)?;
    }
    let mut results = Vec::new();
    for scenario in scenarios {
        if !json {
            eprintln!("\n== drill: {} ==\n{}\n", scenario.name(), textwrap(scenario.story()));
        }
        let (checks, ms) = match &devnet {
            Some(devnet) => devnet.play(cli, args, scenario).await?,
            None => on_own_chain(cli, args, scenario).await?,
        };
        if !json {
            eprintln!("\n  verdict ({} ms):", ms);
            for c in &checks {
                eprintln!("    {} {}", if c.ok { "ok  " } else { "FAIL" }, c.what);
            }
        }
        results.push((scenario, checks, ms));
    }
    let all_ok = results.iter().all(|(_, checks, _)| checks.iter().all(|c| c.ok));
    if json {
        let list: Vec<_> = results
            .iter()
            .map(|(s, checks, ms)| {
                json!({
                    "scenario": s.name(),
                    "layout": layout_name(s.layout()),
                    "ok": checks.iter().all(|c| c.ok),
                    "checks": checks,
                    "ms": ms
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&json!({ "ok": all_ok, "scenarios": list }))?);
    } else {
        let passed = results.iter().filter(|(_, c, _)| c.iter().all(|c| c.ok)).count();
        eprintln!("\n{passed} of {} scenario(s) ended as they should", results.len());
    }
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn layout_name(layout: Layout) -> &'static str {
    match layout {
        Layout::Mip91 => "mip91",
        Layout::Sky => "sky",
    }
}

/// A fresh anvil with the reference contracts in the scenario's layout, for one scenario.
async fn on_own_chain(cli: &Cli, args: &DrillArgs, scenario: Scenario) -> Result<(Vec<Check>, u128)> {
    let params = DeployParams { layout: scenario.layout(), ..DeployParams::default() };
    let LocalChain { anvil, provider, deployment } =
        devnet::launch_on_free_port(&AnvilOptions::default(), &params).await?;
    let chainlog = deployment.book.get(crate::chain::addresses::keys::CHANGELOG)?;
    let result = play(cli, args, scenario, provider, anvil.url(), chainlog).await;
    anvil.stop().await?;
    result
}

/// A devnet that is already running: each scenario runs from a snapshot of it and is rolled
/// back afterwards, so the devnet is left as it was. It has one layout, so it plays only the
/// scenarios of that layout.
struct ExistingChain {
    url: String,
    provider: DynProvider,
    chainlog: Address,
    layout: Layout,
}

impl ExistingChain {
    async fn open(cli: &Cli) -> Result<Self> {
        let url = cli.global.rpc_url.clone();
        let connection = crate::chain::rpc::connect(&url).await?;
        let chain_id = connection.timed(connection.provider.get_chain_id()).await?;
        let provider = connection.provider;
        if !crate::pipeline::is_devnet(chain_id) {
            bail!(
                "{url} serves chain {chain_id}: a drill moves time and impersonates accounts, so it runs only on a local devnet (31337 or 1337)"
            );
        }
        let sources = discovery::resolve(&cli.global.wanted())?;
        if sources.chainlog == discovery::MAINNET_CHAINLOG || sources.chainlog == Address::ZERO {
            bail!(
                "no chainlog for the devnet at {url}: pass --addresses (as `defender devnet` writes) or --chainlog"
            );
        }
        let world = World::new(provider.clone(), sources.chainlog).await?;
        let layout = if world.snapshot(Address::ZERO).await?.is_sky() { Layout::Sky } else { Layout::Mip91 };
        Ok(Self { url, provider, chainlog: sources.chainlog, layout })
    }

    /// The scenarios this devnet's layout can play: a named one of the other layout is refused,
    /// `all` keeps those of this layout and says which it leaves out.
    fn playable(&self, asked: Scenario, scenarios: Vec<Scenario>, json: bool) -> Result<Vec<Scenario>> {
        let (fits, other): (Vec<Scenario>, Vec<Scenario>) =
            scenarios.into_iter().partition(|s| s.layout() == self.layout);
        let here = layout_name(self.layout);
        if asked != Scenario::All {
            if let Some(scenario) = other.first() {
                let needs = layout_name(scenario.layout());
                bail!(
                    "{} needs a devnet with --layout {needs}, but the devnet at {} runs the {here} layout: \
                     start one with `defender devnet --layout {needs}`, or leave out --rpc-url to let the \
                     drill start its own",
                    scenario.name(),
                    self.url
                );
            }
        } else if !other.is_empty() && !json {
            let names: Vec<&str> = other.iter().map(|s| s.name()).collect();
            eprintln!(
                "the devnet at {} runs the {here} layout: playing its scenarios only, not {} \
                 (leave out --rpc-url to play all on chains of their own)",
                self.url,
                names.join(", ")
            );
        }
        Ok(fits)
    }

    async fn play(&self, cli: &Cli, args: &DrillArgs, scenario: Scenario) -> Result<(Vec<Check>, u128)> {
        let provider = &self.provider;
        let snapshot = provider.anvil_snapshot().await.context("the node does not support evm_snapshot")?;
        let result = play(cli, args, scenario, provider.clone(), &self.url, self.chainlog).await;
        provider.anvil_revert(snapshot).await.context("rolling the devnet back after the drill")?;
        result
    }
}

async fn play(
    cli: &Cli,
    args: &DrillArgs,
    scenario: Scenario,
    provider: DynProvider,
    url: &str,
    chainlog: Address,
) -> Result<(Vec<Check>, u128)> {
    let world = World::new(provider, chainlog).await?;
    let from_safe = scenario == Scenario::SafeGenuineAttack;
    // From a Safe, you are its first owner: anvil's account 5 unless you name a signer.
    let default_key = if from_safe { DEVNET_KEY_5 } else { DEVNET_KEY_0 };
    let (signer, mut env, user) = user_signer(&cli.signer, cli.global.from, &world, default_key).await?;
    let cache = ScratchCache::for_chain(url);
    env.push((CACHE_VAR.to_owned(), cache.0.display().to_string()));
    let safe = if from_safe {
        world.fund(user, U256::ZERO).await?;
        Some(demo_safe(&world, user, scenario, url).await?)
    } else {
        world.fund(user, tokens(scenario.user_stake())).await?;
        None
    };
    if !cli.global.json {
        eprintln!("  you are {user}; your commands run with --rpc-url {url} --chainlog {chainlog}");
        if let Some(safe) = &safe {
            eprintln!(
                "  you act from the Safe {} (2 of 3: you and test accounts 6 and 7; account 6 signs second)",
                safe.address
            );
        }
        eprintln!();
    }
    let acting = safe.as_ref().map(|s| s.address).unwrap_or(user);
    let part = UserPart {
        exe: std::env::current_exe().context("finding the defender binary")?,
        connection: vec!["--rpc-url".into(), url.into(), "--chainlog".into(), chainlog.to_string()],
        signer,
        env,
        auto: args.auto,
        safe,
    };
    let drill = Drill::new(world, acting, part, cli.global.json).await?;
    let checks = scenario.play(&drill).await?;
    Ok((checks, drill.elapsed_ms()))
}

/// A 2-of-3 Safe of the genuine Safe contracts owned by the user and test accounts 6 and 7,
/// holding a test holder's MKR; its bundles go in a scratch directory of this drill chain.
async fn demo_safe(world: &World, user: Address, scenario: Scenario, url: &str) -> Result<SafePart> {
    let a = &world.accounts;
    let owners = vec![user, a[6], a[7]];
    if owners[1..].contains(&user) {
        bail!("the Safe drill's other owners are test accounts 6 and 7: sign as another account");
    }
    let sender = crate::devnet::deploy::Sender { provider: &world.provider, from: a[9] };
    let mut book = crate::chain::addresses::AddressBook::new(world.provider.get_chain_id().await?, None);
    let address = crate::devnet::safe::deploy(&sender, owners, &mut book).await?;
    world.fund(address, tokens(scenario.user_stake())).await?;
    let port = url.rsplit(':').next().unwrap_or_default().trim_end_matches('/');
    let dir = std::env::temp_dir().join(format!("defender-drill-safe-{}-{port}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(SafePart {
        address,
        dir,
        co_owner_var: CO_OWNER_VAR.into(),
        co_owner_key: DEVNET_KEY_6.into(),
        steps: std::cell::Cell::new(0),
    })
}

/// Where the user's commands keep the pause's log (chain/pause_log/cache.rs).
const CACHE_VAR: &str = "DEFENDER_CACHE_DIR";

/// The log cache of one drill chain, removed with it. Every devnet has the same chain id and
/// contract addresses, so what the drill's throwaway chains (or a devnet rolled back after the
/// drill) told must not land in the user's own cache, nor drills running side by side share one.
struct ScratchCache(std::path::PathBuf);

impl ScratchCache {
    fn for_chain(url: &str) -> Self {
        let port = url.rsplit(':').next().unwrap_or_default().trim_end_matches('/');
        Self(std::env::temp_dir().join(format!("defender-drill-cache-{}-{port}", std::process::id())))
    }
}

impl Drop for ScratchCache {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The user's signer options for the commands, their environment, and the user's address.
/// Without a signer the user is anvil's account 0, whose key goes in an environment variable.
async fn user_signer(
    args: &SignerArgs,
    from: Option<Address>,
    world: &World,
    default_key: &str,
) -> Result<(Vec<String>, Vec<(String, String)>, Address)> {
    let mut flags: Vec<String> = Vec::new();
    let mut push = |f: &str, v: Option<String>| {
        flags.push(f.to_owned());
        flags.extend(v);
    };
    if let Some(path) = &args.keystore {
        push("--keystore", Some(path.display().to_string()));
        if let Some(file) = &args.password_file {
            push("--password-file", Some(file.display().to_string()));
        }
    } else if let Some(var) = &args.private_key_env {
        push("--private-key-env", Some(var.clone()));
    } else if args.ledger {
        push("--ledger", None);
        if let Some(addr) = args.speculos {
            push("--speculos", Some(addr.to_string()));
        }
    } else if args.trezor {
        push("--trezor", None);
        if let Some(addr) = args.trezor_emulator {
            push("--trezor-emulator", Some(addr.to_string()));
        }
        if args.passphrase_on_device {
            push("--passphrase-on-device", None);
        }
    } else {
        let flags = vec!["--private-key-env".to_owned(), KEY_VAR.to_owned()];
        let key: alloy::signers::local::PrivateKeySigner = default_key.parse().context("a devnet key")?;
        let user = key.address();
        if !world.accounts.contains(&user) {
            bail!("internal error: the drill's default key is not one of the devnet's accounts");
        }
        return Ok((flags, vec![(KEY_VAR.to_owned(), default_key.to_owned())], user));
    }
    if args.device().is_some() {
        if let Some(path) = &args.path.hd_path {
            push("--hd-path", Some(path.to_string()));
        } else if let Some(n) = args.path.ledger_live {
            push("--ledger-live", Some(n.to_string()));
        } else if let Some(n) = args.path.legacy {
            push("--legacy", Some(n.to_string()));
        }
    }
    // Open the signer once to learn (and with --verify, show) the address, then let it go: a
    // device serves one program at a time, and each command opens it again.
    let user = signers::open(args, from).await?.context("no signer")?.address();
    Ok((flags, Vec::new(), user))
}

/// Wraps a paragraph at 96 columns, indented.
fn textwrap(text: &str) -> String {
    let mut out = String::new();
    let mut line = String::from(" ");
    for word in text.split_whitespace() {
        if line.len() + word.len() > 96 {
            out.push_str(&line);
            out.push('\n');
            line = String::from(" ");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out
}
