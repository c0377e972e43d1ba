//! Deploys the reference contracts and wires them as mainnet is wired.
//!
//! Mainnet's shape: DSChief 1.2 launched and voting with MKR; DSPause (owner none) whose
//! authority is DefenderAuthority over the chief's hat; ESM v2 over the pause proxy; a chainlog
//! owned by governance; MKR owned by governance (the pause proxy) so a spell can mint, which
//! makes a malicious spell's damage visible. The deployer keeps no rights afterwards.

use std::time::Duration;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::sol_types::{SolCall, SolEvent, SolValue};
use anyhow::{Context, Result, bail, ensure};

use crate::chain::addresses::{AddressBook, chainlog_key, keys};
use crate::chain::anvil::StuckPoolGuard;
use crate::chain::bindings::overloads::{approveAmountCall, burnOwnCall, chiefVoteYaysCall, mintToCall};
use crate::chain::bindings::{
    ChainLog, DSChief, DSToken, DefenderAuthority, DefenderFab, ESM, End, bytecode,
};
use crate::units::WAD;

/// Which world the devnet stands up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// MIP91: DSChief 1.2 voting with MKR, the reference dss-defender, a live ESM.
    #[default]
    Mip91,
    /// Mainnet as it runs today: the new Chief voting with SKY, MKR_SKY, Protego, the ESM
    /// switched off, DSChief 1.2 kept as MCD_ADM_LEGACY.
    Sky,
}

/// MIP91's example parameters and mainnet's GSM delay, overridable from the command line.
#[derive(Debug, Clone)]
pub struct DeployParams {
    pub layout: Layout,
    pub threshold: U256,
    pub cancel_duration: Duration,
    pub lockup_duration: Duration,
    pub pause_delay: Duration,
    pub esm_min: U256,
    /// MKR minted to each of the first `holders` test accounts.
    pub holder_balance: U256,
    pub holders: usize,
}

impl Default for DeployParams {
    fn default() -> Self {
        Self {
            layout: Layout::Mip91,
            threshold: U256::from(50_000u64) * WAD,
            cancel_duration: Duration::from_secs(7 * 24 * 3600),
            lockup_duration: Duration::from_secs(30 * 24 * 3600),
            pause_delay: Duration::from_secs(48 * 3600),
            esm_min: U256::from(100_000u64) * WAD,
            holder_balance: U256::from(100_000u64) * WAD,
            holders: 5,
        }
    }
}

/// What a deployment produced.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub book: AddressBook,
    /// The account that deployed everything (anvil's account 9); it holds no rights afterwards.
    pub deployer: Address,
    /// Test accounts that were given MKR, in anvil's order.
    pub holders: Vec<Address>,
    /// The default spell of the first defender instance.
    pub default_spell: Address,
    /// Block of the last deployment transaction.
    pub block: u64,
}

/// DSChief 1.2's `launch()` needs this much weight on the empty address first.
pub(crate) const LAUNCH_WEIGHT: u64 = 80_000;
/// Mainnet's DSChief 1.2 allows five yays per slate.
pub(crate) const MAX_YAYS: u64 = 5;

/// Deploys everything through `provider`, whose node must hold anvil's unlocked test accounts.
pub async fn deploy(provider: &DynProvider, params: &DeployParams) -> Result<Deployment> {
    match params.layout {
        Layout::Mip91 => deploy_mip91(provider, params).await,
        Layout::Sky => super::sky::deploy(provider, params).await,
    }
}

