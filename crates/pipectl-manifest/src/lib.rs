//! `pipeline.toml`: the pipeline manifest, parsed and validated.
//!
//! ```toml
//! [pipeline]
//! name = "text-pipeline"
//! version = "0.1.0"
//! world = "example:text-transform/plugin@0.2.0"
//! wit = "wit/text-transform/0.2.0"      # where the world is defined
//!
//! [pipeline.limits]                      # optional, for every stage
//! timeout = "2s"
//! max-memory = "64MiB"
//!
//! [[stage]]
//! name = "normalizer"
//! path = "plugins/normalizer.wasm"
//!
//! [[stage]]
//! name = "validator"
//! oci = "localhost:5000/plugins/validator"   # or `package = "example:validator"`
//! version = "^0.2"
//! allow-imports = ["wasi:clocks/*"]          # optional; deny by default
//! grants = { clocks = true }                 # what `pipectl run` provides
//! ```
//!
//! Order comes only from the manifest; paths are relative to it. Everything
//! is validated here, so consumers get a [`Manifest`] they can trust: stage
//! names unique kebab-case labels, each stage with exactly one source.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use semver::{Version, VersionReq};
use serde::Deserialize;

/// Why a manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The file could not be read: missing, not a regular file, too large.
    #[error("{reason}")]
    Read {
        /// The manifest file that could not be read.
        path: PathBuf,
        /// The cause, naming the file (in the message, not as a source, so
        /// the chain says it once).
        reason: pipectl_io::ReadError,
    },
    /// The TOML does not parse or has the wrong shape.
    #[error("invalid manifest `{path}`: {message}")]
    Syntax {
        /// The manifest file whose TOML does not parse or has the wrong shape.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value is not acceptable.
    #[error("invalid manifest `{path}`: {item}: {reason}")]
    Invalid {
        /// The manifest file holding the unacceptable value.
        path: PathBuf,
        /// The key or stage, e.g. `stage \`validator\``.
        item: String,
        /// Why the value is not acceptable, as shown to the user.
        reason: String,
    },
}

/// A validated pipeline manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The path the manifest was read from; stage paths are relative to its folder.
    pub path: PathBuf,
    /// The pipeline's name (a kebab-case label).
    pub name: String,
    /// The pipeline's version, the manifest's `version` (semver).
    pub version: Version,
    /// The target world, e.g. `example:text-transform/plugin@0.2.0`.
    pub world: String,
    /// Where the world is defined, resolved against the manifest's folder.
    pub wit: PathBuf,
    /// Free-form description, for OCI annotations.
    pub description: Option<String>,
    /// The source repository URL, for OCI annotations.
    pub source: Option<String>,
    /// The license (SPDX expression), for OCI annotations.
    pub license: Option<String>,
    /// Limits for every stage, unless a stage sets its own.
    pub limits: Limits,
    /// The stages, in order.
    pub stages: Vec<Stage>,
    /// The `[trust]` table as written (`require`, `[[trust.key]]`): the
    /// trust policy for the manifest's registry stages, read by the binary.
    pub trust: Option<toml::Table>,
    /// Conformance case files for the composed pipeline (`pipectl test
    /// --pipeline`), resolved against the manifest's folder.
    pub cases: Vec<PathBuf>,
}

/// One stage of the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// The stage's name: unique, a kebab-case label.
    pub name: String,
    /// Where its component comes from.
    pub source: StageSource,
    /// Import-name globs it may import beyond the world.
    pub allow_imports: Vec<String>,
    /// Its own limits (each unset one falls back to the pipeline's).
    pub limits: Limits,
    /// What the host gives it at run time.
    pub grants: Grants,
    /// What `pipectl run` calls: `transform` (the default), or
    /// `<resource>.<method>` (e.g. `running-counter.count`) to keep one
    /// resource per instance and call its method per input.
    pub call: Option<String>,
    /// Conformance case files for this stage's component (`pipectl test
    /// --pipeline`), resolved against the manifest's folder.
    pub cases: Vec<PathBuf>,
}

