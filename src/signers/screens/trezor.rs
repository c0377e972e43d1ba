//! The Trezor One, firmware 1.14.1, as recorded: the recipient and value, the calldata pages
//! (or, for an ERC-20 `transfer`, the token layout instead), then the fees; and the message
//! flows. A line longer than the screen runs off it: the prediction keeps what is visible.

use alloy::consensus::TypedTransaction;
use alloy::primitives::{Address, B256, U256};

use super::recorded::trezor_one as text;
use super::recorded::unrecorded;
use super::{Screen, wrap};
use crate::units::format_token;

/// The selector of `transfer(address,uint256)`, which the firmware shows as a token transfer.
const TRANSFER_SELECTOR: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];

/// The recipient and amount of an ERC-20 `transfer` in `data`.
fn erc20_transfer(data: &[u8]) -> Option<(Address, U256)> {
    if data.len() != 4 + 64 || data[..4] != TRANSFER_SELECTOR || data[4..16].iter().any(|b| *b != 0) {
        return None;
    }
    Some((Address::from_slice(&data[16..36]), U256::from_be_slice(&data[36..68])))
}

/// The unit the firmware shows on `chain_id`; "UNKN" on the chains it does not know.
fn network_unit(chain_id: u64) -> &'static str {
    text::KNOWN_UNITS.iter().find(|(id, _)| *id == chain_id).map_or(text::UNKNOWN_UNIT, |(_, unit)| unit)
}

/// What the preview says above an ERC-20 transfer signed on a Trezor.
pub fn note(tx: &TypedTransaction) -> Option<String> {
    let (_, amount) = erc20_transfer(alloy::consensus::Transaction::input(tx))?;
    let line = token_amount(amount);
    let cut = line.len() > text::LINE_WIDTH;
    Some(format!(
        "your Trezor shows this ERC-20 transfer in the token's base units without its decimals \
         (\"{line}\"){}: check the amount in the call here, not on the device",
        if cut {
            format!(", and the line runs off the screen after \"{}\"", &line[..text::LINE_WIDTH])
        } else {
            String::new()
        }
    ))
}

/// The screens of `tx`.
pub fn transaction(tx: &TypedTransaction) -> Vec<Screen> {
    let (to, value, data, chain) = match tx {
        TypedTransaction::Eip1559(t) => (&t.to, t.value, &t.input, t.chain_id),
        TypedTransaction::Legacy(t) => (&t.to, t.value, &t.input, t.chain_id.unwrap_or(0)),
        _ => return vec![vec!["(a Trezor does not sign this transaction type)".to_owned()]],
    };
    let unit = network_unit(chain);
    let mut out = Vec::new();
    match erc20_transfer(data) {
        // The token layout: the recipient and amount from the call, no data pages.
        Some((recipient, amount)) => out.push(send(&token_amount(amount), Some(&recipient))),
        None => {
            let shown = if value.is_zero() { text::MESSAGE.to_owned() } else { amount(value, unit) };
            out.push(send(&shown, to.to().copied().as_ref()));
            out.extend(data_pages(data));
        }
    }
    match tx {
        TypedTransaction::Eip1559(t) => {
            let total = U256::from(t.gas_limit) * U256::from(t.max_fee_per_gas);
            let per_gas = |wei: u128| format!("{} {}", format_token(U256::from(wei), 9), text::GWEI);
            out.push(vec![
                text::CONFIRM_FEE.into(),
                text::MAX_FEE_PER_GAS.into(),
                per_gas(t.max_fee_per_gas),
            ]);
            out.push(vec![
                text::CONFIRM_FEE.into(),
                text::PRIORITY_FEE_PER_GAS.into(),
                per_gas(t.max_priority_fee_per_gas),
            ]);
            let mut fee = vec![text::CONFIRM_FEE.to_owned(), text::MAX_FEE.to_owned()];
            fee.extend(cut_every(&amount(total, unit), text::FEE_CUT));
            out.push(fee);
        }
        TypedTransaction::Legacy(t) => {
            let fee = U256::from(t.gas_limit) * U256::from(t.gas_price);
            let (number, unit_of_value) = if value.is_zero() {
                (text::MESSAGE.to_owned(), String::new())
            } else {
                amount_parts(value, unit)
            };
            let (fee_number, fee_unit) = amount_parts(fee, unit);
            let joined =
                |a: &str, b: &str| [a, b].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
            out.push(vec![
                text::REALLY_SEND.into(),
                number,
                joined(&unit_of_value, text::PAYING_UP_TO),
                fee_number,
                joined(&fee_unit, text::FOR_GAS),
            ]);
        }
        _ => {}
    }
    out
}

