//! `defender status`: the live defender, the governance state around it, and your position.
//! One HTTP request: everything comes from the DefenderLens snapshot.

use std::process::ExitCode;

use alloy::primitives::{Address, U256};
use anyhow::Result;
use clap::Args;
use serde_json::json;

use crate::chain::governance::{CancelRoute, ChiefKind, LiftWindow};
use crate::chain::snapshot::{Prepared, Reads, prepare};
use crate::chain::{discovery, rpc};
use crate::cli::GlobalArgs;
use crate::units::{format_duration, format_token};

#[derive(Debug, Args)]
pub struct StatusArgs {}

pub async fn run(global: &GlobalArgs, _args: &StatusArgs) -> Result<ExitCode> {
    let connection = rpc::connect(&global.rpc_url).await?;
    let sources = discovery::resolve(&global.wanted())?;
    let reads = Reads { user: global.from, ..Reads::default() };
    let prepared = prepare(&connection, &sources, global.chain, &reads).await?;
    if global.json {
        println!("{}", serde_json::to_string_pretty(&to_json(&prepared, global.from))?);
    } else {
        print(&prepared, global.from);
    }
    Ok(ExitCode::SUCCESS)
}

fn dec(value: U256) -> String {
    value.to_string()
}

/// The `--json` document (docs/cli.md): amounts as decimal strings in base units.
pub fn to_json(p: &Prepared, user: Option<Address>) -> serde_json::Value {
    let s = &p.snapshot;
    let d = &s.defender;
    let defender = s.has_defender().then(|| {
        json!({
            "address": s.at.defender,
            "live": d.live == U256::from(1),
            "released": d.released == U256::from(1),
            "threshold": dec(d.threshold),
            "total": dec(d.total),
            "cancel_duration": d.cancelDuration.saturating_to::<u64>(),
            "lockup_duration": d.lockupDuration.saturating_to::<u64>(),
            "activated_at": (!d.activatedAt.is_zero()).then(|| d.activatedAt.saturating_to::<u64>()),
            "canceling_until": s.canceling_until(),
            "canceling": d.canceling,
            "default_spell": d.spell,
            "default_spell_eta": (!d.spellEta.is_zero()).then(|| d.spellEta.saturating_to::<u64>()),
            "default_spell_done": d.spellDone,
        })
    });
    let position = user.map(|address| {
        let u = &s.user;
        json!({
            "address": address,
            "eth": dec(u.ethBalance),
            "balance": dec(u.govBalance),
            "chief_deposit": dec(u.chiefDeposits),
            "slate": u.yays,
            "defender_deposit": dec(u.deposit),
            "mkr": (s.at.mkr != Address::ZERO).then(|| dec(u.mkrBalance)),
            "legacy_chief_deposit": s.has_legacy_chief().then(|| dec(u.legacyDeposits)),
            "unlock_at": (!u.unlockAt.is_zero()).then(|| u.unlockAt.saturating_to::<u64>()),
        })
    });
    json!({
        "chain_id": p.chain_id,
        "block": s.block.number.saturating_to::<u64>(),
        "timestamp": s.now(),
        "token": { "address": s.at.gov, "symbol": s.symbol(), "decimals": s.decimals() },
        "defender": defender,
        "chief": {
            "address": s.at.chief,
            "kind": s.chief_kind(),
            "hat": s.gov.hat,
            "hat_approvals": dec(s.gov.hatApprovals),
            "default_spell_approvals": dec(d.spellApprovals),
            "max_yays": s.gov.maxYays.saturating_to::<u64>(),
            "last": s.is_sky().then(|| s.gov.last.saturating_to::<u64>()),
            "lift_cooldown": s.is_sky().then(|| s.gov.liftCooldown.saturating_to::<u64>()),
            "lift_possible_from": match s.lift_window() {
                LiftWindow::From(block) => Some(block),
                _ => None,
            },
        },
        "legacy_chief": s.has_legacy_chief().then_some(s.at.legacyChief),
        "mkr": (s.at.mkr != Address::ZERO).then(|| json!({
            "address": s.at.mkr,
            "converter": (s.at.mkrSky != Address::ZERO).then_some(s.at.mkrSky),
            "rate": dec(s.gov.mkrSkyRate),
            "fee": dec(s.gov.mkrSkyFee),
        })),
        "cancel_route": route_name(s.cancel_route()),
        "pause": { "address": s.at.pause, "delay": s.gov.pauseDelay.saturating_to::<u64>() },
        "esm": {
            "address": s.at.esm,
            "sum": dec(s.gov.esmSum),
            "min": dec(s.gov.esmMin),
            "live": s.gov.esmLive == U256::from(1),
            "can_fire": s.esm_can_fire(),
            "switched_off": s.gov.esmMin == U256::MAX,
        },
        "protego": (s.at.protego != Address::ZERO).then(|| json!({
            "address": s.at.protego,
            "approvals": dec(s.gov.protegoApprovals),
            "is_hat": s.gov.hat == s.at.protego,
        })),
        "position": position,
    })
}

