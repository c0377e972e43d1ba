//! Token amounts and durations as people read them.

use alloy::primitives::U256;
use alloy::primitives::utils::format_units;

/// 10^18: MKR and every wad amount have 18 decimals.
pub const WAD: U256 = U256::from_limbs([1_000_000_000_000_000_000, 0, 0, 0]);

/// `amount` in whole tokens with thousands separators and no trailing zeros: `50,000`, `1.5`.
pub fn format_token(amount: U256, decimals: u8) -> String {
    let text = format_units(amount, decimals).unwrap_or_else(|_| amount.to_string());
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let fraction = fraction.trim_end_matches('0');
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if fraction.is_empty() { grouped } else { format!("{grouped}.{fraction}") }
}

/// Wei per gas as the fee lines print it: `1.000997942 gwei`.
pub fn gwei(wei: u128) -> String {
    format!("{} gwei", format_token(U256::from(wei), 9))
}

/// A duration in the largest units that keep it exact enough to read: `7d`, `48h`, `1d 2h`.
pub fn format_duration(seconds: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    if seconds == 0 {
        return "0s".into();
    }
    let mut rest = seconds;
    let mut parts = Vec::new();
    for (size, unit) in UNITS {
        if rest >= size {
            parts.push(format!("{}{unit}", rest / size));
            rest %= size;
        }
        if parts.len() == 2 {
            break;
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_tokens() {
        assert_eq!(format_token(U256::from(50_000u64) * WAD, 18), "50,000");
        assert_eq!(format_token(WAD + WAD / U256::from(2), 18), "1.5");
        assert_eq!(format_token(U256::ZERO, 18), "0");
        assert_eq!(format_token(U256::from(1u64), 18), "0.000000000000000001");
        assert_eq!(format_token(U256::from(1_234_567u64) * WAD, 18), "1,234,567");
    }

    #[test]
    fn formats_durations() {
        assert_eq!(format_duration(7 * 86_400), "7d");
        assert_eq!(format_duration(48 * 3_600), "2d");
        assert_eq!(format_duration(90_000), "1d 1h");
        assert_eq!(format_duration(59), "59s");
    }
}

/// Serializes a `U256` as a decimal string in base units, the form `--json` output uses for
/// every amount (hex quantities are easy to misread; JSON numbers lose precision past 2^53).
pub mod decimal {
    use alloy::primitives::U256;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &U256, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    /// Reads back only what `serialize` writes: digits, no sign, no leading zero.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
        let text = String::deserialize(d)?;
        check_digits(&text).map_err(serde::de::Error::custom)?;
        U256::from_str_radix(&text, 10)
            .map_err(|_| serde::de::Error::custom(format!("{text:?} is too large for 256 bits")))
    }

    /// A decimal amount as `--json` and bundles write it.
    pub fn check_digits(text: &str) -> Result<(), String> {
        let ok = !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_digit())
            && (text == "0" || !text.starts_with('0'))
            && text.len() <= 78;
        if ok {
            Ok(())
        } else {
            Err(format!("{text:?} is not a decimal amount in wei (digits only, as a string)"))
        }
    }
}

/// An amount the user typed: a number of tokens, or everything available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    All,
    Exact(U256),
}

/// Parses `1.5`, `50000`, `50_000`, `50,000` or `all` into base units of a token with
/// `decimals` decimals. Every rejection says what was wrong and what is accepted.
pub fn parse_amount(text: &str, decimals: u8, symbol: &str) -> Result<Amount, String> {
    let trimmed = text.trim();
    if trimmed.eq_ignore_ascii_case("all") {
        return Ok(Amount::All);
    }
    // 10^78 exceeds 2^256: such a token's units cannot be computed (they would wrap around).
    if decimals > 77 {
        return Err(format!(
            "{text:?} cannot be read: {symbol} claims {decimals} decimals, more than 256-bit amounts hold"
        ));
    }
    let cleaned: String = trimmed.chars().filter(|c| !matches!(c, '_' | ',')).collect();
    if cleaned.starts_with('-') {
        return Err(format!("{text:?} is negative: give a positive amount of {symbol}, or `all`"));
    }
    let (whole, fraction) = cleaned.split_once('.').unwrap_or((&cleaned, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return Err(format!(
            "{text:?} is not an amount: write a number of {symbol} such as 1.5 or 50000, or `all`"
        ));
    }
    if fraction.len() > decimals as usize {
        return Err(format!(
            "{text:?} has {} decimals, but {symbol} has only {decimals}: round it",
            fraction.len()
        ));
    }
    let scale = U256::from(10u64).pow(U256::from(decimals));
    let parse = |s: &str| if s.is_empty() { Ok(U256::ZERO) } else { U256::from_str_radix(s, 10) };
    let too_big = || format!("{text:?} is too large to be an amount of {symbol}");
    let whole = parse(whole).map_err(|_| too_big())?;
    let mut fraction_units = parse(fraction).map_err(|_| too_big())?;
    fraction_units *= U256::from(10u64).pow(U256::from(decimals as usize - fraction.len()));
    let value = whole.checked_mul(scale).and_then(|v| v.checked_add(fraction_units)).ok_or_else(too_big)?;
    if value.is_zero() {
        return Err(format!("{text:?} is zero: give a positive amount of {symbol}, or `all`"));
    }
    Ok(Amount::Exact(value))
}

#[cfg(test)]
mod amount_tests {
    use super::*;

    fn exact(text: &str) -> U256 {
        match parse_amount(text, 18, "MKR").unwrap() {
            Amount::Exact(v) => v,
            Amount::All => panic!("all"),
        }
    }

    #[test]
    fn parses_what_people_type() {
        assert_eq!(exact("1.5"), WAD + WAD / U256::from(2));
        assert_eq!(exact("50000"), U256::from(50_000u64) * WAD);
        assert_eq!(exact("50,000"), U256::from(50_000u64) * WAD);
        assert_eq!(exact(".5"), WAD / U256::from(2));
        assert_eq!(exact("0.000000000000000001"), U256::from(1));
        assert_eq!(parse_amount("ALL", 18, "MKR"), Ok(Amount::All));
    }

    #[test]
    fn rejects_with_a_reason() {
        let err = |t: &str| parse_amount(t, 18, "MKR").unwrap_err();
        assert!(err("0.0000000000000000001").contains("decimals"));
        assert!(err("-1").contains("negative"));
        assert!(err("0").contains("zero"));
        assert!(err("0.0").contains("zero"));
        assert!(err("1e18").contains("not an amount"));
        assert!(err("").contains("not an amount"));
        assert!(err(".").contains("not an amount"));
        assert!(err("1.2.3").contains("not an amount"));
        assert!(err(&"9".repeat(80)).contains("too large"));
    }
}
