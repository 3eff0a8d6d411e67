//! Errors of publishing and fetching. Messages name the reference, file or
//! registry; they never contain credentials.

use std::path::PathBuf;

use crate::artifact::VerifyError;

/// Why a publish or fetch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// A reference does not parse.
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),
    /// A file could not be read or written.
    #[error("{action} `{path}`")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder the action failed on.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Fetched bytes failed verification.
    #[error("`{reference}`: {reason}")]
    Verify {
        /// The reference whose bytes failed, as shown (`host/repo:tag`, `...@sha256:<hex>`).
        reference: String,
        /// What failed (in the message, so not also an error source).
        reason: VerifyError,
    },
    /// Nothing under that reference.
    #[error("`{reference}`: {what}")]
    NotFound {
        /// The reference that names nothing, as shown to the user.
        reference: String,
        /// What is missing, as a phrase: the repository, the version, a cached blob.
        what: String,
    },
    /// The registry refused the credentials, or wants some.
    #[error("registry `{registry}` refused access ({status}): {detail}")]
    Unauthorized {
        /// The registry that refused, `host[:port]`.
        registry: String,
        /// The HTTP status, `401 Unauthorized` or `403 Forbidden`.
        status: String,
        /// What is missing (credentials, or permission).
        detail: String,
    },
    /// The registry could not be reached, or the transfer broke.
    #[error("registry `{registry}`: {message}")]
    Network {
        /// The registry that could not be reached, `host[:port]`.
        registry: String,
        /// What broke, cleaned for display: the connection, TLS, or the transfer.
        message: String,
    },
    /// The registry answered with an error.
    #[error("registry `{registry}` answered an error: {message}")]
    Registry {
        /// The registry that answered the error, `host[:port]`.
        registry: String,
        /// The registry's error messages, or the HTTP status and body, shortened.
        message: String,
    },
    /// The operation is refused by pipectl's rules.
    #[error("{0}")]
    Refused(String),
    /// The lockfile is invalid or would change under `--locked`.
    #[error("lockfile `{path}`: {message}")]
    Lock {
        /// The path of the lockfile that is invalid or disagrees with the registry.
        path: PathBuf,
        /// What is wrong: a TOML error, an unsupported version, or a mismatched pin.
        message: String,
    },
    /// `--locked`, and the lockfile would change: a gate outcome, not a
    /// failure to run.
    #[error("lockfile `{path}`: {message}")]
    LockedDrift {
        /// The path of the lockfile that `--locked` keeps from changing.
        path: PathBuf,
        /// Which entry would change and how, as shown to the user.
        message: String,
    },
    /// The version is published already, with other bytes: a gate outcome.
    #[error(
        "`{reference}` already exists with different content (layer {layer}); publish a new version, or replace it on purpose"
    )]
    Exists {
        /// The tag that holds other bytes: `host/repo:tag` or `oci-layout:<dir>:tag`.
        reference: String,
        /// The layer it holds.
        layer: pipectl_io::Digest,
    },
    /// The registry configuration is invalid.
    #[error("registry configuration: {0}")]
    Config(String),
    /// The file is not a usable component.
    #[error(transparent)]
    Component(#[from] pipectl_wit::ComponentError),
    /// A file that must be a regular file of bounded size is not.
    #[error(transparent)]
    Read(#[from] pipectl_io::ReadError),
    /// A file could not be written.
    #[error(transparent)]
    Write(#[from] pipectl_io::WriteError),
    /// A value that becomes a file name is not one safe file name.
    #[error("{origin}: {error}")]
    UnsafeName {
        /// Where the value came from: the lockfile, the reference.
        origin: String,
        /// What is wrong with it.
        error: pipectl_io::NameError,
    },
    /// Something read as a digest is not one.
    #[error("{origin}: {error}")]
    BadDigest {
        /// Where it was read: the lockfile, an index, a manifest.
        origin: String,
        /// What is wrong with it.
        error: pipectl_io::DigestError,
    },
    /// A manifest, a tag list or a layer is larger than pipectl accepts.
    #[error("`{reference}`: {what} is larger than the {max} bytes accepted ({detail})")]
    TooLarge {
        /// The reference or `host/repo` being read, as shown to the user.
        reference: String,
        /// What (`the layer`, `the manifest`).
        what: String,
        /// Its declared size, or how much arrived.
        detail: String,
        /// The most bytes accepted: a `Limits` cap or a fixed one.
        max: u64,
        /// How the cap is raised (none: it is pipectl's own).
        hint: Option<pipectl_io::Hint>,
    },
    /// The operation did not end within its deadline.
    #[error("registry `{registry}`: gave up after {} s, the time allowed for the whole operation", timeout.as_secs())]
    Timeout {
        /// The registry being talked to, `host[:port]`.
        registry: String,
        /// The time allowed for the whole operation (`Limits::timeout`).
        timeout: std::time::Duration,
    },
}

impl RegistryError {
    /// What the operator can do about it.
    pub fn hint(&self) -> Option<pipectl_io::Hint> {
        use pipectl_io::Hint;
        match self {
            RegistryError::TooLarge { hint, .. } => hint.clone(),
            RegistryError::Timeout { .. } => Some(Hint::Timeout),
            RegistryError::Exists { .. } => Some(Hint::Force),
            RegistryError::LockedDrift { .. } => Some(Hint::Unlock),
            RegistryError::Unauthorized {
                registry, status, ..
            } if status.starts_with("401") => Some(Hint::Credentials {
                registry: registry.clone(),
            }),
            RegistryError::Write(e) => e.hint(),
            _ => None,
        }
    }

    /// An IO error on `path`.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> RegistryError {
        let path = path.into();
        move |source| RegistryError::Io {
            action,
            path,
            source,
        }
    }
}
