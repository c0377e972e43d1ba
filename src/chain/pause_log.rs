//! The queue of DSPause, rebuilt from its ds-note LogNotes: every `plot` gives a plan, every
//! `drop` and `exec` says what became of one, and `plans(id)` says what is still queued.
//!
//! `eth_getLogs` is asked in block ranges, several at a time; a range the provider refuses
//! (too many blocks or results) is split in two and asked again, down to single blocks.

use std::collections::HashMap;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::providers::Provider;
use alloy::rpc::client::BatchRequest;
use alloy::rpc::types::{BlockId, BlockNumberOrTag, Filter, Log, TransactionRequest};
use alloy::sol_types::{SolCall, SolEvent, SolValue};
use anyhow::{Context, Result};
use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::chain::bindings::{DSPause, DssExec, LogNote};
use crate::chain::rpc::Connection;

/// A plan as DSPause identifies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanKey {
    pub usr: Address,
    pub tag: B256,
    pub fax: Bytes,
    #[serde(with = "crate::units::decimal")]
    pub eta: U256,
}

impl PlanKey {
    /// DSPause's id: keccak256(abi.encode(usr, tag, fax, eta)).
    pub fn id(&self) -> B256 {
        keccak256((self.usr, self.tag, self.fax.clone(), self.eta).abi_encode_params())
    }
}

/// What became of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanState {
    /// Queued, eta in the future.
    Pending,
    /// Queued and past its eta: anyone can execute it now.
    Executable,
    Dropped,
    Executed,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueuedPlan {
    pub id: B256,
    #[serde(flatten)]
    pub key: PlanKey,
    pub state: PlanState,
    /// Who plotted it: for a DssExec spell, the spell itself.
    pub plotted_by: Address,
    pub plotted_in: u64,
    /// The spell's `description()`, when it has one.
    pub description: Option<String>,
}

/// How to scan.
#[derive(Debug, Clone, Copy)]
pub struct ScanOptions {
    pub from_block: u64,
    pub to_block: Option<u64>,
    /// Blocks per `eth_getLogs` to start with.
    pub chunk: u64,
    /// Requests in flight at once.
    pub concurrency: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self { from_block: 0, to_block: None, chunk: 100_000, concurrency: 4 }
    }
}

fn selector_topic(selector: [u8; 4]) -> B256 {
    let mut word = B256::ZERO;
    word[..4].copy_from_slice(&selector);
    word
}

/// All pause LogNotes of plot, drop and exec in the range.
pub async fn scan_notes(connection: &Connection, pause: Address, options: ScanOptions) -> Result<Vec<Log>> {
    let to = match options.to_block {
        Some(block) => block,
        None => connection.timed(connection.provider.get_block_number()).await?,
    };
    let base = Filter::new().address(pause).event_signature(vec![
        selector_topic(DSPause::plotCall::SELECTOR),
        selector_topic(DSPause::dropCall::SELECTOR),
        selector_topic(DSPause::execCall::SELECTOR),
    ]);
    let chunk = options.chunk.max(1);
    let ranges: Vec<(u64, u64)> = (options.from_block..=to)
        .step_by(chunk as usize)
        .map(|start| (start, (start + chunk - 1).min(to)))
        .collect();
    let results: Vec<Result<Vec<Log>>> = stream::iter(ranges)
        .map(|(from, to)| logs_split(connection, &base, from, to))
        .buffered(options.concurrency.max(1))
        .collect()
        .await;
    let mut logs = Vec::new();
    for result in results {
        logs.extend(result?);
    }
    Ok(logs)
}

/// One range, split in halves while the provider refuses it.
async fn logs_split(connection: &Connection, base: &Filter, from: u64, to: u64) -> Result<Vec<Log>> {
    let mut pending = vec![(from, to)];
    let mut logs = Vec::new();
    while let Some((from, to)) = pending.pop() {
        let filter = base.clone().from_block(from).to_block(to);
        match connection.provider.get_logs(&filter).await {
            Ok(found) => logs.extend(found),
            Err(error) if to > from && is_range_refusal(&error.to_string()) => {
                let mid = from + (to - from) / 2;
                // Later half first on the stack, so the earlier half is fetched first.
                pending.push((mid + 1, to));
                pending.push((from, mid));
            }
            Err(error) => {
                return Err(connection.unreachable(error)).context(format!("reading pause logs {from}-{to}"));
            }
        }
    }
    logs.sort_by_key(|log| (log.block_number, log.log_index));
    Ok(logs)
}

/// Provider messages that mean "ask for less" (ranges, result counts, response size, time).
fn is_range_refusal(message: &str) -> bool {
    let m = message.to_lowercase();
    ["range", "too many", "limit", "exceed", "more than", "timeout", "too large", "query returned"]
        .iter()
        .any(|needle| m.contains(needle))
}

