//! At home in a terminal: `--version` names the commit, completions for every shell and a man
//! page for every command come from the clap definitions, colour only where allowed (and never
//! in `--json`), `--quiet` leaves only the result and errors, and a saved setup stands in for
//! the RPC, device and account options.

mod common;

use std::path::Path;
use std::process::Command;

use clap::CommandFactory;
use common::cli::{Cli, output, text};
use defender_sim::ledger::{LedgerConfig, LedgerSim};

fn defender(args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_defender"));
    command.args(args).env_remove("NO_COLOR").env("DEFENDER_CONFIG", "/nonexistent/defender.toml");
    output(command)
}

/// Every command's name, as clap knows them.
fn command_names() -> Vec<String> {
    defender::cli::Cli::command().get_subcommands().map(|c| c.get_name().to_owned()).collect()
}

#[test]
fn the_version_names_the_commit_it_was_built_from() {
    let out = defender(&["--version"]);
    let said = text(&out.stdout);
    assert!(out.status.success());
    let rest =
        said.trim().strip_prefix(concat!("defender ", env!("CARGO_PKG_VERSION"), " (commit ")).unwrap();
    let commit = rest.strip_suffix(')').unwrap();
    assert!(
        commit == "unknown" || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{said}"
    );
}

#[test]
fn completions_cover_every_command_in_every_shell() {
    let names = command_names();
    assert!(names.len() > 20, "{names:?}");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = defender(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        for name in &names {
            assert!(script.contains(name.as_str()), "{shell} completions lack {name}");
        }
        assert!(script.contains("fee-ladder") && script.contains("rpc-url"), "{shell}: options too");
    }
    let out = defender(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "an unknown shell is bad input");
}

