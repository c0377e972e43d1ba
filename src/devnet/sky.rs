//! The Sky layout: mainnet as it runs today (shared/spec/sky-governance.md), for drills and
//! tests of the tool against the governance a holder meets now.
//!
//! The new Chief votes with SKY and rules DSPause directly (no DefenderAuthority, no
//! dss-defender); MKR converts one way through MKR_SKY; Protego waits to be lifted; the ESM takes
//! MKR but can never fire; DSChief 1.2 stays as MCD_ADM_LEGACY with MKR still locked in it.

use alloy::primitives::{Address, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::sol_types::{SolCall, SolValue};
use anyhow::Result;

use super::deploy::{
    DeployParams, Deployment, Sender, accounts, deploy_ds_chief, deploy_esm, safe_owners, symbol,
};
use crate::chain::addresses::{AddressBook, chainlog_key, keys};
use crate::chain::bindings::overloads::{approveAmountCall, mintToCall, skyChiefVoteYaysCall};
use crate::chain::bindings::{ChainLog, Chief, DSChief, DSPause, DSToken, MkrSky, Sky, bytecode};
use crate::units::WAD;

/// Mainnet's figures: 24,000 SKY per MKR, the fee since March 2026, the new Chief's settings.
const RATE: u64 = 24_000;
const FEE_PERCENT: u64 = 3;
const MAX_YAYS: u64 = 5;
const LAUNCH_THRESHOLD_SKY: u64 = 2_400_000_000;
const LIFT_COOLDOWN_BLOCKS: u64 = 10;
/// What each test holder gets, and what accounts 3 and 4 keep locked in the legacy chief.
const HOLDER_SKY: u64 = 2_400_000_000;
const LEGACY_LOCKED_MKR: u64 = 10_000;
const LEGACY_HOLDERS: [usize; 2] = [3, 4];
/// MKR the demo Safe holds beside its SKY, to convert.
const SAFE_MKR: u64 = 1_000;

fn tokens(n: u64) -> U256 {
    U256::from(n) * WAD
}

pub async fn deploy(provider: &DynProvider, params: &DeployParams) -> Result<Deployment> {
    let (deployer, holders, chain_id) = accounts(provider, params).await?;
    let tx = Sender { provider, from: deployer };
    let p = provider;

    // MKR and, beside it, the old chief that still holds some of it.
    let mkr = tx.create(bytecode::DS_TOKEN, (symbol("MKR"),).abi_encode_params(), "MKR").await?;
    let mkr_token = DSToken::new(mkr, p);
    tx.call(mkr, mkr_token.setName(symbol("Maker")).calldata(), "MKR.setName").await?;
    let (legacy_chief, legacy_iou) = deploy_ds_chief(&tx, mkr).await?;
    let legacy_delegates = tx
        .create(
            bytecode::VOTE_DELEGATE_FACTORY,
            (legacy_chief, Address::ZERO).abi_encode_params(),
            "VoteDelegateFactory (legacy)",
        )
        .await?;
    let vote_proxy_factory = tx
        .create(bytecode::VOTE_PROXY_FACTORY, (legacy_chief,).abi_encode_params(), "VoteProxyFactory")
        .await?;

    // SKY and the converter.
    let sky = tx.create(bytecode::SKY, Vec::new(), "SKY").await?;
    let sky_token = Sky::new(sky, p);
    let converter =
        tx.create(bytecode::MKR_SKY, (mkr, sky, U256::from(RATE)).abi_encode_params(), "MkrSky").await?;
    let mkr_sky = MkrSky::new(converter, p);
    let fee = WAD * U256::from(FEE_PERCENT) / U256::from(100);
    tx.call(converter, mkr_sky.file(chainlog_key("fee"), fee).calldata(), "MkrSky.file(fee)").await?;

    // The new Chief, launched as its rule requires: launchThreshold on the empty address, then
    // taken back in a later block (free is refused in the launch's block).
    let threshold = tokens(LAUNCH_THRESHOLD_SKY);
    let chief_addr = tx
        .create(
            bytecode::CHIEF,
            (sky, U256::from(MAX_YAYS), threshold, U256::from(LIFT_COOLDOWN_BLOCKS)).abi_encode_params(),
            "Chief",
        )
        .await?;
    let chief = Chief::new(chief_addr, p);
    tx.call(sky, sky_token.mint(deployer, threshold).calldata(), "SKY.mint (launch)").await?;
    tx.call(sky, sky_token.approve(chief_addr, threshold).calldata(), "SKY.approve (launch)").await?;
    let vote =
        |yays: Vec<Address>| alloy::primitives::Bytes::from(skyChiefVoteYaysCall { yays }.abi_encode());
    tx.call(chief_addr, &vote(vec![Address::ZERO]), "Chief.vote (launch)").await?;
    tx.call(chief_addr, chief.lock(threshold).calldata(), "Chief.lock (launch)").await?;
    tx.call(chief_addr, chief.launch().calldata(), "Chief.launch").await?;
    tx.call(chief_addr, &vote(vec![]), "Chief.vote (after launch)").await?;
    tx.call(chief_addr, chief.free(threshold).calldata(), "Chief.free (launch)").await?;
    tx.call(sky, sky_token.burn(deployer, threshold).calldata(), "SKY.burn (launch)").await?;

    // The pause answers to the new Chief's hat directly.
    let delay = U256::from(params.pause_delay.as_secs());
    let pause = tx
        .create(bytecode::DS_PAUSE, (delay, Address::ZERO, chief_addr).abi_encode_params(), "DSPause")
        .await?;
    let pause_proxy = DSPause::new(pause, p).proxy().call().await?;

    let chainlog_addr = tx.create(bytecode::CHAIN_LOG, Vec::new(), "ChainLog").await?;
    let chainlog = ChainLog::new(chainlog_addr, p);
    let protego = tx.create(bytecode::PROTEGO, (pause, chainlog_addr).abi_encode_params(), "Protego").await?;

    // The ESM of today: it takes MKR, but its min is 2^256-1, so it never fires.
    let (end_addr, esm_addr) = deploy_esm(&tx, mkr, pause_proxy, U256::MAX).await?;

    let delegates = tx
        .create(
            bytecode::SKY_VOTE_DELEGATE_FACTORY,
            (chief_addr, Address::ZERO).abi_encode_params(),
            "SkyVoteDelegateFactory",
        )
        .await?;

    // The chainlog has mainnet's keys; MCD_ADM_LEGACY is only in the address book, as on
    // mainnet, where the old chief has no key any more.
    let mut book = AddressBook::new(chain_id, None);
    book.insert(keys::CHANGELOG, chainlog_addr);
    book.insert(keys::MCD_ADM_LEGACY, legacy_chief);
    book.insert(keys::MCD_IOU_LEGACY, legacy_iou);
    for (key, address) in [
        (keys::MCD_ADM, chief_addr),
        (keys::MCD_GOV, sky),
        (keys::MKR, mkr),
        (keys::MKR_SKY, converter),
        (keys::MCD_PAUSE, pause),
        (keys::MCD_PAUSE_PROXY, pause_proxy),
        (keys::MCD_PROTEGO, protego),
        (keys::MCD_ESM, esm_addr),
        (keys::MCD_END, end_addr),
        (keys::VOTE_DELEGATE_FACTORY, delegates),
        (keys::VOTE_DELEGATE_FACTORY_LEGACY, legacy_delegates),
        (keys::VOTE_PROXY_FACTORY, vote_proxy_factory),
    ] {
        book.insert(key, address);
        let what = format!("ChainLog.setAddress({key})");
        tx.call(chainlog_addr, chainlog.setAddress(chainlog_key(key), address).calldata(), &what).await?;
    }
    tx.call(chainlog_addr, chainlog.setVersion("1.20.19-devnet".into()).calldata(), "ChainLog.setVersion")
        .await?;
    tx.call(chainlog_addr, chainlog.rely(pause_proxy).calldata(), "ChainLog.rely").await?;
    tx.call(chainlog_addr, chainlog.deny(deployer).calldata(), "ChainLog.deny").await?;

    // Holders: SKY and MKR each; two of them with MKR still locked in the old chief.
    let mut mkr_minted = U256::ZERO;
    for (i, holder) in holders.iter().enumerate() {
        let legacy = LEGACY_HOLDERS.contains(&i);
        let mkr_amount = params.holder_balance + if legacy { tokens(LEGACY_LOCKED_MKR) } else { U256::ZERO };
        mkr_minted += mkr_amount;
        let mint = mintToCall { guy: *holder, wad: mkr_amount }.abi_encode().into();
        tx.call(mkr, &mint, "MKR.mint").await?;
        tx.call(sky, sky_token.mint(*holder, tokens(HOLDER_SKY)).calldata(), "SKY.mint").await?;
        if legacy {
            let as_holder = Sender { provider, from: *holder };
            let locked = tokens(LEGACY_LOCKED_MKR);
            let approve = approveAmountCall { guy: legacy_chief, wad: locked }.abi_encode().into();
            as_holder.call(mkr, &approve, "MKR.approve (legacy chief)").await?;
            let lock = DSChief::new(legacy_chief, p);
            as_holder.call(legacy_chief, lock.lock(locked).calldata(), "DSChief.lock (legacy)").await?;
        }
    }
    // The demo Safe: a holder's SKY and some MKR.
    let safe = super::safe::deploy(&tx, safe_owners(provider).await?, &mut book).await?;
    tx.call(sky, sky_token.mint(safe, tokens(HOLDER_SKY)).calldata(), "SKY.mint (Safe)").await?;
    let safe_mkr = tokens(SAFE_MKR);
    tx.call(mkr, &mintToCall { guy: safe, wad: safe_mkr }.abi_encode().into(), "MKR.mint (Safe)").await?;
    mkr_minted += safe_mkr;
    // The converter pays out of its own SKY: enough for every MKR minted here.
    let reserve = mkr_minted * U256::from(RATE);
    tx.call(sky, sky_token.mint(converter, reserve).calldata(), "SKY.mint (converter)").await?;

    // Governance takes the tokens and the converter; the deployer keeps nothing.
    tx.call(sky, sky_token.rely(pause_proxy).calldata(), "SKY.rely").await?;
    tx.call(sky, sky_token.deny(deployer).calldata(), "SKY.deny").await?;
    tx.call(converter, mkr_sky.rely(pause_proxy).calldata(), "MkrSky.rely").await?;
    tx.call(converter, mkr_sky.deny(deployer).calldata(), "MkrSky.deny").await?;
    tx.call(mkr, mkr_token.setOwner(pause_proxy).calldata(), "MKR.setOwner").await?;

    let block = provider.get_block_number().await?;
    Ok(Deployment { book, deployer, holders, default_spell: Address::ZERO, block })
}
