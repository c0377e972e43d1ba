//! Test harness: a fresh anvil per test with the devnet's contracts deployed, and helpers to
//! act as any of anvil's unlocked accounts (or as governance, by impersonating the pause proxy).

#![allow(dead_code)]

pub mod cli;
pub mod schema;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider, ext::AnvilApi};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::sol_types::SolCall;
use alloy::sol_types::SolEvent;
use defender::chain::addresses::{AddressBook, keys};
use defender::chain::bindings::overloads::approveAmountCall;
use defender::chain::bindings::{DSChief, DSPause, DSToken, DssDefender, DssExec};
use defender::chain::pause_log::PlanKey;
use defender::devnet::{
    Anvil, AnvilOptions, DeployParams, Deployment, Layout, LocalChain, launch_on_free_port,
};
use defender::drill::world::World;
use defender::units::WAD;

pub fn wad(tokens: u64) -> U256 {
    U256::from(tokens) * WAD
}

pub struct Chain {
    pub anvil: Anvil,
    pub provider: DynProvider,
    pub deployment: Deployment,
    pub params: DeployParams,
    /// The drill's actors: the same moves, for the tests to make.
    pub world: World,
}

impl Chain {
    pub async fn start() -> Self {
        Self::start_with(DeployParams::default()).await
    }

    /// Mainnet as it runs today: the new Chief, SKY, MKR_SKY, Protego, the ESM switched off.
    pub async fn start_sky() -> Self {
        Self::start_with(DeployParams { layout: Layout::Sky, ..DeployParams::default() }).await
    }

    pub async fn start_with(params: DeployParams) -> Self {
        Self::start_on_chain(params, 31_337).await
    }

    /// A devnet whose node answers `chain_id` (1: what a device shows on mainnet).
    pub async fn start_on_chain(params: DeployParams, chain_id: u64) -> Self {
        let options = AnvilOptions { chain_id, ..AnvilOptions::default() };
        let LocalChain { anvil, provider, deployment } =
            launch_on_free_port(&options, &params).await.expect("anvil starts and the devnet deploys");
        let chainlog = deployment.book.get(keys::CHANGELOG).unwrap();
        let world = World::new(provider.clone(), chainlog).await.unwrap();
        Self { anvil, provider, deployment, params, world }
    }

    /// The address book, with this chain's URL, saved for `--addresses`.
    pub fn book_file(&self) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "defender-test-{}-{}",
            std::process::id(),
            self.anvil.url().rsplit(':').next().unwrap()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("addresses.json");
        let mut book = self.book().clone();
        book.rpc_url = Some(self.anvil.url().to_owned());
        book.save(&path).unwrap();
        path
    }

    pub fn book(&self) -> &AddressBook {
        &self.deployment.book
    }

    pub fn addr(&self, key: &str) -> Address {
        self.book().get(key).unwrap()
    }

    pub fn holder(&self, index: usize) -> Address {
        self.deployment.holders[index]
    }

    /// An unlocked account with ETH but no MKR (anvil's accounts 5 to 8).
    pub async fn outsider(&self, index: usize) -> Address {
        self.provider.get_accounts().await.unwrap()[5 + index]
    }

    /// Sends `call` to `to` as `from`; Err carries the node's message (with the revert reason).
    pub async fn send<C: SolCall>(
        &self,
        from: Address,
        to: Address,
        call: C,
    ) -> Result<TransactionReceipt, String> {
        self.send_raw(from, Some(to), call.abi_encode().into()).await
    }

    pub async fn send_raw(
        &self,
        from: Address,
        to: Option<Address>,
        data: Bytes,
    ) -> Result<TransactionReceipt, String> {
        self.world.send(from, to, data.to_vec()).await.map_err(|e| format!("{e:#}"))
    }

    /// Sends and expects success.
    pub async fn ok<C: SolCall>(&self, from: Address, to: Address, call: C) -> TransactionReceipt {
        let name = C::SIGNATURE;
        self.send(from, to, call).await.unwrap_or_else(|e| panic!("{name} from {from} failed: {e}"))
    }

    /// Sends and expects a revert whose message contains `reason`.
    pub async fn reverts<C: SolCall>(&self, from: Address, to: Address, call: C, reason: &str) {
        let name = C::SIGNATURE;
        match self.send(from, to, call).await {
            Ok(_) => panic!("{name} from {from} succeeded; expected a revert with {reason:?}"),
            Err(message) => assert!(message.contains(reason), "{name}: expected {reason:?} in {message:?}"),
        }
    }

    /// Reads a view function.
    pub async fn read<C: SolCall>(&self, to: Address, call: C) -> C::Return {
        let request = TransactionRequest::default().with_to(to).with_input(call.abi_encode());
        let output =
            self.provider.call(request).await.unwrap_or_else(|e| panic!("{} failed: {e}", C::SIGNATURE));
        C::abi_decode_returns(&output).unwrap()
    }

    pub async fn deploy(&self, from: Address, code: &str, args: Vec<u8>) -> Address {
        self.world.deploy(from, code, args).await.expect("deployment succeeds")
    }

    /// Moves the chain's clock forward and mines a block there.
    pub async fn warp(&self, seconds: u64) {
        self.world.warp(seconds).await.unwrap();
    }

    pub async fn now(&self) -> u64 {
        self.world.now().await.unwrap()
    }

    /// Lets tests act as governance: the pause proxy, which owns the defender and the authority.
    pub async fn impersonate(&self, who: Address) {
        self.provider.anvil_impersonate_account(who).await.unwrap();
        self.provider.anvil_set_balance(who, U256::from(10u64).pow(U256::from(20))).await.unwrap();
    }

    pub async fn as_governance(&self) -> Address {
        let proxy = self.addr(keys::MCD_PAUSE_PROXY);
        self.impersonate(proxy).await;
        proxy
    }

    /// A DssExec spell whose action mints `wad` MKR to `to` (governance owns MKR), deployed by
    /// `from`: the shape of the attacker's malicious executive.
    pub async fn mint_spell(&self, from: Address, to: Address, wad: U256) -> Address {
        self.world.mint_spell(from, to, wad, "mint MKR to the attacker").await.unwrap()
    }
}

