//! Reading what `sign` and `broadcast` are given: a bundle (JSON), or raw transactions in hex,
//! one per line (`cast mktx --raw-unsigned` prints unsigned ones; `cast publish` takes signed
//! ones). The kind is detected from the content, never from the file name.

use std::io::Read;
use std::path::Path;

use alloy::consensus::{Signed, TxEip1559};
use alloy::primitives::Address;

use super::bundle::{Bundle, BundleTx, decode_signed, decode_unsigned};

/// Larger than any bundle defender writes by orders of magnitude; refused before parsing.
pub const MAX_INPUT_BYTES: usize = 8 * 1024 * 1024;

/// What a file holds.
#[derive(Debug, Clone)]
pub enum Input {
    Bundle(Box<Bundle>),
    /// Unsigned EIP-1559 payloads, in the order of the lines.
    RawUnsigned(Vec<TxEip1559>),
    /// Signed EIP-1559 transactions, in the order of the lines.
    RawSigned(Vec<Signed<TxEip1559>>),
}

impl Input {
    pub fn describe(&self) -> &'static str {
        match self {
            Input::Bundle(_) => "a defender bundle",
            Input::RawUnsigned(_) => "raw unsigned transactions",
            Input::RawSigned(_) => "raw signed transactions",
        }
    }
}

/// Detects and parses `bytes`. Never panics; every error says what is wrong.
pub fn parse(bytes: &[u8]) -> Result<Input, String> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(format!(
            "the file is {} bytes, more than any bundle ({} at most): it is not a bundle or a list of transactions",
            bytes.len(),
            MAX_INPUT_BYTES
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "the file is not text (invalid UTF-8 at byte {}): a bundle is JSON, raw transactions are hex lines",
            e.valid_up_to()
        )
    })?;
    let text = text.trim_start_matches('\u{feff}').trim();
    if text.is_empty() {
        return Err("the file is empty: it was not written completely, or is the wrong file".into());
    }
    if text.starts_with('{') || text.starts_with('[') {
        return Bundle::from_json(text).map(|b| Input::Bundle(Box::new(b)));
    }
    let mut unsigned = Vec::new();
    let mut signed = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("line {}", n + 1);
        let digits = line.strip_prefix("0x").or_else(|| line.strip_prefix("0X")).unwrap_or(line);
        if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(format!(
                "{at} is not hex (it has {bad:?}): expected a bundle (JSON) or one raw transaction in hex per line"
            ));
        }
        if digits.len() % 2 == 1 {
            return Err(format!(
                "{at} has an odd number of hex digits ({}): it was cut short; copy it again",
                digits.len()
            ));
        }
        let bytes = hex::decode(digits).map_err(|e| format!("{at} is not hex: {e}"))?;
        match decode_unsigned(&bytes) {
            Ok(tx) => unsigned.push(tx),
            Err(unsigned_error) => match decode_signed(&bytes) {
                Ok(tx) => signed.push(tx),
                Err(signed_error) => {
                    let why = if unsigned_error == signed_error {
                        unsigned_error
                    } else {
                        format!("as unsigned it {unsigned_error}; as signed it {signed_error}")
                    };
                    return Err(format!("{at} is not an EIP-1559 transaction: {why}"));
                }
            },
        }
    }
    match (unsigned.is_empty(), signed.is_empty()) {
        (false, true) => Ok(Input::RawUnsigned(unsigned)),
        (true, false) => Ok(Input::RawSigned(signed)),
        (false, false) => Err(
            "the file mixes unsigned and signed transactions: give sign the unsigned ones and broadcast the \
             signed ones"
                .into(),
        ),
        (true, true) => Err("the file has no transactions, only comments".into()),
    }
}

/// Reads `path` (`-`: standard input) with the size limit, then parses it.
pub fn read(path: &Path) -> Result<Input, String> {
    let shown = path.display();
    let mut bytes = Vec::new();
    let limit = MAX_INPUT_BYTES as u64 + 1;
    if path.as_os_str() == "-" {
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
    } else {
        let file = std::fs::File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!("{shown} does not exist: check the path"),
            _ => format!("cannot open {shown}: {e}"),
        })?;
        file.take(limit).read_to_end(&mut bytes).map_err(|e| format!("cannot read {shown}: {e}"))?;
    }
    parse(&bytes).map_err(|e| format!("{shown}: {e}"))
}

