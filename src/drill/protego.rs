//! The Protego scenarios: an attack on governance as mainnet runs today (the new Chief voting
//! with SKY, DSPause under it, Protego), met by lifting Protego itself (blanket) or a drop
//! spell per plot (targeted). Both are a fight for the hat in two rounds, because the attacker
//! can buy more SKY and take the hat back once the chief's lift cooldown allows; in the second
//! round the user's `defender watch` runs in the background and must drop the new plot in the
//! block after the defenders' lift. The verdicts read the chain's own record, never the
//! commands' output.

use std::time::Duration;

use alloy::primitives::{Address, U256};
use anyhow::{Result, bail};

use super::world::tokens;
use super::{Check, Drill, Expect, check};
use crate::chain::bindings::DssExec;
use crate::chain::governance::LiftWindow;
use crate::chain::pause_log::PlanKey;
use crate::units::format_token;

/// How the defenders drop the attacker's plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Lift Protego itself: then anyone drops any plan through it.
    Blanket,
    /// Lift an EmergencyDropSpell made for exactly the attacker's plan.
    Targeted,
}

/// SKY amounts of the story (each test holder starts with 2,400,000,000 SKY).
const ATTACKER_FIRST_PURCHASE: u64 = 600_000_000;
const ATTACKER_SECOND_PURCHASE: u64 = 1_800_000_000;
const YOUR_FIRST_LOCK: u64 = 2_000_000_000;
const HOLDER_1_LOCK: u64 = 1_500_000_000;
const HOLDER_2_LOCK: u64 = 2_400_000_000;
/// What the attacker's spells would mint it.
const MINTED_BY_ATTACK: u64 = 10_000_000_000;
/// How long watch has to drop the second plot after the lift before its verdict fails.
const WATCH_TIMEOUT: Duration = Duration::from_secs(30);

/// The other actors: anvil's accounts 1 to 4, named in the timeline "holder N" (3 sells the
/// attacker its SKY; 4 is the attacker).
struct Cast {
    holder_1: Address,
    holder_2: Address,
    seller: Address,
    attacker: Address,
}

fn cast(d: &Drill) -> Cast {
    let a = &d.world.accounts;
    Cast { holder_1: a[1], holder_2: a[2], seller: a[3], attacker: a[4] }
}

fn sky(n: u64) -> String {
    format_token(tokens(n), 18)
}

/// What the defenders vote for and lift in a round, and the flags that name it.
#[derive(Clone, Copy)]
struct Target {
    address: Address,
    route: Route,
}

impl Target {
    fn flags(&self) -> Vec<String> {
        match self.route {
            Route::Blanket => vec!["--protego".into()],
            Route::Targeted => vec!["--spell".into(), self.address.to_string()],
        }
    }

    fn name(&self) -> String {
        match self.route {
            Route::Blanket => "Protego".into(),
            Route::Targeted => format!("the drop spell {}", self.address),
        }
    }
}

/// One round's attack: the attacker buys `purchase` SKY, locks its whole wallet behind a new
/// minting spell (what it locked before moves along), waits out the cooldown if it must,
/// lifts and plots.
async fn attack(d: &Drill, c: &Cast, purchase: u64, what: &str) -> Result<PlanKey> {
    d.world.sell_gov(c.seller, c.attacker, tokens(purchase)).await?;
    let spell = d
        .world
        .mint_spell(c.attacker, c.attacker, tokens(MINTED_BY_ATTACK), "mint SKY to the attacker")
        .await?;
    let wallet = d.world.snapshot(c.attacker).await?.user.govBalance;
    d.world.lock_and_vote(c.attacker, wallet, spell).await?;
    let locked = d.world.snapshot(c.attacker).await?.user.chiefDeposits;
    d.event(
        "attacker",
        &format!(
            "buys {} SKY (holder 3 sells it) and {what}: {} SKY locked in all",
            sky(purchase),
            format_token(locked, 18)
        ),
    )
    .await?;
    d.mine_out_lift_cooldown("the attacker waits out the chief's lift cooldown").await?;
    d.world.lift(c.attacker, spell).await?;
    d.world.call(c.attacker, spell, DssExec::scheduleCall {}).await?;
    let plan = d.world.plotted_by(spell).await?;
    let delay: u64 = d.world.snapshot(d.user).await?.gov.pauseDelay.saturating_to();
    d.event(
        "attacker",
        &format!(
            "lifts it to the hat and plots it: plan {} executable in {}",
            plan.id(),
            crate::units::format_duration(delay)
        ),
    )
    .await?;
    d.state().await?;
    Ok(plan)
}

