//! The Trezor signer end to end: the built binary with `--trezor --trezor-emulator` against the
//! Trezor simulator (one per test, on its own port) and a fresh devnet. Effects are asserted on
//! chain, signatures by their recovered signer or against a software key; every failure must say
//! what happened, exit non-zero and send nothing (the nonce stays).
//!
//! The simulator derives its keys from the standard test mnemonic: m/44'/60'/0'/0/N is anvil's
//! funded account N.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::consensus::{TxEip1559, TxLegacy, TypedTransaction};
use alloy::primitives::{Address, B256, Signature, TxKind, U256, keccak256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use common::cli::listed_screens;
use common::{Chain, activate, attack, mkr_balance, wad};
use defender::chain::addresses::keys;
use defender::chain::bindings::{DSChief, DSPause, DSToken, DssDefender, ESM};
use defender::signers::local::LocalKey;
use defender::signers::{Backend, SignerArgs};
use defender_sim::trezor::{Fault, Model, TrezorConfig, TrezorSim};

/// anvil's keys for accounts 0 and 1 (the standard mnemonic), to compare signatures with.
const KEY0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const PATH1: &str = "m/44'/60'/0'/0/1";

struct Bench {
    chain: Chain,
    book: std::path::PathBuf,
    sim: TrezorSim,
}

impl Bench {
    async fn start(config: TrezorConfig) -> Self {
        let chain = Chain::start().await;
        let sim = TrezorSim::start(config).await.unwrap();
        let book = chain.book_file();
        Self { chain, book, sim }
    }

    /// `defender ARGS` signing on the simulator, against the devnet.
    fn command(&self, args: &[&str]) -> Command {
        self.command_on(self.sim.addr(), args)
    }

    /// `defender ARGS` signing on the emulator at `emulator`, against the devnet.
    fn command_on(&self, emulator: SocketAddr, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_defender"));
        cmd.args(args)
            .args(["--rpc-url", self.chain.anvil.url(), "--addresses", self.book.to_str().unwrap()])
            .args(["--trezor", "--trezor-emulator", &emulator.to_string()])
            .env_remove("ETH_RPC_URL")
            .env_remove(defender::signers::trezor::TIMEOUT_ENV);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).stdin(Stdio::null()).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "defender {args:?} failed:\n{}", text(&out.stderr));
        text(&out.stdout)
    }

    async fn nonce(&self, who: Address) -> u64 {
        self.chain.provider.get_transaction_count(who).await.unwrap()
    }

    /// Runs `cmd`, which must fail saying `message` and send nothing from `who`; returns stderr.
    async fn refused(&self, mut cmd: Command, who: Address, message: &str) -> String {
        let before = self.nonce(who).await;
        let out = cmd.stdin(Stdio::null()).output().unwrap();
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "expected a failure, got success:\n{stderr}");
        assert!(stderr.contains(message), "expected {message:?} in:\n{stderr}");
        assert_eq!(self.nonce(who).await, before, "a transaction was sent:\n{stderr}");
        stderr
    }

    fn addr(&self, key: &str) -> Address {
        self.chain.addr(key)
    }

    fn deposits(&self, who: Address) -> impl std::future::Future<Output = U256> + '_ {
        self.chain.read(self.addr(keys::MCD_DEFENDER), DssDefender::depositsCall(who))
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn one_with_pin(pin: &str) -> TrezorConfig {
    TrezorConfig { pin: Some(pin.into()), ..TrezorConfig::for_model(Model::One) }
}

// ---------------------------------------------------------------------------------------------
// Every action through the Trezor

#[tokio::test]
async fn deposit_then_withdraw_after_the_lockup() {
    let b = Bench::start(TrezorConfig::default()).await;
    let alice = b.chain.holder(0);
    b.ok(&["deposit", "1000", "--yes"]);
    assert_eq!(b.deposits(alice).await, wad(1000));
    assert_eq!(mkr_balance(&b.chain, alice).await, wad(99_000));

    b.refused(b.command(&["withdraw", "all", "--yes"]), alice, "the lockup is not over").await;
    b.chain.warp(b.chain.params.lockup_duration.as_secs()).await;
    b.ok(&["withdraw", "all", "--yes"]);
    assert_eq!(b.deposits(alice).await, U256::ZERO);
    assert_eq!(mkr_balance(&b.chain, alice).await, wad(100_000));
}

