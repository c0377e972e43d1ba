//! Tests of the Trezor simulator: over raw UDP framing written here (not the simulator's own), and
//! through the real `trezor-client` crate.

use std::net::UdpSocket;
use std::time::Duration;

use alloy::consensus::{SignableTransaction, TxEip1559, TxLegacy};
use alloy::primitives::{Address, B256, Signature, TxKind, U256, address, keccak256};
use alloy::signers::SignerSync;
use alloy::signers::local::coins_bip39::English;
use alloy::signers::local::{MnemonicBuilder, PrivateKeySigner};
use defender_sim::TEST_MNEMONIC;
use defender_sim::trezor::{Fault, Model, TrezorConfig, TrezorSim};
use protobuf::Message;
use trezor_client::TrezorMessage;
use trezor_client::protos::button_request::ButtonRequestType as Btn;
use trezor_client::protos::failure::FailureType as Fail;
use trezor_client::protos::{self, MessageType};

const H: u32 = 0x8000_0000;
const PATH0: [u32; 5] = [H | 44, H | 60, H, 0, 0];
const ANVIL0: Address = address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
const TARGET: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

/// A host speaking the emulator's v1 framing over UDP, written independently of the simulator.
struct Host {
    sock: UdpSocket,
}

impl Host {
    fn new(sim: &TrezorSim) -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.connect(sim.addr()).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Self { sock }
    }

    fn send_raw(&self, ty: u16, payload: &[u8]) {
        let mut data = b"##".to_vec();
        data.extend(ty.to_be_bytes());
        data.extend((payload.len() as u32).to_be_bytes());
        data.extend(payload);
        for chunk in data.chunks(63) {
            let mut packet = [0u8; 64];
            packet[0] = b'?';
            packet[1..=chunk.len()].copy_from_slice(chunk);
            self.sock.send(&packet).unwrap();
        }
    }

    fn send<M: TrezorMessage>(&self, m: &M) {
        self.send_raw(M::MESSAGE_TYPE as u16, &m.write_to_bytes().unwrap());
    }

    fn packet(&self) -> Option<Vec<u8>> {
        let mut buf = [0u8; 512];
        match self.sock.recv(&mut buf) {
            Ok(n) => Some(buf[..n].to_vec()),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                None
            }
            Err(e) => panic!("recv: {e}"),
        }
    }

    /// The next message, or None when nothing comes within the timeout.
    fn recv(&self) -> Option<(u16, Vec<u8>)> {
        let first = self.packet()?;
        assert_eq!(first.len(), 64, "packets are 64 bytes");
        assert_eq!(&first[..3], b"?##", "first packet magic");
        let ty = u16::from_be_bytes([first[3], first[4]]);
        let len = u32::from_be_bytes([first[5], first[6], first[7], first[8]]) as usize;
        let mut data = first[9..].to_vec();
        while data.len() < len {
            let next = self.packet().expect("continuation packet");
            assert_eq!(next.len(), 64);
            assert_eq!(next[0], b'?');
            data.extend_from_slice(&next[1..]);
        }
        data.truncate(len);
        Some((ty, data))
    }

    fn read<R: TrezorMessage>(&self) -> R {
        let (ty, payload) = self.recv().expect("an answer");
        if ty != R::MESSAGE_TYPE as u16 && ty == MessageType::MessageType_Failure as u16 {
            let f = protos::Failure::parse_from_bytes(&payload).unwrap();
            panic!("expected {:?}, got Failure {:?} {:?}", R::MESSAGE_TYPE, f.code(), f.message());
        }
        assert_eq!(ty, R::MESSAGE_TYPE as u16, "expected {:?}", R::MESSAGE_TYPE);
        R::parse_from_bytes(&payload).unwrap()
    }

    fn call<M: TrezorMessage, R: TrezorMessage>(&self, m: &M) -> R {
        self.send(m);
        self.read()
    }

    fn failure<M: TrezorMessage>(&self, m: &M) -> (Fail, String) {
        let f: protos::Failure = self.call(m);
        (f.code(), f.message().to_string())
    }

    fn ack_buttons<R: TrezorMessage>(&self, first: (u16, Vec<u8>)) -> (Vec<Btn>, R) {
        let mut codes = Vec::new();
        let mut msg = first;
        while msg.0 == MessageType::MessageType_ButtonRequest as u16 {
            codes.push(protos::ButtonRequest::parse_from_bytes(&msg.1).unwrap().code());
            self.send(&protos::ButtonAck::new());
            msg = self.recv().expect("answer to ButtonAck");
        }
        assert_eq!(msg.0, R::MESSAGE_TYPE as u16, "after {} button requests", codes.len());
        (codes, R::parse_from_bytes(&msg.1).unwrap())
    }

    fn initialize(&self) -> protos::Features {
        self.call(&protos::Initialize::new())
    }

    fn get_address(&self, path: &[u32]) -> (u16, Vec<u8>) {
        let mut m = protos::EthereumGetAddress::new();
        m.address_n = path.to_vec();
        self.send(&m);
        self.recv().expect("answer")
    }
}