async fn deploy_mip91(provider: &DynProvider, params: &DeployParams) -> Result<Deployment> {
    let (deployer, holders, chain_id) = accounts(provider, params).await?;
    let tx = Sender { provider, from: deployer };
    let p = provider;

    // Tokens: MKR, then DSChief 1.2 and its IOU.
    let mkr = tx.create(bytecode::DS_TOKEN, (symbol("MKR"),).abi_encode_params(), "MKR").await?;
    let gov = DSToken::new(mkr, p);
    tx.call(mkr, gov.setName(symbol("Maker")).calldata(), "MKR.setName").await?;
    let (chief_addr, iou) = deploy_ds_chief(&tx, mkr).await?;

    // DSPause's authority is fixed at construction and afterwards only the pause proxy may
    // change it, so DefenderAuthority is deployed first against the pause's future address.
    let nonce = provider.get_transaction_count(deployer).await?;
    let pause_addr = deployer.create(nonce + 1);
    let authority_addr = tx
        .create(
            bytecode::DEFENDER_AUTHORITY,
            (chief_addr, pause_addr).abi_encode_params(),
            "DefenderAuthority",
        )
        .await?;
    let delay = U256::from(params.pause_delay.as_secs());
    let deployed_pause = tx
        .create(bytecode::DS_PAUSE, (delay, Address::ZERO, authority_addr).abi_encode_params(), "DSPause")
        .await?;
    ensure!(deployed_pause == pause_addr, "DSPause landed at {deployed_pause}, expected {pause_addr}");
    let pause_proxy = crate::chain::bindings::DSPause::new(pause_addr, p).proxy().call().await?;

    // Emergency shutdown: End stand-in and ESM v2 over the pause proxy.
    let (end_addr, esm_addr) = deploy_esm(&tx, mkr, pause_proxy, params.esm_min).await?;

    // The chainlog, then the first defender instance through the factory.
    let chainlog_addr = tx.create(bytecode::CHAIN_LOG, Vec::new(), "ChainLog").await?;
    let chainlog = ChainLog::new(chainlog_addr, p);
    let fab_addr = tx.create(bytecode::DEFENDER_FAB, Vec::new(), "DefenderFab").await?;
    let fab = DefenderFab::new(fab_addr, p);
    let receipt = tx
        .call(
            fab_addr,
            fab.newDefender(
                chief_addr,
                pause_addr,
                esm_addr,
                params.threshold,
                U256::from(params.cancel_duration.as_secs()),
                U256::from(params.lockup_duration.as_secs()),
                authority_addr,
                chainlog_addr,
                pause_proxy,
            )
            .calldata(),
            "DefenderFab.newDefender",
        )
        .await?;
    let created = receipt
        .inner
        .logs()
        .iter()
        .find_map(|log| DefenderFab::NewDefender::decode_log(&log.inner).ok())
        .context("DefenderFab.newDefender emitted no NewDefender event")?;
    let (defender_addr, default_spell) = (created.defender, created.spell);

    let authority = DefenderAuthority::new(authority_addr, p);
    tx.call(authority_addr, authority.setDefender(defender_addr).calldata(), "DefenderAuthority.setDefender")
        .await?;
    tx.call(authority_addr, authority.rely(pause_proxy).calldata(), "DefenderAuthority.rely").await?;
    tx.call(authority_addr, authority.deny(deployer).calldata(), "DefenderAuthority.deny").await?;

    let vote_delegate_factory = tx
        .create(
            bytecode::VOTE_DELEGATE_FACTORY,
            (chief_addr, Address::ZERO).abi_encode_params(),
            "VoteDelegateFactory",
        )
        .await?;
    let vote_proxy_factory = tx
        .create(bytecode::VOTE_PROXY_FACTORY, (chief_addr,).abi_encode_params(), "VoteProxyFactory")
        .await?;

    let mut book = AddressBook::new(chain_id, None);
    for (key, address) in [
        (keys::CHANGELOG, chainlog_addr),
        (keys::MCD_GOV, mkr),
        (keys::MCD_IOU, iou),
        (keys::MCD_ADM, chief_addr),
        (keys::MCD_PAUSE, pause_addr),
        (keys::MCD_PAUSE_PROXY, pause_proxy),
        (keys::MCD_ESM, esm_addr),
        (keys::MCD_END, end_addr),
        (keys::VOTE_DELEGATE_FACTORY, vote_delegate_factory),
        (keys::VOTE_PROXY_FACTORY, vote_proxy_factory),
        (keys::MCD_DEFENDER, defender_addr),
        (keys::MCD_DEFENDER_AUTHORITY, authority_addr),
        (keys::MCD_DEFENDER_FAB, fab_addr),
    ] {
        book.insert(key, address);
        if key != keys::CHANGELOG {
            let what = format!("ChainLog.setAddress({key})");
            tx.call(chainlog_addr, chainlog.setAddress(chainlog_key(key), address).calldata(), &what).await?;
        }
    }
    tx.call(chainlog_addr, chainlog.setVersion("1.0.0-devnet".into()).calldata(), "ChainLog.setVersion")
        .await?;
    tx.call(chainlog_addr, chainlog.rely(pause_proxy).calldata(), "ChainLog.rely").await?;
    tx.call(chainlog_addr, chainlog.deny(deployer).calldata(), "ChainLog.deny").await?;

    // The demo Safe, with as much MKR as a holder.
    let safe = super::safe::deploy(&tx, safe_owners(provider).await?, &mut book).await?;
    // Holders' MKR, then hand the token to governance and drop the deployer's rights.
    for holder in holders.iter().chain([&safe]) {
        tx.call(
            mkr,
            &mintToCall { guy: *holder, wad: params.holder_balance }.abi_encode().into(),
            "MKR.mint",
        )
        .await?;
    }
    tx.call(mkr, gov.setOwner(pause_proxy).calldata(), "MKR.setOwner").await?;

    let block = provider.get_block_number().await?;
    Ok(Deployment { book, deployer, holders, default_spell, block })
}

