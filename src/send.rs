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
        })
        .collect();
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
        let waiters: Vec<_> = pending
            .iter()
            .map(|&i| {
                batch.add_call::<_, Option<TransactionReceipt>>(
                    "eth_getTransactionReceipt",
                    &(receipts[i].hash,),
                )
            })
            .collect::<Result<_, _>>()?;
        if connection.timed(batch.send()).await.is_ok() {
            for (&i, waiter) in pending.iter().zip(waiters) {
                if let Ok(Some(receipt)) = waiter.await {
                    receipts[i].status = Some(receipt.status());
                    receipts[i].block = receipt.block_number;
                    receipts[i].gas_used = Some(receipt.gas_used);
                    bar.inc(1);
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
            println!("{}  nonce {}  {}  {state}", r.hash, r.nonce, r.label);
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
