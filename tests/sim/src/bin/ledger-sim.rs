//! Run the Ledger Ethereum-app simulator on a TCP port, speaking Speculos's APDU protocol, so the
//! client can be pointed at it by hand. Prints every APDU and its status word as it is answered.

use std::net::SocketAddr;
use std::time::Duration;

use defender_sim::ledger::{Fault, LedgerConfig, LedgerSim, Model};

const USAGE: &str = "\
usage: ledger-sim [--port PORT] [--host HOST] [--blind-signing on|off] [--version X.Y.Z]
                  [--model nanosp|nanox|stax|flex|apex_p] [--mnemonic WORDS] [--locked | --wrong-app | --busy | --reject | --disconnect-during-sign]
                  [--quiet]

Simulates Ledger's Ethereum app behind Speculos's APDU socket (default 127.0.0.1:9999).
Keys come from the test mnemonic unless --mnemonic is given; blind signing is on by default.";

struct Args {
    addr: SocketAddr,
    config: LedgerConfig,
    fault: Fault,
    quiet: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut host = "127.0.0.1".to_string();
    let mut port: u16 = 9999;
    let mut config = LedgerConfig::default();
    let mut fault = Fault::None;
    let mut quiet = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--port" | "-p" => {
                port = value("--port")?.parse().map_err(|e| format!("--port: {e}"))?;
            }
            "--host" => host = value("--host")?,
            "--blind-signing" => {
                config.blind_signing = match value("--blind-signing")?.as_str() {
                    "on" | "true" | "1" => true,
                    "off" | "false" | "0" => false,
                    other => return Err(format!("--blind-signing: expected on or off, got {other:?}")),
                }
            }
            "--version" => {
                let v = value("--version")?;
                let parts: Vec<u8> = v
                    .split('.')
                    .map(|p| p.parse::<u8>())
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("--version {v}: {e}"))?;
                let [major, minor, patch] = parts[..] else {
                    return Err(format!("--version: expected X.Y.Z, got {v:?}"));
                };
                config.version = (major, minor, patch);
            }
            "--mnemonic" => config.mnemonic = value("--mnemonic")?,
            "--model" => {
                let name = value("--model")?;
                config.model = Model::ALL.into_iter().find(|m| m.arg() == name).ok_or_else(|| {
                    format!("--model: expected nanosp, nanox, stax, flex or apex_p, got {name:?}")
                })?;
            }
            "--locked" => fault = Fault::Locked,
            "--wrong-app" => fault = Fault::WrongApp,
            "--busy" => fault = Fault::Busy,
            "--reject" => fault = Fault::RejectOnDevice,
            "--disconnect-during-sign" => fault = Fault::DisconnectDuringSign,
            "--quiet" | "-q" => quiet = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let addr = format!("{host}:{port}").parse().map_err(|e| format!("address {host}:{port}: {e}"))?;
    Ok(Args { addr, config, fault, quiet })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("ledger-sim: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let config = args.config.clone();
    let sim = LedgerSim::start_on(args.addr, args.config).await?;
    sim.set_fault(args.fault);
    let (major, minor, patch) = config.version;
    println!("ledger-sim: Ethereum app {major}.{minor}.{patch} listening on {}", sim.addr());
    println!(
        "ledger-sim: blind signing {}, fault {:?}",
        if config.blind_signing { "on" } else { "off" },
        args.fault
    );
    for n in 0..3 {
        let path = format!("m/44'/60'/{n}'/0/0");
        println!("ledger-sim: {path} -> {}", sim.address_at(&path));
    }

    let mut seen_apdus = 0;
    let mut seen_screens = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if args.quiet {
            continue;
        }
        let apdus = sim.apdus();
        for a in apdus.iter().skip(seen_apdus) {
            println!(
                "apdu cla={:02x} ins={:02x} p1={:02x} p2={:02x} len={} -> {:04x}",
                a.cla,
                a.ins,
                a.p1,
                a.p2,
                a.data.len(),
                a.status
            );
        }
        seen_apdus = apdus.len();
        let screens = sim.texts();
        for s in screens.iter().skip(seen_screens) {
            println!("screens: {}", s.join(" | "));
        }
        seen_screens = screens.len();
    }
}
