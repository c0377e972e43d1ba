//! Keys held in software (a keystore file or an environment variable), behind [`Backend`].

use alloy::consensus::{SignableTransaction, TypedTransaction};
use alloy::primitives::{Address, B256, Signature, keccak256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use anyhow::Result;
use async_trait::async_trait;

use super::Backend;

pub struct LocalKey(pub PrivateKeySigner);

#[async_trait]
impl Backend for LocalKey {
    fn address(&self) -> Address {
        self.0.address()
    }

    async fn sign_transaction(&self, tx: &TypedTransaction) -> Result<Signature> {
        Ok(self.0.sign_hash_sync(&tx.signature_hash())?)
    }

    async fn sign_message(&self, message: &[u8]) -> Result<Signature> {
        Ok(self.0.sign_message_sync(message)?)
    }

    async fn sign_typed_hashes(&self, domain: B256, message: B256) -> Result<Signature> {
        let digest = keccak256([&[0x19, 0x01][..], domain.as_slice(), message.as_slice()].concat());
        Ok(self.0.sign_hash_sync(&digest)?)
    }
}
