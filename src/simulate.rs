//! The second round trip: the whole plan run in sequence by `eth_simulateV1` on the latest
//! state, followed by a DefenderLens snapshot of the state it leaves behind.
//!
//! Sequence matters: a `deposit` cannot succeed before its `approve` is mined, so estimating
//! each transaction alone would fail. One simulated block holds them all, in nonce order.
//! Nodes without `eth_simulateV1` get one `eth_call` instead: a state override places the
//! PlanRunner's code at the signer's address, which runs the same calls in order as the
//! signer and returns the same snapshot.

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, U256, address};
use alloy::providers::Provider;
use alloy::rpc::types::simulate::{SimBlock, SimCallResult, SimulatePayload, SimulatedBlock};
use alloy::rpc::types::state::{AccountOverride, StateOverride};
use alloy::rpc::types::{BlockId, BlockNumberOrTag, BlockOverrides, TransactionRequest};
use alloy::sol_types::SolCall;
use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::actions::Call;
use crate::chain::bindings::{PlanRunner, bytecode};
use crate::chain::discovery::Sources;
use crate::chain::rpc::{Connection, method_missing};
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

/// How the node simulated the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// `eth_simulateV1`: one transaction per call, in one simulated block.
    SimulateV1,
    /// `eth_call` of the PlanRunner placed at the signer's address by a state override.
    StateOverride,
}

/// The simulation of a plan.
#[derive(Debug, Clone)]
pub struct Simulation {
    pub outcomes: Vec<Outcome>,
    /// The state after the whole plan, for the preview's deltas.
    pub after: Option<Snapshot>,
    pub method: Method,
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
    let answer =
        connection.timed_raw(client.request("eth_simulateV1", (payload, BlockNumberOrTag::Latest))).await?;
    let blocks: Vec<SimulatedBlock> = match answer {
        Ok(blocks) => blocks,
        Err(error) if method_missing(&error) => {
            return simulate_with_override(connection, sources, latest, from, calls).await;
        }
        Err(error) => {
            return Err(connection.unreachable(error)).context("simulating the plan with eth_simulateV1");
        }
    };
    let block = blocks.into_iter().next().context("eth_simulateV1 returned no block")?;
    if block.calls.len() != calls.len() + 1 {
        bail!("eth_simulateV1 returned {} results for {} calls", block.calls.len(), calls.len() + 1);
    }
    let mut results = block.calls;
    let lens = results.pop().expect("checked length");
    let after = if lens.status { decode_snapshot(&lens.return_data).ok() } else { None };
    Ok(Simulation { outcomes: results.iter().map(outcome).collect(), after, method: Method::SimulateV1 })
}

/// The fallback: one `eth_call` to the signer's own address, whose code a state override has
/// replaced with the PlanRunner's, in the block after `latest`.
async fn simulate_with_override(
    connection: &Connection,
    sources: &Sources,
    latest: &Snapshot,
    from: Address,
    calls: &[Call],
) -> Result<Simulation> {
    let steps = calls
        .iter()
        .map(|call| PlanRunner::Step { to: call.to, value: call.value, data: call.data.clone() })
        .collect();
    let lens = lens_request(sources, Some(from)).input.into_input().unwrap_or_default();
    let request = TransactionRequest::default()
        .with_from(from)
        .with_to(from)
        .with_input(PlanRunner::runCall { steps, lens }.abi_encode());
    let runtime =
        hex::decode(bytecode::PLAN_RUNNER_RUNTIME.trim()).expect("abi/PlanRunner.runtime.bin is hex");
    let mut overrides = StateOverride::default();
    overrides.insert(from, AccountOverride::default().with_code(runtime));
    let block = BlockOverrides {
        number: Some(latest.block.number + U256::from(1)),
        time: Some(latest.now() + 1),
        ..BlockOverrides::default()
    };
    let client = connection.provider.client();
    let output: Bytes = connection
        .timed(client.request("eth_call", (request, BlockId::latest(), overrides, block)))
        .await
        .context("simulating the plan with eth_call and a state override (the node has no eth_simulateV1)")?;
    let ran = PlanRunner::runCall::abi_decode_returns(&output)
        .context("the node's eth_call did not run the plan runner: it may not apply state overrides")?;
    if ran.results.len() != calls.len() {
        bail!("the plan runner returned {} results for {} calls", ran.results.len(), calls.len());
    }
    let outcomes = ran
        .results
        .iter()
        .zip(calls)
        .map(|(result, call)| {
            let revert = (!result.ok).then(|| {
                alloy::sol_types::decode_revert_reason(&result.output)
                    .unwrap_or_else(|| "reverted without a reason".to_owned())
            });
            let gas = result.gasUsed.saturating_to::<u64>().saturating_add(intrinsic_gas(&call.data));
            Outcome { ok: result.ok, gas_used: gas, revert }
        })
        .collect();
    let after = decode_snapshot(&ran.snapshot).ok();
    Ok(Simulation { outcomes, after, method: Method::StateOverride })
}

/// What a transaction pays before its code runs: the base cost and its calldata. The runner's
/// measurement already includes the call itself.
fn intrinsic_gas(data: &[u8]) -> u64 {
    let zeros = data.iter().filter(|b| **b == 0).count() as u64;
    21_000 + 4 * zeros + 16 * (data.len() as u64 - zeros)
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
