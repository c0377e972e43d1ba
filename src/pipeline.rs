//! Plan -> simulate -> preview -> confirm -> sign -> send -> report, the same for every action.

use std::process::ExitCode;

use alloy::consensus::{SignableTransaction, TxEip1559, TypedTransaction};
use alloy::primitives::{Address, B256, TxKind};
use anyhow::{Result, bail};
use serde_json::json;

use crate::actions::{Call, Plan, Refusal};
use crate::chain::discovery::Sources;
use crate::chain::rpc::Connection;
use crate::chain::snapshot::Prepared;
use crate::fees::{FeeArgs, Fees, gas_limit_for};
use crate::signers::Signer;
use crate::{preview, send, simulate};

/// A planned call with everything a signature covers.
#[derive(Debug, Clone)]
pub struct Transaction {
    pub call: Call,
    pub from: Address,
    pub chain_id: u64,
    pub nonce: u64,
    pub gas_limit: u64,
    pub fees: Fees,
}

impl Transaction {
    pub fn unsigned(&self) -> TxEip1559 {
        TxEip1559 {
            chain_id: self.chain_id,
            nonce: self.nonce,
            gas_limit: self.gas_limit,
            max_fee_per_gas: self.fees.max_fee_per_gas,
            max_priority_fee_per_gas: self.fees.max_priority_fee_per_gas,
            to: TxKind::Call(self.call.to),
            value: self.call.value,
            access_list: Default::default(),
            input: self.call.data.clone(),
        }
    }

    /// keccak256 of the unsigned typed payload: what the signature covers.
    pub fn signing_hash(&self) -> B256 {
        self.unsigned().signature_hash()
    }
}

/// How far to go and what the user already agreed to.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub dry_run: bool,
    pub yes: bool,
    /// `--burn`: with `--yes`, pre-confirms an irreversible action.
    pub burn: bool,
    pub json: bool,
    /// `--unsigned-out FILE`: write an unsigned bundle there instead of signing.
    pub unsigned_out: Option<std::path::PathBuf>,
    /// `--fee-ladder N` (with `unsigned_out` and the fee cap): N fee levels per transaction.
    pub fee_ladder: Option<usize>,
}

/// A run that stopped on purpose before signing: exit code 3.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

pub struct Pipeline<'a> {
    pub connection: &'a Connection,
    pub sources: &'a Sources,
    pub prepared: &'a Prepared,
    pub fees: &'a FeeArgs,
    pub options: &'a Options,
    /// `--safe`: the plan's calls go out as one transaction of this Safe.
    pub safe: Option<&'a crate::safe::online::SafeAction>,
}

