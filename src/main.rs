//! `deploy`: parses the arguments, runs the command, and renders what it says, once, in the
//! format asked for. Every command is in `commands/`.

use std::process::ExitCode;

use clap::Parser;

use deploy::cli::Cli;
use deploy::commands::run;
use deploy::error::exit;
use deploy::output::{Printer, Verbosity};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbosity = match (cli.quiet, cli.verbose) {
        (true, _) => Verbosity::Quiet,
        (_, true) => Verbosity::Verbose,
        _ => Verbosity::Normal,
    };
    let printer = Printer::new(cli.output, verbosity);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the async runtime starts");
    let code = runtime.block_on(async {
        tokio::select! {
            // What a command has to say is printed here, once, in the format asked for.
            result = run(&cli, &printer) => match result {
                Ok(outcome) => {
                    if let Some(report) = &outcome.report {
                        printer.report(report);
                    }
                    outcome.code
                }
                Err(error) => {
                    printer.error(&error);
                    error.exit_code()
                }
            },
            _ = tokio::signal::ctrl_c() => {
                printer.status("interrupted: what was started keeps running; run the command again to converge");
                exit::INTERRUPTED
            }
        }
    });
    // Do not wait for background tasks (a log stream) on the way out.
    runtime.shutdown_background();
    ExitCode::from(code)
}
