//! MIP91's rules, checked on the reference contracts deployed by the devnet on a real anvil.

mod common;

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::rpc::types::TransactionReceipt;
use alloy::sol_types::SolEvent;
use common::{ATTACKER, Chain, Plan, activate, attack, deposit, events, lock_and_vote, mkr_balance, wad};
use defender::chain::addresses::chainlog_key;
use defender::chain::addresses::keys;
use defender::chain::bindings::overloads::{approveAmountCall, chiefVoteYaysCall};
use defender::chain::bindings::{
    ChainLog, DSChief, DSPause, DSToken, DefaultSpell, DefenderAuthority, DssDefender, DssExec, ESM,
};

#[tokio::test]
async fn activates_exactly_at_the_threshold_and_only_once() {
    let chain = Chain::start().await;
    let defender = chain.addr(keys::MCD_DEFENDER);
    let threshold = chain.params.threshold;

    let first = deposit(&chain, chain.holder(0), threshold - U256::from(1)).await;
    assert!(events::<DssDefender::Activate>(&first).is_empty(), "one wei short must not activate");
    assert_eq!(chain.read(defender, DssDefender::activatedAtCall {}).await, U256::ZERO);
    assert!(!chain.read(defender, DssDefender::cancelingCall {}).await);

    let second = deposit(&chain, chain.holder(1), U256::from(1)).await;
    let activations = events::<DssDefender::Activate>(&second);
    assert_eq!(activations.len(), 1);
    assert_eq!(activations[0].total, threshold);
    let activated_at = chain.read(defender, DssDefender::activatedAtCall {}).await;
    assert_eq!(activated_at, U256::from(chain.now().await));
    assert!(chain.read(defender, DssDefender::cancelingCall {}).await);

    // Dropping below the threshold and crossing it again does not activate a second time.
    chain.ok(chain.holder(0), defender, DssDefender::moveToEsmCall { wad: wad(10) }).await;
    chain.warp(3600).await;
    let again = deposit(&chain, chain.holder(2), wad(20)).await;
    assert!(events::<DssDefender::Activate>(&again).is_empty());
    assert_eq!(chain.read(defender, DssDefender::activatedAtCall {}).await, activated_at);

    // After the window, crossing again cannot reopen cancelling either.
    chain.warp(chain.params.cancel_duration.as_secs()).await;
    let late = deposit(&chain, chain.holder(3), wad(1)).await;
    assert!(events::<DssDefender::Activate>(&late).is_empty());
    assert!(!chain.read(defender, DssDefender::cancelingCall {}).await);
}

#[tokio::test]
async fn cancel_works_only_while_canceling_and_for_anyone() {
    let chain = Chain::start().await;
    let defender = chain.addr(keys::MCD_DEFENDER);
    let pause = chain.addr(keys::MCD_PAUSE);
    let plan = attack(&chain).await;
    let stranger = chain.outsider(0).await;
    assert!(chain.read(pause, DSPause::plansCall(plan.id())).await);

    chain.reverts(stranger, defender, plan.cancel(), "DssDefender/not-canceling").await;
    // Without the defender the stranger has no authority over the pause at all.
    let drop = DSPause::dropCall { usr: plan.usr, tag: plan.tag, fax: plan.fax.clone(), eta: plan.eta };
    chain.reverts(stranger, pause, drop, "ds-auth-unauthorized").await;

    activate(&chain).await;
    // Anyone, holding no MKR at all, cancels through the defender.
    let receipt = chain.ok(stranger, defender, plan.cancel()).await;
    let cancels = events::<DssDefender::Cancel>(&receipt);
    assert_eq!(cancels.len(), 1);
    assert_eq!((cancels[0].caller, cancels[0].plan, cancels[0].usr), (stranger, plan.id(), plan.usr));
    assert_eq!(cancels[0].eta, plan.eta);

    // The plan is gone: plans(id) is false and exec fails even after the delay.
    assert!(!chain.read(pause, DSPause::plansCall(plan.id())).await);
    chain.warp(chain.params.pause_delay.as_secs() + 1).await;
    chain.reverts(stranger, plan.spell, DssExec::castCall {}, "ds-pause-unplotted-plan").await;
    let attacker = chain.holder(ATTACKER);
    assert_eq!(mkr_balance(&chain, attacker).await, U256::ZERO, "the attacker's mint never ran");

    // Once the window is over, the defender cannot cancel any more.
    chain.warp(chain.params.cancel_duration.as_secs()).await;
    assert!(!chain.read(defender, DssDefender::cancelingCall {}).await);
    let replot = chain.mint_spell(attacker, attacker, wad(1)).await;
    lock_and_vote_existing(&chain, attacker, replot).await;
    chain.ok(attacker, chain.addr(keys::MCD_ADM), DSChief::liftCall { whom: replot }).await;
    chain.ok(attacker, replot, DssExec::scheduleCall {}).await;
    let second = common::plan_of(&chain, replot).await;
    chain.reverts(stranger, defender, second.cancel(), "DssDefender/not-canceling").await;
}

