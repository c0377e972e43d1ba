//! The Ledger Ethereum app 1.22, as recorded. Which flow a transaction takes (the generic
//! blind-signed call, the app's own ERC-20 approval flow, a plain transfer) is the app's, and
//! the same on every model; how a flow is drawn is the model's: screens paged with two buttons
//! on the Nanos ([`nano`]), grouped pages and "Hold to sign" on the touch models ([`touch`]).

mod nano;
mod touch;

use alloy::consensus::{SignableTransaction, Transaction, TypedTransaction};
use alloy::primitives::{Address, U256};

use super::Screen;
use super::recorded::ledger as text;
use crate::signers::ledger_model::LedgerModel;

pub use nano::{personal_message, typed_hashes};

/// The app's settings that change what it shows. The device reveals only the first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settings {
    pub blind_signing: bool,
    /// Settings > Debug contracts: the selector and each parameter before the review.
    pub debug_contracts: bool,
}

/// How a model draws the app's flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Nano S Plus and Nano X: one field a screen, two buttons.
    Buttons,
    /// Stax: touch pages, Max fees on the page of From and To.
    Stax,
    /// Flex and Apex P: touch pages, Max fees on the page of the Network and the hash.
    FlexApexP,
}

impl Layout {
    /// The layout of `model`, if the recording has its screens (it has none for the Nano S,
    /// which cannot run app 1.22, nor for the Apex M).
    pub fn of(model: LedgerModel) -> Option<Self> {
        match model {
            LedgerModel::NanoSPlus | LedgerModel::NanoX => Some(Self::Buttons),
            LedgerModel::Stax => Some(Self::Stax),
            LedgerModel::Flex | LedgerModel::ApexP => Some(Self::FlexApexP),
            LedgerModel::NanoS | LedgerModel::ApexM => None,
        }
    }
}

/// The screens of `tx`, signed from `from`, as `layout` draws them; `Err` names what the
/// recording lacks for this transaction on this layout.
pub fn transaction(
    tx: &TypedTransaction,
    from: Address,
    settings: Settings,
    layout: Layout,
) -> Result<Vec<Screen>, &'static str> {
    let fields = Fields::of(tx, from);
    let flow = Flow::of(tx, settings);
    match layout {
        Layout::Buttons => Ok(nano::transaction(&fields, flow, tx.input())),
        Layout::Stax | Layout::FlexApexP => touch::transaction(&fields, flow, layout == Layout::Stax),
    }
}

/// The flow the app takes for a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Empty calldata: no warning and no review title.
    Transfer,
    /// `approve(address,uint256)`, Debug contracts off: no To, spender, amount or hash.
    Approve,
    /// Any other call (and, with Debug contracts on, the approve too).
    Generic { debug_contracts: bool },
    /// Calldata with blind signing off: refused on the device.
    BlindSigningOff,
}

impl Flow {
    fn of(tx: &TypedTransaction, settings: Settings) -> Self {
        if tx.input().is_empty() {
            Self::Transfer
        } else if !settings.blind_signing {
            Self::BlindSigningOff
        } else if approval_flow(tx, settings) {
            Self::Approve
        } else {
            Self::Generic { debug_contracts: settings.debug_contracts }
        }
    }
}

/// What the app prints of a transaction, ready for any layout.
struct Fields {
    from: String,
    /// The recipient, or "New contract".
    to: String,
    /// The ETH sent, when any is.
    amount: Option<String>,
    /// "Max fees": gas limit times the most a unit of gas may cost.
    fees: String,
    /// The "Network" value, off mainnet.
    network: Option<String>,
    /// 0x and the signing hash's 64 hex digits.
    hash: String,
}

impl Fields {
    fn of(tx: &TypedTransaction, from: Address) -> Self {
        let chain = tx.chain_id().unwrap_or(0);
        let unit = if text::ETH_CHAINS.contains(&chain) { "ETH" } else { text::UNKNOWN_TICKER };
        let fee_per_gas = match tx {
            TypedTransaction::Legacy(t) => t.gas_price,
            TypedTransaction::Eip2930(t) => t.gas_price,
            other => other.max_fee_per_gas(),
        };
        let max_fee = U256::from(tx.gas_limit()) * U256::from(fee_per_gas);
        let network = (chain != 1).then(|| {
            let name = text::NETWORK_NAMES.iter().find(|(id, _)| *id == chain);
            name.map_or_else(|| chain.to_string(), |(_, name)| name.to_string())
        });
        Self {
            from: from.to_checksum(None),
            to: tx.to().map_or_else(|| text::NEW_CONTRACT.into(), |to| to.to_checksum(None)),
            amount: (!tx.value().is_zero()).then(|| format!("{} {unit}", ether_digits(tx.value()))),
            fees: format!("{} {unit}", ether_digits(max_fee)),
            network,
            hash: format!("{:#x}", tx.signature_hash()),
        }
    }
}

