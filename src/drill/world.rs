//! The drill's chain and the other actors on it: the attacker, the other holders, governance.
//! They act through anvil's unlocked accounts (and impersonation for governance), never
//! through the user's signer; the user's part goes through the real commands.

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, U256};
use alloy::providers::ext::AnvilApi;
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::sol_types::{SolCall, SolValue};
use anyhow::{Context, Result, anyhow, bail};

use crate::chain::bindings::overloads::{approveAmountCall, chiefVoteYaysCall, mintToCall};
use crate::chain::bindings::{DSChief, DSPause, DssDefender, DssExec, ESM, End, bytecode};
use crate::chain::discovery::Sources;
use crate::chain::snapshot::{Snapshot, decode_snapshot, lens_request};
use crate::devnet::deploy::send_unlocked;
use crate::units::WAD;

/// Whole tokens as base units.
pub fn tokens(n: u64) -> U256 {
    U256::from(n) * WAD
}

pub struct World {
    pub provider: DynProvider,
    /// The chainlog: the drill follows it, as the default spell installs a new defender.
    pub sources: Sources,
    /// anvil's accounts 0..=9; 0 to 4 hold MKR on a fresh devnet.
    pub accounts: Vec<Address>,
}

impl World {
    pub async fn new(provider: DynProvider, chainlog: Address) -> Result<Self> {
        let accounts = provider.get_accounts().await.context("listing the devnet's accounts")?;
        if accounts.len() < 10 {
            bail!("the drill needs anvil's ten unlocked test accounts; this node has {}", accounts.len());
        }
        let sources =
            Sources { chainlog, book: None, origin: format!("the chainlog at {chainlog}"), defender: None };
        Ok(Self { provider, sources, accounts })
    }

    /// The protocol as it is now, with `user`'s position.
    pub async fn snapshot(&self, user: Address) -> Result<Snapshot> {
        let request = lens_request(&self.sources, Some(user));
        let output = self.provider.call(request).block(alloy::eips::BlockId::latest()).await?;
        decode_snapshot(&output)
    }

    /// Sends `data` to `to` (or deploys it) as `from`; a revert comes back with its reason.
    pub async fn send(
        &self,
        from: Address,
        to: Option<Address>,
        data: Vec<u8>,
    ) -> Result<TransactionReceipt> {
        let mut request = TransactionRequest::default().with_from(from);
        request = match to {
            Some(to) => request.with_to(to).with_input(data),
            None => request.with_deploy_code(data),
        };
        // anvil mines a reverting transaction without saying why: ask eth_call first.
        self.provider.call(request.clone()).await.map_err(|e| anyhow!("{e}"))?;
        send_unlocked(&self.provider, request).await
    }

    /// Deploys `code` followed by its constructor arguments.
    pub async fn deploy(&self, from: Address, code: &str, args: Vec<u8>) -> Result<Address> {
        let mut data = hex::decode(code.trim())?;
        data.extend(args);
        self.send(from, None, data).await?.contract_address.context("no contract address in the receipt")
    }

    pub async fn call<C: SolCall>(&self, from: Address, to: Address, call: C) -> Result<()> {
        self.send(from, Some(to), call.abi_encode())
            .await
            .with_context(|| format!("{} from {from}", C::SIGNATURE))?;
        Ok(())
    }

    pub async fn read<C: SolCall>(&self, to: Address, call: C) -> Result<C::Return> {
        // "latest" said explicitly: anvil answers a call without a block from its pending state.
        let request = TransactionRequest::default().with_to(to).with_input(call.abi_encode());
        let output = self.provider.call(request).block(alloy::eips::BlockId::latest()).await?;
        Ok(C::abi_decode_returns(&output)?)
    }

    /// Moves the clock forward and mines a block there.
    pub async fn warp(&self, seconds: u64) -> Result<()> {
        self.provider.anvil_increase_time(seconds).await?;
        self.provider.anvil_mine(Some(1), None).await?;
        Ok(())
    }

    pub async fn now(&self) -> Result<u64> {
        let block =
            self.provider.get_block_by_number(Default::default()).await?.context("no latest block")?;
        Ok(block.header.timestamp)
    }

