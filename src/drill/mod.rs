//! Fire drills: MIP91's four example scenarios, and Protego's two on mainnet's layout of today,
//! played on a local chain. The drill plays the other actors itself and runs the user's part
//! through the real commands, with the user's own signer, so that what is practised is exactly
//! what would be done in a real attack.

pub mod protego;
pub mod scenarios;
pub mod sky_world;
pub mod watcher;
pub mod world;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use alloy::primitives::Address;
use anyhow::{Context, Result, bail};

use crate::chain::snapshot::Snapshot;
use crate::units::{format_duration, format_token};
use world::World;

/// What the drill's run of a user command should end in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Success,
    /// The command must refuse (exit 3): the drill shows a refusal the user should recognise.
    Refusal,
}

/// One MIP91 expectation, checked on chain at the end of a scenario.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub what: String,
    pub ok: bool,
}

pub fn check(what: impl Into<String>, ok: bool) -> Check {
    Check { what: what.into(), ok }
}

/// How the user's commands are run.
pub struct UserPart {
    /// This very binary.
    pub exe: PathBuf,
    /// `--rpc-url URL --chainlog ADDRESS`, so the commands follow the chainlog like mainnet.
    pub connection: Vec<String>,
    /// The user's signer options, as they typed them (or the devnet test key).
    pub signer: Vec<String>,
    /// Environment for the default test key.
    pub env: Vec<(String, String)>,
    /// Play the user's part without asking.
    pub auto: bool,
    /// Your side played from a Safe: each step is a Safe transaction you sign, a second owner
    /// signs, and you execute.
    pub safe: Option<SafePart>,
}

/// The Safe the user acts from, and the second owner the drill plays.
pub struct SafePart {
    pub address: Address,
    /// Where the steps' bundles go.
    pub dir: PathBuf,
    /// The second owner's test key, in an environment variable of the commands.
    pub co_owner_var: String,
    pub co_owner_key: String,
    pub steps: std::cell::Cell<usize>,
}

impl Drop for SafePart {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running drill: the chain, the user, the timeline.
pub struct Drill {
    pub world: World,
    pub user: Address,
    pub part: UserPart,
    started_at: u64,
    clock: Instant,
    pub json: bool,
}

impl Drill {
    pub async fn new(world: World, user: Address, part: UserPart, json: bool) -> Result<Self> {
        let started_at = world.now().await?;
        Ok(Self { world, user, part, started_at, clock: Instant::now(), json })
    }

    /// A line of the timeline: chain time since the start, and what happened.
    pub async fn event(&self, who: &str, what: &str) -> Result<()> {
        if !self.json {
            let elapsed = self.world.now().await?.saturating_sub(self.started_at);
            eprintln!("  [T+{:>8}] {who:<14} {what}", short_duration(elapsed));
        }
        Ok(())
    }

    /// Moves chain time forward, saying why.
    pub async fn wait(&self, seconds: u64, why: &str) -> Result<()> {
        self.world.warp(seconds).await?;
        self.event("(time passes)", &format!("{} later: {why}", format_duration(seconds))).await
    }

    /// The user's part: the real command, run with the user's signer. In `--auto` it confirms
    /// by itself (`--yes`, and `--burn` where the command needs it); otherwise the user sees
    /// the preview and confirms (and signs on the device) as in a real attack.
    pub async fn user(&self, args: &[&str], expect: Expect) -> Result<()> {
        let signs = !matches!(args.first(), Some(&"status") | Some(&"queue"));
        if let (true, Some(safe)) = (signs, &self.part.safe) {
            return self.user_from_safe(args, expect, safe).await;
        }
        let typed = format!("defender {}", args.join(" "));
        self.event("YOU", &typed).await?;
        self.confirm_step("run it")?;
        let (code, output) = self.run(args, signs, signs)?;
        self.judge(&typed, expect, code, &output).await
    }

