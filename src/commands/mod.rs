//! One module per command; each turns parsed arguments into work and a report.

pub mod accounts;
pub mod actions;
pub mod broadcast;
pub mod broadcast_safe;
pub mod cancel;
pub mod completions;
pub mod devnet;
pub mod drill;
pub mod drop_spell;
pub mod history;
pub mod man;
pub mod nonce;
pub mod queue;
pub mod session;
pub mod setup;
pub mod sign;
pub mod sign_safe;
pub mod status;
pub mod watch;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command};

pub async fn run(cli: Cli) -> Result<ExitCode> {
    if let Some((file, settings)) = &cli.global.setup
        && let Some(line) = crate::config::summary(file, settings)
        && !cli.global.json
    {
        eprintln!("{line}");
    }
    match &cli.command {
        Command::Status(args) => status::run(&cli.global, args).await,
        Command::Devnet(args) => devnet::run(&cli.global, args).await,
        Command::Deposit(args) => actions::deposit(&cli, args).await,
        Command::Withdraw(args) => actions::withdraw(&cli, args).await,
        Command::Esm(args) => actions::esm(&cli, args).await,
        Command::Vote(args) => actions::vote(&cli, args).await,
        Command::Lift(args) => actions::lift(&cli, args).await,
        Command::Free(args) => actions::free(&cli, args).await,
        Command::Convert(args) => actions::convert(&cli, args).await,
        Command::Queue(args) => queue::queue(&cli, args).await,
        Command::Accounts(args) => accounts::run(&cli, args).await,
        Command::Nonce(args) => nonce::run(&cli, args).await,
        Command::Cancel(args) => cancel::run(&cli, args).await,
        Command::DropSpell(args) => drop_spell::run(&cli, args).await,
        Command::Watch(args) => watch::run(&cli, args).await,
        Command::Drill(args) => drill::run(&cli, args, cli.global.rpc_url_given).await,
        Command::Sign(args) => sign::run(&cli, args).await,
        Command::Broadcast(args) => broadcast::run(&cli, args).await,
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
        Command::Setup(args) => setup::run(&cli, args).await,
    }
}
