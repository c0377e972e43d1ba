//! Property-based fuzzing of what reads untrusted input: the bundle and raw-transaction parser
//! with its checks (`defender::offline::input::parse`, `Bundle::check`), and the amount parser
//! (`defender::units::parse_amount`). No input may panic; inputs that pass the checks must be
//! consistent by an independent decoding; amounts must match a reference computed another way.
//!
//! Each property runs `DEFENDER_FUZZ_CASES` inputs (default 20,000) and prints how many it ran
//! (`cargo test --release --test offline_fuzz -- --nocapture` shows the counts).

use std::cell::Cell;

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Decodable2718;
use alloy::primitives::{Address, Bytes, TxKind, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use defender::offline::bundle::{Bundle, BundleTx};
use defender::offline::input::{self, Input};
use defender::units::{Amount, format_token, parse_amount};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

const DEFAULT_CASES: u32 = 20_000;

thread_local! {
    /// Inputs of the running property that passed every check (and were then verified independently).
    static ACCEPTED: Cell<u32> = const { Cell::new(0) };
}

fn cases() -> u32 {
    std::env::var("DEFENDER_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_CASES)
}

/// Runs `test` over `cases()` inputs from `strategy`; a panic inside is a failure.
fn fuzz<S: Strategy>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let wanted = cases();
    let config = Config { cases: wanted, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let ran = Cell::new(0u32);
    ACCEPTED.with(|a| a.set(0));
    let result = runner.run(&strategy, |value| {
        ran.set(ran.get() + 1);
        test(value)
    });
    if let Err(error) = result {
        panic!("{name}: {error}");
    }
    let accepted = match ACCEPTED.with(Cell::get) {
        0 => String::new(),
        n => format!(" ({n} passed every check and were verified independently)"),
    };
    println!("fuzz {name}: {} inputs, no panic, every property held{accepted}", ran.get());
    assert!(ran.get() >= wanted, "{name}: ran {} of {wanted} inputs", ran.get());
}

fn key() -> PrivateKeySigner {
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a".parse().unwrap()
}

/// A valid signed bundle of three transactions, as JSON.
fn signed_bundle() -> String {
    let key = key();
    let mut bundle = Bundle::new(31337, Some(1_800_000_000));
    bundle.summary = Some("fuzz".into());
    bundle.contracts.insert("MCD_GOV".into(), Address::repeat_byte(0x11));
    for nonce in 7..10u64 {
        let tx = TxEip1559 {
            chain_id: 31337,
            nonce,
            gas_limit: 120_000 + nonce,
            max_fee_per_gas: 30_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to: TxKind::Call(Address::repeat_byte(0x11)),
            value: U256::from(nonce),
            access_list: Default::default(),
            input: Bytes::from(vec![0x09, 0x5e, 0xa7, 0xb3, nonce as u8, 0, 0, 1]),
        };
        let mut entry = BundleTx::new(format!("tx {nonce}"), key.address(), &tx);
        let signature = key.sign_hash_sync(&tx.signature_hash()).unwrap();
        entry.set_signed(&tx.into_signed(signature));
        bundle.transactions.push(entry);
    }
    bundle.to_json()
}

/// Whatever passes `check` must hold up to an independent reading: alloy's envelope decoder
/// on the signed bytes, the signer recovered from it, and the fields encoded afresh.
fn independently_consistent(bundle: &Bundle) -> Result<(), TestCaseError> {
    ACCEPTED.with(|a| a.set(a.get() + 1));
    for t in &bundle.transactions {
        let fields = t.rebuild();
        let mut payload = Vec::new();
        fields.encode_for_signing(&mut payload);
        prop_assert_eq!(&payload[..], &t.unsigned[..]);
        prop_assert_eq!(fields.signature_hash(), t.signing_hash);
        if let Some(raw) = &t.signed {
            let envelope =
                TxEnvelope::decode_2718(&mut raw.as_ref()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let TxEnvelope::Eip1559(signed) = envelope else {
                return Err(TestCaseError::fail("passed the checks but is not EIP-1559"));
            };
            prop_assert_eq!(signed.tx(), &fields);
            let signer =
                signed.signature().recover_address_from_prehash(&signed.tx().signature_hash()).unwrap();
            prop_assert_eq!(signer, t.from);
            if let Some(recorded) = t.tx_hash {
                prop_assert_eq!(*signed.hash(), recorded);
            }
        }
    }
    Ok(())
}

fn parse_and_check(bytes: &[u8]) -> Result<(), TestCaseError> {
    match input::parse(bytes) {
        Ok(Input::Bundle(bundle)) => {
            if bundle.check().is_ok() {
                independently_consistent(&bundle)?;
            }
        }
        Ok(Input::RawSigned(txs)) => {
            if let Ok(bundle) = input::bundle_of_signed(&txs)
                && bundle.check().is_ok()
            {
                independently_consistent(&bundle)?;
            }
        }
        Ok(Input::RawUnsigned(txs)) => {
            if let Ok(bundle) = input::bundle_of_unsigned(&txs, key().address()) {
                let _ = bundle.check();
            }
        }
        Err(message) => prop_assert!(!message.is_empty()),
    }
    Ok(())
}

#[test]
fn bundle_parser_survives_arbitrary_bytes() {
    fuzz("bundle parser, arbitrary bytes", proptest::collection::vec(any::<u8>(), 0..1024), |bytes| {
        parse_and_check(&bytes)
    });
}

/// One edit of a file: overwrite, insert or delete at a position (taken modulo the length).
#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Bytes that matter to JSON and to hex, more often than others.
    let byte = prop_oneof![
        3 => proptest::sample::select(b"{}[]\":,0123456789abcdefx-. \n\\".to_vec()),
        1 => any::<u8>(),
    ];
    prop_oneof![
        4 => (any::<usize>(), byte.clone()).prop_map(|(p, b)| Mutation::Set(p, b)),
        2 => (any::<usize>(), byte).prop_map(|(p, b)| Mutation::Insert(p, b)),
        2 => (any::<usize>(), 1..64usize).prop_map(|(p, n)| Mutation::Delete(p, n)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len().max(1);
        match *m {
            Mutation::Set(p, b) if !bytes.is_empty() => bytes[p % len] = b,
            Mutation::Insert(p, b) => bytes.insert(p % (bytes.len() + 1), b),
            Mutation::Delete(p, n) if !bytes.is_empty() => {
                let start = p % len;
                let end = (start + n).min(bytes.len());
                bytes.drain(start..end);
            }
            Mutation::Truncate(p) => bytes.truncate(p % len),
            _ => {}
        }
    }
    bytes
}

#[test]
fn bundle_parser_survives_edited_bundles_and_what_passes_is_consistent() {
    let base = signed_bundle().into_bytes();
    assert!(matches!(input::parse(&base), Ok(Input::Bundle(b)) if b.check().is_ok()));
    fuzz("bundle parser, edited signed bundles", proptest::collection::vec(mutation(), 1..6), |mutations| {
        parse_and_check(&apply(base.clone(), &mutations))
    });
}

/// A leaf JSON value of any kind, to put where a field was.
fn json_leaf() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "[0-9]{0,90}".prop_map(Value::String),
        "0x[0-9a-fA-F]{0,140}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
        Just(Value::Array(vec![])),
        Just(serde_json::json!({})),
    ]
}

#[test]
fn bundle_parser_survives_any_value_in_any_field() {
    let base: serde_json::Value = serde_json::from_str(&signed_bundle()).unwrap();
    let top: Vec<String> = base.as_object().unwrap().keys().cloned().collect();
    let per_tx: Vec<String> = base["transactions"][0].as_object().unwrap().keys().cloned().collect();
    let strategy = (
        proptest::sample::select(top),
        proptest::sample::select(per_tx),
        0..4usize,
        any::<bool>(),
        json_leaf(),
    );
    fuzz("bundle parser, any value in any field", strategy, |(top_key, tx_key, index, in_tx, value)| {
        let mut edited = base.clone();
        if in_tx && index < 3 {
            edited["transactions"][index][tx_key.as_str()] = value;
        } else if in_tx {
            edited["transactions"].as_array_mut().unwrap().push(value);
        } else {
            edited[top_key.as_str()] = value;
        }
        parse_and_check(serde_json::to_string(&edited).unwrap().as_bytes())
    });
}

#[test]
fn raw_transaction_lines_survive_arbitrary_and_edited_hex() {
    let bundle = Bundle::from_json(&signed_bundle()).unwrap();
    let lines: Vec<Vec<u8>> = bundle
        .transactions
        .iter()
        .flat_map(|t| [t.signed.clone().unwrap().to_vec(), t.unsigned.to_vec()])
        .collect();
    let raw = prop_oneof![
        // Type 2 then anything.
        proptest::collection::vec(any::<u8>(), 0..400).prop_map(|mut b| {
            b.insert(0, 2);
            b
        }),
        // A real signed or unsigned transaction with edits.
        (proptest::sample::select(lines), proptest::collection::vec(mutation(), 1..4))
            .prop_map(|(l, m)| apply(l, &m)),
    ];
    fuzz("raw transaction lines", proptest::collection::vec(raw, 1..4), |txs| {
        let text: String = txs.iter().map(|t| format!("0x{}\n", hex::encode(t))).collect();
        parse_and_check(text.as_bytes())
    });
}

#[test]
fn amount_parser_survives_any_text() {
    let text =
        prop_oneof![any::<String>(), "[-+ 0-9.,_eE]{0,100}", "(all|ALL|0x[0-9a-f]{0,70}|[0-9]{60,200})",];
    fuzz("amount parser, any text", (text, any::<u8>()), |(text, decimals)| {
        match parse_amount(&text, decimals, "MKR") {
            Ok(Amount::Exact(v)) => prop_assert!(!v.is_zero(), "zero accepted for {text:?}"),
            Ok(Amount::All) => prop_assert!(text.trim().eq_ignore_ascii_case("all")),
            Err(message) => {
                prop_assert!(message.contains(&format!("{text:?}")) || decimals > 77, "{message}")
            }
        }
        if decimals > 77 {
            prop_assert!(
                parse_amount(&text, decimals, "MKR").is_err() || text.trim().eq_ignore_ascii_case("all")
            );
        }
        Ok(())
    });
}

#[test]
fn amount_parser_matches_a_reference_and_reads_its_own_formatting() {
    // whole digits, fraction digits, decimals: the expected value is the digits with the
    // fraction padded to `decimals`, read as one integer.
    let strategy = (0u8..=36).prop_flat_map(|decimals| {
        (
            "[0-9]{0,30}",
            proptest::collection::vec(0u8..10, 0..=decimals as usize),
            Just(decimals),
            any::<bool>(),
        )
    });
    fuzz("amount parser, reference values", strategy, |(whole, fraction, decimals, grouped)| {
        let fraction: String = fraction.iter().map(|d| char::from(b'0' + d)).collect();
        let typed = match (whole.is_empty(), fraction.is_empty()) {
            (true, true) => return Ok(()),
            (_, true) => whole.clone(),
            _ => format!("{whole}.{fraction}"),
        };
        let padded = format!("{whole}{fraction}{}", "0".repeat(decimals as usize - fraction.len()));
        let expected = U256::from_str_radix(if padded.is_empty() { "0" } else { &padded }, 10).unwrap();
        let typed = if grouped { group(&typed) } else { typed };
        match parse_amount(&typed, decimals, "MKR") {
            Ok(Amount::Exact(v)) => prop_assert_eq!(v, expected, "{}", typed),
            Ok(Amount::All) => prop_assert!(false, "{typed} read as all"),
            Err(message) => {
                prop_assert!(expected.is_zero() && message.contains("zero"), "{typed}: {message}")
            }
        }
        if !expected.is_zero() {
            let shown = format_token(expected, decimals);
            prop_assert_eq!(parse_amount(&shown, decimals, "MKR"), Ok(Amount::Exact(expected)), "{}", shown);
        }
        Ok(())
    });
}

/// Thousands separators in the whole part, as people write them.
fn group(text: &str) -> String {
    let (whole, rest) = match text.split_once('.') {
        Some((w, f)) => (w, format!(".{f}")),
        None => (text, String::new()),
    };
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out + &rest
}
