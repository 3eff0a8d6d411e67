//! What an error means for the exit code and the JSON envelope: every
//! failure is either a gate's "no" (exit 1) or "could not run" (exit 2),
//! with a stable snake_case `kind`.
//!
//! The libraries' typed errors decide it, found anywhere in the error's
//! chain (the outermost typed error wins; wrappers such as a registry
//! stage's fetch are looked through).

use pipectl_compose::ComposeError;
use pipectl_registry::RegistryError;
use pipectl_run::LoadError;

/// A gate's refusal decided in the binary (e.g. the trust policy): exit 1.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Gate {
    /// The `kind` in the JSON envelope.
    pub kind: &'static str,
    /// What was refused, and why.
    pub message: String,
}

impl Gate {
    /// A refusal of `kind`.
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// An error whose message was rewritten (e.g. made safe for a terminal)
/// and whose classification is kept.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Classified {
    /// How it ends the program.
    pub failure: Failure,
    /// The rewritten message.
    pub message: String,
    /// What the operator can do, from the original error.
    pub hint: Option<pipectl_io::Hint>,
}

impl Classified {
    /// `err`, classified, with its message (chain included) passed through
    /// `rewrite`.
    pub fn rewrite(err: anyhow::Error, rewrite: impl FnOnce(&str) -> String) -> anyhow::Error {
        let failure = classify(&err);
        Classified {
            failure,
            message: rewrite(&format!("{err:#}")),
            hint: crate::cli::hints::find(&err),
        }
        .into()
    }
}

/// A usage error found after parsing (flags that do not fit together).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// How an error ends the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// 1: a gate said no; 2: pipectl could not run.
    pub exit: u8,
    /// The `kind` in the JSON envelope.
    pub kind: &'static str,
}

const fn gate(kind: &'static str) -> Failure {
    Failure { exit: 1, kind }
}

const fn broken(kind: &'static str) -> Failure {
    Failure { exit: 2, kind }
}

/// Classifies `err` by the first typed error in its chain that says
/// something (wrappers are looked through); `error` when none does.
pub fn classify(err: &anyhow::Error) -> Failure {
    err.chain().find_map(one).unwrap_or(Failure {
        exit: 2,
        kind: "error",
    })
}

fn one(cause: &(dyn std::error::Error + 'static)) -> Option<Failure> {
    if let Some(g) = cause.downcast_ref::<Gate>() {
        return Some(gate(g.kind));
    }
    if let Some(c) = cause.downcast_ref::<Classified>() {
        return Some(c.failure);
    }
    if cause.is::<Usage>() {
        return Some(broken("usage"));
    }
    if let Some(e) = cause.downcast_ref::<RegistryError>() {
        return registry(e);
    }
    if let Some(e) = cause.downcast_ref::<Box<RegistryError>>() {
        return registry(e);
    }
    if let Some(e) = cause.downcast_ref::<ComposeError>() {
        return Some(match e {
            ComposeError::Stage { .. } => gate("stage_rejected"),
            ComposeError::Output { .. } => gate("composition_rejected"),
            ComposeError::StageFile { .. } => broken("component"),
            ComposeError::Wit(_) => broken("wit"),
            _ => broken("compose"),
        });
    }
    if let Some(e) = cause.downcast_ref::<pipectl_hooks::HookError>() {
        use pipectl_hooks::HookError as H;
        return Some(match e {
            H::Vetoed { .. } => gate("vetoed"),
            H::Failed { .. } => broken("hook_failed"),
            H::Digest { .. } => broken("plugin_digest"),
            H::Load { .. } => broken("plugin_load"),
            H::Audit { .. } => broken("audit"),
            _ => broken("hook"),
        });
    }
    if cause.is::<pipectl_serve::ServeError>() {
        return Some(broken("serve"));
    }
    if cause.is::<pipectl_hooks::ContractError>() {
        return Some(broken("not_a_plugin"));
    }
    if cause.is::<pipectl_hooks::ConfigError>() {
        return Some(broken("plugin_config"));
    }
    if let Some(e) = cause.downcast_ref::<LoadError>() {
        return Some(match e {
            LoadError::Capability { .. } => gate("capability_denied"),
            LoadError::UnknownImport { .. } | LoadError::MissingExport { .. } => {
                gate("stage_rejected")
            }
            LoadError::Signature { .. } | LoadError::MemoryLimit { .. } => gate("stage_rejected"),
            _ => broken("load"),
        });
    }
    if cause.is::<pipectl_manifest::ManifestError>() {
        return Some(broken("manifest"));
    }
    if cause.is::<pipectl_wit::WitError>() || cause.is::<pipectl_wit::source::SourceError>() {
        return Some(broken("wit"));
    }
    if cause.is::<pipectl_wit::ComponentError>() {
        return Some(broken("component"));
    }
    if cause.is::<pipectl_wit::PolicyError>() {
        return Some(broken("policy_file"));
    }
    if cause.is::<pipectl_run::CaseFileError>() {
        return Some(broken("case_file"));
    }
    if cause.is::<pipectl_trust::KeyError>() {
        return Some(broken("key"));
    }
    if cause.is::<pipectl_io::ReadError>()
        || cause.is::<pipectl_io::WriteError>()
        || cause.is::<std::io::Error>()
    {
        return Some(broken("io"));
    }
    None
}

fn registry(e: &RegistryError) -> Option<Failure> {
    Some(match e {
        RegistryError::LockedDrift { .. } => gate("locked_drift"),
        RegistryError::Exists { .. } => gate("version_exists"),
        RegistryError::Reference(_) => broken("reference"),
        RegistryError::Io { .. } | RegistryError::Read(_) | RegistryError::Write(_) => broken("io"),
        RegistryError::Verify { .. } => broken("integrity"),
        RegistryError::NotFound { .. } => broken("not_found"),
        RegistryError::Unauthorized { .. } => broken("unauthorized"),
        RegistryError::Network { .. } => broken("network"),
        RegistryError::Registry { .. } => broken("registry"),
        RegistryError::Refused(_) => broken("refused"),
        RegistryError::Lock { .. } => broken("lockfile"),
        RegistryError::Config(_) => broken("registry_config"),
        RegistryError::Component(_) => broken("component"),
        RegistryError::UnsafeName { .. } => broken("unsafe_name"),
        RegistryError::BadDigest { .. } => broken("bad_digest"),
        RegistryError::TooLarge { .. } => broken("too_large"),
        RegistryError::Timeout { .. } => broken("timeout"),
        _ => broken("registry"),
    })
}