    /// One step from the Safe: build its bundle, sign it (you), sign it (the second owner),
    /// execute it (you pay).
    async fn user_from_safe(&self, args: &[&str], expect: Expect, safe: &SafePart) -> Result<()> {
        let step = safe.steps.get() + 1;
        safe.steps.set(step);
        let unsigned = safe.dir.join(format!("{step}-{}.json", args[0]));
        let signed = safe.dir.join(format!("{step}-{}.signed.json", args[0]));
        let (unsigned_text, signed_text) = (unsigned.display().to_string(), signed.display().to_string());
        let address = safe.address.to_string();
        let mut build: Vec<&str> = args.to_vec();
        build.extend(["--safe", &address, "--unsigned-out", &unsigned_text]);
        let typed = format!("defender {}", build.join(" "));
        self.event("YOU", &typed).await?;
        self.confirm_step("build the Safe transaction")?;
        let (code, output) = self.run(&build, false, false)?;
        if expect == Expect::Refusal || code != Some(0) {
            return self.judge(&typed, expect, code, &output).await;
        }
        let burn = args.first() == Some(&"esm");
        let sign: Vec<&str> = vec!["sign", &unsigned_text, "--out", &signed_text];
        let typed = format!("defender {}", sign.join(" "));
        self.event("YOU", &format!("{typed}  (first owner)")).await?;
        self.confirm_step("sign it")?;
        let (code, output) = self.run(&sign, true, true)?;
        self.judge(&typed, Expect::Success, code, &output).await?;
        let mut co_sign = vec!["sign", &signed_text, "--out", &signed_text, "--yes"];
        co_sign.extend(if burn { vec!["--burn"] } else { vec![] });
        co_sign.extend(["--private-key-env", &safe.co_owner_var]);
        let out = self.command(&co_sign).env(&safe.co_owner_var, &safe.co_owner_key).output()?;
        let output =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        self.judge("the second owner's `defender sign`", Expect::Success, out.status.code(), &output).await?;
        self.event("second owner", "signs the Safe transaction: 2 of 2 signatures").await?;
        let broadcast = vec!["broadcast", &signed_text];
        let typed = format!("defender {}", broadcast.join(" "));
        self.event("YOU", &format!("{typed}  (you pay the gas)")).await?;
        self.confirm_step("execute it")?;
        let (code, output) = self.run(&broadcast, true, true)?;
        self.judge(&typed, Expect::Success, code, &output).await
    }

    /// This binary with `args` and the connection to the drill's chain.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.part.exe);
        command.args(args).args(&self.part.connection);
        command.envs(self.part.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Runs a user command, with the user's signer when `signs`; in `--auto` it confirms by
    /// itself (`--yes`, and `--burn` where the command needs it) when `confirms`, otherwise
    /// the user sees the preview and confirms (and signs on the device) as in a real attack.
    fn run(&self, args: &[&str], signs: bool, confirms: bool) -> Result<(Option<i32>, String)> {
        let typed = format!("defender {}", args.join(" "));
        let mut command = self.command(args);
        if signs {
            command.args(&self.part.signer);
        }
        if self.part.auto && confirms {
            command.arg("--yes");
            let burns = args.first() == Some(&"esm")
                || (args.first() == Some(&"sign") && args.get(1).is_some_and(|f| f.ends_with("-esm.json")));
            if burns {
                command.arg("--burn");
            }
        }
        // In --auto the commands' own previews would bury the timeline: keep their output and
        // show it only when a command does not end as the scenario expects.
        Ok(if self.part.auto {
            let out = command.output().with_context(|| format!("running {typed}"))?;
            let text =
                format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            (out.status.code(), text)
        } else {
            (command.status().with_context(|| format!("running {typed}"))?.code(), String::new())
        })
    }

    /// Whether a command ended as the scenario expects; a refusal is shown with its reason.
    async fn judge(&self, typed: &str, expect: Expect, code: Option<i32>, output: &str) -> Result<()> {
        let expected = matches!((expect, code), (Expect::Success, Some(0)) | (Expect::Refusal, Some(3)));
        if !expected && !output.is_empty() {
            eprintln!("{output}");
        }
        match (expect, code) {
            (Expect::Success, Some(0)) => {}
            (Expect::Refusal, Some(3)) => {
                let reason = output.lines().find_map(|l| l.strip_prefix("error: ")).unwrap_or("refused");
                self.event("", &format!("refused, as it should be now: {reason}")).await?
            }
            (Expect::Success, code) => bail!("`{typed}` failed (exit {code:?}): the drill stops here"),
            (Expect::Refusal, code) => {
                bail!("`{typed}` should have been refused (exit 3) but ended with {code:?}")
            }
        }
        Ok(())
    }

    /// Outside `--auto`, waits for the user before one of their steps.
    fn confirm_step(&self, what: &str) -> Result<()> {
        if !self.part.auto {
            eprint!("      press Enter to {what} (you confirm and sign as you would for real) ");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).context("reading the terminal")?;
        }
        Ok(())
    }

