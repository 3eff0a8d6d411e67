//! Semantic diff of WIT packages and the rule catalog that classifies each
//! change. No IO: callers load the two sides (see `pipectl_wit::source`).
//!
//! - [`catalog`]: the rules, as data (`rules.toml`).
//! - [`engine`]: compares two resolves and names each change by a rule.
//! - [`report`]: required vs actual bump, the gate, human/JSON/GitHub/
//!   Markdown output.

pub mod catalog;
pub mod engine;
pub mod report;

pub use catalog::{Bump, Catalog, Effect, Policy, Rule};
pub use engine::{Change, DiffOptions, Role, Side, diff};
pub use report::{DiffFinding, DiffReport, FailOn, PackageReport, PackageVersion};

/// Diffs `old` against `new` and judges every package compared.
pub fn diff_and_judge(
    old: &Side<'_>,
    new: &Side<'_>,
    opts: &DiffOptions,
    fail_on: FailOn,
) -> DiffReport {
    let changes = engine::diff(old, new, opts);
    let name = |side: &Side<'_>, p: wit_parser::PackageId| {
        let n = &side.resolve.packages[p].name;
        PackageVersion {
            package: format!("{}:{}", n.namespace, n.name),
            version: n.version.as_ref().map(ToString::to_string),
        }
    };
    let mut reports = Vec::new();
    if let ([op], [np]) = (&old.packages[..], &new.packages[..]) {
        reports.push(report::judge(
            name(old, *op),
            name(new, *np),
            &changes,
            fail_on,
            opts.policy,
        ));
    } else {
        let mine = |package: &str| -> Vec<Change> {
            changes
                .iter()
                .filter(|c| c.package == package)
                .cloned()
                .collect()
        };
        for &np in &new.packages {
            let nv = name(new, np);
            let old_side = old
                .packages
                .iter()
                .find(|op| name(old, **op).package == nv.package)
                .map(|op| name(old, *op));
            let changes = mine(&nv.package);
            match old_side {
                Some(ov) => reports.push(report::judge(ov, nv, &changes, fail_on, opts.policy)),
                // Added: from no version to one.
                None => {
                    let absent = PackageVersion {
                        package: nv.package.clone(),
                        version: None,
                    };
                    reports.push(report::judge(absent, nv, &changes, fail_on, opts.policy));
                }
            }
        }
        for &op in &old.packages {
            let ov = name(old, op);
            if new
                .packages
                .iter()
                .any(|np| name(new, *np).package == ov.package)
            {
                continue;
            }
            let absent = PackageVersion {
                package: ov.package.clone(),
                version: None,
            };
            let changes = mine(&ov.package);
            let mut removed = report::judge(ov.clone(), absent, &changes, fail_on, opts.policy);
            if fail_on != FailOn::None {
                removed.ok = false;
                removed.reason = Some(format!(
                    "package `{}` was removed; no version bump of the others makes up for it",
                    ov.package
                ));
            }
            reports.push(removed);
        }
    }
    let mut report = report::combine(reports, opts.policy);
    if report.old.package.is_empty() && report.new.package.is_empty() {
        // No package of the old side exists on the new side.
        report.summary.ok = false;
        report.summary.reason =
            Some("no package was compared: the two sides share no package name".to_string());
    }
    report
}