/// Where a stage's component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageSource {
    /// A file, resolved against the manifest's folder.
    Path(PathBuf),
    /// A repository in an OCI registry (`host[:port]/repo`), or an
    /// `oci-layout:<dir>` store, with a version requirement.
    Oci {
        /// `host[:port]/repo` or `oci-layout:<dir>` (resolved against the
        /// manifest's folder).
        reference: String,
        /// Which tags (semver versions) are acceptable.
        version: VersionReq,
    },
    /// A package name (`namespace:name`) resolved through the registry
    /// configuration, with a version requirement.
    Package {
        /// The package name, `namespace:name`, resolved through the registry config.
        name: String,
        /// Which versions are acceptable.
        version: VersionReq,
    },
}

/// Per-call limits. `None` means "no limit of this kind" (or "inherit", for
/// a stage).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time for one call.
    pub timeout: Option<Duration>,
    /// Fuel (roughly, wasm instructions) for one call.
    pub fuel: Option<u64>,
    /// Linear memory, in bytes.
    pub max_memory: Option<u64>,
    /// Output size, in bytes.
    pub max_output: Option<u64>,
}

impl Limits {
    /// These limits, with every unset one taken from `fallback`.
    pub fn or(self, fallback: Limits) -> Limits {
        Limits {
            timeout: self.timeout.or(fallback.timeout),
            fuel: self.fuel.or(fallback.fuel),
            max_memory: self.max_memory.or(fallback.max_memory),
            max_output: self.max_output.or(fallback.max_output),
        }
    }
}

/// Capabilities a stage gets from the host; none by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Link `wasi:clocks/*`: wall-clock and monotonic time.
    pub clocks: bool,
    /// Link `wasi:random/*`: random bytes from the host.
    pub random: bool,
    /// `wasi:cli/stdout` and `wasi:cli/stderr` (output goes to the host's
    /// stderr), and the `wasi:cli/terminal-*` interfaces.
    pub stdio: bool,
    /// Environment variables visible through `wasi:cli/environment`.
    pub env: BTreeMap<String, String>,
    /// Host directories preopened for `wasi:filesystem/*`, with guest paths and modes.
    pub dirs: Vec<DirGrant>,
    /// Link `wasi:filesystem/*` even with no directory preopened: for
    /// toolchains (componentize-py, jco) whose components import it
    /// regardless. `dirs` implies it.
    pub filesystem: bool,
    /// Link `wasi:sockets/*` with every address refused: for toolchains
    /// (componentize-py, jco) whose components import the interfaces
    /// whether or not they use them. Never network access.
    pub sockets: bool,
    /// Link `wasi:http/*` with every outgoing request refused
    /// (`http-request-denied`): for toolchains (jco's StarlingMonkey) whose
    /// components import it whether or not they use it. Never network access.
    pub http: bool,
}

/// One capability granted by name: a manifest's `grants` key or the
/// operator's `--grant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// The `clocks` grant: `wasi:clocks/*`.
    Clocks,
    /// The `random` grant: `wasi:random/*`.
    Random,
    /// `wasi:cli` stdout and stderr.
    Stdio,
    /// `wasi:filesystem/*` linked with no directory.
    Filesystem,
    /// `wasi:sockets/*` linked, every address refused.
    Sockets,
    /// `wasi:http/*` linked, every request refused.
    Http,
    /// What language runtimes import: all of the above, each inert where it
    /// touches the outside.
    Runtime,
}

