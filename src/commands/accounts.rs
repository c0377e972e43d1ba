//! `defender accounts`: what each account holds, read in one round trip (a snapshot per
//! account in one JSON-RPC batch). Devices list their derived addresses here too.

use std::process::ExitCode;

use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::Provider;
use alloy::rpc::client::BatchRequest;
use alloy::rpc::types::{BlockId, BlockNumberOrTag};
use anyhow::{Result, bail};
use clap::Args;
use serde_json::json;

use crate::chain::snapshot::{decode_snapshot, lens_request};
use crate::chain::{discovery, rpc};
use crate::cli::Cli;
use crate::units::format_token;

#[derive(Debug, Args)]
pub struct AccountsArgs {
    /// Addresses to show [default: the signer's, or --from].
    #[arg(value_name = "ADDRESS", value_parser = crate::chain::addresses::parse_address)]
    pub accounts: Vec<Address>,
}

pub async fn run(cli: &Cli, args: &AccountsArgs) -> Result<ExitCode> {
    let signer = crate::signers::open(&cli.signer, cli.global.from).await?;
    let mut addresses = args.accounts.clone();
    if addresses.is_empty() {
        addresses.extend(signer.as_ref().map(|s| s.address()).or(cli.global.from));
    }
    if addresses.is_empty() {
        bail!(
            "no account to show: pass addresses, --from, or a signer (--ledger, --trezor, --keystore, --private-key-env)"
        );
    }
    let connection = rpc::connect(&cli.global.rpc_url)?;
    let sources = discovery::resolve(&cli.global)?;
    let mut batch = BatchRequest::new(connection.provider.client());
    let latest = BlockId::Number(BlockNumberOrTag::Latest);
    let waiters: Vec<_> = addresses
        .iter()
        .map(|a| batch.add_call::<_, Bytes>("eth_call", &(lens_request(&sources, Some(*a)), latest)))
        .collect::<Result<_, _>>()?;
    connection.timed(batch.send()).await?;
    let mut rows = Vec::new();
    for (address, waiter) in addresses.iter().zip(waiters) {
        let snapshot = decode_snapshot(&connection.timed(waiter).await?)?;
        rpc::check_chain(&connection.url, snapshot.block.chainId.saturating_to(), cli.global.chain)?;
        rows.push((*address, snapshot));
    }
    if cli.global.json {
        let list: Vec<_> = rows
            .iter()
            .map(|(a, s)| {
                json!({
                    "address": a,
                    "eth": s.user.ethBalance.to_string(),
                    "balance": s.user.govBalance.to_string(),
                    "chief_deposit": s.user.chiefDeposits.to_string(),
                    "defender_deposit": s.user.deposit.to_string(),
                    "unlock_at": (!s.user.unlockAt.is_zero()).then(|| s.user.unlockAt.saturating_to::<u64>()),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&json!({ "accounts": list }))?);
        return Ok(ExitCode::SUCCESS);
    }
    let symbol = rows[0].1.symbol();
    let decimals = rows[0].1.decimals();
    let t = |v: U256| format_token(v, decimals);
    println!(
        "{:<44} {:>14} {:>16} {:>16} {:>16}",
        "address",
        "ETH",
        symbol.clone(),
        "in chief",
        "in defender"
    );
    for (address, s) in &rows {
        println!(
            "{:<44} {:>14} {:>16} {:>16} {:>16}",
            address.to_string(),
            format_token(s.user.ethBalance / U256::from(10u64.pow(12)) * U256::from(10u64.pow(12)), 18),
            t(s.user.govBalance),
            t(s.user.chiefDeposits),
            t(s.user.deposit)
        );
    }
    Ok(ExitCode::SUCCESS)
}
