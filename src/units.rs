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
    use serde::Serializer;

    pub fn serialize<S: Serializer>(value: &U256, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }
}
