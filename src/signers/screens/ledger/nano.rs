//! The Nanos (S Plus and X): one field a screen, lines wrapped at the recorded width of about
//! 19 characters, with "Debug contracts" off (the default) or on, and the hashed message flows.

use alloy::primitives::B256;

use super::super::recorded::ledger as text;
use super::super::recorded::unrecorded;
use super::super::{Screen, wrap};
use super::{Fields, Flow};

fn screen(title: &str, value: Option<&str>) -> Screen {
    let mut lines = wrap(title, text::LINE_WIDTH);
    if let Some(value) = value {
        lines.extend(wrap(value, text::LINE_WIDTH));
    }
    lines
}

/// The screens of a transaction whose calldata is `data`.
pub(super) fn transaction(fields: &Fields, flow: Flow, data: &[u8]) -> Vec<Screen> {
    let network = fields.network.as_deref().map(|name| screen(text::NETWORK, Some(name)));
    let fees = screen(text::MAX_FEES, Some(&fields.fees));
    let amount = |value: &str| screen(text::AMOUNT, Some(value));
    let warning = screen(text::BLIND_SIGNING_AHEAD, Some(text::TO_ACCEPT_RISK));
    let from = screen(text::FROM, Some(&fields.from));

    let mut out = Vec::new();
    match flow {
        Flow::BlindSigningOff => out.push(screen(text::BLIND_SIGNING_OFF, None)),
        Flow::Transfer => {
            // No warning and no review title, the amount first.
            out.extend([
                amount(fields.amount.as_deref().unwrap_or("0")),
                screen(text::TO, Some(&fields.to)),
                fees,
            ]);
            out.extend(network);
            out.push(screen(text::SIGN_TRANSACTION, None));
        }
        Flow::Approve => {
            // Network comes before the fees in this flow, after them in the generic one.
            out.extend([warning, screen(text::REVIEW_APPROVE, None), from]);
            out.extend(network);
            out.extend([fees, screen(text::ACCEPT_RISK_AND_SIGN, None)]);
        }
        Flow::Generic { debug_contracts } => {
            if debug_contracts {
                out.extend(debug_contract_data(data));
            }
            out.extend([
                warning,
                screen(text::REVIEW_TRANSACTION, None),
                from,
                screen(text::TO, Some(&fields.to)),
            ]);
            out.extend(fields.amount.as_deref().map(amount));
            out.push(fees);
            out.extend(network);
            // 0x and the first 32 digits, then the last 32.
            let hash = &fields.hash;
            out.extend([
                screen(text::TX_HASH_1, Some(&hash[..34])),
                screen(text::TX_HASH_2, Some(&hash[34..])),
            ]);
            out.push(screen(text::ACCEPT_RISK_AND_SIGN, None));
        }
    }
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
    use alloy::consensus::{SignableTransaction, TypedTransaction};
    use alloy::primitives::{Address, U256};

    use super::super::tests::{ON, approve, call};
    use super::super::{DEBUG_CONTRACTS_NOTE, Layout, Settings, note, shows_hash};
    use super::*;

    const DEBUG: Settings = Settings { blind_signing: true, debug_contracts: true };

    fn transaction(tx: &TypedTransaction, from: Address, settings: Settings) -> Vec<Screen> {
        super::super::transaction(tx, from, settings, Layout::Buttons).expect("the Nanos draw every flow")
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
}
