//! BIP32 derivation paths for the devices, and the two schemes users mix up: Ledger Live's
//! `m/44'/60'/N'/0/0` and the older `m/44'/60'/0'/N`.

use std::fmt;
use std::str::FromStr;

use clap::Args;

const HARDENED: u32 = 0x8000_0000;
/// The Ledger app and the Trezor firmware accept at most this many elements.
const MAX_DEPTH: usize = 10;

/// A parsed path such as `m/44'/60'/0'/0/0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivationPath(Vec<u32>);

impl DerivationPath {
    /// Ledger Live's account `n` (also MetaMask's and Trezor Suite's scheme).
    pub fn ledger_live(n: u32) -> Self {
        Self(vec![44 | HARDENED, 60 | HARDENED, n | HARDENED, 0, 0])
    }

    /// The older Ledger scheme (MyEtherWallet, the Chrome app): account `n`.
    pub fn legacy(n: u32) -> Self {
        Self(vec![44 | HARDENED, 60 | HARDENED, HARDENED, n])
    }

    pub fn elements(&self) -> &[u32] {
        &self.0
    }
}

impl Default for DerivationPath {
    fn default() -> Self {
        Self::ledger_live(0)
    }
}

impl fmt::Display for DerivationPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("m")?;
        for e in &self.0 {
            if e & HARDENED != 0 {
                write!(f, "/{}'", e & !HARDENED)?;
            } else {
                write!(f, "/{e}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for DerivationPath {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("bad derivation path {text:?}: {why} (example: m/44'/60'/0'/0/0)");
        let rest = text.trim().strip_prefix("m/").ok_or_else(|| bad("it must start with m/"))?;
        let mut elements = Vec::new();
        for part in rest.split('/') {
            let (digits, hardened) = match part.strip_suffix(['\'', 'h', 'H']) {
                Some(d) => (d, true),
                None => (part, false),
            };
            let n: u32 = digits.parse().map_err(|_| bad(&format!("{part:?} is not an index")))?;
            if n >= HARDENED {
                return Err(bad(&format!("{n} is too large for an index")));
            }
            elements.push(if hardened { n | HARDENED } else { n });
        }
        if elements.len() > MAX_DEPTH {
            return Err(bad("devices accept at most 10 levels"));
        }
        Ok(Self(elements))
    }
}

/// Which key of the device to use; shared by Ledger and Trezor.
#[derive(Debug, Clone, Default, Args)]
pub struct PathArgs {
    /// Derivation path of the device key, e.g. m/44'/60'/0'/0/0 [default: Ledger Live account 0].
    #[arg(long, value_name = "PATH", global = true, conflicts_with_all = ["ledger_live", "legacy"])]
    pub hd_path: Option<DerivationPath>,

    /// Ledger Live account N: m/44'/60'/N'/0/0 (also MetaMask's and Trezor Suite's scheme).
    #[arg(long, value_name = "N", global = true, conflicts_with = "legacy")]
    pub ledger_live: Option<u32>,

    /// Legacy account N: m/44'/60'/0'/N (MyEtherWallet, the old Ledger Chrome app).
    #[arg(long, value_name = "N", global = true)]
    pub legacy: Option<u32>,
}

impl PathArgs {
    pub fn path(&self) -> DerivationPath {
        match (&self.hd_path, self.ledger_live, self.legacy) {
            (Some(path), _, _) => path.clone(),
            (_, Some(n), _) => DerivationPath::ledger_live(n),
            (_, _, Some(n)) => DerivationPath::legacy(n),
            _ => DerivationPath::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_print_as_users_know_them() {
        assert_eq!(DerivationPath::ledger_live(3).to_string(), "m/44'/60'/3'/0/0");
        assert_eq!(DerivationPath::legacy(3).to_string(), "m/44'/60'/0'/3");
    }

    #[test]
    fn parses_and_round_trips() {
        let p: DerivationPath = "m/44'/60'/0'/0/7".parse().unwrap();
        assert_eq!(p.elements(), &[44 | HARDENED, 60 | HARDENED, HARDENED, 0, 7]);
        assert_eq!(p.to_string(), "m/44'/60'/0'/0/7");
        assert_eq!(
            "m/44h/60h/1h".parse::<DerivationPath>().unwrap(),
            DerivationPath(vec![44 | HARDENED, 60 | HARDENED, 1 | HARDENED])
        );
    }

    #[test]
    fn refuses_what_a_device_would() {
        for bad in ["44'/60'", "m/", "m/x", "m/2147483648", "m/1/2/3/4/5/6/7/8/9/10/11", "m/-1"] {
            let err = bad.parse::<DerivationPath>().unwrap_err();
            assert!(err.contains("bad derivation path"), "{bad}: {err}");
        }
    }
}
