//! The second round trip: the whole plan run in sequence by `eth_simulateV1` on the latest
//! state, followed by a DefenderLens snapshot of the state it leaves behind.
//!
//! Sequence matters: a `deposit` cannot succeed before its `approve` is mined, so estimating
//! each transaction alone would fail. One simulated block holds them all, in nonce order.

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, U256, address};
use alloy::providers::Provider;
use alloy::rpc::types::simulate::{SimBlock, SimCallResult, SimulatePayload, SimulatedBlock};
use alloy::rpc::types::state::{AccountOverride, StateOverride};
use alloy::rpc::types::{BlockNumberOrTag, BlockOverrides, TransactionRequest};
use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::actions::Call;
use crate::chain::discovery::Sources;
use crate::chain::rpc::Connection;
use crate::chain::snapshot::{Snapshot, decode_snapshot, lens_request};

/// An address no real contract uses, where the simulation places the lens runner.
const LENS_RUNNER: Address = address!("00000000000000000000000000000000de1e75e1");

/// CALLDATACOPY the calldata, CREATE it, EXTCODECOPY the created code, RETURN it.
const RUNNER_CODE: [u8; 19] = [
    0x36, 0x5f, 0x5f, 0x37, // calldatacopy(0, 0, calldatasize)
    0x36, 0x5f, 0x5f, 0xf0, // create(0, 0, calldatasize)
    0x80, 0x3b, 0x90, 0x81, 0x5f, 0x5f, 0x83, 0x3c, // extcodecopy(addr, 0, 0, extcodesize(addr))
    0x50, 0x5f, 0xf3, // return(0, size)
];

/// What the simulation says of one transaction.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub ok: bool,
    pub gas_used: u64,
    /// The decoded revert reason when `ok` is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revert: Option<String>,
}

/// The simulation of a plan.
#[derive(Debug, Clone)]
pub struct Simulation {
    pub outcomes: Vec<Outcome>,
    /// The state after the whole plan, for the preview's deltas.
    pub after: Option<Snapshot>,
}

impl Simulation {
    pub fn all_ok(&self) -> bool {
        self.outcomes.iter().all(|o| o.ok)
    }
}

/// Simulates `calls` in the block after `latest` (number and time of the snapshot's block),
/// as they will be mined: DSChief refuses `free` in the block of a `lock`, so simulating in
/// the latest block itself would reject a withdraw right after a deposit.
pub async fn simulate(
    connection: &Connection,
    sources: &Sources,
    latest: &crate::chain::snapshot::Snapshot,
    from: Address,
    calls: &[Call],
) -> Result<Simulation> {
    let mut requests: Vec<TransactionRequest> = calls
        .iter()
        .map(|call| {
            TransactionRequest::default()
                .with_from(from)
                .with_to(call.to)
                .with_input(call.data.clone())
                .with_value(call.value)
        })
        .collect();
    // Not every node simulates a call without `to` (anvil refuses it), so the lens's creation
    // code goes through a tiny runner placed by state override: it CREATEs the calldata and
    // returns the created code, which is the snapshot the lens's constructor returned.
    let lens = lens_request(sources, Some(from));
    requests.push(
        TransactionRequest::default()
            .with_from(from)
            .with_to(LENS_RUNNER)
            .with_input(lens.input.into_input().unwrap_or_default()),
    );
    let mut overrides = StateOverride::default();
    overrides.insert(LENS_RUNNER, AccountOverride::default().with_code(Bytes::from_static(&RUNNER_CODE)));
    let payload = SimulatePayload {
        block_state_calls: vec![SimBlock {
            block_overrides: Some(BlockOverrides {
                number: Some(latest.block.number + U256::from(1)),
                time: Some(latest.now() + 1),
                ..BlockOverrides::default()
            }),
            state_overrides: Some(overrides),
            calls: requests,
        }],
        trace_transfers: false,
        validation: false,
        return_full_transactions: false,
    };
    let client = connection.provider.client();
    let blocks: Vec<SimulatedBlock> = connection
        .timed(client.request("eth_simulateV1", (payload, BlockNumberOrTag::Latest)))
        .await
        .context(
            "simulating the plan with eth_simulateV1 (the node must support it: anvil, geth and reth do)",
        )?;
    let block = blocks.into_iter().next().context("eth_simulateV1 returned no block")?;
    if block.calls.len() != calls.len() + 1 {
        bail!("eth_simulateV1 returned {} results for {} calls", block.calls.len(), calls.len() + 1);
    }
    let mut results = block.calls;
    let lens = results.pop().expect("checked length");
    let after = if lens.status { decode_snapshot(&lens.return_data).ok() } else { None };
    Ok(Simulation { outcomes: results.iter().map(outcome).collect(), after })
}

fn outcome(result: &SimCallResult) -> Outcome {
    let revert = (!result.status).then(|| {
        let data: Option<&Bytes> = result.error.as_ref().and_then(|e| e.data.as_ref());
        let data = data.filter(|d| !d.is_empty()).unwrap_or(&result.return_data);
        alloy::sol_types::decode_revert_reason(data)
            .or_else(|| result.error.as_ref().map(|e| e.message.clone()))
            .unwrap_or_else(|| "reverted without a reason".to_owned())
    });
    Outcome { ok: result.status, gas_used: result.gas_used, revert }
}