/// The target of a round: Protego, or a drop spell the user deploys with `drop-spell --all`
/// (its address read from Protego's `Deploy` event, not from the command's output).
async fn target(d: &Drill, route: Route) -> Result<Target> {
    let protego = d.world.snapshot(d.user).await?.at.protego;
    if route == Route::Blanket {
        return Ok(Target { address: protego, route });
    }
    let from = d.world.block_number().await? + 1;
    d.user(&["drop-spell", "--all"], Expect::Success).await?;
    let deployed = d.world.drop_spells_since(from).await?;
    let [spell] = deployed[..] else {
        bail!(
            "`defender drop-spell --all` should have deployed one drop spell; Protego made {}",
            deployed.len()
        )
    };
    d.event("", &format!("Protego deployed the drop spell {spell} for the open plan")).await?;
    Ok(Target { address: spell, route })
}

/// The user's lift: shown refused inside the cooldown, then run once blocks have passed.
async fn lift(d: &Drill, target: Target) -> Result<()> {
    let mut args = vec!["lift".to_owned()];
    args.extend(target.flags());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if let LiftWindow::From(_) = d.world.snapshot(d.user).await?.lift_window() {
        d.user(&args, Expect::Refusal).await?;
        d.mine_out_lift_cooldown("the chief's lift cooldown is over").await?;
    }
    d.user(&args, Expect::Success).await?;
    d.state().await?;
    Ok(())
}

async fn vote(d: &Drill, target: Target, lock: &str) -> Result<()> {
    let mut args = vec!["vote".to_owned()];
    args.extend(target.flags());
    args.extend(["--lock".to_owned(), lock.to_owned()]);
    d.user(&args.iter().map(String::as_str).collect::<Vec<_>>(), Expect::Success).await
}

/// What a round left behind, for the verdict.
struct Round {
    plan: PlanKey,
    target: Target,
}

pub async fn play(d: &Drill, route: Route) -> Result<Vec<Check>> {
    let c = cast(d);
    let start = d.state().await?;
    if !start.is_sky() || start.at.protego == Address::ZERO {
        bail!("the Protego scenarios need the Sky layout (`defender devnet --layout sky`)");
    }
    let attacker_before = d.world.gov_holdings(c.attacker).await?;
    let first = first_round(d, &c, route).await?;
    let (second, watch) = second_round(d, &c, route).await?;

    // Whether the plans are gone is read before the attacker's attempts: an executed plan
    // leaves the pause too.
    let gone = [!d.world.planned(first.plan.id()).await?, !d.world.planned(second.plan.id()).await?];
    let delay: u64 = d.world.snapshot(d.user).await?.gov.pauseDelay.saturating_to();
    d.wait(delay + 1, "both plans' etas are past").await?;
    let mut refused = Vec::new();
    for round in [&first, &second] {
        let id = round.plan.id();
        let revert = d.world.try_exec(c.attacker, &round.plan).await?;
        let what = match &revert {
            Some(message) => format!("tries to execute plan {id}: reverted{}", reason(message)),
            None => format!("EXECUTES plan {id}: its spell runs as governance"),
        };
        d.event("attacker", &what).await?;
        refused.push(revert.is_some());
    }
    let end = d.state().await?;

    let mut checks = Vec::new();
    for (n, (round, (gone, refused))) in
        ["first", "second"].into_iter().zip([&first, &second].into_iter().zip(gone.into_iter().zip(refused)))
    {
        let (plan, target) = (&round.plan, round.target);
        checks.push(check(format!("before its eta, the attacker's {n} plan was gone from the pause"), gone));
        let dropped = d.world.dropped(plan.id()).await?;
        checks.push(check(
            format!("the {n} plan was dropped through {}", target.name()),
            dropped.is_some_and(|drop| drop.caller == target.address),
        ));
        if route == Route::Targeted {
            checks.push(check(
                format!("the {n} drop spell was made for exactly the {n} plan"),
                d.world.drop_spell_target(target.address).await? == plan.id(),
            ));
        }
        checks.push(check(
            format!("after its eta, the attacker's execution of the {n} plan reverts"),
            plan.eta <= U256::from(end.now()) && refused,
        ));
    }
    let lifted = d.world.last_lift_of(second.target.address).await?;
    let watch_drop = d.world.dropped(second.plan.id()).await?;
    checks.push(check(
        "watch dropped the second plot in the block after your lift, signed by you",
        watch.ran_to_the_end
            && matches!((lifted, watch_drop), (Some(lift), Some(drop)) if drop.block == lift + 1 && drop.sender == d.user),
    ));
    checks.push(check(
        "no attacker spell executed: the attacker holds no more SKY than it had and bought",
        d.world.gov_holdings(c.attacker).await?
            <= attacker_before + tokens(ATTACKER_FIRST_PURCHASE + ATTACKER_SECOND_PURCHASE),
    ));
    let hat = match route {
        Route::Blanket => "Protego holds the hat",
        Route::Targeted => "the second drop spell holds the hat",
    };
    checks.push(check(hat, end.gov.hat == second.target.address));
    Ok(checks)
}

