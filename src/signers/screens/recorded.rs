//! Every text the devices were recorded drawing, in one place, so a reader can hold this file
//! against ../shared/spec/hardware-wallets.md ("Recorded screen by screen ..."). The
//! predictions in `ledger.rs` and `trezor.rs` use only these words; what they compute (amounts,
//! addresses, hashes, the paging) is theirs.

/// The Ethereum app 1.22.0 on a Nano S Plus / Nano X, default settings but "Blind signing" on;
/// the touch models share the field labels.
pub mod ledger {
    /// The width the app wraps a line at: "about 19 characters a line".
    pub const LINE_WIDTH: usize = 19;

    pub const BLIND_SIGNING_AHEAD: &str = "Blind signing ahead";
    /// The first screen's second line.
    pub const TO_ACCEPT_RISK: &str = "To accept risk, press both buttons";
    pub const REVIEW_TRANSACTION: &str = "Review transaction";
    pub const REVIEW_APPROVE: &str = "Review transaction to approve ERC20 token";
    pub const FROM: &str = "From";
    pub const TO: &str = "To";
    pub const AMOUNT: &str = "Amount";
    pub const MAX_FEES: &str = "Max fees";
    pub const NETWORK: &str = "Network";
    pub const TX_HASH_1: &str = "Tx hash (1/2)";
    pub const TX_HASH_2: &str = "Tx hash (2/2)";
    pub const ACCEPT_RISK_AND_SIGN: &str = "Accept risk and sign transaction";
    /// The last screen of a plain transfer (no warning, no review title).
    pub const SIGN_TRANSACTION: &str = "Sign transaction";
    pub const BLIND_SIGNING_OFF: &str = "Blind signing must be enabled in settings";
    /// The ticker of the fees and amounts on a chain the app knows no currency for.
    pub const UNKNOWN_TICKER: &str = "???";
    /// The chains whose currency the app prints as "ETH".
    pub const ETH_CHAINS: [u64; 3] = [1, 11_155_111, 17_000];
    /// The "Network" screen's value on the test networks it names; other chains show their id,
    /// mainnet no Network screen at all.
    pub const NETWORK_NAMES: [(u64, &str); 2] = [(11_155_111, "Sepolia"), (17_000, "Holesky")];
    pub const NEW_CONTRACT: &str = "New contract";

    /// With Settings > Debug contracts on, before the generic flow.
    pub const VERIFY_SELECTOR: &str = "Verify selector";
    pub const SELECTOR: &str = "Selector";
    pub const CONFIRM_SELECTOR: &str = "Confirm selector";
    pub const VERIFY_PARAMETER: &str = "Verify parameter";
    pub const PARAMETER: &str = "Parameter";
    pub const CONFIRM_PARAMETER: &str = "Confirm parameter";
}

/// The same app on the touch models (Stax, Flex, Apex P): the texts their pages add to the
/// Nanos' words above.
pub mod ledger_touch {
    /// The warning page's text under "Blind signing ahead" (the app's own spelling).
    pub const BLIND_SIGNING_RISK: &str = "If you sign this transaction, you could loose your assets. \
        Explore safer alternatives: ledger.com/integrated-apps";
    pub const ACCEPT_RISK_AND_CONTINUE: &str = "Accept risk and continue";
    pub const BACK_TO_SAFETY: &str = "Back to safety";
    /// Under the review title on the first page.
    pub const BLIND_SIGNING_REQUIRED: &str = "Blind signing required.";
    /// One label for the whole hash, not paged in two.
    pub const TRANSACTION_HASH: &str = "Transaction hash";
    pub const ACCEPT_RISK_AND_SIGN: &str = "Accept risk and sign transaction?";
    pub const ACCEPT_RISK_AND_SIGN_APPROVE: &str = "Accept risk and sign transaction to approve ERC20 token?";
    /// The long press that signs.
    pub const HOLD_TO_SIGN: &str = "Hold to sign";
    /// On every review page, with its "N of M".
    pub const REJECT: &str = "Reject";
    /// Blind signing off (recorded on the Stax).
    pub const CANNOT_CLEAR_SIGN: &str = "This transaction cannot be clear-signed";
    pub const ENABLE_BLIND_SIGNING: &str = "Enable blind signing in the settings to sign this transaction.";
    pub const GO_TO_SETTINGS: &str = "Go to settings";
    pub const REJECT_TRANSACTION: &str = "Reject transaction";
}

