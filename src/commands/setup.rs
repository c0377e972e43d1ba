//! `defender setup`: saves the RPC URL, the signer with its path, and the account, after
//! checking them (the RPC answers, on the chain named if one is; the device derives the
//! account), so that the runbook's commands need none of those options.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::session::InputError;
use crate::cli::Cli;
use crate::config::{SavedSigner, Setup};
use crate::offline::files::{self, Replace};
use crate::pipeline::Refused;

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Print the saved setup and where it is, and change nothing.
    #[arg(long, conflicts_with = "forget")]
    pub show: bool,
    /// Remove the saved setup.
    #[arg(long)]
    pub forget: bool,
}

pub async fn run(cli: &Cli, args: &SetupArgs) -> Result<ExitCode> {
    let Some(file) = crate::config::path() else {
        return Err(
            InputError("no place for a setup: set HOME, XDG_CONFIG_HOME or DEFENDER_CONFIG".into()).into()
        );
    };
    let shown = file.display();
    if args.show {
        match crate::config::load(&file).map_err(InputError)? {
            Some(setup) => print!("# {shown}\n{}", crate::config::render(&setup)),
            None => eprintln!(
                "no setup saved ({shown} does not exist): `defender setup` with the options to keep"
            ),
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.forget {
        match std::fs::remove_file(&file) {
            Ok(()) => eprintln!("removed {shown}"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => eprintln!("no setup saved at {shown}"),
            Err(e) => return Err(anyhow::anyhow!("cannot remove {shown}: {e}")),
        }
        return Ok(ExitCode::SUCCESS);
    }

    let g = &cli.global;
    let s = &cli.signer;
    if s.private_key_env.is_some() {
        return Err(InputError(
            "a key in an environment variable is not kept in the setup: save a Ledger, a Trezor or a keystore \
             (its password is asked each time)"
                .into(),
        )
        .into());
    }
    if s.password_file.is_some() {
        return Err(InputError(
            "the setup keeps no password, nor where one is: drop --password-file (the keystore's password is asked \
             each time)"
                .into(),
        )
        .into());
    }
    let signer_named = s.ledger || s.trezor || s.keystore.is_some();
    if !g.rpc_url_given && std::env::var_os("ETH_RPC_URL").is_none() && !signer_named && g.from.is_none() {
        return Err(InputError(
            "nothing to save: name what to keep, e.g. `defender setup --rpc-url URL --ledger --hd-path PATH`"
                .into(),
        )
        .into());
    }

    // The RPC: it must answer, on the chain named if one is.
    let connection = crate::chain::rpc::connect(&g.rpc_url).await?;
    // With the RPC timeout and the shared "cannot reach" advice, as every other command.
    let chain = connection
        .timed(alloy::providers::Provider::get_chain_id(&connection.provider))
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n  nothing was saved"))?;
    if let Some(expected) = g.chain
        && expected != chain
    {
        return Err(Refused(format!(
            "the RPC at {} serves chain {chain}, not {expected}: nothing was saved",
            g.rpc_url
        ))
        .into());
    }

    // The signer: it must derive the account (the device is asked now, once).
    let signer = crate::signers::open(s, g.from).await?;
    let saved_signer = match (&signer, s.device()) {
        (Some(_), Some("Ledger")) => {
            Some(SavedSigner::Ledger { hd_path: s.path.path().to_string(), speculos: s.speculos })
        }
        (Some(_), Some(_)) => Some(SavedSigner::Trezor {
            hd_path: s.path.path().to_string(),
            trezor_emulator: s.trezor_emulator,
        }),
        (Some(_), None) => s.keystore.clone().map(|file| SavedSigner::Keystore { file }),
        (None, _) => None,
    };
    let setup = Setup {
        rpc_url: Some(g.rpc_url.clone()),
        chain: Some(chain),
        from: signer.as_ref().map(|s| s.address()).or(g.from),
        signer: saved_signer,
    };
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    files::write_atomic(&file, crate::config::render(&setup).as_bytes(), Replace::Own)?;
    eprintln!("saved {shown}:");
    eprintln!("  rpc-url  {} (answers chain {chain})", g.rpc_url);
    if let (Some(signer), Some(saved)) = (&signer, &setup.signer) {
        eprintln!("  signer   {} (it derives {})", saved.describe(), signer.address());
    }
    if let Some(from) = setup.from {
        eprintln!("  from     {from}");
    }
    eprintln!("every command now uses these unless a flag or an environment variable says otherwise");
    println!("{shown}");
    Ok(ExitCode::SUCCESS)
}
