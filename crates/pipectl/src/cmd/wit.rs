//! `pipectl wit diff`: the WIT drift gate.

use anyhow::Context as _;
use pipectl_diff::{DiffOptions, FailOn, Policy, Role, Side};
use pipectl_wit::source::LoadedWit;

use crate::Outcome;
use crate::cli::opts::{DiffFormat, FailOnArg, PolicyArg, RoleArg, WitDiffArgs};
use crate::cli::output::{print_json, print_text};

/// Runs `pipectl wit diff`.
pub fn diff(args: WitDiffArgs) -> anyhow::Result<Outcome> {
    let pick = |w: LoadedWit| -> anyhow::Result<LoadedWit> {
        Ok(if args.all_packages {
            w.with_all_packages()
        } else if !args.packages.is_empty() {
            w.with_packages(&args.packages)?
        } else {
            w
        })
    };
    let old = pick(LoadedWit::load(&args.old).context("failed to load the old WIT")?)?;
    let new = pick(LoadedWit::load(&args.new).context("failed to load the new WIT")?)?;
    let opts = DiffOptions {
        features: args.features,
        all_features: args.all_features,
        role: args.role.map(|r| match r {
            RoleArg::Importer => Role::Importer,
            RoleArg::Exporter => Role::Exporter,
            RoleArg::Both => Role::Both,
        }),
        policy: match args.policy {
            PolicyArg::Guest => Policy::Guest,
            PolicyArg::Strict => Policy::Strict,
        },
    };
    let fail_on = match args.fail_on {
        FailOnArg::Breaking => FailOn::Breaking,
        FailOnArg::Any => FailOn::Any,
        FailOnArg::None => FailOn::None,
    };
    let report = pipectl_diff::diff_and_judge(&Side::from(&old), &Side::from(&new), &opts, fail_on);
    match args.format {
        DiffFormat::Json => print_json(report.ok, &crate::cli::json::DiffReport::from(&report))?,
        DiffFormat::Human => print_text(&report.human())?,
        DiffFormat::Github => print_text(&report.github())?,
        DiffFormat::Markdown => print_text(&report.markdown())?,
    }
    Ok(if report.ok {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}
