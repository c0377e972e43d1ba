//! Device simulators that stand in for a Ledger (Speculos's APDU-over-TCP port) and a Trezor
//! (the emulator's UDP transport) in defender's tests. They speak the exact wire protocols,
//! derive keys from the standard test mnemonic, and behave as the documented apps do.

pub mod ledger;
pub mod rpc_proxy;
pub mod socket_proxy;
pub mod trezor;

/// The standard test mnemonic (anvil's, Hardhat's): the simulators' seed.
pub const TEST_MNEMONIC: &str = "test test test test test test test test test test test junk";
