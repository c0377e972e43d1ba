//! Broadcasting signed transactions in nonce order and waiting for their receipts.
//! When something fails part-way, the report says exactly what is on chain and what is not.

use std::process::ExitCode;
use std::time::Duration;

use alloy::consensus::{Signed, TxEip1559};
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
use crate::units::gwei;

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
    /// The fee-ladder level `hash` bids (1: the transaction's own fees), for a bundle with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fee_level: Option<usize>,
}

pub struct Report {
    pub receipts: Vec<Sent>,
}

/// A run that sent some transactions but not all: exit code 4.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PartlySent(pub String);

/// Sends `signed` (one per transaction of `txs`, in nonce order) and waits for the receipts,
/// re-bidding as `rebid` allows.
pub async fn broadcast(
    connection: &Connection,
    txs: &[Transaction],
    signed: Vec<Signed<TxEip1559>>,
    progress: bool,
    rebid: Option<&rebid::Rebid<'_>>,
) -> Result<Report> {
    let fresh = vec![Resume::default(); txs.len()];
    broadcast_resuming(connection, txs, signed, &fresh, progress, rebid).await
}

/// Where a transaction of a broadcast run again stands already.
#[derive(Debug, Clone, Copy, Default)]
pub struct Resume {
    /// The node holds it (this bid): awaited, not sent again.
    pub in_pool: bool,
    /// The fee-ladder level it bids (0: its own fees, 1: the ladder's first level above).
    pub level: usize,
}

