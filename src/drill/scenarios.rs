//! The drill's scenarios, and MIP91's four as scripts: the other actors' moves, the user's
//! commands, and what must be true at the end. Amounts follow MIP91's example (threshold 50,000
//! MKR, one week of cancelling, one month of lockup) and scale with the chain's own threshold.
//! The two Protego scenarios, played on the Sky layout, are in `protego.rs`.

use alloy::primitives::{Address, U256};
use anyhow::Result;

use super::protego::{self, Route};
use super::world::tokens;
use super::{Check, Drill, Expect, check};
use crate::chain::bindings::DefaultSpell;
use crate::devnet::Layout;
use crate::units::{WAD, format_token};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Attack thwarted: cancel, regain the hat, the default spell returns deposits early.
    GenuineAttack,
    /// The genuine attack with your side played from a 2-of-3 Safe: you and a second owner
    /// sign each step, then you execute it.
    SafeGenuineAttack,
    /// Attack not thwarted: after the window the holders fire the ESM.
    AlternateEnding,
    /// A legitimate executive cancelled by mistake; governance returns the deposits early.
    FalseAlarm,
    /// A minority stalls governance; its deposits stay locked for the whole lockup.
    DisgruntledMinority,
    /// Mainnet today (Sky layout): holders lift Protego and drop every plan through it, twice.
    ProtegoBlanket,
    /// Mainnet today (Sky layout): a drop spell per plot, voted, lifted and scheduled, twice.
    ProtegoTargeted,
    /// All seven, each on a fresh chain of its layout.
    All,
}

impl Scenario {
    pub const EACH: [Scenario; 7] = [
        Scenario::GenuineAttack,
        Scenario::SafeGenuineAttack,
        Scenario::AlternateEnding,
        Scenario::FalseAlarm,
        Scenario::DisgruntledMinority,
        Scenario::ProtegoBlanket,
        Scenario::ProtegoTargeted,
    ];

    /// The devnet a scenario is played on: MIP91's four need the dss-defender, Protego's two
    /// the new Chief.
    pub fn layout(self) -> Layout {
        match self {
            Scenario::ProtegoBlanket | Scenario::ProtegoTargeted => Layout::Sky,
            _ => Layout::Mip91,
        }
    }

    /// Whole voting tokens the user needs, as every test holder of the layout has them: MKR
    /// on MIP91's, SKY on the Sky layout (a device's address is funded up to this).
    pub fn user_stake(self) -> u64 {
        match self.layout() {
            Layout::Mip91 => 100_000,
            Layout::Sky => 2_400_000_000,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Scenario::GenuineAttack => "genuine-attack",
            Scenario::SafeGenuineAttack => "safe-genuine-attack",
            Scenario::AlternateEnding => "alternate-ending",
            Scenario::FalseAlarm => "false-alarm",
            Scenario::DisgruntledMinority => "disgruntled-minority",
            Scenario::ProtegoBlanket => "protego-blanket",
            Scenario::ProtegoTargeted => "protego-targeted",
            Scenario::All => "all",
        }
    }

