//! A JSON-RPC HTTP proxy in front of a node: it records the methods of every request, can
//! answer chosen methods with "method not found" (a node that lacks them) or with a set result
//! (a node in another state), can go down and come back (a provider outage), and can enforce a
//! hosted provider's limits (calls per batch, blocks or results per `eth_getLogs`), for tests
//! and benchmarks.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

#[derive(Default)]
struct Shared {
    /// Per HTTP request, the JSON-RPC methods in its body.
    seen: Mutex<Vec<Vec<String>>>,
    /// Every eth_getLogs block range asked, inclusive.
    log_ranges: Mutex<Vec<(u64, u64)>>,
    refused: Mutex<HashSet<String>>,
    answers: Mutex<HashMap<String, serde_json::Value>>,
    down: AtomicBool,
    /// The selector of every `eth_call`, in order.
    call_selectors: Mutex<Vec<[u8; 4]>>,
    limits: Mutex<ProviderLimits>,
}

/// A hosted provider's limits, as the proxy enforces them.
#[derive(Debug, Clone, Default)]
pub struct ProviderLimits {
    /// Batches of more calls than this are refused as `batch_refusal` says.
    pub batch_calls: Option<usize>,
    pub batch_refusal: BatchRefusal,
    /// `eth_getLogs` over more blocks than this is answered with error -32602 and
    /// `range_message` (`{cap}` in it becomes the cap).
    pub log_blocks: Option<u64>,
    pub range_message: String,
    /// `eth_getLogs` finding more logs than this is answered with error -32005 "query returned
    /// more than N results", suggesting a range that would fit, as Infura does.
    pub log_results: Option<usize>,
    /// `eth_call`s whose input starts with these bytes fail with "out of gas", as a call over
    /// a provider's gas cap does.
    pub out_of_gas_calls: Option<Vec<u8>>,
}

/// How a batch over the limit is refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BatchRefusal {
    /// One error object, `-32600 batch too large`, for the whole batch.
    #[default]
    OneError,
    /// HTTP 413 with no JSON-RPC body.
    Http413,
    /// The first calls answered, each one past the limit with `-32005 batch limit exceeded`.
    PerCall,
}

/// A running proxy; it stops when dropped.
pub struct RpcProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    abort: AbortHandle,
}

impl Drop for RpcProxy {
    fn drop(&mut self) {
        self.abort.abort();
    }
}

impl RpcProxy {
    /// Starts a proxy on a free 127.0.0.1 port that forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let state = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { continue };
                if state.down.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let state = state.clone();
                tokio::spawn(async move {
                    let _ = relay(client, upstream, state).await;
                });
            }
        });
        Ok(Self { addr, shared, abort: task.abort_handle() })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answer `method` with JSON-RPC error -32601, as a node without it does.
    pub fn refuse(&self, method: &str) {
        self.shared.refused.lock().unwrap().insert(method.to_owned());
    }

    /// Answer `method` with `result` instead of asking the node.
    pub fn answer(&self, method: &str, result: serde_json::Value) {
        self.shared.answers.lock().unwrap().insert(method.to_owned(), result);
    }

    /// While down, connections are closed at once and open ones are cut at their next request.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// Enforce `limits` from now on.
    pub fn set_limits(&self, limits: ProviderLimits) {
        *self.shared.limits.lock().unwrap() = limits;
    }

    /// How many `eth_call`s so far called the function with `selector`.
    pub fn calls_of(&self, selector: [u8; 4]) -> usize {
        self.shared.call_selectors.lock().unwrap().iter().filter(|s| **s == selector).count()
    }

    /// Every `eth_getLogs` block range asked so far (`fromBlock`, `toBlock`).
    pub fn log_ranges(&self) -> Vec<(u64, u64)> {
        self.shared.log_ranges.lock().unwrap().clone()
    }

    /// Per HTTP request so far, the methods it carried.
    pub fn requests(&self) -> Vec<Vec<String>> {
        self.shared.seen.lock().unwrap().clone()
    }
}

fn json_response(body: &serde_json::Value) -> String {
    let body = body.to_string();
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// An `eth_getLogs` call's `fromBlock` and `toBlock`.
fn log_range(call: &serde_json::Value) -> (u64, u64) {
    let block = |key: &str| {
        let text = call["params"][0][key].as_str().unwrap_or("0x0");
        u64::from_str_radix(text.trim_start_matches("0x"), 16).unwrap_or(u64::MAX)
    };
    (block("fromBlock"), block("toBlock"))
}

/// The node's `answer` to `request`, with each call past a limit answered with its error.
fn limit(
    limits: &ProviderLimits,
    request: &serde_json::Value,
    answer: serde_json::Value,
) -> serde_json::Value {
    let error = |id: &serde_json::Value, code: i64, message: String| serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } });
    let judge = |position: usize, call: &serde_json::Value, reply: serde_json::Value| {
        if let Some(max) = limits.batch_calls
            && limits.batch_refusal == BatchRefusal::PerCall
            && request.is_array()
            && position >= max
        {
            return error(
                &call["id"],
                -32005,
                format!("batch limit exceeded: at most {max} calls per batch"),
            );
        }
        if call["method"] == "eth_call"
            && let Some(prefix) = &limits.out_of_gas_calls
        {
            let input =
                call["params"][0]["input"].as_str().or(call["params"][0]["data"].as_str()).unwrap_or("");
            if hex::decode(input.trim_start_matches("0x")).is_ok_and(|bytes| bytes.starts_with(prefix)) {
                return error(
                    &call["id"],
                    -32000,
                    "out of gas: gas required exceeds allowance (1000000)".into(),
                );
            }
        }
        if call["method"] != "eth_getLogs" {
            return reply;
        }
        let (from, to) = log_range(call);
        if let Some(cap) = limits.log_blocks
            && to.saturating_sub(from).saturating_add(1) > cap
        {
            return error(&call["id"], -32602, limits.range_message.replace("{cap}", &cap.to_string()));
        }
        if let (Some(max), Some(logs)) = (limits.log_results, reply["result"].as_array())
            && logs.len() > max
        {
            // The block of the log past the limit ends the range that fits, as Infura suggests.
            let block = |log: &serde_json::Value| {
                u64::from_str_radix(log["blockNumber"].as_str().unwrap_or("0x0").trim_start_matches("0x"), 16)
                    .unwrap_or(0)
            };
            let until = block(&logs[max]).saturating_sub(1);
            let hint = if until >= from && block(&logs[0]) <= until {
                format!(" Try with this block range [{from:#x}, {until:#x}].")
            } else {
                String::new()
            };
            return error(&call["id"], -32005, format!("query returned more than {max} results.{hint}"));
        }
        reply
    };
    match (request, answer) {
        (serde_json::Value::Array(calls), serde_json::Value::Array(replies)) => {
            let mut by_id: HashMap<String, serde_json::Value> =
                replies.into_iter().map(|r| (r["id"].to_string(), r)).collect();
            let limited = calls
                .iter()
                .enumerate()
                .filter_map(|(i, call)| {
                    by_id.remove(&call["id"].to_string()).map(|reply| judge(i, call, reply))
                })
                .collect();
            serde_json::Value::Array(limited)
        }
        (call, reply) => judge(0, call, reply),
    }
}