fn signer(passphrase: Option<&str>) -> PrivateKeySigner {
    let mut b = MnemonicBuilder::<English>::default().phrase(TEST_MNEMONIC).index(0).unwrap();
    if let Some(p) = passphrase {
        b = b.password(p);
    }
    b.build().unwrap()
}

fn be(n: u128) -> Vec<u8> {
    let b = n.to_be_bytes();
    b[b.iter().take_while(|&&x| x == 0).count()..].to_vec()
}

fn calldata(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

fn eip1559_request(data: &[u8], chain_id: u64) -> protos::EthereumSignTxEIP1559 {
    let mut m = protos::EthereumSignTxEIP1559::new();
    m.address_n = PATH0.to_vec();
    m.set_nonce(be(7));
    m.set_max_gas_fee(be(2_000_000_000));
    m.set_max_priority_fee(be(1_000_000_000));
    m.set_gas_limit(be(100_000));
    m.set_to(TARGET.to_string());
    m.set_value(Vec::new());
    m.set_chain_id(chain_id);
    m.set_data_length(data.len() as u32);
    m.set_data_initial_chunk(data[..data.len().min(1024)].to_vec());
    m
}

fn eip1559_alloy(data: &[u8], chain_id: u64) -> TxEip1559 {
    TxEip1559 {
        chain_id,
        nonce: 7,
        gas_limit: 100_000,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(TARGET.parse().unwrap()),
        value: U256::ZERO,
        access_list: Default::default(),
        input: data.to_vec().into(),
    }
}

/// Sends the request, acks every button and answers every data request with the right chunk.
/// Returns the button codes, the chunk sizes requested and the final TxRequest.
fn sign_flow<M: TrezorMessage>(
    host: &Host,
    m: &M,
    data: &[u8],
) -> (Vec<Btn>, Vec<u32>, protos::EthereumTxRequest) {
    host.send(m);
    let first = host.recv().unwrap();
    let (codes, mut req): (_, protos::EthereumTxRequest) = host.ack_buttons(first);
    let mut sent = data.len().min(1024);
    let mut requested = Vec::new();
    while req.has_data_length() {
        let n = req.data_length() as usize;
        requested.push(req.data_length());
        let mut ack = protos::EthereumTxAck::new();
        ack.set_data_chunk(data[sent..sent + n].to_vec());
        sent += n;
        req = host.call(&ack);
    }
    assert_eq!(sent, data.len(), "all the calldata was asked for");
    (codes, requested, req)
}

fn signature_of(req: &protos::EthereumTxRequest, parity: bool) -> Signature {
    Signature::new(U256::from_be_slice(req.signature_r()), U256::from_be_slice(req.signature_s()), parity)
}

#[tokio::test]
async fn ping_pong_and_features() {
    let sim = TrezorSim::start(TrezorConfig::default()).await.unwrap();
    let host = Host::new(&sim);
    host.sock.send(b"PINGPING").unwrap();
    assert_eq!(host.packet().unwrap(), b"PONGPONG");

    let f = host.initialize();
    assert_eq!(f.vendor(), "trezor.io");
    assert_eq!((f.major_version(), f.minor_version(), f.patch_version()), (2, 8, 1));
    assert!(f.initialized());
    assert!(!f.pin_protection());
    assert!(!f.passphrase_protection());
    assert!(f.unlocked());
    assert_eq!(f.model(), "T");
    assert_eq!(f.label(), "defender-sim");
    assert_eq!(f.session_id().len(), 32);

    let one = TrezorSim::start(TrezorConfig { model: Model::One, ..Default::default() }).await.unwrap();
    let f = Host::new(&one).initialize();
    assert_eq!(f.model(), "1");
    assert_eq!((f.major_version(), f.minor_version(), f.patch_version()), (1, 12, 1));

    let mut ping = protos::Ping::new();
    ping.set_message("hello".into());
    let ok: protos::Success = host.call(&ping);
    assert_eq!(ok.message(), "hello");
    ping.set_button_protection(true);
    host.send(&ping);
    let first = host.recv().unwrap();
    let (codes, ok): (_, protos::Success) = host.ack_buttons(first);
    assert_eq!(codes, [Btn::ButtonRequest_ProtectCall]);
    assert_eq!(ok.message(), "hello");
}

#[tokio::test]
async fn address_for_the_default_path() {
    let sim = TrezorSim::start(TrezorConfig::default()).await.unwrap();
    let host = Host::new(&sim);
    host.initialize();
    let (ty, payload) = host.get_address(&PATH0);
    assert_eq!(ty, MessageType::MessageType_EthereumAddress as u16);
    let a = protos::EthereumAddress::parse_from_bytes(&payload).unwrap();
    assert_eq!(a.address(), "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
    assert_eq!(sim.address_at("m/44'/60'/0'/0/0", None), ANVIL0);

    // Shown on the device: one Address confirmation, recorded as a screen.
    let mut m = protos::EthereumGetAddress::new();
    m.address_n = PATH0.to_vec();
    m.set_show_display(true);
    host.send(&m);
    let first = host.recv().unwrap();
    let (codes, a): (_, protos::EthereumAddress) = host.ack_buttons(first);
    assert_eq!(codes, [Btn::ButtonRequest_Address]);
    assert_eq!(a.address(), ANVIL0.to_checksum(None));
    let screens = sim.screens();
    let address = ANVIL0.to_checksum(None);
    assert_eq!(
        screens.last().unwrap(),
        &vec![vec!["Address:".to_owned(), address[..21].into(), address[21..].into()]]
    );

    // A non-standard path is refused under Strict safety checks.
    let (ty, payload) = host.get_address(&[H | 44, H, H, 0, 0]);
    assert_eq!(ty, MessageType::MessageType_Failure as u16);
    let f = protos::Failure::parse_from_bytes(&payload).unwrap();
    assert_eq!((f.code(), f.message()), (Fail::Failure_DataError, "Forbidden key path"));
}

#[tokio::test]
async fn the_real_trezor_client_crate_talks_to_the_simulator() {
    let sim = TrezorSim::start(TrezorConfig::default()).await.unwrap();
    let addr = sim.addr().to_string();
    let handle = tokio::task::spawn_blocking(move || {
        let devices = trezor_client::transport::udp::UdpTransport::find_devices(false, Some(&addr)).unwrap();
        assert_eq!(devices.len(), 1, "PINGPING answered");
        assert_eq!(devices[0].model, trezor_client::Model::TrezorEmulator);
        let mut trezor = devices.into_iter().next().unwrap().connect().unwrap();
        trezor.init_device(None).unwrap();
        let features = trezor.features().unwrap().clone();
        assert_eq!(features.vendor(), "trezor.io");
        assert_eq!(features.model(), "T");

        let address = trezor.ethereum_get_address(PATH0.to_vec()).unwrap();
        assert_eq!(address, "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");

        let mut req = protos::EthereumGetAddress::new();
        req.address_n = PATH0.to_vec();
        let raw = trezor.call_raw(req).unwrap();
        assert_eq!(raw.message_type(), MessageType::MessageType_EthereumAddress);
        let a: protos::EthereumAddress = raw.into_message().unwrap();
        assert_eq!(a.address(), "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");

        // The crate's own EIP-1559 helper (it acks the buttons and feeds the chunks) signs; it
        // returns v = parity + 35 + 2 * chain_id although the device sent the parity: the trap the
        // client must normalise.
        let data = calldata(2500);
        let sig = trezor
            .ethereum_sign_eip1559_tx(
                PATH0.to_vec(),
                be(7),
                be(100_000),
                TARGET.to_string(),
                Vec::new(),
                data.clone(),
                Some(31337),
                be(2_000_000_000),
                be(1_000_000_000),
                Vec::new(),
            )
            .unwrap();
        assert!(sig.v == 2 * 31337 + 35 || sig.v == 2 * 31337 + 36, "crate's v: {}", sig.v);
        let parity = sig.v == 2 * 31337 + 36;
        let signature = Signature::new(U256::from_be_bytes(sig.r), U256::from_be_bytes(sig.s), parity);
        let hash = eip1559_alloy(&data, 31337).signature_hash();
        assert_eq!(signature.recover_address_from_prehash(&hash).unwrap(), ANVIL0);

        // Legacy through the crate: chain 1, v = parity + 37.
        let sig = trezor
            .ethereum_sign_tx(
                PATH0.to_vec(),
                be(0),
                be(20_000_000_000),
                be(21_000),
                TARGET.to_string(),
                be(10_000_000_000_000_000),
                Vec::new(),
                Some(1),
            )
            .unwrap();
        assert!(sig.v == 37 || sig.v == 38);
    });
    handle.await.unwrap();
}

#[tokio::test]
async fn eip1559_contract_call_with_2500_bytes_of_calldata() {
    let sim = TrezorSim::start(TrezorConfig::default()).await.unwrap();
    let host = Host::new(&sim);
    host.initialize();
    sim.clear_log();
    let data = calldata(2500);
    let (codes, requested, req) = sign_flow(&host, &eip1559_request(&data, 31337), &data);

    // Recipient (ConfirmOutput on a T), 5 data pages, the too-long warning, 3 fee screens.
    assert_eq!(codes.len(), 10, "{codes:?}");
    assert_eq!(codes[0], Btn::ButtonRequest_ConfirmOutput);
    assert!(codes[1..].iter().all(|c| *c == Btn::ButtonRequest_SignTx));
    // Three data chunks: the initial 1024 bytes, then 1024 and 452 asked for.
    assert_eq!(requested, [1024, 452]);
    assert!(!req.has_data_length());
    assert!(req.signature_v() <= 1, "EIP-1559 v is the parity: {}", req.signature_v());

    let hash = eip1559_alloy(&data, 31337).signature_hash();
    let sig = signature_of(&req, req.signature_v() == 1);
    assert_eq!(sig.recover_address_from_prehash(&hash).unwrap(), ANVIL0);
    let expected = signer(None).sign_hash_sync(&hash).unwrap();
    assert_eq!(sig, expected, "RFC 6979: the same signature as the software signer");

    let screens = sim.texts();
    let s = screens.last().unwrap();
    assert_eq!(s.len(), 10);
    assert_eq!(s[0], "Send message to 0x5FbDB2315678a fecb367f032d93F642 f64180aa3?");
    assert_eq!(
        s[1],
        "Transaction data: 030A11181F262D34 3B424950575E656C 737A81888F969DA4 ... 24/2500 bytes"
    );
    assert!(s[5].ends_with("... 120/2500 bytes"), "{}", s[5]);
    assert_eq!(s[6], "Warning! Too long data to view. Proceed with caution.");
    assert_eq!(s[7], "Confirm fee Maximum fee per gas 2 Gwei");
    assert_eq!(s[8], "Confirm fee Priority fee per gas 1 Gwei");
    assert_eq!(s[9], "Confirm fee Maximum fee 0.0002 UNKN");

    // Every message both ways, in order.
    let names: Vec<String> = sim.messages().iter().map(|m| m.name.clone()).collect();
    assert_eq!(names[0], "EthereumSignTxEIP1559");
    assert_eq!(names[1], "ButtonRequest");
    assert_eq!(names[2], "ButtonAck");
    assert_eq!(
        &names[names.len() - 5..],
        ["EthereumTxRequest", "EthereumTxAck", "EthereumTxRequest", "EthereumTxAck", "EthereumTxRequest"]
    );
    assert!(sim.messages()[0].from_host && !sim.messages()[1].from_host);
    assert_eq!(sim.messages()[0].message_type, 452);
}

#[tokio::test]
async fn trezor_one_shows_value_data_and_fees_in_eth_on_mainnet() {
    let sim = TrezorSim::start(TrezorConfig::for_model(Model::One)).await.unwrap();
    let host = Host::new(&sim);
    let data = calldata(36);
    let mut m = eip1559_request(&data, 1);
    m.set_value(be(10_000_000_000_000_000)); // 0.01 ETH
    let (codes, requested, req) = sign_flow(&host, &m, &data);
    assert!(requested.is_empty());
    assert_eq!(codes, [Btn::ButtonRequest_SignTx; 6]);
    let s = sim.texts().pop().unwrap();
    assert_eq!(
        s,
        [
            "Send 0.01 ETH to 0x5FbDB2315678a fecb367f032d93F642 f64180aa3?",
            "Transaction data: 030A11181F262D34 3B424950575E656C 737A81888F969DA4 ... 24/36 bytes",
            "Transaction data: ABB2B9C0C7CED5DC E3EAF1F8 36/36 bytes",
            "Confirm fee Maximum fee per gas 2 Gwei",
            "Confirm fee Priority fee per gas 1 Gwei",
            "Confirm fee Maximum fee 0.0002 ETH",
        ]
    );
    let mut tx = eip1559_alloy(&data, 1);
    tx.value = U256::from(10_000_000_000_000_000u64);
    let sig = signature_of(&req, req.signature_v() == 1);
    assert_eq!(sig, signer(None).sign_hash_sync(&tx.signature_hash()).unwrap());
}

/// The lines of each screen as the Trezor One draws them: the last data page keeps its empty
/// hex lines, the maximum fee is cut every 18 characters, and an ERC-20 `transfer` takes the
/// token layout (base units, the amount running off the screen) instead of the data pages.
#[tokio::test]
async fn trezor_one_screens_line_by_line() {
    let sim = TrezorSim::start(TrezorConfig::for_model(Model::One)).await.unwrap();
    let host = Host::new(&sim);
    let data = calldata(36);
    let mut m = eip1559_request(&data, 31337);
    m.set_gas_limit(be(1));
    m.set_max_gas_fee(be(366_936_551_588_608));
    sign_flow(&host, &m, &data);
    let s = sim.screens().pop().unwrap();
    assert_eq!(s[0], ["Send", "message", "to 0x5FbDB2315678a", "fecb367f032d93F642", "f64180aa3?"]);
    assert_eq!(s[2], ["Transaction data:", "ABB2B9C0C7CED5DC", "E3EAF1F8", "", "36/36 bytes"]);
    assert_eq!(s[5], ["Confirm fee", "Maximum fee", "0.0003669365515886", "08 UNKN"]);

    let recipient: alloy::primitives::Address = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8".parse().unwrap();
    let mut transfer = vec![0xa9, 0x05, 0x9c, 0xbb];
    transfer.extend_from_slice(&[0; 12]);
    transfer.extend_from_slice(recipient.as_slice());
    transfer.extend_from_slice(
        &(U256::from(1000u64) * U256::from(10u64).pow(U256::from(18))).to_be_bytes::<32>(),
    );
    let (codes, _, _) = sign_flow(&host, &eip1559_request(&transfer, 31337), &transfer);
    assert_eq!(codes.len(), 4, "the send screen and three fee screens, no data pages");
    let s = sim.screens().pop().unwrap();
    assert_eq!(
        s[0],
        ["Send", "1,000,000,000,000,000", "to 0x70997970C5181", "2dc3A010C7d01b50e0", "d17dc79C8?"]
    );
    assert_eq!(s[1][0], "Confirm fee");
}

#[tokio::test]
async fn legacy_v_for_chain_31337_and_for_very_large_chain_ids() {
    let sim = TrezorSim::start(TrezorConfig::default()).await.unwrap();
    let host = Host::new(&sim);
    let data = calldata(1500);
    for chain_id in [31337u64, 1, 3_000_000_000] {
        let mut m = protos::EthereumSignTx::new();
        m.address_n = PATH0.to_vec();
        m.set_nonce(Vec::new()); // an empty byte string is zero
        m.set_gas_price(be(3_000_000_000));
        m.set_gas_limit(be(500_000));
        m.set_to(TARGET.trim_start_matches("0x").to_string()); // 40 hex digits without 0x
        m.set_value(Vec::new());
        m.set_chain_id(chain_id);
        m.set_data_length(data.len() as u32);
        m.set_data_initial_chunk(data[..1024].to_vec());
        let (codes, requested, req) = sign_flow(&host, &m, &data);
        assert_eq!(requested, [476]);
        assert_eq!(codes.len(), 1 + 5 + 1 + 1);
        let tx = TxLegacy {
            chain_id: Some(chain_id),
            nonce: 0,
            gas_price: 3_000_000_000,
            gas_limit: 500_000,
            to: TxKind::Call(TARGET.parse().unwrap()),
            value: U256::ZERO,
            input: data.clone().into(),
        };
        let hash = tx.signature_hash();
        let expected = signer(None).sign_hash_sync(&hash).unwrap();
        let v = u64::from(req.signature_v());
        if chain_id > defender_sim::trezor::MAX_CHAIN_ID {
            assert_eq!(v, u64::from(expected.v()), "only the parity for chain {chain_id}");
        } else {
            assert_eq!(v, u64::from(expected.v()) + 2 * chain_id + 35, "chain {chain_id}");
        }
        assert_eq!(signature_of(&req, expected.v()), expected);
    }
    let s = sim.texts().remove(0);
    assert_eq!(s.last().unwrap(), "Really send message paying up to 0.0015 UNKN for gas?");
}

#[tokio::test]
async fn pin_right_and_wrong() {
    let cfg = TrezorConfig { pin: Some("1234".into()), ..TrezorConfig::for_model(Model::One) };
    let sim = TrezorSim::start(cfg).await.unwrap();
    let host = Host::new(&sim);
    let f = host.initialize();
    assert!(f.pin_protection());
    assert!(!f.unlocked());
    assert_eq!(sim.pin_tries_left(), 16);

    // The matrix the next request will show is known in advance.
    let first_matrix = sim.matrix();
    let (ty, payload) = host.get_address(&PATH0);
    assert_eq!(ty, MessageType::MessageType_PinMatrixRequest as u16);
    let r = protos::PinMatrixRequest::parse_from_bytes(&payload).unwrap();
    assert_eq!(r.type_(), protos::pin_matrix_request::PinMatrixRequestType::PinMatrixRequestType_Current);
    assert_eq!(sim.matrix(), first_matrix);
    let mut sorted = first_matrix;
    sorted.sort();
    assert_eq!(sorted, [1, 2, 3, 4, 5, 6, 7, 8, 9]);

    // Typing the digits themselves instead of positions is wrong (the matrix is scrambled).
    let positions = sim.positions_for("1234");
    assert_ne!(positions, "1234");
    let mut ack = protos::PinMatrixAck::new();
    ack.set_pin(sim.positions_for("1235"));
    assert_eq!(host.failure(&ack), (Fail::Failure_PinInvalid, "PIN invalid".to_string()));
    assert_eq!(sim.pin_tries_left(), 15);
    assert!(!host.initialize().unlocked());

    // A new request, a new matrix; the right positions unlock and the request continues.
    let (ty, _) = host.get_address(&PATH0);
    assert_eq!(ty, MessageType::MessageType_PinMatrixRequest as u16);
    assert_ne!(sim.matrix(), first_matrix, "re-scrambled for each request");
    ack.set_pin(sim.positions_for("1234"));
    let a: protos::EthereumAddress = host.call(&ack);
    assert_eq!(a.address(), ANVIL0.to_checksum(None));
    assert_eq!(sim.pin_tries_left(), 16);
    assert!(host.initialize().unlocked());
    let (ty, _) = host.get_address(&PATH0);
    assert_eq!(ty, MessageType::MessageType_EthereumAddress as u16, "no PIN once unlocked");

    // Cancel at the PIN prompt.
    let locked =
        TrezorSim::start(TrezorConfig { pin: Some("1".into()), ..Default::default() }).await.unwrap();
    let host = Host::new(&locked);
    let (ty, _) = host.get_address(&PATH0);
    assert_eq!(ty, MessageType::MessageType_PinMatrixRequest as u16);
    assert_eq!(host.failure(&protos::Cancel::new()).0, Fail::Failure_PinCancelled);
}

#[tokio::test]
async fn the_last_wrong_pin_wipes_the_device() {
    let cfg = TrezorConfig { pin: Some("42".into()), pin_tries: 2, ..Default::default() };
    let sim = TrezorSim::start(cfg).await.unwrap();
    let host = Host::new(&sim);
    for left in [1, 0] {
        host.get_address(&PATH0);
        let mut ack = protos::PinMatrixAck::new();
        ack.set_pin(sim.positions_for("24"));
        assert_eq!(host.failure(&ack).0, Fail::Failure_PinInvalid);
        assert_eq!(sim.pin_tries_left(), left);
    }
    assert!(!host.initialize().initialized());
    let (ty, payload) = host.get_address(&PATH0);
    assert_eq!(ty, MessageType::MessageType_Failure as u16);
    assert_eq!(protos::Failure::parse_from_bytes(&payload).unwrap().code(), Fail::Failure_NotInitialized);
}

#[tokio::test]
async fn passphrase_changes_the_wallet() {
    let cfg = TrezorConfig { passphrase_protection: true, ..Default::default() };
    let sim = TrezorSim::start(cfg).await.unwrap();
    let host = Host::new(&sim);
    let features = host.initialize();
    assert!(features.passphrase_protection());

    let (ty, _) = host.get_address(&PATH0);
    assert_eq!(ty, MessageType::MessageType_PassphraseRequest as u16);
    let mut ack = protos::PassphraseAck::new();
    ack.set_passphrase("hunter2".into());
    let a: protos::EthereumAddress = host.call(&ack);
    let hidden = sim.address_at("m/44'/60'/0'/0/0", Some("hunter2"));
    assert_ne!(hidden, ANVIL0);
    assert_eq!(a.address(), hidden.to_checksum(None));
    assert_eq!(hidden, signer(Some("hunter2")).address());

    // Cached for the session; Initialize with the session id keeps it; without, asks again.
    let (ty, _) = host.get_address(&PATH0);
    assert_eq!(ty, MessageType::MessageType_EthereumAddress as u16);
    let mut init = protos::Initialize::new();
    init.set_session_id(features.session_id().to_vec());
    let _: protos::Features = host.call(&init);
    let (ty, _) = host.get_address(&PATH0);
    assert_eq!(ty, MessageType::MessageType_EthereumAddress as u16);
    host.initialize();
    let (ty, _) = host.get_address(&PATH0);
    assert_eq!(ty, MessageType::MessageType_PassphraseRequest as u16);

    // On a T, entry on the device (the simulated user types the empty passphrase).
    let mut on_device = protos::PassphraseAck::new();
    on_device.set_on_device(true);
    let br: protos::ButtonRequest = host.call(&on_device);
    assert_eq!(br.code(), Btn::ButtonRequest_PassphraseEntry);
    let a: protos::EthereumAddress = host.call(&protos::ButtonAck::new());
    assert_eq!(a.address(), ANVIL0.to_checksum(None));

    // The One cannot enter a passphrase on the device.
    let one =
        TrezorSim::start(TrezorConfig { passphrase_protection: true, ..TrezorConfig::for_model(Model::One) })
            .await
            .unwrap();
    let host = Host::new(&one);
    host.get_address(&PATH0);
    let (code, message) = host.failure(&on_device);
    assert_eq!(code, Fail::Failure_DataError);
    assert!(message.contains("incapable of passphrase entry"), "{message}");
}

#[tokio::test]
async fn cancel_on_device_and_from_the_host() {
    for (model, text) in [(Model::T, "Cancelled"), (Model::One, "Action cancelled by user")] {
        let sim = TrezorSim::start(TrezorConfig::for_model(model)).await.unwrap();
        sim.set_fault(Fault::CancelOnDevice);
        let host = Host::new(&sim);
        let data = calldata(100);
        let br: protos::ButtonRequest = host.call(&eip1559_request(&data, 31337));
        assert_eq!(
            br.code(),
            if model == Model::T { Btn::ButtonRequest_ConfirmOutput } else { Btn::ButtonRequest_SignTx }
        );
        assert_eq!(
            host.failure(&protos::ButtonAck::new()),
            (Fail::Failure_ActionCancelled, text.to_string())
        );

        // The host's Cancel in the middle of the data phase.
        sim.set_fault(Fault::None);
        let data = calldata(2000);
        host.send(&eip1559_request(&data, 31337));
        let first = host.recv().unwrap();
        let (_, req): (_, protos::EthereumTxRequest) = host.ack_buttons(first);
        assert_eq!(req.data_length(), 976);
        assert_eq!(host.failure(&protos::Cancel::new()).0, Fail::Failure_ActionCancelled);
        let mut ack = protos::EthereumTxAck::new();
        ack.set_data_chunk(data[1024..].to_vec());
        assert_eq!(
            host.failure(&ack),
            (Fail::Failure_UnexpectedMessage, "Not in Ethereum signing mode".to_string())
        );
    }
}

#[tokio::test]
async fn disconnect_goes_silent_then_a_new_initialize_works() {
    let sim = TrezorSim::start(TrezorConfig::default()).await.unwrap();
    let host = Host::new(&sim);
    host.initialize();
    sim.set_fault(Fault::Disconnect);
    let data = calldata(10);
    let _: protos::ButtonRequest = host.call(&eip1559_request(&data, 31337));
    host.sock.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    host.send(&protos::ButtonAck::new());
    assert!(host.recv().is_none(), "silence after the first ButtonAck");
    host.send(&protos::ButtonAck::new());
    assert!(host.recv().is_none());
    let mut m = protos::EthereumGetAddress::new();
    m.address_n = PATH0.to_vec();
    host.send(&m);
    assert!(host.recv().is_none(), "still silent");
    host.sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();

    // Still running: a new flow starts with Initialize.
    let f = host.initialize();
    assert!(f.initialized());
    let (ty, _) = host.get_address(&PATH0);
    assert_eq!(ty, MessageType::MessageType_EthereumAddress as u16, "address flows are not affected");
    sim.set_fault(Fault::None);
    let (_, _, req) = sign_flow(&host, &eip1559_request(&data, 31337), &data);
    assert!(req.has_signature_r());
}

#[tokio::test]
async fn safe7_answers_v1_with_the_thp_failure() {
    let sim = TrezorSim::start(TrezorConfig::for_model(Model::Safe7)).await.unwrap();
    let host = Host::new(&sim);
    host.sock.send(b"PINGPING").unwrap();
    assert_eq!(host.packet().unwrap(), b"PONGPONG");

    host.send(&protos::Initialize::new());
    let packet = host.packet().unwrap();
    let mut expected = [0u8; 64];
    expected[..11].copy_from_slice(&[0x3f, 0x23, 0x23, 0x00, 0x03, 0x00, 0x00, 0x00, 0x14, 0x08, 0x11]);
    assert_eq!(packet, expected);

    // Through the crate: `init_device` fails to decode it; `call_raw` shows a Failure whose code
    // is Failure_InvalidProtocol.
    let addr = sim.addr().to_string();
    tokio::task::spawn_blocking(move || {
        let devices = trezor_client::transport::udp::UdpTransport::find_devices(false, Some(&addr)).unwrap();
        let mut trezor = devices.into_iter().next().unwrap().connect().unwrap();
        assert!(trezor.init_device(None).is_err());
        let raw = trezor.call_raw(protos::Initialize::new()).unwrap();
        assert_eq!(raw.message_type(), MessageType::MessageType_Failure);
        assert_eq!(&raw.payload()[..2], [0x08, Fail::Failure_InvalidProtocol as u8]);
        assert_eq!(raw.payload().len(), 20);
    })
    .await
    .unwrap();
    let names: Vec<_> = sim.messages().iter().map(|m| (m.from_host, m.name.clone())).collect();
    assert_eq!(names[..2], [(true, "Initialize".to_string()), (false, "Failure".to_string())]);
}

#[tokio::test]
async fn busy() {
    let sim = TrezorSim::start(TrezorConfig::default()).await.unwrap();
    sim.set_fault(Fault::Busy);
    let host = Host::new(&sim);
    assert_eq!(host.failure(&protos::Initialize::new()), (Fail::Failure_Busy, "Device busy".to_string()));
    sim.set_fault(Fault::None);
    host.initialize();
}

#[tokio::test]
async fn invalid_transactions_fail_as_the_firmware() {
    let sim = TrezorSim::start(TrezorConfig::default()).await.unwrap();
    let host = Host::new(&sim);
    let data = calldata(2000);
    let base = eip1559_request(&data, 31337);
    let with = |change: &dyn Fn(&mut protos::EthereumSignTxEIP1559)| {
        let mut m = base.clone();
        change(&mut m);
        m
    };
    let cases = [
        (with(&|m| m.set_to("0x1234".into())), "Invalid recipient address"),
        (with(&|m| m.set_to(format!("0x{}", "g".repeat(40)))), "Invalid address"),
        (with(&|m| m.set_chain_id(0)), "Chain ID out of bounds"),
        (with(&|m| m.set_data_length(10)), "Invalid size of initial chunk"),
        (with(&|m| m.set_data_initial_chunk(data[..1025].to_vec())), "Invalid size of initial chunk"),
        (with(&|m| m.set_data_initial_chunk(Vec::new())), "Data length provided, but no initial chunk"),
        (with(&|m| m.set_data_length(16_000_001)), "Data length exceeds limit"),
        (
            with(&|m| {
                m.set_to(String::new());
                m.set_data_length(0);
                m.set_data_initial_chunk(Vec::new());
            }),
            "Contract creation without data",
        ),
        (with(&|m| m.set_max_gas_fee(vec![1; 28])), "Fee overflow"),
    ];
    for (m, message) in cases {
        assert_eq!(host.failure(&m), (Fail::Failure_DataError, message.to_string()));
    }

    // A chunk longer than asked, then an empty one.
    let too_long = [&data[1024..], &[0u8][..]].concat();
    for (chunk, message) in [(too_long, "Too much data"), (Vec::new(), "Empty data chunk received")] {
        host.send(&base);
        let first = host.recv().unwrap();
        let (_, req): (_, protos::EthereumTxRequest) = host.ack_buttons(first);
        assert_eq!(req.data_length(), 976);
        let mut ack = protos::EthereumTxAck::new();
        ack.set_data_chunk(chunk);
        assert_eq!(host.failure(&ack), (Fail::Failure_DataError, message.to_string()));
    }

    // The One's texts.
    let one = TrezorSim::start(TrezorConfig::for_model(Model::One)).await.unwrap();
    let host = Host::new(&one);
    let mut m = base.clone();
    m.set_to("0x1234".into());
    assert_eq!(host.failure(&m), (Fail::Failure_DataError, "Safety check failed".to_string()));
}

#[tokio::test]
async fn messages_and_typed_hashes_are_signed() {
    for model in [Model::One, Model::T] {
        let sim = TrezorSim::start(TrezorConfig::for_model(model)).await.unwrap();
        let host = Host::new(&sim);
        let mut m = protos::EthereumSignMessage::new();
        m.address_n = PATH0.to_vec();
        m.set_message(b"hello defender".to_vec());
        host.send(&m);
        let first = host.recv().unwrap();
        let (codes, sig): (_, protos::EthereumMessageSignature) = host.ack_buttons(first);
        assert_eq!(codes, [Btn::ButtonRequest_Other, Btn::ButtonRequest_ProtectCall]);
        assert_eq!(sig.address(), ANVIL0.to_checksum(None));
        assert_eq!(sig.signature().len(), 65);
        assert!([27, 28].contains(&sig.signature()[64]));
        let expected = signer(None).sign_message_sync(b"hello defender").unwrap();
        assert_eq!(sig.signature(), expected.as_bytes());
        assert_eq!(sim.texts().last().unwrap()[1], "Sign message? hello defender");

        let domain = keccak256(b"domain");
        let message = keccak256(b"message");
        let mut t = protos::EthereumSignTypedHash::new();
        t.address_n = PATH0.to_vec();
        t.set_domain_separator_hash(domain.to_vec());
        t.set_message_hash(message.to_vec());
        host.send(&t);
        let first = host.recv().unwrap();
        let (codes, sig): (_, protos::EthereumTypedDataSignature) = host.ack_buttons(first);
        assert_eq!(codes.len(), 4);
        let digest: B256 = keccak256([&[0x19u8, 0x01][..], domain.as_slice(), message.as_slice()].concat());
        let expected = signer(None).sign_hash_sync(&digest).unwrap();
        assert_eq!(sig.signature(), expected.as_bytes());
        assert_eq!(sig.address(), ANVIL0.to_checksum(None));

        // Full EIP-712 struct signing is not there.
        let mut full = protos::EthereumSignTypedData::new();
        full.address_n = PATH0.to_vec();
        full.set_primary_type("Mail".into());
        assert_eq!(host.failure(&full).0, Fail::Failure_UnexpectedMessage);
    }
}
