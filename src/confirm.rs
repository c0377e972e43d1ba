//! Asking before signing, the same way online (the pipeline) and offline (`sign`): `--yes`, or
//! y at the terminal; anything irreversible needs a typed BURN or `--yes --burn`. Each caller
//! words its own questions and refusals, since one signs and sends and the other only signs.

use std::io::IsTerminal;

use anyhow::Result;

use crate::pipeline::Refused;
use crate::style::{DANGER, paint};

/// A caller's wording.
pub struct Question<'a> {
    /// The y/N prompt, e.g. "Sign and send 2 transactions? [y/N] ".
    pub ask: &'a str,
    /// The BURN prompt, e.g. "Type BURN to go on: ".
    pub ask_burn: &'a str,
    /// Said when there is no terminal to ask at, before "; " and `nothing`.
    pub no_terminal: &'a str,
    /// Said when an irreversible one meets no terminal, before "; " and `nothing`.
    pub no_terminal_burn: &'a str,
    /// What did not happen, e.g. "nothing was signed or sent".
    pub nothing: &'a str,
}

/// Ok to go on, or `Refused` saying why not.
pub fn ask(question: &Question, yes: bool, burn: bool, irreversible: bool) -> Result<()> {
    let refuse = |why: &str| Err(Refused(format!("{why}; {}", question.nothing)).into());
    let unconfirmed = || Err(Refused(format!("not confirmed: {}", question.nothing)).into());
    if irreversible {
        if yes && burn {
            return Ok(());
        }
        if !std::io::stdin().is_terminal() {
            return refuse(question.no_terminal_burn);
        }
        say(&format!("\n{} {}", paint(DANGER, "This cannot be undone."), question.ask_burn));
        return if read_line()?.trim() == "BURN" { Ok(()) } else { unconfirmed() };
    }
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return refuse(question.no_terminal);
    }
    say(&format!("\n{}", question.ask));
    if matches!(read_line()?.trim(), "y" | "Y" | "yes") { Ok(()) } else { unconfirmed() }
}

use crate::quiet::ask as say;

fn read_line() -> Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line)
}
