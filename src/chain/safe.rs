//! Safe 1.x multisigs as the contracts define them: the SafeTx a plan becomes, its EIP-712
//! hashes (what the owners sign), the MultiSend packing of several calls, and the owners'
//! signatures in the form and order `execTransaction` checks them.

use alloy::primitives::{Address, B256, Bytes, Signature, U256, address, eip191_hash_message, keccak256};
use alloy::sol_types::{Eip712Domain, SolCall, SolStruct};
use serde::{Deserialize, Serialize};

use crate::chain::bindings::{MultiSendCallOnly, Safe};

/// MultiSendCallOnly 1.4.1 at its canonical address, the same on every chain Safe deployed to
/// (a CREATE2 address of its creation code, so code there is that contract). The only target
/// a Safe transaction of defender's may DELEGATECALL: a DELEGATECALL runs the target's code as
/// the Safe, so any other target could take the Safe over.
pub const CANONICAL_MULTI_SEND_CALL_ONLY: Address = address!("9641d764fc13c8B624c04430C7356C1C7C8102e2");

alloy::sol! {
    /// The struct the Safe hashes (Safe.sol, SAFE_TX_TYPEHASH).
    struct SafeTx {
        address to;
        uint256 value;
        bytes data;
        uint8 operation;
        uint256 safeTxGas;
        uint256 baseGas;
        uint256 gasPrice;
        address gasToken;
        address refundReceiver;
        uint256 nonce;
    }
}

/// CALL, or DELEGATECALL (only ever to MultiSendCallOnly here).
pub const CALL: u8 = 0;
pub const DELEGATECALL: u8 = 1;

/// One Safe transaction of a given Safe on a given chain, with every field its hash covers.
/// defender never pays refunds: safeTxGas, baseGas and gasPrice are 0 and the gas token and
/// refund receiver are the zero address, so a failing inner call reverts `execTransaction`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafeTransaction {
    pub safe: Address,
    pub chain_id: u64,
    pub to: Address,
    #[serde(with = "crate::units::decimal")]
    pub value: U256,
    pub data: Bytes,
    pub operation: u8,
    #[serde(with = "crate::units::decimal")]
    pub safe_tx_gas: U256,
    #[serde(with = "crate::units::decimal")]
    pub base_gas: U256,
    #[serde(with = "crate::units::decimal")]
    pub gas_price: U256,
    pub gas_token: Address,
    pub refund_receiver: Address,
    #[serde(with = "crate::units::decimal")]
    pub nonce: U256,
}

/// A call the Safe makes, before packing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InnerCall {
    pub to: Address,
    pub value: U256,
    pub data: Bytes,
}

impl SafeTransaction {
    /// One call as a CALL; several as a DELEGATECALL of MultiSendCallOnly, which runs them in
    /// order with the Safe as their sender.
    pub fn of_calls(safe: Address, chain_id: u64, nonce: U256, calls: &[InnerCall]) -> Self {
        let (to, value, data, operation) = match calls {
            [one] => (one.to, one.value, one.data.clone(), CALL),
            _ => (CANONICAL_MULTI_SEND_CALL_ONLY, U256::ZERO, multi_send_data(calls), DELEGATECALL),
        };
        Self {
            safe,
            chain_id,
            to,
            value,
            data,
            operation,
            safe_tx_gas: U256::ZERO,
            base_gas: U256::ZERO,
            gas_price: U256::ZERO,
            gas_token: Address::ZERO,
            refund_receiver: Address::ZERO,
            nonce,
        }
    }

    fn typed(&self) -> SafeTx {
        SafeTx {
            to: self.to,
            value: self.value,
            data: self.data.clone(),
            operation: self.operation,
            safeTxGas: self.safe_tx_gas,
            baseGas: self.base_gas,
            gasPrice: self.gas_price,
            gasToken: self.gas_token,
            refundReceiver: self.refund_receiver,
            nonce: self.nonce,
        }
    }

