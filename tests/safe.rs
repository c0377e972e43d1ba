//! Actions from a Safe, on anvil with the genuine Safe 1.4.1 contracts: the devnet's 2-of-3
//! SAFE_DEMO (anvil's accounts 5, 6 and 7), its transactions built here, signed through the
//! bundle by owners in turn on a keystore, the Ledger simulator and the Trezor simulator, and
//! executed by an account that only pays. Every refusal is checked to leave the chain as it was.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::Provider;
use common::cli::{Cli, KEYS, SignWith, keystore, output, text};
use common::wad;
use defender::chain::addresses::keys;
use defender::chain::bindings::{DSChief, DssDefender, Safe};
use defender::chain::safe::{InnerCall, OwnerSignature, SafeTransaction, SignatureKind};
use defender::offline::bundle::Bundle;
use defender_sim::ledger::{LedgerConfig, LedgerSim};
use defender_sim::trezor::{Model, TrezorConfig, TrezorSim};

/// Who signs a bundle offline: anvil's account N as a key, a keystore, or on a simulator.
enum Owner {
    Key(usize),
    Keystore(usize),
    Ledger(usize, std::net::SocketAddr),
    Trezor(usize, std::net::SocketAddr),
}

struct Bench {
    cli: Cli,
    dir: PathBuf,
    safe: Address,
}

impl Bench {
    async fn start() -> Self {
        Self::on(Cli::start().await)
    }

    fn on(cli: Cli) -> Self {
        let dir = cli.book.parent().unwrap().join("safe");
        std::fs::create_dir_all(&dir).unwrap();
        let safe = cli.addr(keys::SAFE_DEMO);
        Self { cli, dir, safe }
    }

    fn path(&self, name: &str) -> PathBuf {
        let path = self.dir.join(name);
        let _ = std::fs::remove_file(&path);
        path
    }

    async fn account(&self, index: usize) -> Address {
        self.cli.chain.provider.get_accounts().await.unwrap()[index]
    }

    async fn nonce_of(&self, who: Address) -> u64 {
        self.cli.chain.provider.get_transaction_count(who).await.unwrap()
    }

    async fn safe_nonce(&self) -> U256 {
        self.cli.chain.read(self.safe, Safe::nonceCall {}).await
    }

    /// `defender ACTION --safe SAFE_DEMO --unsigned-out NAME`, online with no signer.
    fn build(&self, name: &str, args: &[&str]) -> PathBuf {
        let path = self.path(name);
        let safe = self.safe.to_string();
        let mut all = args.to_vec();
        all.extend(["--safe", &safe, "--unsigned-out", path.to_str().unwrap()]);
        let out = output(self.cli.command(&all));
        assert!(out.status.success(), "defender {all:?}:\n{}", text(&out.stderr));
        path
    }

    /// `defender sign FILE --out OUT --json` as `owner`, on a machine with no network.
    fn sign(&self, owner: &Owner, file: &Path, out: &Path) -> std::process::Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_defender"));
        cmd.args(["sign", file.to_str().unwrap(), "--out", out.to_str().unwrap(), "--yes", "--json"])
            .args(["--rpc-url", "http://127.0.0.1:9"])
            .env_remove("ETH_RPC_URL")
            .env_remove("DEFENDER_ADDRESSES")
            .stdin(Stdio::null());
        let path = |n: usize| format!("m/44'/60'/0'/0/{n}");
        match owner {
            Owner::Key(n) => {
                cmd.args(["--private-key-env", "OWNER_KEY"]).env("OWNER_KEY", KEYS[*n]);
            }
            Owner::Keystore(n) => {
                let file = keystore(&self.dir.join("keystores"), *n);
                let password = self.dir.join("keystores").join("password");
                cmd.args([
                    "--keystore",
                    file.to_str().unwrap(),
                    "--password-file",
                    password.to_str().unwrap(),
                ]);
            }
            Owner::Ledger(n, addr) => {
                cmd.args(["--ledger", "--speculos", &addr.to_string(), "--hd-path", &path(*n)]);
            }
            Owner::Trezor(n, addr) => {
                cmd.args(["--trezor", "--trezor-emulator", &addr.to_string(), "--hd-path", &path(*n)]);
            }
        }
        output(cmd)
    }

    fn sign_ok(&self, owner: &Owner, file: &Path, out: &Path) -> serde_json::Value {
        let result = self.sign(owner, file, out);
        assert!(result.status.success(), "sign: {}", text(&result.stderr));
        serde_json::from_slice(&result.stdout).expect("sign --json prints one JSON document")
    }

    /// `defender broadcast FILE` paid by anvil's account `payer`.
    fn broadcast(&self, payer: usize, file: &Path) -> std::process::Output {
        output(self.cli.signed(payer, &["broadcast", file.to_str().unwrap(), "--yes"]))
    }

    /// A broadcast that must be refused with `message`, sending nothing.
    async fn broadcast_refused(&self, file: &Path, message: &str) {
        let payer = self.account(0).await;
        let before = self.nonce_of(payer).await;
        let out = self.broadcast(0, file);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "broadcast of {} went through", file.display());
        assert!(stderr.contains(message), "expected {message:?} in:\n{stderr}");
        assert_eq!(self.nonce_of(payer).await, before, "a refused broadcast sent a transaction");
    }
}

