//! Test harness: a fresh anvil per test with the devnet's contracts deployed, and helpers to
//! act as any of anvil's unlocked accounts (or as governance, by impersonating the pause proxy).

#![allow(dead_code)]

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder, ext::AnvilApi};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::sol_types::{SolCall, SolValue};
use defender::chain::addresses::{AddressBook, keys};
use defender::chain::bindings::bytecode;
use defender::devnet::anvil::free_port;
use defender::devnet::deploy::wait_for_receipt;
use defender::devnet::{Anvil, AnvilOptions, DeployParams, Deployment, deploy};
use defender::units::WAD;

pub fn wad(tokens: u64) -> U256 {
    U256::from(tokens) * WAD
}

pub struct Chain {
    pub anvil: Anvil,
    pub provider: DynProvider,
    pub deployment: Deployment,
    pub params: DeployParams,
}

impl Chain {
    pub async fn start() -> Self {
        Self::start_with(DeployParams::default()).await
    }

    pub async fn start_with(params: DeployParams) -> Self {
        let options = AnvilOptions { port: free_port().unwrap(), ..AnvilOptions::default() };
        let anvil = Anvil::spawn(&options).await.expect("anvil starts");
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect_http(anvil.url().parse().unwrap())
            .erased();
        let deployment = deploy(&provider, &params).await.expect("devnet deploys");
        Self { anvil, provider, deployment, params }
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
        let mut request = TransactionRequest::default().with_from(from);
        request = match to {
            Some(to) => request.with_to(to).with_input(data),
            None => request.with_deploy_code(data),
        };
        // anvil mines a reverting eth_sendTransaction without a reason: simulate first to get it.
        self.provider.call(request.clone()).await.map_err(|e| e.to_string())?;
        let pending = self.provider.send_transaction(request).await.map_err(|e| e.to_string())?;
        let receipt =
            wait_for_receipt(&self.provider, *pending.tx_hash()).await.map_err(|e| e.to_string())?;
        if receipt.status() { Ok(receipt) } else { Err(format!("reverted: {:?}", receipt.transaction_hash)) }
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
        let mut data = hex::decode(code.trim()).unwrap();
        data.extend(args);
        let receipt = self.send_raw(from, None, data.into()).await.expect("deployment succeeds");
        receipt.contract_address.unwrap()
    }

    /// Moves the chain's clock forward and mines a block there.
    pub async fn warp(&self, seconds: u64) {
        self.provider.anvil_increase_time(seconds).await.unwrap();
        self.provider.anvil_mine(Some(1), None).await.unwrap();
    }

    pub async fn now(&self) -> u64 {
        self.provider.get_block_by_number(Default::default()).await.unwrap().unwrap().header.timestamp
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
        let mkr = self.addr(keys::MCD_GOV);
        let action = self.deploy(from, bytecode::MINT_ACTION, (mkr, to, wad).abi_encode_params()).await;
        let pause = self.addr(keys::MCD_PAUSE);
        let args = (pause, "mint MKR to the attacker".to_string(), U256::MAX, action).abi_encode_params();
        self.deploy(from, bytecode::DSS_EXEC, args).await
    }
}

/// DSPause's plan id.
pub fn plan_id(usr: Address, tag: B256, fax: &Bytes, eta: U256) -> B256 {
    alloy::primitives::keccak256((usr, tag, fax.clone(), eta).abi_encode_params())
}
