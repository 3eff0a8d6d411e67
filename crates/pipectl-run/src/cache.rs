//! The on-disk cache of precompiled components.
//!
//! A precompiled artifact is native code: wasmtime loads it with an
//! `unsafe` deserialize that trusts its bytes. So the cache never trusts a
//! file for being there, or for a checksum beside it (whoever can write the
//! folder can write both). Every entry carries a *seal*: an HMAC-SHA256,
//! under a per-user key kept outside the cache ([`pipectl_io::SealKey`],
//! created 0600 on first use), of the artifact file's identity as written
//! (device, inode, size, change and modification times in nanoseconds: any
//! write, replacement, copy or restore changes them, and only root can set
//! a change time back), with the entry's key (component digest and engine
//! compatibility hash) as its context, so an artifact sealed for one
//! component is refused under another's name. Checking a seal costs a
//! `stat`, and the artifact is memory-mapped, not read: a warm start does
//! not hash or copy the native code. The
//! folder itself must belong to the user and be writable by no one else.
//! An entry that fails any check is not loaded: the component is compiled
//! again and the caller gets a [`CacheWarning`] to show.
//!
//! An entry is keyed by the component's sha256 and the engine's
//! compatibility hash (target, flags, tunables, wasmtime version), so a
//! changed engine configuration never loads a stale artifact.

use std::hash::{Hash as _, Hasher as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pipectl_io::seal::SealError;
use pipectl_io::{Digest, SealKey, WriteOptions};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The largest artifact the cache reads back (a compiled language runtime
/// is a few hundred MiB).
const MAX_ARTIFACT_BYTES: u64 = 4 << 30;

/// The largest seal file the cache reads (a seal is 64 hex digits).
const MAX_SEAL_BYTES: u64 = 1024;

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CompileSource {
    /// Compiled now (no cache, or a miss).
    Compiled,
    /// Loaded from a valid cache entry.
    Cache,
    /// A cache entry was there but failed its checks (seal, folder,
    /// compatibility); compiled again instead of loading it.
    Recompiled,
}

/// Why the cache could not be opened: the run goes on without it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// No configuration folder to keep the key in (no `$HOME`).
    #[error("no folder for the cache key: set `PIPECTL_CONFIG_DIR`, `XDG_CONFIG_HOME` or `HOME`")]
    NoKeyPath,
    /// The key could not be read or created, or is not private.
    #[error(transparent)]
    Key(#[from] SealError),
}

/// Why a cache entry was not loaded. The component was compiled instead;
/// the caller decides how to show it.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheWarning {
    /// The cache folder belongs to someone else or others may write it.
    #[error(
        "the precompiled cache {} is not trusted ({reason}); its entries are neither loaded nor written",
        dir.display()
    )]
    NotPrivate {
        /// The precompiled cache's folder that failed the ownership or permission check.
        dir: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The artifact has no seal, or a seal this user's key did not make
    /// for this component and engine.
    #[error(
        "precompiled artifact {} has {} (written by someone else, or tampered with); not loaded, compiled again",
        path.display(),
        if *missing { "no seal" } else { "an invalid seal" }
    )]
    BadSeal {
        /// The `.cwasm` artifact whose seal was missing or did not verify.
        path: PathBuf,
        /// Whether the seal file was missing (rather than wrong).
        missing: bool,
    },
    /// The artifact could not be read (not a regular file, too large, IO).
    #[error("precompiled artifact {} could not be read ({reason}); compiled again", path.display())]
    Unreadable {
        /// The `.cwasm` artifact that could not be read.
        path: PathBuf,
        /// Why it could not be read: not a regular file, too large, or an IO error.
        reason: String,
    },
    /// The sealed artifact did not load on this engine.
    #[error("precompiled artifact {} did not load ({message}); compiled again", path.display())]
    Incompatible {
        /// The sealed `.cwasm` artifact that did not load.
        path: PathBuf,
        /// wasmtime's message on deserializing it, as shown to the user.
        message: String,
    },
}

/// A component, how it was obtained, and why a cache entry was passed over.
pub struct Compiled {
    /// The component, compiled or deserialized, ready to instantiate.
    pub component: Component,
    /// Compiled, loaded, or compiled again.
    pub source: CompileSource,
    /// Why a cache entry was not loaded, if one was passed over.
    pub warning: Option<CacheWarning>,
}

/// Where precompiled components are kept, and the key that seals them.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    key: Arc<SealKey>,
}

impl ArtifactCache {
    /// A cache in `dir` (created when first written) sealed with `key`.
    pub fn new(dir: impl Into<PathBuf>, key: SealKey) -> Self {
        Self {
            dir: dir.into(),
            key: Arc::new(key),
        }
    }

