//! The `pipectl` command line: parses arguments, runs one subcommand, maps
//! its outcome to the exit-code scheme.
//!
//! Exit codes: 0 ok; 1 a gate said no (findings, drift, a rejected input
//! or stage, a denied capability, `--locked` drift, a refused re-publish, a
//! failed verification); 2 pipectl could not run (usage, I/O, parse,
//! network). With `--format json`, every outcome is one JSON object on
//! stdout whose first field is `ok` (see `docs/cli.md`).

mod cli;
mod cmd;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use cli::opts::{Cli, Command};

/// What a subcommand concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything passed.
    Ok,
    /// It ran, and the gate failed.
    Failed,
    /// A command plugin ended with this status.
    Exit(u8),
}

/// The command-line definition, every `--help` ending with the exit codes.
pub fn command() -> clap::Command {
    fn footer(cmd: clap::Command) -> clap::Command {
        cmd.after_help(cli::opts::EXIT_CODES)
            .mut_subcommands(footer)
    }
    footer(Cli::command())
}

fn main() -> ExitCode {
    let matches = match command().try_get_matches() {
        Ok(m) => m,
        Err(err) => return usage_error(err),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    cli::output::set_verbosity(cli.quiet, cli.verbose);
    cli::hooks::configure(cli.no_hooks, cli.audit.clone());
    let json = cli.command.json();
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
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Compare(args) => cmd::compare::run(args),
        Command::Completions(args) => cmd::docs::completions(args),
        Command::Man(args) => cmd::docs::man(args),
        Command::Plugin(command) => cmd::plugin::run(command),
        Command::Serve(args) => cmd::serve::run(args),
        Command::External(args) => cmd::plugin::external(args),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Ok(Outcome::Exit(code)) => ExitCode::from(code),
        Err(err) if cli::output::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) if err.is::<cli::output::AlreadyReported>() => ExitCode::from(2),
        Err(err) => {
            let failure = cli::failure::classify(&err);
            let hint = cli::hints::find(&err).map(|h| cli::hints::render(&h));
            // A closed stderr must not turn the error into a panic.
            cli::output::error(&format!("error: {err:#}"));
            if let Some(hint) = &hint {
                cli::output::error(&format!("hint: {hint}"));
            }
            if json {
                let _ = cli::output::print_json_error(failure.kind, &err, hint.as_deref());
            }
            ExitCode::from(failure.exit)
        }
    }
}

/// A command line clap refused: its own message (help and version are
/// not errors), and with `--format json` anywhere on it the envelope too.
fn usage_error(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = err.print();
        return ExitCode::SUCCESS;
    }
    let args: Vec<String> = std::env::args().collect();
    let json = args
        .windows(2)
        .any(|w| w[0] == "--format" && w[1] == "json")
        || args.iter().any(|a| a == "--format=json");
    let _ = err.print();
    if json {
        // clap's message, up to its usage line, as one line.
        let text = err.render().to_string();
        let message = text
            .lines()
            .take_while(|l| !l.starts_with("Usage:"))
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let message = message.trim_start_matches("error: ");
        let _ = cli::output::print_json_error(
            "usage",
            &anyhow::anyhow!("{}", pipectl_io::text::clean(message, 2000)),
            None,
        );
    }
    ExitCode::from(2)
}
