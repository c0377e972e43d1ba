//! `defender broadcast FILE` for a bundle of a Safe transaction: any account (the signer
//! given, which pays the gas) executes it once the Safe, read again on chain, agrees that the
//! signatures meet its threshold at its current nonce. `broadcast` has checked the file, the
//! chain it names against `--chain`, and said how old it is.

use std::process::ExitCode;

use anyhow::{Result, bail};

use super::session::InputError;
use crate::chain::rpc;
use crate::cli::Cli;
use crate::offline::bundle::Bundle;
use crate::pipeline::Refused;
use crate::safe::progress;
use crate::signers;

pub async fn run(cli: &Cli, file: &str, bundle: Bundle) -> Result<ExitCode> {
    let g = &cli.global;
    let section = bundle.safe.as_ref().expect("a Safe bundle");
    let count = section.signatures.len();
    if (count as u64) < section.threshold {
        return Err(Refused(format!(
            "{file} has {}: have more owners sign it (`defender sign {file} --out {file}`); nothing was sent",
            progress(count, section.threshold)
        ))
        .into());
    }
    let Some(payer) = signers::open(&cli.signer, g.from).await? else {
        return Err(InputError(format!(
            "{file} is a Safe transaction: executing it is a transaction of its own, paid by any account; pass \
             that account's signer (--ledger, --trezor, --keystore FILE or --private-key-env VAR); nothing was sent"
        ))
        .into());
    };
    let connection = rpc::connect(&g.rpc_url).await?;
    if !g.json {
        eprintln!(
            "{}\n  Safe {} · safeTxHash {} · {} by {}",
            bundle.summary.as_deref().unwrap_or("a Safe transaction"),
            section.transaction.safe,
            section.safe_tx_hash,
            progress(count, section.threshold),
            crate::safe::list(&section.signed_by())
        );
    }
    if section.transaction.chain_id != bundle.chain_id {
        bail!("internal error: the bundle's chain and the Safe transaction's differ");
    }
    let confirm = || confirm(g.yes);
    let run = crate::safe::execute::Execution {
        connection: &connection,
        fees: &cli.fees,
        json: g.json,
        preview: None,
        confirm: Some(&confirm),
        yes: g.yes,
    };
    crate::safe::execute::execute(&run, &section.transaction, &section.signatures, &payer).await
}

fn confirm(yes: bool) -> Result<()> {
    let question = crate::confirm::Question {
        ask: "Sign and send the execution? [y/N] ",
        ask_burn: "Type BURN to go on: ",
        no_terminal: "no terminal to confirm at: pass --yes to send without asking",
        no_terminal_burn: "no terminal to confirm at: pass --yes to send without asking",
        nothing: "nothing was signed or sent",
    };
    crate::confirm::ask(&question, yes, false, false)
}
