//! convert: MKR into SKY through MKR_SKY, the one-way converter (for a fee), so MKR can vote
//! in the new Chief.

use alloy::primitives::U256;

use super::{Call, Plan, PlanResult, Tokens, approval_if_needed, refuse};
use crate::chain::bindings::MkrSky;
use crate::chain::snapshot::Snapshot;
use crate::units::{Amount, WAD};

/// What a conversion of `mkr` yields: (gross SKY, the fee kept, SKY received).
pub fn quote(s: &Snapshot, mkr: U256) -> (U256, U256, U256) {
    let gross = mkr * s.gov.mkrSkyRate;
    let fee = gross * s.gov.mkrSkyFee / WAD;
    (gross, fee, gross - fee)
}

pub fn plan(s: &Snapshot, to: alloy::primitives::Address, amount: Amount, approve_max: bool) -> PlanResult {
    if !s.has_mkr_converter() {
        return refuse("this chain has no MKR to SKY converter (MKR_SKY): MKR is the voting token here");
    }
    let mkr = Tokens::mkr(s);
    let sky = Tokens::voting(s);
    let wad = mkr.resolve(amount, s.user.mkrBalance, "in your wallet")?;
    let (gross, fee, received) = quote(s, wad);
    if s.gov.mkrSkyBalance < received {
        return refuse(format!(
            "the converter holds only {} of the {} this conversion pays out: it would revert",
            sky.fmt(s.gov.mkrSkyBalance),
            sky.fmt(received)
        ));
    }
    let mut calls = Vec::new();
    calls.extend(approval_if_needed(
        s.at.mkrSky,
        "the converter",
        s.user.mkrAllowanceMkrSky,
        wad,
        approve_max,
        &mkr,
    ));
    calls.push(Call::new(
        format!("convert {} into {}", mkr.fmt(wad), sky.fmt(received)),
        s.at.mkrSky,
        MkrSky::mkrToSkyCall { usr: to, mkrAmt: wad },
    ));
    let percent = (s.gov.mkrSkyFee * U256::from(10_000) / WAD).saturating_to::<u64>() as f64 / 100.0;
    let warnings = vec![
        format!(
            "rate {} {} per MKR: {} gross, fee {percent:.2}% = {}, you receive {}",
            crate::units::format_token(s.gov.mkrSkyRate, 0),
            sky.symbol,
            sky.fmt(gross),
            sky.fmt(fee),
            sky.fmt(received)
        ),
        "one way: SKY can never be converted back into MKR".into(),
    ];
    Ok(Plan {
        action: "convert",
        summary: format!("convert {} into {}", mkr.fmt(wad), sky.fmt(received)),
        calls,
        warnings,
        irreversible: false,
    })
}
