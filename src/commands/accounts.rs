//! `defender accounts`: what each account holds, read in one round trip (a snapshot per
//! account in one JSON-RPC batch). Devices list their derived addresses here too.

use std::process::ExitCode;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::Provider;
use alloy::rpc::client::BatchRequest;
use alloy::rpc::types::{BlockId, BlockNumberOrTag, TransactionRequest};
use anyhow::{Result, bail};
use clap::Args;
use serde_json::json;

use crate::chain::snapshot::{decode_snapshot, lens_request};
use crate::chain::{discovery, rpc};
use crate::cli::Cli;
use crate::signers::{self, DerivationPath};
use crate::units::format_token;

#[derive(Debug, Args)]
pub struct AccountsArgs {
    /// Addresses to show [default: the signer's, or --from].
    #[arg(value_name = "ADDRESS", value_parser = crate::chain::addresses::parse_address)]
    pub accounts: Vec<Address>,

    /// With --ledger or --trezor: how many accounts of each derivation scheme to list.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub count: u32,

    /// With --ledger or --trezor: which derivation scheme to list.
    #[arg(long, value_enum, default_value_t = Scheme::Both)]
    pub scheme: Scheme,
}

/// Ledger Live's m/44'/60'/N'/0/0, the legacy m/44'/60'/0'/N, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scheme {
    Both,
    LedgerLive,
    Legacy,
}

impl Scheme {
    fn paths(self, count: u32) -> Vec<DerivationPath> {
        let live = (0..count).map(DerivationPath::ledger_live);
        let legacy = (0..count).map(DerivationPath::legacy);
        match self {
            Scheme::Both => live.chain(legacy).collect(),
            Scheme::LedgerLive => live.collect(),
            Scheme::Legacy => legacy.collect(),
        }
    }
}