fn read_bundle(path: &Path) -> Bundle {
    Bundle::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn edit(path: &Path, to: &Path, change: impl Fn(&mut serde_json::Value)) {
    let mut value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    change(&mut value);
    let _ = std::fs::remove_file(to);
    std::fs::write(to, serde_json::to_string_pretty(&value).unwrap()).unwrap();
}

/// Recomputes a Safe bundle's three hashes from its edited fields, as a careful forger would.
fn rehash(v: &mut serde_json::Value) {
    let tx: SafeTransaction = serde_json::from_value(v["safe"]["transaction"].clone()).unwrap();
    v["safe"]["domain_separator"] = tx.domain_separator().to_string().into();
    v["safe"]["message_hash"] = tx.message_hash().to_string().into();
    v["safe"]["safe_tx_hash"] = tx.safe_tx_hash().to_string().into();
}

/// A change made to a bundle's JSON by hand.
type Edit = Box<dyn Fn(&mut serde_json::Value)>;

/// What the sign report's preview listed for the owner's device.
fn listed(report: &serde_json::Value) -> Vec<Vec<String>> {
    serde_json::from_value(report["preview"]["signer"]["device_screens"].clone()).expect("device_screens")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_safe_tx_hash_is_the_safe_s_own_for_every_shape() {
    let b = Bench::start().await;
    let chain = &b.cli.chain;
    let call = |n: u8, value: u64, len: usize| InnerCall {
        to: Address::repeat_byte(n),
        value: U256::from(value),
        data: Bytes::from(vec![n; len]),
    };
    let shapes: Vec<Vec<InnerCall>> = vec![
        vec![call(1, 0, 0)],
        vec![call(2, 7, 36)],
        vec![call(3, 0, 4), call(4, 1, 68)],
        vec![call(5, 0, 100), call(6, 0, 0), call(7, 3, 1)],
    ];
    let domain = chain.read(b.safe, Safe::domainSeparatorCall {}).await;
    for (i, calls) in shapes.iter().enumerate() {
        for nonce in [0u64, 1, 1_000] {
            let tx = SafeTransaction::of_calls(b.safe, 31337, U256::from(nonce), calls);
            assert_eq!(tx.domain_separator(), domain, "the domain separator");
            let theirs = chain.read(b.safe, tx.get_transaction_hash_call()).await;
            assert_eq!(tx.safe_tx_hash(), theirs, "shape {i}, nonce {nonce}");
        }
    }
}

/// deposit, then vote --lock, from the 2-of-3 Safe: each built online into a bundle, signed
/// by two owners in turn on three kinds of signer, executed by an account that only pays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deposit_and_vote_from_the_safe_signed_by_owners_in_turn() {
    let ledger = LedgerSim::start(LedgerConfig::default()).await.unwrap();
    let trezor_t = TrezorSim::start(TrezorConfig::default()).await.unwrap();
    let trezor_one =
        TrezorSim::start(TrezorConfig { model: Model::One, ..TrezorConfig::default() }).await.unwrap();
    let b = Bench::start().await;
    let chain = &b.cli.chain;
    let defender = b.cli.addr(keys::MCD_DEFENDER);
    let chief = b.cli.addr(keys::MCD_ADM);

    // deposit: the Ledger (EIP-712 hashed mode) and a keystore.
    let unsigned = b.build("deposit.json", &["deposit", "1500"]);
    let built = read_bundle(&unsigned);
    let section = built.safe.as_ref().expect("a Safe bundle");
    assert_eq!(section.calls.len(), 2, "approve and deposit");
    assert_eq!(section.transaction.operation, 1, "several calls go through MultiSendCallOnly");
    assert_eq!(
        chain.read(b.safe, section.transaction.get_transaction_hash_call()).await,
        section.safe_tx_hash
    );
    let once = b.path("deposit.1.json");
    let report = b.sign_ok(&Owner::Ledger(5, ledger.addr()), &unsigned, &once);
    assert_eq!((report["signed"].as_u64(), report["threshold"].as_u64()), (Some(1), Some(2)));
    assert_eq!(ledger.screens().last().unwrap(), &listed(&report), "the Ledger showed what sign listed");
    let texts = ledger.texts().last().unwrap().join(" ");
    assert!(texts.contains(&format!("{:#x}", section.domain_separator)), "the domain hash: {texts}");
    assert!(texts.contains(&format!("{:#x}", section.message_hash)), "the message hash: {texts}");
    let sigs = &read_bundle(&once).safe.unwrap().signatures;
    assert_eq!((sigs[0].owner, sigs[0].kind), (b.account(5).await, SignatureKind::Eip712));

    b.broadcast_refused(&once, "1 of 2 signatures").await;
    let twice = b.path("deposit.2.json");
    b.sign_ok(&Owner::Keystore(6), &once, &twice);
    assert_eq!(b.safe_nonce().await, U256::ZERO, "signing sends nothing");
    let schema: serde_json::Value = serde_json::from_str(include_str!("../docs/bundle.schema.json")).unwrap();
    for file in [&unsigned, &once, &twice] {
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        common::schema::validate(&schema, &schema, &json, "$")
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
    let out = b.broadcast(0, &twice);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(chain.read(defender, DssDefender::depositsCall(b.safe)).await, wad(1500));
    assert_eq!(b.safe_nonce().await, U256::from(1));

    // vote --lock: a Trezor T (no EIP-712 by hashes: the eth_sign form) and a Trezor One.
    let spell = chain.deployment.default_spell;
    let unsigned = b.build("vote.json", &["vote", "--lock", "1000"]);
    assert_eq!(read_bundle(&unsigned).safe.unwrap().calls.len(), 3, "approve, lock, vote");
    let once = b.path("vote.1.json");
    let report = b.sign_ok(&Owner::Trezor(7, trezor_t.addr()), &unsigned, &once);
    let shown: Vec<Vec<String>> =
        trezor_t.screens().last().unwrap().iter().filter(|s| !s.is_empty()).cloned().collect();
    assert_eq!(shown, listed(&report), "the Trezor T showed what sign listed");
    let sigs = read_bundle(&once).safe.unwrap().signatures;
    assert_eq!(sigs[0].kind, SignatureKind::EthSign, "a Trezor T signs the hash as a message");
    let report = b.sign_ok(&Owner::Trezor(5, trezor_one.addr()), &once, &once);
    let shown: Vec<Vec<String>> =
        trezor_one.screens().last().unwrap().iter().filter(|s| !s.is_empty()).cloned().collect();
    assert_eq!(shown, listed(&report), "the Trezor One showed what sign listed");
    assert_eq!(read_bundle(&once).safe.unwrap().signatures[1].kind, SignatureKind::Eip712);
    let out = b.broadcast(1, &once);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(chain.read(chief, DSChief::depositsCall(b.safe)).await, wad(1000));
    assert_eq!(
        chain.read(chief, DSChief::approvalsCall(spell)).await,
        wad(2500),
        "deposit's 1,500 and 1,000"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_signature_stale_nonce_and_edit_is_refused_and_nothing_is_sent() {
    let b = Bench::start().await;
    let unsigned = b.build("deposit.json", &["deposit", "100"]);

    // A non-owner's key, and an owner signing twice: refused, the output not written.
    let out_file = b.path("nobody.json");
    let refused = b.sign(&Owner::Key(0), &unsigned, &out_file);
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("not an owner of this Safe"), "{}", text(&refused.stderr));
    assert!(!out_file.exists(), "nothing written for a non-owner");
    let once = b.path("once.json");
    b.sign_ok(&Owner::Key(5), &unsigned, &once);
    let refused = b.sign(&Owner::Key(5), &once, &once);
    assert_eq!(refused.status.code(), Some(3), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("has already signed"), "{}", text(&refused.stderr));
    assert_eq!(read_bundle(&once).safe.unwrap().signatures.len(), 1);

    // Signatures put into the file by hand: a non-owner's, a copy of an owner's, a forged one.
    let stranger = b.account(0).await;
    let tx = read_bundle(&unsigned).safe.unwrap().transaction;
    let key: alloy::signers::local::PrivateKeySigner = KEYS[0].parse().unwrap();
    let forged_by_stranger = {
        use alloy::signers::SignerSync;
        let signature = key.sign_hash_sync(&tx.safe_tx_hash()).unwrap();
        serde_json::to_value(OwnerSignature::new(stranger, SignatureKind::Eip712, &signature)).unwrap()
    };
    let edits: Vec<(&str, Edit, &str)> = vec![
        (
            "stranger.json",
            Box::new(move |v| {
                v["safe"]["signatures"].as_array_mut().unwrap().push(forged_by_stranger.clone())
            }),
            "is not an owner of the Safe",
        ),
        (
            "copy.json",
            Box::new(|v| {
                let first = v["safe"]["signatures"][0].clone();
                v["safe"]["signatures"].as_array_mut().unwrap().push(first);
            }),
            "signed twice",
        ),
        (
            "claimed.json",
            Box::new(|v| {
                v["safe"]["signatures"][0]["owner"] = "0x976EA74026E726554dB657fA54763abd0C3a0aa9".into()
            }),
            "was made by",
        ),
        (
            "amount.json",
            Box::new(|v| {
                let data = v["safe"]["calls"][1]["data"].as_str().unwrap().to_owned();
                v["safe"]["calls"][1]["data"] = format!("{}1", &data[..data.len() - 1]).into();
            }),
            "call 2 of 2 in the bundle is not what the Safe transaction's data makes",
        ),
        (
            "data.json",
            Box::new(|v| {
                let data = v["safe"]["transaction"]["data"].as_str().unwrap().to_owned();
                v["safe"]["transaction"]["data"] = format!("{}1", &data[..data.len() - 1]).into();
            }),
            "but its fields hash to",
        ),
        (
            "nonce.json",
            Box::new(|v| v["safe"]["transaction"]["nonce"] = "7".into()),
            "but its fields hash to",
        ),
        (
            "delegatecall.json",
            Box::new(|v| {
                v["safe"]["transaction"]["to"] = "0x1111111111111111111111111111111111111111".into();
                rehash(v);
            }),
            "a DELEGATECALL runs that code as the Safe",
        ),
        (
            "refund.json",
            Box::new(|v| {
                v["safe"]["transaction"]["gas_price"] = "1000000".into();
                v["safe"]["transaction"]["refund_receiver"] =
                    "0x1111111111111111111111111111111111111111".into();
                rehash(v);
            }),
            "pays a refund out of the Safe",
        ),
        (
            "short.json",
            Box::new(|v| {
                let sig = v["safe"]["signatures"][0]["signature"].as_str().unwrap().to_owned();
                v["safe"]["signatures"][0]["signature"] = sig[..sig.len() - 2].to_owned().into();
            }),
            "64 bytes, not 65",
        ),
        (
            "v37.json",
            Box::new(|v| {
                let sig = v["safe"]["signatures"][0]["signature"].as_str().unwrap().to_owned();
                v["safe"]["signatures"][0]["signature"] = format!("{}25", &sig[..sig.len() - 2]).into();
            }),
            "has v = 37",
        ),
    ];
    for (name, change, message) in &edits {
        let edited = b.path(name);
        edit(&once, &edited, change);
        let signed = b.path(&format!("signed-{name}"));
        let refused = b.sign(&Owner::Key(6), &edited, &signed);
        assert!(!refused.status.success(), "{name} was signed");
        assert!(
            text(&refused.stderr).contains(message),
            "{name}: expected {message:?} in {}",
            text(&refused.stderr)
        );
        assert!(!signed.exists(), "{name}: nothing written");
        b.broadcast_refused(&edited, message).await;
    }

    // A stranger written into the bundle's owners with its signature passes offline, where the
    // owners are the file's word, and is refused at broadcast, which reads them from the Safe.
    let stranger_key: alloy::signers::local::PrivateKeySigner = KEYS[0].parse().unwrap();
    let planted = b.path("planted.json");
    edit(&once, &planted, |v| {
        use alloy::signers::SignerSync;
        let hash: alloy::primitives::B256 = v["safe"]["safe_tx_hash"].as_str().unwrap().parse().unwrap();
        let signature = stranger_key.sign_hash_sync(&hash).unwrap();
        let owner = stranger_key.address();
        v["safe"]["owners"].as_array_mut().unwrap().push(owner.to_string().into());
        let entry =
            serde_json::to_value(OwnerSignature::new(owner, SignatureKind::Eip712, &signature)).unwrap();
        v["safe"]["signatures"].as_array_mut().unwrap().push(entry);
    });
    assert_eq!(
        b.sign(&Owner::Key(0), &planted, &planted).status.code(),
        Some(3),
        "the stranger cannot sign twice"
    );
    b.broadcast_refused(&planted, &format!("{stranger} signed, but is not an owner of the Safe")).await;

    // The Safe's nonce moves on (another transaction of the same nonce executes first). Its
    // owners signed copies side by side; `sign` merges them.
    let other = b.build("other.json", &["deposit", "200"]);
    let (copy_a, copy_b) = (b.path("other.a.json"), b.path("other.b.json"));
    b.sign_ok(&Owner::Key(6), &other, &copy_a);
    b.sign_ok(&Owner::Key(7), &other, &copy_b);
    let merged = b.sign_ok(&Owner::Key(6), &copy_a, &copy_b);
    assert_eq!(merged["signed"], 2, "{merged}");
    let other_signed = copy_b;
    b.sign_ok(&Owner::Key(7), &once, &once);
    let out = b.broadcast(0, &other_signed);
    assert!(out.status.success(), "{}", text(&out.stderr));
    b.broadcast_refused(&once, "the Safe's nonce is now 1, but this Safe transaction has nonce 0").await;
    assert_eq!(
        b.cli.chain.read(b.cli.addr(keys::MCD_DEFENDER), DssDefender::depositsCall(b.safe)).await,
        wad(200)
    );
}

/// Online: an owner brings the other owner's signature (`--signatures`) and executes at once;
/// without enough signatures, the action is refused before any device is asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_executes_at_once_with_the_others_signatures() {
    let b = Bench::start().await;
    let safe = b.safe.to_string();
    let owner = b.account(6).await;
    let refused = b
        .cli
        .refused(
            6,
            &["deposit", "300", "--safe", &safe, "--yes"],
            3,
            "this Safe needs 2 signatures and 1 of 2 signatures would be at hand",
        )
        .await;
    assert!(refused.contains("--unsigned-out"), "{refused}");

    let unsigned = b.build("deposit.json", &["deposit", "300"]);
    let signed = b.path("deposit.5.json");
    b.sign_ok(&Owner::Key(5), &unsigned, &signed);
    let before = b.nonce_of(owner).await;
    let out = b.cli.ok(
        6,
        &["deposit", "300", "--safe", &safe, "--signatures", signed.to_str().unwrap(), "--yes", "--json"],
    );
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["sent"], true);
    let signed_by: Address = report["preview"]["signed_by"][0].as_str().unwrap().parse().unwrap();
    assert_eq!(signed_by, b.account(5).await, "the other owner's signature came with --signatures");
    assert_eq!(b.nonce_of(owner).await, before + 1, "the owner paid for the execution");
    assert_eq!(
        b.cli.chain.read(b.cli.addr(keys::MCD_DEFENDER), DssDefender::depositsCall(b.safe)).await,
        wad(300)
    );

    // A Safe that does not exist, and signatures of another transaction.
    b.cli
        .refused(
            6,
            &["deposit", "1", "--safe", &owner.to_string(), "--yes"],
            2,
            "does not answer like a Safe",
        )
        .await;
    b.cli
        .refused(
            6,
            &["deposit", "1", "--safe", &safe, "--signatures", signed.to_str().unwrap(), "--yes"],
            3,
            "--signatures holds signatures of safeTxHash",
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_lists_the_safe_and_a_safe_action_prepares_in_two_http_requests() {
    let mut b = Bench::start().await;
    let safe = b.safe.to_string();
    let out = output(b.cli.command(&["accounts", "--safe", &safe]));
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(shown.contains("2 of 3 owners sign, nonce 0"), "{shown}");
    for n in [5, 6, 7] {
        assert!(shown.contains(&b.account(n).await.to_string()), "owner {n} listed: {shown}");
    }
    assert!(shown.contains("100,000"), "the Safe's MKR: {shown}");
    let out = output(b.cli.command(&["status", "--from", &safe]));
    let shown = text(&out.stdout) + &text(&out.stderr);
    assert!(shown.contains(&format!("you {safe}")), "status shows the Safe's position: {shown}");
    assert!(shown.contains("wallet         100,000 MKR"), "{shown}");

    let upstream = b.cli.chain.anvil.url().trim_start_matches("http://").parse().unwrap();
    let proxy = defender_sim::rpc_proxy::RpcProxy::start(upstream).await.unwrap();
    b.cli.rpc_url = proxy.url();
    for (name, args) in [("d.json", &["deposit", "10"][..]), ("v.json", &["vote", "--lock", "10"][..])] {
        let before = proxy.requests().len();
        b.build(name, args);
        let requests = &proxy.requests()[before..];
        eprintln!("{args:?} --safe --unsigned-out: {} HTTP requests {requests:?}", requests.len());
        assert_eq!(requests.len(), 2, "{args:?}: {requests:?}");
        assert!(
            requests[0].iter().filter(|m| *m == "eth_call").count() >= 5,
            "the Safe is read with the snapshot"
        );
    }
}

/// The Sky layout's demo Safe holds SKY and MKR: it converts MKR and votes for Protego.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sky_layout_s_safe_converts_and_votes() {
    let b = Bench::on(Cli::start_sky(SignWith::EnvKey).await);
    let chief = b.cli.addr(keys::MCD_ADM);
    for (name, args) in [
        ("convert.json", &["convert", "10"][..]),
        ("vote.json", &["vote", "--protego", "--lock", "1000"][..]),
    ] {
        let unsigned = b.build(name, args);
        let signed = b.path(&format!("signed-{name}"));
        b.sign_ok(&Owner::Key(6), &unsigned, &signed);
        b.sign_ok(&Owner::Key(7), &signed, &signed);
        let out = b.broadcast(2, &signed);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
    }
    let locked = b.cli.chain.read(chief, defender::chain::bindings::Chief::depositsCall(b.safe)).await;
    assert_eq!(locked, wad(1000));
}

/// A 1-of-1 Safe of the same genuine contracts: the owner's own signature meets the threshold,
/// so the action signs on the Ledger and executes at once, and the online preview listed the
/// device's EIP-712 screens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_of_one_safe_signs_on_the_ledger_and_executes_at_once() {
    use alloy::sol_types::SolCall;
    use defender::chain::bindings::SafeProxyFactory;
    let ledger = LedgerSim::start(LedgerConfig::default()).await.unwrap();
    let cli = Cli::start_signing_with(SignWith::Ledger(ledger.addr())).await;
    let chain = &cli.chain;
    let owner = chain.provider.get_accounts().await.unwrap()[5];
    let setup = Safe::setupCall {
        _owners: vec![owner],
        _threshold: U256::from(1),
        to: Address::ZERO,
        data: Bytes::new(),
        fallbackHandler: cli.addr(keys::SAFE_FALLBACK_HANDLER),
        paymentToken: Address::ZERO,
        payment: U256::ZERO,
        paymentReceiver: Address::ZERO,
    };
    let create = SafeProxyFactory::createProxyWithNonceCall {
        _singleton: cli.addr(keys::SAFE_SINGLETON),
        initializer: setup.abi_encode().into(),
        saltNonce: U256::from(1),
    };
    let receipt = chain.ok(owner, cli.addr(keys::SAFE_PROXY_FACTORY), create).await;
    let safe = common::events::<SafeProxyFactory::ProxyCreation>(&receipt)[0].proxy;
    chain.world.fund(safe, wad(500)).await.unwrap();

    let before = ledger.screens().len();
    let out = cli.ok(5, &["deposit", "500", "--safe", &safe.to_string(), "--yes", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["sent"], true);
    assert_eq!(report["preview"]["signer"]["kind"], "eip712");
    let shown = ledger.screens();
    assert_eq!(shown.len(), before + 2, "the safeTxHash, then the execution");
    assert_eq!(shown[before], listed(&report), "the Ledger showed the EIP-712 screens the preview listed");
    assert_eq!(chain.read(cli.addr(keys::MCD_DEFENDER), DssDefender::depositsCall(safe)).await, wad(500));

    // The execution fails after the Ledger signed the safeTxHash (the payer's signature is
    // rejected): the owner's signature is kept in a bundle, which broadcast then executes.
    let dir = cli.book.parent().unwrap().join("rescue");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    chain.world.fund(safe, wad(500)).await.unwrap();
    ledger.set_fault_after_signatures(0, defender_sim::ledger::Fault::RejectOnDevice);
    let mut command = cli.signed(5, &["deposit", "500", "--safe", &safe.to_string(), "--yes"]);
    command.current_dir(&dir);
    let out = output(command);
    assert!(!out.status.success());
    let said = text(&out.stderr);
    assert!(said.contains("your signature is kept with the others in defender-safe-"), "{said}");
    let kept: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(read_bundle(&kept[0]).safe.unwrap().signatures.len(), 1);
    ledger.set_fault(defender_sim::ledger::Fault::None);
    cli.ok(5, &["broadcast", kept[0].to_str().unwrap(), "--yes"]);
    assert_eq!(chain.read(cli.addr(keys::MCD_DEFENDER), DssDefender::depositsCall(safe)).await, wad(1000));
}

/// The account that executes a Safe transaction re-bids like any sender (`--max-fee-cap`):
/// here the base fee rose past its bid before the send, and the execution is re-bid at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_execution_of_a_safe_transaction_is_re_bid_under_the_cap() {
    use alloy::providers::ext::AnvilApi;
    let b = Bench::start().await;
    let unsigned = b.build("deposit.json", &["deposit", "300"]);
    let one = b.path("deposit.5.json");
    b.sign_ok(&Owner::Key(5), &unsigned, &one);
    let both = b.path("deposit.56.json");
    b.sign_ok(&Owner::Key(6), &one, &both);
    b.cli.chain.provider.anvil_set_next_block_base_fee_per_gas(5_000_000_000).await.unwrap();
    let args = ["broadcast", both.to_str().unwrap(), "--yes", "--json"];
    let fees = ["--max-fee", "1.5", "--priority-fee", "0.1", "--max-fee-cap", "100"];
    let out = output(b.cli.signed(0, &[&args[..], &fees[..]].concat()));
    let said = text(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("re-bid nonce"), "{said}");
    assert_eq!(
        b.cli.chain.read(b.cli.addr(keys::MCD_DEFENDER), DssDefender::depositsCall(b.safe)).await,
        wad(300)
    );
}