// --- MIP91 scenario pieces shared by the contract and CLI tests ---

/// A plan the attacker put in DSPause, as DSPause's functions take it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub spell: Address,
    pub usr: Address,
    pub tag: B256,
    pub fax: Bytes,
    pub eta: U256,
}

impl Plan {
    pub fn id(&self) -> B256 {
        PlanKey { usr: self.usr, tag: self.tag, fax: self.fax.clone(), eta: self.eta }.id()
    }

    pub fn cancel(&self) -> DssDefender::cancelCall {
        DssDefender::cancelCall { usr: self.usr, tag: self.tag, fax: self.fax.clone(), eta: self.eta }
    }
}

pub const ATTACKER: usize = 4;

/// The attack of MIP91's scenarios: holder 4 locks all its MKR behind a spell that mints MKR to
/// itself, lifts it to the hat and schedules it.
pub async fn attack(chain: &Chain) -> Plan {
    let attacker = chain.holder(ATTACKER);
    let spell = chain.mint_spell(attacker, attacker, wad(1_000_000)).await;
    lock_and_vote(chain, attacker, wad(100_000), spell).await;
    chain.ok(attacker, chain.addr(keys::MCD_ADM), DSChief::liftCall { whom: spell }).await;
    chain.ok(attacker, spell, DssExec::scheduleCall {}).await;
    plan_of(chain, spell).await
}

/// The attacker votes its own address in as the hat, to plot straight into the pause.
pub async fn attacker_as_hat(chain: &Chain) -> Address {
    let attacker = chain.holder(ATTACKER);
    let chief = chain.addr(keys::MCD_ADM);
    chain
        .ok(attacker, chief, defender::chain::bindings::overloads::chiefVoteYaysCall { yays: vec![attacker] })
        .await;
    chain.ok(attacker, chief, DSChief::liftCall { whom: attacker }).await;
    attacker
}

/// The `n`th of many plans plotted straight into the pause: one usr, tag and fax, an eta far
/// ahead and distinct per `n`.
pub fn direct_plot(n: u64) -> DSPause::plotCall {
    DSPause::plotCall {
        usr: Address::repeat_byte(0x42),
        tag: B256::repeat_byte(7),
        fax: vec![0u8; 4].into(),
        eta: U256::from(4_000_000_000u64 + n),
    }
}