/// The Trezor One, firmware 1.14.1 (the core models are drawn with the One's words too).
pub mod trezor_one {
    /// Characters a line of the 128-pixel screen shows; the rest of a longer line runs off.
    pub const LINE_WIDTH: usize = 21;
    /// The "Maximum fee" line is cut every this many characters, wherever that falls.
    pub const FEE_CUT: usize = 18;
    /// The recipient's lines: "to " and the address's first 15 characters, then 18, then the
    /// rest and "?".
    pub const ADDRESS_LINE: usize = 18;

    pub const SEND: &str = "Send";
    pub const MESSAGE: &str = "message";
    pub const TO: &str = "to";
    pub const NEW_CONTRACT: &str = "new contract";
    pub const TRANSACTION_DATA: &str = "Transaction data:";
    /// Bytes of calldata per page, shown as three groups of eight.
    pub const DATA_PAGE: usize = 24;
    /// Pages of calldata shown before the warning below.
    pub const DATA_PAGES: usize = 5;
    pub const MORE: &str = "...";
    pub const BYTES: &str = "bytes";
    pub const TOO_LONG: [&str; 2] = ["Warning! Too long data to view.", "Proceed with caution."];
    pub const CONFIRM_FEE: &str = "Confirm fee";
    pub const MAX_FEE_PER_GAS: &str = "Maximum fee per gas";
    pub const PRIORITY_FEE_PER_GAS: &str = "Priority fee per gas";
    pub const MAX_FEE: &str = "Maximum fee";
    pub const GWEI: &str = "Gwei";
    pub const WEI: &str = "Wei";
    /// The unit on chains the firmware does not know, and of a token it does not know.
    pub const UNKNOWN_UNIT: &str = "UNKN";
    /// A legacy transaction's last screen: "Really send" <amount> "paying up to" <fee> "for gas?".
    pub const REALLY_SEND: &str = "Really send";
    pub const PAYING_UP_TO: &str = "paying up to";
    pub const FOR_GAS: &str = "for gas?";
    /// The units of the chains the firmware knows.
    pub const KNOWN_UNITS: [(u64, &str); 10] = [
        (1, "ETH"),
        (10, "ETH"),
        (8453, "ETH"),
        (42161, "ETH"),
        (56, "BNB"),
        (61, "ETC"),
        (100, "xDAI"),
        (137, "POL"),
        (17_000, "tHOL"),
        (11_155_111, "tSEP"),
    ];
}

/// Flows the tool can produce whose screens are not in the recording (personal messages and
/// EIP-712 hashes, for J). These follow the simulators; a real device may word them otherwise.
pub mod unrecorded {
    pub const LEDGER_REVIEW_MESSAGE: &str = "Review message";
    pub const LEDGER_MESSAGE: &str = "Message";
    pub const LEDGER_SIGN_MESSAGE: &str = "Sign message";
    pub const LEDGER_REVIEW_TYPED: &str = "Review typed message";
    pub const LEDGER_DOMAIN_HASH: &str = "Domain hash";
    pub const LEDGER_MESSAGE_HASH: &str = "Message hash";
    pub const LEDGER_SIGN_TYPED: &str = "Sign typed message";
    pub const TREZOR_CONFIRM_ADDRESS: &str = "Confirm address?";
    pub const TREZOR_SIGN_MESSAGE: &str = "Sign message?";
    pub const TREZOR_SIGN_BINARY: &str = "Sign binary message?";
    pub const TREZOR_UNABLE_EIP712: &str = "Unable to show EIP-712 data. Sign at your own risk.";
    pub const TREZOR_DOMAIN_HASH: &str = "EIP-712 domain hash";
    pub const TREZOR_MESSAGE_HASH: &str = "EIP-712 message hash";
}
