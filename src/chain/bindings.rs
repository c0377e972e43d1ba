//! Typed bindings generated from the JSON ABIs in `abi/`.
//!
//! The ABIs are the interface contract with the chain: the client encodes against these files
//! only, so any implementation with the same ABI (the mainnet contracts, or another
//! dss-defender) works unchanged. Bytecode is embedded for the devnet's deployments.

#![allow(clippy::too_many_arguments, missing_docs)]

use alloy::sol;

sol!(
    #[sol(rpc)]
    DssDefender,
    "abi/DssDefender.json"
);
sol!(
    #[sol(rpc)]
    DefenderAuthority,
    "abi/DefenderAuthority.json"
);
sol!(
    #[sol(rpc)]
    DefenderFab,
    "abi/DefenderFab.json"
);
sol!(
    #[sol(rpc)]
    DefaultSpell,
    "abi/DefaultSpell.json"
);
sol!(
    #[sol(rpc)]
    DSToken,
    "abi/DSToken.json"
);
sol!(
    #[sol(rpc)]
    DSChief,
    "abi/DSChief.json"
);
sol!(
    #[sol(rpc)]
    DSPause,
    "abi/DSPause.json"
);
sol!(
    #[sol(rpc)]
    DSPauseProxy,
    "abi/DSPauseProxy.json"
);
sol!(
    #[sol(rpc)]
    ESM,
    "abi/ESM.json"
);
sol!(
    #[sol(rpc)]
    End,
    "abi/End.json"
);
sol!(
    #[sol(rpc)]
    ChainLog,
    "abi/ChainLog.json"
);
sol!(
    #[sol(rpc)]
    VoteDelegate,
    "abi/VoteDelegate.json"
);
sol!(
    #[sol(rpc)]
    VoteDelegateFactory,
    "abi/VoteDelegateFactory.json"
);
sol!(
    #[sol(rpc)]
    VoteProxy,
    "abi/VoteProxy.json"
);
sol!(
    #[sol(rpc)]
    VoteProxyFactory,
    "abi/VoteProxyFactory.json"
);
sol!(
    #[sol(rpc)]
    DssExec,
    "abi/DssExec.json"
);
sol!(
    #[sol(rpc)]
    MintAction,
    "abi/MintAction.json"
);
sol!(
    #[sol(rpc)]
    Sky,
    "abi/Sky.json"
);
sol!(
    #[sol(rpc)]
    MkrSky,
    "abi/MkrSky.json"
);
sol!(
    #[sol(rpc)]
    Chief,
    "abi/Chief.json"
);
sol!(
    #[sol(rpc)]
    SkyVoteDelegate,
    "abi/SkyVoteDelegate.json"
);
sol!(
    #[sol(rpc)]
    SkyVoteDelegateFactory,
    "abi/SkyVoteDelegateFactory.json"
);
sol!(
    #[sol(rpc)]
    Protego,
    "abi/Protego.json"
);
sol!(
    #[sol(rpc)]
    EmergencyDropSpell,
    "abi/EmergencyDropSpell.json"
);
sol!(
    #[derive(Debug, Default)]
    DefenderLens,
    "abi/DefenderLens.json"
);
sol!(
    #[derive(Debug)]
    PlanRunner,
    "abi/PlanRunner.json"
);

// The genuine Safe 1.4.1 contracts (npm @safe-global/safe-contracts), for `--safe`.
sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    Safe,
    "abi/Safe.json"
);
sol!(
    #[sol(rpc)]
    SafeProxyFactory,
    "abi/SafeProxyFactory.json"
);
sol!(
    #[sol(rpc)]
    MultiSendCallOnly,
    "abi/MultiSendCallOnly.json"
);

sol! {
    /// ds-note's anonymous event, as DSPause and DSChief emit it on mainnet. Anonymous: topic0
    /// is the selector (left-aligned), topic1 the caller, topics 2 and 3 the first two argument
    /// words; the data carries msg.value and the whole calldata.
    #[derive(Debug, PartialEq, Eq)]
    event LogNote(bytes4 indexed sig, address indexed guy, bytes32 indexed foo, bytes32 indexed bar, uint256 wad, bytes fax) anonymous;
}