/// Moves an account's existing chief weight to `spell`.
async fn lock_and_vote_existing(chain: &Chain, who: Address, spell: Address) {
    chain.ok(who, chain.addr(keys::MCD_ADM), chiefVoteYaysCall { yays: vec![spell] }).await;
}

#[tokio::test]
async fn cancelling_a_plan_that_is_not_queued_reverts_with_its_reason() {
    let chain = Chain::start().await;
    let defender = chain.addr(keys::MCD_DEFENDER);
    let plan = attack(&chain).await;
    activate(&chain).await;
    let stranger = chain.outsider(1).await;

    let mut wrong_eta = plan.clone();
    wrong_eta.eta += U256::from(1);
    chain.reverts(stranger, defender, wrong_eta.cancel(), "DssDefender/plan-not-queued").await;

    chain.ok(stranger, defender, plan.cancel()).await;
    chain.reverts(stranger, defender, plan.cancel(), "DssDefender/plan-not-queued").await;
}

#[tokio::test]
async fn lockup_is_enforced_until_it_ends_or_governance_releases() {
    let chain = Chain::start().await;
    let defender = chain.addr(keys::MCD_DEFENDER);
    let (alice, bob) = (chain.holder(0), chain.holder(1));
    let lockup = chain.params.lockup_duration.as_secs();

    let receipt = deposit(&chain, alice, wad(1_000)).await;
    let deposited = &events::<DssDefender::Deposit>(&receipt)[0];
    let unlock_at = U256::from(chain.now().await + lockup);
    assert_eq!((deposited.usr, deposited.wad, deposited.unlockAt), (alice, wad(1_000), unlock_at));
    assert_eq!(chain.read(defender, DssDefender::unlockAtCall(alice)).await, unlock_at);

    chain.warp(lockup / 2).await;
    chain.reverts(alice, defender, DssDefender::withdrawCall { wad: wad(1) }, "DssDefender/locked").await;

    // A later deposit extends the depositor's lockup.
    deposit(&chain, alice, wad(1)).await;
    let extended = U256::from(chain.now().await + lockup);
    assert_eq!(chain.read(defender, DssDefender::unlockAtCall(alice)).await, extended);
    chain.warp(lockup / 2 + 1).await;
    chain.reverts(alice, defender, DssDefender::withdrawCall { wad: wad(1) }, "DssDefender/locked").await;
    chain.warp(lockup / 2).await;
    let before = mkr_balance(&chain, alice).await;
    let receipt = chain.ok(alice, defender, DssDefender::withdrawCall { wad: wad(1_001) }).await;
    assert_eq!(events::<DssDefender::Withdraw>(&receipt)[0].wad, wad(1_001));
    assert_eq!(mkr_balance(&chain, alice).await - before, wad(1_001));
    chain
        .reverts(
            alice,
            defender,
            DssDefender::withdrawCall { wad: wad(1) },
            "DssDefender/insufficient-deposit",
        )
        .await;

    // Release: withdrawals are allowed at once, but only governance can release.
    deposit(&chain, bob, wad(500)).await;
    chain.reverts(bob, defender, DssDefender::releaseCall {}, "DssDefender/not-authorized").await;
    let governance = chain.as_governance().await;
    chain.ok(governance, defender, DssDefender::releaseCall {}).await;
    chain.ok(bob, defender, DssDefender::withdrawCall { wad: wad(500) }).await;
    assert_eq!(mkr_balance(&chain, bob).await, wad(100_000));
    assert_eq!(chain.read(defender, DssDefender::totalCall {}).await, U256::ZERO);
}

