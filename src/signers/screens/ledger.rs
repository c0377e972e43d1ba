//! The Ledger Ethereum app 1.22 on a Nano S Plus or Nano X, as recorded: which flow a
//! transaction takes (generic blind-signed call, the app's own ERC-20 approval flow, plain
//! transfer), with "Debug contracts" off (the default) or on, and the hashed message flows.
//! Lines wrap at the recorded width of about 19 characters.

use alloy::consensus::{SignableTransaction, Transaction, TypedTransaction};
use alloy::primitives::{Address, B256, U256};

use super::recorded::ledger as text;
use super::recorded::unrecorded;
use super::{Screen, wrap};

/// The app's settings that change what it shows. The device reveals only the first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settings {
    pub blind_signing: bool,
    /// Settings > Debug contracts: the selector and each parameter before the review.
    pub debug_contracts: bool,
}

/// The selector of `approve(address,uint256)`, the call the app has its own flow for when it
/// holds no signed metadata for the token (MKR, SKY and every devnet token).
const APPROVE_SELECTOR: [u8; 4] = [0x09, 0x5e, 0xa7, 0xb3];

/// Whether the app takes its ERC-20 approval flow for calldata `data`.
fn is_erc20_approve(data: &[u8]) -> bool {
    data.len() == 4 + 64 && data[..4] == APPROVE_SELECTOR
}

/// Whether the app takes the approval flow for `tx` with `settings` (Debug contracts sends
/// even an approve through the generic flow).
fn approval_flow(tx: &TypedTransaction, settings: Settings) -> bool {
    is_erc20_approve(tx.input()) && !settings.debug_contracts
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

fn screen(title: &str, value: Option<&str>) -> Screen {
    let mut lines = wrap(title, text::LINE_WIDTH);
    if let Some(value) = value {
        lines.extend(wrap(value, text::LINE_WIDTH));
    }
    lines
}

fn ticker(chain: u64) -> &'static str {
    if text::ETH_CHAINS.contains(&chain) { "ETH" } else { text::UNKNOWN_TICKER }
}

/// The "Network" screen, off mainnet.
fn network(chain: u64) -> Option<Screen> {
    (chain != 1).then(|| {
        let name = text::NETWORK_NAMES.iter().find(|(id, _)| *id == chain).map(|(_, name)| name.to_string());
        screen(text::NETWORK, Some(&name.unwrap_or_else(|| chain.to_string())))
    })
}

/// Wei as the Ledger app prints ETH: every digit, no grouping, trailing zeros trimmed.
fn ether_digits(wei: U256) -> String {
    let text = alloy::primitives::utils::format_units(wei, 18).unwrap_or_else(|_| wei.to_string());
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() { "0".into() } else { text.into() }
}

/// The screens of `tx`, signed from `from`.
pub fn transaction(tx: &TypedTransaction, from: Address, settings: Settings) -> Vec<Screen> {
    let data = tx.input();
    let contract_call = !data.is_empty();
    if contract_call && !settings.blind_signing {
        return vec![screen(text::BLIND_SIGNING_OFF, None)];
    }
    let chain = tx.chain_id().unwrap_or(0);
    let unit = ticker(chain);
    let fee_per_gas = match tx {
        TypedTransaction::Legacy(t) => t.gas_price,
        TypedTransaction::Eip2930(t) => t.gas_price,
        other => other.max_fee_per_gas(),
    };
    let max_fee = U256::from(tx.gas_limit()) * U256::from(fee_per_gas);
    let fees = screen(text::MAX_FEES, Some(&format!("{} {unit}", ether_digits(max_fee))));
    let to = match tx.to() {
        Some(to) => to.to_checksum(None),
        None => text::NEW_CONTRACT.into(),
    };
    let amount = screen(text::AMOUNT, Some(&format!("{} {unit}", ether_digits(tx.value()))));
    let warning = screen(text::BLIND_SIGNING_AHEAD, Some(text::TO_ACCEPT_RISK));
    let from = screen(text::FROM, Some(&from.to_checksum(None)));

    let mut out = Vec::new();
    if !contract_call {
        // A plain transfer: no warning and no review title, the amount first.
        out.extend([amount, screen(text::TO, Some(&to)), fees]);
        out.extend(network(chain));
        out.push(screen(text::SIGN_TRANSACTION, None));
        return out;
    }
    if approval_flow(tx, settings) {
        // Network comes before the fees in this flow, after them in the generic one.
        out.extend([warning, screen(text::REVIEW_APPROVE, None), from]);
        out.extend(network(chain));
        out.extend([fees, screen(text::ACCEPT_RISK_AND_SIGN, None)]);
        return out;
    }
    if settings.debug_contracts {
        out.extend(debug_contract_data(data));
    }
    out.extend([warning, screen(text::REVIEW_TRANSACTION, None), from, screen(text::TO, Some(&to))]);
    if !tx.value().is_zero() {
        out.push(amount);
    }
    out.push(fees);
    out.extend(network(chain));
    // 0x and the first 32 digits, then the last 32.
    let hash = format!("{:#x}", tx.signature_hash());
    out.extend([screen(text::TX_HASH_1, Some(&hash[..34])), screen(text::TX_HASH_2, Some(&hash[34..]))]);
    out.push(screen(text::ACCEPT_RISK_AND_SIGN, None));
    out
}

