//! The drill's world on the Sky layout: what the new Chief and Protego add to `World`. Blocks
//! to mine (the new Chief's lift cooldown counts blocks, not seconds), SKY changing hands, and
//! the chain's own record of each plan (the pause's plot and drop LogNotes, the chief's `Lift`
//! events, Protego's `Deploy` events), which the Protego scenarios' verdicts read instead of
//! trusting what the commands printed.

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use alloy::rpc::types::{Filter, Log, TransactionRequest};
use alloy::sol_types::{SolCall, SolEvent};
use anyhow::{Context, Result, bail};

use super::world::World;
use crate::chain::bindings::{Chief, DSPause, DSToken, EmergencyDropSpell, Protego};
use crate::chain::governance::LiftWindow;
use crate::chain::pause_log::{self, PlanKey, selector_topic};

/// A pause LogNote of `plot`, `drop` or `exec`, with the transaction that made it.
#[derive(Debug, Clone)]
pub struct LoggedNote {
    pub note: crate::chain::pause_log::PauseNote,
    pub transaction: B256,
}

/// How a plan left the pause.
#[derive(Debug, Clone, Copy)]
pub struct Dropped {
    pub block: u64,
    /// Who called the pause's `drop`.
    pub caller: Address,
    /// Who signed the transaction that did it.
    pub sender: Address,
}

fn decode_note(log: &Log) -> Option<LoggedNote> {
    Some(LoggedNote { note: pause_log::decode_note(log)?, transaction: log.transaction_hash? })
}

impl World {
    pub async fn block_number(&self) -> Result<u64> {
        Ok(self.provider.get_block_number().await?)
    }

    /// Mines `blocks` empty blocks.
    pub async fn mine(&self, blocks: u64) -> Result<()> {
        if blocks > 0 {
            self.provider.anvil_mine(Some(blocks), None).await?;
        }
        Ok(())
    }

    /// Mines until a lift may land in the next block; returns how many blocks that took.
    pub async fn mine_out_lift_cooldown(&self) -> Result<u64> {
        let s = self.snapshot(Address::ZERO).await?;
        let LiftWindow::From(first) = s.lift_window() else { return Ok(0) };
        let blocks = first.saturating_sub(s.next_block());
        self.mine(blocks).await?;
        Ok(blocks)
    }

    /// The voting token (SKY here) from `seller` to `buyer`: how the drill plays a purchase.
    pub async fn sell_gov(&self, seller: Address, buyer: Address, amount: U256) -> Result<()> {
        let gov = self.snapshot(Address::ZERO).await?.at.gov;
        self.call(seller, gov, DSToken::transferCall { dst: buyer, wad: amount }).await
    }

    /// The voting token `who` holds in the wallet and in the chief together.
    pub async fn gov_holdings(&self, who: Address) -> Result<U256> {
        let s = self.snapshot(who).await?;
        Ok(s.user.govBalance + s.user.chiefDeposits)
    }

    /// The pause's LogNotes of one function (`plot`, `drop` or `exec`), oldest first.
    pub async fn pause_notes(&self, selector: [u8; 4]) -> Result<Vec<LoggedNote>> {
        let pause = self.snapshot(Address::ZERO).await?.at.pause;
        let filter = Filter::new().address(pause).event_signature(selector_topic(selector)).from_block(0);
        let logs = self.provider.get_logs(&filter).await.context("reading the pause's LogNotes")?;
        Ok(logs.iter().filter_map(decode_note).collect())
    }

    /// The plan `spell` plotted, as the pause's plot LogNote recorded it (its latest plot).
    pub async fn plotted_by(&self, spell: Address) -> Result<PlanKey> {
        let notes = self.pause_notes(DSPause::plotCall::SELECTOR).await?;
        match notes.into_iter().rev().find(|n| n.note.caller == spell) {
            Some(found) => Ok(found.note.key),
            None => bail!("{spell} plotted nothing in the pause"),
        }
    }