#[tokio::test]
async fn a_plan_reads_features_and_the_address_once_and_signs_each_transaction_in_one_flow() {
    let b = Bench::start(TrezorConfig::default()).await;
    let alice = b.chain.holder(0);
    let out = b.ok(&["deposit", "250", "--yes", "--json"]);
    assert_eq!(b.deposits(alice).await, wad(250));
    assert_eq!(b.nonce(alice).await, 2, "approve, then deposit");

    let names: Vec<(bool, String)> = b.sim.messages().iter().map(|m| (m.from_host, m.name.clone())).collect();
    let sent = |name: &str| names.iter().filter(|(host, n)| *host && n == name).count();
    assert_eq!(sent("Initialize"), 1, "{names:?}");
    assert_eq!(sent("GetFeatures"), 0, "{names:?}");
    assert_eq!(sent("EthereumGetAddress"), 1, "{names:?}");
    assert_eq!(sent("EthereumSignTxEIP1559"), 2, "{names:?}");
    assert_eq!(sent("EthereumSignTx"), 0, "{names:?}");
    // Each transaction is one flow: the request, then only button confirmations, then the
    // signature (approve and deposit carry less than 1024 bytes: no data chunks).
    let host: Vec<&str> = names.iter().filter(|(h, _)| *h).map(|(_, n)| n.as_str()).collect();
    assert_eq!(host[..2], ["Initialize", "EthereumGetAddress"]);
    let flows: Vec<&[&str]> = host[2..].split(|n| *n == "EthereumSignTxEIP1559").skip(1).collect();
    assert_eq!(flows.len(), 2);
    for flow in flows {
        assert!(!flow.is_empty() && flow.iter().all(|n| *n == "ButtonAck"), "{flow:?}");
    }
    let answers = names.iter().filter(|(h, n)| !h && n == "EthereumTxRequest").count();
    assert_eq!(answers, 2, "one signature per transaction");

    // The preview said what the device then showed, screen by screen.
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let previewed = listed_screens(&report);
    let drawn = b.sim.screens();
    assert_eq!(drawn.len(), 3, "the address (nothing shown), then two transactions");
    assert!(drawn[0].is_empty());
    assert_eq!(previewed, drawn[1..], "preview and device disagree");
    let shown = b.sim.texts();
    assert!(shown[1][0].starts_with("Send message to 0x"), "{:?}", shown[1]);
    assert!(shown[1].iter().any(|s| s.starts_with("Transaction data: 095EA7B3")), "approve: {:?}", shown[1]);
    assert!(shown[2].last().unwrap().starts_with("Confirm fee Maximum fee "), "{:?}", shown[2]);
    assert!(shown[2].last().unwrap().ends_with(" UNKN"), "chain 31337 is unknown to the firmware");
}

#[tokio::test]
async fn cancel_vote_with_lock_and_lift() {
    let b = Bench::start(TrezorConfig::default()).await;
    let plan = attack(&b.chain).await;
    activate(&b.chain).await;
    // Account 0 cancels every queued plan.
    let out = b.ok(&["cancel", "--all", "--yes", "--json"]);
    assert!(!b.chain.read(b.addr(keys::MCD_PAUSE), DSPause::plansCall(plan.id())).await);
    // cancel's calldata (196 bytes) is more than the five pages the device shows: the preview
    // announced the warning the device then showed.
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed_screens(&report)[0], b.sim.screens()[1]);
    let shown = b.sim.texts();
    assert!(shown[1][5].ends_with("... 120/196 bytes"), "{:?}", shown[1]);
    assert_eq!(shown[1][6], "Warning! Too long data to view. Proceed with caution.");

    // Account 1 (its path given) votes with all its MKR, then lifts the default spell.
    let bob = b.chain.holder(1);
    let chief = b.addr(keys::MCD_ADM);
    let spell = b.chain.deployment.default_spell;
    let before = b.chain.read(chief, DSChief::approvalsCall(spell)).await;
    let mkr = mkr_balance(&b.chain, bob).await;
    b.ok(&["vote", "--lock", "all", "--yes", "--hd-path", PATH1]);
    assert_eq!(b.chain.read(chief, DSChief::approvalsCall(spell)).await, before + mkr);
    assert_eq!(b.chain.read(chief, DSChief::depositsCall(bob)).await, mkr);
    b.ok(&["lift", "--yes", "--hd-path", PATH1]);
    assert_eq!(b.chain.read(chief, DSChief::hatCall {}).await, spell);
}

