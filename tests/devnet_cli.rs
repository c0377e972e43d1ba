//! `defender devnet` and `defender status` through the built binary, as a user runs them.

use std::process::{Command, Output};

use defender::chain::addresses::{AddressBook, keys};
use defender::devnet::anvil::free_port;

fn defender(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_defender")).args(args).env_remove("ETH_RPC_URL").output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn detached_devnet_writes_its_address_book_serves_status_and_stops() {
    let state = tempdir();
    let port = free_port().unwrap().to_string();
    let state_arg = state.to_str().unwrap();
    let started =
        defender(&["devnet", "--detach", "--port", &port, "--state-dir", state_arg, "--threshold", "1000"]);
    assert!(started.status.success(), "{}", text(&started.stderr));
    let stdout = text(&started.stdout);
    assert!(stdout.contains("devnet ready") && stdout.contains("MCD_DEFENDER"), "{stdout}");

    let book = AddressBook::load(&state.join("addresses.json")).unwrap();
    assert_eq!(book.chain_id, 31337);
    assert_eq!(book.rpc_url.as_deref(), Some(format!("http://127.0.0.1:{port}").as_str()));
    for key in [
        keys::MCD_GOV,
        keys::MCD_ADM,
        keys::MCD_PAUSE,
        keys::MCD_PAUSE_PROXY,
        keys::MCD_ESM,
        keys::MCD_DEFENDER,
        keys::CHANGELOG,
    ] {
        book.get(key).unwrap();
    }

    // A second devnet on the same state dir is refused while the first runs.
    let again = defender(&["devnet", "--detach", "--port", &port, "--state-dir", state_arg]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("already running"), "{}", text(&again.stderr));

    let rpc = format!("http://127.0.0.1:{port}");
    let book_arg = state.join("addresses.json");
    let status =
        defender(&["status", "--json", "--rpc-url", &rpc, "--addresses", book_arg.to_str().unwrap()]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        json["defender"]["address"].as_str().unwrap().to_lowercase(),
        book.get(keys::MCD_DEFENDER).unwrap().to_string().to_lowercase()
    );
    assert_eq!(json["defender"]["threshold"], serde_json::json!("1000000000000000000000"));
    assert_eq!(json["token"]["symbol"], "MKR");
    assert_eq!(json["defender"]["canceling"], false);

    // With the wrong --chain, status refuses.
    let wrong =
        defender(&["status", "--chain", "1", "--rpc-url", &rpc, "--addresses", book_arg.to_str().unwrap()]);
    assert!(!wrong.status.success());
    assert!(
        text(&wrong.stderr).contains("serves chain 31337, but --chain says 1"),
        "{}",
        text(&wrong.stderr)
    );

    let stopped = defender(&["devnet", "--stop", "--state-dir", state_arg]);
    assert!(stopped.status.success(), "{}", text(&stopped.stderr));
    assert!(!state.join("anvil.pid").exists());
    let gone = defender(&["status", "--rpc-url", &rpc, "--addresses", book_arg.to_str().unwrap()]);
    assert!(!gone.status.success());
}

#[test]
fn missing_anvil_is_explained() {
    let state = tempdir();
    let output = Command::new(env!("CARGO_BIN_EXE_defender"))
        .args(["devnet", "--state-dir", state.to_str().unwrap(), "--port", &free_port().unwrap().to_string()])
        .env("DEFENDER_ANVIL", "/nonexistent/anvil")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("npm install @foundry-rs/anvil-linux-amd64"), "{stderr}");
}

#[test]
fn unreachable_rpc_is_explained() {
    let port = free_port().unwrap();
    let output = defender(&["status", "--rpc-url", &format!("http://127.0.0.1:{port}")]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("cannot reach the RPC") && stderr.contains("--rpc-url"), "{stderr}");
}

fn tempdir() -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("defender-test-{}-{}", std::process::id(), free_port().unwrap()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
