//! `defender broadcast FILE`: checks a signed bundle (or raw signed transactions) against
//! itself and the chain, then sends what is not yet on chain in nonce order and waits for the
//! receipts. Anything that does not fit stops it before a single transaction is sent.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

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
use crate::units::gwei;

#[derive(Debug, Args)]
pub struct BroadcastArgs {
    /// A signed bundle, a file of raw signed transactions in hex (one per line), or `-` to read
    /// either from standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Where a transaction of the bundle stands on the chain. A level is one of its fee-ladder
/// bids (0: its own fees).
enum State {
    /// A receipt exists for one of its levels: mined (maybe reverted). Not sent again.
    Mined(Box<TransactionReceipt>, usize),
    /// The node knows this level but has not mined it. Not sent again; its receipt is
    /// awaited, and a ladder climbs on from it.
    Pending(usize),
    /// Unknown to the node: to send.
    New,
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
    if let Some(i) = txs.iter().position(|t| !t.fully_signed()) {
        let levels = if txs[i].higher.is_empty() { "" } else { " at every fee level" };
        return Err(InputError(format!(
            "{file}: transaction {} of {n} is not signed{levels} ({} of {n} are): finish with `defender sign {file} \
             --out {file}`; nothing was sent",
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

    // Fees: a max fee under the base fee waits until the base fee falls. A ladder starts at
    // its lowest level the latest block could have taken.
    let start_level: Vec<usize> = txs
        .iter()
        .map(|t| {
            let fits = |tx: &TxEip1559| view.base_fee.is_none_or(|b| tx.max_fee_per_gas >= b);
            t.levels().position(|(tx, _)| fits(tx)).unwrap_or(t.higher.len())
        })
        .collect();
    if let Some(base_fee) = view.base_fee {
        for (i, (t, state)) in txs.iter().zip(&view.states).enumerate() {
            if !matches!(state, State::New) {
                continue;
            }
            let top = t.higher.len() + 1;
            let (bid, _) = t.levels().nth(start_level[i]).expect("a level of the ladder");
            if start_level[i] > 0 && !g.json {
                eprintln!(
                    "{}/{n}: the base fee is {}, above fee level {} of {top} ({}): starting at fee level {} ({})",
                    i + 1,
                    gwei(base_fee),
                    start_level[i],
                    gwei(t.levels().nth(start_level[i] - 1).map_or(0, |(tx, _)| tx.max_fee_per_gas)),
                    start_level[i] + 1,
                    gwei(bid.max_fee_per_gas)
                );
            }
            if bid.max_fee_per_gas < base_fee {
                let level = if top > 1 { format!(" at its top fee level ({top})") } else { String::new() };
                eprintln!(
                    "warning: transaction {} of {n} offers at most {} per gas{level}, below the current base fee of {}: a \
                     node refuses it or holds it until the base fee falls (rebuild with a higher --max-fee if it is urgent)",
                    i + 1,
                    gwei(bid.max_fee_per_gas),
                    gwei(base_fee)
                );
            }
        }
    }

    let mut receipts: Vec<Sent> = txs.iter().map(sent_of).collect();
    let mut indices = Vec::new();
    let mut list = Vec::new();
    let mut signed = Vec::new();
    let mut resume = Vec::new();
    for (i, (t, state)) in txs.iter().zip(&view.states).enumerate() {
        let level_of =
            |l: usize| t.levels().nth(l).and_then(|(_, s)| s.cloned()).expect("every level is signed");
        match state {
            State::Mined(receipt, level) => {
                fill(&mut receipts[i], receipt);
                receipts[i].hash = *level_of(*level).hash();
                if !t.higher.is_empty() {
                    receipts[i].fee_level = Some(level + 1);
                }
                if !g.json {
                    eprintln!(
                        "{}/{n} is already on chain (receipt found in block {}): not sent again",
                        i + 1,
                        receipt.block_number.unwrap_or_default()
                    );
                }
            }
            State::Pending(level) => {
                if !g.json {
                    eprintln!("{}/{n} is already in the node's pool: not sent again, waiting for it", i + 1);
                }
                indices.push(i);
                list.push(transaction_of(t, *level));
                signed.push(level_of(*level));
                resume.push(send::Resume { in_pool: true, level: *level });
            }
            State::New => {
                indices.push(i);
                list.push(transaction_of(t, start_level[i]));
                signed.push(level_of(start_level[i]));
                resume.push(send::Resume { in_pool: false, level: start_level[i] });
            }
        }
    }
    let sent_hashes: Vec<B256> =
        signed.iter().zip(&resume).filter(|(_, r)| !r.in_pool).map(|(s, _)| *s.hash()).collect();
    if !list.is_empty() {
        // Climbing a ladder: per transaction sent, its levels above the first.
        let ladders: Vec<Vec<Signed<TxEip1559>>> = indices
            .iter()
            .map(|&i| txs[i].higher.iter().filter_map(|l| l.signed.clone()).collect())
            .collect();
        let rebid = ladders.iter().any(|l| !l.is_empty()).then(|| send::rebid::Rebid {
            after_blocks: cli.fees.rebid_after.max(1),
            source: send::rebid::Source::Ladder(ladders),
        });
        let report =
            send::broadcast_resuming(&connection, &list, signed, &resume, !g.json, rebid.as_ref()).await?;
        for (i, sent) in indices.into_iter().zip(report.receipts) {
            receipts[i] = sent;
        }
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
    // Every fee level of every transaction: any of them may be the one the node has.
    let mut lookups = Vec::new();
    for t in txs {
        let mut levels = Vec::new();
        for (_, signed) in t.levels() {
            let hash = signed.map(|s| *s.hash()).unwrap_or_default();
            let receipt =
                batch.add_call::<_, Option<TransactionReceipt>>("eth_getTransactionReceipt", &(hash,))?;
            let known =
                batch.add_call::<_, Option<serde_json::Value>>("eth_getTransactionByHash", &(hash,))?;
            levels.push((receipt, known));
        }
        lookups.push(levels);
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
    for levels in lookups {
        let mut state = State::New;
        for (level, (receipt, known)) in levels.into_iter().enumerate() {
            let receipt = connection.timed(receipt).await?;
            let known = connection.timed(known).await?;
            match (receipt, known) {
                (Some(receipt), _) => {
                    state = State::Mined(Box::new(receipt), level);
                    break;
                }
                // The highest level the node holds is the live bid.
                (None, Some(value)) if !value.is_null() => state = State::Pending(level),
                _ => {}
            }
        }
        states.push(state);
    }
    let base_fee = connection
        .timed(block)
        .await?
        .and_then(|b| b.get("baseFeePerGas").and_then(|v| v.as_str()).map(str::to_owned))
        .and_then(|hex| u128::from_str_radix(hex.trim_start_matches("0x"), 16).ok());
    Ok(ChainView { chain_id, latest_nonce, pending_nonce, states, base_fee })
}

/// The transaction at fee `level` (0: its own fees).
fn transaction_of(t: &CheckedTx, level: usize) -> Transaction {
    let (bid, _) = t.levels().nth(level).expect("a level of the ladder");
    Transaction {
        call: Call { label: t.label.clone(), to: t.to(), data: t.tx.input.clone(), value: t.tx.value },
        from: t.from,
        chain_id: t.tx.chain_id,
        nonce: t.tx.nonce,
        gas_limit: t.tx.gas_limit,
        fees: Fees::of(bid),
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
        fee_level: None,
    }
}

fn fill(sent: &mut Sent, receipt: &TransactionReceipt) {
    sent.status = Some(receipt.status());
    sent.block = receipt.block_number;
    sent.gas_used = Some(receipt.gas_used);
}
