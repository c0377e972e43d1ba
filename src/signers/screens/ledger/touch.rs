//! The touch models (Stax, Flex, Apex P): a warning page with two choices, then review pages
//! that group the fields, each with "Reject" and "N of M", and a last page signed with a long
//! press. The recording gives no line width for these screens, so each text is one line; and
//! it says every review page shows "Reject" and "N of M" but not where, so they are listed as
//! the page's last two lines, in that order.

use super::super::Screen;
use super::super::recorded::ledger as text;
use super::super::recorded::ledger_touch as touch;
use super::{Fields, Flow};

/// The pages of a transaction, or what the recording lacks to predict them.
pub(super) fn transaction(fields: &Fields, flow: Flow, stax: bool) -> Result<Vec<Screen>, &'static str> {
    let fees = [text::MAX_FEES, fields.fees.as_str()];
    let network = fields.network.as_deref().map(|name| [text::NETWORK, name]);
    match flow {
        Flow::BlindSigningOff => Ok(vec![lines(&[
            touch::CANNOT_CLEAR_SIGN,
            touch::ENABLE_BLIND_SIGNING,
            touch::GO_TO_SETTINGS,
            touch::REJECT_TRANSACTION,
        ])]),
        Flow::Transfer => Err("a plain transfer"),
        Flow::Generic { debug_contracts: true } => Err("Debug contracts"),
        Flow::Generic { .. } if fields.amount.is_some() => Err("a call that sends ETH"),
        Flow::Approve => {
            let mut details = lines(&[text::FROM, &fields.from]);
            details.extend(network.iter().flat_map(|n| lines(n)));
            details.extend(lines(&fees));
            Ok(paged(vec![
                lines(&[text::REVIEW_APPROVE, touch::BLIND_SIGNING_REQUIRED]),
                details,
                lines(&[touch::ACCEPT_RISK_AND_SIGN_APPROVE, touch::HOLD_TO_SIGN]),
            ]))
        }
        Flow::Generic { .. } => {
            let mut parties = lines(&[text::FROM, &fields.from, text::TO, &fields.to]);
            let mut rest = Vec::new();
            if stax {
                parties.extend(lines(&fees));
            } else {
                rest.extend(lines(&fees));
            }
            rest.extend(network.iter().flat_map(|n| lines(n)));
            rest.extend(lines(&[touch::TRANSACTION_HASH, &fields.hash]));
            Ok(paged(vec![
                lines(&[text::REVIEW_TRANSACTION, touch::BLIND_SIGNING_REQUIRED]),
                parties,
                rest,
                lines(&[touch::ACCEPT_RISK_AND_SIGN, touch::HOLD_TO_SIGN]),
            ]))
        }
    }
}

fn lines(texts: &[&str]) -> Screen {
    texts.iter().map(|t| (*t).to_owned()).collect()
}

/// The warning page, then `pages`, each closed by "Reject" and its "N of M".
fn paged(pages: Vec<Screen>) -> Vec<Screen> {
    let count = pages.len();
    let warning = lines(&[
        text::BLIND_SIGNING_AHEAD,
        touch::BLIND_SIGNING_RISK,
        touch::ACCEPT_RISK_AND_CONTINUE,
        touch::BACK_TO_SAFETY,
    ]);
    let numbered = pages.into_iter().enumerate().map(|(i, mut page)| {
        page.extend([touch::REJECT.to_owned(), format!("{} of {count}", i + 1)]);
        page
    });
    std::iter::once(warning).chain(numbered).collect()
}

#[cfg(test)]
mod tests {
    use alloy::consensus::{SignableTransaction, TypedTransaction};
    use alloy::primitives::Address;

    use super::super::tests::{ON, approve, call};
    use super::super::{Layout, Settings};

    fn pages(tx: &TypedTransaction, settings: Settings, layout: Layout) -> Vec<Vec<String>> {
        let pages = super::super::transaction(tx, Address::repeat_byte(0x11), settings, layout);
        pages.expect("a recorded flow")
    }

    fn texts(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|t| (*t).to_owned()).collect()
    }

    const FROM: &str = "0x1111111111111111111111111111111111111111";
    const TO: &str = "0x2222222222222222222222222222222222222222";

    #[test]
    fn a_generic_call_takes_four_pages_after_the_warning() {
        let tx = call(31_337, vec![0xaa; 36], 0);
        let hash = format!("{:#x}", tx.signature_hash());
        let flex = pages(&tx, ON, Layout::FlexApexP);
        assert_eq!(flex.len(), 5);
        assert_eq!(flex[0][..1], texts(&["Blind signing ahead"]));
        assert_eq!(flex[0][2..], texts(&["Accept risk and continue", "Back to safety"]));
        assert_eq!(flex[1], texts(&["Review transaction", "Blind signing required.", "Reject", "1 of 4"]));
        assert_eq!(flex[2], texts(&["From", FROM, "To", TO, "Reject", "2 of 4"]));
        let fees = "0.002 ???";
        let third = ["Max fees", fees, "Network", "31337", "Transaction hash", &hash, "Reject", "3 of 4"];
        assert_eq!(flex[3], texts(&third));
        let last = ["Accept risk and sign transaction?", "Hold to sign", "Reject", "4 of 4"];
        assert_eq!(flex[4], texts(&last));

        // The Stax has the fees beside From and To; on mainnet no Network page line at all.
        let stax = pages(&call(1, vec![0xaa; 36], 0), ON, Layout::Stax);
        assert_eq!(stax[2], texts(&["From", FROM, "To", TO, "Max fees", "0.002 ETH", "Reject", "2 of 4"]));
        assert_eq!(stax[3][0], "Transaction hash");
        assert_eq!(stax[3].len(), 4);
    }

    #[test]
    fn an_approve_takes_three_pages_without_to_or_hash() {
        let devnet = pages(&call(31_337, approve(), 0), ON, Layout::Stax);
        assert_eq!(devnet.len(), 4);
        assert_eq!(
            devnet[1][..2],
            texts(&["Review transaction to approve ERC20 token", "Blind signing required."])
        );
        assert_eq!(
            devnet[2],
            texts(&["From", FROM, "Network", "31337", "Max fees", "0.002 ???", "Reject", "2 of 3"])
        );
        assert_eq!(
            devnet[3][..2],
            texts(&["Accept risk and sign transaction to approve ERC20 token?", "Hold to sign"])
        );
        assert_eq!(
            pages(&call(1, approve(), 0), ON, Layout::FlexApexP)[2][..4],
            texts(&["From", FROM, "Max fees", "0.002 ETH"])
        );
    }

    #[test]
    fn blind_signing_off_is_one_page_with_its_two_choices() {
        let off = pages(&call(1, approve(), 0), Settings::default(), Layout::FlexApexP);
        let page = [
            "This transaction cannot be clear-signed",
            "Enable blind signing in the settings to sign this transaction.",
            "Go to settings",
            "Reject transaction",
        ];
        assert_eq!(off, [texts(&page)]);
    }

    #[test]
    fn flows_the_recording_lacks_are_not_guessed() {
        let debug = Settings { debug_contracts: true, ..ON };
        let unrecorded = |tx, settings| super::super::transaction(&tx, Address::ZERO, settings, Layout::Stax);
        assert_eq!(unrecorded(call(1, vec![], 5), ON), Err("a plain transfer"));
        assert_eq!(unrecorded(call(1, vec![0xaa; 4], 5), ON), Err("a call that sends ETH"));
        assert_eq!(unrecorded(call(1, approve(), 0), debug), Err("Debug contracts"));
    }
}
