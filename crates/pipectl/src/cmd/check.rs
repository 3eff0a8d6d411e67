//! `pipectl check`: components against worlds.

use std::fmt::Write as _;

use pipectl_wit::{CheckReport, ImportPolicy, Target, WitSet};
use serde::Serialize;

use crate::Outcome;
use crate::cli::opts::{CheckArgs, PolicyArgs};
use crate::cli::output::{AlreadyReported, Format, print_json, print_text};

/// Builds the import policy from `--allow-import` and `--policy`.
pub fn policy(args: &PolicyArgs) -> anyhow::Result<ImportPolicy> {
    Ok(match &args.policy {
        Some(file) => ImportPolicy::from_file(file, &args.allow_imports)?,
        None => ImportPolicy::allow(args.allow_imports.iter().cloned())?,
    })
}

/// One component's line in the JSON array: its report, or why it could not
/// be checked.
enum Entry {
    Report(CheckReport),
    Error { component: String, error: String },
}

/// `entry` as JSON: its report, or why it could not be checked.
fn entry_json(entry: &Entry) -> serde_json::Value {
    match entry {
        Entry::Report(r) => serde_json::to_value(crate::cli::json::CheckReport::from(r))
            .unwrap_or(serde_json::Value::Null),
        Entry::Error { component, error } => {
            serde_json::json!({ "component": component, "ok": false, "error": error })
        }
    }
}

/// Runs `pipectl check`.
pub fn run(args: CheckArgs) -> anyhow::Result<Outcome> {
    let policy = policy(&args.policy)?;
    let wit = WitSet::load(&args.wit)?;
    let worlds = args
        .worlds
        .iter()
        .map(|w| wit.find_world(w))
        .collect::<Result<Vec<_>, _>>()?;
    let jobs = args
        .jobs
        .map(std::num::NonZeroUsize::get)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(4)))
        .min(args.components.len())
        .max(1);
    let target = Target::new(&wit.resolve, &worlds, &policy)
        .validate_bodies(!args.no_validate_bodies)
        .threads(if jobs == 1 { 2 } else { 1 });
    let entries = check_all(&target, &args.components, jobs);

    let could_not_run = entries.iter().any(|e| matches!(e, Entry::Error { .. }));
    let failed = entries
        .iter()
        .any(|e| matches!(e, Entry::Report(r) if !r.ok));

    match args.format {
        Format::Json => {
            let json: Vec<serde_json::Value> = entries.iter().map(entry_json).collect();
            match (args.json_v1, json.as_slice()) {
                // The 0.1 shape, kept for one release.
                (true, [one]) => print_v1(one)?,
                (true, _) => print_v1(&json)?,
                (false, _) => print_json(
                    !failed && !could_not_run,
                    &serde_json::json!({
                        "components": json,
                        "bodies_validated": !args.no_validate_bodies,
                    }),
                )?,
            }
        }
        Format::Human => {
            let mut text = String::new();
            if args.no_validate_bodies {
                text.push_str(
                    "note: function bodies were not validated (--no-validate-bodies): types only\n",
                );
            }
            for entry in &entries {
                match entry {
                    Entry::Report(report) => human(report, &mut text),
                    Entry::Error { error, .. } => {
                        crate::cli::output::error(&format!("error: {error}"))
                    }
                }
            }
            print_text(&text)?;
        }
    }
    if could_not_run {
        // Reported above, per component; the exit code says "could not run".
        return Err(AlreadyReported.into());
    }
    Ok(if failed { Outcome::Failed } else { Outcome::Ok })
}

/// Checks `components` on `jobs` threads, each taking the next unchecked
/// file; the entries come back in the order given.
fn check_all(target: &Target<'_>, components: &[std::path::PathBuf], jobs: usize) -> Vec<Entry> {
    let check = |path: &std::path::PathBuf| {
        let checked =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target.check_file(path)));
        match checked {
            Ok(Ok(report)) => Entry::Report(report),
            Ok(Err(err)) => Entry::Error {
                component: path.display().to_string(),
                error: error_chain(&err),
            },
            Err(_) => Entry::Error {
                component: path.display().to_string(),
                error: "the check panicked".to_string(),
            },
        }
    };
    if jobs <= 1 {
        return components.iter().map(check).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::OnceLock<Entry>> = components
        .iter()
        .map(|_| std::sync::OnceLock::new())
        .collect();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(path) = components.get(i) else { break };
                    let _ = slots[i].set(check(path));
                }
            });
        }
    });
    slots
        .into_iter()
        .zip(components)
        .map(|(slot, path)| {
            slot.into_inner().unwrap_or_else(|| Entry::Error {
                component: path.display().to_string(),
                error: "not checked".to_string(),
            })
        })
        .collect()
}

/// `value` as pretty JSON, with no envelope (`--json-v1`).
fn print_v1<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    print_text(&text)
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let _ = write!(message, ": {cause}");
        source = cause.source();
    }
    message
}

fn human(report: &CheckReport, out: &mut String) {
    if report.ok {
        let _ = writeln!(
            out,
            "ok    {} satisfies `{}`",
            report.component, report.world
        );
        return;
    }
    let n = report.findings.len();
    let _ = writeln!(
        out,
        "FAIL  {} does not satisfy `{}`: {n} problem{}",
        report.component,
        report.world,
        if n == 1 { "" } else { "s" }
    );
    for finding in &report.findings {
        let _ = writeln!(out, "  {}: {}", finding.kind.as_str(), finding.item);
        let _ = writeln!(out, "      {}", finding.message);
        if finding.kind == pipectl_wit::FindingKind::UnexpectedImport {
            let hint = crate::cli::hints::allow_import(&finding.item);
            let _ = writeln!(out, "      hint: {hint}");
        }
    }
}