#[tokio::test]
async fn esm_from_the_deposit_and_direct_from_the_wallet() {
    let b = Bench::start(TrezorConfig::for_model(Model::One)).await;
    let esm = b.addr(keys::MCD_ESM);
    b.ok(&["deposit", "1000", "--yes"]);
    b.ok(&["esm", "400", "--yes", "--burn"]);
    assert_eq!(b.chain.read(esm, ESM::SumCall {}).await, wad(400));
    assert_eq!(b.deposits(b.chain.holder(0)).await, wad(600));
    let bob = b.chain.holder(1);
    b.ok(&["esm", "250", "--direct", "--yes", "--burn", "--hd-path", PATH1]);
    assert_eq!(b.chain.read(esm, ESM::SumCall {}).await, wad(650));
    assert_eq!(mkr_balance(&b.chain, bob).await, wad(100_000 - 250));
}

#[tokio::test]
async fn accounts_shows_the_trezor_account() {
    let b = Bench::start(TrezorConfig::default()).await;
    let out = b.ok(&["accounts", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let account = &json["accounts"][0];
    assert_eq!(account["address"].as_str().unwrap().parse::<Address>().unwrap(), b.chain.holder(0));
    assert_eq!(account["balance"], wad(100_000).to_string());
    let out = b.ok(&["accounts", "--json", "--hd-path", PATH1]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        json["accounts"][0]["address"].as_str().unwrap().parse::<Address>().unwrap(),
        b.chain.holder(1)
    );

    // The library call `accounts --trezor` lists paths with: one connection, silent reads.
    b.sim.clear_log();
    let args = emulator_args(&b.sim);
    let paths: Vec<_> = (0..3).map(|i| format!("m/44'/60'/0'/0/{i}").parse().unwrap()).collect();
    let found = defender::signers::trezor::addresses(&args, &paths).await.unwrap();
    assert_eq!(found, [b.chain.holder(0), b.chain.holder(1), b.chain.holder(2)]);
    let host: Vec<String> = b.sim.messages().iter().filter(|m| m.from_host).map(|m| m.name.clone()).collect();
    assert_eq!(host, ["Initialize", "EthereumGetAddress", "EthereumGetAddress", "EthereumGetAddress"]);
    assert!(b.sim.screens().iter().all(|s| s.is_empty()), "nothing shown on the device");
}

#[tokio::test]
async fn verify_shows_the_address_on_the_device() {
    let b = Bench::start(TrezorConfig::default()).await;
    let out = b.command(&["accounts", "--verify"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let alice = b.chain.holder(0);
    let address = alice.to_checksum(None);
    assert_eq!(b.sim.screens()[0], [["Address:", &address[..21], &address[21..]].map(str::to_owned)]);
    assert!(text(&out.stderr).contains(&format!("the Trezor showed {alice}")), "{}", text(&out.stderr));
}

// ---------------------------------------------------------------------------------------------
// Signatures at the library level

fn emulator_args(sim: &TrezorSim) -> SignerArgs {
    SignerArgs { trezor: true, trezor_emulator: Some(sim.addr()), ..SignerArgs::default() }
}

fn local0() -> LocalKey {
    LocalKey(KEY0.parse::<PrivateKeySigner>().unwrap())
}

#[tokio::test]
async fn calldata_over_1024_bytes_and_legacy_v_sign_as_a_software_key() {
    let sim = TrezorSim::start(TrezorConfig::default()).await.unwrap();
    let signer = defender::signers::trezor::open(&emulator_args(&sim)).await.unwrap();
    let local = local0();
    assert_eq!(signer.address(), local.address());

    let data: Vec<u8> = (0..3000u32).map(|i| (i * 31 % 251) as u8).collect();
    let tx = TypedTransaction::Eip1559(TxEip1559 {
        chain_id: 31337,
        nonce: 3,
        gas_limit: 900_000,
        max_fee_per_gas: 3_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(Address::repeat_byte(0x42)),
        value: U256::from(123_456_789u64),
        access_list: Default::default(),
        input: data.into(),
    });
    // `Signer::sign` recovers the signer and compares it with the Trezor's address.
    let signature = signer.sign(&tx).await.unwrap();
    assert_eq!(signature, local.sign_transaction(&tx).await.unwrap(), "RFC 6979: same key, same signature");
    let chunks: Vec<usize> = sim
        .messages()
        .iter()
        .filter(|m| m.from_host && m.name == "EthereumTxAck")
        .map(|m| m.payload.len())
        .collect();
    assert_eq!(chunks.len(), 2, "3000 bytes: 1024 in the request, then two chunks (1024, 952)");

    // Legacy on anvil's chain: the device answers v = parity + 35 + 2 * 31337.
    let mut tx = tx;
    for chain_id in [31337u64, 1] {
        tx = TypedTransaction::Legacy(TxLegacy {
            chain_id: Some(chain_id),
            nonce: 9,
            gas_price: 2_000_000_000,
            gas_limit: 60_000,
            to: TxKind::Call(Address::repeat_byte(0x17)),
            value: U256::from(10u64).pow(U256::from(16)),
            input: vec![0xab; 1500].into(),
        });
        let signature = signer.sign(&tx).await.unwrap();
        assert_eq!(signature, local.sign_transaction(&tx).await.unwrap(), "chain {chain_id}");
    }
    // What the preview says the device shows, and what it showed, agree.
    let shown = sim.screens();
    assert_eq!(signer.screens(&tx).unwrap(), *shown.last().unwrap());
    assert_eq!(shown.last().unwrap()[0][..2], ["Send", "0.01 ETH"], "{:?}", shown.last());
}

#[tokio::test]
async fn messages_and_typed_hashes_where_the_firmware_allows_them() {
    let local = local0();
    let domain = keccak256(b"domain");
    let message = keccak256(b"message");
    let one = TrezorSim::start(TrezorConfig::for_model(Model::One)).await.unwrap();
    let signer = defender::signers::trezor::open(&emulator_args(&one)).await.unwrap();
    let signed: Signature = signer.sign_typed_hashes(domain, message).await.unwrap();
    assert_eq!(signed, local.sign_typed_hashes(domain, message).await.unwrap());
    assert_eq!(signer.typed_hash_screens(domain, message).unwrap(), one.screens().pop().unwrap());
    let signed = signer.sign_message(b"defender drill").await.unwrap();
    assert_eq!(signed, local.sign_message(b"defender drill").await.unwrap());
    assert_eq!(signer.message_screens(b"defender drill").unwrap(), one.screens().pop().unwrap());

    // A Model T has no EthereumSignTypedHash on real firmware: refused before anything is sent,
    // even though the simulator would answer it.
    let t = TrezorSim::start(TrezorConfig::default()).await.unwrap();
    let signer = defender::signers::trezor::open(&emulator_args(&t)).await.unwrap();
    let error = signer.sign_typed_hashes(domain, B256::ZERO).await.unwrap_err().to_string();
    assert!(error.contains("only the Trezor One has EthereumSignTypedHash"), "{error}");
    assert!(t.messages().iter().all(|m| m.name != "EthereumSignTypedHash"));
    let signed = signer.sign_message(b"defender drill").await.unwrap();
    assert_eq!(signed, local.sign_message(b"defender drill").await.unwrap());
}

// ---------------------------------------------------------------------------------------------
// Failures: a message, a non-zero exit, nothing sent

#[tokio::test]
async fn cancelled_on_the_device_sends_nothing() {
    let b = Bench::start(TrezorConfig::default()).await;
    b.sim.set_fault(Fault::CancelOnDevice);
    let alice = b.chain.holder(0);
    let stderr = b.refused(b.command(&["deposit", "10", "--yes"]), alice, "cancelled on the Trezor").await;
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    assert_eq!(b.deposits(alice).await, U256::ZERO);
}

#[tokio::test]
async fn a_device_that_goes_silent_mid_flow_times_out_and_sends_nothing() {
    let b = Bench::start(TrezorConfig::default()).await;
    b.sim.set_fault(Fault::Disconnect);
    let alice = b.chain.holder(0);
    let mut cmd = b.command(&["deposit", "10", "--yes"]);
    cmd.env(defender::signers::trezor::TIMEOUT_ENV, "2");
    let started = Instant::now();
    let stderr = b.refused(cmd, alice, "stopped answering while it waited for you").await;
    assert!(started.elapsed() < Duration::from_secs(30), "the deadline held: {:?}", started.elapsed());
    assert!(stderr.contains("no answer in 2 s"), "{stderr}");
    assert_eq!(b.deposits(alice).await, U256::ZERO);
}

#[tokio::test]
async fn ctrl_c_while_the_device_waits_stops_at_once_and_sends_nothing() {
    let b = Bench::start(TrezorConfig::default()).await;
    b.sim.set_fault(Fault::Disconnect);
    let alice = b.chain.holder(0);
    // The default deadline (minutes): only the interrupt can end this run soon.
    let mut child =
        b.command(&["deposit", "10", "--yes"]).stdin(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = Arc::new(Mutex::new(String::new()));
    let reader = {
        let stderr = stderr.clone();
        let mut pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                stderr.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stderr.lock().unwrap().contains("confirm on your Trezor: screen 1") {
        assert!(Instant::now() < deadline, "never reached the device:\n{}", stderr.lock().unwrap());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(child.try_wait().unwrap().is_none(), "still waiting for the device");
    let interrupted = Instant::now();
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) }, 0);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(interrupted.elapsed() < Duration::from_secs(5), "Ctrl-C did not stop defender");
        std::thread::sleep(Duration::from_millis(20));
    };
    reader.join().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGINT), "ended by the interrupt: {status:?}");
    assert_eq!(b.nonce(alice).await, 0, "nothing was sent");
    assert_eq!(b.deposits(alice).await, U256::ZERO);
}

#[tokio::test]
async fn refused_up_front_busy_safe7_old_firmware_bad_path_one_passphrase_on_device() {
    let b = Bench::start(TrezorConfig::default()).await;
    let alice = b.chain.holder(0);
    let cases: Vec<(TrezorConfig, Option<Fault>, Vec<&str>, &str)> = vec![
        (TrezorConfig::default(), Some(Fault::Busy), vec![], "is busy: another program is using it"),
        (TrezorConfig::for_model(Model::Safe7), None, vec![], "speaks only the THP protocol"),
        (
            TrezorConfig { firmware: (2, 4, 1), ..TrezorConfig::default() },
            None,
            vec![],
            "needs firmware 2.4.2 or newer",
        ),
        (
            TrezorConfig { firmware: (1, 10, 3), ..TrezorConfig::for_model(Model::One) },
            None,
            vec![],
            "needs firmware 1.10.4 or newer",
        ),
        (
            TrezorConfig::default(),
            None,
            vec!["--hd-path", "m/44'/0'/0'/0/0"],
            "refuses the derivation path m/44'/0'/0'/0/0",
        ),
        (
            TrezorConfig { passphrase_protection: true, ..TrezorConfig::for_model(Model::One) },
            None,
            vec!["--passphrase-on-device"],
            "cannot take a passphrase on the device",
        ),
    ];
    for (config, fault, extra, message) in cases {
        let sim = TrezorSim::start(config).await.unwrap();
        if let Some(fault) = fault {
            sim.set_fault(fault);
        }
        let mut cmd = b.command_on(sim.addr(), &["deposit", "10", "--yes"]);
        cmd.args(&extra);
        b.refused(cmd, alice, message).await;
        assert!(
            sim.messages().iter().all(|m| !m.name.starts_with("EthereumSignTx")),
            "{message}: nothing reached signing"
        );
    }
    // Nothing listens there.
    let gone = TrezorSim::start(TrezorConfig::default()).await.unwrap();
    let addr = gone.addr();
    drop(gone);
    b.refused(b.command_on(addr, &["deposit", "10", "--yes"]), alice, "no Trezor emulator answers at").await;
    assert_eq!(b.deposits(alice).await, U256::ZERO);
}

#[tokio::test]
async fn passphrase_on_the_device_of_a_model_t() {
    let config = TrezorConfig { passphrase_protection: true, ..TrezorConfig::default() };
    let b = Bench::start(config).await;
    // The simulated user types the empty passphrase on the touchscreen: the standard wallet.
    b.ok(&["deposit", "5", "--yes", "--passphrase-on-device"]);
    assert_eq!(b.deposits(b.chain.holder(0)).await, wad(5));
    let acks: Vec<_> = b.sim.messages().into_iter().filter(|m| m.name == "PassphraseAck").collect();
    assert_eq!(acks.len(), 1, "asked once per session");
    assert_eq!(acks[0].payload, [0x18, 0x01], "PassphraseAck{{on_device: true}} and no passphrase");
}

// ---------------------------------------------------------------------------------------------
// PIN and passphrase at a terminal: the binary runs in a pseudo-terminal (its controlling
// terminal, so that rpassword reads /dev/tty), and the test types as a user would.

struct Pty {
    child: Child,
    master: std::fs::File,
    output: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Pty {
    fn spawn(mut cmd: Command) -> Self {
        let (mut master, mut slave) = (0, 0);
        let ok = unsafe {
            libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null())
        };
        assert_eq!(ok, 0, "openpty: {}", std::io::Error::last_os_error());
        let master = unsafe { std::fs::File::from_raw_fd(master) };
        let slave = unsafe { OwnedFd::from_raw_fd(slave) };
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave.try_clone().unwrap()));
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        // Only the child may hold the slave: the master reads EOF (EIO) when it exits.
        drop(cmd);
        drop(slave);
        let output = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let output = output.clone();
            let mut master = master.try_clone().unwrap();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = master.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    output.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            })
        };
        Self { child, master, output, reader: Some(reader) }
    }

    fn output(&self) -> String {
        text(&self.output.lock().unwrap())
    }

    /// Waits until the output holds `needle` `count` times.
    fn wait_for(&self, needle: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.output().matches(needle).count() < count {
            assert!(Instant::now() < deadline, "no {needle:?} (#{count}) in:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types `line` once the terminal no longer echoes (rpassword has taken it over).
    fn type_hidden(&mut self, line: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut term: libc::termios = unsafe { std::mem::zeroed() };
            assert_eq!(unsafe { libc::tcgetattr(self.master.as_raw_fd(), &mut term) }, 0);
            if term.c_lflag & libc::ECHO == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "the prompt never turned echo off");
            std::thread::sleep(Duration::from_millis(10));
        }
        self.master.write_all(format!("{line}\n").as_bytes()).unwrap();
    }

    /// Waits for the exit; returns (success, everything printed).
    fn finish(mut self) -> (bool, String) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "defender did not exit:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(20));
        };
        self.reader.take().unwrap().join().unwrap();
        (status.success(), self.output())
    }
}

