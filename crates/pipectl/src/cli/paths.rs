//! Where pipectl keeps its caches: one root for the registry's downloads
//! (`oci/`) and the precompiled components (`compiled/`).

use std::path::PathBuf;

/// `$PIPECTL_CACHE_DIR`, else `$XDG_CACHE_HOME/pipectl`, else
/// `~/.cache/pipectl`; `None` when none of them is set.
pub fn cache_root() -> Option<PathBuf> {
    std::env::var_os("PIPECTL_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("pipectl")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/pipectl")))
}

/// The registry's download cache: under the root (else under
/// `.pipectl-cache` here), `oci/`.
pub fn registry_cache() -> PathBuf {
    cache_root()
        .unwrap_or_else(|| PathBuf::from(".pipectl-cache"))
        .join("oci")
}

/// The precompiled components: under the root, `compiled/`; `None` without
/// a root (every stage is compiled).
pub fn compiled_cache() -> Option<PathBuf> {
    cache_root().map(|root| root.join("compiled"))
}
