//! Broadcasting signed transactions in nonce order and waiting for their receipts.
//! When something fails part-way, the report says exactly what is on chain and what is not.

use std::process::ExitCode;
use std::time::Duration;

use alloy::consensus::{Signed, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{B256, Bytes};
use alloy::providers::Provider;
use alloy::rpc::client::BatchRequest;
use alloy::rpc::types::TransactionReceipt;
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

pub mod rebid;

use crate::chain::anvil::StuckPoolGuard;
use crate::chain::rpc::Connection;
use crate::pipeline::Transaction;

/// How long a transaction may wait in an automining anvil's pool before it is mined by hand.
const STUCK_AFTER: Duration = Duration::from_secs(1);

/// What happened to one transaction.
#[derive(Debug, Clone, Serialize)]
pub struct Sent {
    pub label: String,
    pub nonce: u64,
    pub hash: B256,
    /// None: not accepted by the node (see `error`), or no receipt yet.
    pub status: Option<bool>,
    pub block: Option<u64>,
    pub gas_used: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Earlier bids of the same nonce, replaced by `hash` (re-bidding); none was mined.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replaced: Vec<B256>,
}

pub struct Report {
    pub receipts: Vec<Sent>,
}

/// A run that sent some transactions but not all: exit code 4.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PartlySent(pub String);

pub async fn broadcast(
    connection: &Connection,
    txs: &[Transaction],
    signed: Vec<Signed<TxEip1559>>,
    progress: bool,
    rebid: Option<&rebid::Rebid<'_>>,
) -> Result<Report> {
    let raw: Vec<(B256, Bytes)> = signed
        .into_iter()
        .map(|s| {
            let hash = *s.hash();
            (hash, Bytes::from(TxEnvelope::from(s).encoded_2718()))
        })
        .collect();

    // One request for all: nodes accept consecutive nonces from one batch.
    let client = connection.provider.client();
    let mut batch = BatchRequest::new(client);
    let waiters: Vec<_> = raw
        .iter()
        .map(|(_, bytes)| batch.add_call::<_, B256>("eth_sendRawTransaction", &(bytes,)))
        .collect::<Result<_, _>>()?;
    let sent_batch = connection.timed(batch.send()).await;
    let mut receipts: Vec<Sent> = txs
        .iter()
        .zip(&raw)
        .map(|(tx, (hash, _))| Sent {
            label: tx.call.label.clone(),
            nonce: tx.nonce,
            hash: *hash,
            status: None,
            block: None,
            gas_used: None,
            error: None,
            replaced: Vec::new(),
        })
        .collect();
    // What each transaction bids now, and the block it was (re-)sent at.
    let mut bids: Vec<Transaction> = txs.to_vec();
    let mut sent_block: Vec<Option<u64>> = vec![None; txs.len()];
    let mut rebids_stopped = vec![false; txs.len()];
    if let Err(error) = sent_batch {
        // The request may or may not have reached the node: say so, with the hashes to check.
        for r in &mut receipts {
            r.error = Some(format!("unknown: the broadcast request failed ({error})"));
        }
    } else {
        for (r, waiter) in receipts.iter_mut().zip(waiters) {
            if let Err(error) = waiter.await {
                r.error = Some(error.to_string());
            }
        }
    }

    let bar = if progress {
        let bar = ProgressBar::new(receipts.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{spinner} waiting for receipts {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    } else {
        ProgressBar::hidden()
    };
    let sent_at = tokio::time::Instant::now();
    let deadline = sent_at + Duration::from_secs(600);
    let mut pause = Duration::from_millis(5);
    let mut guard = StuckPoolGuard::default();
    loop {
        let pending: Vec<usize> = (0..receipts.len())
            .filter(|&i| receipts[i].error.is_none() && receipts[i].status.is_none())
            .collect();
        if pending.is_empty() || tokio::time::Instant::now() > deadline {
            break;
        }
        let mut batch = BatchRequest::new(client);
        // Every bid of each nonce: whichever is mined is the one that landed.
        let waiters: Vec<Vec<_>> = pending
            .iter()
            .map(|&i| {
                std::iter::once(receipts[i].hash)
                    .chain(receipts[i].replaced.iter().copied())
                    .map(|hash| {
                        batch
                            .add_call::<_, Option<TransactionReceipt>>("eth_getTransactionReceipt", &(hash,))
                            .map(|w| (hash, w))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<_, _>>()?;
        let market = match rebid {
            Some(_) => Some(batch.add_call::<_, alloy::rpc::types::FeeHistory>(
                "eth_feeHistory",
                &(
                    alloy::primitives::U64::from(1),
                    alloy::rpc::types::BlockNumberOrTag::Latest,
                    Vec::<f64>::new(),
                ),
            )?),
            None => None,
        };
        if connection.timed(batch.send()).await.is_ok() {
            for (&i, bids_of) in pending.iter().zip(waiters) {
                for (hash, waiter) in bids_of {
                    if let Ok(Some(receipt)) = waiter.await {
                        if hash != receipts[i].hash {
                            let newer = std::mem::replace(&mut receipts[i].hash, hash);
                            receipts[i].replaced.retain(|h| *h != hash);
                            receipts[i].replaced.push(newer);
                        }
                        receipts[i].status = Some(receipt.status());
                        receipts[i].block = receipt.block_number;
                        receipts[i].gas_used = Some(receipt.gas_used);
                        bar.inc(1);
                        break;
                    }
                }
            }
            if let (Some(policy), Some(market)) = (rebid, market)
                && let Ok(history) = market.await
            {
                let block = history.oldest_block;
                let next_base_fee = history.base_fee_per_gas.last().copied().unwrap_or_default();
                for slot in sent_block.iter_mut().filter(|b| b.is_none()) {
                    *slot = Some(block);
                }
                // The lowest waiting nonce first: the ones after it cannot land before it.
                let first = (0..receipts.len()).find(|&i| {
                    receipts[i].error.is_none() && receipts[i].status.is_none() && !rebids_stopped[i]
                });
                if let Some(i) = first
                    && block >= sent_block[i].unwrap_or(block) + policy.after_blocks
                    && rebid::priced_out(bids[i].fees, next_base_fee)
                {
                    // The bar would draw over the question and the device prompt.
                    bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
                    let outcome = replace_bid(connection, policy, &bids[i], next_base_fee).await;
                    if progress {
                        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                    }
                    match outcome {
                        Ok((bid, hash)) => {
                            let old = std::mem::replace(&mut receipts[i].hash, hash);
                            receipts[i].replaced.push(old);
                            bids[i] = bid;
                            sent_block[i] = Some(block);
                        }
                        Err(why) => {
                            bar.suspend(|| eprintln!("note: nonce {} is not re-bid: {why}", bids[i].nonce));
                            rebids_stopped[i] = true;
                        }
                    }
                }
            }
        }
        let waiting = receipts.iter().find(|r| r.error.is_none() && r.status.is_none());
        if let Some(r) = waiting.filter(|_| sent_at.elapsed() > STUCK_AFTER)
            && guard.unstick(&connection.provider, r.hash).await
        {
            bar.suspend(|| {
                eprintln!(
                    "note: anvil left {} in its pool although it automines (a known anvil race); had it mine a block",
                    r.hash
                )
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
    bar.finish_and_clear();
    Ok(Report { receipts })
}

/// One replacement: said, confirmed where it must be, signed and sent; the new bid and hash.
async fn replace_bid(
    connection: &Connection,
    policy: &rebid::Rebid<'_>,
    current: &Transaction,
    next_base_fee: u128,
) -> Result<(Transaction, B256), String> {
    use alloy::consensus::{SignableTransaction, TypedTransaction};
    let fees = rebid::next_bid(current.fees, next_base_fee, policy.cap)?;
    let bid = Transaction { fees, ..current.clone() };
    let gwei = |wei: u128| crate::units::format_token(alloy::primitives::U256::from(wei), 9);
    eprintln!(
        "re-bid nonce {} ({}): the next block's base fee is {} gwei, above its max fee {} gwei; new max fee {} gwei, \
         tip {} gwei (cap {} gwei); new tx hash {}",
        bid.nonce,
        bid.call.label,
        gwei(next_base_fee),
        gwei(current.fees.max_fee_per_gas),
        gwei(fees.max_fee_per_gas),
        gwei(fees.max_priority_fee_per_gas),
        gwei(policy.cap),
        bid.signing_hash()
    );
    if policy.ask {
        let question = crate::confirm::Question {
            ask: "Sign and send this replacement? [y/N] ",
            ask_burn: "Type BURN to go on: ",
            no_terminal: "no terminal to confirm the replacement at (pass --yes to re-bid without asking)",
            no_terminal_burn: "no terminal to confirm the replacement at",
            nothing: "the replacement was not signed",
        };
        crate::confirm::ask(&question, false, false, false).map_err(|e| e.to_string())?;
    }
    if let Some(device) = policy.signer.device_name() {
        eprintln!("  confirm on your {device}: the new fees, and on a Ledger the tx hash above");
    }
    let unsigned = bid.unsigned();
    let signature = policy
        .signer
        .sign(&TypedTransaction::Eip1559(unsigned.clone()))
        .await
        .map_err(|e| format!("signing the replacement failed: {e:#}"))?;
    let raw = Bytes::from(TxEnvelope::from(unsigned.into_signed(signature)).encoded_2718());
    let hash = connection
        .provider
        .client()
        .request::<_, B256>("eth_sendRawTransaction", (raw,))
        .await
        .map_err(|e| format!("the node refused the replacement: {e}"))?;
    Ok((bid, hash))
}

impl Report {
    pub fn print(&self) {
        for r in &self.receipts {
            let state = match (r.status, &r.error) {
                (_, Some(error)) => format!("NOT SENT: {error}"),
                (Some(true), _) => format!(
                    "mined in block {}, {} gas",
                    r.block.unwrap_or_default(),
                    r.gas_used.unwrap_or_default()
                ),
                (Some(false), _) => format!("REVERTED in block {}", r.block.unwrap_or_default()),
                (None, None) => "sent, no receipt yet".to_owned(),
            };
            let replaced = if r.replaced.is_empty() {
                String::new()
            } else {
                format!(
                    " (replaced {})",
                    r.replaced.iter().map(B256::to_string).collect::<Vec<_>>().join(", ")
                )
            };
            println!("{}  nonce {}  {}  {state}{replaced}", r.hash, r.nonce, r.label);
        }
    }

    /// 0 when everything landed; otherwise an error that says what is on chain and what to do.
    pub fn exit_code(&self) -> Result<ExitCode> {
        let landed = self.receipts.iter().filter(|r| r.status == Some(true)).count();
        if landed == self.receipts.len() {
            return Ok(ExitCode::SUCCESS);
        }
        let mut lines = Vec::new();
        for (i, r) in self.receipts.iter().enumerate() {
            let what = match (r.status, &r.error) {
                (Some(true), _) => "on chain".to_owned(),
                (Some(false), _) => "on chain but REVERTED".to_owned(),
                (None, Some(error)) => format!("not sent ({error})"),
                (None, None) => "sent, not yet mined: check it before resending".to_owned(),
            };
            lines.push(format!("  {}. {} (nonce {}, {}): {what}", i + 1, r.label, r.nonce, r.hash));
        }
        // A refused nonce with later ones accepted is a gap: those wait behind it for ever.
        let refused = self.receipts.iter().position(|r| r.status.is_none() && r.error.is_some());
        let waiting_behind =
            refused.is_some_and(|i| self.receipts[i + 1..].iter().any(|r| r.error.is_none()));
        if let (Some(i), true) = (refused, waiting_behind) {
            let n = self.receipts[i].nonce;
            lines.push(format!(
                "nonce {n} was refused, so the transactions after it wait behind it and cannot be mined: fill it \
                 with `defender nonce --unstick {n}` (a zero-value transfer to yourself), then run the same command \
                 again"
            ));
        }
        Err(PartlySent(format!(
            "{landed} of {} transactions landed:\n{}\nrun the same command again: it plans only what is still needed",
            self.receipts.len(),
            lines.join("\n")
        ))
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(nonce: u64, status: Option<bool>, error: Option<&str>) -> Sent {
        Sent {
            label: format!("call {nonce}"),
            nonce,
            hash: B256::repeat_byte(nonce as u8),
            status,
            block: status.map(|_| 7),
            gas_used: None,
            error: error.map(str::to_owned),
            replaced: Vec::new(),
        }
    }

    #[test]
    fn a_refused_nonce_with_later_ones_accepted_is_named_as_a_gap_with_its_remedy() {
        let report = Report { receipts: vec![sent(3, None, Some("fee too low")), sent(4, None, None)] };
        let said = report.exit_code().unwrap_err().to_string();
        assert!(said.contains("nonce 3 was refused"), "{said}");
        assert!(said.contains("`defender nonce --unstick 3`"), "{said}");
        // The last one refused leaves nothing waiting behind it: no gap to fill.
        let report = Report { receipts: vec![sent(3, Some(true), None), sent(4, None, Some("fee too low"))] };
        assert!(!report.exit_code().unwrap_err().to_string().contains("--unstick"));
    }
}
