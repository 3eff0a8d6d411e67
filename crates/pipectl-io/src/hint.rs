//! What an operator can do about a refusal, as data. Libraries attach a
//! [`Hint`] to their errors (and never name a command-line flag); the
//! binary renders it as the flags, manifest keys and variables that do it.

/// What an operator can do about a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Hint {
    /// Raise the cap on a layer's size.
    MaxBlobSize,
    /// Raise the cap on a manifest, an index or a page of tags.
    MaxManifestSize,
    /// Allow a registry operation more time.
    Timeout,
    /// Raise the linear-memory limit of a stage.
    MaxMemory,
    /// Replace what is there, on purpose.
    Force,
    /// Let the lockfile change (it was asked not to).
    Unlock,
    /// Give the registry credentials.
    Credentials {
        /// The registry that wants credentials, `host[:port]`, as in the reference.
        registry: String,
    },
    /// Grant a stage capabilities.
    Grant {
        /// The grants that cover every denied capability, most
        /// significant first (`http`, `sockets`, `filesystem`, `stdio`,
        /// `clocks`, `random`).
        grants: Vec<&'static str>,
        /// A filesystem capability was denied: a directory can be granted.
        dir: bool,
        /// An environment capability was denied: variables can be given.
        env: bool,
        /// A network interface was denied: it is only ever linked inert.
        network: bool,
    },
}
