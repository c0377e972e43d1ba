//! Emphasis where it helps a person reading under pressure: warnings, refusals, anything
//! irreversible, the hash to compare with the device, the simulation's verdict. Text is styled
//! here and printed through `anstream`, which drops the styling unless the stream is a
//! terminal and colour is allowed (`--color`, `NO_COLOR`, `CLICOLOR_FORCE`); `--json` never
//! carries any.

use std::fmt::Display;

use anstyle::{AnsiColor, Effects, Style};

/// `--color`: when to colour what a person reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless NO_COLOR is set.
    #[default]
    Auto,
    Always,
    Never,
}

/// Sets the choice for the whole process, before anything is printed. Left to itself, colour
/// needs stdout on a terminal too: output piped into a file or another program stays plain.
pub fn init(when: ColorWhen, json: bool) {
    let choice = match (when, json) {
        (_, true) | (ColorWhen::Never, _) => anstream::ColorChoice::Never,
        (ColorWhen::Always, _) => anstream::ColorChoice::Always,
        (ColorWhen::Auto, _) if !std::io::IsTerminal::is_terminal(&std::io::stdout()) => {
            anstream::ColorChoice::Never
        }
        (ColorWhen::Auto, _) => anstream::ColorChoice::Auto,
    };
    choice.write_global();
}

/// Something to look at twice: a warning, a note of what the device leaves out.
pub const WARNING: Style = AnsiColor::Yellow.on_default().effects(Effects::BOLD);
/// What cannot be undone, what was refused, an error, a simulation that reverts.
pub const DANGER: Style = AnsiColor::Red.on_default().effects(Effects::BOLD);
/// A check that passed.
pub const GOOD: Style = AnsiColor::Green.on_default();
/// What to compare with the device's screen.
pub const COMPARE: Style = AnsiColor::Cyan.on_default().effects(Effects::BOLD);

/// `text` in `style`, for printing with `anstream`'s macros.
pub fn paint(style: Style, text: impl Display) -> String {
    format!("{style}{text}{style:#}")
}

/// A warning line's own style: red for what cannot be undone, yellow otherwise.
pub fn of_warning(line: &str) -> Style {
    if line.contains("IRREVERSIBLE") || line.contains("cannot be undone") || line.contains("is lost") {
        DANGER
    } else {
        WARNING
    }
}