#[tokio::test]
async fn pin_at_the_terminal_unlocks_once_for_the_whole_plan() {
    let b = Bench::start(one_with_pin("2589")).await;
    let alice = b.chain.holder(0);
    let mut pty = Pty::spawn(b.command(&["deposit", "300", "--yes"]));
    pty.wait_for("PIN positions (not shown): ", 1);
    let screen = pty.output();
    assert!(screen.contains("    7 8 9\r\n    4 5 6\r\n    1 2 3"), "the grid:\n{screen}");
    // Not positions: said so, and asked again without using up a try.
    pty.type_hidden("2a0");
    pty.wait_for("PIN positions (not shown): ", 2);
    assert!(pty.output().contains("digits 1 to 9 only"), "{}", pty.output());
    let positions = b.sim.positions_for("2589");
    pty.type_hidden(&positions);
    let (ok, out) = pty.finish();
    assert!(ok, "{out}");
    assert!(!out.contains(&format!("(not shown): {positions}")), "the positions were echoed:\n{out}");
    assert_eq!(b.deposits(alice).await, wad(300));
    assert_eq!(b.nonce(alice).await, 2);
    let asked = b.sim.messages().iter().filter(|m| m.name == "PinMatrixRequest").count();
    assert_eq!(asked, 1, "one PIN for the address and both signatures");
    assert_eq!(b.sim.pin_tries_left(), 16, "the refused input used no try");
}