#[tokio::test]
async fn move_to_esm_joins_the_esm_during_the_lockup() {
    let chain = Chain::start().await;
    let defender = chain.addr(keys::MCD_DEFENDER);
    let esm = chain.addr(keys::MCD_ESM);
    let alice = chain.holder(0);
    deposit(&chain, alice, wad(30_000)).await;

    let receipt = chain.ok(alice, defender, DssDefender::moveToEsmCall { wad: wad(12_000) }).await;
    let moved = &events::<DssDefender::MoveToEsm>(&receipt)[0];
    assert_eq!((moved.usr, moved.wad), (alice, wad(12_000)));
    assert_eq!(chain.read(esm, ESM::SumCall {}).await, wad(12_000));
    assert_eq!(mkr_balance(&chain, esm).await, wad(12_000));
    assert_eq!(chain.read(defender, DssDefender::depositsCall(alice)).await, wad(18_000));
    assert_eq!(chain.read(defender, DssDefender::totalCall {}).await, wad(18_000));
    // Not the depositor's own MKR: it was locked in the chief through the defender.
    assert_eq!(mkr_balance(&chain, alice).await, wad(70_000));
    chain
        .reverts(
            alice,
            defender,
            DssDefender::moveToEsmCall { wad: wad(18_001) },
            "DssDefender/insufficient-deposit",
        )
        .await;
    let stranger = chain.outsider(0).await;
    chain
        .reverts(
            stranger,
            defender,
            DssDefender::moveToEsmCall { wad: wad(1) },
            "DssDefender/insufficient-deposit",
        )
        .await;

    // Burned for good once anyone calls burn.
    let supply = chain.read(chain.addr(keys::MCD_GOV), DSToken::totalSupplyCall {}).await;
    chain.ok(stranger, esm, ESM::burnCall {}).await;
    let burned = supply - chain.read(chain.addr(keys::MCD_GOV), DSToken::totalSupplyCall {}).await;
    assert_eq!(burned, wad(12_000));
}

#[tokio::test]
async fn cage_stops_deposits_activation_and_cancel_but_not_exits() {
    let chain = Chain::start().await;
    let defender = chain.addr(keys::MCD_DEFENDER);
    let plan = attack(&chain).await;
    let (alice, bob) = (chain.holder(0), chain.holder(1));
    deposit(&chain, alice, wad(40_000)).await;

    let governance = chain.as_governance().await;
    chain.reverts(alice, defender, DssDefender::cageCall {}, "DssDefender/not-authorized").await;
    chain.ok(governance, defender, DssDefender::cageCall {}).await;

    // Deposits stop, so the threshold can no longer be reached...
    chain.ok(bob, chain.addr(keys::MCD_GOV), approveAmountCall { guy: defender, wad: wad(20_000) }).await;
    chain.reverts(bob, defender, DssDefender::depositCall { wad: wad(20_000) }, "DssDefender/not-live").await;
    assert_eq!(chain.read(defender, DssDefender::activatedAtCall {}).await, U256::ZERO);
    chain.reverts(bob, defender, plan.cancel(), "DssDefender/not-canceling").await;

    // ...but the depositor can still leave through the ESM, or by withdrawing after the lockup.
    chain.ok(alice, defender, DssDefender::moveToEsmCall { wad: wad(1_000) }).await;
    chain.warp(chain.params.lockup_duration.as_secs()).await;
    chain.ok(alice, defender, DssDefender::withdrawCall { wad: wad(39_000) }).await;
    assert_eq!(mkr_balance(&chain, alice).await, wad(99_000));
}

