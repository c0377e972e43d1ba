//! The queue of DSPause, rebuilt from its ds-note LogNotes: every `plot` gives a plan, every
//! `drop` and `exec` says what became of one, and `plans(id)` says what is still queued.
//! Protego's `Deploy` events, read in the same requests, give each plan its drop spells.
//!
//! A plan's fields always come from its plot's LogNote, never from a spell's getters: a spell
//! can answer anything, the pause's own note is what `plot` was given.

pub mod cache;
pub mod scan;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::{SolCall, SolEvent, SolValue};
use anyhow::{Result, anyhow};
use serde::Serialize;

use crate::chain::bindings::{Chief, DSPause, DssExec, EmergencyDropSpell, LogNote, Protego};
use crate::chain::calls::Calls;
use crate::chain::rpc::Connection;
use cache::{LogCache, SAFE_DEPTH, Scope};
pub use scan::Chunking;

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

impl PlanState {
    pub fn is_open(self) -> bool {
        matches!(self, PlanState::Pending | PlanState::Executable)
    }
}

/// An EmergencyDropSpell Protego deployed for a plan.
#[derive(Debug, Clone, Serialize)]
pub struct DropSpell {
    pub address: Address,
    pub deployed_in: u64,
    /// The chief's approvals of the spell.
    #[serde(with = "crate::units::decimal")]
    pub approvals: U256,
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
    /// Protego's drop spells for exactly this plan, oldest first.
    pub drop_spells: Vec<DropSpell>,
}

/// The contracts whose history is read, and the chain.
#[derive(Debug, Clone, Copy)]
pub struct Contracts {
    pub chain_id: u64,
    pub pause: Address,
    /// Zero where there is no Protego (MIP91's world).
    pub protego: Address,
    /// For drop spells' approvals.
    pub chief: Address,
}

/// How to read.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub from_block: u64,
    /// The head to read up to, and to read every state at.
    pub to_block: u64,
    pub chunking: Chunking,
    /// The cache directory; `None` reads everything from the chain and stores nothing.
    pub cache_dir: Option<PathBuf>,
}

/// How a history was read, for reports and tests.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReadReport {
    pub from_block: u64,
    pub to_block: u64,
    /// Blocks taken from the cache, inclusive.
    pub cached: Option<(u64, u64)>,
    /// Block ranges asked of the chain, inclusive.
    pub fetched: Vec<(u64, u64)>,
}

/// The queue: every plotted plan with its state, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Queue {
    pub plans: Vec<QueuedPlan>,
    pub read: ReadReport,
}

impl Queue {
    pub fn open(&self) -> impl Iterator<Item = &QueuedPlan> {
        self.plans.iter().filter(|p| p.state.is_open())
    }

    pub fn find(&self, id: B256) -> Option<&QueuedPlan> {
        self.plans.iter().find(|p| p.id == id)
    }

    /// The plan a drop spell drops, if it is one of Protego's for a plan in this queue.
    pub fn plan_of_drop_spell(&self, spell: Address) -> Option<&QueuedPlan> {
        self.plans.iter().find(|p| p.drop_spells.iter().any(|d| d.address == spell))
    }

    /// The latest plan plotted by `spell` (a DssExec spell plots its own plan).
    pub fn plotted_by(&self, spell: Address) -> Option<&QueuedPlan> {
        self.plans.iter().rev().find(|p| p.plotted_by == spell)
    }
}

/// ds-note puts the called function's selector, left-aligned, in topic 0.
pub fn selector_topic(selector: [u8; 4]) -> B256 {
    let mut word = B256::ZERO;
    word[..4].copy_from_slice(&selector);
    word
}