    /// A cache in `dir` sealed with the user's key at
    /// [`SealKey::default_path`], created on first use.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, CacheError> {
        let path = SealKey::default_path().ok_or(CacheError::NoKeyPath)?;
        Ok(Self::new(dir, SealKey::load_or_create(&path)?))
    }

    /// The folder holding the `.cwasm` artifacts and their `.cwasm.seal` files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry's key: the component digest's hex and the engine's
    /// compatibility hash. Safe as a file name (hex only).
    fn entry_key(engine: &Engine, digest: &Digest) -> String {
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        format!("{}-{:016x}", digest.hex(), hasher.finish())
    }

    /// The artifact's path for a component digest on `engine`.
    pub fn path(&self, engine: &Engine, digest: &Digest) -> PathBuf {
        self.dir
            .join(format!("{}.cwasm", Self::entry_key(engine, digest)))
    }

    /// The seal's path beside an artifact.
    pub fn seal_path(artifact: &Path) -> PathBuf {
        artifact.with_extension("cwasm.seal")
    }

    /// Loads the component with sha256 `digest` (of `bytes`) from the cache
    /// if its entry is sealed by this cache's key, or compiles it and stores
    /// a sealed artifact.
    ///
    /// Cache write failures are not fatal: the component is still returned.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        digest: &Digest,
        bytes: &[u8],
    ) -> wasmtime::Result<Compiled> {
        let entry = Self::entry_key(engine, digest);
        let path = self.path(engine, digest);
        let present = std::fs::symlink_metadata(&path).is_ok();
        let passed_over = |warning| -> wasmtime::Result<Compiled> {
            Ok(Compiled {
                component: Component::new(engine, bytes)?,
                source: if present {
                    CompileSource::Recompiled
                } else {
                    CompileSource::Compiled
                },
                warning: Some(warning),
            })
        };
        // A folder others can write is used neither way: what is in it
        // could be theirs, and what we write could be replaced.
        match pipectl_io::seal::check_cache_dir(&self.dir) {
            Ok(()) => {}
            Err(SealError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(SealError::NotPrivate { reason, .. }) => {
                return passed_over(CacheWarning::NotPrivate {
                    dir: self.dir.clone(),
                    reason,
                });
            }
            Err(other) => {
                return passed_over(CacheWarning::NotPrivate {
                    dir: self.dir.clone(),
                    reason: other.to_string(),
                });
            }
        }
        let mut warning = None;
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if !meta.file_type().is_file() || meta.len() > MAX_ARTIFACT_BYTES => {
                warning = Some(CacheWarning::Unreadable {
                    path: path.clone(),
                    reason: "not a regular file of a plausible size".into(),
                });
            }
            Ok(meta) => match self.check_seal(&entry, &path, &identity(&meta)) {
                Ok(()) => match map_sealed(engine, &path, &meta) {
                    Ok(component) => {
                        return Ok(Compiled {
                            component,
                            source: CompileSource::Cache,
                            warning: None,
                        });
                    }
                    Err(e) => {
                        warning = Some(CacheWarning::Incompatible {
                            path: path.clone(),
                            message: format!("{e:#}"),
                        })
                    }
                },
                Err(w) => warning = Some(w),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                warning = Some(CacheWarning::Unreadable {
                    path: path.clone(),
                    reason: e.to_string(),
                })
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Ok(artifact) = component.serialize() {
            // Best effort: a read-only or full disk only costs speed.
            let _ = self.store(&entry, &path, &artifact);
        }
        Ok(Compiled {
            component,
            source: if present {
                CompileSource::Recompiled
            } else {
                CompileSource::Compiled
            },
            warning,
        })
    }

    fn check_seal(&self, entry: &str, path: &Path, identity: &[u8]) -> Result<(), CacheWarning> {
        let seal_path = Self::seal_path(path);
        match pipectl_io::read_regular_to_string(&seal_path, MAX_SEAL_BYTES, "cache seal") {
            Ok(seal) if self.key.verify(entry, identity, &seal) => Ok(()),
            Ok(_) => Err(CacheWarning::BadSeal {
                path: path.to_path_buf(),
                missing: false,
            }),
            Err(e) => Err(CacheWarning::BadSeal {
                path: path.to_path_buf(),
                missing: e.is_not_found(),
            }),
        }
    }

    fn store(&self, entry: &str, path: &Path, artifact: &[u8]) -> std::io::Result<()> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            builder.mode(0o700);
        }
        builder.create(&self.dir)?;
        let options = WriteOptions {
            // A link in the cache folder is replaced, never followed.
            replace_symlink: true,
            mode: None,
            no_sync: false,
        };
        let write = |target: &Path, data: &[u8]| {
            pipectl_io::write_atomic(target, data, options).map_err(std::io::Error::other)
        };
        // Seal last: an entry without a matching seal is never loaded, so a
        // crash between the two writes leaves nothing trusted.
        let seal = Self::seal_path(path);
        match std::fs::remove_file(&seal) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        // The checksum file earlier versions wrote proves nothing.
        let _ = std::fs::remove_file(path.with_extension("cwasm.sha256"));
        write(path, artifact)?;
        // The seal binds this very file (as renamed into place) to the entry.
        let written = std::fs::symlink_metadata(path)?;
        write(&seal, self.key.seal(entry, &identity(&written)).as_bytes())
    }
}