    pub fn story(self) -> &'static str {
        match self {
            Scenario::GenuineAttack => {
                "An attacker takes the hat and schedules a spell that mints MKR to itself. Holders deposit \
                 to the threshold and cancel it (and the next one); large holders then back the default \
                 spell, which returns the deposits early and installs a new defender."
            }
            Scenario::SafeGenuineAttack => {
                "The genuine attack, with your MKR in a 2-of-3 Safe: every step of yours (deposit, cancel, \
                 vote, lift, withdraw) is one Safe transaction, built into a bundle, signed by you and by a \
                 second owner in turn, and executed by you. No Safe web app or transaction service is used."
            }
            Scenario::AlternateEnding => {
                "The same attack, but the honest holders cannot retake the hat within the cancel window: \
                 when it ends the attacker plots again, cancelling is over, and the holders fire the ESM."
            }
            Scenario::FalseAlarm => {
                "A minority mistakes a legitimate executive for an attack and cancels it. After the window \
                 governance passes it again, and then votes the default spell to return the deposits early."
            }
            Scenario::DisgruntledMinority => {
                "A minority uses the defender to delay an executive it dislikes. Governance passes it again \
                 after the window and leaves the depositors locked for the whole lockup."
            }
            Scenario::ProtegoBlanket => {
                "Mainnet as it runs today: the chief votes with SKY and Protego is the defence. An attacker \
                 buys SKY, lifts a spell minting SKY to itself and plots it. You and other holders vote for \
                 Protego, wait out the chief's lift cooldown (10 blocks), lift Protego and drop the plan \
                 through it. The attacker buys more SKY, takes the hat back once the cooldown allows and \
                 plots again; with `defender watch` running, the holders out-vote it, you lift Protego once \
                 the cooldown allows, and watch drops the new plot in the block after the lift."
            }
            Scenario::ProtegoTargeted => {
                "The same attack on today's mainnet, met plan by plan: you deploy an EmergencyDropSpell for \
                 the attacker's plan (`drop-spell --all`), vote for it, lift it after the cooldown, and its \
                 schedule() drops the plan at once. When the attacker takes the hat back and plots again, \
                 the defenders stay targeted: a new drop spell for the new plot, voted and lifted, and \
                 watch, running in the background, calls its schedule() in the block after the lift."
            }
            Scenario::All => "All seven scenarios, each on a fresh chain.",
        }
    }

    pub async fn play(self, d: &Drill) -> Result<Vec<Check>> {
        match self {
            Scenario::GenuineAttack | Scenario::SafeGenuineAttack => genuine_attack(d).await,
            Scenario::AlternateEnding => alternate_ending(d).await,
            Scenario::FalseAlarm => minority(d, true).await,
            Scenario::DisgruntledMinority => minority(d, false).await,
            Scenario::ProtegoBlanket => protego::play(d, Route::Blanket).await,
            Scenario::ProtegoTargeted => protego::play(d, Route::Targeted).await,
            Scenario::All => unreachable!("`all` is played one scenario at a time"),
        }
    }
}

/// The other actors: anvil's accounts 1 to 4 (4 is the attacker).
#[derive(Clone, Copy)]
struct Cast {
    depositor: Address,
    whale_a: Address,
    whale_b: Address,
    attacker: Address,
}

fn cast(d: &Drill) -> Cast {
    let a = &d.world.accounts;
    Cast { depositor: a[1], whale_a: a[2], whale_b: a[3], attacker: a[4] }
}

/// A whole number of tokens as the user would type it.
fn typed(amount: U256) -> String {
    format_token(amount, 18).replace(',', "")
}

/// The attacker's spell: mint a million MKR to itself, lifted to the hat and scheduled.
async fn attack(d: &Drill, c: &Cast, lock: U256, what: &str) -> Result<Address> {
    let spell = d
        .world
        .mint_spell(c.attacker, c.attacker, tokens(1_000_000), "mint 1,000,000 MKR to the attacker")
        .await?;
    d.world.pass(c.attacker, lock, spell).await?;
    d.event("attacker", what).await?;
    Ok(spell)
}

/// The user deposits 60% of the threshold, another holder the rest: the defender activates.
async fn reach_threshold(d: &Drill, c: &Cast) -> Result<U256> {
    let threshold = d.world.snapshot(d.user).await?.defender.threshold;
    let mine = threshold * U256::from(3) / U256::from(5) / WAD * WAD;
    d.user(&["deposit", &typed(mine)], Expect::Success).await?;
    d.world.deposit(c.depositor, threshold - mine).await?;
    d.event(
        "holder 1",
        &format!("deposits {} MKR: the threshold is reached, cancelling begins", typed(threshold - mine)),
    )
    .await?;
    d.state().await?;
    Ok(mine)
}

/// Waits out the rest of the cancel window.
async fn end_of_window(d: &Drill) -> Result<()> {
    let s = d.world.snapshot(d.user).await?;
    let until = s.canceling_until().unwrap_or_default();
    d.wait(until.saturating_sub(s.now()) + 1, "the cancel window is over").await
}

