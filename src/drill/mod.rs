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
        let typed = format!("defender {}", args.join(" "));
        self.event("YOU", &typed).await?;
        self.confirm_step("run it")?;
        let mut command = Command::new(&self.part.exe);
        command.args(args).args(&self.part.connection);
        let signs = !matches!(args.first(), Some(&"status") | Some(&"queue"));
        if signs {
            command.args(&self.part.signer);
        }
        if self.part.auto && signs {
            command.arg("--yes");
            if args.first() == Some(&"esm") {
                command.arg("--burn");
            }
        }
        command.envs(self.part.env.iter().map(|(k, v)| (k, v)));
        // In --auto the commands' own previews would bury the timeline: keep their output and
        // show it only when a command does not end as the scenario expects.
        let (code, output) = if self.part.auto {
            let out = command.output().with_context(|| format!("running {typed}"))?;
            let text =
                format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            (out.status.code(), text)
        } else {
            (command.status().with_context(|| format!("running {typed}"))?.code(), String::new())
        };
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