/// The pause's plot, drop and exec notes and Protego's Deploy events, from the cache where it
/// has them and from the chain for the rest; the cache is then brought up to the safe depth.
pub async fn history(
    connection: &Connection,
    contracts: &Contracts,
    options: &ScanOptions,
) -> Result<(Vec<Log>, ReadReport)> {
    let (from, to) = (options.from_block, options.to_block);
    if let Some(dir) = &options.cache_dir {
        connection.limits.load(dir, &connection.url);
    }
    let mut addresses = vec![contracts.pause];
    let mut topics = vec![
        selector_topic(DSPause::plotCall::SELECTOR),
        selector_topic(DSPause::dropCall::SELECTOR),
        selector_topic(DSPause::execCall::SELECTOR),
    ];
    if contracts.protego != Address::ZERO {
        addresses.push(contracts.protego);
        topics.push(Protego::Deploy::SIGNATURE_HASH);
    }
    let base = Filter::new().address(addresses.clone()).event_signature(topics);
    let cache = options
        .cache_dir
        .as_ref()
        .map(|dir| LogCache::new(dir, Scope { chain_id: contracts.chain_id, contracts: addresses }));
    let mut cached = cache.as_ref().and_then(LogCache::load);
    let (mut fetched, mut new_logs, mut widen, mut store_hash);
    loop {
        fetched = if from > to { Vec::new() } else { cache::missing(from, to, cached.as_ref()) };
        widen = widened(from, to, cached.as_ref().map(|c| (c.from, c.to)));
        let blocks: Vec<u64> = cached.iter().map(|c| c.to).chain(widen.map(|w| w.1)).collect();
        let hashes;
        (new_logs, hashes) =
            scan::logs_and_hashes(connection, &base, &fetched, options.chunking, &blocks).await?;
        store_hash = widen.and_then(|_| hashes.last().copied().flatten());
        match (&cached, hashes.first()) {
            (Some(c), Some(hash)) if *hash != Some(c.to_hash) => {
                if let Some(cache) = &cache {
                    cache.warn(&format!(
                        "block {} is not the one it was read from (a reorg deeper than {SAFE_DEPTH} blocks, \
                         or a chain started again under the same id)",
                        c.to
                    ));
                }
                cached = None;
            }
            _ => break,
        }
    }
    let report = ReadReport {
        from_block: from,
        to_block: to,
        cached: cached.as_ref().map(|c| (c.from.max(from), c.to.min(to))).filter(|(a, b)| a <= b),
        fetched: fetched.clone(),
    };

    let mut logs: Vec<Log> = cached.map(|c| c.logs).unwrap_or_default();
    logs.extend(new_logs);
    logs.sort_by_key(|log| (log.block_number, log.log_index));
    logs.dedup_by_key(|log| (log.block_number, log.log_index));

    if let (Some(cache), Some((first, last)), Some(to_hash)) = (&cache, widen, store_hash) {
        // Sorted by block: the stretch to keep is one slice.
        let block = |l: &Log| l.block_number.unwrap_or_default();
        let start = logs.partition_point(|l| block(l) < first);
        let end = logs.partition_point(|l| block(l) <= last);
        if let Err(e) = cache.store(first, last, to_hash, &logs[start..end]) {
            eprintln!("warning: the log cache could not be written ({e:#}); nothing else is affected");
        }
    }
    let logs =
        logs.into_iter().filter(|l| (from..=to).contains(&l.block_number.unwrap_or_default())).collect();
    Ok((logs, report))
}

/// The blocks the cache can hold after reading `from..=to` beside what it held: one
/// contiguous stretch, never within [`SAFE_DEPTH`] of `to`; `None` when that adds nothing.
fn widened(from: u64, to: u64, cached: Option<(u64, u64)>) -> Option<(u64, u64)> {
    let safe = to.checked_sub(SAFE_DEPTH)?;
    if from > safe {
        return None;
    }
    let Some((old_from, old_to)) = cached else { return Some((from, safe)) };
    let touches = from <= old_to.saturating_add(1) && safe.saturating_add(1) >= old_from;
    let new = (from.min(old_from), safe.max(old_to));
    (touches && new != (old_from, old_to)).then_some(new)
}

/// A plot, drop or exec note of the pause, decoded back into its plan.
#[derive(Debug, Clone)]
pub struct PauseNote {
    /// plot, drop or exec.
    pub selector: [u8; 4],
    /// Who called the pause: the spell for a plot, Protego or a drop spell for a drop.
    pub caller: Address,
    pub key: PlanKey,
    pub block: u64,
}

/// `log` as a plot, drop or exec LogNote (whoever emitted it: callers filter by address).
pub fn decode_note(log: &Log) -> Option<PauseNote> {
    let note = LogNote::decode_log(&log.inner).ok()?.data;
    let selector: [u8; 4] = note.fax.get(..4)?.try_into().ok()?;
    // plot, drop and exec share one argument list: (usr, tag, fax, eta).
    let args = DSPause::plotCall::abi_decode_raw(&note.fax[4..]).ok()?;
    Some(PauseNote {
        selector,
        caller: note.guy,
        key: PlanKey { usr: args.usr, tag: args.tag, fax: args.fax, eta: args.eta },
        block: log.block_number.unwrap_or_default(),
    })
}

