//! Decodes calldata back into a function and readable arguments, from the ABIs in `abi/`.
//!
//! The preview never trusts a plan's labels: it shows what the bytes say. The same decoder
//! serves offline signing, where only the raw fields exist.

use std::collections::HashMap;
use std::sync::OnceLock;

use alloy::dyn_abi::{DynSolValue, JsonAbiExt};
use alloy::json_abi::{Function, JsonAbi};
use alloy::primitives::{Address, U256};

use crate::chain::addresses::{AddressBook, keys};
use crate::units::format_token;

macro_rules! abis {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/abi/", $name, ".json")))),*]
    };
}

const ABIS: &[(&str, &str)] = abis![
    "DssDefender",
    "DSToken",
    "DSChief",
    "DSPause",
    "ESM",
    "VoteDelegate",
    "VoteProxy",
    "DssExec",
    "DefaultSpell",
    "ChainLog",
    "Chief",
    "Sky",
    "MkrSky",
    "Protego",
    "EmergencyDropSpell",
    "SkyVoteDelegate",
];

/// Which ABI a chainlog key's contract speaks, to pick among functions sharing a selector.
fn abi_of(key: &str) -> Option<&'static str> {
    Some(match key {
        keys::MCD_DEFENDER => "DssDefender",
        keys::MCD_GOV | keys::MCD_IOU | keys::MKR | keys::MCD_IOU_LEGACY => "DSToken",
        keys::MCD_ADM | keys::MCD_ADM_LEGACY => "DSChief",
        keys::MCD_PAUSE => "DSPause",
        keys::MCD_ESM => "ESM",
        keys::CHANGELOG => "ChainLog",
        keys::MKR_SKY => "MkrSky",
        keys::MCD_PROTEGO => "Protego",
        _ => return None,
    })
}

type Registry = HashMap<[u8; 4], Vec<(&'static str, Function)>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut map: Registry = HashMap::new();
        for (name, text) in ABIS {
            let abi: JsonAbi = serde_json::from_str(text).expect("abi/*.json are valid ABIs");
            for function in abi.functions() {
                map.entry(function.selector().0).or_default().push((name, function.clone()));
            }
        }
        map
    })
}

/// A decoded call.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Decoded {
    /// The ABI it matched, e.g. "DssDefender".
    pub contract: String,
    /// `deposit(uint256)`.
    pub signature: String,
    /// Argument names and values as people read them.
    pub args: Vec<(String, String)>,
}

impl Decoded {
    /// `deposit(wad: 100 MKR)`.
    pub fn display(&self) -> String {
        let name = self.signature.split('(').next().unwrap_or_default();
        let args: Vec<String> = self.args.iter().map(|(n, v)| format!("{n}: {v}")).collect();
        format!("{name}({})", args.join(", "))
    }
}

/// How amounts and addresses are shown.
pub struct Context<'a> {
    pub book: &'a AddressBook,
    pub symbol: String,
    pub decimals: u8,
}

pub fn decode(to: Address, data: &[u8], ctx: &Context<'_>) -> Option<Decoded> {
    let selector: [u8; 4] = data.get(..4)?.try_into().ok()?;
    let candidates = registry().get(&selector)?;
    let preferred = ctx.book.name_of(to).and_then(abi_of);
    let (contract, function) =
        candidates.iter().find(|(name, _)| Some(*name) == preferred).or_else(|| candidates.first())?;
    let values = function.abi_decode_input(&data[4..]).ok()?;
    let units = units_of(to, ctx);
    let args = function
        .inputs
        .iter()
        .zip(values.iter())
        .enumerate()
        .map(|(i, (param, value))| {
            let name = if param.name.is_empty() { format!("arg{i}") } else { param.name.clone() };
            let shown = show(value, &name, ctx, &units);
            (name, shown)
        })
        .collect();
    Some(Decoded { contract: contract.to_string(), signature: function.signature(), args })
}

