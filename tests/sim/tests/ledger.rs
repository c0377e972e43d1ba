//! Tests of the Ledger simulator, driven through coins-ledger's `SpeculosTransport` (the transport
//! the client uses), and a raw socket for the framing.

use std::time::Duration;

use alloy::consensus::{SignableTransaction, TxEip1559, TxEip2930, TxLegacy};
use alloy::primitives::{Address, B256, Bytes, Signature, TxKind, U256, address, keccak256};
use alloy::signers::SignerSync;
use alloy::signers::local::coins_bip39::English;
use alloy::signers::local::{MnemonicBuilder, PrivateKeySigner};
use coins_ledger::common::CommandBuilder;
use coins_ledger::transports::LedgerTransport;
use coins_ledger::transports::speculos::SpeculosTransport;
use coins_ledger::{LedgerError, Model};
use defender_sim::TEST_MNEMONIC;
use defender_sim::ledger::{Fault, LedgerConfig, LedgerSim, Model as SimModel};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const H: u32 = 0x8000_0000;
/// m/44'/60'/0'/0/0
const PATH0: [u32; 5] = [44 | H, 60 | H, H, 0, 0];
const FIRST: u8 = 0x00;
const MORE: u8 = 0x80;
const TARGET: Address = address!("0xbe8e3e3618f7474f8cb1d074a26affef007e98fb");

async fn sim() -> LedgerSim {
    LedgerSim::start(LedgerConfig::default()).await.expect("simulator starts")
}

async fn connect(sim: &LedgerSim) -> SpeculosTransport {
    SpeculosTransport::connect(sim.addr(), Model::NanoSPlus).await.expect("connects")
}

/// Exchange one APDU; `Err(status word)` for anything but 0x9000.
async fn send_cla(
    t: &mut SpeculosTransport,
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
    data: &[u8],
) -> Result<Vec<u8>, u16> {
    let cmd = CommandBuilder::new().cla(cla).ins(ins).p1(p1).p2(p2).data(data).build().expect("valid APDU");
    match t.exchange(cmd, Some(Duration::from_secs(10))).await {
        Ok(answer) => Ok(answer.data().to_vec()),
        Err(LedgerError::BadRetcode(sw)) => Err(sw.raw()),
        Err(e) => panic!("transport failed: {e}"),
    }
}

async fn send(t: &mut SpeculosTransport, ins: u8, p1: u8, p2: u8, data: &[u8]) -> Result<Vec<u8>, u16> {
    send_cla(t, 0xE0, ins, p1, p2, data).await
}

fn path_bytes(path: &[u32]) -> Vec<u8> {
    let mut out = vec![path.len() as u8];
    for e in path {
        out.extend_from_slice(&e.to_be_bytes());
    }
    out
}

fn local(path: &str) -> PrivateKeySigner {
    MnemonicBuilder::<English>::default()
        .phrase(TEST_MNEMONIC)
        .derivation_path(path)
        .unwrap()
        .build()
        .unwrap()
}

/// The APDU data stream of a signing request: path then payload.
fn stream(path: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut s = path_bytes(path);
    s.extend_from_slice(payload);
    s
}

/// Naive chunking: consecutive pieces of at most `size` bytes.
fn chunks(stream: &[u8], size: usize) -> Vec<Vec<u8>> {
    stream.chunks(size).map(<[u8]>::to_vec).collect()
}

/// 255-byte chunking that never ends a chunk at `forbidden` (a stream offset).
fn chunks_avoiding(stream: &[u8], forbidden: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < stream.len() {
        let mut end = (pos + 255).min(stream.len());
        if end == forbidden {
            end -= 1;
        }
        out.push(stream[pos..end].to_vec());
        pos = end;
    }
    out
}

/// Send every chunk of a SIGN ETH TRANSACTION (P1 0x00 then 0x80), collecting each answer.
async fn sign_chunks(t: &mut SpeculosTransport, chunks: &[Vec<u8>]) -> Vec<Result<Vec<u8>, u16>> {
    let mut answers = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        answers.push(send(t, 0x04, if i == 0 { FIRST } else { MORE }, 0x00, chunk).await);
    }
    answers
}

/// All answers but the last are empty successes; the last is returned.
fn last_answer(answers: Vec<Result<Vec<u8>, u16>>) -> Result<Vec<u8>, u16> {
    let n = answers.len();
    for (i, a) in answers[..n - 1].iter().enumerate() {
        assert_eq!(a, &Ok(Vec::new()), "chunk {i} of {n} must be acknowledged with no data");
    }
    answers.into_iter().last().unwrap()
}

fn split_sig(answer: &[u8]) -> (u8, B256, B256) {
    assert_eq!(answer.len(), 65, "v r s");
    (answer[0], B256::from_slice(&answer[1..33]), B256::from_slice(&answer[33..65]))
}

fn recover(r: B256, s: B256, parity: bool, hash: B256) -> Address {
    Signature::from_scalars_and_parity(r, s, parity).recover_address_from_prehash(&hash).unwrap()
}

fn calldata(len: usize) -> Bytes {
    let mut data = vec![0x6a, 0x76, 0x12, 0x02]; // a selector
    data.extend((0..len.saturating_sub(4)).map(|i| (i * 7 % 256) as u8));
    data.into()
}

fn eip1559(chain_id: u64, nonce: u64, input: Bytes, value: U256) -> TxEip1559 {
    TxEip1559 {
        chain_id,
        nonce,
        gas_limit: 100_000,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(TARGET),
        value,
        access_list: Default::default(),
        input,
    }
}