/// A plot, drop or exec note decoded back into its plan.
struct Note {
    selector: [u8; 4],
    caller: Address,
    key: PlanKey,
    block: u64,
}

fn decode_note(log: &Log) -> Option<Note> {
    let note = LogNote::decode_log(&log.inner).ok()?.data;
    let selector: [u8; 4] = note.fax.get(..4)?.try_into().ok()?;
    // plot, drop and exec share one argument list: (usr, tag, fax, eta).
    let args = DSPause::plotCall::abi_decode_raw(&note.fax[4..]).ok()?;
    Some(Note {
        selector,
        caller: note.guy,
        key: PlanKey { usr: args.usr, tag: args.tag, fax: args.fax, eta: args.eta },
        block: log.block_number.unwrap_or_default(),
    })
}

/// The queue: every plotted plan with its state, oldest first.
pub async fn queue(
    connection: &Connection,
    pause: Address,
    now: u64,
    options: ScanOptions,
) -> Result<Vec<QueuedPlan>> {
    let logs = scan_notes(connection, pause, options).await?;
    let mut plans: Vec<QueuedPlan> = Vec::new();
    let mut index: HashMap<B256, usize> = HashMap::new();
    let mut executed: HashMap<B256, bool> = HashMap::new();
    for note in logs.iter().filter_map(decode_note) {
        let id = note.key.id();
        if note.selector == DSPause::plotCall::SELECTOR {
            // A plan can be plotted again after a drop: the latest plot counts.
            let plan = QueuedPlan {
                id,
                key: note.key,
                state: PlanState::Pending,
                plotted_by: note.caller,
                plotted_in: note.block,
                description: None,
            };
            match index.get(&id) {
                Some(&i) => plans[i] = plan,
                None => {
                    index.insert(id, plans.len());
                    plans.push(plan);
                }
            }
            executed.remove(&id);
        } else if note.selector == DSPause::execCall::SELECTOR {
            executed.insert(id, true);
        }
    }
    let queued = plans_queued(connection, pause, &plans.iter().map(|p| p.id).collect::<Vec<_>>()).await?;
    for (plan, queued) in plans.iter_mut().zip(queued) {
        plan.state = match (queued, executed.contains_key(&plan.id)) {
            (true, _) if plan.key.eta <= U256::from(now) => PlanState::Executable,
            (true, _) => PlanState::Pending,
            (false, true) => PlanState::Executed,
            (false, false) => PlanState::Dropped,
        };
    }
    describe(connection, &mut plans).await;
    Ok(plans)
}

/// `plans(id)` for every id, in JSON-RPC batches.
async fn plans_queued(connection: &Connection, pause: Address, ids: &[B256]) -> Result<Vec<bool>> {
    let mut out = Vec::with_capacity(ids.len());
    let latest = BlockId::Number(BlockNumberOrTag::Latest);
    for chunk in ids.chunks(1_000) {
        let mut batch = BatchRequest::new(connection.provider.client());
        let waiters: Vec<_> = chunk
            .iter()
            .map(|id| {
                let call = TransactionRequest::default()
                    .with_to(pause)
                    .with_input(DSPause::plansCall(*id).abi_encode());
                batch.add_call::<_, Bytes>("eth_call", &(call, latest))
            })
            .collect::<Result<_, _>>()?;
        connection.timed(batch.send()).await?;
        for waiter in waiters {
            let bytes = connection.timed(waiter).await?;
            out.push(DSPause::plansCall::abi_decode_returns(&bytes).unwrap_or(false));
        }
    }
    Ok(out)
}

/// Labels queued plans with their spell's `description()` (one batch; failures ignored).
async fn describe(connection: &Connection, plans: &mut [QueuedPlan]) {
    let open: Vec<usize> = (0..plans.len())
        .filter(|&i| matches!(plans[i].state, PlanState::Pending | PlanState::Executable))
        .collect();
    if open.is_empty() {
        return;
    }
    let latest = BlockId::Number(BlockNumberOrTag::Latest);
    let mut batch = BatchRequest::new(connection.provider.client());
    let waiters: Vec<_> = open
        .iter()
        .filter_map(|&i| {
            let call = TransactionRequest::default()
                .with_to(plans[i].plotted_by)
                .with_input(DssExec::descriptionCall {}.abi_encode());
            batch.add_call::<_, Bytes>("eth_call", &(call, latest)).ok().map(|w| (i, w))
        })
        .collect();
    if connection.timed(batch.send()).await.is_err() {
        return;
    }
    for (i, waiter) in waiters {
        if let Ok(bytes) = waiter.await
            && let Ok(text) = DssExec::descriptionCall::abi_decode_returns(&bytes)
            && !text.is_empty()
        {
            plans[i].description = Some(text);
        }
    }
}
