//! The command line: global options shared by every command, and one variant per command.
//!
//! Option names follow Foundry's `cast` where it has a name for the same thing.

use std::path::PathBuf;

use alloy::primitives::Address;
use clap::{Args, Parser, Subcommand};

use crate::commands::actions;
use crate::commands::devnet::DevnetArgs;
use crate::commands::status::StatusArgs;

#[derive(Debug, Parser)]
#[command(
    name = "defender",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("DEFENDER_BUILD_COMMIT"), ")"),
    about = "Build, preview, sign and send MIP91 dss-defender transactions",
    long_about = "Build, preview, sign and send MIP91 dss-defender transactions during a MakerDAO \
                  governance attack: deposit, cancel queued spells, vote for the default spell, \
                  move MKR into the ESM, withdraw. Keys stay on the Ledger or Trezor.",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(flatten)]
    pub signer: crate::signers::SignerArgs,
    #[command(flatten)]
    pub fees: crate::fees::FeeArgs,
    #[command(flatten)]
    pub offline: crate::offline::BuildArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command understands.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// JSON-RPC endpoint of the chain to act on.
    #[arg(long, short = 'r', env = "ETH_RPC_URL", global = true, default_value = "http://127.0.0.1:8545")]
    pub rpc_url: String,

    /// Refuse to act unless the RPC reports this chain id.
    #[arg(long, global = true, value_name = "CHAIN_ID")]
    pub chain: Option<u64>,

    /// Address book (JSON, as `defender devnet` writes) instead of the on-chain chainlog.
    #[arg(long, env = "DEFENDER_ADDRESSES", global = true, value_name = "FILE")]
    pub addresses: Option<PathBuf>,

    /// Chainlog to read addresses from (default: mainnet's, or the devnet's address book on 31337).
    #[arg(long, global = true, value_name = "ADDRESS", value_parser = crate::chain::addresses::parse_address)]
    pub chainlog: Option<Address>,

    /// Act on this dss-defender instance instead of the chainlog's MCD_DEFENDER: a caged one
    /// after the default spell installed a new instance, to withdraw from it.
    #[arg(long, global = true, value_name = "ADDRESS", value_parser = crate::chain::addresses::parse_address)]
    pub defender: Option<Address>,

    /// The account to act for (with a device: the address it must derive).
    #[arg(long, short = 'f', env = "ETH_FROM", global = true, value_name = "ADDRESS", value_parser = crate::chain::addresses::parse_address)]
    pub from: Option<Address>,

    /// Act from this Safe multisig: the action's calls become one Safe transaction, which the
    /// owners sign (your signer, if an owner) and any account executes.
    #[arg(long, global = true, value_name = "ADDRESS", value_parser = crate::chain::addresses::parse_address)]
    pub safe: Option<Address>,

    /// With --safe: other owners' signatures of the same Safe transaction, from a bundle they
    /// signed (`defender sign`).
    #[arg(long, global = true, value_name = "FILE", requires = "safe")]
    pub signatures: Option<PathBuf>,

    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Build, simulate and preview, then stop: nothing is signed or sent.
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// Read the pause's whole history from the chain: neither use nor update the log cache
    /// (~/.cache/defender, or $DEFENDER_CACHE_DIR).
    #[arg(long, global = true)]
    pub no_cache: bool,

    /// Do not ask for confirmation (irreversible actions also need --burn).
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,

    /// Print only the result (stdout) and errors: no preview, notes or progress.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,

    /// When to colour what is printed for people: auto (on a terminal, unless NO_COLOR is
    /// set), always or never. --json output is never coloured.
    #[arg(long, global = true, value_name = "WHEN", value_enum, default_value_t = crate::style::ColorWhen::Auto)]
    pub color: crate::style::ColorWhen,

    /// Whether --rpc-url was typed on the command line (not the default or ETH_RPC_URL): the
    /// drill uses such a devnet instead of starting its own.
    #[arg(skip)]
    pub rpc_url_given: bool,

    /// The saved setup this command took settings from, and each setting with its source.
    #[arg(skip)]
    pub setup: Option<(PathBuf, Vec<crate::config::Setting>)>,
}

