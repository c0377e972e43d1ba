//! Connecting to the JSON-RPC endpoint, with errors that say what to do.
//!
//! Connecting sends nothing: the first batch of an action carries the chain id check, so
//! preparing an action costs as few HTTP round trips as possible.

use std::time::Duration;

use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::transports::{RpcError, TransportErrorKind};
use anyhow::{Context, Result, anyhow, bail};

/// How long one HTTP request may take before the RPC is declared unresponsive.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// A provider for the endpoint; nothing has been sent yet.
#[derive(Clone)]
pub struct Connection {
    pub provider: DynProvider,
    pub url: String,
}

pub fn connect(url: &str) -> Result<Connection> {
    let parsed = url
        .parse()
        .with_context(|| format!("--rpc-url {url:?} is not a URL (expected e.g. http://127.0.0.1:8545)"))?;
    let provider = ProviderBuilder::new().disable_recommended_fillers().connect_http(parsed).erased();
    Ok(Connection { provider, url: url.to_owned() })
}

impl Connection {
    /// Turns a transport failure into an error that names the endpoint and the way out.
    pub fn unreachable(&self, error: RpcError<TransportErrorKind>) -> anyhow::Error {
        match error {
            RpcError::Transport(kind) => anyhow!(
                "cannot reach the RPC at {}: {kind}\n  check the URL and that the node is running \
                 (for a local chain: `defender devnet`), or pass another with --rpc-url / ETH_RPC_URL",
                self.url
            ),
            other => anyhow!("the RPC at {} answered with an error: {other}", self.url),
        }
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
        match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
            Ok(answer) => Ok(answer),
            Err(_) => bail!(
                "the RPC at {} did not answer within {} s: try another endpoint with --rpc-url / ETH_RPC_URL",
                self.url,
                REQUEST_TIMEOUT.as_secs()
            ),
        }
    }
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