/// Creation bytecode of the contracts the devnet deploys, from `abi/*.bin`.
pub mod bytecode {
    macro_rules! creation_code {
        ($($name:ident => $file:literal),* $(,)?) => {
            $(pub const $name: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/abi/", $file));)*
        };
    }
    creation_code! {
        DSS_DEFENDER => "DssDefender.bin",
        DEFENDER_AUTHORITY => "DefenderAuthority.bin",
        DEFENDER_FAB => "DefenderFab.bin",
        DS_TOKEN => "DSToken.bin",
        DS_CHIEF => "DSChief.bin",
        DS_PAUSE => "DSPause.bin",
        ESM => "ESM.bin",
        END => "End.bin",
        CHAIN_LOG => "ChainLog.bin",
        VOTE_DELEGATE_FACTORY => "VoteDelegateFactory.bin",
        VOTE_PROXY_FACTORY => "VoteProxyFactory.bin",
        DSS_EXEC => "DssExec.bin",
        MINT_ACTION => "MintAction.bin",
        DEFENDER_LENS => "DefenderLens.bin",
        PLAN_STATES => "PlanStates.bin",
        SKY => "Sky.bin",
        MKR_SKY => "MkrSky.bin",
        CHIEF => "Chief.bin",
        SKY_VOTE_DELEGATE_FACTORY => "SkyVoteDelegateFactory.bin",
        PROTEGO => "Protego.bin",
        PLAN_RUNNER_RUNTIME => "PlanRunner.runtime.bin",
        SAFE => "Safe.bin",
        SAFE_L2 => "SafeL2.bin",
        SAFE_PROXY_FACTORY => "SafeProxyFactory.bin",
        MULTI_SEND_CALL_ONLY => "MultiSendCallOnly.bin",
        COMPATIBILITY_FALLBACK_HANDLER => "CompatibilityFallbackHandler.bin",
    }
}

/// `sol!` numbers overloaded functions in ABI order (`approve_0`, `approve_1`); these names
/// say which is which. The tests below pin each to its mainnet selector, so a reordered ABI
/// cannot silently swap them.
pub mod overloads {
    pub use super::Chief::{vote_0Call as skyChiefVoteSlateCall, vote_1Call as skyChiefVoteYaysCall};
    pub use super::DSChief::{vote_0Call as chiefVoteSlateCall, vote_1Call as chiefVoteYaysCall};
    pub use super::DSToken::{
        approve_0Call as approveAmountCall, approve_1Call as approveUnlimitedCall, burn_0Call as burnOwnCall,
        burn_1Call as burnFromCall, mint_0Call as mintToCall, mint_1Call as mintOwnCall,
    };
    pub use super::Protego::{drop_0Call as protegoDropOneCall, drop_1Call as protegoDropPlansCall};
    pub use super::VoteDelegate::{vote_0Call as delegateVoteSlateCall, vote_1Call as delegateVoteYaysCall};
    pub use super::VoteProxy::{vote_0Call as proxyVoteSlateCall, vote_1Call as proxyVoteYaysCall};
}

#[cfg(test)]
mod tests {
    use super::overloads::*;
    use super::*;
    use alloy::sol_types::SolCall;

    fn selector<C: SolCall>() -> String {
        hex::encode(C::SELECTOR)
    }

    /// Selectors from shared/spec/maker-governance.md (mainnet facts).
    #[test]
    fn selectors_match_mainnet() {
        assert_eq!(selector::<approveAmountCall>(), "095ea7b3");
        assert_eq!(selector::<approveUnlimitedCall>(), "daea85c5");
        assert_eq!(selector::<chiefVoteYaysCall>(), "ed081329");
        assert_eq!(selector::<chiefVoteSlateCall>(), "a69beaba");
        assert_eq!(selector::<delegateVoteYaysCall>(), "ed081329");
        assert_eq!(selector::<proxyVoteYaysCall>(), "ed081329");
        assert_eq!(selector::<DSChief::lockCall>(), "dd467064");
        assert_eq!(selector::<DSChief::freeCall>(), "d8ccd0f3");
        assert_eq!(selector::<DSChief::etchCall>(), "5123e1fa");
        assert_eq!(selector::<DSChief::liftCall>(), "3c278bd5");
        assert_eq!(selector::<DSPause::plotCall>(), "46d2fbbb");
        assert_eq!(selector::<DSPause::dropCall>(), "162c7de3");
        assert_eq!(selector::<DSPause::execCall>(), "168ccd67");
        assert_eq!(selector::<DSPause::plansCall>(), "aa4f2653");
        assert_eq!(selector::<ChainLog::getAddressCall>(), "21f8a721");
        assert_eq!(selector::<ESM::joinCall>(), "049878f3");
        assert_eq!(selector::<ESM::burnCall>(), "44df8e70");
        assert_eq!(selector::<ESM::fireCall>(), "457094cc");
        // The new Chief keeps DSChief 1.2's selectors for what they share.
        assert_eq!(selector::<skyChiefVoteYaysCall>(), "ed081329");
        assert_eq!(selector::<skyChiefVoteSlateCall>(), "a69beaba");
        assert_eq!(selector::<Chief::lockCall>(), "dd467064");
        assert_eq!(selector::<Chief::freeCall>(), "d8ccd0f3");
        assert_eq!(selector::<Chief::liftCall>(), "3c278bd5");
        let keccak = |sig: &str| hex::encode(&alloy::primitives::keccak256(sig)[..4]);
        assert_eq!(selector::<protegoDropOneCall>(), keccak("drop(address,bytes32,bytes,uint256)"));
        assert_eq!(selector::<protegoDropPlansCall>(), keccak("drop((address,bytes32,bytes,uint256)[])"));
        assert_eq!(selector::<MkrSky::mkrToSkyCall>(), keccak("mkrToSky(address,uint256)"));
        assert_eq!(
            hex::encode(mintToCall::SELECTOR),
            hex::encode(&alloy::primitives::keccak256("mint(address,uint256)")[..4])
        );
        assert_eq!(
            hex::encode(burnOwnCall::SELECTOR),
            hex::encode(&alloy::primitives::keccak256("burn(uint256)")[..4])
        );
    }
}