/// "Send", the amount, then the recipient as "to " and its first 15 characters, 18 more, and
/// the rest with "?".
fn send(amount: &str, to: Option<&Address>) -> Screen {
    let mut lines = vec![text::SEND.to_owned(), visible(amount)];
    match to {
        Some(address) => {
            let address = address.to_checksum(None);
            let first = text::ADDRESS_LINE - text::TO.len() - 1;
            let second = first + text::ADDRESS_LINE;
            lines.push(format!("{} {}", text::TO, &address[..first]));
            lines.push(address[first..second].to_owned());
            lines.push(format!("{}?", &address[second..]));
        }
        None => lines.push(format!("{} {}?", text::TO, text::NEW_CONTRACT)),
    }
    lines
}

/// Up to five pages of 24 bytes, three groups of eight a page; the last page keeps its empty
/// lines so that "N/M bytes" is always on the fifth; then a warning if there is more.
fn data_pages(data: &[u8]) -> Vec<Screen> {
    let total = data.len();
    let shown = total.min(text::DATA_PAGES * text::DATA_PAGE);
    let mut out = Vec::new();
    for (page, bytes) in data[..shown].chunks(text::DATA_PAGE).enumerate() {
        let end = page * text::DATA_PAGE + bytes.len();
        let mut lines = vec![text::TRANSACTION_DATA.to_owned()];
        let groups: Vec<String> = bytes.chunks(8).map(hex::encode_upper).collect();
        lines.extend((0..3).map(|i| groups.get(i).cloned().unwrap_or_default()));
        let more = if end < total { format!("{} ", text::MORE) } else { String::new() };
        lines.push(format!("{more}{end}/{total} {}", text::BYTES));
        out.push(lines);
    }
    if shown < total {
        out.push(text::TOO_LONG.iter().map(|l| l.to_string()).collect());
    }
    out
}

/// What the screen shows of a line: its first 21 characters.
fn visible(line: &str) -> String {
    line.chars().take(text::LINE_WIDTH).collect()
}

/// `text` cut every `width` characters, wherever that falls (mid-number, or before the unit,
/// whose space then leads the next line).
fn cut_every(text: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(width).map(|c| c.iter().collect()).collect()
}

/// A token amount as the firmware writes it for a token it does not know: base units.
fn token_amount(amount: U256) -> String {
    format!("{} {} {}", format_token(amount, 0), text::WEI, text::UNKNOWN_UNIT)
}

/// An amount: below 1 Gwei in Wei, else in the chain's unit.
fn amount(wei: U256, unit: &str) -> String {
    let (number, unit) = amount_parts(wei, unit);
    format!("{number} {unit}")
}

fn amount_parts(wei: U256, unit: &str) -> (String, String) {
    if wei < U256::from(1_000_000_000u64) {
        (format_token(wei, 0), text::WEI.to_owned())
    } else {
        (format_token(wei, 18), unit.to_owned())
    }
}

/// An address over lines of the screen's width.
fn address_lines(address: Address) -> Vec<String> {
    wrap(&address.to_checksum(None), text::LINE_WIDTH)
}

fn titled(title: &str, lines: Vec<String>) -> Screen {
    let mut screen = vec![title.to_owned()];
    screen.extend(lines);
    screen
}

/// A personal message (not in the recording: as the simulator draws it).
pub fn personal_message(message: &[u8], from: Address) -> Vec<Screen> {
    let shown = match std::str::from_utf8(message) {
        Ok(s) if s.chars().all(|c| c == '\n' || (' '..='~').contains(&c)) => {
            titled(unrecorded::TREZOR_SIGN_MESSAGE, wrap(&s.replace('\n', " "), text::LINE_WIDTH))
        }
        _ => titled(unrecorded::TREZOR_SIGN_BINARY, wrap(&hex::encode_upper(message), text::LINE_WIDTH)),
    };
    vec![titled(unrecorded::TREZOR_CONFIRM_ADDRESS, address_lines(from)), shown]
}