    /// Whether the pause still holds the plan.
    pub async fn planned(&self, id: B256) -> Result<bool> {
        let pause = self.snapshot(Address::ZERO).await?.at.pause;
        self.read(pause, DSPause::plansCall(id)).await
    }

    /// The first drop of plan `id` the pause recorded, with who signed it.
    pub async fn dropped(&self, id: B256) -> Result<Option<Dropped>> {
        let notes = self.pause_notes(DSPause::dropCall::SELECTOR).await?;
        let Some(note) = notes.into_iter().find(|n| n.note.key.id() == id) else { return Ok(None) };
        let transaction = self
            .provider
            .get_transaction_by_hash(note.transaction)
            .await?
            .with_context(|| format!("transaction {} is gone", note.transaction))?;
        use alloy::network::TransactionResponse;
        Ok(Some(Dropped { block: note.note.block, caller: note.note.caller, sender: transaction.from() }))
    }

    /// Waits, without mining, until plan `id` leaves the pause; false after `timeout`.
    pub async fn wait_until_dropped(&self, id: B256, timeout: std::time::Duration) -> Result<bool> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if !self.planned(id).await? {
                return Ok(true);
            }
            if tokio::time::Instant::now() > deadline {
                return Ok(false);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// The block of the chief's latest `Lift(whom)`.
    pub async fn last_lift_of(&self, whom: Address) -> Result<Option<u64>> {
        let chief = self.snapshot(Address::ZERO).await?.at.chief;
        let filter = Filter::new()
            .address(chief)
            .event_signature(Chief::Lift::SIGNATURE_HASH)
            .topic1(whom.into_word())
            .from_block(0);
        let logs = self.provider.get_logs(&filter).await.context("reading the chief's lifts")?;
        Ok(logs.last().and_then(|log| log.block_number))
    }

    /// The drop spells Protego deployed from block `from` on, in order.
    pub async fn drop_spells_since(&self, from: u64) -> Result<Vec<Address>> {
        let protego = self.snapshot(Address::ZERO).await?.at.protego;
        let filter =
            Filter::new().address(protego).event_signature(Protego::Deploy::SIGNATURE_HASH).from_block(from);
        let logs = self.provider.get_logs(&filter).await.context("reading Protego's Deploy events")?;
        Ok(logs
            .iter()
            .filter_map(|log| Protego::Deploy::decode_log(&log.inner).ok())
            .map(|event| event.data.dropSpell)
            .collect())
    }

    /// The plan id a drop spell drops, computed from its own fields the way the pause does.
    pub async fn drop_spell_target(&self, spell: Address) -> Result<B256> {
        let key = PlanKey {
            usr: self.read(spell, EmergencyDropSpell::actionCall {}).await?,
            tag: self.read(spell, EmergencyDropSpell::tagCall {}).await?,
            fax: self.read(spell, EmergencyDropSpell::sigCall {}).await?,
            eta: self.read(spell, EmergencyDropSpell::etaCall {}).await?,
        };
        Ok(key.id())
    }

    /// `who` tries to execute plan `key` now: the revert reason if the pause refuses (asked
    /// by eth_call, so nothing is sent), else `None` once the execution has been mined.
    pub async fn try_exec(&self, who: Address, key: &PlanKey) -> Result<Option<String>> {
        let pause = self.snapshot(Address::ZERO).await?.at.pause;
        let call =
            DSPause::execCall { usr: key.usr, tag: key.tag, fax: key.fax.clone(), eta: key.eta }.abi_encode();
        let request = TransactionRequest::default().with_from(who).with_to(pause).with_input(call.clone());
        match self.provider.call(request).block(alloy::eips::BlockId::latest()).await {
            Ok(_) => {
                self.send(who, Some(pause), call).await?;
                Ok(None)
            }
            Err(error) if error.as_error_resp().is_some() => Ok(Some(error.to_string())),
            Err(error) => Err(error).context("asking the node to execute the plan"),
        }
    }
}