    /// The EIP-712 domain separator of Safe 1.3 and later: chain id and the Safe's address.
    pub fn domain_separator(&self) -> B256 {
        Eip712Domain::new(None, None, Some(U256::from(self.chain_id)), Some(self.safe), None).separator()
    }

    /// The SafeTx struct hash: the "message hash" of the devices' EIP-712 hashed mode.
    pub fn message_hash(&self) -> B256 {
        self.typed().eip712_hash_struct()
    }

    /// keccak256(0x19 0x01 ‖ domain separator ‖ message hash): what the owners sign and the
    /// Safe's own `getTransactionHash` returns.
    pub fn safe_tx_hash(&self) -> B256 {
        let mut digest = [0u8; 66];
        digest[..2].copy_from_slice(&[0x19, 0x01]);
        digest[2..34].copy_from_slice(self.domain_separator().as_slice());
        digest[34..].copy_from_slice(self.message_hash().as_slice());
        keccak256(digest)
    }

    /// The calls the transaction makes: the one CALL, or those a DELEGATECALL of the canonical
    /// MultiSendCallOnly makes. An error says why it is no transaction defender would sign:
    /// a DELEGATECALL elsewhere, refund fields that pay someone, a call to the Safe itself.
    pub fn inner_calls(&self) -> Result<Vec<InnerCall>, String> {
        if !self.safe_tx_gas.is_zero()
            || !self.base_gas.is_zero()
            || !self.gas_price.is_zero()
            || self.gas_token != Address::ZERO
            || self.refund_receiver != Address::ZERO
        {
            return Err(
                "its safeTxGas, baseGas, gasPrice, gasToken or refundReceiver is set: such a transaction \
                        pays a refund out of the Safe and lets a failing call pass; defender builds them all \
                        zero"
                    .into(),
            );
        }
        let calls = match self.operation {
            CALL => vec![InnerCall { to: self.to, value: self.value, data: self.data.clone() }],
            DELEGATECALL if self.to == CANONICAL_MULTI_SEND_CALL_ONLY && self.value.is_zero() => {
                MultiSendCallOnly::multiSendCall::abi_decode(&self.data)
                    .ok()
                    .and_then(|c| unpack_multi_send(&c.transactions))
                    .ok_or("its data is not a MultiSend packing of calls as defender writes it")?
            }
            DELEGATECALL => {
                return Err(format!(
                    "it DELEGATECALLs {} (value {}): a DELEGATECALL runs that code as the Safe; defender \
                     DELEGATECALLs only MultiSendCallOnly at {CANONICAL_MULTI_SEND_CALL_ONLY}, with no value",
                    self.to, self.value
                ));
            }
            other => {
                return Err(format!(
                    "its operation is {other}: a Safe knows only 0 (CALL) and 1 (DELEGATECALL)"
                ));
            }
        };
        if let Some(i) = calls.iter().position(|c| c.to == self.safe) {
            return Err(format!(
                "call {} goes to the Safe itself, which could change its owners, threshold or modules; defender \
                 never builds such a call",
                i + 1
            ));
        }
        Ok(calls)
    }

    /// `execTransaction` with these fields and the packed signatures.
    pub fn exec_call(&self, signatures: Bytes) -> Safe::execTransactionCall {
        Safe::execTransactionCall {
            to: self.to,
            value: self.value,
            data: self.data.clone(),
            operation: self.operation,
            safeTxGas: self.safe_tx_gas,
            baseGas: self.base_gas,
            gasPrice: self.gas_price,
            gasToken: self.gas_token,
            refundReceiver: self.refund_receiver,
            signatures,
        }
    }

    /// The Safe's own `getTransactionHash` for these fields (to check the client's hash).
    pub fn get_transaction_hash_call(&self) -> Safe::getTransactionHashCall {
        Safe::getTransactionHashCall {
            to: self.to,
            value: self.value,
            data: self.data.clone(),
            operation: self.operation,
            safeTxGas: self.safe_tx_gas,
            baseGas: self.base_gas,
            gasPrice: self.gas_price,
            gasToken: self.gas_token,
            refundReceiver: self.refund_receiver,
            _nonce: self.nonce,
        }
    }
}