/// Debug contracts' screens: the selector, then each 32-byte parameter, each between a
/// "Verify" and a "Confirm" screen.
fn debug_contract_data(data: &[u8]) -> Vec<Screen> {
    let Some((selector, arguments)) = data.split_first_chunk::<4>() else { return Vec::new() };
    let mut out = vec![
        screen(text::VERIFY_SELECTOR, None),
        screen(text::SELECTOR, Some(&hex::encode_upper(selector))),
        screen(text::CONFIRM_SELECTOR, None),
    ];
    for word in arguments.chunks(32) {
        out.push(screen(text::VERIFY_PARAMETER, None));
        out.push(screen(text::PARAMETER, Some(&parameter(word))));
        out.push(screen(text::CONFIRM_PARAMETER, None));
    }
    out
}

/// A parameter as Debug contracts prints it, inferred from the recorded
/// "00:929D9A14:35662357F54ADCF6:..." (the new Chief's address as an approve's spender): four
/// groups of eight bytes in upper-case hex, each without its leading zero bytes but keeping
/// at least one, joined by ':'.
pub fn parameter(word: &[u8]) -> String {
    word.chunks(8)
        .map(|group| {
            let first = group.iter().position(|b| *b != 0).unwrap_or(group.len().saturating_sub(1));
            hex::encode_upper(&group[first..])
        })
        .collect::<Vec<_>>()
        .join(":")
}

/// A personal message (not in the recording: as the simulator draws it).
pub fn personal_message(message: &[u8]) -> Vec<Screen> {
    let shown = if message.iter().all(|b| (0x20..0x7F).contains(b) || *b == b'\n') {
        String::from_utf8_lossy(message).replace('\n', " ")
    } else {
        format!("0x{}", hex::encode(message))
    };
    vec![
        screen(unrecorded::LEDGER_REVIEW_MESSAGE, None),
        screen(unrecorded::LEDGER_MESSAGE, Some(&shown)),
        screen(unrecorded::LEDGER_SIGN_MESSAGE, None),
    ]
}

