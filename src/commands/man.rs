//! `defender man --out DIR`: a man page per command (defender.1, defender-deposit.1, ...),
//! from the clap definitions, for `man defender` on a machine with no browser.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, CommandFactory};

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The directory to write the pages to (created if missing), e.g. ~/.local/share/man/man1.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn run(args: &ManArgs) -> Result<ExitCode> {
    if args.out.exists() && !args.out.is_dir() {
        return Err(crate::commands::session::InputError(format!(
            "--out {} is not a directory: name a directory for the pages, e.g. ~/.local/share/man/man1",
            args.out.display()
        ))
        .into());
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut command = crate::cli::Cli::command();
    // Built first, so that every subcommand's page lists the global options it takes.
    command.build();
    let mut written = Vec::new();
    write_pages(&command, "defender", &args.out, &mut written)?;
    for path in &written {
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The page of `command`, named `name`, then one per subcommand (`name-sub`).
fn write_pages(command: &clap::Command, name: &str, dir: &Path, written: &mut Vec<PathBuf>) -> Result<()> {
    let command = command.clone().name(name.to_owned()).bin_name(name.replace('-', " "));
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut page)?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
    written.push(path);
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}