/// The attacker, already the hat, plots one more malicious spell and returns its plan.
pub async fn attack_again(chain: &Chain) -> Plan {
    let attacker = chain.holder(ATTACKER);
    let spell = chain.mint_spell(attacker, attacker, wad(5)).await;
    let chief = chain.addr(keys::MCD_ADM);
    chain
        .ok(attacker, chief, defender::chain::bindings::overloads::chiefVoteYaysCall { yays: vec![spell] })
        .await;
    chain.ok(attacker, chief, DSChief::liftCall { whom: spell }).await;
    chain.ok(attacker, spell, DssExec::scheduleCall {}).await;
    plan_of(chain, spell).await
}

pub async fn lock_and_vote(chain: &Chain, who: Address, amount: U256, spell: Address) {
    chain.world.lock_and_vote(who, amount, spell).await.unwrap();
}

pub async fn deposit(chain: &Chain, who: Address, amount: U256) -> TransactionReceipt {
    let defender = chain.addr(keys::MCD_DEFENDER);
    chain.ok(who, chain.addr(keys::MCD_GOV), approveAmountCall { guy: defender, wad: amount }).await;
    chain.ok(who, defender, DssDefender::depositCall { wad: amount }).await
}

/// Holders 0 and 1 bring the defender exactly to its threshold.
pub async fn activate(chain: &Chain) {
    let half = chain.params.threshold / U256::from(2);
    deposit(chain, chain.holder(0), half).await;
    deposit(chain, chain.holder(1), chain.params.threshold - half).await;
}

pub fn events<E: SolEvent>(receipt: &TransactionReceipt) -> Vec<E> {
    receipt.inner.logs().iter().filter_map(|log| E::decode_log(&log.inner).ok().map(|l| l.data)).collect()
}

pub async fn mkr_balance(chain: &Chain, who: Address) -> U256 {
    chain.read(chain.addr(keys::MCD_GOV), DSToken::balanceOfCall(who)).await
}

/// The plan a scheduled DssExec spell put in the pause.
pub async fn plan_of(chain: &Chain, spell: Address) -> Plan {
    Plan {
        spell,
        usr: chain.read(spell, DssExec::actionCall {}).await,
        tag: chain.read(spell, DssExec::tagCall {}).await,
        fax: chain.read(spell, DssExec::sigCall {}).await,
        eta: chain.read(spell, DssExec::etaCall {}).await,
    }
}

// --- Sky layout pieces (devnet --layout sky) ---

pub async fn mine(chain: &Chain, blocks: u64) {
    chain.provider.anvil_mine(Some(blocks), None).await.unwrap();
}

/// Locks `amount` SKY for `who` in the new Chief and votes for `yays`.
pub async fn sky_lock_and_vote(chain: &Chain, who: Address, amount: U256, yays: Vec<Address>) {
    use defender::chain::bindings::Chief;
    use defender::chain::bindings::overloads::skyChiefVoteYaysCall;
    let chief = chain.addr(keys::MCD_ADM);
    if !amount.is_zero() {
        chain.ok(who, chain.addr(keys::MCD_GOV), approveAmountCall { guy: chief, wad: amount }).await;
        chain.ok(who, chief, Chief::lockCall { wad: amount }).await;
    }
    chain.ok(who, chief, skyChiefVoteYaysCall { yays }).await;
}

/// The attack on today's mainnet: `attacker` locks `lock` more SKY behind a new minting spell,
/// lifts it (after the cooldown: blocks are mined for it) and plots it.
pub async fn sky_plot(chain: &Chain, attacker: Address, lock: U256) -> Plan {
    use defender::chain::bindings::Chief;
    let chief = chain.addr(keys::MCD_ADM);
    let spell = chain.mint_spell(attacker, attacker, wad(1_000_000)).await;
    sky_lock_and_vote(chain, attacker, lock, vec![spell]).await;
    let last: u64 = chain.read(chief, Chief::lastCall {}).await.saturating_to();
    let cooldown: u64 = chain.read(chief, Chief::liftCooldownCall {}).await.saturating_to();
    let now = chain.provider.get_block_number().await.unwrap();
    if last > 0 && now < last + cooldown + 1 {
        mine(chain, last + cooldown - now).await;
    }
    chain.ok(attacker, chief, Chief::liftCall { whom: spell }).await;
    chain.ok(attacker, spell, DssExec::scheduleCall {}).await;
    plan_of(chain, spell).await
}
