//! `hallpass`: the command line of the hallpass access broker. Owns process concerns only:
//! parse the arguments, run one command (or the TUI) on a multi-threaded runtime (the demo
//! serves its daemon while the TUI runs), report a failure and set
//! the exit code. Invariant: every failure leaves through [`failure::Failure`], so the exit code
//! is the one documented in `hallpass --help`.

mod cli;
mod commands;
mod connection;
mod failure;
mod flag_values;
mod output;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::failure::{EXIT_LOCAL, Failure};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let result = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(commands::run(cli)),
        Err(e) => Err(Failure::Local(format!(
            "cannot start the async runtime: {e}"
        ))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.report(json);
            let code = u8::try_from(failure.exit_code()).unwrap_or(EXIT_LOCAL as u8);
            ExitCode::from(code)
        }
    }
}
