//! Executing a Safe transaction. The Safe is read again in one batch (owners, threshold,
//! nonce, its own hash of the fields) with the payer's nonce, the fee market and a gas
//! estimate of `execTransaction`; only when every signature counts and the threshold is met is
//! the payer's transaction signed and sent.

use std::process::ExitCode;

use alloy::consensus::{SignableTransaction, TypedTransaction};
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, Bytes, U64};
use alloy::providers::Provider;
use alloy::rpc::client::BatchRequest;
use alloy::rpc::types::{BlockId, BlockNumberOrTag, FeeHistory, TransactionRequest};
use alloy::sol_types::SolCall;
use anyhow::{Result, anyhow};
use serde_json::json;

use crate::actions::Call;
use crate::chain::bindings::Safe;
use crate::chain::rpc::Connection;
use crate::chain::safe::{
    OwnerSignature, SafeState, SafeTransaction, check_signatures, decode_state, pack_signatures, state_calls,
};
use crate::fees::{FeeArgs, FeeMarket, HISTORY_BLOCKS, REWARD_PERCENTILES, gas_limit_for};
use crate::pipeline::{Refused, Transaction};
use crate::signers::Signer;

/// The Safe and the payer as the chain has them now.
pub struct OnChain {
    pub chain_id: u64,
    pub state: SafeState,
    /// The Safe's own `getTransactionHash` of the fields.
    pub hash: Option<B256>,
    pub payer_nonce: u64,
    pub market: FeeMarket,
    /// Gas of `execTransaction` with these signatures, or why it would revert.
    pub estimate: Result<u64, String>,
    /// Whether the transaction's `to` has code (a DELEGATECALL to nothing does nothing).
    pub to_deployed: bool,
}

/// One request: what the checks and the payer's transaction need.
pub async fn read(
    connection: &Connection,
    tx: &SafeTransaction,
    packed: &Bytes,
    payer: Address,
) -> Result<OnChain> {
    let client = connection.provider.client();
    let mut batch = BatchRequest::new(client);
    let latest = BlockId::Number(BlockNumberOrTag::Latest);
    let on_safe = |data: Bytes| TransactionRequest::default().with_to(tx.safe).with_input(data);
    let chain = batch.add_call::<_, U64>("eth_chainId", &())?;
    let state: Vec<_> = state_calls()
        .into_iter()
        .map(|data| batch.add_call::<_, Bytes>("eth_call", &(on_safe(data), latest)))
        .collect::<Result<_, _>>()?;
    let hash = batch.add_call::<_, Bytes>(
        "eth_call",
        &(on_safe(tx.get_transaction_hash_call().abi_encode().into()), latest),
    )?;
    let nonce = batch.add_call::<_, U64>("eth_getTransactionCount", &(payer, BlockNumberOrTag::Pending))?;
    let history = batch.add_call::<_, FeeHistory>(
        "eth_feeHistory",
        &(U64::from(HISTORY_BLOCKS), BlockNumberOrTag::Latest, REWARD_PERCENTILES.to_vec()),
    )?;
    let exec = on_safe(tx.exec_call(packed.clone()).abi_encode().into()).with_from(payer);
    let estimate = batch.add_call::<_, U64>("eth_estimateGas", &(exec, latest))?;
    let code = batch.add_call::<_, Bytes>("eth_getCode", &(tx.to, latest))?;
    connection.timed(batch.send()).await?;

    let chain_id = connection.timed(chain).await?.to::<u64>();
    let mut answers = Vec::new();
    for waiter in state {
        answers.push(waiter.await.map_err(|e| e.to_string()));
    }
    let state = decode_state(tx.safe, &answers).map_err(|e| Refused(format!("{e}; nothing was sent")))?;
    let hash = hash.await.ok().and_then(|b| Safe::getTransactionHashCall::abi_decode_returns(&b).ok());
    Ok(OnChain {
        chain_id,
        state,
        hash,
        payer_nonce: connection.timed(nonce).await?.to::<u64>(),
        market: FeeMarket::from_history(&connection.timed(history).await?),
        estimate: estimate.await.map(|g| g.to::<u64>()).map_err(|e| e.to_string()),
        to_deployed: !connection.timed(code).await?.is_empty(),
    })
}

