//! Running the built binary against a test chain, as a chosen signer, and checking that a
//! refused run sent nothing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output};

use alloy::primitives::Address;
use alloy::providers::Provider;

use super::Chain;
use defender::devnet::DeployParams;

/// anvil's test keys (the standard mnemonic), by account index.
pub const KEYS: [&str; 8] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
];

/// Who signs: anvil's account N, as a key in the environment or on a simulated device whose
/// seed is the same mnemonic (account N is at m/44'/60'/0'/0/N).
#[derive(Debug, Clone, Copy)]
pub enum SignWith {
    EnvKey,
    Ledger(SocketAddr),
    Trezor(SocketAddr),
}

pub struct Cli {
    pub chain: Chain,
    pub book: PathBuf,
    pub sign_with: SignWith,
    /// The endpoint commands use: the chain's, or a proxy in front of it.
    pub rpc_url: String,
    /// This chain's own log cache: devnets share chain id and addresses.
    pub cache_dir: CacheDir,
}

/// A directory removed when the test is over.
pub struct CacheDir(pub PathBuf);

impl Drop for CacheDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Cli {
    pub async fn start() -> Self {
        Self::start_signing_with(SignWith::EnvKey).await
    }

    pub async fn start_signing_with(sign_with: SignWith) -> Self {
        Self::on(Chain::start().await, sign_with)
    }

    /// On a devnet whose node answers chain id `chain_id`.
    pub async fn start_on_chain(chain_id: u64, sign_with: SignWith) -> Self {
        Self::on(Chain::start_on_chain(DeployParams::default(), chain_id).await, sign_with)
    }

    /// On a devnet laid out as mainnet runs today (`devnet --layout sky`).
    pub async fn start_sky(sign_with: SignWith) -> Self {
        Self::on(Chain::start_sky().await, sign_with)
    }

    fn on(chain: Chain, sign_with: SignWith) -> Self {
        let book = chain.book_file();
        let rpc_url = chain.anvil.url().to_owned();
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let cache_dir =
            CacheDir(std::env::temp_dir().join(format!("defender-test-cache-{}-{n}", std::process::id())));
        Self { chain, book, sign_with, rpc_url, cache_dir }
    }

    /// `defender ARGS` on this chain, with no signer.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_defender"));
        command
            .args(args)
            .args(["--rpc-url", &self.rpc_url, "--addresses", self.book.to_str().unwrap()])
            .env_remove("ETH_RPC_URL")
            .env_remove("ETH_FROM")
            .env("DEFENDER_CACHE_DIR", &self.cache_dir.0)
            // No saved setup of the machine's: a test says all it means.
            .env("DEFENDER_CONFIG", self.cache_dir.0.join("no-setup.toml"));
        command
    }

    /// `defender ARGS` signed by test account `account`.
    pub fn signed(&self, account: usize, args: &[&str]) -> Command {
        let mut command = self.command(args);
        match self.sign_with {
            SignWith::EnvKey => {
                command
                    .args(["--private-key-env", "DEFENDER_TEST_KEY"])
                    .env("DEFENDER_TEST_KEY", KEYS[account]);
            }
            SignWith::Ledger(addr) => {
                command.args(["--ledger", "--speculos", &addr.to_string()]);
                command.args(["--hd-path", &format!("m/44'/60'/0'/0/{account}")]);
            }
            SignWith::Trezor(addr) => {
                command.args(["--trezor", "--trezor-emulator", &addr.to_string()]);
                command.args(["--hd-path", &format!("m/44'/60'/0'/0/{account}")]);
            }
        }
        command
    }

    pub fn run(&self, account: usize, args: &[&str]) -> Output {
        output(self.signed(account, args))
    }

    pub fn ok(&self, account: usize, args: &[&str]) -> String {
        let out = self.run(account, args);
        assert!(out.status.success(), "defender {args:?} failed:\n{}", text(&out.stderr));
        text(&out.stdout)
    }

    /// Runs a command that must fail with `code`, say `message`, and send nothing.
    pub async fn refused(&self, account: usize, args: &[&str], code: i32, message: &str) -> String {
        let who = self.chain.provider.get_accounts().await.unwrap()[account];
        let nonce = self.chain.provider.get_transaction_count(who).await.unwrap();
        let out = self.run(account, args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "defender {args:?}: {stderr}");
        assert!(stderr.contains(message), "defender {args:?}: expected {message:?} in:\n{stderr}");
        let after = self.chain.provider.get_transaction_count(who).await.unwrap();
        assert_eq!(after, nonce, "defender {args:?} sent a transaction");
        stderr
    }

    pub fn addr(&self, key: &str) -> Address {
        self.chain.addr(key)
    }
}

/// Runs `command` to completion without starving the runtime that serves a device simulator.
pub fn output(mut command: Command) -> Output {
    let mut run = move || command.output().unwrap();
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(run),
        _ => run(),
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `defender sign UNSIGNED --out SIGNED` as on a machine with no network, with test key
/// `account`; returns what it printed (stdout and stderr).
pub fn sign_offline(unsigned: &std::path::Path, signed: &std::path::Path, account: usize) -> String {
    let mut sign = Command::new(env!("CARGO_BIN_EXE_defender"));
    sign.args(["sign", unsigned.to_str().unwrap(), "--out", signed.to_str().unwrap(), "--yes"])
        .args(["--rpc-url", "http://127.0.0.1:9", "--private-key-env", "OFFLINE_KEY"])
        .env("OFFLINE_KEY", KEYS[account])
        .env_remove("ETH_RPC_URL")
        .env_remove("DEFENDER_ADDRESSES");
    let out = output(sign);
    let shown = text(&out.stdout) + &text(&out.stderr);
    assert!(out.status.success(), "{shown}");
    shown
}

/// What a report's preview listed for the device, per transaction: its screens, each the lines
/// it draws.
pub fn listed_screens(report: &serde_json::Value) -> Vec<Vec<Vec<String>>> {
    let txs = report["preview"]["transactions"].as_array().expect("a preview with transactions");
    txs.iter().map(|t| serde_json::from_value(t["device_screens"].clone()).expect("device_screens")).collect()
}

/// A keystore of anvil's account `account` in `dir` (password in `dir/password`), written once
/// by `cast wallet import`.
pub fn keystore(dir: &std::path::Path, account: usize) -> PathBuf {
    let file = dir.join(format!("account{account}"));
    if !file.exists() {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("password"), "offline\n").unwrap();
        let cast = concat!(env!("CARGO_MANIFEST_DIR"), "/node_modules/.bin/cast");
        let out = Command::new(cast)
            .args(["wallet", "import", &format!("account{account}"), "--private-key", KEYS[account]])
            .args(["--keystore-dir", dir.to_str().unwrap(), "--unsafe-password", "offline"])
            .output()
            .unwrap();
        assert!(out.status.success(), "cast wallet import: {}", text(&out.stderr));
    }
    file
}
