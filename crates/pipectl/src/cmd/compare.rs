//! `pipectl compare`: shadow mode, offline. Every input through a baseline
//! and a candidate, and a promotion gate on changed outputs, p95 latency
//! and the candidate's trap rate. Exit 0 promote, 1 the gate failed, 2
//! could not run.

use crate::Outcome;
use crate::cli::compare::{compare, render};
use crate::cli::opts::{CompareArgs, CompareFormat};
use crate::cli::output::{print_json, print_text};

/// Runs `pipectl compare`.
pub fn run(args: CompareArgs) -> anyhow::Result<Outcome> {
    let comparison = compare(&args)?;
    let ok = comparison.gate.iter().all(|g| g.passed);
    match args.format {
        CompareFormat::Json => print_json(ok, &comparison)?,
        CompareFormat::Human => print_text(&render(&comparison, false))?,
        CompareFormat::Markdown => print_text(&render(&comparison, true))?,
    }
    Ok(if ok { Outcome::Ok } else { Outcome::Failed })
}
