//! `defender sign FILE --out FILE`: signs a bundle, or raw unsigned transactions, with no
//! network at all. No RPC connection is ever made here: everything shown and checked comes from
//! the file's raw fields, and what needs a chain is said to be unchecked.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use alloy::consensus::{SignableTransaction, TypedTransaction};
use anyhow::{Result, anyhow};
use clap::Args;
use serde_json::json;

use super::session::InputError;
use crate::cli::Cli;
use crate::offline::bundle::{Bundle, CheckedTx};
use crate::offline::files::{self, Replace};
use crate::offline::input::{self, Input};
use crate::offline::{qr, show};
use crate::pipeline::Refused;
use crate::signers::{self, Signer};

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The bundle to sign (written by an action's --unsigned-out), or raw unsigned transactions in
    /// hex, one per line (what `cast mktx --raw-unsigned` prints).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where the signed bundle goes: a new file, the input bundle itself (sign in place), or an
    /// earlier output of the same transactions (to sign what is still unsigned). Saved after every
    /// signature.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Also write the signed raw transactions in hex, one per line in nonce order, as `cast
    /// publish` takes them (`-`: standard output). Written once every transaction is signed.
    #[arg(long, value_name = "FILE")]
    pub raw_out: Option<PathBuf>,
    /// Print a QR code of each signed transaction (its raw hex), to carry it off an air-gapped machine.
    #[arg(long)]
    pub qr: bool,
    /// With --yes: confirm an irreversible transaction (ESM) without typing BURN.
    #[arg(long)]
    pub burn: bool,
}

pub(super) fn input_error(message: impl Into<String>) -> anyhow::Error {
    InputError(message.into()).into()
}

