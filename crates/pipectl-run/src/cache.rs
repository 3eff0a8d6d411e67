//! The on-disk cache of precompiled components.
//!
//! An entry is keyed by the component's sha256 and the engine's
//! compatibility hash (target, flags, tunables, wasmtime version), so a
//! changed engine configuration never loads a stale artifact. wasmtime checks
//! an artifact's configuration when loading it, but not its integrity, so
//! every entry carries our own sha256 of the artifact: a truncated or
//! corrupted file is detected before it is loaded, and recompiled.

use std::hash::{Hash as _, Hasher as _};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CompileSource {
    /// Compiled now (no cache, or a miss).
    Compiled,
    /// Loaded from a valid cache entry.
    Cache,
    /// The cache entry was corrupt or incompatible; compiled again.
    Recompiled,
}

/// Where precompiled components are kept.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
}

impl ArtifactCache {
    /// A cache in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The default location: `$PIPECTL_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/pipectl`, else `~/.cache/pipectl`; plus `/compiled`.
    pub fn default_dir() -> Option<PathBuf> {
        let base = std::env::var_os("PIPECTL_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("pipectl"))
            })
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/pipectl"))
            })?;
        Some(base.join("compiled"))
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn key(engine: &Engine, digest: &str) -> String {
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        format!(
            "{}-{:016x}",
            digest.trim_start_matches("sha256:"),
            hasher.finish()
        )
    }

    /// The artifact's path for a component digest on `engine`.
    pub fn path(&self, engine: &Engine, digest: &str) -> PathBuf {
        self.dir
            .join(format!("{}.cwasm", Self::key(engine, digest)))
    }

    /// Loads the component with sha256 `digest` (of `bytes`) from the cache,
    /// or compiles it and stores the artifact.
    ///
    /// Cache write failures are not fatal: the component is still returned.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, CompileSource)> {
        let path = self.path(engine, digest);
        let mut source = CompileSource::Compiled;
        if let Ok(artifact) = std::fs::read(&path) {
            source = CompileSource::Recompiled;
            if self.verify(&path, &artifact)
                && let Ok(component) = deserialize_verified(engine, &artifact)
            {
                return Ok((component, CompileSource::Cache));
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Ok(artifact) = component.serialize() {
            // Best effort: a read-only or full disk only costs speed.
            let _ = self.store(&path, &artifact);
        }
        Ok((component, source))
    }

    fn checksum_path(path: &Path) -> PathBuf {
        path.with_extension("cwasm.sha256")
    }

    fn verify(&self, path: &Path, artifact: &[u8]) -> bool {
        match std::fs::read_to_string(Self::checksum_path(path)) {
            Ok(expected) => expected.trim() == hex::encode(Sha256::digest(artifact)),
            Err(_) => false,
        }
    }

    fn store(&self, path: &Path, artifact: &[u8]) -> std::io::Result<()> {
        use std::io::Write as _;
        std::fs::create_dir_all(&self.dir)?;
        let write = |target: &Path, data: &[u8]| -> std::io::Result<()> {
            let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
            tmp.write_all(data)?;
            tmp.persist(target).map_err(|e| e.error)?;
            Ok(())
        };
        // Checksum last: an entry without a matching checksum is ignored, so
        // a crash between the two writes leaves nothing trusted.
        let checksum = Self::checksum_path(path);
        let _ = std::fs::remove_file(&checksum);
        write(path, artifact)?;
        write(&checksum, hex::encode(Sha256::digest(artifact)).as_bytes())
    }
}

/// Loads an artifact this cache wrote and whose checksum matched.
#[allow(
    unsafe_code,
    reason = "wasmtime cannot check a precompiled artifact's integrity; we do"
)]
fn deserialize_verified(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: the artifact is one this cache wrote (the sha256 stored beside
    // it matches its bytes), for this engine configuration (the key holds
    // the compatibility hash), and wasmtime re-checks the configuration and
    // version while loading.
    unsafe { Component::deserialize(engine, artifact) }
}
