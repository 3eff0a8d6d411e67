//! From changes to a verdict: the bump the changes need, the bump the
//! versions show, and whether the gate passes; and the report's formats.

use std::fmt::Write as _;

use semver::Version;

use crate::catalog::{Bump, Effect, Policy, Rule};
use crate::engine::{Change, Role};

/// When the gate fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailOn {
    /// The version bump is smaller than the changes need, the version went
    /// down, or the content changed under the same version.
    #[default]
    Breaking,
    /// Any finding at all.
    Any,
    /// Never: findings are reported, and the gate passes whatever they are.
    None,
}

/// A package and its version on one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageVersion {
    /// The package name, `ns:name`, without its version.
    pub package: String,
    /// Its version, if it has one.
    pub version: Option<String>,
}

/// One finding in the report.
#[derive(Debug, Clone)]
pub struct DiffFinding {
    /// The id of the catalog rule that matched, e.g. `func-added`.
    pub rule: String,
    /// The package the item belongs to, `ns:name`.
    pub package: String,
    /// The item, e.g. `wasi:io/streams#output-stream.write`.
    pub item: String,
    /// The effect on a component that imports the item.
    pub importer: Effect,
    /// The effect on a component that exports the item.
    pub exporter: Effect,
    /// Whose effect counts here, from the worlds (or `--role`).
    pub role: Role,
    /// The bump this finding needs under the report's policy.
    pub bump: Bump,
    /// Under the guest policy, a break that affects hosts only: what it asks
    /// of them (the finding then needs a minor bump, not a major one).
    pub warning: Option<String>,
    /// `file:line` in the old package.
    pub old_span: Option<String>,
    /// `file:line` in the new package.
    pub new_span: Option<String>,
    /// What changed: the rule's message with `{item}`, `{old}` and `{new}` filled in.
    pub message: String,
}

impl DiffFinding {
    /// The effect on the components (guests), from the role.
    pub fn effect(&self) -> Effect {
        match self.role {
            Role::Importer => self.importer,
            Role::Exporter => self.exporter,
            Role::Both => self.importer.max(self.exporter),
        }
    }

    /// How the finding is shown: `breaking` when it needs a major bump
    /// because something breaks, `warning` for a host-only break the guest
    /// policy lets through with a minor bump, else `compatible`.
    pub fn label(&self) -> &'static str {
        if self.warning.is_some() {
            "warning"
        } else if self.bump == Bump::Major {
            "breaking"
        } else {
            "compatible"
        }
    }
}

/// One package's verdict: the bump its findings need against the one it shows.
#[derive(Debug, Clone)]
pub struct PackageReport {
    /// The package's name and version on the old side.
    pub old: PackageVersion,
    /// The package's name and version on the new side.
    pub new: PackageVersion,
    /// The bump the findings need.
    pub required_bump: Bump,
    /// The policy that turned the findings into the required bump.
    pub policy: Policy,
    /// The bump the versions show (0.x arithmetic: `0.1` → `0.2` is major).
    pub actual_bump: Bump,
    /// Whether the gate passes.
    pub ok: bool,
    /// Why it fails, when it does.
    pub reason: Option<String>,
    /// Every finding for this package, with its rule, item and effects.
    pub findings: Vec<DiffFinding>,
}

/// The whole report: the first package's fields at the top, every package
/// in `packages` when several were compared.
#[derive(Debug, Clone)]
pub struct DiffReport {
    /// The verdict over every package compared: the first package's
    /// versions, the largest bump any needs, every finding, `ok` when all
    /// are (its fields are also reachable through `Deref`).
    pub summary: PackageReport,
    /// Each package, when more than one was compared.
    pub packages: Vec<PackageReport>,
}

impl std::ops::Deref for DiffReport {
    type Target = PackageReport;

    fn deref(&self) -> &PackageReport {
        &self.summary
    }
}

