//! Actions from a Safe multisig. The plan's calls become one Safe transaction; its owners sign
//! the safeTxHash on their own devices (at once, or one after another through a bundle); any
//! account then executes it. Nothing here needs the Safe web app or its transaction service:
//! the SafeTx, its hashes and every signature check are computed here from the Safe's own
//! definitions, and checked against the Safe on chain before execution.

pub mod execute;
pub mod online;
pub mod preview;

use alloy::primitives::Address;
use anyhow::{Result, bail};

use crate::actions::Call;
use crate::chain::safe::{
    InnerCall, OwnerSignature, SafeState, SafeTransaction, SignatureKind, check_signatures,
};
use crate::signers::{Screen, Signer};

/// The Safe an action acts from, as read in the action's first round trip.
#[derive(Debug, Clone)]
pub struct SafeSetup {
    pub address: Address,
    pub state: SafeState,
    /// Whether MultiSendCallOnly has code at its canonical address: a DELEGATECALL to an empty
    /// address does nothing and succeeds.
    pub multi_send_deployed: bool,
}

impl SafeSetup {
    /// The Safe transaction that makes `calls` from the Safe, at its current nonce.
    pub fn transaction(&self, chain_id: u64, calls: &[Call]) -> SafeTransaction {
        SafeTransaction::of_calls(self.address, chain_id, self.state.nonce, &inner_calls(calls))
    }
}

pub fn inner_calls(calls: &[Call]) -> Vec<InnerCall> {
    calls.iter().map(|c| InnerCall { to: c.to, value: c.value, data: c.data.clone() }).collect()
}

/// How `signer` signs a safeTxHash: EIP-712 by its hashes where it can, else the hash as a
/// personal message (the Safe's eth_sign form).
pub fn kind_for(signer: &Signer) -> SignatureKind {
    if signer.signs_typed_hashes() { SignatureKind::Eip712 } else { SignatureKind::EthSign }
}

/// What `signer`'s device shows before it signs `tx`'s hash (devices only).
pub fn screens_for(signer: &Signer, tx: &SafeTransaction) -> Option<Vec<Screen>> {
    match kind_for(signer) {
        SignatureKind::Eip712 => signer.typed_hash_screens(tx.domain_separator(), tx.message_hash()),
        SignatureKind::EthSign => signer.message_screens(tx.safe_tx_hash().as_slice()),
    }
}

/// Refuses before any device is asked when `signer` cannot add a signature that counts.
pub fn check_can_sign(signer: &Signer, owners: &[Address], have: &[OwnerSignature]) -> Result<()> {
    let me = signer.address();
    if !owners.contains(&me) {
        bail!(
            "{} signs as {me}, which is not an owner of this Safe (owners: {}): nothing was signed; use an owner's key",
            signer.description,
            list(owners)
        );
    }
    if have.iter().any(|s| s.owner == me) {
        bail!("{me} has already signed this Safe transaction: each owner counts once; nothing was signed");
    }
    Ok(())
}

/// Has `signer` (an owner) sign `tx`'s safeTxHash, and checks the signature as the Safe will.
pub async fn sign_as_owner(
    signer: &Signer,
    tx: &SafeTransaction,
    owners: &[Address],
    have: &[OwnerSignature],
) -> Result<OwnerSignature> {
    check_can_sign(signer, owners, have)?;
    let kind = kind_for(signer);
    let signature = match kind {
        SignatureKind::Eip712 => signer.sign_typed_hashes(tx.domain_separator(), tx.message_hash()).await?,
        SignatureKind::EthSign => signer.sign_message(tx.safe_tx_hash().as_slice()).await?,
    };
    let signed = OwnerSignature::new(signer.address(), kind, &signature);
    check_signatures(std::slice::from_ref(&signed), tx.safe_tx_hash(), owners).map_err(anyhow::Error::msg)?;
    Ok(signed)
}

/// Addresses for a message, comma-separated.
pub fn list(addresses: &[Address]) -> String {
    addresses.iter().map(Address::to_string).collect::<Vec<_>>().join(", ")
}

/// "1 of 2 signatures": how far a Safe transaction is from executing.
pub fn progress(count: usize, threshold: u64) -> String {
    format!("{count} of {threshold} signature{}", if threshold == 1 { "" } else { "s" })
}