pub async fn run(cli: &Cli, args: &SignArgs) -> Result<ExitCode> {
    let g = &cli.global;
    if cli.offline.unsigned_out.is_some()
        || cli.offline.nonce.is_some()
        || cli.offline.fee_ladder.is_some()
        || g.dry_run
    {
        return Err(input_error(
            "sign takes none of --unsigned-out, --nonce, --fee-ladder and --dry-run: those are for actions, which \
             build bundles",
        ));
    }
    if g.safe.is_some() {
        return Err(input_error(
            "sign takes no --safe: a bundle built with --safe carries its Safe, and any other bundle is an account's own",
        ));
    }
    let file = args.file.display().to_string();
    let input = input::read(&args.file).map_err(input_error)?;
    match &input {
        Input::Bundle(bundle) => {
            bundle.check().map_err(|e| input_error(format!("{file}: {e}")))?;
        }
        Input::RawSigned(_) => {
            return Err(input_error(format!(
                "{file} holds signed transactions, nothing to sign: send them with `defender broadcast {file}`"
            )));
        }
        Input::RawUnsigned(_) => {
            if files::same_file(&args.file, &args.out) {
                return Err(input_error(
                    "--out must not be the raw input file: choose a new file for the signed bundle",
                ));
            }
        }
    }
    let chain = match &input {
        Input::Bundle(b) => b.chain_id,
        Input::RawUnsigned(txs) => txs.first().map(|t| t.chain_id).unwrap_or_default(),
        Input::RawSigned(_) => 0,
    };
    if let Some(expected) = g.chain
        && expected != chain
    {
        return Err(Refused(format!(
            "{file} is for chain {chain}, but --chain says {expected}: nothing was signed"
        ))
        .into());
    }

    // The signer, when one is named (no network: devices and keys only).
    let signer = signers::open(&cli.signer, None).await?;
    let input = match input {
        Input::Bundle(bundle) if bundle.safe.is_some() => {
            return super::sign_safe::run(cli, args, *bundle, signer).await;
        }
        other => other,
    };
    let mut bundle = match input {
        Input::Bundle(bundle) => *bundle,
        Input::RawUnsigned(txs) => {
            let Some(signer) = &signer else {
                return Err(input_error(
                    "raw transactions do not say who signs them: pass the signer (--ledger, --trezor, --keystore \
                     FILE or --private-key-env VAR)",
                ));
            };
            input::bundle_of_unsigned(&txs, signer.address())
                .map_err(|e| input_error(format!("{file}: {e}")))?
        }
        Input::RawSigned(_) => unreachable!("refused above"),
    };

    // --out: a new file, the input itself, or an earlier output of the same transactions.
    let out = &args.out;
    let out_shown = out.display().to_string();
    let mut owned = files::same_file(&args.file, out);
    if !owned && out.exists() {
        match input::read(out) {
            Ok(Input::Bundle(earlier)) if same_transactions(&earlier, &bundle) => {
                earlier.check().map_err(|e| input_error(format!("{out_shown}: {e}")))?;
                if earlier.signed_count() > bundle.signed_count() {
                    eprintln!(
                        "{out_shown} is an earlier output of these transactions: {} of {} are signed there; \
                         signing the rest",
                        earlier.signed_count(),
                        earlier.transactions.len()
                    );
                    bundle = *earlier;
                }
                owned = true;
            }
            _ => {
                return Err(input_error(format!(
                    "{out_shown} already exists and is not an earlier output of these transactions: defender \
                     never overwrites a file; choose another name for --out"
                )));
            }
        }
    }
    let txs = bundle.check().map_err(|e| input_error(format!("{file}: {e}")))?;
    let n = txs.len();

    if let Some(from) = g.from
        && let Some(t) = txs.iter().find(|t| t.from != from)
    {
        return Err(input_error(format!(
            "--from is {from}, but the bundle has a transaction from {}: check that this is the right bundle",
            t.from
        )));
    }
    // Every signature still missing: (transaction, fee level from 1).
    let unsigned: Vec<(usize, usize)> = txs
        .iter()
        .enumerate()
        .flat_map(|(i, t)| {
            t.levels().enumerate().filter(|(_, (_, s))| s.is_none()).map(move |(l, _)| (i, l + 1))
        })
        .collect();
    if !unsigned.is_empty() {
        let Some(signer) = &signer else {
            return Err(input_error(
                "no signer: pass --ledger, --trezor, --keystore FILE or --private-key-env VAR",
            ));
        };
        if let Some(&(j, _)) = unsigned.iter().find(|&&(j, _)| txs[j].from != signer.address()) {
            let hint = match cli.signer.device() {
                Some(device) => format!(
                    " (path {}; `defender accounts --{}` lists the device's addresses)",
                    cli.signer.path.path(),
                    device.to_lowercase()
                ),
                None => String::new(),
            };
            return Err(anyhow!(
                "transaction {} of {n} is from {}, but {} signs as {}{hint}: nothing was signed; use the key of {}",
                j + 1,
                txs[j].from,
                signer.description,
                signer.address(),
                txs[j].from
            ));
        }
    }

    let names = show::names(&bundle, &txs, g.addresses.as_deref())?;
    let preview = show::build(&bundle, &txs, &names, signer.as_ref());
    if !g.json {
        crate::preview::print(&preview);
        show::print_offline_notes(&bundle, &txs, &names);
        for (i, t) in txs.iter().enumerate() {
            let levels = t.higher.len() + 1;
            for (l, (_, signed)) in t.levels().enumerate() {
                if let Some(signed) = signed {
                    let level = if levels > 1 {
                        format!(" at fee level {} of {levels}", l + 1)
                    } else {
                        String::new()
                    };
                    eprintln!("  {}/{n}{level} is already signed ({})", i + 1, signed.hash());
                }
            }
        }
    }

    if !unsigned.is_empty() {
        let signer = signer.as_ref().expect("checked above");
        let burns = show::irreversible_calls(&txs);
        let irreversible =
            bundle.irreversible || burns.iter().any(|(i, _)| unsigned.iter().any(|(j, _)| j == i));
        confirm(g.yes, args.burn, irreversible, unsigned.len())?;
        for &(i, level) in &unsigned {
            let mut target = Target { input: &args.file, out, owned };
            sign_one(signer, &mut bundle, &txs, (i, level), &mut target, g.json).await?;
            owned = target.owned;
        }
    } else if !g.json {
        eprintln!("\nall {n} transactions are already signed");
    }
    if !owned {
        save(&bundle, out, &mut owned)?;
    }

    let signed = Bundle::check(&bundle).map_err(|e| anyhow!("internal error after signing: {e}"))?;
    let raw: Vec<String> = signed.iter().filter_map(CheckedTx::raw).map(|r| r.to_string()).collect();
    if let Some(raw_out) = &args.raw_out {
        write_raw(raw_out, &raw)?;
        if signed.iter().any(|t| !t.higher.is_empty()) && !g.json {
            eprintln!(
                "note: {} holds fee level 1 of each transaction; the higher levels are in the bundle, which \
                 `defender broadcast` climbs",
                raw_out.display()
            );
        }
    }
    let to_stderr = g.json || args.raw_out.as_deref() == Some(Path::new("-"));
    if args.qr {
        for (i, t) in signed.iter().enumerate() {
            let (Some(signed), Some(raw)) = (&t.signed, t.raw()) else { continue };
            let block = qr::block(i + 1, n, &signed.hash().to_string(), &raw.to_string());
            if to_stderr { eprint!("{block}") } else { print!("{block}") }
        }
    }
    if g.json {
        let transactions: Vec<_> = signed
            .iter()
            .map(|t| {
                json!({
                    "label": t.label,
                    "from": t.from,
                    "nonce": t.tx.nonce,
                    "signing_hash": t.tx.signature_hash(),
                    "tx_hash": t.signed.as_ref().map(|s| *s.hash()),
                    "raw": t.raw(),
                    "fee_ladder": t.higher.iter().map(|l| json!({
                        "signing_hash": l.tx.signature_hash(),
                        "tx_hash": l.signed.as_ref().map(|s| *s.hash()),
                        "raw": l.signed.as_ref().map(crate::send::raw_signed),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!(
            "{}",
            json!({
                "preview": preview,
                "out": out_shown,
                "raw_out": args.raw_out.as_ref().map(|p| p.display().to_string()),
                "signed": bundle.signed_count(),
                "total": n,
                "built_at": bundle.created_at,
                "transactions": transactions,
            })
        );
    } else {
        eprintln!(
            "\nsigned {} of {n}: {out_shown}{}; send it online with `defender broadcast {out_shown}`",
            bundle.signed_count(),
            match &args.raw_out {
                Some(p) if p.as_os_str() != "-" => format!(" and {} (raw hex for cast publish)", p.display()),
                _ => String::new(),
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Signs transaction `i`, records it and saves the bundle at once, so that a later failure
/// keeps it.
/// Where signatures go: the input (for messages), the output, and whether the output is ours
/// to replace yet.
struct Target<'a> {
    input: &'a Path,
    out: &'a Path,
    owned: bool,
}

async fn sign_one(
    signer: &Signer,
    bundle: &mut Bundle,
    txs: &[CheckedTx],
    (i, level): (usize, usize),
    target: &mut Target<'_>,
    quiet: bool,
) -> Result<()> {
    let out = target.out;
    let n = txs.len();
    let levels = txs[i].higher.len() + 1;
    let tx = if level == 1 { &txs[i].tx } else { &txs[i].higher[level - 2].tx };
    let at_level = if levels > 1 { format!(" at fee level {level} of {levels}") } else { String::new() };
    if !quiet {
        eprintln!("signing {}/{n}{at_level}: {}", i + 1, txs[i].label);
        match signer.device_name() {
            Some("Ledger") if signer.shows_hash(&TypedTransaction::Eip1559(tx.clone())) => {
                eprintln!("  confirm on your Ledger: it shows tx hash {}", tx.signature_hash())
            }
            Some("Ledger") => {
                eprintln!(
                    "  confirm on your Ledger: it shows From and Max fees only (no hash, spender or amount)"
                )
            }
            Some(device) => eprintln!("  confirm on your {device}: check the screens listed above"),
            None => {}
        }
    }
    let signature = match signer.sign(&TypedTransaction::Eip1559(tx.clone())).await {
        Ok(signature) => signature,
        Err(e) => {
            let (done, total) = bundle.signatures();
            let what = if total == n { "" } else { " signatures" };
            let (kept, from) = if target.owned {
                (format!("{done} of {total}{what} are signed and saved in {}", out.display()), out)
            } else if done == 0 {
                (format!("nothing was signed and {} was not written", out.display()), target.input)
            } else {
                (
                    format!("{done} of {total}{what} were signed before; {} was not written", out.display()),
                    target.input,
                )
            };
            return Err(anyhow!(
                "signing transaction {} of {n}{at_level} failed: {e:#}\n  {kept}; to sign the rest, run `defender sign {} \
                 --out {}` again with the same signer options",
                i + 1,
                from.display(),
                out.display()
            ));
        }
    };
    let signed = tx.clone().into_signed(signature);
    bundle.transactions[i].set_level_signed(level, &signed);
    save(bundle, out, &mut target.owned)
}

/// Saves the bundle: the first write never replaces a file; later ones replace our own.
pub(super) fn save(bundle: &Bundle, out: &Path, owned: &mut bool) -> Result<()> {
    let replace = if *owned { Replace::Own } else { Replace::Never };
    files::write_atomic(out, bundle.to_json().as_bytes(), replace).map_err(|e| {
        match e.downcast::<files::Exists>() {
            Ok(exists) => input_error(exists.to_string()),
            Err(other) => other,
        }
    })?;
    *owned = true;
    Ok(())
}

/// Both bundles hold the same transactions (same senders and signing hashes, in order).
fn same_transactions(a: &Bundle, b: &Bundle) -> bool {
    a.chain_id == b.chain_id
        && a.transactions.len() == b.transactions.len()
        && a.transactions.iter().zip(&b.transactions).all(|(x, y)| {
            x.from == y.from
                && x.signing_hash == y.signing_hash
                && x.unsigned == y.unsigned
                && x.fee_ladder.len() == y.fee_ladder.len()
                && x.fee_ladder.iter().zip(&y.fee_ladder).all(|(a, b)| a.signing_hash == b.signing_hash)
        })
}

/// The raw signed transactions, one per line; `-` prints them. An existing file is left alone
/// unless it already holds exactly these lines.
fn write_raw(path: &Path, raw: &[String]) -> Result<()> {
    let text: String = raw.iter().map(|r| format!("{r}\n")).collect();
    if path.as_os_str() == "-" {
        print!("{text}");
        return Ok(());
    }
    if std::fs::read_to_string(path).is_ok_and(|existing| existing == text) {
        return Ok(());
    }
    files::write_atomic(path, text.as_bytes(), Replace::Never).map_err(|e| {
        match e.downcast::<files::Exists>() {
            Ok(exists) => input_error(exists.to_string()),
            Err(other) => other,
        }
    })
}

/// Asks before signing, as online; only the words differ (nothing is sent here).
fn confirm(yes: bool, burn: bool, irreversible: bool, count: usize) -> Result<()> {
    let plural = if count == 1 { "" } else { "s" };
    let question = crate::confirm::Question {
        ask: &format!("Sign {count} transaction{plural}? [y/N] "),
        ask_burn: &format!("Type BURN to sign {count} transaction{plural}: "),
        no_terminal: "no terminal to confirm at: pass --yes to sign without asking",
        no_terminal_burn: "this bundle holds an irreversible transaction (ESM): confirm it at a terminal, \
                           or pass --yes --burn",
        nothing: "nothing was signed",
    };
    crate::confirm::ask(&question, yes, burn, irreversible)
}