/// The bump from `old` to `new` in semver terms, with 0.x arithmetic:
/// `0.y` → `0.(y+1)` is a major step; `0.y.z` → `0.y.(z+1)` may carry
/// additions, so it counts as minor; in `0.0.z` every step is major;
/// pre-release changes promise nothing, so they count as major.
/// `Err` when the version went down.
pub fn actual_bump(old: Option<&Version>, new: Option<&Version>) -> Result<Bump, String> {
    let (Some(o), Some(n)) = (old, new) else {
        return Ok(if old == new { Bump::None } else { Bump::Major });
    };
    // Build metadata carries no precedence.
    let strip = |v: &Version| {
        let mut v = v.clone();
        v.build = semver::BuildMetadata::EMPTY;
        v
    };
    let (o, n) = (&strip(o), &strip(n));
    if n < o {
        return Err(format!("the version went down, from {o} to {n}"));
    }
    if n == o {
        return Ok(Bump::None);
    }
    if !o.pre.is_empty() || !n.pre.is_empty() {
        return Ok(Bump::Major);
    }
    Ok(match (o.major, n.major) {
        (0, 0) if o.minor == 0 && n.minor == 0 => Bump::Major,
        (0, 0) if o.minor != n.minor => Bump::Major,
        (0, 0) => Bump::Minor,
        (a, b) if a != b => Bump::Major,
        _ if o.minor != n.minor => Bump::Minor,
        _ => Bump::Patch,
    })
}

/// Judges one package's changes under `policy`.
pub fn judge(
    old: PackageVersion,
    new: PackageVersion,
    changes: &[Change],
    fail_on: FailOn,
    policy: Policy,
) -> PackageReport {
    let findings: Vec<DiffFinding> = changes
        .iter()
        .map(|c| {
            let (bump, host) = c.rule.bump_for(c.role, policy);
            DiffFinding {
                rule: c.rule.id.clone(),
                package: c.package.clone(),
                item: c.item.clone(),
                importer: c.rule.importer,
                exporter: c.rule.exporter,
                role: c.role,
                bump,
                warning: host.map(|side| Rule::host_warning(&c.item, side)),
                old_span: c.old_span.clone(),
                new_span: c.new_span.clone(),
                message: c.rule.render(&c.item, c.old.as_deref(), c.new.as_deref()),
            }
        })
        .collect();
    let required = findings.iter().map(|f| f.bump).max().unwrap_or(Bump::None);
    let parse = |v: &Option<String>| v.as_deref().and_then(|v| Version::parse(v).ok());
    let (ov, nv) = (parse(&old.version), parse(&new.version));
    let (actual, mut reason) = match actual_bump(ov.as_ref(), nv.as_ref()) {
        Ok(b) => (b, None),
        Err(why) => (Bump::None, Some(why)),
    };
    let unversioned = ov.is_none() && nv.is_none();
    if reason.is_none() && unversioned {
        // Nothing to compare the changes with: fail on breaking ones only.
        reason = match fail_on {
            FailOn::Breaking if required == Bump::Major => Some(format!(
                "the package has no version, and {} finding(s) are breaking",
                findings.iter().filter(|f| f.bump == Bump::Major).count()
            )),
            FailOn::Any if !findings.is_empty() => Some(format!(
                "{} change(s) found, and any change fails the gate",
                findings.len()
            )),
            _ => None,
        };
    } else if reason.is_none() {
        reason = match fail_on {
            FailOn::None => None,
            FailOn::Any if !findings.is_empty() => Some(format!(
                "{} change(s) found, and any change fails the gate",
                findings.len()
            )),
            _ if actual == Bump::None && !findings.is_empty() => Some(format!(
                "the content changed ({} finding(s)) but the version did not",
                findings.len()
            )),
            _ if actual < required => Some(format!(
                "the changes need a {} bump ({}), the version shows a {} bump",
                required.as_str(),
                explain(required, ov.as_ref()),
                actual.as_str()
            )),
            _ => None,
        };
    }
    if fail_on == FailOn::None {
        reason = None;
    }
    PackageReport {
        old,
        new,
        required_bump: required,
        policy,
        actual_bump: actual,
        ok: reason.is_none(),
        reason,
        findings,
    }
}

