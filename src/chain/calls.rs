//! Read-only `eth_call`s gathered first and sent as JSON-RPC batches of the size the endpoint
//! takes. A batch the provider refuses (HTTP 413 or 429, one error for the whole batch, or
//! calls answered with a limit error) is sent again in smaller ones, and the size learnt holds
//! for the rest of the run ([`Limits`]). A call that reverts is `None`; any other error fails
//! the read: a refusal is never taken for an answer.

use std::time::Duration;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes};
use alloy::providers::Provider;
use alloy::rpc::client::BatchRequest;
use alloy::rpc::types::{BlockId, TransactionRequest};
use alloy::sol_types::SolCall;
use alloy::transports::{RpcError, TransportErrorKind};
use anyhow::{Result, bail};
use futures::stream::{self, StreamExt};

use super::limits::{http_status, is_rate_limit};
use super::rpc::Connection;

/// Batches in flight at once.
const IN_FLIGHT: usize = 4;
/// Rounds a rate-limited read waits and tries again before giving up.
const RATE_LIMITED_ROUNDS: u32 = 6;

/// The calls of one read, in the order they were added.
#[derive(Default)]
pub struct Calls {
    requests: Vec<TransactionRequest>,
}

/// What became of one call.
enum Answer {
    Value(Bytes),
    Reverted,
    /// Not answered because of a limit; asked again in a smaller batch.
    Refused(Refusal),
    Failed(String),
}

/// Why calls came back unanswered.
struct Refusal {
    why: String,
    rate_limited: bool,
}

impl Calls {
    /// Adds `call` to `to`; the index of its answer.
    pub fn add(&mut self, to: Address, call: impl SolCall) -> usize {
        self.requests.push(TransactionRequest::default().with_to(to).with_input(call.abi_encode()));
        self.requests.len() - 1
    }

    /// Adds a deployless read: `code` (creation code and its arguments) run without `to`,
    /// its constructor's return data the answer.
    pub fn add_deployless(&mut self, code: Vec<u8>) -> usize {
        self.requests.push(TransactionRequest::default().with_input(code));
        self.requests.len() - 1
    }