impl GlobalArgs {
    /// Where the contracts are, as the chain layer takes it.
    pub fn wanted(&self) -> crate::chain::discovery::Wanted<'_> {
        crate::chain::discovery::Wanted {
            rpc_url: &self.rpc_url,
            addresses: self.addresses.as_deref(),
            chainlog: self.chainlog,
            defender: self.defender,
        }
    }
}

impl Cli {
    /// Parses the command line, noting where --rpc-url came from.
    pub fn parse_with_sources() -> Self {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Self::command().get_matches();
        let mut cli = Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        let typed =
            |m: &clap::ArgMatches| m.value_source("rpc_url") == Some(clap::parser::ValueSource::CommandLine);
        cli.global.rpc_url_given = typed(&matches) || matches.subcommand().is_some_and(|(_, sub)| typed(sub));
        if let Err(message) = cli.take_setup(&matches) {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
        cli
    }

    /// Fills in what the saved setup holds, for the commands that act on a chain or sign;
    /// `setup` itself, the local chains and the generated docs take only what is typed.
    fn take_setup(&mut self, matches: &clap::ArgMatches) -> Result<(), String> {
        if matches!(
            self.command,
            Command::Setup(_)
                | Command::Devnet(_)
                | Command::Drill(_)
                | Command::Completions(_)
                | Command::Man(_)
        ) {
            return Ok(());
        }
        let Some(file) = crate::config::path() else { return Ok(()) };
        let Some(setup) = crate::config::load(&file)? else { return Ok(()) };
        let settings = crate::config::apply(self, matches, &setup)?;
        self.global.setup = Some((file, settings));
        Ok(())
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The live defender: threshold progress, cancel window, lockup, default spell vs the hat, ESM.
    Status(StatusArgs),
    /// Plans queued in DSPause: spell, eta, state (pending, executable, dropped, executed).
    Queue(crate::commands::queue::QueueArgs),
    /// Drop queued plans through the open route: the defender, Protego, or the hat's drop spell.
    Cancel(crate::commands::cancel::CancelArgs),
    /// Deploy a Protego drop spell for each plan (reusing existing ones), for voters to lift.
    DropSpell(crate::commands::drop_spell::DropSpellArgs),
    /// Approve if needed, then deposit into the defender (AMOUNT: 1.5, 50000, all).
    Deposit(actions::DepositArgs),
    /// Follow the pause and cancel every new plot while the defender is canceling.
    Watch(crate::commands::watch::WatchArgs),
    /// Withdraw from the defender after the lockup or an early release.
    Withdraw(actions::WithdrawArgs),
    /// Move a deposit into the ESM (burned), join it from the wallet (--direct), or `esm fire`.
    Esm(actions::EsmArgs),
    /// Vote for the default spell: through the chief (optionally --lock), --delegate or --proxy.
    Vote(actions::VoteArgs),
    /// Make a spell (the default spell, --spell or --protego) the hat once it has more approvals.
    Lift(actions::LiftArgs),
    /// Free locked tokens from the chief (--legacy-chief: MKR from DSChief 1.2).
    Free(actions::FreeArgs),
    /// Convert MKR into SKY through MKR_SKY (one way, for a fee) to vote in the new Chief.
    Convert(actions::ConvertArgs),
    /// The account's nonces as the node sees them, its pooled transactions and gaps;
    /// `--unstick N` takes nonce N back with a zero-value transfer to yourself.
    Nonce(crate::commands::nonce::NonceArgs),
    /// Addresses with their ETH, token, chief and defender balances.
    Accounts(crate::commands::accounts::AccountsArgs),
    /// Start anvil with the reference contracts and print the address book.
    Devnet(DevnetArgs),
    /// A fire drill: MIP91's scenarios on a local chain, your part with your own signer.
    Drill(crate::commands::drill::DrillArgs),
    /// Sign a bundle (or raw unsigned transactions) offline: no network is used.
    Sign(crate::commands::sign::SignArgs),
    /// Check a signed bundle (or raw signed transactions) against the chain, then send it.
    Broadcast(crate::commands::broadcast::BroadcastArgs),
    /// Print the completion script for a shell (bash, zsh, fish, elvish, powershell).
    Completions(crate::commands::completions::CompletionsArgs),
    /// Write a man page per command into a directory.
    Man(crate::commands::man::ManArgs),
    /// Save the RPC URL, the signer and its path, and the account, checked, for every command.
    Setup(crate::commands::setup::SetupArgs),
}