/// The attack, and the defenders' answer by hand: vote, wait out the cooldown, lift, drop.
async fn first_round(d: &Drill, c: &Cast, route: Route) -> Result<Round> {
    let plan =
        attack(d, c, ATTACKER_FIRST_PURCHASE, "locks all its SKY behind a spell minting SKY to itself")
            .await?;
    d.user(&["queue"], Expect::Success).await?;
    let target = target(d, route).await?;
    vote(d, target, &YOUR_FIRST_LOCK.to_string()).await?;
    d.world.lock_and_vote(c.holder_1, tokens(HOLDER_1_LOCK), target.address).await?;
    d.event("holder 1", &format!("locks {} SKY for {}", sky(HOLDER_1_LOCK), target.name())).await?;
    lift(d, target).await?;
    d.user(&["cancel", "--all"], Expect::Success).await?;
    d.state().await?;
    Ok(Round { plan, target })
}

/// How the user's watch fared in the second round.
struct WatchOutcome {
    /// Still running when the drill stopped it (one that died failed, whatever it did).
    ran_to_the_end: bool,
}

/// The attacker takes the hat back and plots again; the defenders out-vote it and the user
/// lifts, and the user's watch, running since the round began, must do the dropping.
async fn second_round(d: &Drill, c: &Cast, route: Route) -> Result<(Round, WatchOutcome)> {
    let watcher = d.start_watch(d.world.block_number().await? + 1).await?;
    let plan = attack(
        d,
        c,
        ATTACKER_SECOND_PURCHASE,
        "locks it too, moving all its weight to a second minting spell",
    )
    .await?;
    let target = target(d, route).await?;
    vote(d, target, "all").await?;
    let moved = if route == Route::Targeted {
        d.world.lock_and_vote(c.holder_1, U256::ZERO, target.address).await?;
        "holder 1 moves its vote to it, "
    } else {
        ""
    };
    d.world.lock_and_vote(c.holder_2, tokens(HOLDER_2_LOCK), target.address).await?;
    d.event("holders", &format!("{moved}holder 2 locks {} SKY for {}", sky(HOLDER_2_LOCK), target.name()))
        .await?;
    lift(d, target).await?;
    // Nothing else is sent now: the next block is watch's.
    let dropped = d.world.wait_until_dropped(plan.id(), WATCH_TIMEOUT).await?;
    if dropped {
        d.event("", "watch dropped the new plot").await?;
    }
    let said = watcher.output();
    let ran_to_the_end = watcher.stop();
    if !dropped {
        let late = format!("watch did not drop plan {} within {WATCH_TIMEOUT:?}", plan.id());
        // In text its lines are already in the timeline; with --json stderr is all there is.
        if d.json {
            eprintln!("{late}; it said:\n{said}");
        } else {
            d.event("", &late).await?;
        }
    }
    Ok((Round { plan, target }, WatchOutcome { ran_to_the_end }))
}

/// The revert reason in a node's error message, for the verdict line.
fn reason(message: &str) -> String {
    let found = ["ds-pause-unplotted-plan", "ds-pause-premature-exec", "ds-pause-wrong-codehash"]
        .into_iter()
        .find(|r| message.contains(r));
    found.map(|r| format!(" ({r})")).unwrap_or_default()
}