/// `multiSend(bytes)` of the calls, each packed as operation (1 byte, CALL), to (20), value
/// (32), data length (32) and data, as MultiSendCallOnly reads them.
pub fn multi_send_data(calls: &[InnerCall]) -> Bytes {
    let mut packed = Vec::new();
    for call in calls {
        packed.push(CALL);
        packed.extend_from_slice(call.to.as_slice());
        packed.extend_from_slice(&call.value.to_be_bytes::<32>());
        packed.extend_from_slice(&U256::from(call.data.len()).to_be_bytes::<32>());
        packed.extend_from_slice(&call.data);
    }
    MultiSendCallOnly::multiSendCall { transactions: packed.into() }.abi_encode().into()
}

fn unpack_multi_send(mut packed: &[u8]) -> Option<Vec<InnerCall>> {
    let mut calls = Vec::new();
    while !packed.is_empty() {
        if packed.len() < 85 || packed[0] != CALL {
            return None;
        }
        let to = Address::from_slice(&packed[1..21]);
        let value = U256::from_be_slice(&packed[21..53]);
        let len: usize = U256::from_be_slice(&packed[53..85]).try_into().ok()?;
        let data = packed.get(85..85usize.checked_add(len)?)?;
        calls.push(InnerCall { to, value, data: Bytes::copy_from_slice(data) });
        packed = &packed[85 + len..];
    }
    (!calls.is_empty()).then_some(calls)
}

/// How an owner signed the safeTxHash: over EIP-712 (v 27/28), or as an EIP-191 personal
/// message of the hash, which the Safe takes with v + 4 (every Safe 1.x accepts both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureKind {
    Eip712,
    EthSign,
}

/// One owner's signature of one safeTxHash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerSignature {
    pub owner: Address,
    pub kind: SignatureKind,
    /// r ‖ s ‖ v (65 bytes) as the device returned it, v 27 or 28.
    pub signature: Bytes,
}

impl OwnerSignature {
    pub fn new(owner: Address, kind: SignatureKind, signature: &Signature) -> Self {
        Self { owner, kind, signature: signature.as_bytes().to_vec().into() }
    }

    /// r, s and the y parity: v may be stored as 27/28 or as 0/1; anything else is refused.
    fn parsed(&self) -> Result<Signature, String> {
        let bytes: &[u8] = self.signature.as_ref();
        if bytes.len() != 65 {
            return Err(format!(
                "the signature of {} is {} bytes, not 65 (r, s, v)",
                self.owner,
                bytes.len()
            ));
        }
        let parity = match bytes[64] {
            0 | 27 => false,
            1 | 28 => true,
            v => {
                return Err(format!(
                    "the signature of {} has v = {v}: a Safe signature's v is 27 or 28",
                    self.owner
                ));
            }
        };
        Ok(Signature::new(U256::from_be_slice(&bytes[..32]), U256::from_be_slice(&bytes[32..64]), parity))
    }

    /// Who signed `safe_tx_hash` with this signature, as the Safe will recover it.
    pub fn recover(&self, safe_tx_hash: B256) -> Result<Address, String> {
        let signature = self.parsed()?;
        let digest = match self.kind {
            SignatureKind::Eip712 => safe_tx_hash,
            SignatureKind::EthSign => eip191_hash_message(safe_tx_hash),
        };
        signature
            .recover_address_from_prehash(&digest)
            .map_err(|e| format!("the signature said to be {}'s recovers to no key: {e}", self.owner))
    }

