//! Everything the client knows about the contracts: typed bindings and where to find them.

pub mod addresses;
pub mod anvil;
pub mod bindings;
pub mod calls;
pub mod discovery;
pub mod governance;
pub mod limits;
pub mod pause_log;
pub mod pool;
pub mod rpc;
pub mod safe;
pub mod snapshot;
pub mod tls;