fn legacy(chain_id: Option<u64>, nonce: u64, input: Bytes) -> TxLegacy {
    TxLegacy {
        chain_id,
        nonce,
        gas_price: 20_000_000_000,
        gas_limit: 100_000,
        to: TxKind::Call(TARGET),
        value: U256::ZERO,
        input,
    }
}

fn encode<T: SignableTransaction<Signature>>(tx: &T) -> Vec<u8> {
    let mut out = Vec::new();
    tx.encode_for_signing(&mut out);
    out
}

/// Length of a legacy transaction's EIP-155 tail: RLP(chainId), 0x80, 0x80.
fn eip155_tail_len(chain_id: u64) -> usize {
    let bytes = 8 - (chain_id.leading_zeros() / 8) as usize;
    let id = if chain_id < 0x80 { 1 } else { 1 + bytes };
    id + 2
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[tokio::test]
async fn address_of_the_first_account_and_ledger_live_paths() {
    let sim = sim().await;
    let mut t = connect(&sim).await;
    let answer = send(&mut t, 0x02, 0x00, 0x00, &path_bytes(&PATH0)).await.unwrap();
    assert_eq!(answer[0], 65);
    assert_eq!(answer[1], 0x04, "uncompressed public key");
    assert_eq!(answer[66], 40);
    assert_eq!(&answer[67..107], b"f39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "EIP-55 without 0x");
    assert_eq!(answer.len(), 107, "no chain code unless P2=1");
    let from_pubkey = Address::from_slice(&keccak256(&answer[2..66])[12..]);
    assert_eq!(from_pubkey, address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"));
    assert_eq!(sim.address_at("m/44'/60'/0'/0/0"), from_pubkey);

    // Ledger Live: m/44'/60'/N'/0/0; legacy: m/44'/60'/0'/N.
    let live1 = send(&mut t, 0x02, 0x00, 0x00, &path_bytes(&[44 | H, 60 | H, 1 | H, 0, 0])).await.unwrap();
    let live1: Address = std::str::from_utf8(&live1[67..107]).unwrap().parse().unwrap();
    assert_eq!(live1, local("m/44'/60'/1'/0/0").address());
    assert_eq!(live1, sim.address_at("m/44'/60'/1'/0/0"));
    assert_ne!(live1, sim.address_at("m/44'/60'/0'/1"));
    assert_ne!(live1, address!("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"), "not m/44'/60'/0'/0/1");

    // Chain code on request; an optional 8-byte chain id after the path.
    let with_code = send(&mut t, 0x02, 0x00, 0x01, &path_bytes(&PATH0)).await.unwrap();
    assert_eq!(with_code.len(), 107 + 32);
    assert_eq!(with_code[..107], answer[..]);
    let other = send(&mut t, 0x02, 0x00, 0x01, &path_bytes(&[44 | H, 60 | H, 1 | H, 0, 0])).await.unwrap();
    assert_ne!(other[107..], with_code[107..]);
    let mut with_chain = path_bytes(&PATH0);
    with_chain.extend_from_slice(&1u64.to_be_bytes());
    assert_eq!(send(&mut t, 0x02, 0x00, 0x00, &with_chain).await.unwrap(), answer);

    // Display and confirm.
    sim.clear_log();
    assert_eq!(send(&mut t, 0x02, 0x01, 0x00, &path_bytes(&PATH0)).await.unwrap(), answer);
    assert_eq!(sim.texts(), vec![s(&["Verify address", "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"])]);

    // Malformed requests.
    assert_eq!(send(&mut t, 0x02, 0x02, 0x00, &path_bytes(&PATH0)).await, Err(0x6B00));
    assert_eq!(send(&mut t, 0x02, 0x00, 0x02, &path_bytes(&PATH0)).await, Err(0x6B00));
    assert_eq!(send(&mut t, 0x02, 0x00, 0x00, &path_bytes(&[0; 11])).await, Err(0x6A80));
    assert_eq!(send(&mut t, 0x02, 0x00, 0x00, &path_bytes(&PATH0)[..10]).await, Err(0x6A80));
    let mut trailing = path_bytes(&PATH0);
    trailing.extend_from_slice(&[1, 2, 3]);
    assert_eq!(send(&mut t, 0x02, 0x00, 0x00, &trailing).await, Err(0x6A80));
}

#[tokio::test]
async fn configuration_follows_blind_signing() {
    let sim = sim().await;
    let mut t = connect(&sim).await;
    assert_eq!(send(&mut t, 0x06, 0, 0, &[]).await.unwrap(), vec![0x01, 1, 22, 0]);
    sim.set_blind_signing(false);
    assert_eq!(send(&mut t, 0x06, 0, 0, &[]).await.unwrap(), vec![0x00, 1, 22, 0]);
    sim.set_blind_signing(true);
    assert_eq!(send(&mut t, 0x06, 0, 0, &[]).await.unwrap(), vec![0x01, 1, 22, 0]);

    let old =
        LedgerSim::start(LedgerConfig { blind_signing: false, version: (1, 10, 3), ..Default::default() })
            .await
            .unwrap();
    let mut t = connect(&old).await;
    assert_eq!(send(&mut t, 0x06, 0, 0, &[]).await.unwrap(), vec![0x00, 1, 10, 3]);
}

#[tokio::test]
async fn eip1559_contract_call_matches_the_software_signer() {
    let sim = sim().await;
    let mut t = connect(&sim).await;
    let tx = eip1559(1, 7, calldata(300), U256::ZERO);
    let payload = encode(&tx);
    assert_eq!(payload[0], 0x02);
    let chunks = chunks(&stream(&PATH0, &payload), 255);
    assert_eq!(chunks.len(), 2);
    let (v, r, s_) = split_sig(&last_answer(sign_chunks(&mut t, &chunks).await).unwrap());

    let hash = tx.signature_hash();
    let expected = local("m/44'/60'/0'/0/0").sign_hash_sync(&hash).unwrap();
    assert!(v <= 1, "typed transactions answer the parity");
    assert_eq!(v == 1, expected.v());
    assert_eq!(r, B256::from(expected.r()));
    assert_eq!(s_, B256::from(expected.s()));
    assert_eq!(recover(r, s_, v == 1, hash), sim.address_at("m/44'/60'/0'/0/0"));

    let screens = sim.texts();
    assert_eq!(
        screens.last().unwrap(),
        &s(&[
            "Blind signing ahead",
            "To accept risk, press both buttons",
            "Review transaction",
            "From",
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "To",
            &TARGET.to_checksum(None),
            "Max fees",
            "0.002 ETH",
            "Tx hash (1/2)",
            &format!("{hash:#x}")[..34],
            "Tx hash (2/2)",
            &format!("{hash:#x}")[34..],
            "Accept risk and sign transaction",
        ])
    );

    // With a value and off mainnet: Amount and Network appear.
    let tx = eip1559(11_155_111, 0, calldata(40), U256::from(1_500_000_000_000_000_000u128));
    let answer = last_answer(sign_chunks(&mut t, &chunks_avoiding(&stream(&PATH0, &encode(&tx)), 0)).await);
    let (v, r, s_) = split_sig(&answer.unwrap());
    assert_eq!(recover(r, s_, v == 1, tx.signature_hash()), sim.address_at("m/44'/60'/0'/0/0"));
    let last = sim.texts().last().unwrap().clone();
    assert_eq!(last[7..11], s(&["Amount", "1.5 ETH", "Max fees", "0.002 ETH"])[..]);
    assert_eq!(last[11..13], s(&["Network", "Sepolia"])[..]);

    // An ERC-20 approve takes the app's own flow: no To, spender, amount or hash; off mainnet
    // the Network comes before the fees, and the unit is "???".
    let mut approve = vec![0x09, 0x5e, 0xa7, 0xb3];
    approve.extend_from_slice(&[0x11; 64]);
    let tx = eip1559(31337, 0, approve.into(), U256::ZERO);
    let answer = last_answer(sign_chunks(&mut t, &chunks_avoiding(&stream(&PATH0, &encode(&tx)), 0)).await);
    let (v, r, s_) = split_sig(&answer.unwrap());
    assert_eq!(recover(r, s_, v == 1, tx.signature_hash()), sim.address_at("m/44'/60'/0'/0/0"));
    assert_eq!(
        sim.texts().last().unwrap(),
        &s(&[
            "Blind signing ahead",
            "To accept risk, press both buttons",
            "Review transaction to approve ERC20 token",
            "From",
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "Network",
            "31337",
            "Max fees",
            "0.002 ???",
            "Accept risk and sign transaction",
        ])
    );
}

#[tokio::test]
async fn eip2930_and_pre_eip155_transactions_sign() {
    let sim = sim().await;
    let mut t = connect(&sim).await;
    let signer = local("m/44'/60'/0'/0/0");

    let tx = TxEip2930 {
        chain_id: 31337,
        nonce: 1,
        gas_price: 1_000_000_000,
        gas_limit: 50_000,
        to: TxKind::Call(TARGET),
        value: U256::ZERO,
        access_list: Default::default(),
        input: calldata(10),
    };
    let (v, r, s_) = split_sig(
        &last_answer(sign_chunks(&mut t, &chunks(&stream(&PATH0, &encode(&tx)), 255)).await).unwrap(),
    );
    let expected = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
    assert_eq!((v == 1, r, s_), (expected.v(), B256::from(expected.r()), B256::from(expected.s())));

    // A genuine pre-EIP-155 transaction (six fields): v = 27 + parity.
    let tx = legacy(None, 0, calldata(10));
    let (v, r, s_) = split_sig(
        &last_answer(sign_chunks(&mut t, &chunks(&stream(&PATH0, &encode(&tx)), 255)).await).unwrap(),
    );
    let expected = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
    assert_eq!(v, 27 + u8::from(expected.v()));
    assert_eq!((r, s_), (B256::from(expected.r()), B256::from(expected.s())));
}

#[tokio::test]
async fn legacy_v_is_truncated_to_one_byte() {
    let sim = sim().await;
    let mut t = connect(&sim).await;
    let signer = local("m/44'/60'/0'/0/0");
    let base = (31337u32 * 2 + 35) as u8; // 62709 = 0xF4F5 -> 0xF5
    assert_eq!(base, 0xF5);
    let mut parities = Vec::new();
    for nonce in 0..8 {
        let tx = legacy(Some(31337), nonce, calldata(100));
        let stream = stream(&PATH0, &encode(&tx));
        let data_end = stream.len() - eip155_tail_len(31337);
        let (v, r, s_) =
            split_sig(&last_answer(sign_chunks(&mut t, &chunks_avoiding(&stream, data_end)).await).unwrap());
        let expected = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
        assert_eq!(v, base + u8::from(expected.v()), "nonce {nonce}");
        // chain_id*2+35 is odd, so the parity is 1 - (v & 1).
        let parity = 1 - (v & 1);
        assert_eq!(parity == 1, expected.v());
        assert_eq!((r, s_), (B256::from(expected.r()), B256::from(expected.s())));
        assert_eq!(recover(r, s_, parity == 1, tx.signature_hash()), signer.address());
        parities.push(parity);
    }
    assert!(parities.contains(&0) && parities.contains(&1), "both parities exercised: {parities:?}");

    // Mainnet: v is 37 or 38.
    let tx = legacy(Some(1), 3, calldata(0));
    let answer = last_answer(sign_chunks(&mut t, &[stream(&PATH0, &encode(&tx))]).await).unwrap();
    assert!(answer[0] == 37 || answer[0] == 38);
}

/// Find calldata so that naive 255-byte chunking of a legacy transaction ends a chunk exactly
/// after the data field (the last chunk holds only the EIP-155 tail).
fn legacy_split_after_data(chain_id: u64) -> (TxLegacy, Vec<u8>) {
    let tail = eip155_tail_len(chain_id);
    for len in 250..2000 {
        let tx = legacy(Some(chain_id), 5, calldata(len));
        let stream = stream(&PATH0, &encode(&tx));
        if stream.len() % 255 == tail {
            return (tx, stream);
        }
    }
    unreachable!("some calldata length puts the boundary after the data field")
}

#[tokio::test]
async fn quirk_chain_id_zero_when_the_last_chunk_is_the_3_byte_tail() {
    let sim = sim().await;
    let mut t = connect(&sim).await;
    let signer = local("m/44'/60'/0'/0/0");
    let (tx, stream) = legacy_split_after_data(1);
    let tail = eip155_tail_len(1);
    assert_eq!(tail, 3);

    // A client chunking naively at 255 bytes: the device answers v r s one chunk early.
    let bad = chunks(&stream, 255);
    assert_eq!(bad.last().unwrap().len(), 3);
    let answers = sign_chunks(&mut t, &bad).await;
    let n = answers.len();
    for a in &answers[..n - 2] {
        assert_eq!(a, &Ok(Vec::new()));
    }
    let early = answers[n - 2].clone().expect("signed early, on the chunk ending after data");
    assert_eq!(answers[n - 1], Err(0x6985), "the tail arrives after the flow ended");
    let (v, r, s_) = split_sig(&early);
    assert!(v == 27 || v == 28, "chain id 0: v = 27 + parity, got {v}");
    let eip155 = tx.signature_hash();
    let proper = signer.sign_hash_sync(&eip155).unwrap();
    assert_ne!((r, s_), (B256::from(proper.r()), B256::from(proper.s())), "a wrong signature");
    assert_ne!(recover(r, s_, v == 28, eip155), signer.address());
    // What the app signed: keccak256 of the bytes it had streamed, up to the end of data.
    let payload = encode(&tx);
    let streamed = keccak256(&payload[..payload.len() - tail]);
    assert_eq!(recover(r, s_, v == 28, streamed), signer.address());
    let screens = sim.texts();
    let last = screens.last().unwrap();
    let net = last.iter().position(|x| x == "Network").expect("the review shows the network");
    assert_eq!(last[net + 1], "0");
    let hash = format!("{streamed:#x}");
    assert_eq!(last[last.len() - 4..last.len() - 1], s(&[&hash[..34], "Tx hash (2/2)", &hash[34..]])[..]);

    // The same transaction, chunked so that no chunk ends right after data: correct signature.
    let good = chunks_avoiding(&stream, stream.len() - tail);
    assert!(good.last().unwrap().len() > tail);
    let (v, r, s_) = split_sig(&last_answer(sign_chunks(&mut t, &good).await).unwrap());
    assert_eq!(v, 37 + u8::from(proper.v()));
    assert_eq!((r, s_), (B256::from(proper.r()), B256::from(proper.s())));
    assert_eq!(sim.texts().last().unwrap().iter().filter(|x| *x == "Network").count(), 0);
}

#[tokio::test]
async fn quirk_also_triggers_for_a_longer_tail() {
    // Chain 31337's tail is 5 bytes (0x82 7a69 80 80): avoiding "exactly 3 bytes" is not enough,
    // a chunk must not end right after the data field.
    let sim = sim().await;
    let mut t = connect(&sim).await;
    let signer = local("m/44'/60'/0'/0/0");
    let (tx, stream) = legacy_split_after_data(31337);
    let tail = eip155_tail_len(31337);
    assert_eq!(tail, 5);
    let answers = sign_chunks(&mut t, &chunks(&stream, 255)).await;
    let n = answers.len();
    let (v, r, s_) = split_sig(answers[n - 2].as_ref().unwrap());
    assert!(v == 27 || v == 28);
    assert_eq!(answers[n - 1], Err(0x6985));
    let payload = encode(&tx);
    assert_eq!(recover(r, s_, v == 28, keccak256(&payload[..payload.len() - tail])), signer.address());

    let good = chunks_avoiding(&stream, stream.len() - tail);
    let (v, r, s_) = split_sig(&last_answer(sign_chunks(&mut t, &good).await).unwrap());
    let parity = 1 - (v & 1);
    assert_eq!(recover(r, s_, parity == 1, tx.signature_hash()), signer.address());
}

#[tokio::test]
async fn large_calldata_signs_across_many_chunks() {
    let sim = sim().await;
    let mut t = connect(&sim).await;
    let signer = local("m/44'/60'/0'/0/0");

    let tx = eip1559(1, 42, calldata(1500), U256::ZERO);
    let chunks = chunks(&stream(&PATH0, &encode(&tx)), 255);
    assert!(chunks.len() >= 6);
    let (v, r, s_) = split_sig(&last_answer(sign_chunks(&mut t, &chunks).await).unwrap());
    let expected = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
    assert_eq!((v == 1, r, s_), (expected.v(), B256::from(expected.r()), B256::from(expected.s())));

    let tx = legacy(Some(1), 42, calldata(1200));
    let stream = stream(&PATH0, &encode(&tx));
    let chunks = chunks_avoiding(&stream, stream.len() - 3);
    let (v, r, s_) = split_sig(&last_answer(sign_chunks(&mut t, &chunks).await).unwrap());
    let expected = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
    assert_eq!((v, r, s_), (37 + u8::from(expected.v()), B256::from(expected.r()), B256::from(expected.s())));

    // Another account, to check the path is honoured.
    let path1 = [44 | H, 60 | H, 1 | H, 0, 0];
    let tx = eip1559(1, 0, calldata(600), U256::ZERO);
    let (v, r, s_) = split_sig(
        &last_answer(sign_chunks(&mut t, &chunks_avoiding(&stream_of(&path1, &tx), 0)).await).unwrap(),
    );
    assert_eq!(recover(r, s_, v == 1, tx.signature_hash()), local("m/44'/60'/1'/0/0").address());
}

fn stream_of(path: &[u32], tx: &TxEip1559) -> Vec<u8> {
    stream(path, &encode(tx))
}

#[tokio::test]
async fn blind_signing_off_refuses_calls_but_not_transfers() {
    let sim = sim().await;
    sim.set_blind_signing(false);
    let mut t = connect(&sim).await;
    let tx = eip1559(1, 0, calldata(400), U256::ZERO);
    let answers = sign_chunks(&mut t, &chunks(&stream(&PATH0, &encode(&tx)), 255)).await;
    assert_eq!(last_answer(answers), Err(0x6A80), "refused when the transaction completes");
    assert_eq!(sim.texts().last().unwrap(), &s(&["Blind signing must be enabled in settings"]));

    // A plain transfer needs no blind signing.
    let tx = eip1559(31337, 0, Bytes::new(), U256::from(2_000_000_000_000_000_000u128));
    let answer = last_answer(sign_chunks(&mut t, &[stream(&PATH0, &encode(&tx))]).await).unwrap();
    let (v, r, s_) = split_sig(&answer);
    assert_eq!(recover(r, s_, v == 1, tx.signature_hash()), sim.address_at("m/44'/60'/0'/0/0"));
    assert_eq!(
        sim.texts().last().unwrap(),
        &s(&[
            "Amount",
            "2 ???",
            "To",
            &TARGET.to_checksum(None),
            "Max fees",
            "0.002 ???",
            "Network",
            "31337",
            "Sign transaction",
        ])
    );

    sim.set_blind_signing(true);
    let tx = eip1559(1, 0, calldata(400), U256::ZERO);
    assert!(last_answer(sign_chunks(&mut t, &chunks(&stream(&PATH0, &encode(&tx)), 255)).await).is_ok());
}

#[tokio::test]
async fn faults_answer_their_status_words() {
    let sim = sim().await;
    let mut t = connect(&sim).await;
    let addr_req = path_bytes(&PATH0);
    let tx = eip1559(1, 0, calldata(300), U256::ZERO);
    let chunks = chunks(&stream(&PATH0, &encode(&tx)), 255);

    for (fault, status) in [(Fault::Locked, 0x5515), (Fault::WrongApp, 0x6E00), (Fault::Busy, 0x6901)] {
        sim.set_fault(fault);
        assert_eq!(send(&mut t, 0x02, 0, 0, &addr_req).await, Err(status), "{fault:?}");
        assert_eq!(send(&mut t, 0x06, 0, 0, &[]).await, Err(status), "{fault:?}");
        assert_eq!(sign_chunks(&mut t, &chunks[..1]).await, vec![Err(status)], "{fault:?}");
        assert_eq!(send(&mut t, 0x08, 0, 0, &[1, 2, 3]).await, Err(status), "{fault:?}");
    }

    sim.set_fault(Fault::RejectOnDevice);
    sim.clear_log();
    assert!(send(&mut t, 0x02, 0x00, 0, &addr_req).await.is_ok(), "a silent request needs no confirmation");
    assert_eq!(send(&mut t, 0x02, 0x01, 0, &addr_req).await, Err(0x6985));
    let answers = sign_chunks(&mut t, &chunks).await;
    assert_eq!(answers, vec![Ok(Vec::new()), Err(0x6985)], "rejected at the confirming chunk");
    let mut msg = path_bytes(&PATH0);
    msg.extend_from_slice(&5u32.to_be_bytes());
    msg.extend_from_slice(b"hello");
    assert_eq!(send(&mut t, 0x08, 0, 0, &msg).await, Err(0x6985));
    let mut typed = path_bytes(&PATH0);
    typed.extend_from_slice(&[0x11; 64]);
    assert_eq!(send(&mut t, 0x0C, 0, 0, &typed).await, Err(0x6985));
    assert_eq!(sim.texts().len(), 4, "the user saw each request before rejecting it");

    sim.set_fault(Fault::None);
    assert!(last_answer(sign_chunks(&mut t, &chunks).await).is_ok());
    let statuses: Vec<u16> = sim.apdus().iter().map(|a| a.status).collect();
    assert_eq!(statuses, vec![0x9000, 0x6985, 0x9000, 0x6985, 0x6985, 0x6985, 0x9000, 0x9000]);
}

#[tokio::test]
async fn protocol_errors() {
    let sim = sim().await;
    let mut t = connect(&sim).await;
    let tx = eip1559(1, 0, calldata(10), U256::ZERO);
    let p = encode(&tx);

    assert_eq!(send_cla(&mut t, 0xB0, 0x01, 0, 0, &[]).await, Err(0x6E00), "unknown CLA");
    assert_eq!(send(&mut t, 0xFF, 0, 0, &[]).await, Err(0x6D00), "unknown INS");
    assert_eq!(send(&mut t, 0x04, 0x80, 0, &p).await, Err(0x6985), "continuation without a first chunk");
    assert_eq!(send(&mut t, 0x04, 0x01, 0, &stream(&PATH0, &p)).await, Err(0x6B00));
    assert_eq!(send(&mut t, 0x04, 0x00, 0x01, &stream(&PATH0, &p)).await, Err(0x6B00));
    let mut blob = p.clone();
    blob[0] = 0x03;
    assert_eq!(send(&mut t, 0x04, 0, 0, &stream(&PATH0, &blob)).await, Err(0x6501), "type 3");
    assert_eq!(
        send(&mut t, 0x04, 0, 0, &stream(&PATH0, &[0x85, 1, 2, 3, 4, 5])).await,
        Err(0x6A80),
        "not a list"
    );
    assert_eq!(send(&mut t, 0x04, 0, 0, &path_bytes(&PATH0)).await, Err(0x6A80), "no payload");
    assert_eq!(send(&mut t, 0x04, 0, 0, &[11, 0, 0]).await, Err(0x6A80), "bad path");
    let mut extra = stream(&PATH0, &p);
    extra.push(0x00);
    assert_eq!(send(&mut t, 0x04, 0, 0, &extra).await, Err(0x6A80), "bytes after the transaction");
    // A chunk after completion: the flow is over.
    assert!(send(&mut t, 0x04, 0, 0, &stream(&PATH0, &p)).await.is_ok());
    assert_eq!(send(&mut t, 0x04, 0x80, 0, &[0xC0]).await, Err(0x6985));
    // Malformed field: a 21-byte recipient.
    let mut bad = legacy(Some(1), 0, Bytes::new());
    bad.to = TxKind::Create;
    let mut bad_payload = encode(&bad);
    let at = bad_payload.iter().position(|&b| b == 0x80).unwrap(); // first empty field: nonce
    bad_payload.splice(at..at + 1, [0x81, 0x00]);
    assert_eq!(send(&mut t, 0x04, 0, 0, &stream(&PATH0, &bad_payload)).await, Err(0x6A80), "leading zero");
    // An error ends the flow: a list where the recipient belongs, in a continuation chunk.
    let p = encode(&legacy(Some(1), 0, calldata(10)));
    let mut to_field = vec![0x94];
    to_field.extend_from_slice(TARGET.as_slice());
    let at = p.windows(21).position(|w| w == to_field.as_slice()).unwrap();
    assert_eq!(send(&mut t, 0x04, 0, 0, &stream(&PATH0, &p[..at])).await, Ok(Vec::new()));
    assert_eq!(send(&mut t, 0x04, 0x80, 0, &[0xC0]).await, Err(0x6A80), "a list is not an address...");
    assert_eq!(send(&mut t, 0x04, 0x80, 0, &p[at..]).await, Err(0x6985), "...and it aborted the flow");
    // The same split with the right bytes signs.
    assert_eq!(send(&mut t, 0x04, 0, 0, &stream(&PATH0, &p[..at])).await, Ok(Vec::new()));
    assert_eq!(send(&mut t, 0x04, 0x80, 0, &p[at..]).await.map(|a| a.len()), Ok(65));
    // EIP-712 with the wrong sizes or mode.
    let mut typed = path_bytes(&PATH0);
    typed.extend_from_slice(&[0x11; 63]);
    assert_eq!(send(&mut t, 0x0C, 0, 0, &typed).await, Err(0x6A80));
    assert_eq!(send(&mut t, 0x0C, 0, 1, &typed).await, Err(0x6B00));
    // A personal message longer than announced.
    let mut msg = path_bytes(&PATH0);
    msg.extend_from_slice(&2u32.to_be_bytes());
    msg.extend_from_slice(b"abc");
    assert_eq!(send(&mut t, 0x08, 0, 0, &msg).await, Err(0x6A80));
}

#[tokio::test]
async fn personal_message_signature_recovers() {
    let sim = sim().await;
    let mut t = connect(&sim).await;
    let signer = local("m/44'/60'/0'/0/0");
    let message: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
    let mut first = path_bytes(&PATH0);
    first.extend_from_slice(&(message.len() as u32).to_be_bytes());
    let room = 255 - first.len();
    first.extend_from_slice(&message[..room]);
    assert_eq!(send(&mut t, 0x08, 0x00, 0, &first).await, Ok(Vec::new()));
    let answer = send(&mut t, 0x08, 0x80, 0, &message[room..]).await.unwrap();
    let (v, r, s_) = split_sig(&answer);
    assert!(v == 27 || v == 28);
    let expected = signer.sign_message_sync(&message).unwrap();
    assert_eq!((v - 27 == 1, r, s_), (expected.v(), B256::from(expected.r()), B256::from(expected.s())));
    let sig = Signature::from_scalars_and_parity(r, s_, v == 28);
    assert_eq!(sig.recover_address_from_msg(&message).unwrap(), signer.address());
    assert!(sim.texts().last().unwrap()[2].starts_with("0x0001020304"));

    let mut short = path_bytes(&PATH0);
    short.extend_from_slice(&12u32.to_be_bytes());
    short.extend_from_slice(b"Hello, MIP91");
    let (v, r, s_) = split_sig(&send(&mut t, 0x08, 0x00, 0, &short).await.unwrap());
    let sig = Signature::from_scalars_and_parity(r, s_, v == 28);
    assert_eq!(sig.recover_address_from_msg(b"Hello, MIP91").unwrap(), signer.address());
    assert_eq!(
        sim.texts().last().unwrap(),
        &s(&["Review message", "Message", "Hello, MIP91", "Sign message"])
    );
}

#[tokio::test]
async fn eip712_hashed_signature_recovers() {
    let sim = sim().await;
    let mut t = connect(&sim).await;
    let signer = local("m/44'/60'/0'/0/0");
    let domain = keccak256(b"domain separator");
    let message = keccak256(b"struct hash");
    let mut data = path_bytes(&PATH0);
    data.extend_from_slice(domain.as_slice());
    data.extend_from_slice(message.as_slice());
    let (v, r, s_) = split_sig(&send(&mut t, 0x0C, 0x00, 0x00, &data).await.unwrap());
    let mut preimage = vec![0x19, 0x01];
    preimage.extend_from_slice(domain.as_slice());
    preimage.extend_from_slice(message.as_slice());
    let hash = keccak256(&preimage);
    let expected = signer.sign_hash_sync(&hash).unwrap();
    assert_eq!(v, 27 + u8::from(expected.v()));
    assert_eq!((r, s_), (B256::from(expected.r()), B256::from(expected.s())));
    assert_eq!(recover(r, s_, v == 28, hash), signer.address());
    assert_eq!(
        sim.texts().last().unwrap(),
        &s(&[
            "Review typed message",
            "Domain hash",
            &format!("{domain:#x}"),
            "Message hash",
            &format!("{message:#x}"),
            "Sign typed message",
        ])
    );
}

#[tokio::test]
async fn disconnect_during_sign_then_a_new_connection_works() {
    let sim = sim().await;
    sim.set_fault(Fault::DisconnectDuringSign);
    let tx = eip1559(1, 0, calldata(300), U256::ZERO);
    let chunks = chunks(&stream(&PATH0, &encode(&tx)), 255);

    let mut t = connect(&sim).await;
    assert!(send(&mut t, 0x06, 0, 0, &[]).await.is_ok(), "other commands still work");
    let cmd = CommandBuilder::new().cla(0xE0).ins(0x04).p1(0).p2(0).data(&chunks[0]).build().unwrap();
    match t.exchange(cmd, Some(Duration::from_secs(5))).await {
        Err(LedgerError::Transport(_)) => {}
        other => panic!("expected the connection to drop, got {other:?}"),
    }
    let last = sim.apdus().last().cloned().unwrap();
    assert_eq!((last.ins, last.p1, last.status), (0x04, 0x00, 0), "received, not answered");
    drop(t);

    let mut t = connect(&sim).await;
    assert!(send(&mut t, 0x02, 0, 0, &path_bytes(&PATH0)).await.is_ok());
    sim.set_fault(Fault::None);
    let (v, r, s_) = split_sig(&last_answer(sign_chunks(&mut t, &chunks).await).unwrap());
    assert_eq!(recover(r, s_, v == 1, tx.signature_hash()), sim.address_at("m/44'/60'/0'/0/0"));
}

#[tokio::test]
async fn raw_framing_matches_speculos() {
    let sim = sim().await;
    let mut sock = TcpStream::connect(sim.addr()).await.unwrap();
    // GET APP CONFIGURATION with Lc = 0, as ledgerjs sends it.
    sock.write_all(&[0, 0, 0, 5, 0xE0, 0x06, 0x00, 0x00, 0x00]).await.unwrap();
    let mut answer = [0u8; 10];
    sock.read_exact(&mut answer).await.unwrap();
    assert_eq!(answer, [0, 0, 0, 4, 0x01, 1, 22, 0, 0x90, 0x00], "length counts the data only");
    // An error: no data, only the status word.
    sock.write_all(&[0, 0, 0, 4, 0xE0, 0x42, 0x00, 0x00]).await.unwrap();
    let mut answer = [0u8; 6];
    sock.read_exact(&mut answer).await.unwrap();
    assert_eq!(answer, [0, 0, 0, 0, 0x6D, 0x00]);
    drop(sock);

    // Sequential connections are served, and the log records every APDU in order.
    for _ in 0..3 {
        let mut t = connect(&sim).await;
        assert!(send(&mut t, 0x06, 0, 0, &[]).await.is_ok());
    }
    let log = sim.apdus();
    assert_eq!(log.len(), 5);
    assert_eq!((log[1].ins, log[1].status), (0x42, 0x6D00));
    assert!(
        log[2..].iter().all(|a| a.cla == 0xE0 && a.ins == 0x06 && a.data.is_empty() && a.status == 0x9000)
    );
    sim.clear_log();
    assert!(sim.apdus().is_empty() && sim.texts().is_empty());
}

/// The lines each screen draws (texts wrapped at 19 characters), and Debug contracts: the
/// selector and each parameter first, then the generic flow, even for an approve.
#[tokio::test]
async fn screens_line_by_line_and_debug_contracts() {
    let sim = sim().await;
    let mut t = connect(&sim).await;
    let spender = hex::decode("929D9A1435662357F54AdCF64DcEE4d6b867a6f9").unwrap();
    let mut approve = vec![0x09, 0x5e, 0xa7, 0xb3];
    approve.extend_from_slice(&[0; 12]);
    approve.extend_from_slice(&spender);
    approve.extend_from_slice(&U256::from(7u64).to_be_bytes::<32>());
    let tx = eip1559(31337, 0, approve.clone().into(), U256::ZERO);
    assert!(
        last_answer(sign_chunks(&mut t, &chunks_avoiding(&stream(&PATH0, &encode(&tx)), 0)).await).is_ok()
    );
    let shown = sim.screens().pop().unwrap();
    assert_eq!(shown[0], s(&["Blind signing ahead", "To accept risk,", "press both buttons"]));
    assert_eq!(shown[1], s(&["Review transaction", "to approve ERC20", "token"]));
    assert_eq!(shown[2], s(&["From", "0xf39Fd6e51aad88F6F", "4ce6aB8827279cffFb9", "2266"]));

    sim.set_debug_contracts(true);
    assert!(
        last_answer(sign_chunks(&mut t, &chunks_avoiding(&stream(&PATH0, &encode(&tx)), 0)).await).is_ok()
    );
    let texts = sim.texts().pop().unwrap();
    assert_eq!(
        texts[..10],
        s(&[
            "Verify selector",
            "Selector",
            "095EA7B3",
            "Confirm selector",
            "Verify parameter",
            "Parameter",
            "00:929D9A14:35662357F54ADCF6:4DCEE4D6B867A6F9",
            "Confirm parameter",
            "Verify parameter",
            "Parameter",
        ])[..]
    );
    assert_eq!(texts[10], "00:00:00:07");
    let hash = format!("{:#x}", tx.signature_hash());
    assert!(texts.contains(&"To".to_owned()) && texts.contains(&hash[34..].to_owned()), "{texts:?}");
}

/// The touch models sign the same APDUs with the same signatures, and draw the recorded pages:
/// the Stax with the fees beside From and To, the Flex and Apex P beside the Network; the
/// approve in three pages; blind signing off as the Stax words it.
#[tokio::test]
async fn touch_models_draw_their_pages_and_sign_alike() {
    let sim = sim().await;
    let mut t = connect(&sim).await;
    let tx = eip1559(31337, 0, calldata(300), U256::ZERO);
    let hash = format!("{:#x}", tx.signature_hash());
    let chunks = chunks(&stream(&PATH0, &encode(&tx)), 255);
    let nano = last_answer(sign_chunks(&mut t, &chunks).await).unwrap();
    let from = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
    let to = TARGET.to_checksum(None);
    for model in [SimModel::Stax, SimModel::Flex, SimModel::ApexP] {
        sim.set_model(model);
        assert_eq!(
            last_answer(sign_chunks(&mut t, &chunks).await).unwrap(),
            nano,
            "{model:?}: the same signature"
        );
        let pages = sim.screens().pop().unwrap();
        assert_eq!(pages.len(), 5, "{model:?}: the warning, then 4 pages");
        assert_eq!(pages[0][2..], s(&["Accept risk and continue", "Back to safety"]));
        assert_eq!(pages[1], s(&["Review transaction", "Blind signing required.", "Reject", "1 of 4"]));
        let (second, third) = if model == SimModel::Stax {
            (
                s(&["From", from, "To", &to, "Max fees", "0.002 ???", "Reject", "2 of 4"]),
                s(&["Network", "31337"]),
            )
        } else {
            (
                s(&["From", from, "To", &to, "Reject", "2 of 4"]),
                s(&["Max fees", "0.002 ???", "Network", "31337"]),
            )
        };
        assert_eq!(pages[2], second, "{model:?}");
        assert_eq!(pages[3][..third.len()], third[..], "{model:?}");
        assert_eq!(pages[3][third.len()..], s(&["Transaction hash", &hash, "Reject", "3 of 4"]), "{model:?}");
        assert_eq!(pages[4], s(&["Accept risk and sign transaction?", "Hold to sign", "Reject", "4 of 4"]));
    }

    let mut approve = vec![0x09, 0x5e, 0xa7, 0xb3];
    approve.extend_from_slice(&[0x11; 64]);
    let tx = eip1559(1, 0, approve.into(), U256::ZERO);
    assert!(
        last_answer(sign_chunks(&mut t, &chunks_avoiding(&stream(&PATH0, &encode(&tx)), 0)).await).is_ok()
    );
    let pages = sim.screens().pop().unwrap();
    assert_eq!(pages.len(), 4, "the warning, then 3 pages");
    assert_eq!(pages[2], s(&["From", from, "Max fees", "0.002 ETH", "Reject", "2 of 3"]));
    assert_eq!(
        pages[3][..2],
        s(&["Accept risk and sign transaction to approve ERC20 token?", "Hold to sign"])
    );

    sim.set_blind_signing(false);
    let tx = eip1559(1, 0, calldata(40), U256::ZERO);
    let refused = last_answer(sign_chunks(&mut t, &chunks_avoiding(&stream(&PATH0, &encode(&tx)), 0)).await);
    assert_eq!(refused, Err(0x6A80), "refused as on the Nanos");
    assert_eq!(
        sim.screens().pop().unwrap(),
        [s(&[
            "This transaction cannot be clear-signed",
            "Enable blind signing in the settings to sign this transaction.",
            "Go to settings",
            "Reject transaction",
        ])]
    );
}