/// Anyone schedules the default spell, and casts it after the pause delay.
async fn default_spell_passes(d: &Drill, by: Address, spell: Address) -> Result<()> {
    d.world.call(by, spell, DefaultSpell::scheduleCall {}).await?;
    d.event("anyone", "schedules the default spell (possible once the window is over)").await?;
    let delay: u64 = d.world.snapshot(d.user).await?.gov.pauseDelay.saturating_to();
    d.wait(delay + 1, "the GSM pause delay").await?;
    d.world.call(by, spell, DefaultSpell::castCall {}).await?;
    d.event("anyone", "casts the default spell: deposits released, a new defender installed").await?;
    d.state().await?;
    Ok(())
}

async fn genuine_attack(d: &Drill) -> Result<Vec<Check>> {
    let c = cast(d);
    let start = d.state().await?;
    let (old_defender, default_spell) = (start.at.defender, start.defender.spell);
    let attacker_mkr = d.world.mkr_balance(c.attacker).await?;
    let first = attack(
        d,
        &c,
        tokens(100_000),
        "takes the hat with 100,000 MKR and schedules a spell minting 1,000,000 MKR to itself",
    )
    .await?;
    d.state().await?;
    d.wait(12 * 3600, "the hat cannot be regained within the GSM delay: time for the defender").await?;
    d.user(&["queue"], Expect::Success).await?;
    reach_threshold(d, &c).await?;
    d.user(&["cancel", "--all"], Expect::Success).await?;
    d.state().await?;

    d.wait(24 * 3600, "the attacker tries again").await?;
    let second =
        attack(d, &c, U256::ZERO, "moves its vote to a second minting spell, lifts and schedules it").await?;
    d.user(&["cancel", "--all"], Expect::Success).await?;

    d.world.lock_and_vote(c.whale_a, tokens(100_000), default_spell).await?;
    d.world.lock_and_vote(c.whale_b, tokens(100_000), default_spell).await?;
    d.event("large holders", "lock 200,000 MKR behind the default spell").await?;
    d.user(&["vote", "--lock", "all"], Expect::Success).await?;
    d.user(&["lift"], Expect::Success).await?;
    d.state().await?;

    end_of_window(d).await?;
    default_spell_passes(d, c.whale_a, default_spell).await?;
    d.user(&["withdraw", "all", "--defender", &old_defender.to_string()], Expect::Success).await?;
    let end = d.state().await?;

    Ok(vec![
        check(
            "the attacker's spells were dropped from the pause",
            !d.world.queued(first).await? && !d.world.queued(second).await?,
        ),
        check(
            "no attacker spell executed: its MKR balance did not grow",
            d.world.mkr_balance(c.attacker).await? <= attacker_mkr,
        ),
        check("the default spell was cast", d.world.spell_done(default_spell).await?),
        check("the default spell holds the hat", end.gov.hat == default_spell),
        check(
            "a new defender instance is in the chainlog",
            end.at.defender != old_defender && end.has_defender(),
        ),
        check(
            "your deposit came back before the lockup ended",
            end.user.deposit.is_zero() && end.defender.total.is_zero(),
        ),
    ])
}

async fn alternate_ending(d: &Drill) -> Result<Vec<Check>> {
    let c = cast(d);
    let start = d.state().await?;
    let first = attack(
        d,
        &c,
        tokens(100_000),
        "takes the hat with 100,000 MKR and schedules a spell minting 1,000,000 MKR to itself",
    )
    .await?;
    d.wait(12 * 3600, "the hat cannot be regained within the GSM delay").await?;
    let mine = reach_threshold(d, &c).await?;
    d.user(&["cancel", "--all"], Expect::Success).await?;
    end_of_window(d).await?;
    let second = attack(d, &c, U256::ZERO, "still holds the hat and schedules a new minting spell").await?;
    d.user(&["cancel", "--all"], Expect::Refusal).await?;
    d.state().await?;

    // Everyone moves to the ESM: the user from the deposit, others from theirs and their wallets.
    d.user(&["esm", "all"], Expect::Success).await?;
    let theirs = d.world.snapshot(c.depositor).await?.user.deposit;
    d.world.move_to_esm(c.depositor, theirs).await?;
    let s = d.world.snapshot(d.user).await?;
    let missing = s.gov.esmMin.saturating_sub(s.gov.esmSum);
    if !missing.is_zero() {
        d.world.join_esm(c.whale_a, missing).await?;
    }
    d.event("holders", &format!("move {} MKR into the ESM: its minimum is reached", typed(theirs + missing)))
        .await?;
    d.state().await?;
    d.user(&["esm", "fire"], Expect::Success).await?;
    let end = d.state().await?;

    Ok(vec![
        check("the first malicious plan was cancelled", !d.world.queued(first).await?),
        check("the later plan could not be cancelled once the window ended", d.world.queued(second).await?),
        check("your deposit went into the ESM", end.user.deposit.is_zero() && end.gov.esmSum >= mine),
        check("the ESM reached its minimum", end.gov.esmSum >= start.gov.esmMin),
        check("the ESM fired: the system is shut down", d.world.shut_down().await?),
    ])
}

