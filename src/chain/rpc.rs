//! Connecting to the JSON-RPC endpoint, with errors that say what to do.
//!
//! `http(s)://` connects lazily: nothing is sent until the first batch, which carries the chain
//! id check, so preparing an action costs as few round trips as possible. `ws(s)://` opens the
//! socket at once; besides answering requests it can push new heads, which `watch` follows.

use std::sync::Arc;
use std::time::Duration;

use alloy::providers::{DynProvider, Provider, ProviderBuilder, WsConnect};
use alloy::transports::{RpcError, TransportErrorKind};
use anyhow::{Context, Result, anyhow, bail};

use super::limits::Limits;
use super::tls;

/// How long one request may take before the RPC is declared unresponsive.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// How often a dropped websocket is redialled (with backoff) before its requests fail. Kept
/// short: `watch` rebuilds the whole connection itself and must hear about an outage quickly.
const WS_REDIALS: u32 = 3;
const WS_REDIAL_INTERVAL: Duration = Duration::from_millis(500);

/// A provider for the endpoint.
#[derive(Clone)]
pub struct Connection {
    pub provider: DynProvider,
    pub url: String,
    /// What the endpoint was found to accept, shared by every clone.
    pub limits: Arc<Limits>,
}

/// Connects to `url`: `http://`, `https://`, `ws://` or `wss://`.
pub async fn connect(url: &str) -> Result<Connection> {
    tls::install();
    let parsed: reqwest::Url = url.parse().with_context(|| {
        format!("--rpc-url {url:?} is not a URL (expected e.g. http://127.0.0.1:8545 or wss://host/path)")
    })?;
    let builder = ProviderBuilder::new().disable_recommended_fillers();
    let websocket = matches!(parsed.scheme(), "ws" | "wss");
    let provider = match parsed.scheme() {
        "http" | "https" => http_provider(parsed),
        "ws" | "wss" => {
            let dial =
                WsConnect::new(url).with_max_retries(WS_REDIALS).with_retry_interval(WS_REDIAL_INTERVAL);
            answered(url, builder.connect_ws(dial)).await?.map_err(|error| unreachable(url, error))?.erased()
        }
        other => bail!(
            "--rpc-url {url:?}: the scheme {other}:// is not served; use http://, https://, ws:// or wss://"
        ),
    };
    Ok(Connection { provider, url: url.to_owned(), limits: Arc::new(Limits::new(websocket)) })
}

impl Connection {
    /// Turns a transport failure into an error that names the endpoint and the way out.
    pub fn unreachable(&self, error: RpcError<TransportErrorKind>) -> anyhow::Error {
        unreachable(&self.url, error)
    }

    /// Runs `request` with the RPC timeout, mapping failures to actionable errors.
    pub async fn timed<T>(
        &self,
        request: impl std::future::Future<Output = Result<T, RpcError<TransportErrorKind>>>,
    ) -> Result<T> {
        self.timed_raw(request).await?.map_err(|error| self.unreachable(error))
    }

    /// Like [`Connection::timed`], but hands back the node's own error for the caller to judge
    /// (a method the node lacks, say).
    pub async fn timed_raw<T>(
        &self,
        request: impl std::future::Future<Output = Result<T, RpcError<TransportErrorKind>>>,
    ) -> Result<Result<T, RpcError<TransportErrorKind>>> {
        answered(&self.url, request).await
    }
}

/// A provider over HTTP(S) that sends exactly what it is told (no nonce, gas or fee fillers);
/// the only place one is built, after the TLS provider is installed (see clippy.toml).
#[allow(clippy::disallowed_methods)]
pub fn http_provider(url: reqwest::Url) -> DynProvider {
    tls::install();
    ProviderBuilder::new().disable_recommended_fillers().connect_http(url).erased()
}

/// Turns a transport failure into an error that names the endpoint and the way out.
fn unreachable(url: &str, error: RpcError<TransportErrorKind>) -> anyhow::Error {
    let RpcError::Transport(_) = &error else {
        return anyhow!("the RPC at {url} answered with an error: {error}");
    };
    let why = with_causes(&error);
    let tls = ["certificate", "UnknownIssuer"].iter().any(|word| why.contains(word));
    let hint = if tls {
        "the endpoint's TLS certificate is not trusted here: check the host name; for a private \
         certificate authority set SSL_CERT_FILE=/path/to/ca.pem"
    } else {
        "check the URL and that the node is running (for a local chain: `defender devnet`), \
         or pass another with --rpc-url / ETH_RPC_URL"
    };
    anyhow!("cannot reach the RPC at {}: {why}\n  {hint}", url)
}

/// Waits for `request` at most [`REQUEST_TIMEOUT`].
async fn answered<T>(url: &str, request: impl std::future::Future<Output = T>) -> Result<T> {
    match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
        Ok(answer) => Ok(answer),
        Err(_) => bail!(
            "the RPC at {url} did not answer within {} s: try another endpoint with --rpc-url / ETH_RPC_URL",
            REQUEST_TIMEOUT.as_secs()
        ),
    }
}

/// The error and each of its causes, once each: transports hide the useful part ("connection
/// refused", "invalid peer certificate") a few sources down.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let line = inner.to_string();
        if !text.contains(&line) {
            text = format!("{text}: {line}");
        }
        cause = inner.source();
    }
    text
}

/// Whether the node answered that it does not serve the method at all.
pub fn method_missing(error: &RpcError<TransportErrorKind>) -> bool {
    let RpcError::ErrorResp(payload) = error else { return false };
    let message = payload.message.to_lowercase();
    payload.code == -32601
        || (message.contains("method")
            && ["not found", "not supported", "does not exist", "not available", "unsupported"]
                .iter()
                .any(|m| message.contains(m)))
}

/// Refuses a chain other than the one `--chain` names.
pub fn check_chain(url: &str, actual: u64, expected: Option<u64>) -> Result<()> {
    if let Some(expected) = expected
        && expected != actual
    {
        bail!(
            "the RPC at {url} serves chain {actual}, but --chain says {expected}: \
             nothing was signed or sent; point --rpc-url at the right network"
        );
    }
    Ok(())
}
