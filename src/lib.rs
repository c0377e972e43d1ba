//! `defender`: builds, previews, signs and sends MIP91 dss-defender transactions.
//!
//! The modules follow the pipeline: `commands` parse intent, `chain` knows the contracts and
//! where they are, `devnet` stands up a local chain with the reference contracts.

pub mod actions;
pub mod chain;
pub mod cli;
pub mod commands;
pub mod config;
pub mod confirm;
pub mod devnet;
pub mod dirs;
pub mod drill;
pub mod fees;
pub mod offline;
pub mod pipeline;
pub mod preview;
pub mod quiet;
pub mod safe;
pub mod send;
pub mod signers;
pub mod simulate;
pub mod stdout_guard;
pub mod style;
pub mod units;
