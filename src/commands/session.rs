//! What every action command shares: the connection, the address sources, the signer, the
//! first round trip, and handing the plan to the pipeline.

use std::process::ExitCode;

use alloy::primitives::Address;
use alloy::rpc::types::TransactionRequest;
use anyhow::Result;

use crate::actions::PlanResult;
use crate::chain::discovery::{self, Sources};
use crate::chain::rpc::{self, Connection};
use crate::chain::snapshot::{Prepared, Reads, prepare};
use crate::cli::Cli;
use crate::fees::FeeArgs;
use crate::offline::safe_bundle::SafeSection;
use crate::pipeline::{Options, Pipeline};
use crate::safe::SafeSetup;
use crate::safe::online::SafeAction;
use crate::signers::{self, Signer};
use crate::units::{Amount, parse_amount};

/// Bad input found once the token is known (e.g. too many decimals): exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

pub struct Session<'a> {
    pub cli: &'a Cli,
    pub connection: Connection,
    pub sources: Sources,
    pub signer: Option<Signer>,
    /// The account acting: the signer's, else `--from`.
    pub from: Option<Address>,
}

impl<'a> Session<'a> {
    pub async fn open(cli: &'a Cli) -> Result<Self> {
        cli.offline.check_ladder(cli.fees.max_fee_cap, cli.global.safe.is_some()).map_err(InputError)?;
        let connection = rpc::connect(&cli.global.rpc_url).await?;
        let sources = discovery::resolve(&cli.global.wanted())?;
        let signer = signers::open(&cli.signer, cli.global.from).await?;
        // From a Safe, the Safe acts: the snapshot, the plan and the simulation are its.
        let from = cli.global.safe.or(signer.as_ref().map(Signer::address)).or(cli.global.from);
        Ok(Self { cli, connection, sources, signer, from })
    }

    /// The account to act for, or an error saying how to name one.
    pub fn require_from(&self) -> Result<Address> {
        self.from.ok_or_else(|| {
            anyhow::anyhow!("no account: pass a signer (--ledger, --trezor, --keystore, --private-key-env) or --from ADDRESS")
        })
    }

    /// The first round trip: snapshot, nonce, fees and `extra` calls, in one HTTP request.
    pub async fn prepare(&self, extra: Vec<TransactionRequest>) -> Result<Prepared> {
        self.prepare_with(Reads { extra, ..Reads::default() }).await
    }

    /// As `prepare`, with more of `reads` (the pending block, approvals); same one request.
    pub async fn prepare_with(&self, reads: Reads) -> Result<Prepared> {
        let safe = self.cli.global.safe;
        let reads = Reads { user: Some(self.require_from()?), fees: true, safe, ..reads };
        let mut prepared = prepare(&self.connection, &self.sources, self.cli.global.chain, &reads).await?;
        if let Some(nonce) = self.cli.offline.nonce {
            if prepared.nonce != Some(nonce) && !self.cli.global.json {
                let next = prepared.nonce.map(|n| n.to_string()).unwrap_or_else(|| "unknown".into());
                eprintln!("--nonce {nonce}: the account's next nonce on chain is {next} now");
            }
            prepared.nonce = Some(nonce);
        }
        Ok(prepared)
    }

    /// An amount of the voting token.
    pub fn amount(&self, text: &str, prepared: &Prepared) -> Result<Amount> {
        let s = &prepared.snapshot;
        parse_amount(text, s.decimals(), &s.symbol()).map_err(|m| InputError(m).into())
    }

    /// An amount of MKR (18 decimals), where MKR is not the voting token.
    pub fn mkr_amount(&self, text: &str) -> Result<Amount> {
        parse_amount(text, 18, "MKR").map_err(|m| InputError(m).into())
    }

    /// Simulate, preview, confirm, sign and send `plan`.
    pub async fn execute(
        &self,
        prepared: &Prepared,
        plan: PlanResult,
        irreversible_ok: bool,
    ) -> Result<ExitCode> {
        self.run(prepared, plan, irreversible_ok, &self.cli.fees).await
    }

    /// As `execute`, at the fees `fees` names instead of the command line's.
    pub async fn execute_with_fees(
        &self,
        prepared: &Prepared,
        plan: PlanResult,
        fees: &FeeArgs,
    ) -> Result<ExitCode> {
        self.run(prepared, plan, false, fees).await
    }

    async fn run(
        &self,
        prepared: &Prepared,
        plan: PlanResult,
        irreversible_ok: bool,
        fees: &FeeArgs,
    ) -> Result<ExitCode> {
        let g = &self.cli.global;
        let options = Options {
            dry_run: g.dry_run,
            yes: g.yes,
            burn: irreversible_ok,
            json: g.json,
            unsigned_out: self.cli.offline.unsigned_out.clone(),
            fee_ladder: self.cli.offline.fee_ladder,
        };
        let safe = self.safe_action(prepared)?;
        let pipeline = Pipeline {
            connection: &self.connection,
            sources: &self.sources,
            prepared,
            fees,
            options: &options,
            safe: safe.as_ref(),
        };
        pipeline.run(plan, self.require_from()?, self.signer.as_ref()).await
    }

    /// `--safe`: the Safe as read in the first round trip, and `--signatures`.
    fn safe_action(&self, prepared: &Prepared) -> Result<Option<SafeAction>> {
        let Some(address) = self.cli.global.safe else { return Ok(None) };
        if self.cli.offline.nonce.is_some() {
            return Err(InputError(
                "--nonce sets an account's own nonce; a Safe transaction takes the Safe's next nonce: drop --nonce"
                    .into(),
            )
            .into());
        }
        let Some(read) = &prepared.safe else {
            return Err(anyhow::anyhow!("internal error: the Safe {address} was not read"));
        };
        let state = read.state.clone().map_err(InputError)?;
        let (given, given_hash) = match &self.cli.global.signatures {
            Some(path) => {
                let section = safe_bundle(path, address)?;
                (section.signatures, Some(section.safe_tx_hash))
            }
            None => (Vec::new(), None),
        };
        let setup = SafeSetup { address, state, multi_send_deployed: read.multi_send_deployed };
        Ok(Some(SafeAction { setup, given, given_hash }))
    }
}

/// The Safe part of a bundle for `safe`, checked against itself.
fn safe_bundle(path: &std::path::Path, safe: Address) -> Result<SafeSection> {
    let shown = path.display();
    let bundle = match crate::offline::input::read(path)
        .map_err(|e| InputError(format!("--signatures: {e}")))?
    {
        crate::offline::input::Input::Bundle(bundle) => bundle,
        _ => {
            return Err(
                InputError(format!("--signatures: {shown} is not a bundle of a Safe transaction")).into()
            );
        }
    };
    bundle.check().map_err(|e| InputError(format!("--signatures: {shown}: {e}")))?;
    match bundle.safe {
        Some(section) if section.transaction.safe == safe => Ok(section),
        Some(section) => Err(InputError(format!(
            "--signatures: {shown} is for the Safe {}, not {safe}",
            section.transaction.safe
        ))
        .into()),
        None => {
            Err(InputError(format!("--signatures: {shown} is not a bundle of a Safe transaction")).into())
        }
    }
}