#[tokio::test]
async fn an_activated_defender_that_is_caged_stops_cancelling() {
    let chain = Chain::start().await;
    let defender = chain.addr(keys::MCD_DEFENDER);
    let plan = attack(&chain).await;
    activate(&chain).await;
    assert!(chain.read(defender, DssDefender::cancelingCall {}).await);
    let governance = chain.as_governance().await;
    chain.ok(governance, defender, DssDefender::cageCall {}).await;
    assert!(!chain.read(defender, DssDefender::cancelingCall {}).await);
    chain.reverts(chain.holder(2), defender, plan.cancel(), "DssDefender/not-canceling").await;
}

#[tokio::test]
async fn chief_approvals_follow_deposits() {
    let chain = Chain::start().await;
    let defender = chain.addr(keys::MCD_DEFENDER);
    let chief = chain.addr(keys::MCD_ADM);
    let spell = chain.read(defender, DssDefender::spellCall {}).await;
    assert_eq!(spell, chain.deployment.default_spell);
    let approvals = || chain.read(chief, DSChief::approvalsCall(spell));

    assert_eq!(approvals().await, U256::ZERO);
    deposit(&chain, chain.holder(0), wad(10_000)).await;
    deposit(&chain, chain.holder(1), wad(5_000)).await;
    assert_eq!(approvals().await, wad(15_000));
    assert_eq!(chain.read(chief, DSChief::depositsCall(defender)).await, wad(15_000));
    chain.ok(chain.holder(1), defender, DssDefender::moveToEsmCall { wad: wad(2_000) }).await;
    assert_eq!(approvals().await, wad(13_000));
    chain.warp(chain.params.lockup_duration.as_secs()).await;
    chain.ok(chain.holder(0), defender, DssDefender::withdrawCall { wad: wad(10_000) }).await;
    assert_eq!(approvals().await, wad(3_000));
    // The defender's slate is exactly [default spell].
    let slate = chain.read(chief, DSChief::votesCall(defender)).await;
    assert_eq!(chain.read(chief, DSChief::slatesCall { _0: slate, _1: U256::ZERO }).await, spell);
}

