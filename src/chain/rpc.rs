//! Connecting to the JSON-RPC endpoint, with errors that say what to do.

use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use anyhow::{Context, Result, bail};

/// A connected provider and the chain it serves.
pub struct Connection {
    pub provider: DynProvider,
    pub chain_id: u64,
    pub url: String,
}

/// Connects to `url` and checks the chain id against `expected` (the `--chain` option).
pub async fn connect(url: &str, expected: Option<u64>) -> Result<Connection> {
    let parsed = url
        .parse()
        .with_context(|| format!("--rpc-url {url:?} is not a URL (expected e.g. http://127.0.0.1:8545)"))?;
    let provider = ProviderBuilder::new().disable_recommended_fillers().connect_http(parsed).erased();
    let chain_id = match tokio::time::timeout(std::time::Duration::from_secs(15), provider.get_chain_id())
        .await
    {
        Ok(Ok(id)) => id,
        Ok(Err(error)) => bail!(
            "cannot reach the RPC at {url}: {error}\n  check the URL and that the node is running \
             (for a local chain: `defender devnet`), or pass another with --rpc-url / ETH_RPC_URL"
        ),
        Err(_) => bail!(
            "the RPC at {url} did not answer within 15 s: try another endpoint with --rpc-url / ETH_RPC_URL"
        ),
    };
    if let Some(expected) = expected
        && expected != chain_id
    {
        bail!(
            "the RPC at {url} serves chain {chain_id}, but --chain says {expected}: \
             nothing was signed or sent; point --rpc-url at the right network"
        );
    }
    Ok(Connection { provider, chain_id, url: url.to_owned() })
}