impl Grant {
    /// Every grant, by name.
    pub const ALL: [(&'static str, Grant); 7] = [
        ("clocks", Grant::Clocks),
        ("random", Grant::Random),
        ("stdio", Grant::Stdio),
        ("filesystem", Grant::Filesystem),
        ("sockets", Grant::Sockets),
        ("http", Grant::Http),
        ("runtime", Grant::Runtime),
    ];

    /// The grant named `name` (as `--grant` spells it), if any.
    pub fn from_name(name: &str) -> Option<Grant> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, g)| *g)
    }

    /// Its name, as `--grant` spells it.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, g)| *g == self)
            .map_or("runtime", |(n, _)| n)
    }

    /// Adds this capability to `grants`.
    pub fn apply(self, grants: &mut Grants) {
        match self {
            Grant::Clocks => grants.clocks = true,
            Grant::Random => grants.random = true,
            Grant::Stdio => grants.stdio = true,
            Grant::Filesystem => grants.filesystem = true,
            Grant::Sockets => grants.sockets = true,
            Grant::Http => grants.http = true,
            Grant::Runtime => {
                for g in [
                    Grant::Clocks,
                    Grant::Random,
                    Grant::Stdio,
                    Grant::Filesystem,
                    Grant::Sockets,
                    Grant::Http,
                ] {
                    g.apply(grants);
                }
            }
        }
    }
}

impl Grants {
    /// Adds the capabilities of `extra` (a union).
    pub fn merge(&mut self, extra: &Grants) {
        self.clocks |= extra.clocks;
        self.random |= extra.random;
        self.stdio |= extra.stdio;
        self.filesystem |= extra.filesystem;
        self.sockets |= extra.sockets;
        self.http |= extra.http;
        self.dirs.extend(extra.dirs.iter().cloned());
        self.env
            .extend(extra.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

/// A host directory preopened for a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The host directory, resolved against the manifest's folder.
    pub host: PathBuf,
    /// Where the guest sees it.
    pub guest: String,
    /// Whether the guest may write.
    pub writable: bool,
}

// ---- The file's shape, before validation ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    pipeline: RawPipeline,
    /// Read by whoever enforces it (the binary's trust policy).
    #[serde(default)]
    trust: Option<toml::Table>,
    #[serde(default, rename = "stage")]
    stages: Vec<RawStage>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPipeline {
    name: String,
    version: String,
    world: String,
    wit: PathBuf,
    description: Option<String>,
    source: Option<String>,
    license: Option<String>,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    cases: Vec<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawStage {
    name: String,
    #[serde(default)]
    cases: Vec<PathBuf>,
    path: Option<PathBuf>,
    oci: Option<String>,
    package: Option<String>,
    version: Option<String>,
    #[serde(default)]
    allow_imports: Vec<String>,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    grants: RawGrants,
    call: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLimits {
    timeout: Option<DurationValue>,
    fuel: Option<u64>,
    max_memory: Option<SizeValue>,
    max_output: Option<SizeValue>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawGrants {
    #[serde(default)]
    clocks: bool,
    #[serde(default)]
    random: bool,
    #[serde(default)]
    stdio: bool,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    dirs: Vec<RawDir>,
    #[serde(default)]
    sockets: bool,
    #[serde(default)]
    http: bool,
    #[serde(default)]
    filesystem: bool,
    /// Shorthand for what language runtimes (componentize-py, jco) import:
    /// stdio, clocks, random, and filesystem, sockets and http linked inert.
    #[serde(default)]
    runtime: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDir {
    host: PathBuf,
    guest: String,
    #[serde(default)]
    mode: DirMode,
}

#[derive(Deserialize, Default, Clone, Copy)]
enum DirMode {
    #[default]
    #[serde(rename = "ro")]
    ReadOnly,
    #[serde(rename = "rw")]
    ReadWrite,
}

/// A duration: milliseconds as an integer, or text such as `"1.5s"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum DurationValue {
    Millis(u64),
    Text(String),
}

/// A size: bytes as an integer, or text such as `"64MiB"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum SizeValue {
    Bytes(u64),
    Text(String),
}

/// Parses a duration: `"500ms"`, `"2s"`, `"1m 30s"`; a bare number is
/// milliseconds, as an integer in a manifest is.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(Duration::from_millis(ms));
    }
    humantime::parse_duration(text).map_err(|e| format!("`{text}`: {e}"))
}

/// Parses a size: `"64MiB"`, `"10 MB"`, `"4096"`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|s| s.as_u64())
        .map_err(|e| format!("`{text}`: {e}"))
}

/// Whether `name` is a kebab-case label: words of lowercase letters and
/// digits, each starting with a letter, joined by single hyphens.
pub fn is_label(name: &str) -> bool {
    !name.is_empty()
        && name.split('-').all(|word| {
            word.starts_with(|c: char| c.is_ascii_lowercase())
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// The largest `pipeline.toml` pipectl reads (1 MiB).
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        // A manifest arrives in pull requests: a regular file of sane size.
        let text = pipectl_io::read_regular_to_string(path, MAX_MANIFEST_BYTES, "manifest")
            .map_err(|reason| ManifestError::Read {
                path: path.to_owned(),
                reason,
            })?;
        Self::parse(path, &text)
    }

    /// Validates manifest `text` as if read from `path` (relative paths in it
    /// resolve against `path`'s folder).
    pub fn parse(path: &Path, text: &str) -> Result<Self, ManifestError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| ManifestError::Syntax {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        let invalid = |item: String, reason: String| ManifestError::Invalid {
            path: path.to_owned(),
            item,
            reason,
        };
        let p = raw.pipeline;
        if !is_label(&p.name) {
            return Err(invalid(
                "pipeline.name".into(),
                format!(
                    "`{}` is not a kebab-case name (e.g. `text-pipeline`)",
                    p.name
                ),
            ));
        }
        let version = Version::parse(&p.version).map_err(|e| {
            invalid(
                "pipeline.version".into(),
                format!("`{}` is not a semver version: {e}", p.version),
            )
        })?;
        let limits = parse_limits(p.limits).map_err(|r| invalid("pipeline.limits".into(), r))?;
        if raw.stages.is_empty() {
            return Err(invalid(
                "stage".into(),
                "the pipeline has no stages; add `[[stage]]` tables".into(),
            ));
        }
        let mut stages: Vec<Stage> = Vec::with_capacity(raw.stages.len());
        for (i, s) in raw.stages.into_iter().enumerate() {
            let stage = parse_stage(path, i, s, &stages)?;
            stages.push(stage);
        }
        Ok(Manifest {
            path: path.to_owned(),
            name: p.name,
            version,
            world: p.world,
            wit: base.join(p.wit),
            description: p.description,
            source: p.source,
            license: p.license,
            limits,
            stages,
            trust: raw.trust,
            cases: p.cases.iter().map(|c| base.join(c)).collect(),
        })
    }

    /// The folder relative paths in the manifest resolve against.
    pub fn base_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new(""))
    }
}

