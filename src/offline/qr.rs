//! Terminal QR codes of signed transactions, to carry them off an air-gapped machine with a
//! phone camera. Each code holds `0x` + the raw transaction in lowercase hex, as
//! `cast publish` and `eth_sendRawTransaction` take it.

use qrcode::render::unicode::Dense1x2;
use qrcode::{EcLevel, QrCode};

/// Error correction: level M survives a glare or a smudge on a screen photo.
pub const LEVEL: EcLevel = EcLevel::M;
/// The most characters one code holds at [`LEVEL`] (version 40, byte mode).
pub const MAX_CHARS: usize = 2331;

/// A rendered code, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Qr {
    /// The code as text (two modules per character row), and its size in modules.
    Code { text: String, modules: usize },
    /// Too many characters for one code.
    TooLarge { chars: usize },
}

/// The QR code of `payload`: light modules drawn as blocks, for terminals with a dark background
/// (most of them), with the quiet zone around it that scanners need.
pub fn render(payload: &str) -> Qr {
    match QrCode::with_error_correction_level(payload.as_bytes(), LEVEL) {
        Ok(code) => {
            let modules = code.width();
            let text = code
                .render::<Dense1x2>()
                .dark_color(Dense1x2::Light)
                .light_color(Dense1x2::Dark)
                .quiet_zone(true)
                .build();
            Qr::Code { text, modules }
        }
        // Byte mode at level M takes any bytes: the only failure is length.
        Err(_) => Qr::TooLarge { chars: payload.len() },
    }
}

/// The version (1 to 40) a code of `modules` modules has.
pub fn version_of(modules: usize) -> usize {
    (modules.saturating_sub(17)) / 4
}

/// The text block for one transaction: a heading, then the code or why there is none.
pub fn block(index: usize, total: usize, hash: &str, raw_hex: &str) -> String {
    match render(raw_hex) {
        Qr::Code { text, modules } => format!(
            "transaction {index} of {total} ({hash}): {} characters, QR version {} ({modules}×{modules} modules)\n{text}\n",
            raw_hex.len(),
            version_of(modules)
        ),
        Qr::TooLarge { chars } => format!(
            "transaction {index} of {total} ({hash}) is too large for one QR code: {chars} characters, and one \
             code holds at most {MAX_CHARS}; move it as a file instead (--raw-out FILE on a USB stick)\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_or_says_it_does_not() {
        let small = format!("0x{}", "ab".repeat(110));
        let Qr::Code { text, modules } = render(&small) else { panic!("a small transaction fits") };
        assert!(text.contains('█') || text.contains('▀') || text.contains('▄'));
        assert_eq!(
            text.lines().count(),
            (modules + 8).div_ceil(2),
            "two modules per line, 4-module quiet zone"
        );
        let limit = format!("0x{}", "a".repeat(MAX_CHARS - 2));
        assert!(
            matches!(render(&limit), Qr::Code { modules: 177, .. }),
            "version 40 holds exactly the limit"
        );
        let over = format!("0x{}", "a".repeat(MAX_CHARS - 1));
        assert_eq!(render(&over), Qr::TooLarge { chars: MAX_CHARS + 1 });
        assert!(block(2, 3, "0xabc", &over).contains("too large for one QR code"));
    }
}