/// Every reason the Safe would refuse the transaction, said before anything is signed.
pub fn check(tx: &SafeTransaction, signatures: &[OwnerSignature], now: &OnChain) -> Result<(), Refused> {
    let refuse = |why: String| Err(Refused(format!("{why}; nothing was sent")));
    if now.chain_id != tx.chain_id {
        return refuse(format!(
            "the Safe transaction is for chain {}, but the RPC serves chain {}",
            tx.chain_id, now.chain_id
        ));
    }
    if now.state.nonce != tx.nonce {
        let why = if now.state.nonce > tx.nonce {
            format!(
                "the Safe's nonce is now {}, but this Safe transaction has nonce {}: the Safe executed another \
                 transaction since it was built; build it again",
                now.state.nonce, tx.nonce
            )
        } else {
            format!(
                "the Safe's nonce is {}, but this Safe transaction has nonce {}: the Safe must execute the \
                 transactions before it first",
                now.state.nonce, tx.nonce
            )
        };
        return refuse(why);
    }
    match now.hash {
        Some(hash) if hash == tx.safe_tx_hash() => {}
        Some(hash) => {
            return refuse(format!(
                "the Safe hashes these fields to {hash}, not {}: is {} a Safe 1.3 or later?",
                tx.safe_tx_hash(),
                tx.safe
            ));
        }
        None => {
            return refuse(format!(
                "{} did not answer getTransactionHash: is it a Safe 1.3 or later?",
                tx.safe
            ));
        }
    }
    let count = check_signatures(signatures, tx.safe_tx_hash(), &now.state.owners).map_err(|e| {
        Refused(format!("{e} (the Safe's owners now: {}); nothing was sent", super::list(&now.state.owners)))
    })?;
    if (count as u64) < now.state.threshold {
        return refuse(format!(
            "{} are at hand, and the Safe needs {}",
            super::progress(count, now.state.threshold),
            now.state.threshold
        ));
    }
    if tx.operation == crate::chain::safe::DELEGATECALL && !now.to_deployed {
        return refuse(format!(
            "the Safe transaction DELEGATECALLs {}, which has no code on this chain: it would do nothing",
            tx.to
        ));
    }
    if let Err(reason) = &now.estimate {
        return refuse(format!("execTransaction would revert: {reason}"));
    }
    Ok(())
}

/// How an execution runs: where, at what fees, and how it reports.
pub struct Execution<'a> {
    pub connection: &'a Connection,
    pub fees: &'a FeeArgs,
    pub json: bool,
    /// The action's preview, for the one JSON document printed at the end.
    pub preview: Option<serde_json::Value>,
    /// Asked after the checks and before the payer signs, when the user has not agreed yet.
    pub confirm: Option<&'a dyn Fn() -> Result<()>>,
    /// `--yes`: a re-bid (`--max-fee-cap`) is not asked about at the terminal.
    pub yes: bool,
}

/// Reads, checks, confirms, signs the payer's `execTransaction` with `payer` and sends it.
pub async fn execute(
    run: &Execution<'_>,
    tx: &SafeTransaction,
    signatures: &[OwnerSignature],
    payer: &Signer,
) -> Result<ExitCode> {
    let Execution { connection, fees, json, .. } = *run;
    let refuse = |why: String| Refused(format!("{why}; nothing was sent"));
    tx.inner_calls().map_err(|why| refuse(format!("the Safe transaction is refused: {why}")))?;
    let packed = pack_signatures(signatures).map_err(refuse)?;
    let now = read(connection, tx, &packed, payer.address()).await?;
    check(tx, signatures, &now)?;
    let gas = now.estimate.clone().unwrap_or_default();
    let execution = Transaction {
        call: Call {
            label: format!("execute Safe transaction {}", tx.safe_tx_hash()),
            to: tx.safe,
            data: tx.exec_call(packed).abi_encode().into(),
            value: Default::default(),
        },
        from: payer.address(),
        chain_id: now.chain_id,
        nonce: now.payer_nonce,
        gas_limit: fees.gas_limit.unwrap_or_else(|| gas_limit_for(gas)),
        fees: fees.resolve(now.market),
    };
    let unsigned = execution.unsigned();
    let typed = TypedTransaction::Eip1559(unsigned.clone());
    if !json {
        eprintln!();
        eprintln!(
            "  execTransaction on {} from {} · {} signatures of {} · nonce {} · gas limit {} · tx hash {}",
            tx.safe,
            payer.address(),
            signatures.len(),
            now.state.threshold,
            execution.nonce,
            execution.gas_limit,
            execution.signing_hash()
        );
        if let (Some(device), Some(screens)) = (payer.device_name(), payer.screens(&typed)) {
            eprintln!("  your {device} will show, screen by screen:");
            crate::preview::print_screens(&screens);
        }
    }
    if let Some(confirm) = run.confirm {
        confirm()?;
    }
    if !json {
        eprintln!("signing the execution as {}", payer.address());
    }
    let signature = payer
        .sign(&typed)
        .await
        .map_err(|e| anyhow!("signing the execution failed: {e:#}; nothing was sent"))?;
    let rebid = fees.max_fee_cap.map(|cap| crate::send::rebid::Rebid {
        after_blocks: fees.rebid_after.max(1),
        source: crate::send::rebid::Source::Sign { signer: payer, cap, ask: !run.yes && !payer.hot_key() },
    });
    let report = crate::send::broadcast(
        connection,
        std::slice::from_ref(&execution),
        vec![unsigned.into_signed(signature)],
        !json,
        rebid.as_ref(),
    )
    .await?;
    crate::stdout_guard::keep_printing();
    if json {
        println!(
            "{}",
            json!({ "preview": run.preview, "safe_tx_hash": tx.safe_tx_hash(), "sent": true, "receipts": report.receipts })
        );
    } else {
        report.print();
    }
    report.exit_code()
}