/// Stage `i` (from 0) of a manifest at `path`, validated; `earlier` are the
/// stages before it.
fn parse_stage(
    path: &Path,
    i: usize,
    s: RawStage,
    earlier: &[Stage],
) -> Result<Stage, ManifestError> {
    let base = path.parent().unwrap_or(Path::new(""));
    let invalid = |item: String, reason: String| ManifestError::Invalid {
        path: path.to_owned(),
        item,
        reason,
    };
    let item = format!("stage {} (`{}`)", i + 1, s.name);
    if !is_label(&s.name) {
        return Err(invalid(
            item,
            "stage names must be kebab-case: lowercase words of letters and digits, \
             each starting with a letter, joined by `-`"
                .into(),
        ));
    }
    if earlier.iter().any(|other| other.name == s.name) {
        return Err(invalid(
            item,
            format!(
                "duplicate stage name `{}`: stage names must be unique",
                s.name
            ),
        ));
    }
    let requirement = |v: Option<String>| -> Result<VersionReq, ManifestError> {
        let v = v.ok_or_else(|| {
            invalid(
                item.clone(),
                "a registry stage needs `version` (e.g. \"^0.2\")".into(),
            )
        })?;
        VersionReq::parse(&v).map_err(|e| {
            invalid(
                item.clone(),
                format!("`version = \"{v}\"` is not a semver requirement: {e}"),
            )
        })
    };
    let source = match (s.path, s.oci, s.package) {
        (Some(path), None, None) => {
            if s.version.is_some() {
                return Err(invalid(
                    item,
                    "`version` applies to `oci` and `package` stages, not to `path`".into(),
                ));
            }
            StageSource::Path(base.join(path))
        }
        (None, Some(reference), None) => StageSource::Oci {
            reference: match reference.strip_prefix("oci-layout:") {
                Some(dir) => format!("oci-layout:{}", base.join(dir).display()),
                None => reference,
            },
            version: requirement(s.version)?,
        },
        (None, None, Some(name)) => {
            let valid = name
                .split_once(':')
                .is_some_and(|(ns, n)| is_label(ns) && is_label(n));
            if !valid {
                return Err(invalid(
                    item,
                    format!("`package = \"{name}\"` is not a `namespace:name` package name"),
                ));
            }
            StageSource::Package {
                name,
                version: requirement(s.version)?,
            }
        }
        (None, None, None) => {
            return Err(invalid(
                item,
                "a stage needs one of `path`, `oci` or `package`".into(),
            ));
        }
        _ => {
            return Err(invalid(
                item,
                "a stage takes only one of `path`, `oci` and `package`".into(),
            ));
        }
    };
    Ok(Stage {
        limits: parse_limits(s.limits).map_err(|r| invalid(item.clone(), r))?,
        grants: stage_grants(s.grants, base),
        name: s.name,
        source,
        allow_imports: s.allow_imports,
        call: s.call,
        cases: s.cases.iter().map(|c| base.join(c)).collect(),
    })
}

