//! Actions turn an intent into a plan: the calls to make, in order, and what to warn about.
//! They read only the snapshot (no RPC), so they are pure and cheap to test.

pub mod cancel;
pub mod deposit;
pub mod esm;
pub mod lift;
pub mod vote;
pub mod withdraw;

use alloy::primitives::{Address, Bytes, U256};
use alloy::sol_types::SolCall;

use crate::chain::snapshot::Snapshot;
use crate::units::{Amount, format_token};

/// One call of a plan; the pipeline turns it into a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// For people: what this call is for. The preview decodes `data` itself.
    pub label: String,
    pub to: Address,
    pub data: Bytes,
    pub value: U256,
}

impl Call {
    pub fn new<C: SolCall>(label: impl Into<String>, to: Address, call: C) -> Self {
        Self { label: label.into(), to, data: call.abi_encode().into(), value: U256::ZERO }
    }
}

/// What an action wants done.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The command, for reports: "deposit", "cancel", ...
    pub action: &'static str,
    /// One line for the user: "deposit 100 MKR into the defender".
    pub summary: String,
    pub calls: Vec<Call>,
    pub warnings: Vec<String>,
    /// Burns tokens or otherwise cannot be undone: needs a typed confirmation.
    pub irreversible: bool,
}

/// Why an action cannot be planned: said before anything is signed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

pub type PlanResult = Result<Plan, Refusal>;

pub fn refuse<T>(message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(message.into()))
}

/// Token amounts in the snapshot's units.
pub(crate) struct Tokens<'a>(pub &'a Snapshot);

impl Tokens<'_> {
    pub fn fmt(&self, amount: U256) -> String {
        format!("{} {}", format_token(amount, self.0.decimals()), self.0.symbol())
    }

    /// `all` means `available`; an exact amount must not exceed it (`what` names the source).
    pub fn resolve(&self, amount: Amount, available: U256, what: &str) -> Result<U256, Refusal> {
        let wanted = match amount {
            Amount::All => available,
            Amount::Exact(v) => v,
        };
        if available.is_zero() || wanted.is_zero() {
            return refuse(format!("you have no {} {what}", self.0.symbol()));
        }
        if wanted > available {
            return refuse(format!(
                "{} is more than the {} {what}: give at most that, or `all`",
                self.fmt(wanted),
                self.fmt(available)
            ));
        }
        Ok(wanted)
    }
}

/// An approval of the voting token for `spender` when the allowance is short: exactly
/// `amount`, or unlimited.
pub(crate) fn approval_if_needed(
    spender: Address,
    spender_name: &str,
    allowance: U256,
    amount: U256,
    approve_max: bool,
    tokens: &Tokens<'_>,
) -> Option<Call> {
    use crate::chain::bindings::overloads::{approveAmountCall, approveUnlimitedCall};
    let token = tokens.0.at.gov;
    if allowance >= amount {
        return None;
    }
    Some(if approve_max {
        Call::new(
            format!("approve {spender_name} to spend any {}", tokens.0.symbol()),
            token,
            approveUnlimitedCall { guy: spender },
        )
    } else {
        Call::new(
            format!("approve {spender_name} to spend {}", tokens.fmt(amount)),
            token,
            approveAmountCall { guy: spender, wad: amount },
        )
    })
}

/// The unix time `seconds` from the snapshot's block, as a UTC date.
pub(crate) fn date(timestamp: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(timestamp);
    humantime::format_rfc3339_seconds(time).to_string().replace('T', " ").replace('Z', " UTC")
}