    pub fn len(&self) -> usize {
        self.requests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// Each call's output at `block`, in order; `None` where it reverted.
    pub async fn run(self, connection: &Connection, block: u64) -> Result<Vec<Option<Bytes>>> {
        let at = BlockId::number(block);
        let mut out: Vec<Option<Bytes>> = vec![None; self.requests.len()];
        let mut todo: Vec<usize> = (0..self.requests.len()).collect();
        let mut rate_limited_rounds = 0;
        while !todo.is_empty() {
            let size = connection.limits.batch();
            let batches = todo.chunks(size).map(|indices| {
                let requests = &self.requests;
                async move { (indices, send(connection, requests, indices, at).await) }
            });
            let results: Vec<_> = stream::iter(batches).buffered(IN_FLIGHT).collect().await;
            let mut retry = Vec::new();
            let (mut refused, mut answered_before_refusal, mut rate_limited) = (None, size, false);
            for (indices, result) in results {
                match result? {
                    Ok(answers) => {
                        let answered = answers.iter().filter(|a| matches!(a, Answer::Value(_))).count();
                        for (&i, answer) in indices.iter().zip(answers) {
                            match answer {
                                Answer::Value(bytes) => out[i] = Some(bytes),
                                Answer::Reverted => out[i] = None,
                                Answer::Refused(refusal) => {
                                    retry.push(i);
                                    rate_limited |= refusal.rate_limited;
                                    refused = Some(refusal.why);
                                    answered_before_refusal = answered_before_refusal.min(answered);
                                }
                                Answer::Failed(why) => bail!(
                                    "the RPC at {} failed a read at block {block}: {why}\n  try again, or another \
                                     --rpc-url",
                                    connection.url
                                ),
                            }
                        }
                    }
                    Err(refusal) => {
                        retry.extend_from_slice(indices);
                        rate_limited |= refusal.rate_limited;
                        refused = Some(refusal.why);
                        answered_before_refusal = 0;
                    }
                }
            }
            let Some(why) = refused else { break };
            if rate_limited {
                rate_limited_rounds += 1;
                if rate_limited_rounds > RATE_LIMITED_ROUNDS {
                    bail!(
                        "the RPC at {} kept refusing reads as too many ({why}): wait a minute, or use another \
                         --rpc-url",
                        connection.url
                    );
                }
                tokio::time::sleep(Duration::from_millis(250 << rate_limited_rounds.min(4))).await;
            }
            if size == 1 && !rate_limited {
                bail!(
                    "the RPC at {} refuses even a single call ({why}): use another --rpc-url",
                    connection.url
                );
            }
            if size > 1 {
                let smaller = connection.limits.shrink_batch(size, answered_before_refusal);
                connection.limits.say_once("batch", || {
                    format!(
                        "the provider takes at most {smaller} calls a batch ({why}): reading {} calls in batches of \
                         {smaller}",
                        self.requests.len()
                    )
                });
            }
            retry.sort_unstable();
            todo = retry;
        }
        Ok(out)
    }
}

/// Sends the calls at `indices` as one batch. `Err(refusal)` when the whole batch came back
/// unanswered for a limit; the outer `Err` for a failure that is no limit.
async fn send(
    connection: &Connection,
    requests: &[TransactionRequest],
    indices: &[usize],
    at: BlockId,
) -> Result<Result<Vec<Answer>, Refusal>> {
    let mut batch = BatchRequest::new(connection.provider.client());
    let waiters: Vec<_> = indices
        .iter()
        .map(|&i| batch.add_call::<_, Bytes>("eth_call", &(&requests[i], at)))
        .collect::<Result<_, _>>()?;
    if let Err(error) = connection.timed_raw(batch.send()).await? {
        return match http_refusal(&error) {
            Some(refusal) => Ok(Err(refusal)),
            None => Err(connection.unreachable(error)),
        };
    }
    let mut answers = Vec::with_capacity(waiters.len());
    for waiter in waiters {
        answers.push(judge(connection.timed_raw(waiter).await?));
    }
    if answers.iter().all(|a| matches!(a, Answer::Refused(_))) {
        let rate_limited = answers.iter().any(|a| matches!(a, Answer::Refused(r) if r.rate_limited));
        let why = match answers.into_iter().next() {
            Some(Answer::Refused(refusal)) => refusal.why,
            _ => "no answer".to_owned(),
        };
        return Ok(Err(Refusal { why, rate_limited }));
    }
    Ok(Ok(answers))
}

/// HTTP 413 (too large) and 429 (too many) say "send less"; anything else is a failure.
fn http_refusal(error: &RpcError<TransportErrorKind>) -> Option<Refusal> {
    match http_status(error)? {
        413 => Some(Refusal { why: "HTTP 413, payload too large".into(), rate_limited: false }),
        429 => Some(Refusal { why: "HTTP 429, too many requests".into(), rate_limited: true }),
        _ => None,
    }
}

/// One call's answer: a value, a revert, a limit or a failure.
fn judge(answer: Result<Bytes, RpcError<TransportErrorKind>>) -> Answer {
    match answer {
        Ok(bytes) => Answer::Value(bytes),
        Err(RpcError::Transport(TransportErrorKind::MissingBatchResponse(_))) => Answer::Refused(Refusal {
            why: "the batch was answered with one error".into(),
            rate_limited: false,
        }),
        Err(RpcError::ErrorResp(payload)) => {
            let message = payload.message.to_lowercase();
            let reverted = payload.code == 3
                || ["revert", "out of gas", "invalid opcode", "vm execution error", "evm error"]
                    .iter()
                    .any(|m| message.contains(m));
            if reverted {
                Answer::Reverted
            } else if is_limit(payload.code, &message) {
                let why = format!("{} ({})", payload.message, payload.code);
                Answer::Refused(Refusal { why, rate_limited: is_rate_limit(payload.code, &message) })
            } else {
                Answer::Failed(format!("{} ({})", payload.message, payload.code))
            }
        }
        Err(other) => Answer::Failed(other.to_string()),
    }
}

/// Error codes and words providers use for "too many in one batch" or "too fast".
fn is_limit(code: i64, message: &str) -> bool {
    is_rate_limit(code, message)
        || [-32005, -32600, -32016].contains(&code)
        || ["batch", "limit", "too many", "exceed"].iter().any(|m| message.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::rpc::json_rpc::ErrorPayload;

    fn error(code: i64, message: &str) -> Result<Bytes, RpcError<TransportErrorKind>> {
        Err(RpcError::ErrorResp(ErrorPayload { code, message: message.to_owned().into(), data: None }))
    }

    #[test]
    fn a_revert_is_an_answer_a_limit_is_asked_again_and_anything_else_fails() {
        assert!(matches!(judge(error(3, "execution reverted")), Answer::Reverted));
        assert!(matches!(judge(error(-32000, "execution reverted: not hat")), Answer::Reverted));
        assert!(matches!(judge(error(-32600, "batch too large")), Answer::Refused(_)));
        assert!(matches!(judge(error(-32005, "daily request count exceeded")), Answer::Refused(_)));
        assert!(matches!(judge(error(-32000, "header not found")), Answer::Failed(_)));
        let missing = Err(RpcError::Transport(TransportErrorKind::MissingBatchResponse(
            alloy::rpc::json_rpc::Id::Number(4),
        )));
        assert!(matches!(judge(missing), Answer::Refused(_)));
        assert!(matches!(
            judge(error(429, "too many requests")),
            Answer::Refused(Refusal { rate_limited: true, .. })
        ));
        assert!(matches!(
            judge(error(-32600, "batch too large")),
            Answer::Refused(Refusal { rate_limited: false, .. })
        ));
    }
}
