//! The `pipectl` command line: parses arguments, runs one subcommand, maps
//! its outcome to the exit-code scheme.
//!
//! Exit codes: 0 ok; 1 the gate failed (findings, breaking drift, a stage
//! rejected its input); 2 usage, IO or parse error: pipectl could not run.

mod cli;
mod cmd;

use std::process::ExitCode;

use clap::Parser;

use cli::opts::{Cli, Command};

/// What a subcommand concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything passed.
    Ok,
    /// It ran, and the gate failed.
    Failed,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => cmd::check::run(args),
        Command::Wit(cli::opts::WitCommand::Diff(args)) => cmd::wit::diff(args),
        Command::Compose(args) => cmd::compose::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Test(args) => cmd::test::run(args),
        Command::Publish(args) => cmd::publish::run(args),
        Command::Fetch(args) => cmd::fetch::run(args),
        Command::Key(command) => cmd::key::run(command),
        Command::Sign(args) => cmd::sign::run(args),
        Command::Verify(args) => cmd::verify::run(args),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(err) if cli::output::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) if err.is::<cli::output::AlreadyReported>() => ExitCode::from(2),
        Err(err) => {
            // A closed stderr must not turn the error into a panic.
            cli::output::warn(&format!("error: {err:#}"));
            ExitCode::from(2)
        }
    }
}