/// EIP-712 in the app's hashed mode (not in the recording: as the simulator draws it).
pub fn typed_hashes(domain: B256, message: B256) -> Vec<Screen> {
    vec![
        screen(unrecorded::LEDGER_REVIEW_TYPED, None),
        screen(unrecorded::LEDGER_DOMAIN_HASH, Some(&format!("{domain:#x}"))),
        screen(unrecorded::LEDGER_MESSAGE_HASH, Some(&format!("{message:#x}"))),
        screen(unrecorded::LEDGER_SIGN_TYPED, None),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const ON: Settings = Settings { blind_signing: true, debug_contracts: false };
    const DEBUG: Settings = Settings { blind_signing: true, debug_contracts: true };

    fn call(chain_id: u64, input: Vec<u8>, value: u64) -> TypedTransaction {
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

    fn approve() -> Vec<u8> {
        let spender: Address = "0x929D9A1435662357F54AdCF64DcEE4d6b867a6f9".parse().unwrap();
        let mut data = APPROVE_SELECTOR.to_vec();
        data.extend_from_slice(&[0; 12]);
        data.extend_from_slice(spender.as_slice());
        data.extend_from_slice(&U256::from(7u64).to_be_bytes::<32>());
        data
    }

    /// Screens from "Title|value" texts, drawn as the device wraps them.
    fn drawn(texts: &[&str]) -> Vec<Screen> {
        texts.iter().map(|t| t.split_once('|').map_or(screen(t, None), |(a, b)| screen(a, Some(b)))).collect()
    }

    #[test]
    fn an_approve_takes_the_approval_flow_on_every_chain() {
        let from = Address::repeat_byte(0x11);
        let mainnet = transaction(&call(1, approve(), 0), from, ON);
        assert_eq!(
            mainnet,
            drawn(&[
                "Blind signing ahead|To accept risk, press both buttons",
                "Review transaction to approve ERC20 token",
                &format!("From|{}", from.to_checksum(None)),
                "Max fees|0.002 ETH",
                "Accept risk and sign transaction",
            ])
        );
        assert_eq!(mainnet[0], ["Blind signing ahead", "To accept risk,", "press both buttons"]);
        assert_eq!(mainnet[2].len(), 4, "From, then the address in three parts: {:?}", mainnet[2]);
        let devnet = transaction(&call(31_337, approve(), 0), from, ON);
        assert_eq!(devnet[3..5], drawn(&["Network|31337", "Max fees|0.002 ???"]));
        assert!(!shows_hash(&call(1, approve(), 0), ON));
        assert_eq!(note(&call(1, approve(), 0), ON), Some(APPROVE_NOTE));
    }

    #[test]
    fn a_generic_call_shows_its_hash_over_two_screens_after_the_network() {
        let from = Address::repeat_byte(0x11);
        let tx = call(31_337, vec![0xaa; 36], 0);
        let shown = transaction(&tx, from, ON);
        let hash = format!("{:#x}", tx.signature_hash());
        assert_eq!(
            shown[4..],
            drawn(&[
                "Max fees|0.002 ???",
                "Network|31337",
                &format!("Tx hash (1/2)|{}", &hash[..34]),
                &format!("Tx hash (2/2)|{}", &hash[34..]),
                "Accept risk and sign transaction",
            ])
        );
        assert_eq!(shown[6][1..], [&hash[..19], &hash[19..34]], "0x and 17 digits, then 15");
        let mainnet = transaction(&call(1, vec![0xaa; 36], 5 * 10u64.pow(15)), from, ON);
        assert_eq!(mainnet[4..6], drawn(&["Amount|0.005 ETH", "Max fees|0.002 ETH"]));
        assert_eq!(mainnet[6][0], "Tx hash (1/2)");
        assert!(shows_hash(&tx, ON));
    }

    #[test]
    fn a_plain_transfer_shows_amount_to_fees_and_no_warning() {
        let tx = TypedTransaction::Eip1559(alloy::consensus::TxEip1559 {
            chain_id: 11_155_111,
            gas_limit: 21_000,
            max_fee_per_gas: 1_000_000_000,
            to: alloy::primitives::TxKind::Call(Address::repeat_byte(0x22)),
            value: U256::from(10u64).pow(U256::from(18)),
            ..Default::default()
        });
        let shown = transaction(&tx, Address::ZERO, Settings::default());
        assert_eq!(shown[0], ["Amount", "1 ETH"]);
        assert_eq!(shown[2..], drawn(&["Max fees|0.000021 ETH", "Network|Sepolia", "Sign transaction"]));
    }

    #[test]
    fn blind_signing_off_refuses_every_contract_call() {
        let shown = transaction(&call(1, approve(), 0), Address::ZERO, Settings::default());
        assert_eq!(shown, [["Blind signing must", "be enabled in", "settings"]]);
    }

    #[test]
    fn debug_contracts_shows_the_selector_and_each_parameter_then_the_generic_flow() {
        let tx = call(31_337, approve(), 0);
        let shown = transaction(&tx, Address::ZERO, DEBUG);
        assert_eq!(
            shown[..9],
            drawn(&[
                "Verify selector",
                "Selector|095EA7B3",
                "Confirm selector",
                "Verify parameter",
                "Parameter|00:929D9A14:35662357F54ADCF6:4DCEE4D6B867A6F9",
                "Confirm parameter",
                "Verify parameter",
                "Parameter|00:00:00:07",
                "Confirm parameter",
            ])
        );
        assert_eq!(
            shown[9..11],
            drawn(&["Blind signing ahead|To accept risk, press both buttons", "Review transaction"])
        );
        assert_eq!(shown[12][..2], ["To", "0x22222222222222222"]);
        assert!(shows_hash(&tx, DEBUG) && shown.iter().any(|s| s[0] == "Tx hash (2/2)"));
        assert_eq!(note(&tx, DEBUG), Some(DEBUG_CONTRACTS_NOTE));
    }

    #[test]
    fn the_recorded_parameter_text_is_reproduced() {
        let mut word = [0u8; 32];
        word[12..].copy_from_slice(&hex::decode("929D9A1435662357F54AdCF64DcEE4d6b867a6f9").unwrap());
        assert!(parameter(&word).starts_with("00:929D9A14:35662357F54ADCF6:"));
    }

    #[test]
    fn ether_has_every_digit_and_no_trailing_zeros() {
        assert_eq!(ether_digits(U256::from(2_000_000_000_000_000u64)), "0.002");
        assert_eq!(ether_digits(U256::from(10u64).pow(U256::from(18))), "1");
        assert_eq!(ether_digits(U256::ZERO), "0");
        assert_eq!(ether_digits(U256::from(129_748_030_572_384u64)), "0.000129748030572384");
    }
}