#[tokio::test]
async fn default_spell_waits_for_the_window_then_releases_and_replaces_the_instance() {
    let chain = Chain::start().await;
    let old = chain.addr(keys::MCD_DEFENDER);
    let chief = chain.addr(keys::MCD_ADM);
    let authority = chain.addr(keys::MCD_DEFENDER_AUTHORITY);
    let spell = chain.deployment.default_spell;
    let anyone = chain.outsider(2).await;

    chain.reverts(anyone, spell, DefaultSpell::scheduleCall {}, "DefaultSpell/defender-not-activated").await;
    let plan = attack(&chain).await;
    activate(&chain).await;
    chain.ok(anyone, old, plan.cancel()).await;

    // The remaining holders join the depositors behind the default spell and take the hat.
    lock_and_vote(&chain, chain.holder(2), wad(100_000), spell).await;
    lock_and_vote(&chain, chain.holder(3), wad(100_000), spell).await;
    chain.ok(anyone, chief, DSChief::liftCall { whom: spell }).await;
    assert_eq!(chain.read(chief, DSChief::hatCall {}).await, spell);

    // Even as the hat it cannot be scheduled inside the cancel window.
    chain.reverts(anyone, spell, DefaultSpell::scheduleCall {}, "DefaultSpell/cancel-window-open").await;
    chain.warp(chain.params.cancel_duration.as_secs() - 10).await;
    chain.reverts(anyone, spell, DefaultSpell::scheduleCall {}, "DefaultSpell/cancel-window-open").await;
    chain.warp(10).await;
    assert!(!chain.read(old, DssDefender::cancelingCall {}).await);
    chain.ok(anyone, spell, DefaultSpell::scheduleCall {}).await;
    chain.reverts(anyone, spell, DefaultSpell::castCall {}, "ds-pause-premature-exec").await;
    chain.warp(chain.params.pause_delay.as_secs()).await;
    chain.ok(anyone, spell, DefaultSpell::castCall {}).await;

    // Deposits released, the old instance caged, a new live one with the same parameters,
    // and the authority and the chainlog moved to it.
    assert_eq!(chain.read(old, DssDefender::releasedCall {}).await, U256::from(1));
    assert_eq!(chain.read(old, DssDefender::liveCall {}).await, U256::ZERO);
    let new = chain.read(authority, DefenderAuthority::defenderCall {}).await;
    assert_ne!(new, old);
    let registered = chain
        .read(chain.addr(keys::CHANGELOG), ChainLog::getAddressCall { key: chainlog_key(keys::MCD_DEFENDER) })
        .await;
    assert_eq!(registered, new);
    assert_eq!(chain.read(new, DssDefender::liveCall {}).await, U256::from(1));
    assert_eq!(chain.read(new, DssDefender::activatedAtCall {}).await, U256::ZERO);
    assert_eq!(chain.read(new, DssDefender::thresholdCall {}).await, chain.params.threshold);
    assert_eq!(
        chain.read(new, DssDefender::cancelDurationCall {}).await,
        U256::from(chain.params.cancel_duration.as_secs())
    );
    assert_eq!(
        chain.read(new, DssDefender::lockupDurationCall {}).await,
        U256::from(chain.params.lockup_duration.as_secs())
    );
    let new_spell = chain.read(new, DssDefender::spellCall {}).await;
    assert!(new_spell != Address::ZERO && new_spell != spell);
    let governance = chain.addr(keys::MCD_PAUSE_PROXY);
    assert_eq!(chain.read(new, DssDefender::wardsCall(governance)).await, U256::from(1));

    // Depositors take their MKR back long before the lockup ends.
    let alice = chain.holder(0);
    let deposited = chain.read(old, DssDefender::depositsCall(alice)).await;
    chain.ok(alice, old, DssDefender::withdrawCall { wad: deposited }).await;
    assert_eq!(mkr_balance(&chain, alice).await, wad(100_000));
    // The old instance takes no new deposits; the new one does.
    chain
        .reverts(chain.holder(2), old, DssDefender::depositCall { wad: wad(1) }, "DssDefender/not-live")
        .await;
    chain.ok(alice, chain.addr(keys::MCD_GOV), approveAmountCall { guy: new, wad: wad(1) }).await;
    chain.ok(alice, new, DssDefender::depositCall { wad: wad(1) }).await;
    // The spell is spent.
    chain.reverts(anyone, spell, DefaultSpell::castCall {}, "DefaultSpell/already-cast").await;
}

/// ds-note's anonymous LogNote exactly as shared/spec/maker-governance.md describes it: topic0
/// the selector left-aligned, topic1 the caller, topics 2 and 3 the first two calldata words,
/// data = abi.encode(msg.value, msg.data).
fn assert_log_note(receipt: &TransactionReceipt, emitter: Address, caller: Address, calldata: &[u8]) {
    use alloy::sol_types::SolValue;
    let notes: Vec<_> = receipt
        .inner
        .logs()
        .iter()
        .filter(|log| {
            log.address() == emitter && log.topics().first().is_some_and(|t| t[..4] == calldata[..4])
        })
        .collect();
    assert_eq!(notes.len(), 1, "one LogNote for selector 0x{}", hex::encode(&calldata[..4]));
    let log = notes[0];
    let mut selector = [0u8; 32];
    selector[..4].copy_from_slice(&calldata[..4]);
    let word = |offset: usize| {
        let mut w = [0u8; 32];
        let end = calldata.len().min(offset + 32);
        if offset < end {
            w[..end - offset].copy_from_slice(&calldata[offset..end]);
        }
        B256::from(w)
    };
    let topics = log.topics();
    assert_eq!(topics.len(), 4, "anonymous event with four indexed fields");
    assert_eq!(topics[0], B256::from(selector));
    assert_eq!(topics[1], caller.into_word());
    assert_eq!(topics[2], word(4));
    assert_eq!(topics[3], word(36));
    let expected = (U256::ZERO, Bytes::copy_from_slice(calldata)).abi_encode_params();
    assert_eq!(log.data().data.as_ref(), expected.as_slice(), "data is abi.encode(wad, fax)");
    // And it decodes with the binding the client uses for the pause's history.
    let decoded = defender::chain::bindings::LogNote::decode_log(&log.inner).unwrap();
    assert_eq!(decoded.fax.as_ref(), calldata);
    assert_eq!(decoded.guy, caller);
}