/// What a seal binds: the artifact file's identity (see
/// [`pipectl_io::seal::file_identity`]); checking it costs a `stat`, not a
/// hash of the whole artifact.
fn identity(meta: &std::fs::Metadata) -> Vec<u8> {
    pipectl_io::seal::file_identity("cwasm-file-v2", meta)
}

/// Maps an artifact whose seal this cache's key verified for the file
/// `verified` describes, and checks that the file mapped is still that one.
#[allow(
    unsafe_code,
    reason = "wasmtime cannot check a precompiled artifact's origin; the seal does"
)]
fn map_sealed(
    engine: &Engine,
    path: &Path,
    verified: &std::fs::Metadata,
) -> wasmtime::Result<Component> {
    // SAFETY: the seal verified under the user's secret key, with this
    // entry's key (component digest and engine compatibility hash) as
    // context, binds this entry to the file this process's user wrote from
    // `Component::serialize` for this component on this engine
    // configuration; its identity (inode, size, change time) is checked
    // again after the mapping, so a file swapped meanwhile is not used;
    // wasmtime re-checks the configuration and version.
    let component = unsafe { Component::deserialize_file(engine, path) }?;
    let now = std::fs::symlink_metadata(path)?;
    if identity(&now) != identity(verified) {
        wasmtime::bail!("the artifact changed while it was loaded");
    }
    Ok(component)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        let mut c = wasmtime::Config::new();
        c.wasm_component_model(true);
        Engine::new(&c).unwrap()
    }

    fn component(text: &str) -> Vec<u8> {
        wat::parse_str(format!(
            r#"(component (core module (func (export "{text}"))))"#
        ))
        .unwrap()
    }

    #[test]
    fn a_sealed_entry_loads_and_anything_else_is_compiled_again() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::new(dir.path().join("compiled"), SealKey::from_bytes([1; 32]));
        let engine = engine();
        let bytes = component("a");
        let digest = Digest::sha256(&bytes);
        let first = cache.load_or_compile(&engine, &digest, &bytes).unwrap();
        assert_eq!(
            (first.source, first.warning),
            (CompileSource::Compiled, None)
        );
        let second = cache.load_or_compile(&engine, &digest, &bytes).unwrap();
        assert_eq!(
            (second.source, second.warning),
            (CompileSource::Cache, None)
        );

        // Another key's seal is not this user's.
        let other = ArtifactCache::new(cache.dir(), SealKey::from_bytes([2; 32]));
        let third = other.load_or_compile(&engine, &digest, &bytes).unwrap();
        assert_eq!(third.source, CompileSource::Recompiled);
        assert!(
            matches!(
                &third.warning,
                Some(CacheWarning::BadSeal { missing: false, .. })
            ),
            "{:?}",
            third.warning
        );

        // A missing seal (e.g. a checksum beside it instead).
        let path = cache.path(&engine, &digest);
        std::fs::remove_file(ArtifactCache::seal_path(&path)).unwrap();
        let fourth = cache.load_or_compile(&engine, &digest, &bytes).unwrap();
        assert_eq!(fourth.source, CompileSource::Recompiled);
        assert!(
            matches!(
                &fourth.warning,
                Some(CacheWarning::BadSeal { missing: true, .. })
            ),
            "{:?}",
            fourth.warning
        );
        assert!(fourth.warning.unwrap().to_string().contains("no seal"));

        // A sealed artifact of another component, copied under this one's
        // name with its seal: the seal's context is the entry, so it fails.
        let b = component("b");
        let b_digest = Digest::sha256(&b);
        cache.load_or_compile(&engine, &b_digest, &b).unwrap();
        let b_path = cache.path(&engine, &b_digest);
        std::fs::copy(&b_path, &path).unwrap();
        std::fs::copy(
            ArtifactCache::seal_path(&b_path),
            ArtifactCache::seal_path(&path),
        )
        .unwrap();
        let fifth = cache.load_or_compile(&engine, &digest, &bytes).unwrap();
        assert_eq!(fifth.source, CompileSource::Recompiled);
        assert!(matches!(fifth.warning, Some(CacheWarning::BadSeal { .. })));
    }

    #[cfg(unix)]
    #[test]
    fn a_folder_others_can_write_is_not_used() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("compiled");
        let cache = ArtifactCache::new(&folder, SealKey::from_bytes([1; 32]));
        let engine = engine();
        let bytes = component("a");
        let digest = Digest::sha256(&bytes);
        cache.load_or_compile(&engine, &digest, &bytes).unwrap();
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o777)).unwrap();
        let again = cache.load_or_compile(&engine, &digest, &bytes).unwrap();
        assert_eq!(again.source, CompileSource::Recompiled);
        assert!(
            matches!(&again.warning, Some(CacheWarning::NotPrivate { reason, .. }) if reason.contains("777")),
            "{:?}",
            again.warning
        );
    }
}
