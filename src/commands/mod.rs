//! One module per command; each turns parsed arguments into work and a report.

pub mod devnet;
pub mod status;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command};

pub async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Status(args) => status::run(&cli.global, args).await,
        Command::Devnet(args) => devnet::run(&cli.global, args).await,
    }
}