    /// The 65 bytes the Safe reads: v 27/28, plus 4 for the eth_sign form.
    fn packed(&self) -> Result<[u8; 65], String> {
        let signature = self.parsed()?;
        let mut out = [0u8; 65];
        out[..32].copy_from_slice(&signature.r().to_be_bytes::<32>());
        out[32..64].copy_from_slice(&signature.s().to_be_bytes::<32>());
        let v = 27 + u8::from(signature.v());
        out[64] = match self.kind {
            SignatureKind::Eip712 => v,
            SignatureKind::EthSign => v + 4,
        };
        Ok(out)
    }
}

/// The signatures as `execTransaction` takes them: sorted by owner address, ascending (the
/// Safe rejects any other order), concatenated.
pub fn pack_signatures(signatures: &[OwnerSignature]) -> Result<Bytes, String> {
    let mut sorted: Vec<&OwnerSignature> = signatures.iter().collect();
    sorted.sort_by_key(|s| s.owner);
    let mut out = Vec::with_capacity(65 * sorted.len());
    for s in sorted {
        out.extend_from_slice(&s.packed()?);
    }
    Ok(out.into())
}

/// The Safe's owners, threshold and nonce, as read from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafeState {
    pub owners: Vec<Address>,
    pub threshold: u64,
    #[serde(with = "crate::units::decimal")]
    pub nonce: U256,
    pub version: String,
    /// The Safe's own `domainSeparator()`, to compare with the one defender computes.
    pub domain_separator: B256,
}

/// The calls that read a Safe's state, in the order [`decode_state`] takes their answers.
pub fn state_calls() -> [Bytes; 5] {
    [
        Safe::getOwnersCall {}.abi_encode().into(),
        Safe::getThresholdCall {}.abi_encode().into(),
        Safe::nonceCall {}.abi_encode().into(),
        Safe::VERSIONCall {}.abi_encode().into(),
        Safe::domainSeparatorCall {}.abi_encode().into(),
    ]
}

/// Decodes the answers to [`state_calls`] made on `safe`; an error says it is no Safe.
pub fn decode_state(safe: Address, answers: &[Result<Bytes, String>]) -> Result<SafeState, String> {
    let not_a_safe =
        || format!("{safe} does not answer like a Safe (getOwners, getThreshold, nonce): check --safe");
    let [owners, threshold, nonce, version, domain] = answers else { return Err(not_a_safe()) };
    let get = |answer: &Result<Bytes, String>| answer.as_ref().ok().filter(|b| !b.is_empty()).cloned();
    let owners =
        get(owners).and_then(|b| Safe::getOwnersCall::abi_decode_returns(&b).ok()).ok_or_else(not_a_safe)?;
    let threshold = get(threshold)
        .and_then(|b| Safe::getThresholdCall::abi_decode_returns(&b).ok())
        .ok_or_else(not_a_safe)?;
    let nonce =
        get(nonce).and_then(|b| Safe::nonceCall::abi_decode_returns(&b).ok()).ok_or_else(not_a_safe)?;
    let version = get(version)
        .and_then(|b| Safe::VERSIONCall::abi_decode_returns(&b).ok())
        .unwrap_or_else(|| "unknown".into());
    let domain_separator = get(domain)
        .and_then(|b| Safe::domainSeparatorCall::abi_decode_returns(&b).ok())
        .ok_or_else(|| {
        format!("{safe} has no domainSeparator(): it is not a Safe 1.3 or later, which defender needs")
    })?;
    if owners.is_empty() || threshold.is_zero() {
        return Err(format!(
            "{safe} is not set up (no owners or a zero threshold): it cannot execute anything"
        ));
    }
    Ok(SafeState { owners, threshold: threshold.saturating_to(), nonce, version, domain_separator })
}