impl Pipeline<'_> {
    pub async fn run(
        &self,
        plan: Result<Plan, Refusal>,
        from: Address,
        signer: Option<&Signer>,
    ) -> Result<ExitCode> {
        let plan = plan.map_err(|r| Refused(format!("{r}: nothing was signed or sent")))?;
        if plan.calls.is_empty() {
            return Err(Refused("nothing to do".into()).into());
        }
        if let Some(path) = &self.options.unsigned_out {
            crate::offline::build::check_free(path)?;
        }
        let p = self.prepared;
        if let Some(signer) = signer
            && signer.hot_key()
            && !is_devnet(p.chain_id)
        {
            eprintln!("warning: {} is a key outside any device, on chain {}", signer.description, p.chain_id);
        }
        if let Some(safe) = self.safe {
            return crate::safe::online::run(self, plan, safe, signer).await;
        }
        let simulation =
            simulate::simulate(self.connection, self.sources, &p.snapshot, from, &plan.calls).await?;
        let fees = self.fees.resolve(p.market);
        let start = p.nonce.unwrap_or_default();
        let txs: Vec<Transaction> = plan
            .calls
            .iter()
            .zip(&simulation.outcomes)
            .enumerate()
            .map(|(i, (call, outcome))| Transaction {
                call: call.clone(),
                from,
                chain_id: p.chain_id,
                nonce: start + i as u64,
                gas_limit: self.fees.gas_limit.unwrap_or_else(|| gas_limit_for(outcome.gas_used)),
                fees,
            })
            .collect();
        // The higher levels of an offline fee ladder (level 1 is `fees`).
        let ladder = match (self.options.fee_ladder, self.fees.max_fee_cap) {
            (Some(levels), Some(cap)) => crate::fees::ladder(fees, cap, levels)
                .map_err(|e| Refused(format!("{e}; nothing was written")))?
                .split_off(1),
            _ => Vec::new(),
        };
        let mut preview = preview::build(&plan, &txs, Some(&simulation), &p.snapshot, &p.book);
        if ladder.is_empty() {
            preview.rebid = self.fees.max_fee_cap.map(|cap| preview::RebidPolicy {
                after_blocks: self.fees.rebid_after.max(1),
                max_fee_cap: cap,
            });
        }
        for (shown, tx) in preview.transactions.iter_mut().zip(&txs) {
            shown.fee_ladder = (ladder.iter().enumerate())
                .map(|(j, &fees)| {
                    preview::LevelPreview::of(j + 2, &Transaction { fees, ..tx.clone() }.unsigned())
                })
                .collect();
        }
        if let Some(signer) = signer {
            preview.device = signer.device_name();
            preview.signer = Some(signer.description.clone());
            for (shown, tx) in preview.transactions.iter_mut().zip(&txs) {
                shown.shown_on(signer, &TypedTransaction::Eip1559(tx.unsigned()));
            }
        }
        crate::stdout_guard::keep_printing();
        if !self.options.json {
            preview::print(&preview);
        }
        if let Some((i, outcome)) = simulation.outcomes.iter().enumerate().find(|(_, o)| !o.ok) {
            if self.options.json {
                println!("{}", json!({ "preview": preview, "sent": false }));
            }
            return Err(Refused(format!(
                "transaction {} of {} would revert: {}; nothing was signed or sent",
                i + 1,
                txs.len(),
                outcome.revert.as_deref().unwrap_or("no reason given")
            ))
            .into());
        }
        if self.options.dry_run {
            if self.options.json {
                println!("{}", json!({ "preview": preview, "sent": false }));
            } else {
                eprintln!("\ndry run: nothing was signed or sent");
            }
            return Ok(ExitCode::SUCCESS);
        }
        if let Some(path) = &self.options.unsigned_out {
            let bundle =
                crate::offline::build::bundle_of_plan(&plan, &txs, &ladder, &simulation, &preview, p);
            return crate::offline::build::write(path, &bundle, &preview, self.options.json);
        }
        let Some(signer) = signer else {
            bail!(
                "no signer: pass --ledger, --trezor, --keystore FILE or --private-key-env VAR (or --dry-run to only preview)"
            );
        };
        self.confirm(&plan, txs.len())?;

        let mut signed = Vec::with_capacity(txs.len());
        for (i, tx) in txs.iter().enumerate() {
            let unsigned = tx.unsigned();
            if !self.options.json && (txs.len() > 1 || !signer.hot_key()) {
                eprintln!("signing {}/{}: {}", i + 1, txs.len(), tx.call.label);
                match signer.device_name() {
                    Some("Ledger") if signer.shows_hash(&TypedTransaction::Eip1559(unsigned.clone())) => {
                        eprintln!("  confirm on your Ledger: it shows tx hash {}", tx.signing_hash())
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
            let typed = TypedTransaction::Eip1559(unsigned.clone());
            let signature = signer.sign(&typed).await.map_err(|e| {
                anyhow::anyhow!(
                    "signing transaction {} of {} failed: {e:#}; nothing was sent (transactions signed so far were discarded)",
                    i + 1,
                    txs.len()
                )
            })?;
            signed.push(unsigned.into_signed(signature));
        }
        // A device asks on its screen for each replacement; the terminal asks too unless --yes.
        let rebid = self.fees.max_fee_cap.map(|cap| send::rebid::Rebid {
            after_blocks: self.fees.rebid_after.max(1),
            source: send::rebid::Source::Sign { signer, cap, ask: !self.options.yes && !signer.hot_key() },
        });
        let report =
            send::broadcast(self.connection, &txs, signed, !self.options.json, rebid.as_ref()).await?;
        crate::stdout_guard::keep_printing();
        if self.options.json {
            println!("{}", json!({ "preview": preview, "sent": true, "receipts": report.receipts }));
        } else {
            report.print();
        }
        report.exit_code()
    }

    pub(crate) fn confirm(&self, plan: &Plan, count: usize) -> Result<()> {
        let ask = format!("Sign and send {count} transaction{}? [y/N] ", if count == 1 { "" } else { "s" });
        let question = crate::confirm::Question {
            ask: &ask,
            ask_burn: "Type BURN to go on: ",
            no_terminal: "no terminal to confirm at: pass --yes to send without asking",
            no_terminal_burn: "this action is irreversible: confirm it at a terminal, or pass --yes --burn",
            nothing: "nothing was signed or sent",
        };
        crate::confirm::ask(&question, self.options.yes, self.options.burn, plan.irreversible)
    }
}

/// Chains where a key in a file is expected: anvil's and hardhat's defaults.
pub fn is_devnet(chain_id: u64) -> bool {
    matches!(chain_id, 31337 | 1337)
}