#[test]
fn a_man_page_for_every_command() {
    let dir = std::env::temp_dir().join(format!("defender-man-{}", std::process::id()));
    let out = defender(&["man", "--out", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let page = |name: &str| std::fs::read_to_string(dir.join(format!("{name}.1"))).unwrap();
    assert!(page("defender").contains(".TH defender 1"));
    for name in command_names() {
        let page = page(&format!("defender-{name}"));
        assert!(page.contains(&format!(".TH defender-{name} 1")), "{name}");
        assert!(page.contains("rpc\\-url"), "defender-{name}.1 lists the global options");
    }
    assert_eq!(text(&out.stdout).lines().count(), command_names().len() + 1, "each page written is named");
    let _ = std::fs::remove_dir_all(dir);
}

fn has_colour(bytes: &[u8]) -> bool {
    text(bytes).contains("\u{1b}[")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colour_only_where_allowed_and_never_in_json() {
    let cli = Cli::start().await;
    let preview = ["esm", "1", "--direct", "--dry-run"];
    let with = |extra: &[&str], no_color: bool| {
        let mut command = cli.signed(0, &[&preview[..], extra].concat());
        if no_color {
            command.env("NO_COLOR", "1");
        } else {
            command.env_remove("NO_COLOR");
        }
        output(command)
    };
    let forced = with(&["--color", "always"], false);
    assert!(forced.status.success(), "{}", text(&forced.stderr));
    let said = text(&forced.stderr);
    let irreversible = said.lines().find(|l| l.contains("IRREVERSIBLE")).expect("the warning");
    assert!(irreversible.contains("\u{1b}["), "the irreversible warning stands out: {irreversible:?}");
    assert!(said.contains("simulated ok"), "{said}");
    for (extra, no_color) in [(&["--color", "never"][..], false), (&[][..], false), (&[][..], true)] {
        let out = with(extra, no_color);
        assert!(!has_colour(&out.stderr), "{extra:?} NO_COLOR={no_color}: {:?}", text(&out.stderr));
    }
    // Not a terminal (a pipe here) and auto: plain. --json: the same bytes whatever --color says.
    let json = |when: &str| with(&["--json", "--color", when], false);
    let (always, never) = (json("always"), json("never"));
    assert!(always.status.success() && !always.stdout.is_empty());
    assert_eq!(always.stdout, never.stdout, "--json is byte for byte the same");
    assert!(!has_colour(&always.stdout) && !has_colour(&always.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_leaves_the_result_and_errors() {
    let cli = Cli::start().await;
    let loud = cli.run(0, &["deposit", "5", "--dry-run", "--json"]);
    let quiet = cli.run(0, &["deposit", "5", "--dry-run", "--json", "-q"]);
    assert!(quiet.status.success());
    assert_eq!(quiet.stdout, loud.stdout, "the result is the same");
    assert!(quiet.stderr.is_empty(), "{}", text(&quiet.stderr));
    let plain = cli.run(0, &["deposit", "5", "--dry-run", "--quiet"]);
    assert!(plain.status.success() && plain.stderr.is_empty(), "no preview: {}", text(&plain.stderr));
    let sent = cli.run(0, &["deposit", "5", "--yes", "-q"]);
    assert!(sent.status.success() && sent.stderr.is_empty(), "{}", text(&sent.stderr));
    assert_eq!(text(&sent.stdout).matches("mined in block").count(), 2, "the report is the result");
    let bad = cli.run(0, &["deposit", "5.0000000000000000001", "--yes", "-q"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).starts_with("error: "), "errors still show: {}", text(&bad.stderr));
}

/// `defender setup` as the user types it, with the setup file at `file`.
fn setup(cli: &Cli, file: &Path, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_defender"));
    command
        .arg("setup")
        .args(args)
        .env("DEFENDER_CONFIG", file)
        .env_remove("ETH_RPC_URL")
        .env_remove("ETH_FROM");
    let _ = cli;
    output(command)
}

/// A command with only `--addresses` (the devnet's book) and the saved setup at `file`.
fn with_setup(cli: &Cli, file: &Path, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_defender"));
    command
        .args(args)
        .args(["--addresses", cli.book.to_str().unwrap()])
        .env("DEFENDER_CONFIG", file)
        .env("DEFENDER_CACHE_DIR", &cli.cache_dir.0)
        .env_remove("ETH_RPC_URL")
        .env_remove("ETH_FROM");
    output(command)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_setup_stands_in_for_the_rpc_device_and_account_options() {
    let ledger = LedgerSim::start(LedgerConfig::default()).await.unwrap();
    let cli = Cli::start().await;
    let dir = cli.book.parent().unwrap().join("setup");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.toml");
    let speculos = ledger.addr().to_string();
    let account = |n: usize| cli.chain.holder(n);
    let rpc = cli.rpc_url.clone();
    let path1 = "m/44'/60'/0'/0/1";

    // Checked before it is saved: the chain, the account the device derives, no secrets.
    let refused = setup(&cli, &file, &["--rpc-url", &rpc, "--chain", "1"]);
    assert_eq!(refused.status.code(), Some(3), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("serves chain 31337, not 1: nothing was saved"));
    let other = account(2).to_string();
    let args = ["--rpc-url", &rpc, "--ledger", "--speculos", &speculos, "--hd-path", path1, "--from", &other];
    let refused = setup(&cli, &file, &args);
    assert!(
        !refused.status.success() && text(&refused.stderr).contains("signs as"),
        "{}",
        text(&refused.stderr)
    );
    let refused = setup(&cli, &file, &["--rpc-url", &rpc, "--private-key-env", "KEY"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(!file.exists(), "nothing was written");

    let saved =
        setup(&cli, &file, &["--rpc-url", &rpc, "--ledger", "--speculos", &speculos, "--hd-path", path1]);
    assert!(saved.status.success(), "{}", text(&saved.stderr));
    let kept = std::fs::read_to_string(&file).unwrap();
    assert!(kept.contains(&format!("from = \"{}\"", account(1))), "the device's account: {kept}");
    assert!(kept.contains("chain = 31337") && kept.contains("kind = \"ledger\""), "{kept}");
    let fields: Vec<&str> = kept.lines().filter_map(|l| l.split_once(" = ").map(|(k, _)| k)).collect();
    assert_eq!(fields, ["rpc_url", "chain", "from", "kind", "hd_path", "speculos"], "no secret: {kept}");

    // Every command takes it, and says so above the preview.
    let out = with_setup(&cli, &file, &["deposit", "5", "--dry-run", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let from = |report: &serde_json::Value| {
        report["preview"]["from"].as_str().unwrap().parse::<alloy::primitives::Address>().unwrap()
    };
    assert_eq!(from(&report), account(1));
    assert_eq!(report["preview"]["device"], "Ledger", "signed on the saved device");
    let out = with_setup(&cli, &file, &["deposit", "5", "--dry-run"]);
    let said = text(&out.stderr);
    assert!(said.starts_with(&format!("using the setup in {}", file.display())), "{said}");
    assert!(
        said.contains(&format!("signer Ledger {path1}")) && said.contains(&format!("from {}", account(1)))
    );

    // A flag wins: another account (and so none of the saved signer), another RPC.
    let out = with_setup(&cli, &file, &["deposit", "5", "--dry-run", "--json", "--from", &other]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(from(&report), account(2));
    assert!(report["preview"]["device"].is_null(), "the saved signer is set aside with its account");
    let out = with_setup(&cli, &file, &["status", "--rpc-url", "http://127.0.0.1:9"]);
    assert!(!out.status.success(), "the typed RPC is used, not the saved one");
    let edited = std::fs::read_to_string(&file).unwrap().replace("chain = 31337", "chain = 1");
    std::fs::write(&file, edited).unwrap();
    let out = with_setup(&cli, &file, &["status"]);
    let said = text(&out.stderr);
    assert!(!out.status.success() && said.contains("serves chain 31337, but --chain says 1"), "{said}");
    let out = with_setup(&cli, &file, &["status", "--rpc-url", &rpc]);
    assert!(out.status.success(), "a typed RPC sets the saved chain aside: {}", text(&out.stderr));

    let shown = setup(&cli, &file, &["--show"]);
    assert!(text(&shown.stdout).contains(&rpc));
    assert!(setup(&cli, &file, &["--forget"]).status.success());
    assert!(!file.exists());
}

/// On a terminal (a pseudo-terminal from util-linux's `script`), auto colours: unless NO_COLOR
/// is set, or stdout goes into a pipe.
#[test]
fn auto_colours_a_terminal_only() {
    let bin = env!("CARGO_BIN_EXE_defender");
    let on_a_terminal = |line: &str, no_color: bool| {
        let mut command = Command::new("script");
        command.args(["-qec", line, "/dev/null"]).env("DEFENDER_CONFIG", "/nonexistent/defender.toml");
        if no_color {
            command.env("NO_COLOR", "1");
        } else {
            command.env_remove("NO_COLOR");
        }
        output(command).stdout
    };
    let refused = format!("{bin} deposit 1 --rpc-url http://127.0.0.1:9");
    assert!(has_colour(&on_a_terminal(&refused, false)), "an error on a terminal is red");
    assert!(!has_colour(&on_a_terminal(&refused, true)), "NO_COLOR");
    assert!(!has_colour(&on_a_terminal(&format!("{refused} | cat"), false)), "stdout into a pipe");
    assert!(text(&on_a_terminal(&refused, true)).contains("error: no account"));
}