/// The deployer (anvil's account 9), the first `params.holders` accounts, and the chain id.
pub(crate) async fn accounts(
    provider: &DynProvider,
    params: &DeployParams,
) -> Result<(Address, Vec<Address>, u64)> {
    let accounts = provider.get_accounts().await.context("cannot list the node's accounts")?;
    ensure!(
        accounts.len() > params.holders && accounts.len() >= 10,
        "the node has {} unlocked accounts; the devnet needs anvil's 10 test accounts",
        accounts.len()
    );
    Ok((accounts[9], accounts[..params.holders].to_vec(), provider.get_chain_id().await?))
}

/// anvil's accounts that own the demo Safe.
pub(crate) async fn safe_owners(provider: &DynProvider) -> Result<Vec<Address>> {
    let accounts = provider.get_accounts().await.context("cannot list the node's accounts")?;
    Ok(super::safe::DEMO_OWNERS.iter().map(|&i| accounts[i]).collect())
}

/// End and ESM v2 taking `gem`, both answering to the pause proxy; `min` 2^256-1 switches the
/// ESM off as mainnet did in 2025. Returns (End, ESM).
pub(crate) async fn deploy_esm(
    tx: &Sender<'_>,
    gem: Address,
    pause_proxy: Address,
    min: U256,
) -> Result<(Address, Address)> {
    let (p, deployer) = (tx.provider, tx.from);
    let end_addr = tx.create(bytecode::END, Vec::new(), "End").await?;
    let end = End::new(end_addr, p);
    let esm_addr =
        tx.create(bytecode::ESM, (gem, end_addr, pause_proxy, min).abi_encode_params(), "ESM").await?;
    let esm = ESM::new(esm_addr, p);
    tx.call(end_addr, end.rely(esm_addr).calldata(), "End.rely(ESM)").await?;
    tx.call(end_addr, end.rely(pause_proxy).calldata(), "End.rely(pause proxy)").await?;
    tx.call(end_addr, end.deny(deployer).calldata(), "End.deny(deployer)").await?;
    tx.call(esm_addr, esm.rely(pause_proxy).calldata(), "ESM.rely(pause proxy)").await?;
    tx.call(esm_addr, esm.deny(deployer).calldata(), "ESM.deny(deployer)").await?;
    Ok((end_addr, esm_addr))
}

/// DSChief 1.2 with its IOU, launched as on mainnet: 80,000 MKR on the empty address, then
/// taken back. The deployer must still own MKR (it mints the launch weight).
pub(crate) async fn deploy_ds_chief(tx: &Sender<'_>, mkr: Address) -> Result<(Address, Address)> {
    let (p, deployer) = (tx.provider, tx.from);
    let iou = tx.create(bytecode::DS_TOKEN, (symbol("IOU"),).abi_encode_params(), "IOU").await?;
    let chief_addr = tx
        .create(bytecode::DS_CHIEF, (mkr, iou, U256::from(MAX_YAYS)).abi_encode_params(), "DSChief")
        .await?;
    let chief = DSChief::new(chief_addr, p);
    let iou_token = DSToken::new(iou, p);
    tx.call(iou, iou_token.setOwner(chief_addr).calldata(), "IOU.setOwner").await?;
    let launch = U256::from(LAUNCH_WEIGHT) * WAD;
    tx.call(mkr, &mintToCall { guy: deployer, wad: launch }.abi_encode().into(), "MKR.mint (launch)").await?;
    tx.call(
        mkr,
        &approveAmountCall { guy: chief_addr, wad: launch }.abi_encode().into(),
        "MKR.approve (launch)",
    )
    .await?;
    tx.call(
        chief_addr,
        &chiefVoteYaysCall { yays: vec![Address::ZERO] }.abi_encode().into(),
        "DSChief.vote (launch)",
    )
    .await?;
    tx.call(chief_addr, chief.lock(launch).calldata(), "DSChief.lock (launch)").await?;
    tx.call(chief_addr, chief.launch().calldata(), "DSChief.launch").await?;
    tx.call(
        chief_addr,
        &chiefVoteYaysCall { yays: vec![] }.abi_encode().into(),
        "DSChief.vote (after launch)",
    )
    .await?;
    tx.call(iou, &approveAmountCall { guy: chief_addr, wad: launch }.abi_encode().into(), "IOU.approve")
        .await?;
    tx.call(chief_addr, chief.free(launch).calldata(), "DSChief.free (launch)").await?;
    tx.call(mkr, &burnOwnCall { wad: launch }.abi_encode().into(), "MKR.burn (launch)").await?;
    Ok((chief_addr, iou))
}