/// What a bump means for a version, e.g. `0.2.x -> 0.3.0`.
fn explain(bump: Bump, old: Option<&Version>) -> String {
    let Some(v) = old else {
        return "a new version".to_string();
    };
    let next = match (bump, v.major) {
        (Bump::Major, 0) if v.minor == 0 => Version::new(0, 0, v.patch + 1),
        (Bump::Major, 0) => Version::new(0, v.minor + 1, 0),
        (Bump::Major, m) => Version::new(m + 1, 0, 0),
        (Bump::Minor, 0) => Version::new(0, v.minor, v.patch + 1),
        (Bump::Minor, m) => Version::new(m, v.minor + 1, 0),
        (_, m) => Version::new(m, v.minor, v.patch + 1),
    };
    format!("at least {v} -> {next}")
}

/// Combines package reports, judged under `policy`: the first at the top.
pub fn combine(mut reports: Vec<PackageReport>, policy: Policy) -> DiffReport {
    let first = reports.first().cloned();
    let ok = reports.iter().all(|r| r.ok);
    let required = reports
        .iter()
        .map(|r| r.required_bump)
        .max()
        .unwrap_or(Bump::None);
    let findings: Vec<DiffFinding> = reports.iter().flat_map(|r| r.findings.clone()).collect();
    let reason = match reports.as_slice() {
        [one] => one.reason.clone(),
        several => several.iter().find_map(|r| {
            r.reason
                .as_ref()
                .map(|why| format!("{}: {why}", r.new.package))
        }),
    };
    let (old, new, actual) = match &first {
        Some(r) => (r.old.clone(), r.new.clone(), r.actual_bump),
        None => (
            PackageVersion {
                package: String::new(),
                version: None,
            },
            PackageVersion {
                package: String::new(),
                version: None,
            },
            Bump::None,
        ),
    };
    if reports.len() == 1 {
        reports.clear();
    }
    DiffReport {
        summary: PackageReport {
            old,
            new,
            required_bump: required,
            policy,
            actual_bump: actual,
            ok,
            reason,
            findings,
        },
        packages: reports,
    }
}

fn version(p: &PackageVersion) -> &str {
    p.version.as_deref().unwrap_or("(unversioned)")
}

impl DiffReport {
    fn each(&self) -> Vec<PackageReport> {
        if self.packages.is_empty() {
            vec![self.summary.clone()]
        } else {
            self.packages.clone()
        }
    }

    /// The report for people.
    pub fn human(&self) -> String {
        let mut out = String::new();
        for r in self.each() {
            // A package only one side has: say so instead of "unversioned".
            let only = |rule: &str, side: &PackageVersion| {
                if r.findings
                    .iter()
                    .any(|f| f.rule == rule && f.item == side.package)
                {
                    match rule {
                        "package-added" => "(absent)".to_string(),
                        _ => "(removed)".to_string(),
                    }
                } else {
                    version(side).to_string()
                }
            };
            let _ = writeln!(
                out,
                "{} {} -> {}: {} finding{}, needs a {} bump ({} policy), the version shows {}: {}",
                r.new.package,
                only("package-added", &r.old),
                only("package-removed", &r.new),
                r.findings.len(),
                if r.findings.len() == 1 { "" } else { "s" },
                r.required_bump.as_str(),
                r.policy.as_str(),
                r.actual_bump.as_str(),
                match &r.reason {
                    None => "ok".to_string(),
                    Some(why) => format!("FAIL ({why})"),
                }
            );
            for f in &r.findings {
                let _ = writeln!(out, "  {:<9} {}  {}", f.label(), f.rule, f.item);
                let _ = writeln!(out, "      {}", f.message);
                if let Some(w) = &f.warning {
                    let _ = writeln!(out, "      warning: {w}");
                }
                let _ = writeln!(
                    out,
                    "      importer: {}, exporter: {} (counts: {})",
                    f.importer.as_str(),
                    f.exporter.as_str(),
                    match f.role {
                        Role::Importer => "importer",
                        Role::Exporter => "exporter",
                        Role::Both => "both",
                    }
                );
                if let Some(s) = &f.old_span {
                    let _ = writeln!(out, "      old: {s}");
                }
                if let Some(s) = &f.new_span {
                    let _ = writeln!(out, "      new: {s}");
                }
            }
        }
        out
    }

