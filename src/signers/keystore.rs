//! An encrypted JSON keystore (Web3 Secret Storage), password from the terminal or a file.

use std::path::Path;
use std::sync::Arc;

use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, Result};

use super::Signer;
use super::local::LocalKey;

pub fn open(path: &Path, password_file: Option<&Path>) -> Result<Signer> {
    if !path.is_file() {
        anyhow::bail!("the keystore {} does not exist or is not a file", path.display());
    }
    let password = match password_file {
        Some(file) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the password file {}", file.display()))?
            .trim_end_matches(['\n', '\r'])
            .to_owned(),
        None => rpassword::prompt_password(format!("password for {}: ", path.display()))
            .context("cannot read the keystore password from the terminal (use --password-file)")?,
    };
    let key = PrivateKeySigner::decrypt_keystore(path, password).with_context(|| {
        format!("cannot decrypt {}: wrong password, or not a keystore file", path.display())
    })?;
    Ok(Signer::new(Arc::new(LocalKey(key)), format!("keystore {}", path.display()), None))
}
