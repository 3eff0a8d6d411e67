//! The content-addressed cache: verified blobs under `blobs/sha256/<hex>`,
//! and the manifest digest each fetched tag pointed to under `refs/`, so
//! `--offline` can resolve tags and requirements.
//!
//! Only verified bytes are written, each file atomically; a blob whose
//! bytes no longer match its name is treated as missing.

use std::path::{Path, PathBuf};

use crate::artifact;
use crate::error::RegistryError;
use crate::fsutil::write_atomic;
use crate::reference::Location;

/// The cache folder.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// A cache in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `$PIPECTL_CACHE_DIR`, else `$XDG_CACHE_HOME/pipectl`, else
    /// `~/.cache/pipectl`; plus `/oci`.
    pub fn default_dir() -> PathBuf {
        let base = std::env::var_os("PIPECTL_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("pipectl"))
            })
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/pipectl")))
            .unwrap_or_else(|| PathBuf::from(".pipectl-cache"));
        base.join("oci")
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    /// The blob with this digest, if cached and intact.
    pub fn blob(&self, digest: &str) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.blob_path(digest)).ok()?;
        (artifact::digest(&bytes) == digest).then_some(bytes)
    }

    /// Stores verified bytes under their digest.
    pub fn put_blob(&self, digest: &str, bytes: &[u8]) -> Result<(), RegistryError> {
        debug_assert_eq!(artifact::digest(bytes), digest);
        if self.blob(digest).is_some() {
            return Ok(());
        }
        let path = self.blob_path(digest);
        write_atomic(&path, bytes)
            .map_err(RegistryError::io("failed to write the cache entry", &path))
    }

    fn refs_dir(&self, location: &Location) -> PathBuf {
        // One folder per location, named by a digest of its description so
        // any registry host or layout path is a safe file name.
        let key = artifact::digest(location.display().as_bytes());
        self.dir
            .join("refs")
            .join(&key["sha256:".len().."sha256:".len() + 16])
    }

    /// Records that `tag` at `location` named `manifest_digest`.
    pub fn put_ref(
        &self,
        location: &Location,
        tag: &str,
        manifest_digest: &str,
    ) -> Result<(), RegistryError> {
        let dir = self.refs_dir(location);
        let path = dir.join(tag);
        write_atomic(&dir.join("location"), location.display().as_bytes())
            .and_then(|()| write_atomic(&path, manifest_digest.as_bytes()))
            .map_err(RegistryError::io("failed to write the cache entry", &path))
    }

    /// Tags cached for `location`, with their manifest digests.
    pub fn refs(&self, location: &Location) -> Vec<(String, String)> {
        let dir = self.refs_dir(location);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name().to_string_lossy().into_owned();
                if name == "location" {
                    return None;
                }
                let digest = std::fs::read_to_string(e.path()).ok()?;
                Some((name, digest.trim().to_string()))
            })
            .collect()
    }
}