pub async fn run(cli: &Cli, args: &AccountsArgs) -> Result<ExitCode> {
    let mut addresses = args.accounts.clone();
    let safe = cli.global.safe;
    addresses.extend(safe.filter(|s| !addresses.contains(s)));
    let mut paths: Vec<Option<DerivationPath>> = vec![None; addresses.len()];
    let mut device = None;
    let one_key = cli.signer.verify
        || cli.signer.path.hd_path.is_some()
        || cli.signer.path.ledger_live.is_some()
        || cli.signer.path.legacy.is_some();
    if addresses.is_empty() && cli.signer.device().is_some() && !one_key {
        let derived = args.scheme.paths(args.count);
        let (found, which) = signers::device_addresses(&cli.signer, &derived).await?;
        addresses = found;
        device = Some(which);
        paths = derived.into_iter().map(Some).collect();
    } else if addresses.is_empty() {
        // One key: the signer's (a device shows it first with --verify), or --from.
        let signer = signers::open(&cli.signer, cli.global.from).await?;
        addresses.extend(signer.as_ref().map(|s| s.address()).or(cli.global.from));
        let path = cli.signer.device().map(|_| cli.signer.path.path());
        paths = vec![path; addresses.len()];
    }
    if addresses.is_empty() {
        bail!(
            "no account to show: pass addresses, --from, --ledger, --trezor, or a signer (--keystore, --private-key-env)"
        );
    }
    let connection = rpc::connect(&cli.global.rpc_url).await?;
    let sources = discovery::resolve(&cli.global.wanted())?;
    let mut batch = BatchRequest::new(connection.provider.client());
    let latest = BlockId::Number(BlockNumberOrTag::Latest);
    let waiters: Vec<_> = addresses
        .iter()
        .map(|a| batch.add_call::<_, Bytes>("eth_call", &(lens_request(&sources, Some(*a)), latest)))
        .collect::<Result<_, _>>()?;
    let safe_reads = match safe {
        Some(address) => crate::chain::safe::state_calls()
            .into_iter()
            .map(|data| {
                let call = TransactionRequest::default().with_to(address).with_input(data);
                batch.add_call::<_, Bytes>("eth_call", &(call, latest))
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    connection.timed(batch.send()).await?;
    let safe_state = match safe {
        Some(address) => {
            let mut answers = Vec::new();
            for waiter in safe_reads {
                answers.push(waiter.await.map_err(|e| e.to_string()));
            }
            let state = crate::chain::safe::decode_state(address, &answers)
                .map_err(|e| super::session::InputError(format!("--safe: {e}")))?;
            Some((address, state))
        }
        None => None,
    };
    let mut rows = Vec::new();
    for ((address, path), waiter) in addresses.iter().zip(paths).zip(waiters) {
        let snapshot = decode_snapshot(&connection.timed(waiter).await?)?;
        rpc::check_chain(&connection.url, snapshot.block.chainId.saturating_to(), cli.global.chain)?;
        rows.push((*address, path, snapshot));
    }
    if cli.global.json {
        let list: Vec<_> = rows
            .iter()
            .map(|(a, path, s)| {
                json!({
                    "address": a,
                    "path": path.as_ref().map(ToString::to_string),
                    "eth": s.user.ethBalance.to_string(),
                    "balance": s.user.govBalance.to_string(),
                    "chief_deposit": s.user.chiefDeposits.to_string(),
                    "defender_deposit": s.user.deposit.to_string(),
                    "mkr": (s.at.mkr != Address::ZERO).then(|| s.user.mkrBalance.to_string()),
                    "legacy_chief_deposit": s.has_legacy_chief().then(|| s.user.legacyDeposits.to_string()),
                    "unlock_at": (!s.user.unlockAt.is_zero()).then(|| s.user.unlockAt.saturating_to::<u64>()),
                })
            })
            .collect();
        let safe = safe_state.map(|(address, state)| json!({ "address": address, "state": state }));
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "accounts": list, "safe": safe, "device": device }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Some((address, state)) = &safe_state {
        println!(
            "Safe {address} (version {}): {} of {} owners sign, nonce {}",
            state.version,
            state.threshold,
            state.owners.len(),
            state.nonce
        );
        for owner in &state.owners {
            println!("  owner {owner}");
        }
        println!();
    }
    let symbol = rows[0].2.symbol();
    let decimals = rows[0].2.decimals();
    let t = |v: U256| format_token(v, decimals);
    let with_paths = rows.iter().any(|(_, p, _)| p.is_some());
    let path_column = |p: &Option<DerivationPath>| {
        if with_paths {
            format!("{:<20} ", p.as_ref().map(ToString::to_string).unwrap_or_default())
        } else {
            String::new()
        }
    };
    if let Some(device) = &device {
        println!("{device}, {} addresses:", rows.len());
    }
    // The Sky layout has MKR beside SKY and a legacy chief instead of a defender.
    let sky = rows[0].2.is_sky();
    let (third, fourth) = if sky { ("MKR", "MKR in old chief") } else { ("in chief", "in defender") };
    let (second_head, second_width) =
        if sky { (format!("{symbol} in chief"), 20) } else { (String::new(), 0) };
    println!(
        "{}{:<44} {:>14} {:>16} {:>16} {:>18}{}",
        if with_paths { format!("{:<20} ", "path") } else { String::new() },
        "address",
        "ETH",
        symbol.clone(),
        third,
        fourth,
        if sky { format!(" {second_head:>second_width$}") } else { String::new() }
    );
    for (address, path, s) in &rows {
        let (c3, c4) = if sky {
            (format_token(s.user.mkrBalance, 18), format_token(s.user.legacyDeposits, 18))
        } else {
            (t(s.user.chiefDeposits), t(s.user.deposit))
        };
        println!(
            "{}{:<44} {:>14} {:>16} {:>16} {:>18}{}",
            path_column(path),
            address.to_string(),
            format_token(s.user.ethBalance / U256::from(10u64.pow(12)) * U256::from(10u64.pow(12)), 18),
            t(s.user.govBalance),
            c3,
            c4,
            if sky { format!(" {:>second_width$}", t(s.user.chiefDeposits)) } else { String::new() }
        );
    }
    Ok(ExitCode::SUCCESS)
}