fn decode_deploy(protego: Address, log: &Log) -> Option<(Address, u64)> {
    if protego == Address::ZERO || log.inner.address != protego {
        return None;
    }
    let event = Protego::Deploy::decode_log(&log.inner).ok()?;
    Some((event.data.dropSpell, log.block_number.unwrap_or_default()))
}

/// Plans checked per deployless PlanStates call: about 3 million gas and 32 KB of calldata,
/// well inside what providers allow one `eth_call` (and its answer, a byte a plan, inside
/// the 24,576 bytes a constructor may return).
const PLAN_STATES_PER_CALL: usize = 1_000;

/// PlanStates' creation code with its arguments: whether `pause` still holds each of `ids`.
fn plan_states_code(pause: Address, ids: Vec<B256>) -> Vec<u8> {
    let mut code =
        hex::decode(crate::chain::bindings::bytecode::PLAN_STATES.trim()).expect("abi/PlanStates.bin is hex");
    code.extend((pause, ids).abi_encode_params());
    code
}

/// The queue, read up to `options.to_block`, every state read at that block. `also_spells`
/// are read as drop spells too (a hat deployed before `from_block`, say).
pub async fn queue(
    connection: &Connection,
    contracts: &Contracts,
    now: u64,
    options: &ScanOptions,
    also_spells: &[Address],
) -> Result<Queue> {
    let (logs, read) = history(connection, contracts, options).await?;
    let mut plans: Vec<QueuedPlan> = Vec::new();
    let mut index: HashMap<B256, usize> = HashMap::new();
    let mut executed: HashSet<B256> = HashSet::new();
    let mut closed_by_note: HashSet<B256> = HashSet::new();
    let mut spells: Vec<(Address, u64)> = Vec::new();
    for log in &logs {
        if let Some(deployed) = decode_deploy(contracts.protego, log) {
            spells.push(deployed);
            continue;
        }
        if log.inner.address != contracts.pause {
            continue;
        }
        let Some(note) = decode_note(log) else { continue };
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
                drop_spells: Vec::new(),
            };
            match index.get(&id) {
                Some(&i) => plans[i] = plan,
                None => {
                    index.insert(id, plans.len());
                    plans.push(plan);
                }
            }
            executed.remove(&id);
            closed_by_note.remove(&id);
        } else {
            if note.selector == DSPause::execCall::SELECTOR {
                executed.insert(id);
            }
            closed_by_note.insert(id);
        }
    }
    for &spell in also_spells {
        if !spells.iter().any(|(s, _)| *s == spell) {
            spells.push((spell, 0));
        }
    }

    // One set of batched calls, all at the head the logs were read to. A plan whose latest plot
    // was followed by a drop or exec note is closed: only the others are checked against
    // `plans(id)`, which still catches a provider that left a drop out, a thousand at a time
    // in a deployless PlanStates call. One `description()` per spell, however many plans it
    // plotted.
    let mut calls = Calls::default();
    let unclosed: Vec<usize> = (0..plans.len()).filter(|&i| !closed_by_note.contains(&plans[i].id)).collect();
    let state_reads: Vec<(&[usize], usize)> = unclosed
        .chunks(PLAN_STATES_PER_CALL)
        .map(|chunk| {
            let ids: Vec<B256> = chunk.iter().map(|&i| plans[i].id).collect();
            (chunk, calls.add_deployless(plan_states_code(contracts.pause, ids)))
        })
        .collect();
    let mut descriptions: HashMap<Address, usize> = HashMap::new();
    for &i in &unclosed {
        let spell = plans[i].plotted_by;
        descriptions.entry(spell).or_insert_with(|| calls.add(spell, DssExec::descriptionCall {}));
    }
    let spell_reads: Vec<[usize; 5]> = spells
        .iter()
        .map(|&(spell, _)| {
            [
                calls.add(spell, EmergencyDropSpell::actionCall {}),
                calls.add(spell, EmergencyDropSpell::tagCall {}),
                calls.add(spell, EmergencyDropSpell::sigCall {}),
                calls.add(spell, EmergencyDropSpell::etaCall {}),
                calls.add(contracts.chief, Chief::approvalsCall(spell)),
            ]
        })
        .collect();
    let answers = calls.run(connection, options.to_block).await?;

    let mut queued = vec![false; plans.len()];
    let mut unanswered = Vec::new();
    for (chunk, at) in state_reads {
        // One byte a plan, 1 where the pause still holds it.
        match answers[at].as_ref().filter(|states| states.len() == chunk.len()) {
            Some(states) => chunk.iter().zip(states.iter()).for_each(|(&i, state)| queued[i] = *state == 1),
            // Refused (a gas or size cap on eth_call, say): each of its plans asked on its own.
            None => unanswered.extend_from_slice(chunk),
        }
    }
    if !unanswered.is_empty() {
        let mut one_by_one = Calls::default();
        for &i in &unanswered {
            one_by_one.add(contracts.pause, DSPause::plansCall(plans[i].id));
        }
        let answers = one_by_one.run(connection, options.to_block).await?;
        for (&i, answer) in unanswered.iter().zip(answers) {
            let state = answer.as_ref().and_then(|b| DSPause::plansCall::abi_decode_returns(b).ok());
            queued[i] = state.ok_or_else(|| {
                anyhow!(
                    "DSPause {} did not answer plans({}): try again, or another --rpc-url",
                    contracts.pause,
                    plans[i].id
                )
            })?;
        }
    }
    for (plan, &queued) in plans.iter_mut().zip(&queued) {
        plan.state = match (queued, executed.contains(&plan.id)) {
            (true, _) if plan.key.eta <= U256::from(now) => PlanState::Executable,
            (true, _) => PlanState::Pending,
            (false, true) => PlanState::Executed,
            (false, false) => PlanState::Dropped,
        };
    }
    let described: HashMap<Address, String> = descriptions
        .into_iter()
        .filter_map(|(spell, at)| {
            let text =
                answers[at].as_ref().and_then(|b| DssExec::descriptionCall::abi_decode_returns(b).ok())?;
            (!text.is_empty()).then_some((spell, text))
        })
        .collect();
    for &i in &unclosed {
        plans[i].description = described.get(&plans[i].plotted_by).cloned();
    }
    for (&(address, deployed_in), at) in spells.iter().zip(&spell_reads) {
        let get = |k: usize| answers[at[k]].as_ref();
        let key = (|| {
            Some(PlanKey {
                usr: EmergencyDropSpell::actionCall::abi_decode_returns(get(0)?).ok()?,
                tag: EmergencyDropSpell::tagCall::abi_decode_returns(get(1)?).ok()?,
                fax: EmergencyDropSpell::sigCall::abi_decode_returns(get(2)?).ok()?,
                eta: EmergencyDropSpell::etaCall::abi_decode_returns(get(3)?).ok()?,
            })
        })();
        let approvals =
            get(4).and_then(|b| Chief::approvalsCall::abi_decode_returns(b).ok()).unwrap_or_default();
        if let Some(&i) = key.and_then(|k| index.get(&k.id())) {
            plans[i].drop_spells.push(DropSpell { address, deployed_in, approvals });
        }
    }
    if let Some(dir) = &options.cache_dir
        && let Err(e) = connection.limits.store(dir, &connection.url)
    {
        eprintln!("warning: what the provider accepts could not be kept in {} ({e})", dir.display());
    }
    Ok(Queue { plans, read })
}

#[cfg(test)]
mod tests {
    use super::widened;

    #[test]
    fn the_cache_grows_only_below_the_safe_depth_and_only_contiguously() {
        // Too close to the head: nothing is safe yet.
        assert_eq!(widened(0, 63, None), None);
        assert_eq!(widened(0, 100, None), Some((0, 36)));
        // Read again a few blocks later: the stretch grows.
        assert_eq!(widened(0, 110, Some((0, 36))), Some((0, 46)));
        // Nothing new below the safe depth: no write.
        assert_eq!(widened(0, 100, Some((0, 36))), None);
        // A read that starts after a gap does not join the stretch.
        assert_eq!(widened(500, 1_000, Some((0, 36))), None);
        // A read from earlier than the stretch widens it downwards.
        assert_eq!(widened(0, 100, Some((20, 36))), Some((0, 36)));
    }
}
