//! Runs the Trezor simulator on a UDP port (default 21324, the emulator's) for manual use:
//!
//! ```text
//! trezor-sim [--port N] [--model one|t|safe7] [--pin PIN] [--passphrase] [--mnemonic "words ..."]
//!            [--fault none|cancel|disconnect|busy]
//! ```
//!
//! It prints every message both ways and, when it asks for the PIN, the scrambled matrix and the
//! positions to type for the configured PIN.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use defender_sim::trezor::{Fault, Model, TrezorConfig, TrezorSim};

fn usage() -> &'static str {
    "usage: trezor-sim [--port N] [--model one|t|safe7] [--pin PIN] [--passphrase] \
     [--mnemonic \"words ...\"] [--fault none|cancel|disconnect|busy]"
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut port = defender_sim::trezor::DEFAULT_PORT;
    let mut model = Model::T;
    let mut pin = None;
    let mut passphrase = false;
    let mut mnemonic = None;
    let mut fault = Fault::None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value =
            |name: &str| args.next().with_context(|| format!("{name} needs a value\n{}", usage()));
        match arg.as_str() {
            "--port" => port = value("--port")?.parse().context("--port")?,
            "--model" => {
                model = match value("--model")?.to_lowercase().as_str() {
                    "one" | "1" => Model::One,
                    "t" => Model::T,
                    "safe7" | "t3w1" => Model::Safe7,
                    other => bail!("unknown model {other}\n{}", usage()),
                }
            }
            "--pin" => pin = Some(value("--pin")?),
            "--passphrase" => passphrase = true,
            "--mnemonic" => mnemonic = Some(value("--mnemonic")?),
            "--fault" => {
                fault = match value("--fault")?.as_str() {
                    "none" => Fault::None,
                    "cancel" => Fault::CancelOnDevice,
                    "disconnect" => Fault::Disconnect,
                    "busy" => Fault::Busy,
                    other => bail!("unknown fault {other}\n{}", usage()),
                }
            }
            "-h" | "--help" => {
                println!("{}", usage());
                return Ok(());
            }
            other => bail!("unknown argument {other}\n{}", usage()),
        }
    }
    let mut config = TrezorConfig::for_model(model);
    config.pin = pin.clone();
    config.passphrase_protection = passphrase;
    if let Some(m) = mnemonic {
        config.mnemonic = m;
    }
    let sim = TrezorSim::start_on(SocketAddr::from(([127, 0, 0, 1], port)), config).await?;
    sim.set_fault(fault);
    println!("Trezor simulator ({model:?}) on udp:{}", sim.addr());
    println!("m/44'/60'/0'/0/0 = {}", sim.address_at("m/44'/60'/0'/0/0", None));
    let mut seen = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let messages = sim.messages();
        for m in messages.iter().skip(seen) {
            println!("{} {} ({} bytes)", if m.from_host { "->" } else { "<-" }, m.name, m.payload.len());
            if !m.from_host && m.name == "PinMatrixRequest" {
                let g = sim.matrix();
                println!("   PIN matrix on the device:  {} {} {}", g[6], g[7], g[8]);
                println!("                              {} {} {}", g[3], g[4], g[5]);
                println!("                              {} {} {}", g[0], g[1], g[2]);
                if let Some(pin) = &pin {
                    println!("   type {} for PIN {pin}", sim.positions_for(pin));
                }
            }
        }
        seen = messages.len();
    }
}