/// EIP-712 as hashes, the only form the Trezor One signs (not in the recording: as the
/// simulator draws it).
pub fn typed_hashes(domain: B256, message: B256, from: Address) -> Vec<Screen> {
    let hash = |h: B256| wrap(&hex::encode_upper(h), text::LINE_WIDTH);
    vec![
        wrap(unrecorded::TREZOR_UNABLE_EIP712, text::LINE_WIDTH),
        titled(unrecorded::TREZOR_CONFIRM_ADDRESS, address_lines(from)),
        titled(unrecorded::TREZOR_DOMAIN_HASH, hash(domain)),
        titled(unrecorded::TREZOR_MESSAGE_HASH, hash(message)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::consensus::TxEip1559;
    use alloy::primitives::TxKind;

    fn eip1559(chain_id: u64, value: u64, input: Vec<u8>, gas_limit: u64, max_fee: u128) -> TypedTransaction {
        TypedTransaction::Eip1559(TxEip1559 {
            chain_id,
            nonce: 7,
            gas_limit,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: 1_000_000_000,
            to: TxKind::Call("0x5FbDB2315678afecb367f032d93F642f64180aa3".parse().unwrap()),
            value: U256::from(value),
            access_list: Default::default(),
            input: input.into(),
        })
    }

    #[test]
    fn a_contract_call_as_recorded_with_its_last_data_page_kept_five_lines_high() {
        let s = transaction(&eip1559(1, 0, (0..36u8).collect(), 100_000, 2_000_000_000));
        assert_eq!(s[0], ["Send", "message", "to 0x5FbDB2315678a", "fecb367f032d93F642", "f64180aa3?"]);
        assert_eq!(
            s[1],
            [
                "Transaction data:",
                "0001020304050607",
                "08090A0B0C0D0E0F",
                "1011121314151617",
                "... 24/36 bytes"
            ]
        );
        assert_eq!(s[2], ["Transaction data:", "18191A1B1C1D1E1F", "20212223", "", "36/36 bytes"]);
        assert_eq!(s[3], ["Confirm fee", "Maximum fee per gas", "2 Gwei"]);
        assert_eq!(s[4], ["Confirm fee", "Priority fee per gas", "1 Gwei"]);
        assert_eq!(s[5], ["Confirm fee", "Maximum fee", "0.0002 ETH"]);
        assert_eq!(s.len(), 6);
        let valued = transaction(&eip1559(1, 10_000_000_000_000_000, vec![1], 100_000, 2_000_000_000));
        assert_eq!(valued[0][1], "0.01 ETH");
    }

    #[test]
    fn the_maximum_fee_is_cut_every_18_characters_as_recorded() {
        // The recorded example: a maximum fee of 0.000366936551588608 on chain 31337.
        let s = transaction(&eip1559(31_337, 0, vec![1], 1, 366_936_551_588_608));
        assert_eq!(s.last().unwrap()[2..], ["0.0003669365515886", "08 UNKN"], "{s:?}");
        assert_eq!(cut_every("0.0003669365515886 UNKN", 18), ["0.0003669365515886", " UNKN"]);
        assert_eq!(cut_every("0.0002 ETH", 18), ["0.0002 ETH"]);
    }

    #[test]
    fn long_data_gets_five_pages_and_the_warning() {
        let s = transaction(&eip1559(1, 0, vec![0xab; 200], 100_000, 2_000_000_000));
        assert_eq!(s[5][4], "... 120/200 bytes");
        assert_eq!(s[6], ["Warning! Too long data to view.", "Proceed with caution."]);
    }

    #[test]
    fn an_erc20_transfer_takes_the_token_layout_and_its_amount_runs_off_the_screen() {
        let recipient: Address = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8".parse().unwrap();
        let mut data = TRANSFER_SELECTOR.to_vec();
        data.extend_from_slice(&[0; 12]);
        data.extend_from_slice(recipient.as_slice());
        data.extend_from_slice(
            &(U256::from(1000u64) * U256::from(10u64).pow(U256::from(18))).to_be_bytes::<32>(),
        );
        let tx = eip1559(31_337, 0, data, 60_000, 2_000_000_000);
        let s = transaction(&tx);
        assert_eq!(
            s[0],
            ["Send", "1,000,000,000,000,000", "to 0x70997970C5181", "2dc3A010C7d01b50e0", "d17dc79C8?"]
        );
        assert_eq!(s[1][0], "Confirm fee", "no data pages");
        let warned = note(&tx).unwrap();
        assert!(
            warned.contains("1,000,000,000,000,000,000,000 Wei UNKN") && warned.contains("runs off"),
            "{warned}"
        );
    }
}