#[tokio::test]
async fn log_notes_match_mainnet_byte_for_byte() {
    use alloy::sol_types::SolCall;
    let chain = Chain::start().await;
    let pause = chain.addr(keys::MCD_PAUSE);
    let chief = chain.addr(keys::MCD_ADM);
    let defender = chain.addr(keys::MCD_DEFENDER);
    let attacker = chain.holder(ATTACKER);

    let spell = chain.mint_spell(attacker, attacker, wad(1)).await;
    chain.ok(attacker, chain.addr(keys::MCD_GOV), approveAmountCall { guy: chief, wad: wad(100_000) }).await;
    let lock = chain.ok(attacker, chief, DSChief::lockCall { wad: wad(100_000) }).await;
    assert_log_note(&lock, chief, attacker, &DSChief::lockCall { wad: wad(100_000) }.abi_encode());
    chain.ok(attacker, chief, chiefVoteYaysCall { yays: vec![spell] }).await;
    let lift = chain.ok(attacker, chief, DSChief::liftCall { whom: spell }).await;
    assert_log_note(&lift, chief, attacker, &DSChief::liftCall { whom: spell }.abi_encode());

    let schedule = chain.ok(attacker, spell, DssExec::scheduleCall {}).await;
    let plan = Plan {
        spell,
        usr: chain.read(spell, DssExec::actionCall {}).await,
        tag: chain.read(spell, DssExec::tagCall {}).await,
        fax: chain.read(spell, DssExec::sigCall {}).await,
        eta: chain.read(spell, DssExec::etaCall {}).await,
    };
    let plot =
        DSPause::plotCall { usr: plan.usr, tag: plan.tag, fax: plan.fax.clone(), eta: plan.eta }.abi_encode();
    assert_eq!(&plot[..4], &[0x46, 0xd2, 0xfb, 0xbb]);
    assert_log_note(&schedule, pause, spell, &plot);

    activate(&chain).await;
    let cancel = chain.ok(chain.holder(2), defender, plan.cancel()).await;
    let drop =
        DSPause::dropCall { usr: plan.usr, tag: plan.tag, fax: plan.fax.clone(), eta: plan.eta }.abi_encode();
    assert_log_note(&cancel, pause, defender, &drop);

    // exec's note is emitted too, even though this exec then reverts on the dropped plan:
    // check it on a plan that runs.
    let honest = chain.mint_spell(attacker, chain.holder(3), wad(1)).await;
    chain.ok(attacker, chief, chiefVoteYaysCall { yays: vec![honest] }).await;
    chain.ok(attacker, chief, DSChief::liftCall { whom: honest }).await;
    chain.warp(chain.params.cancel_duration.as_secs()).await;
    chain.ok(attacker, honest, DssExec::scheduleCall {}).await;
    chain.warp(chain.params.pause_delay.as_secs()).await;
    let cast = chain.ok(attacker, honest, DssExec::castCall {}).await;
    let exec = DSPause::execCall {
        usr: chain.read(honest, DssExec::actionCall {}).await,
        tag: chain.read(honest, DssExec::tagCall {}).await,
        fax: chain.read(honest, DssExec::sigCall {}).await,
        eta: chain.read(honest, DssExec::etaCall {}).await,
    }
    .abi_encode();
    assert_log_note(&cast, pause, honest, &exec);
    assert_eq!(mkr_balance(&chain, chain.holder(3)).await, wad(100_001), "the executed plan ran");
}
