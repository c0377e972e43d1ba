//! A JSON-RPC HTTP proxy in front of a node: it records the methods of every request, can
//! answer chosen methods with "method not found" (a node that lacks them) or with a set result
//! (a node in another state), and can go down and come back (a provider outage), for tests and
//! benchmarks.

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

    /// Every `eth_getLogs` block range asked so far (`fromBlock`, `toBlock`).
    pub fn log_ranges(&self) -> Vec<(u64, u64)> {
        self.shared.log_ranges.lock().unwrap().clone()
    }

    /// Per HTTP request so far, the methods it carried.
    pub fn requests(&self) -> Vec<Vec<String>> {
        self.shared.seen.lock().unwrap().clone()
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
        for call in calls.into_iter().filter(|c| c["method"] == "eth_getLogs") {
            let block = |key: &str| {
                let text = call["params"][0][key].as_str().unwrap_or("0x0");
                u64::from_str_radix(text.trim_start_matches("0x"), 16).unwrap_or(u64::MAX)
            };
            state.log_ranges.lock().unwrap().push((block("fromBlock"), block("toBlock")));
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
            Some(response) => client.write_all(&response).await?,
            None => return Ok(()),
        }
    }
    Ok(())
}
