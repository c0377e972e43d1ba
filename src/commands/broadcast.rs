//! `defender broadcast FILE`: checks a signed bundle (or raw signed transactions) against
//! itself and the chain, then sends what is not yet on chain in nonce order and waits for the
//! receipts. Anything that does not fit stops it before a single transaction is sent.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use alloy::consensus::{Signed, TxEip1559};
use alloy::primitives::{Address, B256, U64};
use alloy::providers::Provider;
use alloy::rpc::client::BatchRequest;
use alloy::rpc::types::{BlockNumberOrTag, TransactionReceipt};
use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::session::InputError;
use crate::actions::Call;
use crate::chain::rpc::{self, Connection};
use crate::cli::Cli;
use crate::fees::Fees;
use crate::offline::bundle::CheckedTx;
use crate::offline::input::{self, Input};
use crate::offline::show;
use crate::pipeline::{Refused, Transaction};
use crate::send::{self, Report, Sent};
use crate::units::format_token;

#[derive(Debug, Args)]
pub struct BroadcastArgs {
    /// A signed bundle, a file of raw signed transactions in hex (one per line), or `-` to read
    /// either from standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Where a transaction of the bundle stands on the chain.
enum State {
    /// Its receipt exists: mined (maybe reverted). Not sent again.
    Mined(Box<TransactionReceipt>),
    /// The node knows it but has not mined it. Not sent again; its receipt is awaited.
    Pending,
    /// Unknown to the node: to send.
    New,
}

fn gwei(wei: u128) -> String {
    format!("{} gwei", format_token(alloy::primitives::U256::from(wei), 9))
}

pub async fn run(cli: &Cli, args: &BroadcastArgs) -> Result<ExitCode> {
    let g = &cli.global;
    let file = if args.file.as_os_str() == "-" {
        "standard input".to_owned()
    } else {
        args.file.display().to_string()
    };
    if g.safe.is_some() {
        return Err(InputError(
            "broadcast takes no --safe: a bundle built with --safe carries its Safe, and any other bundle is an \
             account's own; nothing was sent"
                .into(),
        )
        .into());
    }
    let input = input::read(&args.file).map_err(|e| InputError(format!("{e}; nothing was sent")))?;
    let bundle = match input {
        Input::Bundle(bundle) => *bundle,
        Input::RawSigned(txs) => {
            input::bundle_of_signed(&txs).map_err(|e| InputError(format!("{file}: {e}; nothing was sent")))?
        }
        Input::RawUnsigned(_) => {
            return Err(InputError(format!(
                "{file} holds unsigned transactions: sign them first (`defender sign {file} --out SIGNED.json`); \
                 nothing was sent"
            ))
            .into());
        }
    };
    let txs = bundle.check().map_err(|e| InputError(format!("{file}: {e}; nothing was sent")))?;
    let n = txs.len();
    if let Some(i) = txs.iter().position(|t| t.signed.is_none()) {
        return Err(InputError(format!(
            "{file}: transaction {} of {n} is not signed ({} of {n} are): finish with `defender sign {file} --out \
             {file}`; nothing was sent",
            i + 1,
            bundle.signed_count()
        ))
        .into());
    }
    if let Some(from) = g.from
        && let Some(t) = txs.iter().find(|t| t.from != from)
    {
        return Err(InputError(format!(
            "--from is {from}, but {file} has a transaction signed by {}: nothing was sent",
            t.from
        ))
        .into());
    }
    if let Some(expected) = g.chain
        && expected != bundle.chain_id
    {
        return Err(Refused(format!(
            "{file} is for chain {}, but --chain says {expected}: nothing was sent",
            bundle.chain_id
        ))
        .into());
    }
    if !g.json
        && let Some((line, stale)) = show::age(&bundle, show::now())
    {
        eprintln!("{}{line}", if stale { "warning: " } else { "" });
    }
    if bundle.safe.is_some() {
        return super::broadcast_safe::run(cli, &file, bundle).await;
    }

    let connection = rpc::connect(&g.rpc_url).await?;
    let view = read_chain(&connection, &txs).await?;
    if view.chain_id != bundle.chain_id {
        return Err(Refused(format!(
            "the RPC at {} serves chain {}, but the transactions are for chain {}: nothing was sent; point --rpc-url \
             at chain {}",
            connection.url, view.chain_id, bundle.chain_id, bundle.chain_id
        ))
        .into());
    }

    // Every transaction still to send must take exactly the account's next usable nonce.
    let mut problems = Vec::new();
    let mut expected: BTreeMap<Address, u64> = view.pending_nonce.clone();
    for (i, (t, state)) in txs.iter().zip(&view.states).enumerate() {
        if !matches!(state, State::New) {
            continue;
        }
        let nonce = t.tx.nonce;
        let mined = view.latest_nonce.get(&t.from).copied().unwrap_or_default();
        let next = expected.get(&t.from).copied().unwrap_or_default();
        let at = format!(
            "transaction {} of {n} (nonce {nonce}, {})",
            i + 1,
            t.signed.as_ref().map(|s| *s.hash()).unwrap_or_default()
        );
        if nonce < mined {
            problems.push(format!(
                "{at} can never be mined: nonce {nonce} of {} is already used by another transaction on chain \
                 (its next nonce is {mined}); rebuild the bundle",
                t.from
            ));
        } else if nonce < next {
            problems.push(format!(
                "{at}: nonce {nonce} of {} is taken by another transaction waiting in the node's pool; let it be \
                 mined or replaced, then rebuild the bundle",
                t.from
            ));
        } else if nonce > next {
            problems.push(format!(
                "{at}: the next usable nonce of {} is {next}, so this one would wait in the pool until the gap is \
                 filled; send the missing transactions first, or rebuild the bundle",
                t.from
            ));
        } else {
            expected.insert(t.from, nonce + 1);
        }
    }
    if !problems.is_empty() {
        return Err(Refused(format!("{}\nnothing was sent", problems.join("\n"))).into());
    }

    // Fees: a max fee under the base fee waits until the base fee falls.
    if let Some(base_fee) = view.base_fee {
        for (i, (t, state)) in txs.iter().zip(&view.states).enumerate() {
            if matches!(state, State::New) && t.tx.max_fee_per_gas < base_fee {
                eprintln!(
                    "warning: transaction {} of {n} offers at most {} per gas, below the current base fee of {}: a \
                     node refuses it or holds it until the base fee falls (rebuild with a higher --max-fee if it is urgent)",
                    i + 1,
                    gwei(t.tx.max_fee_per_gas),
                    gwei(base_fee)
                );
            }
        }
    }

    let mut receipts: Vec<Sent> = txs.iter().map(sent_of).collect();
    let mut to_send: Vec<(usize, Transaction, Signed<TxEip1559>)> = Vec::new();
    let mut waiting: Vec<usize> = Vec::new();
    for (i, (t, state)) in txs.iter().zip(&view.states).enumerate() {
        match state {
            State::Mined(receipt) => {
                fill(&mut receipts[i], receipt);
                if !g.json {
                    eprintln!(
                        "{}/{n} is already on chain (receipt found in block {}): not sent again",
                        i + 1,
                        receipt.block_number.unwrap_or_default()
                    );
                }
            }
            State::Pending => {
                waiting.push(i);
                if !g.json {
                    eprintln!("{}/{n} is already in the node's pool: not sent again, waiting for it", i + 1);
                }
            }
            State::New => {
                let signed = t.signed.clone().expect("every transaction is signed");
                to_send.push((i, transaction_of(t), signed));
            }
        }
    }
    let sent_hashes: Vec<B256> = to_send.iter().map(|(_, _, s)| *s.hash()).collect();
    if !to_send.is_empty() {
        let mut indices = Vec::with_capacity(to_send.len());
        let mut list = Vec::with_capacity(to_send.len());
        let mut signed = Vec::with_capacity(to_send.len());
        for (i, t, s) in to_send {
            indices.push(i);
            list.push(t);
            signed.push(s);
        }
        let report = send::broadcast(&connection, &list, signed, !g.json, None).await?;
        for (i, sent) in indices.into_iter().zip(report.receipts) {
            receipts[i] = sent;
        }
    }
    if !waiting.is_empty() {
        wait(&connection, &mut receipts, &waiting).await;
    }

    let report = Report { receipts };
    crate::stdout_guard::keep_printing();
    if g.json {
        println!(
            "{}",
            json!({
                "chain_id": bundle.chain_id,
                "sent": sent_hashes,
                "receipts": report.receipts,
            })
        );
    } else {
        report.print();
    }
    report.exit_code()
}

/// What the chain says, read in one JSON-RPC batch: chain id, each sender's mined and pending
/// nonce, each transaction's receipt and pool presence, and the latest base fee.
struct ChainView {
    chain_id: u64,
    latest_nonce: BTreeMap<Address, u64>,
    pending_nonce: BTreeMap<Address, u64>,
    states: Vec<State>,
    base_fee: Option<u128>,
}

async fn read_chain(connection: &Connection, txs: &[CheckedTx]) -> Result<ChainView> {
    let client = connection.provider.client();
    let mut batch = BatchRequest::new(client);
    let chain = batch.add_call::<_, U64>("eth_chainId", &())?;
    let senders: Vec<Address> = {
        let mut s: Vec<Address> = txs.iter().map(|t| t.from).collect();
        s.sort();
        s.dedup();
        s
    };
    let mut nonces = Vec::new();
    for from in &senders {
        let latest =
            batch.add_call::<_, U64>("eth_getTransactionCount", &(from, BlockNumberOrTag::Latest))?;
        let pending =
            batch.add_call::<_, U64>("eth_getTransactionCount", &(from, BlockNumberOrTag::Pending))?;
        nonces.push((*from, latest, pending));
    }
    let mut lookups = Vec::new();
    for t in txs {
        let hash = t.signed.as_ref().map(|s| *s.hash()).unwrap_or_default();
        let receipt =
            batch.add_call::<_, Option<TransactionReceipt>>("eth_getTransactionReceipt", &(hash,))?;
        let known = batch.add_call::<_, Option<serde_json::Value>>("eth_getTransactionByHash", &(hash,))?;
        lookups.push((receipt, known));
    }
    let block = batch.add_call::<_, Option<serde_json::Value>>(
        "eth_getBlockByNumber",
        &(BlockNumberOrTag::Latest, false),
    )?;
    connection.timed(batch.send()).await?;

    let chain_id = connection.timed(chain).await?.to::<u64>();
    let mut latest_nonce = BTreeMap::new();
    let mut pending_nonce = BTreeMap::new();
    for (from, latest, pending) in nonces {
        latest_nonce.insert(from, connection.timed(latest).await?.to::<u64>());
        pending_nonce.insert(from, connection.timed(pending).await?.to::<u64>());
    }
    let mut states = Vec::with_capacity(txs.len());
    for (receipt, known) in lookups {
        let receipt = connection.timed(receipt).await?;
        let known = connection.timed(known).await?;
        states.push(match (receipt, known) {
            (Some(receipt), _) => State::Mined(Box::new(receipt)),
            (None, Some(value)) if !value.is_null() => State::Pending,
            _ => State::New,
        });
    }
    let base_fee = connection
        .timed(block)
        .await?
        .and_then(|b| b.get("baseFeePerGas").and_then(|v| v.as_str()).map(str::to_owned))
        .and_then(|hex| u128::from_str_radix(hex.trim_start_matches("0x"), 16).ok());
    Ok(ChainView { chain_id, latest_nonce, pending_nonce, states, base_fee })
}

fn transaction_of(t: &CheckedTx) -> Transaction {
    Transaction {
        call: Call { label: t.label.clone(), to: t.to(), data: t.tx.input.clone(), value: t.tx.value },
        from: t.from,
        chain_id: t.tx.chain_id,
        nonce: t.tx.nonce,
        gas_limit: t.tx.gas_limit,
        fees: Fees {
            max_fee_per_gas: t.tx.max_fee_per_gas,
            max_priority_fee_per_gas: t.tx.max_priority_fee_per_gas,
        },
    }
}

fn sent_of(t: &CheckedTx) -> Sent {
    Sent {
        label: t.label.clone(),
        nonce: t.tx.nonce,
        hash: t.signed.as_ref().map(|s| *s.hash()).unwrap_or_default(),
        status: None,
        block: None,
        gas_used: None,
        error: None,
        replaced: Vec::new(),
    }
}

fn fill(sent: &mut Sent, receipt: &TransactionReceipt) {
    sent.status = Some(receipt.status());
    sent.block = receipt.block_number;
    sent.gas_used = Some(receipt.gas_used);
}

/// Waits (up to ten minutes) for the receipts of transactions the node already had.
async fn wait(connection: &Connection, receipts: &mut [Sent], indices: &[usize]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    let mut pause = Duration::from_millis(50);
    while tokio::time::Instant::now() < deadline {
        let mut left = 0;
        for &i in indices {
            if receipts[i].status.is_some() {
                continue;
            }
            let hash = receipts[i].hash;
            match connection.timed(connection.provider.get_transaction_receipt(hash)).await {
                Ok(Some(receipt)) => fill(&mut receipts[i], &receipt),
                _ => left += 1,
            }
        }
        if left == 0 {
            return;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}