    /// GitHub workflow commands: one annotation per finding, on the new
    /// file when the item exists there.
    pub fn github(&self) -> String {
        let mut out = String::new();
        for r in self.each() {
            for f in &r.findings {
                let level = match (f.label(), r.ok) {
                    ("breaking", false) => "error",
                    ("breaking" | "warning", _) => "warning",
                    _ => "notice",
                };
                let span = f.new_span.as_ref().or(f.old_span.as_ref());
                // `::level file=f,line=n,title=t::` or, without a place,
                // `::level title=t::`.
                let location = match span.and_then(|s| s.rsplit_once(':')) {
                    Some((file, line)) => format!(" file={},line={line},", escape_property(file)),
                    None => " ".to_string(),
                };
                let message = match &f.warning {
                    Some(w) => format!("{} ({w})", f.message),
                    None => f.message.clone(),
                };
                let _ = writeln!(
                    out,
                    "::{level}{location}title={}::{}",
                    escape_property(&f.rule),
                    escape_data(&message)
                );
            }
            match &r.reason {
                Some(why) => {
                    let _ = writeln!(
                        out,
                        "::error title=WIT drift::{}: {}",
                        r.new.package,
                        escape_data(why)
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "::notice title=WIT drift::{} {} -> {}: {} finding(s), needs {} ({} policy), ok",
                        r.new.package,
                        version(&r.old),
                        version(&r.new),
                        r.findings.len(),
                        r.required_bump.as_str(),
                        r.policy.as_str()
                    );
                }
            }
        }
        out
    }

    /// Markdown for a pull-request comment.
    pub fn markdown(&self) -> String {
        let mut out = String::from("## WIT drift\n\n");
        for r in self.each() {
            let _ = writeln!(
                out,
                "**`{}`** {} → {}: needs a **{}** bump ({} policy), the version shows **{}**: {}\n",
                r.new.package,
                version(&r.old),
                version(&r.new),
                r.required_bump.as_str(),
                r.policy.as_str(),
                r.actual_bump.as_str(),
                match &r.reason {
                    None => "✅ ok".to_string(),
                    Some(why) => format!("❌ {why}"),
                }
            );
            if r.findings.is_empty() {
                out.push_str("No changes.\n\n");
                continue;
            }
            out.push_str("| effect | rule | item | importer | exporter | where |\n");
            out.push_str("| --- | --- | --- | --- | --- | --- |\n");
            for f in &r.findings {
                let at = f
                    .new_span
                    .as_deref()
                    .or(f.old_span.as_deref())
                    .unwrap_or("");
                let _ = writeln!(
                    out,
                    "| {} | `{}` | `{}` | {} | {} | {} |",
                    f.label(),
                    f.rule,
                    f.item.replace('|', "\\|"),
                    f.importer.as_str(),
                    f.exporter.as_str(),
                    at
                );
            }
            out.push('\n');
        }
        out
    }
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn zero_x_arithmetic() {
        let b = |o: &str, n: &str| actual_bump(Some(&v(o)), Some(&v(n)));
        assert_eq!(b("0.1.0", "0.2.0"), Ok(Bump::Major));
        assert_eq!(b("0.2.0", "0.2.1"), Ok(Bump::Minor));
        assert_eq!(b("0.0.1", "0.0.2"), Ok(Bump::Major));
        assert_eq!(b("1.2.3", "1.2.4"), Ok(Bump::Patch));
        assert_eq!(b("1.2.3", "1.3.0"), Ok(Bump::Minor));
        assert_eq!(b("1.2.3", "2.0.0"), Ok(Bump::Major));
        assert_eq!(b("1.0.0", "1.0.0"), Ok(Bump::None));
        assert_eq!(b("0.3.0-rc-1", "0.3.0-rc-2"), Ok(Bump::Major));
        assert!(b("0.2.1", "0.2.0").is_err());
        assert_eq!(b("1.2.3+b", "1.2.3+a"), Ok(Bump::None));
        assert_eq!(
            explain(Bump::Major, Some(&v("0.2.3"))),
            "at least 0.2.3 -> 0.3.0"
        );
        assert_eq!(
            explain(Bump::Minor, Some(&v("0.2.3"))),
            "at least 0.2.3 -> 0.2.4"
        );
        assert_eq!(
            explain(Bump::Minor, Some(&v("1.2.3"))),
            "at least 1.2.3 -> 1.3.0"
        );
    }
}