/// The units of a call's amounts: MKR for the contracts that deal in MKR where it is not
/// the voting token (the Sky layout: MKR itself, its converter, DSChief 1.2 and its IOU, the
/// ESM, whose gem is MKR), else the voting token's. Decided by the book's names, so offline
/// signing, which has the names but no chain, shows the same.
fn units_of(to: Address, ctx: &Context<'_>) -> (String, u8) {
    let mkr_beside_sky = ctx.book.contracts.contains_key(keys::MKR) && ctx.symbol != "MKR";
    let in_mkr = matches!(
        ctx.book.name_of(to),
        Some(keys::MKR | keys::MKR_SKY | keys::MCD_ADM_LEGACY | keys::MCD_IOU_LEGACY | keys::MCD_ESM)
    );
    if mkr_beside_sky && in_mkr { ("MKR".into(), 18) } else { (ctx.symbol.clone(), ctx.decimals) }
}

fn show(value: &DynSolValue, name: &str, ctx: &Context<'_>, units: &(String, u8)) -> String {
    match value {
        DynSolValue::Address(a) => label(*a, ctx.book),
        DynSolValue::Uint(v, _) if matches!(name, "wad" | "mkrAmt" | "value" | "amount") => {
            if *v == U256::MAX {
                "unlimited".into()
            } else {
                format!("{} {}", format_token(*v, units.1), units.0)
            }
        }
        DynSolValue::Uint(v, _) if name == "eta" => {
            format!("{v} ({})", crate::actions::date(v.saturating_to()))
        }
        DynSolValue::Uint(v, _) => v.to_string(),
        DynSolValue::FixedBytes(word, _) => format!("0x{}", hex::encode(word)),
        DynSolValue::Bytes(bytes) if bytes.len() > 36 => {
            format!("0x{}… ({} bytes)", hex::encode(&bytes[..32]), bytes.len())
        }
        DynSolValue::Bytes(bytes) => format!("0x{}", hex::encode(bytes)),
        DynSolValue::Array(items) | DynSolValue::FixedArray(items) => {
            let shown: Vec<String> = items.iter().map(|v| show(v, "", ctx, units)).collect();
            format!("[{}]", shown.join(", "))
        }
        DynSolValue::Tuple(items) => {
            let shown: Vec<String> = items.iter().map(|v| show(v, "", ctx, units)).collect();
            format!("({})", shown.join(", "))
        }
        other => format!("{other:?}"),
    }
}

/// `0x… (MCD_ADM)` for known contracts.
pub fn label(address: Address, book: &AddressBook) -> String {
    match book.name_of(address) {
        Some(name) => format!("{address} ({name})"),
        None => address.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::bindings::DssDefender;
    use crate::chain::bindings::overloads::{approveAmountCall, approveUnlimitedCall};
    use crate::units::WAD;
    use alloy::sol_types::SolCall;

    #[test]
    fn decodes_with_labels_and_units() {
        let mut book = AddressBook::new(1, None);
        let (defender, gov) = (Address::repeat_byte(1), Address::repeat_byte(2));
        book.insert(keys::MCD_DEFENDER, defender);
        book.insert(keys::MCD_GOV, gov);
        let ctx = Context { book: &book, symbol: "MKR".into(), decimals: 18 };
        let data = DssDefender::depositCall { wad: U256::from(100) * WAD }.abi_encode();
        let decoded = decode(defender, &data, &ctx).unwrap();
        assert_eq!(decoded.contract, "DssDefender");
        assert_eq!(decoded.display(), "deposit(wad: 100 MKR)");

        let data = approveAmountCall { guy: defender, wad: WAD }.abi_encode();
        let decoded = decode(gov, &data, &ctx).unwrap();
        assert_eq!(decoded.signature, "approve(address,uint256)");
        assert!(decoded.display().contains("(MCD_DEFENDER)") && decoded.display().contains("1 MKR"));
        let data = approveUnlimitedCall { guy: defender }.abi_encode();
        assert_eq!(decode(gov, &data, &ctx).unwrap().signature, "approve(address)");
        assert!(decode(gov, &[0xde, 0xad, 0xbe, 0xef], &ctx).is_none());
    }
}