/// Checks that `signatures` are of `safe_tx_hash` by distinct owners; returns how many count.
pub fn check_signatures(
    signatures: &[OwnerSignature],
    safe_tx_hash: B256,
    owners: &[Address],
) -> Result<usize, String> {
    let mut seen = Vec::new();
    for s in signatures {
        let signer = s.recover(safe_tx_hash)?;
        if signer != s.owner {
            return Err(format!(
                "the signature said to be {}'s was made by {signer}, or over another safeTxHash",
                s.owner
            ));
        }
        if !owners.contains(&signer) {
            return Err(format!("{signer} signed, but is not an owner of the Safe"));
        }
        if seen.contains(&signer) {
            return Err(format!("{signer} signed twice: each owner counts once"));
        }
        seen.push(signer);
    }
    Ok(seen.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(calls: &[InnerCall]) -> SafeTransaction {
        let safe = address!("00000000000000000000000000000000000000aa");
        SafeTransaction::of_calls(safe, 31337, U256::from(3), calls)
    }

    fn call(n: u8, len: usize) -> InnerCall {
        InnerCall { to: Address::repeat_byte(n), value: U256::from(n), data: vec![n; len].into() }
    }

    #[test]
    fn one_call_is_a_call_and_several_a_multi_send_that_unpacks_to_them() {
        let one = tx(&[call(1, 4)]);
        assert_eq!((one.operation, one.to), (CALL, Address::repeat_byte(1)));
        let calls = vec![call(1, 4), call(2, 0), call(3, 68)];
        let many = tx(&calls);
        assert_eq!((many.operation, many.to), (DELEGATECALL, CANONICAL_MULTI_SEND_CALL_ONLY));
        assert_eq!(many.inner_calls(), Ok(calls));
        let elsewhere = SafeTransaction { to: Address::repeat_byte(9), ..many.clone() };
        assert!(
            elsewhere.inner_calls().unwrap_err().contains("DELEGATECALLs 0x0909"),
            "a DELEGATECALL elsewhere"
        );
        let refund = SafeTransaction { gas_price: U256::from(1), ..many.clone() };
        assert!(refund.inner_calls().unwrap_err().contains("refund"));
        let to_itself = tx(&[InnerCall { to: many.safe, value: U256::ZERO, data: vec![1, 2, 3, 4].into() }]);
        assert!(to_itself.inner_calls().unwrap_err().contains("the Safe itself"));
    }

    #[test]
    fn the_typehash_is_safe_s() {
        // Safe.sol: SAFE_TX_TYPEHASH.
        let expected: B256 =
            "0xbb8310d486368db6bd6f849402fdd73ad53d316b5a4b2644ad6efe0f941286d8".parse().unwrap();
        assert_eq!(SafeTx::eip712_type_hash(&tx(&[call(1, 1)]).typed()), expected);
    }

    #[test]
    fn signatures_are_ordered_by_owner_and_eth_sign_adds_4_to_v() {
        let low = OwnerSignature {
            owner: Address::repeat_byte(1),
            kind: SignatureKind::EthSign,
            signature: [[7u8; 64].as_slice(), &[27]].concat().into(),
        };
        let high = OwnerSignature {
            owner: Address::repeat_byte(2),
            kind: SignatureKind::Eip712,
            signature: [[9u8; 64].as_slice(), &[28]].concat().into(),
        };
        let packed = pack_signatures(&[high.clone(), low.clone()]).unwrap();
        assert_eq!(packed.len(), 130);
        assert_eq!((packed[0], packed[64]), (7, 31));
        assert_eq!((packed[65], packed[129]), (9, 28));
        // A device's v of 0/1 is the same signature; any other v, or a short one, is refused.
        let zero_one = |s: &OwnerSignature, v: u8| OwnerSignature {
            signature: [&s.signature[..64], &[v]].concat().into(),
            ..s.clone()
        };
        assert_eq!(pack_signatures(&[zero_one(&high, 1), zero_one(&low, 0)]).unwrap(), packed);
        for v in [2, 26, 29, 35, 37, 255] {
            assert!(pack_signatures(&[zero_one(&high, v)]).unwrap_err().contains(&format!("v = {v}")));
        }
        let short = OwnerSignature { signature: vec![1; 64].into(), ..high };
        assert!(pack_signatures(&[short]).unwrap_err().contains("64 bytes, not 65"));
    }
}