/// False alarm (`early_return`) and disgruntled minority: the same events until the end.
async fn minority(d: &Drill, early_return: bool) -> Result<Vec<Check>> {
    let c = cast(d);
    let start = d.state().await?;
    let (old_defender, default_spell) = (start.at.defender, start.defender.spell);
    let grants = d.world.accounts[8];
    let legit = |n: u64| async move {
        d.world.mint_spell(c.whale_a, grants, tokens(n), "fund the grants programme").await
    };
    let first = legit(1_000).await?;
    d.world.pass(c.whale_a, tokens(100_000), first).await?;
    d.world.lock_and_vote(c.whale_b, tokens(100_000), first).await?;
    d.event("governance", "passes an executive funding the grants programme (it is legitimate)").await?;
    d.wait(6 * 3600, "a minority believes it is an attack").await?;
    reach_threshold(d, &c).await?;
    d.user(&["cancel", "--all"], Expect::Success).await?;
    d.state().await?;

    end_of_window(d).await?;
    let again = legit(1_000).await?;
    d.world.lock_and_vote(c.whale_b, U256::ZERO, again).await?;
    d.world.pass(c.whale_a, U256::ZERO, again).await?;
    d.event("governance", "passes the executive again; nobody can cancel it now").await?;
    let delay: u64 = d.world.snapshot(d.user).await?.gov.pauseDelay.saturating_to();
    d.wait(delay + 1, "the GSM pause delay").await?;
    d.world.call(c.whale_a, again, crate::chain::bindings::DssExec::castCall {}).await?;
    d.event("anyone", "casts the executive").await?;

    let mut checks = vec![
        check("the first copy of the executive was cancelled", !d.world.queued(first).await?),
        check("the executive passed again and was executed", d.world.spell_done(again).await?),
    ];
    if early_return {
        d.world.lock_and_vote(c.whale_a, U256::ZERO, default_spell).await?;
        d.world.lock_and_vote(c.whale_b, U256::ZERO, default_spell).await?;
        d.world.lift(c.whale_a, default_spell).await?;
        d.event("governance", "holds the depositors acted in good faith: backs and lifts the default spell")
            .await?;
        default_spell_passes(d, c.whale_a, default_spell).await?;
        let before = d.world.snapshot(d.user).await?;
        d.user(&["withdraw", "all", "--defender", &old_defender.to_string()], Expect::Success).await?;
        let end = d.state().await?;
        let old =
            d.world.read(old_defender, crate::chain::bindings::DssDefender::unlockAtCall(d.user)).await?;
        checks.extend([
            check("the default spell was cast", d.world.spell_done(default_spell).await?),
            check("a new defender instance is in the chainlog", end.at.defender != old_defender),
            check(
                "your deposit came back before the lockup ended",
                end.user.govBalance > before.user.govBalance && U256::from(end.now()) < old,
            ),
        ]);
    } else {
        d.event("governance", "holds the depositors stalled governance: they stay locked for the lockup")
            .await?;
        d.user(&["withdraw", "all"], Expect::Refusal).await?;
        let s = d.world.snapshot(d.user).await?;
        let until: u64 = s.user.unlockAt.saturating_to();
        d.wait(until.saturating_sub(s.now()) + 1, "the lockup is over").await?;
        d.user(&["withdraw", "all"], Expect::Success).await?;
        let end = d.state().await?;
        checks.extend([
            check("the default spell was not cast", !d.world.spell_done(default_spell).await?),
            check("the defender is still the same instance", end.at.defender == old_defender),
            check("your deposit came back only after the full lockup", end.user.deposit.is_zero()),
        ]);
    }
    Ok(checks)
}
