//! Actions turn an intent into a plan: the calls to make, in order, and what to warn about.
//! They read only the snapshot (no RPC), so they are pure and cheap to test.

pub mod cancel;
pub mod convert;
pub mod deposit;
pub mod drop_spell;
pub mod esm;
pub mod free;
pub mod lift;
pub mod unstick;
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

/// One token as an action meets it: where it is, how it is written, and whether it is a
/// DSToken (which has `approve(address)` for unlimited) or a plain ERC-20 such as SKY.
pub(crate) struct Tokens {
    pub token: Address,
    pub symbol: String,
    pub decimals: u8,
    pub ds_token: bool,
}

impl Tokens {
    /// The chief's voting token: MKR on MIP91's DSChief, SKY on the new Chief.
    pub fn voting(s: &Snapshot) -> Self {
        Self { token: s.at.gov, symbol: s.symbol(), decimals: s.decimals(), ds_token: !s.is_sky() }
    }

    /// MKR where it is not the voting token (the Sky layout), else the voting token itself.
    pub fn mkr(s: &Snapshot) -> Self {
        if s.at.mkr == Address::ZERO {
            return Self::voting(s);
        }
        Self { token: s.at.mkr, symbol: "MKR".into(), decimals: 18, ds_token: true }
    }

    /// The token the ESM takes (its `gem()`): MKR on both layouts.
    pub fn esm_gem(s: &Snapshot) -> Self {
        if s.at.esmGem == s.at.mkr && s.at.mkr != Address::ZERO {
            return Self::mkr(s);
        }
        Self::voting(s)
    }

    /// An IOU of DSChief 1.2: a DSToken with the chief's GOV's units.
    pub fn iou(token: Address) -> Self {
        Self { token, symbol: "IOU".into(), decimals: 18, ds_token: true }
    }

    pub fn fmt(&self, amount: U256) -> String {
        format!("{} {}", format_token(amount, self.decimals), self.symbol)
    }

    /// `all` means `available`; an exact amount must not exceed it (`what` names the source).
    pub fn resolve(&self, amount: Amount, available: U256, what: &str) -> Result<U256, Refusal> {
        let wanted = match amount {
            Amount::All => available,
            Amount::Exact(v) => v,
        };
        if available.is_zero() || wanted.is_zero() {
            return refuse(format!("you have no {} {what}", self.symbol));
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

/// An approval of `tokens` for `spender` when the allowance is short: exactly `amount`, or
/// unlimited (DSToken's `approve(address)`, or 2^256-1 on an ERC-20 that lacks it).
pub(crate) fn approval_if_needed(
    spender: Address,
    spender_name: &str,
    allowance: U256,
    amount: U256,
    approve_max: bool,
    tokens: &Tokens,
) -> Option<Call> {
    use crate::chain::bindings::overloads::{approveAmountCall, approveUnlimitedCall};
    if allowance >= amount {
        return None;
    }
    let any = format!("approve {spender_name} to spend any {}", tokens.symbol);
    Some(match (approve_max, tokens.ds_token) {
        (true, true) => Call::new(any, tokens.token, approveUnlimitedCall { guy: spender }),
        (true, false) => Call::new(any, tokens.token, approveAmountCall { guy: spender, wad: U256::MAX }),
        (false, _) => Call::new(
            format!("approve {spender_name} to spend {}", tokens.fmt(amount)),
            tokens.token,
            approveAmountCall { guy: spender, wad: amount },
        ),
    })
}

/// The whole voting tokens `approvals` lack to exceed the hat's, rounded up and written as the
/// user would type them after `--lock`.
pub fn lock_to_outvote(s: &Snapshot, approvals: U256) -> String {
    let decimals = s.decimals();
    let unit = U256::from(10).pow(U256::from(decimals));
    let short = (s.gov.hatApprovals + U256::from(1)).saturating_sub(approvals).div_ceil(unit) * unit;
    format_token(short, decimals).replace(',', "")
}

/// The unix time `seconds` from the snapshot's block, as a UTC date.
pub(crate) fn date(timestamp: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(timestamp);
    humantime::format_rfc3339_seconds(time).to_string().replace('T', " ").replace('Z', " UTC")
}