    /// Gives `who` ETH for gas and `mkr` MKR minted by governance (for a device's address).
    pub async fn fund(&self, who: Address, mkr: U256) -> Result<()> {
        let s = self.snapshot(who).await?;
        self.provider.anvil_set_balance(who, tokens(100)).await?;
        if s.user.govBalance < mkr {
            let proxy = s.at.pauseProxy;
            self.provider.anvil_impersonate_account(proxy).await?;
            self.provider.anvil_set_balance(proxy, tokens(10)).await?;
            self.call(proxy, s.at.gov, mintToCall { guy: who, wad: mkr - s.user.govBalance }).await?;
            self.provider.anvil_stop_impersonating_account(proxy).await?;
        }
        Ok(())
    }

    /// A DssExec spell whose action mints `wad` MKR to `to`, deployed by `from`.
    pub async fn mint_spell(
        &self,
        from: Address,
        to: Address,
        wad: U256,
        description: &str,
    ) -> Result<Address> {
        let s = self.snapshot(from).await?;
        let action =
            self.deploy(from, bytecode::MINT_ACTION, (s.at.gov, to, wad).abi_encode_params()).await?;
        let args = (s.at.pause, description.to_owned(), U256::MAX, action).abi_encode_params();
        self.deploy(from, bytecode::DSS_EXEC, args).await
    }

    /// Locks `amount` more in the chief (approving it first) and votes for `spell` alone.
    pub async fn lock_and_vote(&self, who: Address, amount: U256, spell: Address) -> Result<()> {
        let s = self.snapshot(who).await?;
        if !amount.is_zero() {
            self.call(who, s.at.gov, approveAmountCall { guy: s.at.chief, wad: amount }).await?;
            self.call(who, s.at.chief, DSChief::lockCall { wad: amount }).await?;
        }
        self.call(who, s.at.chief, chiefVoteYaysCall { yays: vec![spell] }).await
    }

    pub async fn lift(&self, who: Address, spell: Address) -> Result<()> {
        let chief = self.snapshot(who).await?.at.chief;
        self.call(who, chief, DSChief::liftCall { whom: spell }).await
    }

    /// Votes for `spell`, lifts it and schedules it: what the holder of the hat does.
    pub async fn pass(&self, who: Address, lock: U256, spell: Address) -> Result<()> {
        self.lock_and_vote(who, lock, spell).await?;
        self.lift(who, spell).await?;
        self.call(who, spell, DssExec::scheduleCall {}).await
    }

    pub async fn deposit(&self, who: Address, amount: U256) -> Result<()> {
        let s = self.snapshot(who).await?;
        self.call(who, s.at.gov, approveAmountCall { guy: s.at.defender, wad: amount }).await?;
        self.call(who, s.at.defender, DssDefender::depositCall { wad: amount }).await
    }

    pub async fn move_to_esm(&self, who: Address, amount: U256) -> Result<()> {
        let defender = self.snapshot(who).await?.at.defender;
        self.call(who, defender, DssDefender::moveToEsmCall { wad: amount }).await
    }

    pub async fn join_esm(&self, who: Address, amount: U256) -> Result<()> {
        let s = self.snapshot(who).await?;
        self.call(who, s.at.gov, approveAmountCall { guy: s.at.esm, wad: amount }).await?;
        self.call(who, s.at.esm, ESM::joinCall { wad: amount }).await
    }

    /// Whether the plan a DssExec spell scheduled is still queued in the pause.
    pub async fn queued(&self, spell: Address) -> Result<bool> {
        let s = self.snapshot(Address::ZERO).await?;
        let key = crate::chain::pause_log::PlanKey {
            usr: self.read(spell, DssExec::actionCall {}).await?,
            tag: self.read(spell, DssExec::tagCall {}).await?,
            fax: self.read(spell, DssExec::sigCall {}).await?,
            eta: self.read(spell, DssExec::etaCall {}).await?,
        };
        self.read(s.at.pause, DSPause::plansCall(key.id())).await
    }

    pub async fn spell_done(&self, spell: Address) -> Result<bool> {
        self.read(spell, DssExec::doneCall {}).await
    }

    /// Whether End has been caged (the ESM fired).
    pub async fn shut_down(&self) -> Result<bool> {
        let esm = self.snapshot(Address::ZERO).await?.at.esm;
        let end = self.read(esm, ESM::endCall {}).await?;
        Ok(self.read(end, End::liveCall {}).await?.is_zero())
    }

    pub async fn mkr_balance(&self, who: Address) -> Result<U256> {
        Ok(self.snapshot(who).await?.user.govBalance)
    }
}
