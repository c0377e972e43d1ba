//! The first round trip of every command: one JSON-RPC batch that reads everything an action
//! needs (DefenderLens's deployless snapshot, the nonce, the fee market, and any extra calls).

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, U64, U256};
use alloy::providers::Provider;
use alloy::rpc::client::BatchRequest;
use alloy::rpc::types::{BlockId, BlockNumberOrTag, FeeHistory, TransactionRequest};
use alloy::sol_types::SolValue;
use anyhow::{Context, Result, bail};

use crate::chain::addresses::{AddressBook, keys};
use crate::chain::bindings::bytecode;
use crate::chain::discovery::Sources;
use crate::chain::rpc::{Connection, check_chain};
use crate::fees::{FeeMarket, HISTORY_BLOCKS, REWARD_PERCENTILES};

pub use crate::chain::bindings::DefenderLens::Snapshot;

/// What the first round trip returned.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub snapshot: Snapshot,
    pub chain_id: u64,
    /// Every contract by chainlog key, for labels and checks.
    pub book: AddressBook,
    /// The user's next nonce (pending), when a user was given.
    pub nonce: Option<u64>,
    pub market: FeeMarket,
    /// Results of the extra calls, in order (an error where the call reverted).
    pub extra: Vec<Result<Bytes, String>>,
    /// The same snapshot taken on the node's pending block (what waits in its pool), when
    /// asked for and the node answered.
    pub pending: Option<Snapshot>,
    /// The Safe's state, when one was asked for; an error says why it is no usable Safe.
    pub safe: Option<SafeRead>,
}

/// A Safe as the first round trip read it.
#[derive(Debug, Clone)]
pub struct SafeRead {
    /// Its owners, threshold and nonce, or why it is no usable Safe.
    pub state: Result<crate::chain::safe::SafeState, String>,
    /// Whether MultiSendCallOnly has code at its canonical address: a DELEGATECALL to an empty address "succeeds"
    /// doing nothing, and would spend the Safe's nonce.
    pub multi_send_deployed: bool,
}

/// What to read besides the snapshot.
#[derive(Debug, Clone, Default)]
pub struct Reads {
    pub user: Option<Address>,
    pub fees: bool,
    pub extra: Vec<TransactionRequest>,
    /// Also take the snapshot on the node's pending block, e.g. to see a lift about to land.
    pub pending: bool,
    /// Addresses whose chief approvals the snapshot reads (`Snapshot::approvals`).
    pub approvals_of: Vec<Address>,
    /// A Safe whose owners, threshold and nonce to read (`--safe`).
    pub safe: Option<Address>,
}

/// The lens call: its creation code with the constructor's arguments, run without `to`.
pub fn lens_request(sources: &Sources, user: Option<Address>) -> TransactionRequest {
    lens_request_with(sources, user, &[])
}

/// The lens call, reading the chief's approvals of `spells` too.
pub fn lens_request_with(sources: &Sources, user: Option<Address>, spells: &[Address]) -> TransactionRequest {
    let mut code = hex::decode(bytecode::DEFENDER_LENS.trim()).expect("abi/DefenderLens.bin is hex");
    let args = (sources.chainlog, sources.lens_book(), user.unwrap_or_default(), spells.to_vec());
    code.extend(args.abi_encode_params());
    TransactionRequest::default().with_input(code)
}

pub fn decode_snapshot(output: &[u8]) -> Result<Snapshot> {
    Snapshot::abi_decode(output).context("the DefenderLens snapshot could not be decoded")
}

