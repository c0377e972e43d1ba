//! A private key in an environment variable: for devnets, drills and unattended bots.
//! The key is never printed; an unparsable value is reported without echoing it.

use std::sync::Arc;

use alloy::signers::local::PrivateKeySigner;
use anyhow::{Result, bail};

use super::Signer;
use super::local::LocalKey;

pub fn open(var: &str) -> Result<Signer> {
    let Ok(value) = std::env::var(var) else {
        bail!("the environment variable {var} is not set: export it with the hex private key");
    };
    let key: PrivateKeySigner = match value.trim().parse() {
        Ok(key) => key,
        Err(_) => bail!("{var} does not hold a private key (64 hex digits, with or without 0x)"),
    };
    Ok(Signer::new(Arc::new(LocalKey(key)), format!("the key in ${var}"), None))
}