    /// Mines blocks until a lift is possible again, saying why; returns how many it took.
    pub async fn mine_out_lift_cooldown(&self, why: &str) -> Result<u64> {
        let blocks = self.world.mine_out_lift_cooldown().await?;
        if blocks > 0 {
            let now = self.world.block_number().await?;
            let plural = if blocks == 1 { "" } else { "s" };
            self.event("(blocks pass)", &format!("{blocks} block{plural} later, block {now}: {why}")).await?;
        }
        Ok(blocks)
    }

    /// The state line after a step: defender, plans, hat, ESM, and the user's position (on the
    /// Sky layout: the hat, Protego, the lift cooldown and the user's SKY).
    pub async fn state(&self) -> Result<Snapshot> {
        let s = self.world.snapshot(self.user).await?;
        if !self.json && s.is_sky() {
            eprintln!("  {:>13}   {}", "", sky_state(&s));
        } else if !self.json {
            let t = |v| format_token(v, s.decimals());
            let d = &s.defender;
            let window = match s.canceling_until() {
                Some(until) if d.canceling => {
                    format!("canceling until T+{}", short_duration(until - self.started_at))
                }
                Some(_) => "window over".into(),
                None => "not active".into(),
            };
            eprintln!(
                "  {:>13}   defender {} / {} MKR ({window}) · hat {} · ESM {} / {} · you: wallet {}, deposit {}, chief {}",
                "",
                t(d.total),
                t(d.threshold),
                short_address(s.gov.hat),
                t(s.gov.esmSum),
                t(s.gov.esmMin),
                t(s.user.govBalance),
                t(s.user.deposit),
                t(s.user.chiefDeposits),
            );
        }
        Ok(s)
    }

    pub fn elapsed_ms(&self) -> u128 {
        self.clock.elapsed().as_millis()
    }
}

/// hat, Protego, the cooldown and the user's position, for the new Chief.
fn sky_state(s: &Snapshot) -> String {
    let t = |v| format!("{} {}", format_token(v, s.decimals()), s.symbol());
    let hat = match s.gov.hat {
        hat if hat == s.at.protego => "Protego".to_owned(),
        hat if hat == Address::ZERO => "nobody".to_owned(),
        hat if s.gov.hatProtego == s.at.protego => format!("drop spell {}", short_address(hat)),
        hat => short_address(hat),
    };
    let lifts = match s.lift_window() {
        crate::chain::governance::LiftWindow::From(block) => format!("lifts from block {block}"),
        _ => "lifts open".to_owned(),
    };
    format!(
        "hat {hat} ({}) · Protego {} · block {} ({lifts}) · you: wallet {}, chief {}",
        t(s.gov.hatApprovals),
        t(s.gov.protegoApprovals),
        s.block.number,
        t(s.user.govBalance),
        t(s.user.chiefDeposits),
    )
}

fn short_duration(seconds: u64) -> String {
    let (d, h, m) = (seconds / 86_400, seconds % 86_400 / 3600, seconds % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h{m:02}m"),
        _ => format!("{d}d{h:02}h"),
    }
}

fn short_address(a: Address) -> String {
    let text = a.to_checksum(None);
    format!("{}…{}", &text[..6], &text[text.len() - 4..])
}
