//! Offline signing end to end through the built binary: an action builds an unsigned bundle
//! online (`--unsigned-out`), `sign` signs it with no network (its --rpc-url is a socket that
//! must never see a connection), `broadcast` checks it against the chain and sends it. Each
//! signer kind: a key in the environment, a keystore, the Ledger simulator over Speculos's port,
//! the Trezor simulator over the emulator's UDP. Effects are asserted on chain, signatures by
//! their recovered signer, and every refusal by its message, its exit code and an unchanged nonce.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use common::cli::{Cli, KEYS, keystore, listed_screens, output, text};
use common::schema::validate;
use common::{activate, attack, mkr_balance, wad};
use defender::chain::addresses::keys;
use defender::chain::bindings::overloads::approveAmountCall;
use defender::chain::bindings::{DSChief, DSPause, DssDefender, ESM};
use defender::offline::bundle::{Bundle, recover};
use defender_sim::ledger::{Fault, LedgerConfig, LedgerSim};
use defender_sim::trezor::{TrezorConfig, TrezorSim};

/// Who signs on the offline side.
#[derive(Clone)]
enum Signer {
    Env,
    Keystore(PathBuf),
    Ledger(SocketAddr),
    Trezor(SocketAddr),
}

/// An RPC address where nothing answers: a listener that is never served. Any connection
/// attempt sits in its backlog, where [`NoNetwork::assert_untouched`] finds it.
struct NoNetwork(TcpListener);

impl NoNetwork {
    fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Self(listener)
    }

    fn url(&self) -> String {
        format!("http://{}", self.0.local_addr().unwrap())
    }

    fn assert_untouched(&self) {
        match self.0.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Ok((_, peer)) => panic!("sign opened a connection to the RPC address (from {peer})"),
            Err(e) => panic!("{e}"),
        }
    }
}

struct Bench {
    cli: Cli,
    dir: PathBuf,
    offline: NoNetwork,
}

impl Bench {
    async fn start() -> Self {
        Self::with(Cli::start().await)
    }

    /// On a node answering chain id 1, as a device sees mainnet.
    async fn on_mainnet_id() -> Self {
        Self::with(Cli::start_on_chain(1, common::cli::SignWith::EnvKey).await)
    }

    fn with(cli: Cli) -> Self {
        let dir = cli.book.parent().unwrap().join("offline");
        std::fs::create_dir_all(&dir).unwrap();
        Self { cli, dir, offline: NoNetwork::new() }
    }

    fn path(&self, name: &str) -> PathBuf {
        let path = self.dir.join(name);
        let _ = std::fs::remove_file(&path);
        path
    }

    async fn account(&self, index: usize) -> Address {
        self.cli.chain.provider.get_accounts().await.unwrap()[index]
    }

    async fn nonce(&self, who: Address) -> u64 {
        self.cli.chain.provider.get_transaction_count(who).await.unwrap()
    }

    /// `defender ACTION --from ACCOUNT --unsigned-out NAME` online, with no signer.
    async fn build(&self, account: usize, name: &str, args: &[&str]) -> PathBuf {
        let path = self.path(name);
        let from = self.account(account).await.to_string();
        let mut all = args.to_vec();
        all.extend(["--from", &from, "--unsigned-out", path.to_str().unwrap()]);
        let out = output(self.cli.command(&all));
        assert!(out.status.success(), "defender {all:?}:\n{}", text(&out.stderr));
        assert!(path.is_file(), "no bundle written: {}", text(&out.stderr));
        path
    }

    /// `defender sign ...` as the offline machine: no --addresses, an RPC URL nobody serves.
    fn sign_command(&self, signer: &Signer, account: usize, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_defender"));
        cmd.arg("sign")
            .args(args)
            .args(["--rpc-url", &self.offline.url()])
            .env_remove("ETH_RPC_URL")
            .env_remove("ETH_FROM")
            .env_remove("DEFENDER_ADDRESSES")
            .stdin(Stdio::null());
        let path = format!("m/44'/60'/0'/0/{account}");
        match signer {
            Signer::Env => {
                cmd.args(["--private-key-env", "OFFLINE_KEY"]).env("OFFLINE_KEY", KEYS[account]);
            }
            Signer::Keystore(dir) => {
                let file = keystore(dir, account);
                let password = dir.join("password");
                cmd.args([
                    "--keystore",
                    file.to_str().unwrap(),
                    "--password-file",
                    password.to_str().unwrap(),
                ]);
            }
            Signer::Ledger(addr) => {
                cmd.args(["--ledger", "--speculos", &addr.to_string(), "--hd-path", &path]);
            }
            Signer::Trezor(addr) => {
                cmd.args(["--trezor", "--trezor-emulator", &addr.to_string(), "--hd-path", &path]);
            }
        }
        cmd
    }

    fn sign(&self, signer: &Signer, account: usize, args: &[&str]) -> Output {
        let out = output(self.sign_command(signer, account, args));
        self.offline.assert_untouched();
        out
    }

