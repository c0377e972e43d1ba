//! esm: move a deposit into the ESM, join it straight from the wallet, or fire it.
//! Every join is irreversible: the ESM burns what it holds.

use alloy::primitives::U256;

use super::{Call, Plan, PlanResult, Tokens, approval_if_needed, refuse};
use crate::chain::bindings::{DssDefender, ESM};
use crate::chain::snapshot::Snapshot;
use crate::units::Amount;

/// Where the tokens for the ESM come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `moveToEsm` from the defender deposit (allowed during the lockup).
    Deposit,
    /// approve + `join` from the wallet.
    Wallet { approve_max: bool },
}

fn refuse_dead_esm(s: &Snapshot) -> Result<(), super::Refusal> {
    if s.gov.esmLive != U256::from(1) {
        return refuse("the ESM is caged or disabled on this chain: joining it is refused");
    }
    if s.gov.esmMin == U256::MAX {
        return refuse(format!(
            "the ESM on this chain is switched off (its min is 2^256-1, as on mainnet since 2025): \
             {} sent there is lost and no emergency shutdown can follow",
            Tokens::esm_gem(s).symbol
        ));
    }
    Ok(())
}

pub fn plan_join(s: &Snapshot, amount: Amount, source: Source) -> PlanResult {
    let t = Tokens::esm_gem(s);
    refuse_dead_esm(s)?;
    let (wad, calls) = match source {
        Source::Deposit => {
            if !s.has_defender() {
                return refuse(
                    "there is no dss-defender on this chain: use --direct to join from your wallet",
                );
            }
            let wad = t.resolve(amount, s.user.deposit, "deposited in the defender")?;
            let call = Call::new(
                format!("move {} from the defender into the ESM", t.fmt(wad)),
                s.at.defender,
                DssDefender::moveToEsmCall { wad },
            );
            (wad, vec![call])
        }
        Source::Wallet { approve_max } => {
            let wad = t.resolve(amount, s.user.esmGemBalance, "in your wallet")?;
            let mut calls = Vec::new();
            calls.extend(approval_if_needed(
                s.at.esm,
                "the ESM",
                s.user.govAllowanceEsm,
                wad,
                approve_max,
                &t,
            ));
            calls.push(Call::new(
                format!("join the ESM with {}", t.fmt(wad)),
                s.at.esm,
                ESM::joinCall { wad },
            ));
            (wad, calls)
        }
    };
    let after = s.gov.esmSum + wad;
    let mut warnings =
        vec![format!("IRREVERSIBLE: {} sent to the ESM is never returned; anyone can burn it", t.fmt(wad))];
    warnings.push(if after >= s.gov.esmMin {
        format!(
            "the ESM reaches its minimum ({} of {}): anyone can then fire emergency shutdown",
            t.fmt(after),
            t.fmt(s.gov.esmMin)
        )
    } else {
        format!("the ESM will hold {} of the {} needed to fire", t.fmt(after), t.fmt(s.gov.esmMin))
    });
    Ok(Plan {
        action: "esm",
        summary: format!("put {} into the ESM (burned)", t.fmt(wad)),
        calls,
        warnings,
        irreversible: true,
    })
}

pub fn plan_fire(s: &Snapshot) -> PlanResult {
    let t = Tokens::esm_gem(s);
    refuse_dead_esm(s)?;
    if s.gov.esmSum < s.gov.esmMin {
        return refuse(format!(
            "the ESM holds {} of the {} it needs to fire",
            t.fmt(s.gov.esmSum),
            t.fmt(s.gov.esmMin)
        ));
    }
    Ok(Plan {
        action: "esm",
        summary: "fire the ESM: emergency shutdown of the protocol".into(),
        calls: vec![Call::new("fire the ESM (emergency shutdown)", s.at.esm, ESM::fireCall {})],
        warnings: vec!["IRREVERSIBLE: emergency shutdown cannot be undone".into()],
        irreversible: true,
    })
}
