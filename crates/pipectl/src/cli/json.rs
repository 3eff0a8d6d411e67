//! The JSON `--format json` prints: small structs owned by the binary,
//! built from the libraries' reports (which derive no `Serialize` for
//! output). Field names are snake_case and in the order written here;
//! `docs/json/*.schema.json` pins each shape and the envelope test checks
//! real outputs against it.

use serde::Serialize;

/// One `check` report.
#[derive(Serialize)]
pub struct CheckReport<'a> {
    component: &'a str,
    world: &'a str,
    ok: bool,
    findings: Vec<Finding<'a>>,
}

/// One `check` finding.
#[derive(Serialize)]
pub struct Finding<'a> {
    kind: &'static str,
    item: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    found: Option<&'a str>,
}

impl<'a> From<&'a pipectl_wit::CheckReport> for CheckReport<'a> {
    fn from(r: &'a pipectl_wit::CheckReport) -> Self {
        Self {
            component: &r.component,
            world: &r.world,
            ok: r.ok,
            findings: r
                .findings
                .iter()
                .map(|f| Finding {
                    kind: f.kind.as_str(),
                    item: &f.item,
                    message: &f.message,
                    expected: f.expected.as_deref(),
                    found: f.found.as_deref(),
                })
                .collect(),
        }
    }
}

/// `compose`: the file written, then the composition.
#[derive(Serialize)]
pub struct Composition<'a> {
    output_file: String,
    world: &'a str,
    interface: &'a str,
    /// With `--adapter`: `cli`, `cli-lines` or `http`.
    #[serde(skip_serializing_if = "Option::is_none")]
    adapter: Option<&'static str>,
    stages: Vec<ComposedStage<'a>>,
    size: usize,
    digest: &'a str,
    imports: &'a [String],
    exports: &'a [String],
    skipped_exports: &'a [String],
    /// With `--attest`: the SBOM and provenance files written next to it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attestation_files: Vec<String>,
}

/// One stage of a composition.
#[derive(Serialize)]
pub struct ComposedStage<'a> {
    name: &'a str,
    origin: &'a str,
    digest: &'a str,
    size: usize,
    middleware: bool,
    provides: &'a str,
}

impl<'a> Composition<'a> {
    /// The report of `c`, written to `output_file`.
    pub fn new(c: &'a pipectl_compose::Composition, output_file: String) -> Self {
        Self {
            output_file,
            world: &c.world,
            interface: &c.interface,
            adapter: c.adapter.map(|a| a.name()),
            stages: c
                .stages
                .iter()
                .map(|s| ComposedStage {
                    name: &s.name,
                    origin: &s.origin,
                    digest: &s.digest,
                    size: s.size,
                    middleware: s.middleware,
                    provides: &s.provides,
                })
                .collect(),
            size: c.size,
            digest: &c.digest,
            imports: &c.imports,
            exports: &c.exports,
            skipped_exports: &c.skipped_exports,
            attestation_files: Vec::new(),
        }
    }
}

/// `wit diff`: the summary's fields, then each package when several were
/// compared.
#[derive(Serialize)]
pub struct DiffReport<'a> {
    #[serde(flatten)]
    summary: PackageReport<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    packages: Vec<PackageReport<'a>>,
}

/// One package's (or the summary's) diff.
#[derive(Serialize)]
pub struct PackageReport<'a> {
    old: Version<'a>,
    new: Version<'a>,
    required_bump: &'static str,
    policy: &'static str,
    actual_bump: &'static str,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    findings: Vec<DiffFinding<'a>>,
}

/// A package and its version.
#[derive(Serialize)]
pub struct Version<'a> {
    package: &'a str,
    version: Option<&'a str>,
}

/// One diff finding.
#[derive(Serialize)]
pub struct DiffFinding<'a> {
    rule: &'a str,
    package: &'a str,
    item: &'a str,
    importer: &'static str,
    exporter: &'static str,
    role: pipectl_diff::Role,
    bump: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<&'a str>,
    old_span: Option<&'a str>,
    new_span: Option<&'a str>,
    message: &'a str,
}

impl<'a> From<&'a pipectl_diff::PackageReport> for PackageReport<'a> {
    fn from(r: &'a pipectl_diff::PackageReport) -> Self {
        let version = |v: &'a pipectl_diff::PackageVersion| Version {
            package: &v.package,
            version: v.version.as_deref(),
        };
        Self {
            old: version(&r.old),
            new: version(&r.new),
            required_bump: r.required_bump.as_str(),
            policy: r.policy.as_str(),
            actual_bump: r.actual_bump.as_str(),
            ok: r.ok,
            reason: r.reason.as_deref(),
            findings: r
                .findings
                .iter()
                .map(|f| DiffFinding {
                    rule: &f.rule,
                    package: &f.package,
                    item: &f.item,
                    importer: f.importer.as_str(),
                    exporter: f.exporter.as_str(),
                    role: f.role,
                    bump: f.bump.as_str(),
                    warning: f.warning.as_deref(),
                    old_span: f.old_span.as_deref(),
                    new_span: f.new_span.as_deref(),
                    message: &f.message,
                })
                .collect(),
        }
    }
}

