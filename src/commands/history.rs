//! The option group of the commands that read the pause's history (`queue`, `cancel`,
//! `drop-spell`), and the read itself: from the log cache where it can, at the snapshot's block.

use alloy::primitives::Address;
use anyhow::Result;
use clap::Args;

use crate::chain::pause_log::{self, Chunking, Contracts, Queue, ScanOptions, cache};
use crate::chain::rpc::Connection;
use crate::chain::snapshot::Prepared;
use crate::commands::session::InputError;

#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// First block to read the pause's logs from [default: DSPause's deployment era].
    #[arg(long, value_name = "BLOCK")]
    pub from_block: Option<u64>,
    /// Blocks per eth_getLogs request (split further when the provider refuses).
    #[arg(long, default_value_t = 100_000, value_name = "BLOCKS", hide = true)]
    pub chunk: u64,
}

/// The plans a command acts on, as typed: ids or spells, or `--all`.
#[derive(Debug, Clone, Args)]
pub struct PlanTargets {
    /// Plan ids (0x + 64 hex) or the spells that plotted them (0x + 40 hex).
    #[arg(value_name = "PLAN_ID|SPELL", required_unless_present = "all")]
    pub targets: Vec<String>,
    /// Every plan queued in DSPause (`cancel` leaves out the defender's own default spell).
    #[arg(long, conflicts_with = "targets")]
    pub all: bool,
    #[command(flatten)]
    pub history: HistoryArgs,
}

impl PlanTargets {
    /// The typed targets, checked (exit 2 on a malformed one).
    pub fn parsed(&self) -> Result<Vec<Target>> {
        self.targets.iter().map(|t| parse_target(t)).collect()
    }
}

/// Where mainnet's DSPause history starts: it came with MCD (November 2019).
const MAINNET_PAUSE_BLOCK: u64 = 8_900_000;

/// Where to start reading the pause's history when not told: on mainnet (or a fork of it)
/// where its DSPause came; on any other chain, a chain-1 devnet included, at genesis.
pub fn default_from_block(chain_id: u64, head: u64) -> u64 {
    if chain_id == 1 && head >= MAINNET_PAUSE_BLOCK { MAINNET_PAUSE_BLOCK } else { 0 }
}

impl HistoryArgs {
    pub fn from_block(&self, chain_id: u64, head: u64) -> u64 {
        self.from_block.unwrap_or_else(|| default_from_block(chain_id, head))
    }
}

/// Where the pause's history is, read through the cache unless `no_cache`.
pub fn scan_options(
    prepared: &Prepared,
    from_block: u64,
    chunk: u64,
    no_cache: bool,
) -> (Contracts, ScanOptions) {
    let s = &prepared.snapshot;
    let contracts = Contracts {
        chain_id: prepared.chain_id,
        pause: s.at.pause,
        protego: s.at.protego,
        chief: s.at.chief,
    };
    let options = ScanOptions {
        from_block,
        to_block: s.block.number.saturating_to(),
        chunking: Chunking { chunk, ..Chunking::default() },
        cache_dir: if no_cache { None } else { cache::default_dir() },
    };
    (contracts, options)
}

/// The queue at the snapshot's block. `also_spells` are read as drop spells too.
pub async fn read(
    connection: &Connection,
    prepared: &Prepared,
    args: &HistoryArgs,
    no_cache: bool,
    also_spells: &[Address],
) -> Result<Queue> {
    let (contracts, options) = scan_options(
        prepared,
        args.from_block(prepared.chain_id, prepared.snapshot.block.number.saturating_to()),
        args.chunk,
        no_cache,
    );
    pause_log::queue(connection, &contracts, prepared.snapshot.now(), &options, also_spells).await
}

/// A plan as the user names it on the command line.
pub enum Target {
    Plan(alloy::primitives::B256),
    /// A DssExec spell: the plan it plotted.
    Spell(Address),
}

pub fn parse_target(text: &str) -> Result<Target> {
    let hex = text.strip_prefix("0x").unwrap_or(text);
    match hex.len() {
        64 => text
            .parse()
            .map(Target::Plan)
            .map_err(|_| InputError(format!("{text:?} is not a plan id")).into()),
        40 => {
            crate::chain::addresses::parse_address(text).map(Target::Spell).map_err(|m| InputError(m).into())
        }
        _ => Err(InputError(format!(
            "{text:?} is neither a plan id (0x + 64 hex digits) nor a spell address (0x + 40 hex digits)"
        ))
        .into()),
    }
}

/// The plans the targets name, as the pause's plot notes gave them (never a spell's getters).
pub fn plans_named<'q>(queue: &'q Queue, targets: &[Target]) -> Result<Vec<&'q pause_log::QueuedPlan>> {
    let since = queue.read.from_block;
    targets
        .iter()
        .map(|target| match target {
            Target::Plan(id) => queue.find(*id).ok_or_else(|| {
                InputError(format!(
                    "no plan {id} was plotted in DSPause since block {since}; `defender queue` lists them \
                     (--from-block reads further back)"
                ))
                .into()
            }),
            Target::Spell(spell) => queue.plotted_by(*spell).ok_or_else(|| {
                InputError(format!(
                    "{spell} plotted no plan in DSPause since block {since} (a spell plots its plan when \
                     scheduled); `defender queue` lists the plans and their spells"
                ))
                .into()
            }),
        })
        .collect()
}