/// A bundle of imported unsigned payloads, all from `from` (the signer: raw payloads do not
/// say who signs them).
pub fn bundle_of_unsigned(txs: &[TxEip1559], from: Address) -> Result<Bundle, String> {
    let chain_id = common_chain(txs.iter().map(|t| t.chain_id))?;
    let mut bundle = Bundle::new(chain_id, None);
    bundle.summary = Some(format!(
        "{} raw unsigned transaction{} (e.g. from cast mktx --raw-unsigned)",
        txs.len(),
        if txs.len() == 1 { "" } else { "s" }
    ));
    for (i, tx) in txs.iter().enumerate() {
        if !tx.access_list.is_empty() {
            return Err(format!(
                "raw transaction {} has an access list, which defender does not sign: build it without --access-list",
                i + 1
            ));
        }
        if !matches!(tx.to, alloy::primitives::TxKind::Call(_)) {
            return Err(format!(
                "raw transaction {} creates a contract, which defender does not sign: it signs calls only",
                i + 1
            ));
        }
        bundle.transactions.push(BundleTx::new(format!("raw transaction {}", i + 1), from, tx));
    }
    Ok(bundle)
}

/// A bundle of signed raw transactions, each from its recovered signer.
pub fn bundle_of_signed(txs: &[Signed<TxEip1559>]) -> Result<Bundle, String> {
    let chain_id = common_chain(txs.iter().map(|t| t.tx().chain_id))?;
    let mut bundle = Bundle::new(chain_id, None);
    for (i, signed) in txs.iter().enumerate() {
        let from = super::bundle::recover(signed)
            .map_err(|e| format!("raw transaction {}: the signature cannot be recovered ({e})", i + 1))?;
        if !signed.tx().access_list.is_empty()
            || !matches!(signed.tx().to, alloy::primitives::TxKind::Call(_))
        {
            return Err(format!(
                "raw transaction {} has an access list or creates a contract: defender sends calls without access \
                 lists only (use cast publish for it)",
                i + 1
            ));
        }
        let mut entry = BundleTx::new(format!("raw transaction {}", i + 1), from, signed.tx());
        entry.set_signed(signed);
        bundle.transactions.push(entry);
    }
    Ok(bundle)
}

fn common_chain(ids: impl Iterator<Item = u64>) -> Result<u64, String> {
    let ids: Vec<u64> = ids.collect();
    let first = *ids.first().ok_or("no transactions")?;
    if let Some(other) = ids.iter().find(|&&id| id != first) {
        return Err(format!(
            "the transactions are for different chains ({first} and {other}): give one chain's transactions at a time"
        ));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `cast mktx --raw-unsigned` printed for a 1 ETH transfer on anvil (cast 1.7.1).
    const CAST_UNSIGNED: &str =
        "0x02ed827a69800184773594018252089470997970c51812dc3a010c7d01b50e0d17dc79c8880de0b6b3a764000080c0";

    #[test]
    fn detects_each_kind() {
        let Input::RawUnsigned(txs) = parse(format!("{CAST_UNSIGNED}\n").as_bytes()).unwrap() else {
            panic!("not detected as unsigned")
        };
        assert_eq!(txs[0].chain_id, 31337);
        assert_eq!(txs[0].gas_limit, 21000);
        assert!(parse(b"").unwrap_err().contains("empty"));
        assert!(parse(b"0x02zz").unwrap_err().contains("not hex"));
        assert!(parse(&CAST_UNSIGNED.as_bytes()[..CAST_UNSIGNED.len() - 1]).unwrap_err().contains("odd"));
        let legacy =
            "0xed8084773594008252089470997970c51812dc3a010c7d01b50e0d17dc79c8880de0b6b3a764000080827a698080";
        assert!(parse(legacy.as_bytes()).unwrap_err().contains("legacy"));
        assert!(parse(&[0xff, 0xfe]).unwrap_err().contains("not text"));
        assert!(parse(b"{\"format\": \"x\"}").unwrap_err().contains("not a defender bundle"));
    }
}