impl<'a> From<&'a pipectl_diff::DiffReport> for DiffReport<'a> {
    fn from(r: &'a pipectl_diff::DiffReport) -> Self {
        Self {
            summary: (&r.summary).into(),
            packages: r.packages.iter().map(Into::into).collect(),
        }
    }
}

/// `publish`: where the component went.
#[derive(Serialize)]
pub struct Published<'a> {
    reference: &'a str,
    version: &'a str,
    status: &'static str,
    manifest: String,
    layer: String,
    size: u64,
}

impl<'a> From<&'a pipectl_registry::PublishReport> for Published<'a> {
    fn from(r: &'a pipectl_registry::PublishReport) -> Self {
        Self {
            reference: &r.reference,
            version: &r.version,
            status: match r.status {
                pipectl_registry::PublishStatus::Published => "published",
                pipectl_registry::PublishStatus::Unchanged => "unchanged",
                pipectl_registry::PublishStatus::Replaced => "replaced",
            },
            manifest: r.manifest.to_string(),
            layer: r.layer.to_string(),
            size: r.size,
        }
    }
}

/// A lockfile entry, as `fetch` reports it.
#[derive(Serialize)]
pub struct LockEntry<'a> {
    name: &'a str,
    registry: &'a str,
    repository: &'a str,
    requirement: &'a str,
    version: &'a str,
    manifest: String,
    layer: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signer: Option<&'a str>,
}

impl<'a> From<&'a pipectl_registry::LockEntry> for LockEntry<'a> {
    fn from(e: &'a pipectl_registry::LockEntry) -> Self {
        Self {
            name: &e.name,
            registry: &e.registry,
            repository: &e.repository,
            requirement: &e.requirement,
            version: &e.version,
            manifest: e.manifest.to_string(),
            layer: e.layer.to_string(),
            size: e.size,
            signature: e.signature.as_ref().map(ToString::to_string),
            signer: e.signer.as_deref(),
        }
    }
}

/// One case of `pipectl test`.
#[derive(Serialize)]
pub struct Case<'a> {
    name: &'a str,
    passed: bool,
    steps: Vec<Step<'a>>,
}

/// One call of a case.
#[derive(Serialize)]
pub struct Step<'a> {
    invoke: &'a str,
    expected: &'a str,
    found: &'a str,
    passed: bool,
}

impl<'a> From<&'a pipectl_run::CaseOutcome> for Case<'a> {
    fn from(c: &'a pipectl_run::CaseOutcome) -> Self {
        Self {
            name: &c.name,
            passed: c.passed,
            steps: c
                .steps
                .iter()
                .map(|s| Step {
                    invoke: &s.invoke,
                    expected: &s.expected,
                    found: &s.found,
                    passed: s.passed,
                })
                .collect(),
        }
    }
}

/// One stage's statistics (`run --stats-json`).
#[derive(Serialize)]
pub struct StageStats<'a> {
    stage: &'a str,
    invocations: u64,
    succeeded: u64,
    rejected: u64,
    traps: u64,
    trap_rate: f64,
    limit_hits: &'a std::collections::BTreeMap<String, u64>,
    restarts: u64,
    skipped: u64,
    p50_us: u64,
    p95_us: u64,
}

impl<'a> From<&'a pipectl_run::StageSummary> for StageStats<'a> {
    fn from(s: &'a pipectl_run::StageSummary) -> Self {
        Self {
            stage: &s.stage,
            invocations: s.invocations,
            succeeded: s.succeeded,
            rejected: s.rejected,
            traps: s.traps,
            trap_rate: s.trap_rate,
            limit_hits: &s.limit_hits,
            restarts: s.restarts,
            skipped: s.skipped,
            p50_us: s.p50_us,
            p95_us: s.p95_us,
        }
    }
}

/// Why an input failed at a stage (`run --format json`): `kind`, `stage`
/// and `message` always, then what the kind adds.
#[derive(Serialize)]
pub struct StageFailure<'a> {
    kind: &'static str,
    stage: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    case: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failures: Option<u32>,
    summary: String,
}

impl<'a> StageFailure<'a> {
    /// The report of `f`; `summary` is its sentence, made safe for a
    /// terminal.
    pub fn new(f: &'a pipectl_run::StageFailure, summary: String) -> Self {
        use pipectl_run::FailureKind as K;
        let mut out = Self {
            kind: "",
            stage: &f.stage,
            message: String::new(),
            case: None,
            limit: None,
            failures: None,
            summary,
        };
        match &f.kind {
            K::Rejected { case, message } => {
                (out.kind, out.case, out.message) =
                    ("rejected", Some(case.as_str()), message.clone());
            }
            K::Trap { message } => (out.kind, out.message) = ("trap", message.clone()),
            K::Limit { limit, detail } => {
                (out.kind, out.limit, out.message) =
                    ("limit", Some(limit.as_str()), detail.clone());
            }
            K::StageFailed { failures } => {
                (out.kind, out.failures) = ("stage_failed", Some(*failures));
                out.message = f.to_string();
            }
            K::Instantiate { message } => {
                (out.kind, out.message) = ("instantiate", message.clone());
            }
        }
        out
    }
}
