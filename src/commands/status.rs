//! `defender status`: the live defender instance and the governance state around it.

use std::process::ExitCode;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;

use crate::chain::addresses::keys;
use crate::chain::bindings::{DSChief, DSToken, DssDefender, ESM};
use crate::chain::{discovery, rpc};
use crate::cli::GlobalArgs;
use crate::units::{format_duration, format_token};

#[derive(Debug, Args)]
pub struct StatusArgs {}

/// The facts `status` reports, also its `--json` document.
#[derive(Debug, Serialize)]
pub struct Status {
    pub chain_id: u64,
    pub block: u64,
    pub timestamp: u64,
    pub token: Token,
    pub defender: Defender,
    pub chief: Chief,
    pub esm: Esm,
}

#[derive(Debug, Serialize)]
pub struct Token {
    pub address: Address,
    pub symbol: String,
    pub decimals: u8,
}

#[derive(Debug, Serialize)]
pub struct Defender {
    pub address: Address,
    pub live: bool,
    pub released: bool,
    #[serde(with = "crate::units::decimal")]
    pub threshold: U256,
    #[serde(with = "crate::units::decimal")]
    pub total: U256,
    pub cancel_duration: u64,
    pub lockup_duration: u64,
    pub activated_at: Option<u64>,
    pub canceling_until: Option<u64>,
    pub canceling: bool,
    pub default_spell: Address,
}

#[derive(Debug, Serialize)]
pub struct Chief {
    pub address: Address,
    pub hat: Address,
    #[serde(with = "crate::units::decimal")]
    pub hat_approvals: U256,
    #[serde(with = "crate::units::decimal")]
    pub default_spell_approvals: U256,
}

#[derive(Debug, Serialize)]
pub struct Esm {
    pub address: Address,
    #[serde(with = "crate::units::decimal")]
    pub sum: U256,
    #[serde(with = "crate::units::decimal")]
    pub min: U256,
    pub live: bool,
}

pub async fn run(global: &GlobalArgs, _args: StatusArgs) -> Result<ExitCode> {
    let connection = rpc::connect(&global.rpc_url, global.chain).await?;
    let book = discovery::resolve(&connection, global).await?;
    let p = &connection.provider;

    let defender_addr = book.get(keys::MCD_DEFENDER)?;
    let defender = DssDefender::new(defender_addr, p);
    let chief_addr = defender
        .chief()
        .call()
        .await
        .context("MCD_DEFENDER does not answer chief(): is it a dss-defender?")?;
    let chief = DSChief::new(chief_addr, p);
    let gov = chief.GOV().call().await?;
    let token = DSToken::new(gov, p);
    let symbol = bytes32_text(token.symbol().call().await.unwrap_or_default());
    let decimals: u8 = token.decimals().call().await.map(|d| d.saturating_to()).unwrap_or(18);

    let block =
        p.get_block_by_number(Default::default()).await?.context("the node returned no latest block")?;
    let now = block.header.timestamp;
    let activated_at: u64 = defender.activatedAt().call().await?.saturating_to();
    let cancel_duration: u64 = defender.cancelDuration().call().await?.saturating_to();
    let spell = defender.spell().call().await?;
    let hat = chief.hat().call().await?;
    let esm_addr = defender.esm().call().await?;
    let esm = ESM::new(esm_addr, p);

    let status = Status {
        chain_id: connection.chain_id,
        block: block.header.number,
        timestamp: now,
        token: Token { address: gov, symbol, decimals },
        defender: Defender {
            address: defender_addr,
            live: defender.live().call().await? == U256::from(1),
            released: defender.released().call().await? == U256::from(1),
            threshold: defender.threshold().call().await?,
            total: defender.total().call().await?,
            cancel_duration,
            lockup_duration: defender.lockupDuration().call().await?.saturating_to(),
            activated_at: (activated_at != 0).then_some(activated_at),
            canceling_until: (activated_at != 0).then_some(activated_at + cancel_duration),
            canceling: defender.canceling().call().await?,
            default_spell: spell,
        },
        chief: Chief {
            address: chief_addr,
            hat,
            hat_approvals: chief.approvals(hat).call().await?,
            default_spell_approvals: chief.approvals(spell).call().await?,
        },
        esm: Esm {
            address: esm_addr,
            sum: esm.Sum().call().await?,
            min: esm.min().call().await?,
            live: esm.live().call().await? == U256::from(1),
        },
    };

    if global.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print(&status);
    }
    Ok(ExitCode::SUCCESS)
}

fn print(s: &Status) {
    let amount = |wad: U256| format!("{} {}", format_token(wad, s.token.decimals), s.token.symbol);
    let d = &s.defender;
    println!("chain {} at block {}", s.chain_id, s.block);
    println!("defender {}", d.address);
    let state = match (d.live, d.canceling, d.activated_at) {
        (false, _, _) => "caged (replaced by a newer instance)".to_owned(),
        (true, true, _) => format!(
            "CANCELING: anyone can drop queued plans for {}",
            format_duration(d.canceling_until.unwrap_or(0).saturating_sub(s.timestamp))
        ),
        (true, false, Some(_)) => "activated; the cancel window is over".to_owned(),
        (true, false, None) => "live, not activated".to_owned(),
    };
    println!("  state        {state}{}", if d.released { "; deposits released early" } else { "" });
    let percent = if d.threshold.is_zero() {
        0.0
    } else {
        (d.total * U256::from(10_000) / d.threshold).saturating_to::<u64>() as f64 / 100.0
    };
    println!("  deposits     {} of {} threshold ({percent:.2}%)", amount(d.total), amount(d.threshold));
    println!(
        "  windows      cancel {}, lockup {}",
        format_duration(d.cancel_duration),
        format_duration(d.lockup_duration)
    );
    println!("  default spell {}", d.default_spell);
    let c = &s.chief;
    println!("chief {}", c.address);
    println!("  hat          {} with {}", c.hat, amount(c.hat_approvals));
    println!("  default spell has {}", amount(c.default_spell_approvals));
    println!("ESM {}", s.esm.address);
    println!(
        "  joined       {} of {} needed to fire{}",
        amount(s.esm.sum),
        amount(s.esm.min),
        if s.esm.live { "" } else { " (disabled)" }
    );
}

/// DSToken's bytes32 symbol as text.
fn bytes32_text(word: B256) -> String {
    String::from_utf8_lossy(&word.0).trim_end_matches('\0').to_owned()
}
