//! The `defender` binary: parses the command line before anything else (so `--help` stays
//! instant), then runs the command on a Tokio runtime and turns errors into exit codes.

use std::process::ExitCode;

use defender::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse_with_sources();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(defender::commands::run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            exit_code(&error)
        }
    }
}

/// Exit codes (docs/cli.md): 1 failed, 2 bad input, 3 refused before signing, 4 partly sent.
fn exit_code(error: &anyhow::Error) -> ExitCode {
    if error.is::<defender::send::PartlySent>() {
        ExitCode::from(4)
    } else if error.is::<defender::pipeline::Refused>() {
        ExitCode::from(3)
    } else if error.is::<defender::commands::session::InputError>() {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}