fn print(p: &Prepared, user: Option<Address>) {
    let s = &p.snapshot;
    let (symbol, decimals) = (s.symbol(), s.decimals());
    let amount = |wad: U256| format!("{} {symbol}", format_token(wad, decimals));
    let now = s.now();
    println!("chain {} at block {}", p.chain_id, s.block.number);
    if s.has_defender() {
        let d = &s.defender;
        println!("defender {}", s.at.defender);
        let state = if d.live != U256::from(1) {
            "caged (replaced by a newer instance)".to_owned()
        } else if d.canceling {
            let left = s.canceling_until().unwrap_or(now).saturating_sub(now);
            format!("CANCELING: anyone can drop queued plans for {}", format_duration(left))
        } else if !d.activatedAt.is_zero() {
            "activated; the cancel window is over".to_owned()
        } else {
            "live, not activated".to_owned()
        };
        let released = if d.released == U256::from(1) { "; deposits released early" } else { "" };
        println!("  state          {state}{released}");
        let percent = if d.threshold.is_zero() {
            0.0
        } else {
            (d.total * U256::from(10_000) / d.threshold).saturating_to::<u64>() as f64 / 100.0
        };
        println!("  deposits       {} of {} ({percent:.2}%)", amount(d.total), amount(d.threshold));
        println!(
            "  windows        cancel {}, lockup {}",
            format_duration(d.cancelDuration.saturating_to()),
            format_duration(d.lockupDuration.saturating_to())
        );
        let spell_state = match (d.spellDone, d.spellEta.is_zero()) {
            (true, _) => "cast".to_owned(),
            (false, false) => format!("scheduled, castable at {}", d.spellEta),
            (false, true) => "not scheduled".to_owned(),
        };
        println!("  default spell  {} ({spell_state})", d.spell);
        println!(
            "    approvals    {} vs the hat's {}{}",
            amount(d.spellApprovals),
            amount(s.gov.hatApprovals),
            if d.spell == s.gov.hat { " (it is the hat)" } else { "" }
        );
    } else {
        println!("no dss-defender on this chain (MCD_DEFENDER is not set)");
    }
    let kind = s.chief_kind().map(ChiefKind::describe).unwrap_or("not a chief defender knows");
    println!("chief {}: {kind}, voting with {symbol}", s.at.chief);
    let hat_name = if s.gov.hat == s.at.protego && s.at.protego != Address::ZERO { " (Protego)" } else { "" };
    println!("  hat            {}{hat_name} with {}", s.gov.hat, amount(s.gov.hatApprovals));
    if s.is_sky() {
        let last = s.gov.last.saturating_to::<u64>();
        let lift = match s.lift_window() {
            LiftWindow::From(block) => {
                format!("a lift is possible from block {block}, in {} blocks", block - s.next_block() + 1)
            }
            _ => "a lift is possible now".to_owned(),
        };
        println!("  last lift      block {last} (cooldown {} blocks): {lift}", s.gov.liftCooldown);
    }
    if s.at.protego != Address::ZERO {
        let state = match s.cancel_route() {
            CancelRoute::Protego => "it is the hat: anyone can drop any queued plan".to_owned(),
            CancelRoute::DropSpell(spell) => format!("a drop spell it made is the hat ({spell})"),
            _ => {
                let short = s.gov.hatApprovals.saturating_sub(s.gov.protegoApprovals) + U256::from(1);
                format!("not the hat; it needs {} more to be lifted", amount(short))
            }
        };
        println!("protego {} with {}: {state}", s.at.protego, amount(s.gov.protegoApprovals));
    }
    if s.has_mkr_converter() {
        let fee = s.gov.mkrSkyFee * U256::from(10_000) / crate::units::WAD;
        println!(
            "MKR {} converts one way to {symbol} at {} {symbol} per MKR, fee {:.2}% ({})",
            s.at.mkr,
            format_token(s.gov.mkrSkyRate, 0),
            fee.saturating_to::<u64>() as f64 / 100.0,
            s.at.mkrSky
        );
    }
    if s.has_legacy_chief() {
        println!("legacy chief {}: DSChief 1.2, MKR can still be freed from it", s.at.legacyChief);
    }
    println!("pause {} (delay {})", s.at.pause, format_duration(s.gov.pauseDelay.saturating_to()));
    let gem = if s.is_sky() { "MKR" } else { symbol.as_str() };
    let esm_amount = |wad: U256| format!("{} {gem}", format_token(wad, decimals));
    if s.esm_can_fire() {
        println!(
            "ESM {}: {} joined of {} to fire",
            s.at.esm,
            esm_amount(s.gov.esmSum),
            esm_amount(s.gov.esmMin)
        );
    } else if s.gov.esmMin == U256::MAX {
        println!(
            "ESM {}: switched off (min is infinite): it can never fire, and {gem} sent to it is lost ({} joined)",
            s.at.esm,
            esm_amount(s.gov.esmSum)
        );
    } else {
        println!("ESM {}: caged, it can no longer fire ({} joined)", s.at.esm, esm_amount(s.gov.esmSum));
    }
    if let Some(address) = user {
        let u = &s.user;
        println!("you {address}");
        println!("  wallet         {} and {} ETH", amount(u.govBalance), format_token(u.ethBalance, 18));
        if s.at.mkr != Address::ZERO {
            println!("  MKR            {}", format_token(u.mkrBalance, 18));
        }
        println!("  chief          {} locked, voting for {:?}", amount(u.chiefDeposits), u.yays);
        if s.has_legacy_chief() {
            println!(
                "  legacy chief   {} MKR locked (free it with `defender free --legacy-chief all`)",
                format_token(u.legacyDeposits, 18)
            );
        }
        if s.has_defender() {
            let unlock = u.unlockAt.saturating_to::<u64>();
            let lock = if u.deposit.is_zero() {
                String::new()
            } else if unlock > now {
                format!(", locked for {}", format_duration(unlock - now))
            } else {
                ", withdrawable".to_owned()
            };
            println!("  defender       {} deposited{lock}", amount(u.deposit));
        }
    }
}

fn route_name(route: CancelRoute) -> serde_json::Value {
    match route {
        CancelRoute::Defender { until } => json!({ "via": "defender", "until": until }),
        CancelRoute::Protego => json!({ "via": "protego" }),
        CancelRoute::DropSpell(spell) => json!({ "via": "drop_spell", "spell": spell }),
        CancelRoute::Closed => json!(null),
    }
}