/// Reads one HTTP/1.1 message (headers + Content-Length body) from `stream`.
async fn read_message(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<Option<Vec<u8>>> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                .unwrap_or(0);
            let total = end + 4 + length;
            if buffer.len() >= total {
                return Ok(Some(buffer.drain(..total).collect()));
            }
        }
        let mut chunk = [0u8; 65536];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

async fn relay(mut client: TcpStream, upstream: SocketAddr, state: Arc<Shared>) -> std::io::Result<()> {
    let mut server = TcpStream::connect(upstream).await?;
    let (mut from_client, mut from_server) = (Vec::new(), Vec::new());
    while let Some(request) = read_message(&mut client, &mut from_client).await? {
        if state.down.load(Ordering::SeqCst) {
            return Ok(());
        }
        let body_start = request.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |p| p + 4);
        let body: serde_json::Value = serde_json::from_slice(&request[body_start..]).unwrap_or_default();
        let methods: Vec<String> = match &body {
            serde_json::Value::Array(items) => {
                items.iter().map(|i| i["method"].as_str().unwrap_or("?").to_owned()).collect()
            }
            single => vec![single["method"].as_str().unwrap_or("?").to_owned()],
        };
        state.seen.lock().unwrap().push(methods.clone());
        let calls = match &body {
            serde_json::Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        for call in calls.iter().filter(|c| c["method"] == "eth_getLogs") {
            state.log_ranges.lock().unwrap().push(log_range(call));
        }
        for call in calls.iter().filter(|c| c["method"] == "eth_call") {
            let input =
                call["params"][0]["input"].as_str().or(call["params"][0]["data"].as_str()).unwrap_or("");
            let mut selector = [0u8; 4];
            if let Ok(bytes) = hex::decode(input.trim_start_matches("0x").get(..8).unwrap_or("")) {
                selector.copy_from_slice(&bytes);
            }
            state.call_selectors.lock().unwrap().push(selector);
        }
        let limits = state.limits.lock().unwrap().clone();
        if let (Some(max), serde_json::Value::Array(items)) = (limits.batch_calls, &body)
            && items.len() > max
            && limits.batch_refusal != BatchRefusal::PerCall
        {
            let response = match limits.batch_refusal {
                BatchRefusal::Http413 => {
                    "HTTP/1.1 413 Payload Too Large\r\ncontent-type: text/plain\r\ncontent-length: 17\r\n\r\nrequest too large"
                        .to_owned()
                }
                _ => json_response(&serde_json::json!({
                    "jsonrpc": "2.0", "id": null, "error": { "code": -32600, "message": "batch too large" },
                })),
            };
            client.write_all(response.as_bytes()).await?;
            continue;
        }
        let refused = {
            let refused = state.refused.lock().unwrap();
            !body.is_array() && methods.iter().any(|m| refused.contains(m))
        };
        let canned =
            if body.is_array() { None } else { state.answers.lock().unwrap().get(&methods[0]).cloned() };
        if refused || canned.is_some() {
            let answer = match canned {
                Some(result) if !refused => serde_json::json!({ "jsonrpc": "2.0", "id": body["id"], "result": result }),
                _ => serde_json::json!({
                    "jsonrpc": "2.0",
                    "id": body["id"],
                    "error": { "code": -32601, "message": format!("the method {} does not exist/is not available", methods[0]) },
                }),
            }
            .to_string();
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                answer.len()
            );
            client.write_all(response.as_bytes()).await?;
            continue;
        }
        server.write_all(&request).await?;
        match read_message(&mut server, &mut from_server).await? {
            Some(response)
                if limits.log_blocks.is_some()
                    || limits.log_results.is_some()
                    || limits.batch_calls.is_some()
                    || limits.out_of_gas_calls.is_some() =>
            {
                let start = response.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |p| p + 4);
                let answer: serde_json::Value =
                    serde_json::from_slice(&response[start..]).unwrap_or_default();
                let limited = limit(&limits, &body, answer);
                client.write_all(json_response(&limited).as_bytes()).await?;
            }
            Some(response) => client.write_all(&response).await?,
            None => return Ok(()),
        }
    }
    Ok(())
}