/// DSToken's bytes32 symbol.
pub(crate) fn symbol(text: &str) -> B256 {
    chainlog_key(text)
}

/// Sends the deployer's transactions through the node's unlocked account and waits for each.
pub(crate) struct Sender<'a> {
    pub provider: &'a DynProvider,
    pub from: Address,
}

impl Sender<'_> {
    pub async fn create(&self, code: &str, args: Vec<u8>, what: &str) -> Result<Address> {
        let mut data = hex::decode(code.trim()).with_context(|| format!("abi/{what}.bin is not hex"))?;
        data.extend_from_slice(&args);
        let request = TransactionRequest::default().with_from(self.from).with_deploy_code(data);
        let receipt = self.send(request, what).await?;
        receipt.contract_address.with_context(|| format!("deploying {what} created no contract"))
    }

    pub async fn call(&self, to: Address, data: &Bytes, what: &str) -> Result<TransactionReceipt> {
        let request = TransactionRequest::default().with_from(self.from).with_to(to).with_input(data.clone());
        self.send(request, what).await
    }

    pub async fn send(&self, request: TransactionRequest, what: &str) -> Result<TransactionReceipt> {
        // Simulate first: a reverting transaction is refused with its reason instead of mined.
        if let Err(error) = self.provider.call(request.clone()).await {
            bail!("devnet deployment: {what} would revert: {error}");
        }
        send_unlocked(self.provider, request).await.with_context(|| format!("devnet deployment: {what}"))
    }
}

/// Sends `request` from one of the node's unlocked accounts with a gas limit above the
/// estimate, and waits for a successful receipt. anvil fills in an exact estimate when none is
/// given, and an exact limit runs out of gas when the state it was estimated on moves (a
/// flake seen in CI), so the limit gets the same margin as the user's transactions.
pub async fn send_unlocked(
    provider: &DynProvider,
    request: TransactionRequest,
) -> Result<TransactionReceipt> {
    // On the pending block, as the transaction will run: in the latest block itself, DSChief
    // refuses a `free` right after a `lock`, and the Chief a second `lift`.
    let estimate = provider
        .estimate_gas(request.clone())
        .block(alloy::eips::BlockId::pending())
        .await
        .map_err(|e| anyhow::anyhow!("estimating gas: {e}"))?;
    let request = request.with_gas_limit(crate::fees::gas_limit_for(estimate));
    let pending = provider.send_transaction(request).await.context("sending")?;
    let hash = *pending.tx_hash();
    let receipt = wait_for_receipt(provider, hash).await?;
    if !receipt.status() {
        bail!(
            "transaction {hash} reverted after using {} of its {} gas",
            receipt.gas_used,
            crate::fees::gas_limit_for(estimate)
        );
    }
    Ok(receipt)
}

/// Polls for a receipt: immediate under automine (or mined by hand when anvil's race left it
/// in the pool), one block time otherwise.
pub async fn wait_for_receipt(provider: &DynProvider, hash: B256) -> Result<TransactionReceipt> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut pause = Duration::from_millis(2);
    let mut guard = StuckPoolGuard::default();
    let started = tokio::time::Instant::now();
    loop {
        if let Some(receipt) = provider.get_transaction_receipt(hash).await? {
            return Ok(receipt);
        }
        if started.elapsed() > Duration::from_secs(1) {
            guard.unstick(provider, hash).await;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("transaction {hash} was not mined within 60 s");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}