    /// Signs `bundle` into a new file and returns it, with sign's --json document.
    fn sign_ok(
        &self,
        signer: &Signer,
        account: usize,
        bundle: &Path,
        extra: &[&str],
    ) -> (PathBuf, serde_json::Value) {
        let name = format!("{}.signed.json", bundle.file_stem().unwrap().to_str().unwrap());
        let signed = self.path(&name);
        let mut args = vec![bundle.to_str().unwrap(), "--out", signed.to_str().unwrap(), "--yes", "--json"];
        args.extend(extra);
        let out = self.sign(signer, account, &args);
        assert!(out.status.success(), "sign {args:?}:\n{}", text(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (signed, report)
    }

    fn broadcast(&self, file: &Path) -> Output {
        output(self.cli.command(&["broadcast", file.to_str().unwrap()]))
    }

    fn broadcast_ok(&self, file: &Path) -> String {
        let out = self.broadcast(file);
        assert!(out.status.success(), "broadcast {}:\n{}", file.display(), text(&out.stderr));
        text(&out.stdout)
    }

    /// Runs `broadcast FILE`, which must fail with `code` and `message` and send nothing from `who`.
    async fn broadcast_refused(&self, file: &Path, who: Address, code: i32, message: &str) -> String {
        let before = self.nonce(who).await;
        let out = self.broadcast(file);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "broadcast {}: {stderr}", file.display());
        assert!(stderr.contains(message), "expected {message:?} in:\n{stderr}");
        assert!(stderr.contains("nothing was sent"), "the refusal must say nothing was sent:\n{stderr}");
        assert_eq!(self.nonce(who).await, before, "broadcast sent a transaction:\n{stderr}");
        stderr
    }

    fn load(&self, file: &Path) -> Bundle {
        Bundle::from_json(&std::fs::read_to_string(file).unwrap()).unwrap()
    }
}

/// The recovered signer of each signed transaction in `file`.
fn signers_of(bench: &Bench, file: &Path) -> Vec<Address> {
    bench.load(file).check().unwrap().iter().map(|t| recover(t.signed.as_ref().unwrap()).unwrap()).collect()
}

/// Every action: deposit, vote (approve + lock + vote), lift, cancel --all, esm --direct, esm
/// from the deposit and withdraw, each built online, signed offline by `signer` and broadcast;
/// `screens` compares the device's screens, line by line, with the preview's prediction after
/// every signing.
async fn round_trip(b: &Bench, signer: Signer, screens: Option<&dyn Fn() -> Vec<Vec<Vec<String>>>>) {
    let compared = std::cell::Cell::new(0);
    let same_screens = |report: &serde_json::Value, what: &str| {
        let Some(screens) = screens else { return };
        let shown = screens();
        let predicted = listed_screens(report);
        assert!(shown.len() >= predicted.len(), "{what}: the device showed {} requests", shown.len());
        assert_eq!(
            shown[shown.len() - predicted.len()..],
            predicted[..],
            "{what}: the preview said what the device showed"
        );
        compared.set(compared.get() + predicted.len());
    };
    let chain = &b.cli.chain;
    let defender_addr = b.cli.addr(keys::MCD_DEFENDER);
    let chief = b.cli.addr(keys::MCD_ADM);
    let alice = chain.holder(0);

    // deposit: approve, then deposit.
    let bundle = b.build(0, "deposit.json", &["deposit", "1500"]).await;
    assert_eq!(b.nonce(alice).await, 0, "building sends nothing");
    let (signed, report) = b.sign_ok(&signer, 0, &bundle, &[]);
    assert_eq!(report["signed"], 2);
    assert_eq!(signers_of(b, &signed), [alice, alice]);
    same_screens(&report, "deposit");
    assert_eq!(b.nonce(alice).await, 0, "signing sends nothing");
    b.broadcast_ok(&signed);
    assert_eq!(chain.read(defender_addr, DssDefender::depositsCall(alice)).await, wad(1500));
    assert_eq!(mkr_balance(chain, alice).await, wad(98_500));

    // vote with a lock: three transactions.
    let carol = chain.holder(2);
    let spell = chain.deployment.default_spell;
    let approvals = chain.read(chief, DSChief::approvalsCall(spell)).await;
    let bundle = b.build(2, "vote.json", &["vote", "--lock", "1000"]).await;
    let (signed, report) = b.sign_ok(&signer, 2, &bundle, &[]);
    same_screens(&report, "vote --lock");
    assert_eq!(report["signed"], 3);
    assert_eq!(signers_of(b, &signed), [carol; 3]);
    b.broadcast_ok(&signed);
    assert_eq!(chain.read(chief, DSChief::approvalsCall(spell)).await, approvals + wad(1000));
    assert_eq!(chain.read(chief, DSChief::depositsCall(carol)).await, wad(1000));

    // lift: the default spell leads the (empty) hat, anyone makes it the hat.
    let bundle = b.build(5, "lift.json", &["lift"]).await;
    let (signed, report) = b.sign_ok(&signer, 5, &bundle, &[]);
    same_screens(&report, "lift");
    b.broadcast_ok(&signed);
    assert_eq!(chain.read(chief, DSChief::hatCall {}).await, spell);

    // cancel: an attack is queued, the defender is activated, an outsider (no MKR) cancels.
    let plan = attack(chain).await;
    activate(chain).await;
    let pause = b.cli.addr(keys::MCD_PAUSE);
    assert!(chain.read(pause, DSPause::plansCall(plan.id())).await);
    let bundle = b.build(6, "cancel.json", &["cancel", "--all"]).await;
    let (signed, report) = b.sign_ok(&signer, 6, &bundle, &[]);
    same_screens(&report, "cancel");
    assert_eq!(signers_of(b, &signed), [b.account(6).await]);
    b.broadcast_ok(&signed);
    assert!(!chain.read(pause, DSPause::plansCall(plan.id())).await, "the attacker's plan is dropped");

    // esm from the wallet: irreversible, so sign refuses without --burn, then signs with it.
    let dave = chain.holder(3);
    let bundle = b.build(3, "esm.json", &["esm", "250", "--direct"]).await;
    let refused_out = b.path("esm.refused.json");
    let out =
        b.sign(&signer, 3, &[bundle.to_str().unwrap(), "--out", refused_out.to_str().unwrap(), "--yes"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--yes --burn"), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("IRREVERSIBLE"), "{}", text(&out.stderr));
    assert!(!refused_out.exists(), "nothing written when not confirmed");
    let (signed, report) = b.sign_ok(&signer, 3, &bundle, &["--burn"]);
    same_screens(&report, "esm --direct");
    assert_eq!(signers_of(b, &signed), [dave, dave]);
    b.broadcast_ok(&signed);
    assert_eq!(chain.read(b.cli.addr(keys::MCD_ESM), ESM::SumCall {}).await, wad(250));

    // esm from the defender deposit (moveToEsm), then withdraw the rest after the lockup.
    let deposit = chain.read(defender_addr, DssDefender::depositsCall(alice)).await;
    let bundle = b.build(0, "move.json", &["esm", "100"]).await;
    let (signed, report) = b.sign_ok(&signer, 0, &bundle, &["--burn"]);
    same_screens(&report, "esm");
    b.broadcast_ok(&signed);
    assert_eq!(chain.read(b.cli.addr(keys::MCD_ESM), ESM::SumCall {}).await, wad(350));
    chain.warp(chain.params.lockup_duration.as_secs()).await;
    let wallet = mkr_balance(chain, alice).await;
    let bundle = b.build(0, "withdraw.json", &["withdraw", "all"]).await;
    let (signed, report) = b.sign_ok(&signer, 0, &bundle, &[]);
    same_screens(&report, "withdraw");
    b.broadcast_ok(&signed);
    assert_eq!(chain.read(defender_addr, DssDefender::depositsCall(alice)).await, U256::ZERO);
    assert_eq!(mkr_balance(chain, alice).await, wallet + deposit - wad(100));
    if screens.is_some() {
        // deposit 2, vote 3, lift 1, cancel 1, esm --direct 2, esm 1, withdraw 1.
        assert_eq!(compared.get(), 11, "every signature's screens were compared");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_with_a_key_in_the_environment() {
    let b = Bench::start().await;
    round_trip(&b, Signer::Env, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_with_a_keystore() {
    let b = Bench::start().await;
    let dir = b.dir.join("keystores");
    round_trip(&b, Signer::Keystore(dir), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_with_the_ledger_simulator() {
    let sim = LedgerSim::start(LedgerConfig::default()).await.unwrap();
    let b = Bench::start().await;
    let screens = || sim.screens();
    round_trip(&b, Signer::Ledger(sim.addr()), Some(&screens)).await;
}

/// On chain 1 the devices name the currency ("ETH") and show no Network screen: the same
/// round trip, every screen compared, both devices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_on_chain_1_with_the_ledger_and_trezor_simulators() {
    let ledger = LedgerSim::start(LedgerConfig::default()).await.unwrap();
    let b = Bench::on_mainnet_id().await;
    let screens = || ledger.screens();
    round_trip(&b, Signer::Ledger(ledger.addr()), Some(&screens)).await;
    // Each request in one of the recorded flows of app 1.22 on chain 1 ("*": an address, an
    // amount or half a hash).
    const APPROVAL: [&str; 8] = [
        "Blind signing ahead",
        "To accept risk, press both buttons",
        "Review transaction to approve ERC20 token",
        "From",
        "*",
        "Max fees",
        "* ETH",
        "Accept risk and sign transaction",
    ];
    const GENERIC: [&str; 14] = [
        "Blind signing ahead",
        "To accept risk, press both buttons",
        "Review transaction",
        "From",
        "*",
        "To",
        "*",
        "Max fees",
        "* ETH",
        "Tx hash (1/2)",
        "*",
        "Tx hash (2/2)",
        "*",
        "Accept risk and sign transaction",
    ];
    let fits = |texts: &[String], flow: &[&str]| {
        texts.len() == flow.len()
            && texts.iter().zip(flow).all(|(t, f)| match f.strip_prefix('*') {
                Some(unit) => t.ends_with(unit),
                None => t == f,
            })
    };
    let requests = ledger.texts();
    assert_eq!(requests.len(), 11);
    let approvals = requests.iter().filter(|t| fits(t, &APPROVAL)).count();
    assert_eq!(approvals, 3, "deposit, vote --lock and esm --direct each approve first");
    assert!(requests.iter().all(|t| fits(t, &APPROVAL) || fits(t, &GENERIC)), "{requests:#?}");

    let trezor = TrezorSim::start(TrezorConfig::default()).await.unwrap();
    let b = Bench::on_mainnet_id().await;
    let screens = || trezor.screens().into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>();
    round_trip(&b, Signer::Trezor(trezor.addr()), Some(&screens)).await;
    // The recorded Trezor One layout: "Send" "message" and the recipient 15 / 18 / rest, data
    // pages five lines high, then the three fee screens in Gwei and ETH.
    for request in trezor.screens().into_iter().filter(|s| !s.is_empty()) {
        let send = &request[0];
        assert_eq!((send[0].as_str(), send[1].as_str()), ("Send", "message"), "{request:?}");
        assert!(send[2].starts_with("to 0x") && send[2].len() == 18 && send[3].len() == 18, "{send:?}");
        let fees = &request[request.len() - 3..];
        assert_eq!(fees[0][..2], ["Confirm fee", "Maximum fee per gas"]);
        assert!(fees[0][2].ends_with(" Gwei") && fees[1][2].ends_with(" Gwei"));
        assert_eq!(fees[2][..2], ["Confirm fee", "Maximum fee"]);
        assert!(fees[2][2..].concat().ends_with(" ETH"), "{:?}", fees[2]);
        let pages = &request[1..request.len() - 3];
        assert!(
            pages.iter().all(|p| p[0] == "Transaction data:" && p.len() == 5 || p[0].starts_with("Warning!"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_with_the_trezor_simulator() {
    let sim = TrezorSim::start(TrezorConfig::default()).await.unwrap();
    let b = Bench::start().await;
    let screens = || sim.screens().into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>();
    round_trip(&b, Signer::Trezor(sim.addr()), Some(&screens)).await;
}

// ---------------------------------------------------------------------------------------------
// Tampering: every edit refused, with its message, before anything is signed or sent

type Edit = Box<dyn Fn(&mut serde_json::Value)>;
type BundleEdit = Box<dyn Fn(&mut Bundle)>;

fn json_of(file: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

/// Writes `value` to a new file `name` in the bench's directory.
fn write_json(b: &Bench, name: &str, value: &serde_json::Value) -> PathBuf {
    let path = b.path(name);
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
    path
}

/// Replaces the last hex digit of a hex string field with another digit.
fn flip_last(v: &mut serde_json::Value) {
    let s = v.as_str().unwrap().to_owned();
    let last = if s.ends_with('0') { '1' } else { '0' };
    *v = serde_json::Value::String(format!("{}{last}", &s[..s.len() - 1]));
}

/// Field edits as someone who does not recompute the payload would make them; each with the
/// words the refusal must contain.
fn field_edits(other: Address) -> Vec<(&'static str, Edit, &'static str)> {
    fn tx(v: &mut serde_json::Value) -> &mut serde_json::Value {
        &mut v["transactions"][1]
    }
    vec![
        ("to", Box::new(move |v| tx(v)["to"] = other.to_string().into()), "where there is to"),
        ("data", Box::new(move |v| flip_last(&mut tx(v)["data"])), "where there is data"),
        ("value", Box::new(move |v| tx(v)["value"] = "1".into()), "where there is value 1 wei"),
        ("nonce", Box::new(move |v| tx(v)["nonce"] = 7.into()), "nonce 1 where there is nonce 7"),
        ("gas", Box::new(move |v| tx(v)["gas_limit"] = 21_000.into()), "where there is gas limit 21000"),
        (
            "max fee",
            Box::new(move |v| tx(v)["max_fee_per_gas"] = "99000000000".into()),
            "where there is max fee",
        ),
        (
            "priority fee",
            Box::new(move |v| tx(v)["max_priority_fee_per_gas"] = "2".into()),
            "where there is priority fee 2 wei",
        ),
        (
            "chain id",
            Box::new(move |v| tx(v)["chain_id"] = 1.into()),
            "is for chain 1, but the bundle says chain 31337",
        ),
        (
            "chain id everywhere",
            Box::new(move |v| {
                v["chain_id"] = 1.into();
                v["transactions"][0]["chain_id"] = 1.into();
                tx(v)["chain_id"] = 1.into();
            }),
            "chain id 31337 where there is chain id 1",
        ),
        (
            "reordered",
            Box::new(|v| {
                let txs = v["transactions"].as_array_mut().unwrap();
                txs.swap(0, 1);
            }),
            "were reordered",
        ),
        (
            "signing hash",
            Box::new(move |v| flip_last(&mut tx(v)["signing_hash"])),
            "is not the hash of its payload",
        ),
        (
            "payload",
            Box::new(move |v| flip_last(&mut tx(v)["unsigned"])),
            "the payload does not match the raw fields",
        ),
        (
            "version",
            Box::new(|v| v["version"] = 2.into()),
            "the bundle is version 2, this defender reads version 1",
        ),
        ("format", Box::new(|v| v["format"] = "something-else".into()), "not a defender bundle"),
        ("type", Box::new(move |v| tx(v)["type"] = 3.into()), "EIP-1559 (type 2) transactions only"),
        (
            "unknown field",
            Box::new(move |v| tx(v)["blob_versioned_hashes"] = serde_json::json!([])),
            "unknown field `blob_versioned_hashes`",
        ),
        ("hex fee", Box::new(move |v| tx(v)["max_fee_per_gas"] = "0x10".into()), "not a decimal amount"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_refuses_each_edited_or_damaged_bundle_and_writes_nothing() {
    let b = Bench::start().await;
    let alice = b.cli.chain.holder(0);
    let bundle = b.build(0, "deposit.json", &["deposit", "10"]).await;
    let original = json_of(&bundle);
    let out = b.path("never.json");
    let refused = |file: &Path, code: i32, message: &str| {
        let out_arg = out.to_str().unwrap();
        let result = b.sign(&Signer::Env, 0, &[file.to_str().unwrap(), "--out", out_arg, "--yes"]);
        let stderr = text(&result.stderr);
        assert_eq!(result.status.code(), Some(code), "{}: {stderr}", file.display());
        assert!(stderr.contains(message), "{}: expected {message:?} in:\n{stderr}", file.display());
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!out.exists(), "{}: an output was written", file.display());
    };
    for (what, edit, message) in field_edits(Address::repeat_byte(0x66)) {
        let mut edited = original.clone();
        edit(&mut edited);
        let file = write_json(&b, &format!("edited-{}.json", what.replace(' ', "-")), &edited);
        refused(&file, 2, message);
    }
    // from: not part of the payload, so the bundle is consistent, but the key is not from's.
    let mut edited = original.clone();
    for t in edited["transactions"].as_array_mut().unwrap() {
        t["from"] = b.cli.chain.holder(1).to_string().into();
    }
    let file = write_json(&b, "edited-from.json", &edited);
    refused(
        &file,
        1,
        &format!("is from {}, but the key in $OFFLINE_KEY signs as {alice}", b.cli.chain.holder(1)),
    );

    // Damaged files.
    let whole = std::fs::read(&bundle).unwrap();
    let truncated = b.path("truncated.json");
    std::fs::write(&truncated, &whole[..whole.len() * 2 / 3]).unwrap();
    refused(&truncated, 2, "truncated");
    let empty = b.path("empty.json");
    std::fs::write(&empty, "").unwrap();
    refused(&empty, 2, "empty");
    let binary = b.path("binary.json");
    std::fs::write(&binary, [0x7b, 0xff, 0x00, 0x9c]).unwrap();
    refused(&binary, 2, "not text");
    refused(&b.dir.join("missing.json"), 2, "does not exist");

    // The wrong chain named on the command line.
    let result = b.sign(
        &Signer::Env,
        0,
        &[bundle.to_str().unwrap(), "--out", out.to_str().unwrap(), "--yes", "--chain", "1"],
    );
    assert_eq!(result.status.code(), Some(3), "{}", text(&result.stderr));
    assert!(text(&result.stderr).contains("is for chain 31337, but --chain says 1"));

    // An output that exists and is something else is never overwritten.
    std::fs::write(&out, "precious").unwrap();
    let result =
        b.sign(&Signer::Env, 0, &[bundle.to_str().unwrap(), "--out", out.to_str().unwrap(), "--yes"]);
    assert_eq!(result.status.code(), Some(2), "{}", text(&result.stderr));
    assert!(text(&result.stderr).contains("never overwrites"), "{}", text(&result.stderr));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious");
    std::fs::remove_file(&out).unwrap();

    // The untouched bundle still signs, and nothing was ever sent.
    let (signed, _) = b.sign_ok(&Signer::Env, 0, &bundle, &[]);
    assert_eq!(signers_of(&b, &signed), [alice, alice]);
    assert_eq!(b.nonce(alice).await, 0);
}

/// Re-encodes the payload and hash of every transaction from its (edited) fields, as someone
/// who knows the format would, keeping the signatures.
fn recompute_payloads(file: &Path, edit: impl Fn(&mut Bundle)) -> Bundle {
    let mut bundle = Bundle::from_json(&std::fs::read_to_string(file).unwrap()).unwrap();
    edit(&mut bundle);
    for t in &mut bundle.transactions {
        let fresh = defender::offline::bundle::BundleTx::new(t.label.clone(), t.from, &t.rebuild());
        t.unsigned = fresh.unsigned;
        t.signing_hash = fresh.signing_hash;
    }
    bundle
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_refuses_each_edited_signed_bundle_and_sends_nothing() {
    let b = Bench::start().await;
    let chain = &b.cli.chain;
    let alice = chain.holder(0);
    let bundle = b.build(0, "deposit.json", &["deposit", "10"]).await;
    let (signed, _) = b.sign_ok(&Signer::Env, 0, &bundle, &[]);
    let original = json_of(&signed);

    // Plain edits: the fields no longer encode to the stored payload.
    for (what, edit, message) in field_edits(Address::repeat_byte(0x66)) {
        let mut edited = original.clone();
        edit(&mut edited);
        let file = write_json(&b, &format!("signed-{}.json", what.replace(' ', "-")), &edited);
        b.broadcast_refused(&file, alice, 2, message).await;
    }
    // Edits with the payload and hash recomputed: the signature still covers the old fields.
    let other = Address::repeat_byte(0x66);
    let consistent: Vec<(&str, BundleEdit, &str)> = vec![
        ("to", Box::new(move |b| b.transactions[1].to = other), "where there is to"),
        ("value", Box::new(|b| b.transactions[1].value = U256::from(5)), "where there is value 5 wei"),
        ("nonce", Box::new(|b| b.transactions[1].nonce = 2), "nonce 1 where there is nonce 2"),
        ("gas", Box::new(|b| b.transactions[1].gas_limit += 1), "where there is gas limit"),
        ("fees", Box::new(|b| b.transactions[1].max_fee_per_gas *= 2), "where there is max fee"),
        (
            "data",
            Box::new(|b| b.transactions[1].data = vec![0xb6, 0xb5, 0x5f, 0x25].into()),
            "where there is data",
        ),
        (
            "chain id",
            Box::new(|b| {
                b.chain_id = 1;
                b.transactions.iter_mut().for_each(|t| t.chain_id = 1);
            }),
            "where there is chain id 1",
        ),
    ];
    for (what, edit, message) in consistent {
        let edited = recompute_payloads(&signed, edit);
        let file = b.path(&format!("resigned-{what}.json"));
        std::fs::write(&file, edited.to_json()).unwrap();
        let stderr = b.broadcast_refused(&file, alice, 2, message).await;
        assert!(stderr.contains("the signed transaction does not match the raw fields"), "{what}: {stderr}");
    }
    // from edited: the signature recovers to alice, not to the named sender.
    let bob = chain.holder(1);
    let mut edited = original.clone();
    edited["transactions"][0]["from"] = bob.to_string().into();
    let file = write_json(&b, "signed-from.json", &edited);
    b.broadcast_refused(&file, alice, 2, &format!("is signed by {alice}, but its from is {bob}")).await;

    // Truncated in transit.
    let whole = std::fs::read(&signed).unwrap();
    let truncated = b.path("signed-truncated.json");
    std::fs::write(&truncated, &whole[..whole.len() - 40]).unwrap();
    b.broadcast_refused(&truncated, alice, 2, "truncated").await;

    // Unsigned: sign first.
    b.broadcast_refused(&bundle, alice, 2, "is not signed").await;

    // The original still goes through, once.
    b.broadcast_ok(&signed);
    assert_eq!(chain.read(b.cli.addr(keys::MCD_DEFENDER), DssDefender::depositsCall(alice)).await, wad(10));
    assert_eq!(b.nonce(alice).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_checks_chain_signer_and_nonces_against_the_chain() {
    let b = Bench::start().await;
    let chain = &b.cli.chain;
    let (alice, bob) = (chain.holder(0), chain.holder(1));
    let bundle = b.build(0, "deposit.json", &["deposit", "10"]).await;

    // Signed by another key: a consistent bundle from bob whose from is then changed to alice.
    let mut from_bob = json_of(&bundle);
    for t in from_bob["transactions"].as_array_mut().unwrap() {
        t["from"] = bob.to_string().into();
    }
    let file = write_json(&b, "from-bob.json", &from_bob);
    let (signed_by_bob, _) = b.sign_ok(&Signer::Env, 1, &file, &[]);
    assert_eq!(signers_of(&b, &signed_by_bob), [bob, bob]);
    let mut claimed = json_of(&signed_by_bob);
    for t in claimed["transactions"].as_array_mut().unwrap() {
        t["from"] = alice.to_string().into();
    }
    let file = write_json(&b, "claimed-alice.json", &claimed);
    b.broadcast_refused(&file, bob, 2, &format!("is signed by {bob}, but its from is {alice}")).await;
    // The same as raw hex, with --from naming alice.
    let raw = b.path("bob.txt");
    let lines: Vec<String> =
        b.load(&signed_by_bob).transactions.iter().map(|t| t.signed.as_ref().unwrap().to_string()).collect();
    std::fs::write(&raw, lines.join("\n")).unwrap();
    let out = output(b.cli.command(&["broadcast", raw.to_str().unwrap(), "--from", &alice.to_string()]));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(&format!("--from is {alice}, but")), "{}", text(&out.stderr));

    // The wrong chain: a consistent bundle for chain 1, signed offline, sent to anvil (31337).
    let mainnet = recompute_payloads(&bundle, |b| {
        b.chain_id = 1;
        b.transactions.iter_mut().for_each(|t| t.chain_id = 1);
    });
    let file = b.path("chain1.json");
    std::fs::write(&file, mainnet.to_json()).unwrap();
    let (signed_for_1, _) = b.sign_ok(&Signer::Env, 0, &file, &["--chain", "1"]);
    b.broadcast_refused(&signed_for_1, alice, 3, "serves chain 31337, but the transactions are for chain 1")
        .await;

    // A gap: built for nonce 5 while the account's next is 0.
    let later = b.build(0, "later.json", &["deposit", "10", "--nonce", "5"]).await;
    assert_eq!(b.load(&later).transactions[0].nonce, 5);
    let (signed_later, _) = b.sign_ok(&Signer::Env, 0, &later, &[]);
    b.broadcast_refused(&signed_later, alice, 3, "the next usable nonce of").await;

    // Nonce already used: alice sends something else first.
    let (signed, _) = b.sign_ok(&Signer::Env, 0, &bundle, &[]);
    chain.ok(alice, b.cli.addr(keys::MCD_GOV), approveAmountCall { guy: bob, wad: wad(1) }).await;
    assert_eq!(b.nonce(alice).await, 1);
    let stderr =
        b.broadcast_refused(&signed, alice, 3, "is already used by another transaction on chain").await;
    assert!(stderr.contains("nonce 0"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Resuming after a rejection on the device

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_in_the_middle_keeps_what_was_signed_and_sign_resumes() {
    let sim = LedgerSim::start(LedgerConfig::default()).await.unwrap();
    let ledger = Signer::Ledger(sim.addr());
    let b = Bench::start().await;
    let chain = &b.cli.chain;
    let carol = chain.holder(2);
    let bundle = b.build(2, "vote.json", &["vote", "--lock", "2000"]).await;
    assert_eq!(b.load(&bundle).transactions.len(), 3, "approve, lock, vote");
    let out = b.path("vote.signed.json");
    let args = [bundle.to_str().unwrap(), "--out", out.to_str().unwrap(), "--yes"];

    // Rejected at once: nothing signed, no file.
    sim.set_fault(Fault::RejectOnDevice);
    let result = b.sign(&ledger, 2, &args);
    let stderr = text(&result.stderr);
    assert_eq!(result.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("signing transaction 1 of 3 failed"), "{stderr}");
    assert!(
        stderr.contains(&format!("nothing was signed and {} was not written", out.display())),
        "{stderr}"
    );
    assert!(!out.exists());

    // The user approves the first transaction on the Ledger and rejects the second.
    sim.set_fault_after_signatures(1, Fault::RejectOnDevice);
    let result = b.sign(&ledger, 2, &args);
    let stderr = text(&result.stderr);
    assert_eq!(result.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("signing transaction 2 of 3 failed"), "{stderr}");
    assert!(stderr.contains("rejected on the Ledger"), "{stderr}");
    assert!(stderr.contains(&format!("1 of 3 are signed and saved in {}", out.display())), "{stderr}");
    let partial = b.load(&out);
    let checked = partial.check().unwrap();
    assert_eq!(recover(checked[0].signed.as_ref().unwrap()).unwrap(), carol);
    assert!(checked[1].signed.is_none() && checked[2].signed.is_none());
    let first = partial.transactions[0].signed.clone().unwrap();

    // Half a bundle is not broadcast.
    b.broadcast_refused(&out, carol, 2, "transaction 2 of 3 is not signed").await;

    // Cleared: the same command signs only the two left (two device approvals), keeping the first.
    sim.set_fault(Fault::None);
    sim.clear_log();
    let result = b.sign(&ledger, 2, &args);
    assert!(result.status.success(), "{}", text(&result.stderr));
    assert!(text(&result.stderr).contains("1 of 3 are signed there"), "{}", text(&result.stderr));
    assert_eq!(sim.screens().len(), 2, "only the unsigned transactions went to the device");
    let done = b.load(&out);
    assert_eq!(done.transactions[0].signed.as_ref(), Some(&first), "the first signature is kept as it was");
    assert_eq!(signers_of(&b, &out), [carol; 3]);

    // Signing the output in place once more has nothing to do, and asks nothing of the device.
    sim.clear_log();
    let again = b.sign(&ledger, 2, &[out.to_str().unwrap(), "--out", out.to_str().unwrap(), "--yes"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(text(&again.stderr).contains("all 3 transactions are already signed"));
    assert!(sim.screens().is_empty());

    let spell = chain.deployment.default_spell;
    let chief = b.cli.addr(keys::MCD_ADM);
    let approvals = chain.read(chief, DSChief::approvalsCall(spell)).await;
    b.broadcast_ok(&out);
    assert_eq!(chain.read(chief, DSChief::approvalsCall(spell)).await, approvals + wad(2000));
}

// ---------------------------------------------------------------------------------------------
// cast interoperability, both ways

fn cast() -> Command {
    Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/node_modules/.bin/cast"))
}

fn cast_ok(args: &[&str]) -> String {
    let out = cast().args(args).output().unwrap();
    assert!(out.status.success(), "cast {args:?}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cast_raw_unsigned_is_signed_offline_then_published_by_cast_and_by_defender() {
    let b = Bench::start().await;
    let chain = &b.cli.chain;
    let rpc = b.cli.rpc_url.clone();
    let bob = chain.holder(1);
    let (erin, frank) = (b.account(5).await, b.account(6).await);
    let mkr = b.cli.addr(keys::MCD_GOV).to_string();

    // One MKR transfer made by cast, signed by defender with no network, published by cast.
    let unsigned = cast_ok(&[
        "mktx",
        "--raw-unsigned",
        "--from",
        &bob.to_string(),
        "--rpc-url",
        &rpc,
        &mkr,
        "transfer(address,uint256)",
        &erin.to_string(),
        "7000000000000000000",
    ]);
    assert!(unsigned.starts_with("0x02"), "{unsigned}");
    let file = b.path("cast-unsigned.txt");
    std::fs::write(&file, format!("{unsigned}\n")).unwrap();
    let signed = b.path("cast-signed.json");
    let raw = b.path("cast-signed.txt");
    let out = b.sign(
        &Signer::Env,
        1,
        &[
            file.to_str().unwrap(),
            "--out",
            signed.to_str().unwrap(),
            "--raw-out",
            raw.to_str().unwrap(),
            "--yes",
        ],
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("transfer(dst: ") && stderr.contains("7 tokens"),
        "decoded from the ABIs:\n{stderr}"
    );
    assert!(stderr.contains("no report from an online machine"), "{stderr}");
    let lines: Vec<String> = std::fs::read_to_string(&raw).unwrap().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(
        b.load(&signed).transactions[0].unsigned.to_string(),
        unsigned,
        "the payload is cast's, byte for byte"
    );
    cast_ok(&["publish", "--rpc-url", &rpc, &lines[0]]);
    assert_eq!(mkr_balance(chain, erin).await, wad(7));
    assert_eq!(signers_of(&b, &signed), [bob]);

    // Two ETH transfers made by cast (nonces 1 and 2), one per line, broadcast by defender.
    let mut both = String::new();
    for (nonce, to) in [("1", erin), ("2", frank)] {
        both += &cast_ok(&[
            "mktx",
            "--raw-unsigned",
            "--from",
            &bob.to_string(),
            "--rpc-url",
            &rpc,
            "--nonce",
            nonce,
            "--value",
            "0.25ether",
            &to.to_string(),
        ]);
        both.push('\n');
    }
    let file = b.path("cast-two.txt");
    std::fs::write(&file, &both).unwrap();
    let signed = b.path("cast-two.json");
    let out = b.sign(&Signer::Env, 1, &[file.to_str().unwrap(), "--out", signed.to_str().unwrap(), "--yes"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (erin_eth, frank_eth) =
        (chain.provider.get_balance(erin).await.unwrap(), chain.provider.get_balance(frank).await.unwrap());
    b.broadcast_ok(&signed);
    let quarter = U256::from(250_000_000_000_000_000u64);
    assert_eq!(chain.provider.get_balance(erin).await.unwrap(), erin_eth + quarter);
    assert_eq!(chain.provider.get_balance(frank).await.unwrap(), frank_eth + quarter);
    assert_eq!(b.nonce(bob).await, 3);
    // Broadcasting again finds both receipts and sends nothing.
    let out = b.broadcast(&signed);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr).matches("is already on chain (receipt found").count(),
        2,
        "{}",
        text(&out.stderr)
    );
    assert_eq!(b.nonce(bob).await, 3);

    // A legacy transaction from cast is refused with what to do.
    let legacy = cast_ok(&[
        "mktx",
        "--raw-unsigned",
        "--legacy",
        "--from",
        &bob.to_string(),
        "--rpc-url",
        &rpc,
        "--value",
        "1",
        &erin.to_string(),
    ]);
    let file = b.path("cast-legacy.txt");
    std::fs::write(&file, legacy).unwrap();
    let out = b.sign(
        &Signer::Env,
        1,
        &[file.to_str().unwrap(), "--out", b.path("x.json").to_str().unwrap(), "--yes"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("build it without --legacy"), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defender_raw_output_is_published_by_cast_and_read_from_stdin_by_broadcast() {
    let b = Bench::start().await;
    let chain = &b.cli.chain;
    let rpc = b.cli.rpc_url.clone();
    let alice = chain.holder(0);
    let defender_addr = b.cli.addr(keys::MCD_DEFENDER);

    // deposit: built by defender, signed to raw hex, published by cast in nonce order.
    let bundle = b.build(0, "deposit.json", &["deposit", "300"]).await;
    let signed = b.path("deposit.signed.json");
    let raw = b.path("deposit.raw.txt");
    let out = b.sign(
        &Signer::Env,
        0,
        &[
            bundle.to_str().unwrap(),
            "--out",
            signed.to_str().unwrap(),
            "--raw-out",
            raw.to_str().unwrap(),
            "--yes",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<String> = std::fs::read_to_string(&raw).unwrap().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        let receipt: serde_json::Value =
            serde_json::from_str(&cast_ok(&["publish", "--rpc-url", &rpc, line])).unwrap();
        assert_eq!(receipt["status"], "0x1");
        assert_eq!(receipt["from"].as_str().unwrap(), alice.to_string().to_lowercase());
    }
    assert_eq!(chain.read(defender_addr, DssDefender::depositsCall(alice)).await, wad(300));
    // defender's broadcast of the same bundle: both already on chain.
    let out = b.broadcast(&signed);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(b.nonce(alice).await, 2);

    // Raw signed hex on standard input (`broadcast -`), with `--raw-out -` from sign.
    let bundle = b.build(0, "more.json", &["deposit", "5"]).await;
    let signed = b.path("more.signed.json");
    let out = b.sign(
        &Signer::Env,
        0,
        &[bundle.to_str().unwrap(), "--out", signed.to_str().unwrap(), "--raw-out", "-", "--yes"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let hex = text(&out.stdout);
    assert_eq!(hex.lines().count(), 2, "{hex}");
    let mut cmd = b.cli.command(&["broadcast", "-"]);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(hex.as_bytes()).unwrap();
    let out = tokio::task::block_in_place(|| child.wait_with_output().unwrap());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(chain.read(defender_addr, DssDefender::depositsCall(alice)).await, wad(305));
}

// ---------------------------------------------------------------------------------------------
// QR codes

/// Reads the codes `sign --qr` printed: light modules are blocks (dark terminals), two module
/// rows per text row. Each is decoded by an independent reader (rqrr) from a rendered image.
fn read_qr_codes(printed: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rows: Vec<Vec<bool>> = Vec::new(); // true = dark module
    let flush = |rows: &mut Vec<Vec<bool>>, found: &mut Vec<String>| {
        if rows.len() < 21 {
            rows.clear();
            return;
        }
        let (w, h) = (rows[0].len(), rows.len());
        let scale = 4;
        let image = rqrr::PreparedImage::prepare_from_greyscale(w * scale, h * scale, |x, y| {
            if rows[y / scale].get(x / scale).copied().unwrap_or(false) { 0 } else { 255 }
        });
        let mut image = image;
        for grid in image.detect_grids() {
            let (_, content) = grid.decode().expect("the printed code decodes");
            found.push(content);
        }
        rows.clear();
    };
    for line in printed.lines() {
        let is_code = !line.is_empty() && line.chars().all(|c| matches!(c, ' ' | '▀' | '▄' | '█'));
        if !is_code {
            flush(&mut rows, &mut found);
            continue;
        }
        let top: Vec<bool> = line.chars().map(|c| !matches!(c, '▀' | '█')).collect();
        let bottom: Vec<bool> = line.chars().map(|c| !matches!(c, '▄' | '█')).collect();
        rows.push(top);
        rows.push(bottom);
    }
    flush(&mut rows, &mut found);
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_codes_hold_exactly_the_raw_transactions_and_big_ones_are_named() {
    let b = Bench::start().await;
    let bundle = b.build(0, "deposit.json", &["deposit", "42"]).await;
    let signed = b.path("deposit.signed.json");
    let out = b.sign(
        &Signer::Env,
        0,
        &[bundle.to_str().unwrap(), "--out", signed.to_str().unwrap(), "--qr", "--yes"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    let raw: Vec<String> =
        b.load(&signed).transactions.iter().map(|t| t.signed.as_ref().unwrap().to_string()).collect();
    assert_eq!(read_qr_codes(&printed), raw, "{printed}");
    assert!(printed.contains("transaction 1 of 2 (0x"), "{printed}");

    // A transaction too large for one code (cast-made, 1,400 bytes of calldata) says so.
    let big = cast_ok(&[
        "mktx",
        "--raw-unsigned",
        "--from",
        &b.cli.chain.holder(1).to_string(),
        "--rpc-url",
        &b.cli.rpc_url,
        "--gas-limit",
        "100000",
        &Address::repeat_byte(0x44).to_string(),
        &format!("0x{}", "ab".repeat(1400)),
    ]);
    let file = b.path("big.txt");
    std::fs::write(&file, big).unwrap();
    let out = b.sign(
        &Signer::Env,
        1,
        &[file.to_str().unwrap(), "--out", b.path("big.json").to_str().unwrap(), "--qr", "--yes"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(printed.contains("is too large for one QR code"), "{printed}");
    assert!(printed.contains("--raw-out FILE"), "{printed}");
    assert!(read_qr_codes(&printed).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Building: files, nonces, staleness, names

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn building_never_overwrites_and_old_bundles_are_called_stale() {
    let b = Bench::start().await;
    let alice = b.cli.chain.holder(0);
    let from = alice.to_string();
    let bundle = b.build(0, "deposit.json", &["deposit", "10"]).await;
    let before = std::fs::read(&bundle).unwrap();
    let path = bundle.to_str().unwrap();

    // An existing file stays as it is.
    let out = output(b.cli.command(&["deposit", "10", "--from", &from, "--unsigned-out", path]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("never overwrites"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&bundle).unwrap(), before);
    // --dry-run writes nothing; a refused plan writes nothing.
    let dry = b.path("dry.json");
    let out = output(b.cli.command(&[
        "deposit",
        "10",
        "--from",
        &from,
        "--unsigned-out",
        dry.to_str().unwrap(),
        "--dry-run",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!dry.exists());
    let out =
        output(b.cli.command(&["withdraw", "10", "--from", &from, "--unsigned-out", dry.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(!dry.exists());
    // No temporary file is left next to the bundle.
    let names: Vec<String> =
        std::fs::read_dir(&b.dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");

    // Fees and the nonce are the user's when given.
    let later = b
        .build(
            0,
            "later.json",
            &[
                "deposit",
                "10",
                "--nonce",
                "3",
                "--max-fee",
                "40",
                "--priority-fee",
                "2",
                "--gas-limit",
                "400000",
            ],
        )
        .await;
    let t = &b.load(&later).transactions;
    assert_eq!((t[0].nonce, t[1].nonce), (3, 4));
    assert!(
        t.iter().all(|t| t.max_fee_per_gas == 40_000_000_000 && t.max_priority_fee_per_gas == 2_000_000_000)
    );
    assert!(t.iter().all(|t| t.gas_limit == 400_000));

    // Built three hours ago: sign and broadcast say how old it is.
    let mut old = json_of(&bundle);
    let created = old["created_at"].as_u64().unwrap();
    old["created_at"] = (created - 3 * 3600).into();
    let old_file = write_json(&b, "old.json", &old);
    let (signed, _) = b.sign_ok(&Signer::Env, 0, &old_file, &[]);
    let out =
        b.sign(&Signer::Env, 0, &[old_file.to_str().unwrap(), "--out", signed.to_str().unwrap(), "--yes"]);
    // Rounded to the minute: a slow machine's extra second does not show.
    assert!(text(&out.stderr).contains("built 3h ago"), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("may be stale"), "{}", text(&out.stderr));
    let out = b.broadcast(&signed);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("warning: the bundle was built 3h ago"), "{}", text(&out.stderr));
    assert_eq!(
        b.cli.chain.read(b.cli.addr(keys::MCD_DEFENDER), DssDefender::depositsCall(alice)).await,
        wad(10)
    );

    // Fees under the base fee: broadcast warns; anvil refuses them, and the report says so (exit 4).
    let cheap = b
        .build(
            0,
            "cheap.json",
            &["deposit", "10", "--max-fee", "0.000000001", "--priority-fee", "0.000000001"],
        )
        .await;
    let (signed, _) = b.sign_ok(&Signer::Env, 0, &cheap, &[]);
    let nonce = b.nonce(alice).await;
    let out = b.broadcast(&signed);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("offers at most 0.000000001 gwei per gas, below the current base fee"),
        "{stderr}"
    );
    assert!(stderr.contains("0 of 2 transactions landed"), "{stderr}");
    assert_eq!(b.nonce(alice).await, nonce);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_checks_contract_names_against_the_address_book_it_is_given() {
    let b = Bench::start().await;
    let bundle = b.build(0, "deposit.json", &["deposit", "10"]).await;
    let book = b.cli.book.to_str().unwrap().to_owned();
    let out = b.path("ok.json");
    let result = b.sign(
        &Signer::Env,
        0,
        &[bundle.to_str().unwrap(), "--out", out.to_str().unwrap(), "--yes", "--addresses", &book],
    );
    assert!(result.status.success(), "{}", text(&result.stderr));
    assert!(text(&result.stderr).contains("checked against your address book"), "{}", text(&result.stderr));
    assert!(text(&result.stderr).contains("(MCD_DEFENDER)"), "{}", text(&result.stderr));

    // A bundle that calls the "defender" at another address is refused.
    let mut edited = json_of(&bundle);
    edited["contracts"]["MCD_DEFENDER"] = Address::repeat_byte(0x66).to_string().into();
    let file = write_json(&b, "other-defender.json", &edited);
    let out = b.path("never.json");
    let result = b.sign(
        &Signer::Env,
        0,
        &[file.to_str().unwrap(), "--out", out.to_str().unwrap(), "--yes", "--addresses", &book],
    );
    assert_eq!(result.status.code(), Some(3), "{}", text(&result.stderr));
    assert!(text(&result.stderr).contains("but your address book"), "{}", text(&result.stderr));
    assert!(!out.exists());
    // Without a book the names are shown as the bundle's.
    let result = b.sign(&Signer::Env, 0, &[file.to_str().unwrap(), "--out", out.to_str().unwrap(), "--yes"]);
    assert!(result.status.success(), "{}", text(&result.stderr));
    assert!(text(&result.stderr).contains("as the bundle names it"), "{}", text(&result.stderr));
}

// ---------------------------------------------------------------------------------------------
// docs/bundle.schema.json describes what defender writes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_describes_every_bundle_defender_writes() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../docs/bundle.schema.json")).expect("the schema is JSON");
    let b = Bench::start().await;
    let unsigned = b.build(0, "deposit.json", &["deposit", "10"]).await;
    let (signed, _) = b.sign_ok(&Signer::Env, 0, &unsigned, &[]);
    let cast_made = b.path("cast.txt");
    std::fs::write(&cast_made, b.load(&unsigned).transactions[0].unsigned.to_string()).unwrap();
    let imported = b.path("imported.json");
    let out =
        b.sign(&Signer::Env, 0, &[cast_made.to_str().unwrap(), "--out", imported.to_str().unwrap(), "--yes"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for file in [&unsigned, &signed, &imported] {
        validate(&schema, &schema, &json_of(file), "$").unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
    // The validator is not a rubber stamp.
    let mut bad = json_of(&signed);
    bad["transactions"][0]["value"] = "0x0".into();
    assert!(validate(&schema, &schema, &bad, "$").unwrap_err().contains("value"));
    let mut bad = json_of(&signed);
    bad["transactions"][0].as_object_mut().unwrap().remove("signing_hash");
    assert!(validate(&schema, &schema, &bad, "$").unwrap_err().contains("signing_hash is required"));
    let mut bad = json_of(&signed);
    bad["extra"] = 1.into();
    assert!(validate(&schema, &schema, &bad, "$").unwrap_err().contains("not in the schema"));
}

// ---------------------------------------------------------------------------------------------
// Round trips to the node

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn building_takes_two_requests_signing_none_and_broadcast_checks_in_one() {
    let mut b = Bench::start().await;
    let upstream: SocketAddr = b.cli.chain.anvil.url().trim_start_matches("http://").parse().unwrap();
    let proxy = defender_sim::rpc_proxy::RpcProxy::start(upstream).await.unwrap();
    b.cli.rpc_url = proxy.url();

    let bundle = b.build(0, "deposit.json", &["deposit", "10"]).await;
    let build = proxy.requests();
    assert_eq!(build.len(), 2, "prepare and simulate: {build:?}");

    let (signed, _) = b.sign_ok(&Signer::Env, 0, &bundle, &[]);
    assert_eq!(proxy.requests().len(), 2, "sign sent nothing");

    b.broadcast_ok(&signed);
    let sent = proxy.requests()[2..].to_vec();
    let mut checks = sent[0].clone();
    checks.sort();
    assert_eq!(
        checks,
        [
            "eth_chainId",
            "eth_getBlockByNumber",
            "eth_getTransactionByHash",
            "eth_getTransactionByHash",
            "eth_getTransactionCount",
            "eth_getTransactionCount",
            "eth_getTransactionReceipt",
            "eth_getTransactionReceipt",
        ],
        "every check in one request"
    );
    assert_eq!(sent[1], ["eth_sendRawTransaction", "eth_sendRawTransaction"], "both sent in one request");
    assert!(sent[2..].iter().flatten().all(|m| m == "eth_getTransactionReceipt"), "{sent:?}");
    println!("broadcast of 2 transactions: {} HTTP requests ({sent:?})", sent.len());

    // Again: one request finds both receipts; nothing is sent.
    let before = proxy.requests().len();
    b.broadcast_ok(&signed);
    assert_eq!(proxy.requests().len(), before + 1);
}

/// Raw transactions `sign` can be given that defender never builds: an ERC-20 `transfer` (the
/// Trezor's token layout, its amount running off the screen, and a warning) and a plain ETH
/// transfer (the Ledger's Amount / To / Max fees flow). Both devices show what was listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_transfers_show_on_the_devices_what_sign_listed() {
    let b = Bench::start().await;
    let rpc = b.cli.rpc_url.clone();
    let bob = b.cli.chain.holder(1);
    let erin = b.account(5).await;
    let mkr = b.cli.addr(keys::MCD_GOV).to_string();
    let (from, to) = (bob.to_string(), erin.to_string());
    let transfer = cast_ok(&[
        "mktx",
        "--raw-unsigned",
        "--from",
        &from,
        "--rpc-url",
        &rpc,
        &mkr,
        "transfer(address,uint256)",
        &to,
        "1000000000000000000000",
    ]);
    let ether = cast_ok(&[
        "mktx",
        "--raw-unsigned",
        "--from",
        &from,
        "--rpc-url",
        &rpc,
        "--nonce",
        "1",
        "--value",
        "0.25ether",
        &to,
    ]);
    let file = b.path("transfers.txt");
    std::fs::write(&file, format!("{transfer}\n{ether}\n")).unwrap();
    let listed = |out: &Output| -> (Vec<Vec<Vec<String>>>, Vec<serde_json::Value>) {
        assert!(out.status.success(), "{}", text(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let txs = report["preview"]["transactions"].as_array().unwrap().clone();
        (listed_screens(&report), txs)
    };

    let trezor = TrezorSim::start(TrezorConfig::default()).await.unwrap();
    let signed = b.path("transfers.trezor.json");
    let args = [file.to_str().unwrap(), "--out", signed.to_str().unwrap(), "--yes", "--json"];
    let (screens, txs) = listed(&b.sign(&Signer::Trezor(trezor.addr()), 1, &args));
    let drawn: Vec<_> = trezor.screens().into_iter().filter(|s| !s.is_empty()).collect();
    assert_eq!(drawn, screens, "the Trezor showed what sign listed");
    let recipient = erin.to_checksum(None);
    let send = [
        "Send".to_owned(),
        "1,000,000,000,000,000".to_owned(),
        format!("to {}", &recipient[..15]),
        recipient[15..33].to_owned(),
        format!("{}?", &recipient[33..]),
    ];
    assert_eq!(drawn[0][0], send, "the call's recipient, the amount cut at 21 characters");
    assert_eq!(drawn[0][1][0], "Confirm fee", "the token layout has no data pages");
    let note = txs[0]["device_note"].as_str().unwrap();
    assert!(
        note.contains("1,000,000,000,000,000,000,000 Wei UNKN") && note.contains("runs off the screen"),
        "{note}"
    );
    assert_eq!(drawn[1][0][1], "0.25 UNKN");
    assert!(txs[1].get("device_note").is_none());

    let ledger = LedgerSim::start(LedgerConfig::default()).await.unwrap();
    let signed = b.path("transfers.ledger.json");
    let args = [file.to_str().unwrap(), "--out", signed.to_str().unwrap(), "--yes", "--json"];
    let (screens, _) = listed(&b.sign(&Signer::Ledger(ledger.addr()), 1, &args));
    assert_eq!(ledger.screens(), screens, "the Ledger showed what sign listed");
    let plain = &ledger.texts()[1];
    assert_eq!(plain[..2], ["Amount".to_owned(), "0.25 ???".to_owned()]);
    assert_eq!(plain.last().unwrap(), "Sign transaction");
}