#[tokio::test]
async fn a_wrong_pin_is_refused_and_nothing_is_sent() {
    let b = Bench::start(one_with_pin("2589")).await;
    let alice = b.chain.holder(0);
    let mut pty = Pty::spawn(b.command(&["deposit", "300", "--yes"]));
    pty.wait_for("PIN positions (not shown): ", 1);
    let wrong = b.sim.positions_for("1111");
    pty.type_hidden(&wrong);
    let (ok, out) = pty.finish();
    assert!(!ok, "{out}");
    assert!(out.contains("wrong PIN: the Trezor One refused it"), "{out}");
    assert_eq!(b.nonce(alice).await, 0, "nothing was sent");
    assert_eq!(b.deposits(alice).await, U256::ZERO);
    assert_eq!(b.sim.pin_tries_left(), 15);
    assert!(!b.sim.is_unlocked());
}

#[tokio::test]
async fn a_passphrase_typed_at_the_terminal_opens_its_own_wallet() {
    let config = TrezorConfig { passphrase_protection: true, ..TrezorConfig::default() };
    let b = Bench::start(config).await;
    let secret = "correct horse";
    let hidden = b.sim.address_at("m/44'/60'/0'/0/0", Some(secret));
    assert_ne!(hidden, b.chain.holder(0));
    // Fund the hidden wallet: ETH for gas and 50 MKR.
    let holder = b.chain.holder(1);
    let fund = alloy::rpc::types::TransactionRequest::default()
        .from(holder)
        .to(hidden)
        .value(U256::from(10u64).pow(U256::from(18)));
    let pending = b.chain.provider.send_transaction(fund).await.unwrap();
    defender::devnet::deploy::wait_for_receipt(&b.chain.provider, *pending.tx_hash()).await.unwrap();
    b.chain.ok(holder, b.addr(keys::MCD_GOV), DSToken::transferCall { dst: hidden, wad: wad(50) }).await;

    let mut pty = Pty::spawn(b.command(&["deposit", "20", "--yes"]));
    // A typo in the confirmation: said so, and asked again.
    pty.wait_for("Trezor passphrase (not shown): ", 1);
    pty.type_hidden(secret);
    pty.wait_for("The same passphrase again: ", 1);
    pty.type_hidden("correct hose");
    pty.wait_for("Trezor passphrase (not shown): ", 2);
    assert!(pty.output().contains("the two passphrases differ"), "{}", pty.output());
    pty.type_hidden(secret);
    pty.wait_for("The same passphrase again: ", 2);
    pty.type_hidden(secret);
    let (ok, out) = pty.finish();
    assert!(ok, "{out}");
    assert!(!out.contains("horse") && !out.contains("hose"), "the passphrase was echoed:\n{out}");
    assert_eq!(b.deposits(hidden).await, wad(20));
    assert_eq!(b.deposits(b.chain.holder(0)).await, U256::ZERO);
}