/// Wei as the Ledger app prints ETH: every digit, no grouping, trailing zeros trimmed.
fn ether_digits(wei: U256) -> String {
    let text = alloy::primitives::utils::format_units(wei, 18).unwrap_or_else(|_| wei.to_string());
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() { "0".into() } else { text.into() }
}

/// The selector of `approve(address,uint256)`, the call the app has its own flow for when it
/// holds no signed metadata for the token (MKR, SKY and every devnet token).
const APPROVE_SELECTOR: [u8; 4] = [0x09, 0x5e, 0xa7, 0xb3];

/// Whether the app takes its ERC-20 approval flow for `tx` with `settings` (Debug contracts
/// sends even an approve through the generic flow).
fn approval_flow(tx: &TypedTransaction, settings: Settings) -> bool {
    let data = tx.input();
    data.len() == 4 + 64 && data[..4] == APPROVE_SELECTOR && !settings.debug_contracts
}

/// Whether the device shows the signing hash for `tx`.
pub fn shows_hash(tx: &TypedTransaction, settings: Settings) -> bool {
    !tx.input().is_empty() && !approval_flow(tx, settings)
}

/// What the preview says above a transaction the Ledger shows without its spender, amount or
/// hash.
pub const APPROVE_NOTE: &str = "your Ledger will not show the spender, the amount or a hash for this ERC-20 approval \
     (its own approval flow): it signs what this terminal built, so check the call here. To see them on the \
     device, turn on Settings > Debug contracts in the Ethereum app and pass --ledger-debug-contracts: the \
     device then shows the selector and each parameter, then To and the Tx hash";

/// What the preview says above a contract call when Debug contracts is assumed on.
pub const DEBUG_CONTRACTS_NOTE: &str = "listed with Debug contracts on (--ledger-debug-contracts): if the setting \
     is off on your Ledger, the selector and parameter screens do not come";

/// The note for `tx`, if the user must know how the device shows it.
pub fn note(tx: &TypedTransaction, settings: Settings) -> Option<&'static str> {
    if approval_flow(tx, settings) {
        Some(APPROVE_NOTE)
    } else if settings.debug_contracts && tx.input().len() >= 4 {
        Some(DEBUG_CONTRACTS_NOTE)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const ON: Settings = Settings { blind_signing: true, debug_contracts: false };

    pub(super) fn call(chain_id: u64, input: Vec<u8>, value: u64) -> TypedTransaction {
        TypedTransaction::Eip1559(alloy::consensus::TxEip1559 {
            chain_id,
            gas_limit: 100_000,
            max_fee_per_gas: 20_000_000_000,
            to: alloy::primitives::TxKind::Call(Address::repeat_byte(0x22)),
            value: U256::from(value),
            input: input.into(),
            ..Default::default()
        })
    }

    pub(super) fn approve() -> Vec<u8> {
        let spender: Address = "0x929D9A1435662357F54AdCF64DcEE4d6b867a6f9".parse().unwrap();
        let mut data = APPROVE_SELECTOR.to_vec();
        data.extend_from_slice(&[0; 12]);
        data.extend_from_slice(spender.as_slice());
        data.extend_from_slice(&U256::from(7u64).to_be_bytes::<32>());
        data
    }

    #[test]
    fn every_model_of_the_recording_has_a_layout_and_the_others_none() {
        assert_eq!(Layout::of(LedgerModel::NanoX), Some(Layout::Buttons));
        assert_eq!(Layout::of(LedgerModel::Stax), Some(Layout::Stax));
        assert_eq!(Layout::of(LedgerModel::ApexP), Some(Layout::FlexApexP));
        assert_eq!(Layout::of(LedgerModel::ApexM), None);
    }

    #[test]
    fn the_approve_hides_its_hash_unless_debug_contracts_is_on() {
        let debug = Settings { debug_contracts: true, ..ON };
        assert!(!shows_hash(&call(1, approve(), 0), ON));
        assert!(shows_hash(&call(1, approve(), 0), debug));
        assert_eq!(note(&call(1, approve(), 0), ON), Some(APPROVE_NOTE));
        assert_eq!(note(&call(1, approve(), 0), debug), Some(DEBUG_CONTRACTS_NOTE));
        assert!(shows_hash(&call(1, vec![0xaa; 36], 0), ON) && !shows_hash(&call(1, vec![], 1), ON));
    }

    #[test]
    fn ether_has_every_digit_and_no_trailing_zeros() {
        assert_eq!(ether_digits(U256::from(2_000_000_000_000_000u64)), "0.002");
        assert_eq!(ether_digits(U256::from(10u64).pow(U256::from(18))), "1");
        assert_eq!(ether_digits(U256::ZERO), "0");
        assert_eq!(ether_digits(U256::from(129_748_030_572_384u64)), "0.000129748030572384");
    }
}
