//! The saved setup (`defender setup`): the RPC URL, the chain it must answer, the signer with
//! its derivation path, and the account, kept in `config.toml` so that a holder under pressure
//! does not retype them, or type a wrong path and sign as another account. A flag or an
//! environment variable always wins, and no secret is ever written here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use clap::ArgMatches;
use clap::parser::ValueSource;
use serde::{Deserialize, Serialize};

use crate::cli::Cli;

/// What `defender setup` keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc_url: Option<String>,
    /// The chain id the RPC answered when the setup was saved; commands refuse another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<u64>,
    /// The account: the one the signer derived when the setup was saved.
    #[serde(default, skip_serializing_if = "Option::is_none", serialize_with = "checksummed")]
    pub from: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<SavedSigner>,
}

/// An address as people compare it (EIP-55), not in lower case.
fn checksummed<S: serde::Serializer>(address: &Option<Address>, s: S) -> Result<S::Ok, S::Error> {
    match address {
        Some(a) => s.serialize_str(&a.to_checksum(None)),
        None => s.serialize_none(),
    }
}

/// A signer, by where it is: never a key or a password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum SavedSigner {
    Ledger {
        hd_path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        speculos: Option<SocketAddr>,
    },
    Trezor {
        hd_path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trezor_emulator: Option<SocketAddr>,
    },
    Keystore {
        file: PathBuf,
    },
}

impl SavedSigner {
    pub fn describe(&self) -> String {
        match self {
            SavedSigner::Ledger { hd_path, speculos: None } => format!("Ledger {hd_path}"),
            SavedSigner::Ledger { hd_path, speculos: Some(at) } => {
                format!("Ledger {hd_path} (Speculos {at})")
            }
            SavedSigner::Trezor { hd_path, trezor_emulator: None } => format!("Trezor {hd_path}"),
            SavedSigner::Trezor { hd_path, trezor_emulator: Some(at) } => {
                format!("Trezor {hd_path} (emulator {at})")
            }
            SavedSigner::Keystore { file } => format!("keystore {}", file.display()),
        }
    }
}

/// Where the setup lives: `$DEFENDER_CONFIG`, else `$XDG_CONFIG_HOME/defender/config.toml`,
/// else `~/.config/defender/config.toml`.
pub fn path() -> Option<PathBuf> {
    crate::dirs::from_env("DEFENDER_CONFIG")
        .or_else(|| crate::dirs::defender_dir("XDG_CONFIG_HOME", ".config").map(|d| d.join("config.toml")))
}

/// The saved setup at `path`, if there is one.
pub fn load(path: &Path) -> Result<Option<Setup>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("the setup {} cannot be read: {e}", path.display())),
    };
    toml::from_str(&text).map(Some).map_err(|e| {
        format!(
            "the setup {} is not one defender wrote: {e}\nfix it, or save it again with `defender setup`, or remove it \
             with `defender setup --forget`",
            path.display()
        )
    })
}

/// The file's text: the settings, under a line saying what overrides them.
pub fn render(setup: &Setup) -> String {
    let body = toml::to_string(setup).expect("a setup serializes");
    format!(
        "# defender's saved setup, written by `defender setup`: every command uses it unless a flag or an\n\
         # environment variable says otherwise. It holds no key and no password.\n{body}"
    )
}

/// One setting and where its value came from, for the line above the preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub what: &'static str,
    pub value: String,
    pub from_setup: bool,
}

/// Whether the user set `id` on the command line or in the environment.
fn given(matches: &ArgMatches, id: &str) -> bool {
    let here = |m: &ArgMatches| {
        m.try_get_raw(id).is_ok()
            && matches!(m.value_source(id), Some(ValueSource::CommandLine | ValueSource::EnvVariable))
    };
    here(matches) || matches.subcommand().is_some_and(|(_, sub)| here(sub))
}

/// Fills in what the command line and the environment left open. The signer and the account
/// go together: a signer or `--from` named here sets both aside. A bundle built with
/// `--unsigned-out` needs no signer, so only the account is taken then.
pub fn apply(cli: &mut Cli, matches: &ArgMatches, setup: &Setup) -> Result<Vec<Setting>, String> {
    let mut settings = Vec::new();
    let mut note = |what, value: String, from_setup| settings.push(Setting { what, value, from_setup });
    let g = &mut cli.global;
    let saved_rpc = match &setup.rpc_url {
        Some(url) if !given(matches, "rpc_url") => {
            g.rpc_url = url.clone();
            note("rpc-url", url.clone(), true);
            true
        }
        _ => {
            note("rpc-url", g.rpc_url.clone(), false);
            false
        }
    };
    // The chain is the saved RPC's: another RPC named here is checked against nothing saved.
    if let Some(chain) = setup.chain
        && saved_rpc
        && !given(matches, "chain")
        && g.chain.is_none()
    {
        g.chain = Some(chain);
        note("chain", chain.to_string(), true);
    }
    // A typed account path is a signer choice too: the saved signer's path must not replace it.
    let signer_given =
        ["keystore", "private_key_env", "ledger", "trezor", "hd_path", "ledger_live", "legacy"]
            .iter()
            .any(|id| given(matches, id));
    if signer_given || given(matches, "from") {
        return Ok(settings);
    }
    if let Some(from) = setup.from {
        g.from = Some(from);
        note("from", from.to_string(), true);
    }
    let Some(signer) = setup.signer.as_ref().filter(|_| cli.offline.unsigned_out.is_none()) else {
        return Ok(settings);
    };
    let args = &mut cli.signer;
    let path_of = |text: &str| {
        text.parse().map_err(|e| format!("the saved hd_path {text:?} is not a derivation path ({e})"))
    };
    match signer {
        SavedSigner::Ledger { hd_path, speculos } => {
            args.ledger = true;
            args.speculos = *speculos;
            args.path.hd_path = Some(path_of(hd_path)?);
        }
        SavedSigner::Trezor { hd_path, trezor_emulator } => {
            args.trezor = true;
            args.trezor_emulator = *trezor_emulator;
            args.path.hd_path = Some(path_of(hd_path)?);
        }
        SavedSigner::Keystore { file } => args.keystore = Some(file.clone()),
    }
    args.path.ledger_live = None;
    args.path.legacy = None;
    note("signer", signer.describe(), true);
    Ok(settings)
}

/// "using the setup in FILE: rpc-url … · signer … · from …", or nothing when none was taken.
pub fn summary(file: &Path, settings: &[Setting]) -> Option<String> {
    if !settings.iter().any(|s| s.from_setup) {
        return None;
    }
    let parts: Vec<String> = settings
        .iter()
        .map(|s| {
            let source = if s.from_setup { "" } else { " (given here)" };
            format!("{} {}{source}", s.what, s.value)
        })
        .collect();
    Some(format!(
        "using the setup in {}: {} (a flag or environment variable overrides it)",
        file.display(),
        parts.join(" · ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setup_round_trips_and_holds_no_secret() {
        let setup = Setup {
            rpc_url: Some("http://127.0.0.1:8545".into()),
            chain: Some(1),
            from: Some(Address::repeat_byte(0x11)),
            signer: Some(SavedSigner::Ledger { hd_path: "m/44'/60'/0'/0/1".into(), speculos: None }),
        };
        let text = render(&setup);
        assert_eq!(toml::from_str::<Setup>(&text).unwrap(), setup);
        assert!(text.contains("kind = \"ledger\""), "{text}");
        let edited = text.replace("kind = \"ledger\"", "kind = \"ledger\"\nprivate_key = \"0x01\"");
        assert!(toml::from_str::<Setup>(&edited).is_err(), "unknown fields are refused");
    }
}