/// As [`broadcast`], for a plan partly sent before: what `resume` says is in the pool is only
/// awaited, and a ladder climbs on from the level in use.
pub async fn broadcast_resuming(
    connection: &Connection,
    txs: &[Transaction],
    signed: Vec<Signed<TxEip1559>>,
    resume: &[Resume],
    progress: bool,
    rebid: Option<&rebid::Rebid<'_>>,
) -> Result<Report> {
    let raw: Vec<(B256, Bytes)> = signed.iter().map(|s| (*s.hash(), raw_signed(s))).collect();
    let ladder = match rebid.map(|r| &r.source) {
        Some(rebid::Source::Ladder(levels)) => Some(levels),
        _ => None,
    };

    // One request for all: nodes accept consecutive nonces from one batch.
    let client = connection.provider.client();
    let mut batch = BatchRequest::new(client);
    let mut waiters = Vec::new();
    for ((_, bytes), resume) in raw.iter().zip(resume) {
        waiters.push(match resume.in_pool {
            true => None,
            false => Some(batch.add_call::<_, B256>("eth_sendRawTransaction", &(bytes,))?),
        });
    }
    let sent_batch = match waiters.iter().any(Option::is_some) {
        true => connection.timed(batch.send()).await,
        false => Ok(()),
    };
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
            fee_level: None,
        })
        .collect();
    // What each transaction bids now, and the block it was (re-)sent at.
    let mut bids: Vec<Transaction> = txs.to_vec();
    let mut levels: Vec<usize> = resume.iter().map(|r| r.level).collect();
    let mut sent_block: Vec<Option<u64>> = vec![None; txs.len()];
    let mut rebids_stopped = vec![false; txs.len()];
    if let Err(error) = sent_batch {
        // The request may or may not have reached the node: say so, with the hashes to check.
        for (r, waiter) in receipts.iter_mut().zip(&waiters) {
            if waiter.is_some() {
                r.error = Some(format!("unknown: the broadcast request failed ({error})"));
            }
        }
    } else {
        // Asked once, for every refusal of this send: they all face the same next block.
        let mut base_fee: Option<Option<u128>> = None;
        for (i, waiter) in waiters.into_iter().enumerate() {
            let Some(waiter) = waiter else { continue };
            let Err(error) = waiter.await else { continue };
            receipts[i].error = Some(error.to_string());
            // Priced out between the preview and the send: re-bid at once, as while waiting.
            if let Some(rebid::Source::Sign { signer, cap, ask }) = rebid.map(|r| &r.source) {
                if base_fee.is_none() {
                    base_fee = Some(next_base_fee(connection).await);
                }
                let Some(Some(next_base_fee)) = base_fee else { continue };
                if !rebid::priced_out(bids[i].fees, next_base_fee) {
                    continue;
                }
                eprintln!(
                    "note: the node refused nonce {} ({error}); its max fee is below the next block's base fee",
                    bids[i].nonce
                );
                match replace_bid(connection, signer, *cap, *ask, &bids[i], next_base_fee).await {
                    Ok((fees, hash)) => {
                        receipts[i].hash = hash;
                        receipts[i].error = None;
                        bids[i].fees = fees;
                    }
                    Err(why) => receipts[i].error = Some(format!("{error}; not re-bid: {why}")),
                }
                continue;
            }
            // A node that refuses a level (its fee, most often) may take a higher one.
            let Some(ladder) = ladder else { continue };
            while let Some(level) = ladder[i].get(levels[i]) {
                levels[i] += 1;
                eprintln!(
                    "note: the node refused nonce {} at fee level {} ({}); sending fee level {}",
                    bids[i].nonce,
                    levels[i],
                    receipts[i].error.as_deref().unwrap_or_default(),
                    levels[i] + 1
                );
                match send_raw(connection, level).await {
                    Ok(hash) => {
                        receipts[i].hash = hash;
                        receipts[i].error = None;
                        bids[i].fees = crate::fees::Fees::of(level.tx());
                        break;
                    }
                    Err(error) => receipts[i].error = Some(error),
                }
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
                let due = |i: usize| block >= sent_block[i].unwrap_or(block) + policy.after_blocks;
                if let Some(i) = first
                    && due(i)
                {
                    // The bar would draw over the question and the device prompt.
                    bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
                    let outcome = match &policy.source {
                        rebid::Source::Sign { signer, cap, ask }
                            if rebid::priced_out(bids[i].fees, next_base_fee) =>
                        {
                            Some(replace_bid(connection, signer, *cap, *ask, &bids[i], next_base_fee).await)
                        }
                        rebid::Source::Sign { .. } => None,
                        rebid::Source::Ladder(ladder) => {
                            Some(climb(connection, &ladder[i], &mut levels[i], &bids[i], next_base_fee).await)
                        }
                    };
                    if progress {
                        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                    }
                    match outcome {
                        Some(Ok((fees, hash))) => {
                            let old = std::mem::replace(&mut receipts[i].hash, hash);
                            receipts[i].replaced.push(old);
                            bids[i].fees = fees;
                            sent_block[i] = Some(block);
                        }
                        Some(Err(why)) => {
                            bar.suspend(|| eprintln!("note: nonce {} is not re-bid: {why}", bids[i].nonce));
                            rebids_stopped[i] = true;
                        }
                        None => {}
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
    if let Some(ladder) = ladder {
        for (i, r) in receipts.iter_mut().enumerate() {
            let level = ladder[i].iter().position(|l| *l.hash() == r.hash).map_or(1, |j| j + 2);
            r.fee_level = Some(level);
        }
    }
    Ok(Report { receipts })
}

/// The next block's base fee, as `eth_feeHistory` tells it.
async fn next_base_fee(connection: &Connection) -> Option<u128> {
    let history = connection
        .timed(connection.provider.get_fee_history(1, alloy::rpc::types::BlockNumberOrTag::Latest, &[]))
        .await
        .ok()?;
    history.base_fee_per_gas.last().copied()
}

/// The signed transaction as `eth_sendRawTransaction` takes it (EIP-2718 bytes).
pub fn raw_signed(signed: &Signed<TxEip1559>) -> Bytes {
    Bytes::from(signed.encoded_2718())
}

async fn send_raw(connection: &Connection, signed: &Signed<TxEip1559>) -> Result<B256, String> {
    connection
        .provider
        .client()
        .request::<_, B256>("eth_sendRawTransaction", (raw_signed(signed),))
        .await
        .map_err(|e| e.to_string())
}

/// One step up a pre-signed fee ladder, said first; the new fees and hash.
async fn climb(
    connection: &Connection,
    ladder: &[Signed<TxEip1559>],
    level: &mut usize,
    current: &Transaction,
    next_base_fee: u128,
) -> Result<(crate::fees::Fees, B256), String> {
    let top = ladder.len() + 1;
    let Some(next) = rebid::next_level(ladder, *level, next_base_fee) else {
        return Err(format!(
            "its fee ladder is spent: level {top} of {top} bids {}, the next block's base fee is {}",
            gwei(current.fees.max_fee_per_gas),
            gwei(next_base_fee)
        ));
    };
    let signed = &ladder[next - 1];
    let fees = crate::fees::Fees::of(signed.tx());
    eprintln!(
        "fee ladder: nonce {} ({}) is not mined yet; sending fee level {} of {top}: max fee {}, tip {} \
         (the next block's base fee is {}); new tx hash {}",
        current.nonce,
        current.call.label,
        next + 1,
        gwei(fees.max_fee_per_gas),
        gwei(fees.max_priority_fee_per_gas),
        gwei(next_base_fee),
        signed.hash()
    );
    *level = next;
    let hash = send_raw(connection, signed)
        .await
        .map_err(|e| format!("the node refused fee level {}: {e}", next + 1))?;
    Ok((fees, hash))
}

/// One replacement: said, confirmed where it must be, signed and sent; the new fees and hash.
async fn replace_bid(
    connection: &Connection,
    signer: &crate::signers::Signer,
    cap: u128,
    ask: bool,
    current: &Transaction,
    next_base_fee: u128,
) -> Result<(crate::fees::Fees, B256), String> {
    use alloy::consensus::{SignableTransaction, TypedTransaction};
    let fees = rebid::next_bid(current.fees, next_base_fee, cap)?;
    let bid = Transaction { fees, ..current.clone() };
    eprintln!(
        "re-bid nonce {} ({}): the next block's base fee is {}, above its max fee {}; new max fee {}, \
         tip {} (cap {}); new tx hash {}",
        bid.nonce,
        bid.call.label,
        gwei(next_base_fee),
        gwei(current.fees.max_fee_per_gas),
        gwei(fees.max_fee_per_gas),
        gwei(fees.max_priority_fee_per_gas),
        gwei(cap),
        bid.signing_hash()
    );
    if ask {
        let question = crate::confirm::Question {
            ask: "Sign and send this replacement? [y/N] ",
            ask_burn: "Type BURN to go on: ",
            no_terminal: "no terminal to confirm the replacement at (pass --yes to re-bid without asking)",
            no_terminal_burn: "no terminal to confirm the replacement at",
            nothing: "the replacement was not signed",
        };
        crate::confirm::ask(&question, false, false, false).map_err(|e| e.to_string())?;
    }
    if let Some(device) = signer.device_name() {
        eprintln!("  confirm on your {device}: the new fees, and on a Ledger the tx hash above");
    }
    let unsigned = bid.unsigned();
    let signature = signer
        .sign(&TypedTransaction::Eip1559(unsigned.clone()))
        .await
        .map_err(|e| format!("signing the replacement failed: {e:#}"))?;
    let hash = send_raw(connection, &unsigned.into_signed(signature))
        .await
        .map_err(|e| format!("the node refused the replacement: {e}"))?;
    Ok((fees, hash))
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
            let level = r.fee_level.map(|l| format!(" at fee level {l}")).unwrap_or_default();
            println!("{}  nonce {}  {}  {state}{level}{replaced}", r.hash, r.nonce, r.label);
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
            fee_level: None,
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