pub async fn prepare(
    connection: &Connection,
    sources: &Sources,
    expected_chain: Option<u64>,
    reads: &Reads,
) -> Result<Prepared> {
    let client = connection.provider.client();
    let mut batch = BatchRequest::new(client);
    let latest = BlockId::Number(BlockNumberOrTag::Latest);
    let request = lens_request_with(sources, reads.user, &reads.approvals_of);
    let lens = batch.add_call::<_, Bytes>("eth_call", &(&request, latest))?;
    let pending = if reads.pending {
        Some(
            batch
                .add_call::<_, Bytes>("eth_call", &(&request, BlockId::Number(BlockNumberOrTag::Pending)))?,
        )
    } else {
        None
    };
    let nonce = match reads.user {
        Some(user) => {
            Some(batch.add_call::<_, U64>("eth_getTransactionCount", &(user, BlockNumberOrTag::Pending))?)
        }
        None => None,
    };
    let history = if reads.fees {
        let params = (U64::from(HISTORY_BLOCKS), BlockNumberOrTag::Latest, REWARD_PERCENTILES.to_vec());
        Some(batch.add_call::<_, FeeHistory>("eth_feeHistory", &params)?)
    } else {
        None
    };
    let extra: Vec<_> = reads
        .extra
        .iter()
        .map(|call| batch.add_call::<_, Bytes>("eth_call", &(call, latest)))
        .collect::<Result<_, _>>()?;
    let safe = match reads.safe {
        Some(safe) => {
            let state = crate::chain::safe::state_calls()
                .into_iter()
                .map(|data| {
                    let call = TransactionRequest::default().with_to(safe).with_input(data);
                    batch.add_call::<_, Bytes>("eth_call", &(call, latest))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let multi_send = crate::chain::safe::CANONICAL_MULTI_SEND_CALL_ONLY;
            Some((state, batch.add_call::<_, Bytes>("eth_getCode", &(multi_send, latest))?))
        }
        None => None,
    };
    connection.timed(batch.send()).await?;

    let output = connection.timed(lens).await?;
    let snapshot = decode_snapshot(&output)?;
    let chain_id: u64 = snapshot.block.chainId.saturating_to();
    check_chain(&connection.url, chain_id, expected_chain)?;
    let nonce = match nonce {
        Some(waiter) => Some(connection.timed(waiter).await?.to::<u64>()),
        None => None,
    };
    let market = match history {
        Some(waiter) => FeeMarket::from_history(&connection.timed(waiter).await?),
        None => FeeMarket::default(),
    };
    let mut results = Vec::with_capacity(extra.len());
    for waiter in extra {
        results.push(waiter.await.map_err(|e| e.to_string()));
    }
    let safe = match (reads.safe, safe) {
        (Some(address), Some((waiters, code))) => {
            let mut answers = Vec::with_capacity(waiters.len());
            for waiter in waiters {
                answers.push(waiter.await.map_err(|e| e.to_string()));
            }
            let deployed = connection.timed(code).await?;
            Some(SafeRead {
                state: crate::chain::safe::decode_state(address, &answers),
                multi_send_deployed: !deployed.is_empty(),
            })
        }
        _ => None,
    };
    // A node without a pending block (or one that refuses it) only loses this early warning.
    let pending = match pending {
        Some(waiter) => waiter.await.ok().and_then(|out| decode_snapshot(&out).ok()),
        None => None,
    };

    if snapshot.at.chief == Address::ZERO || snapshot.at.pause == Address::ZERO {
        bail!(
            "no Maker governance contracts were found on chain {chain_id} through {}: \
             pass --addresses FILE (a devnet writes one) or --chainlog ADDRESS",
            sources.origin
        );
    }
    if let Some(book) = &sources.book
        && book.chain_id != chain_id
    {
        bail!(
            "{} is for chain {}, but the RPC at {} serves chain {chain_id}: use the address book of that chain",
            sources.origin,
            book.chain_id,
            connection.url
        );
    }
    let book = labels(sources, &snapshot, chain_id);
    Ok(Prepared { snapshot, chain_id, book, nonce, market, extra: results, pending, safe })
}

/// Every address the snapshot resolved, under its chainlog key, over the given book.
fn labels(sources: &Sources, s: &Snapshot, chain_id: u64) -> AddressBook {
    let mut book = sources.book.clone().unwrap_or_else(|| AddressBook::new(chain_id, None));
    for (key, address) in [
        (keys::CHANGELOG, sources.chainlog),
        (keys::MCD_ADM, s.at.chief),
        (keys::MCD_PAUSE, s.at.pause),
        (keys::MCD_ESM, s.at.esm),
        (keys::MCD_DEFENDER, s.at.defender),
        (keys::MCD_PROTEGO, s.at.protego),
        (keys::MCD_GOV, s.at.gov),
        (keys::MCD_IOU, s.at.iou),
        (keys::MCD_PAUSE_PROXY, s.at.pauseProxy),
        (keys::MKR, s.at.mkr),
        (keys::MKR_SKY, s.at.mkrSky),
        (keys::MCD_ADM_LEGACY, s.at.legacyChief),
        (keys::MCD_IOU_LEGACY, s.at.legacyIou),
        (keys::VOTE_DELEGATE_FACTORY, s.at.voteDelegateFactory),
    ] {
        if address != Address::ZERO {
            book.insert(key, address);
        }
    }
    book
}

/// `symbol()`'s answer as text, whichever of the two shapes a token returns.
pub fn decode_symbol(raw: &[u8]) -> Option<String> {
    let text = if raw.len() == 32 {
        String::from_utf8(raw.to_vec()).ok()?.trim_end_matches('\0').to_owned()
    } else {
        String::abi_decode(raw).ok()?
    };
    let printable = !text.is_empty() && text.len() <= 32 && text.chars().all(|c| c.is_ascii_graphic());
    printable.then_some(text)
}

impl Snapshot {
    /// The voting token's symbol: SKY answers an ABI string, DSToken (MKR) a bytes32;
    /// "tokens" when neither reads.
    pub fn symbol(&self) -> String {
        decode_symbol(&self.gov.symbol).unwrap_or_else(|| "tokens".into())
    }

    pub fn decimals(&self) -> u8 {
        if self.gov.decimals.is_zero() { 18 } else { self.gov.decimals.saturating_to() }
    }

    /// A live-or-caged dss-defender answers here (Protego-only chains have none).
    pub fn has_defender(&self) -> bool {
        self.at.defender != Address::ZERO && !self.defender.threshold.is_zero()
    }

    pub fn now(&self) -> u64 {
        self.block.timestamp.saturating_to()
    }

    pub fn canceling_until(&self) -> Option<u64> {
        let d = &self.defender;
        (!d.activatedAt.is_zero()).then(|| (d.activatedAt + d.cancelDuration).saturating_to())
    }

    /// False when the ESM is disabled (mainnet since 2025: `min` is 2^256-1) or caged.
    pub fn esm_can_fire(&self) -> bool {
        self.gov.esmMin != U256::MAX && self.gov.esmLive == U256::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::decode_symbol;
    use alloy::sol_types::SolValue;

    #[test]
    fn symbols_read_as_string_or_bytes32() {
        let mut word = [0u8; 32];
        word[..3].copy_from_slice(b"MKR");
        assert_eq!(decode_symbol(&word).as_deref(), Some("MKR"));
        assert_eq!(decode_symbol(&"SKY".to_string().abi_encode()).as_deref(), Some("SKY"));
        assert_eq!(decode_symbol(&[]), None);
        assert_eq!(decode_symbol(&[0u8; 32]), None);
    }
}