/// A stage's grants: `runtime` is every inert grant at once; directories
/// resolve against `base`.
fn stage_grants(raw: RawGrants, base: &Path) -> Grants {
    let mut grants = Grants {
        clocks: raw.clocks,
        random: raw.random,
        stdio: raw.stdio,
        env: raw.env,
        dirs: raw
            .dirs
            .into_iter()
            .map(|d| DirGrant {
                host: base.join(d.host),
                guest: d.guest,
                writable: matches!(d.mode, DirMode::ReadWrite),
            })
            .collect(),
        sockets: raw.sockets,
        http: raw.http,
        filesystem: raw.filesystem,
    };
    if raw.runtime {
        Grant::Runtime.apply(&mut grants);
    }
    grants
}

fn parse_limits(raw: RawLimits) -> Result<Limits, String> {
    let size = |v: Option<SizeValue>| -> Result<Option<u64>, String> {
        Ok(match v {
            None => None,
            Some(SizeValue::Bytes(b)) => Some(b),
            Some(SizeValue::Text(t)) => Some(parse_size(&t)?),
        })
    };
    Ok(Limits {
        timeout: match raw.timeout {
            None => None,
            Some(DurationValue::Millis(ms)) => Some(Duration::from_millis(ms)),
            Some(DurationValue::Text(t)) => Some(parse_duration(&t)?),
        },
        fuel: raw.fuel,
        max_memory: size(raw.max_memory)?,
        max_output: size(raw.max_output)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(Path::new("/p/pipeline.toml"), text)
    }

    const HEAD: &str = r#"
        [pipeline]
        name = "text-pipeline"
        version = "0.1.0"
        world = "example:text-transform/plugin@0.2.0"
        wit = "wit/text-transform/0.2.0"
    "#;

    #[test]
    fn parses_the_documented_shape() {
        let m = parse(&format!(
            r#"{HEAD}
            [pipeline.limits]
            timeout = "1.5s"
            max-memory = "64MiB"

            [[stage]]
            name = "normalizer"
            path = "plugins/normalizer.wasm"

            [[stage]]
            name = "validator"
            oci = "localhost:5000/plugins/validator"
            version = "^0.2"
            allow-imports = ["wasi:clocks/*"]
            grants = {{ clocks = true, sockets = true, http = true, dirs = [{{ host = "data", guest = "/data" }}] }}
            limits = {{ fuel = 1000, timeout = 250 }}
            "#
        ))
        .unwrap();
        assert_eq!(m.wit, Path::new("/p/wit/text-transform/0.2.0"));
        assert_eq!(m.limits.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(m.limits.max_memory, Some(64 * 1024 * 1024));
        assert_eq!(
            m.stages[0].source,
            StageSource::Path("/p/plugins/normalizer.wasm".into())
        );
        let v = &m.stages[1];
        assert!(
            matches!(&v.source, StageSource::Oci { reference, .. } if reference == "localhost:5000/plugins/validator")
        );
        assert_eq!(v.allow_imports, ["wasi:clocks/*"]);
        assert!(v.grants.clocks && v.grants.sockets && !v.grants.random);
        assert!(v.grants.http);
        assert!(!m.stages[0].grants.sockets && !m.stages[0].grants.http);
        assert_eq!(v.grants.dirs[0].host, Path::new("/p/data"));
        assert!(!v.grants.dirs[0].writable);
        let effective = v.limits.or(m.limits);
        assert_eq!(effective.timeout, Some(Duration::from_millis(250)));
        assert_eq!(effective.fuel, Some(1000));
        assert_eq!(effective.max_memory, Some(64 * 1024 * 1024));
    }

    #[test]
    fn rejects_bad_stages_naming_them() {
        let cases = [
            (
                "name = \"a\"\npath = \"x\"\n[[stage]]\nname = \"a\"\npath = \"y\"",
                "duplicate stage name `a`",
            ),
            ("name = \"Bad_Name\"\npath = \"x\"", "kebab-case"),
            ("name = \"stage-0\"\npath = \"x\"", "kebab-case"),
            ("name = \"a\"", "needs one of `path`, `oci` or `package`"),
            ("name = \"a\"\npath = \"x\"\noci = \"r/x\"", "only one of"),
            ("name = \"a\"\noci = \"r/x\"", "needs `version`"),
            (
                "name = \"a\"\noci = \"r/x\"\nversion = \"latest\"",
                "not a semver requirement",
            ),
            (
                "name = \"a\"\npackage = \"nocolon\"\nversion = \"1\"",
                "namespace:name",
            ),
            (
                "name = \"a\"\npath = \"x\"\nlimits = { timeout = \"soon\" }",
                "`soon`",
            ),
            (
                "name = \"a\"\npath = \"x\"\ncolour = 1",
                "unknown field `colour`",
            ),
        ];
        for (stage, expected) in cases {
            let err = parse(&format!("{HEAD}\n[[stage]]\n{stage}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{stage:?}: {err}");
        }
        let err = parse(HEAD).unwrap_err().to_string();
        assert!(err.contains("no stages"), "{err}");
    }

    #[test]
    fn the_runtime_grant_is_every_inert_grant_at_once() {
        let m = parse(&format!(
            "{HEAD}\n[[stage]]\nname = \"js\"\npath = \"js.wasm\"\ngrants = {{ runtime = true }}\n"
        ))
        .unwrap();
        let g = &m.stages[0].grants;
        assert!(g.stdio && g.clocks && g.random && g.filesystem && g.sockets && g.http);
        assert!(g.dirs.is_empty() && g.env.is_empty());
    }

    #[test]
    fn labels() {
        assert!(is_label("stage0") && is_label("text-pipeline") && is_label("a1-b2"));
        assert!(!is_label("") && !is_label("0a") && !is_label("a--b") && !is_label("a_b"));
        assert!(!is_label("A") && !is_label("-a") && !is_label("a-"));
    }

    #[test]
    fn only_a_regular_file_of_sane_size_is_read() {
        for (path, says) in [
            ("/dev/zero", "not a regular file (it is a device)"),
            ("/", "not a regular file (it is a directory)"),
        ] {
            let e = Manifest::load(Path::new(path)).unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
        }
        let dir = std::env::temp_dir().join(format!("pipectl-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("pipeline.toml");
        std::fs::write(&big, vec![b'#'; (MAX_MANIFEST_BYTES + 1) as usize]).unwrap();
        let e = Manifest::load(&big).unwrap_err();
        assert!(e.to_string().contains("larger than"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
