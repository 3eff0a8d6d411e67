//! The content-addressed cache: verified blobs under `blobs/sha256/<hex>`,
//! and the manifest digest each fetched tag pointed to under `refs/`, so
//! `--offline` can resolve tags and requirements.
//!
//! Only verified bytes are written, each file atomically; a blob is read
//! only if it is a regular file no larger than expected, and one whose
//! bytes no longer match its name is treated as missing. Blobs need no
//! more: their name is their hash. A tag → digest entry is not
//! content-addressed, so it carries a seal (an HMAC under a per-user key
//! kept outside the cache, [`pipectl_io::SealKey`]) and is trusted only when
//! the seal verifies and the cache folder is private to the user; any
//! other entry is ignored, with a [`Notice`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use pipectl_io::{Digest, SealKey};

use crate::error::RegistryError;
use crate::notice::{Notice, Notices};
use crate::reference::Location;

/// The content-addressed cache: verified blobs and sealed tag entries in one folder.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
    key_path: Option<PathBuf>,
    key: Arc<OnceLock<Result<Arc<SealKey>, String>>>,
}

/// The most bytes of one tag → digest entry.
const MAX_REF_SIZE: u64 = 1024;

/// A blob file's identity, as its seal binds it.
pub(crate) fn blob_identity(meta: &std::fs::Metadata) -> Vec<u8> {
    pipectl_io::seal::file_identity("blob-file-v1", meta)
}

/// Creates `dir` and its missing parents private to the user (0700).
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

impl Cache {
    /// A cache in `dir`, sealing its tag entries with the key at
    /// [`SealKey::default_path`] (created on first use).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            key_path: SealKey::default_path(),
            key: Arc::default(),
        }
    }

    /// A cache in `dir` sealing with `key` (tests, embedding).
    pub fn with_key(dir: impl Into<PathBuf>, key: SealKey) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(Ok(Arc::new(key)));
        Self {
            dir: dir.into(),
            key_path: None,
            key: Arc::new(cell),
        }
    }

    /// The cache's root folder, holding `blobs/sha256/` and `refs/`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the blob with `digest` is kept.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest.hex())
    }

    /// The blob with this digest, if cached, a regular file of at most `max`
    /// bytes, and intact.
    pub fn blob(&self, digest: &Digest, max: u64) -> Option<Vec<u8>> {
        let bytes = pipectl_io::read_regular(&self.blob_path(digest), max, "cache entry").ok()?;
        digest.matches(&bytes).then_some(bytes)
    }

    /// The path of the blob with this digest, if cached, a regular file of
    /// exactly `size` bytes, and intact, with its file identity (see
    /// [`Cache::sealed`]). A blob sealed when an earlier fetch verified it
    /// is trusted after a `stat`; any other is hashed as a stream (memory
    /// stays flat whatever its size), then sealed.
    pub fn blob_file(&self, digest: &Digest, size: u64) -> Option<(PathBuf, Vec<u8>)> {
        let path = self.blob_path(digest);
        let (file, len) = pipectl_io::file::open_regular(&path, "cache entry").ok()?;
        if len != size {
            return None;
        }
        let meta = file.metadata().ok()?;
        let identity = blob_identity(&meta);
        if self.sealed(digest, &meta) {
            return Some((path, identity));
        }
        let (found, read) = Digest::sha256_reader(std::io::Read::take(&file, size)).ok()?;
        if read != size || found != *digest {
            return None;
        }
        // Sealed only if nothing changed it while it was hashed.
        let after = file.metadata().ok().map(|m| blob_identity(&m));
        if after.as_ref() != Some(&identity) {
            return None;
        }
        self.seal_blob(digest, &identity);
        Some((path, identity))
    }

    /// Whether the blob with `digest`, whose file has `meta`, carries a
    /// seal this user's key made over that same file identity, written
    /// after the file last changed. A seal written in the same clock tick as
    /// the file's last change (git's "racily clean" case: a same-size write
    /// in that tick would leave the identity as it was) is not trusted; the
    /// blob is hashed and sealed again. Off Unix, where a file's times can
    /// be set by anyone who can write it, no seal is trusted.
    pub fn sealed(&self, digest: &Digest, meta: &std::fs::Metadata) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            let Ok(key) = self.key() else {
                return false;
            };
            let path = self.seal_path(digest);
            let Ok((mut file, _)) = pipectl_io::file::open_regular(&path, "cache seal") else {
                return false;
            };
            let Ok(sealed_at) = file.metadata() else {
                return false;
            };
            let changed = (meta.ctime(), meta.ctime_nsec());
            if (sealed_at.mtime(), sealed_at.mtime_nsec()) <= changed {
                return false;
            }
            let mut seal = String::new();
            let read = std::io::Read::read_to_string(
                &mut std::io::Read::take(&mut file, MAX_REF_SIZE),
                &mut seal,
            );
            read.is_ok() && key.verify(&Self::blob_context(digest), &blob_identity(meta), &seal)
        }
        #[cfg(not(unix))]
        {
            let _ = (digest, meta);
            false
        }
    }

    /// Seals a blob just verified, by its file identity. Best effort: an
    /// unsealed blob is hashed when next used.
    fn seal_blob(&self, digest: &Digest, identity: &[u8]) {
        let Ok(key) = self.key() else {
            return;
        };
        let path = self.seal_path(digest);
        let Some(dir) = path.parent() else {
            return;
        };
        if create_private_dir(dir).is_err() {
            return;
        }
        let seal = key.seal(&Self::blob_context(digest), identity);
        let options = pipectl_io::WriteOptions {
            no_sync: true,
            ..Default::default()
        };
        let _ = pipectl_io::write_atomic(&path, seal.as_bytes(), options);
    }

    fn seal_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("seals/sha256").join(digest.hex())
    }

    fn blob_context(digest: &Digest) -> String {
        format!("pipectl-cache-blob\0{digest}")
    }

    /// Stores verified bytes under their digest.
    pub fn put_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<(), RegistryError> {
        debug_assert!(digest.matches(bytes));
        if self.blob(digest, bytes.len() as u64).is_some() {
            return Ok(());
        }
        self.ensure_dir()?;
        let path = self.blob_path(digest);
        // Every reader checks the digest: no fsync (a torn entry after a
        // crash is fetched again).
        let options = pipectl_io::WriteOptions {
            no_sync: true,
            ..Default::default()
        };
        pipectl_io::write_atomic(&path, bytes, options)?;
        Ok(())
    }

    /// Moves a verified temporary file (made in [`Self::tmp_dir`]) into
    /// place as the blob with `digest`; returns the blob's path and its
    /// file identity.
    pub fn put_blob_file(
        &self,
        digest: &Digest,
        file: tempfile::NamedTempFile,
    ) -> Result<(PathBuf, Option<Vec<u8>>), RegistryError> {
        let path = self.blob_path(digest);
        let dir = path.parent().expect("a blob path has a folder");
        create_private_dir(dir).map_err(RegistryError::io("failed to create", dir))?;
        // No fsync: the rename is the commit, and every reader checks the
        // digest or the seal, so a torn entry after a crash is fetched again.
        let file = file
            .persist(&path)
            .map_err(|e| RegistryError::io("failed to write the cache entry", &path)(e.error))?;
        // Not sealed yet: a rename without fsync may leave a torn file
        // after a crash. The next fetch that finds it hashes it, then
        // seals it. This process reads it by the identity it has now.
        let identity = file.metadata().ok().map(|meta| blob_identity(&meta));
        Ok((path, identity))
    }

    /// A folder inside the cache for downloads in progress (so the verified
    /// file is renamed into place, never copied).
    pub fn tmp_dir(&self) -> Result<PathBuf, RegistryError> {
        let dir = self.dir.join("tmp");
        create_private_dir(&dir).map_err(RegistryError::io("failed to create", &dir))?;
        Ok(dir)
    }

    fn ensure_dir(&self) -> Result<(), RegistryError> {
        create_private_dir(&self.dir).map_err(RegistryError::io("failed to create", &self.dir))
    }

    fn refs_dir(&self, location: &Location) -> PathBuf {
        // One folder per location, named by a digest of its description so
        // any registry host or layout path is a safe file name.
        let key = Digest::sha256(location.display().as_bytes());
        self.dir.join("refs").join(&key.hex()[..16])
    }

    fn seal_context(location: &Location, tag: &str) -> String {
        format!("pipectl-cache-ref\0{}\0{tag}", location.display())
    }

    fn key(&self) -> Result<Arc<SealKey>, String> {
        self.key
            .get_or_init(|| {
                let path = self.key_path.as_ref().ok_or_else(|| {
                    "no place for the cache key (set PIPECTL_CONFIG_DIR or HOME)".to_string()
                })?;
                SealKey::load_or_create(path)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
    }

    /// Records, sealed, that `tag` at `location` named `manifest_digest`.
    /// Without a usable key nothing is recorded (a notice says why).
    pub fn put_ref(
        &self,
        location: &Location,
        tag: &str,
        manifest_digest: &Digest,
        notices: &Notices,
    ) -> Result<(), RegistryError> {
        pipectl_io::name::check_component("tag", tag).map_err(|error| {
            RegistryError::UnsafeName {
                origin: location.display(),
                error,
            }
        })?;
        let dir = self.refs_dir(location);
        let path = dir.join(tag);
        let key = match self.key() {
            Ok(key) => key,
            Err(reason) => {
                notices.emit(Notice::CacheEntryIgnored {
                    path,
                    reason: format!("not recorded: {reason}"),
                });
                return Ok(());
            }
        };
        self.ensure_dir()?;
        create_private_dir(&dir).map_err(RegistryError::io("failed to create", &dir))?;
        let digest = manifest_digest.to_string();
        let seal = key.seal(&Self::seal_context(location, tag), digest.as_bytes());
        // Sealed: a torn entry after a crash fails its seal and is ignored.
        let options = pipectl_io::WriteOptions {
            no_sync: true,
            ..Default::default()
        };
        pipectl_io::write_atomic(
            &dir.join("location"),
            location.display().as_bytes(),
            options,
        )?;
        pipectl_io::write_atomic(&path, format!("{digest}\n{seal}\n").as_bytes(), options)?;
        Ok(())
    }

    /// Tags cached for `location`, with their manifest digests: only
    /// entries whose seal verifies, in a cache folder private to the user.
    pub fn refs(&self, location: &Location, notices: &Notices) -> Vec<(String, Digest)> {
        let dir = self.refs_dir(location);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let ignored = |path: PathBuf, reason: String| {
            notices.emit(Notice::CacheEntryIgnored { path, reason });
        };
        for folder in [self.dir.clone(), self.dir.join("refs"), dir.clone()] {
            if let Err(e) = pipectl_io::seal::check_cache_dir(&folder) {
                ignored(dir, format!("the cache folder is not safe: {e}"));
                return Vec::new();
            }
        }
        let key = match self.key() {
            Ok(key) => key,
            Err(reason) => {
                ignored(dir, reason);
                return Vec::new();
            }
        };
        let mut refs = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "location" || name.starts_with(".pipectl-tmp-") {
                continue;
            }
            if pipectl_io::name::check_component("tag", &name).is_err() {
                ignored(path, "not a tag".to_string());
                continue;
            }
            let text = match pipectl_io::read_regular_to_string(&path, MAX_REF_SIZE, "cache entry")
            {
                Ok(text) => text,
                Err(e) => {
                    ignored(path, e.to_string());
                    continue;
                }
            };
            let mut lines = text.lines();
            let (Some(digest), Some(seal)) = (lines.next(), lines.next()) else {
                ignored(path, "it has no seal".to_string());
                continue;
            };
            if !key.verify(
                &Self::seal_context(location, &name),
                digest.as_bytes(),
                seal,
            ) {
                ignored(path, "its seal does not verify".to_string());
                continue;
            }
            match Digest::parse(digest) {
                Ok(d) => refs.push((name, d)),
                Err(e) => ignored(path, e.to_string()),
            }
        }
        refs.sort();
        refs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location() -> Location {
        Location::Registry {
            registry: "localhost:5000".into(),
            repository: "plugins/x".into(),
        }
    }

    fn collect() -> (Notices, Arc<std::sync::Mutex<Vec<String>>>) {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        (
            Notices::new(move |n| sink.lock().unwrap().push(n.to_string())),
            seen,
        )
    }

    #[test]
    fn only_sealed_refs_are_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::with_key(dir.path().join("c"), SealKey::from_bytes([1; 32]));
        let (notices, seen) = collect();
        let d = Digest::sha256(b"manifest");
        cache.put_ref(&location(), "1.0.0", &d, &notices).unwrap();
        assert_eq!(
            cache.refs(&location(), &notices),
            vec![("1.0.0".to_string(), d.clone())]
        );
        // A planted entry: the digest of other bytes, with no seal or a seal
        // made with another key, or moved to another tag.
        let refs_dir = cache.refs_dir(&location());
        let planted = Digest::sha256(b"evil");
        std::fs::write(refs_dir.join("2.0.0"), format!("{planted}\n")).unwrap();
        let other = SealKey::from_bytes([2; 32]);
        let forged = other.seal(
            &Cache::seal_context(&location(), "3.0.0"),
            planted.to_string().as_bytes(),
        );
        std::fs::write(refs_dir.join("3.0.0"), format!("{planted}\n{forged}\n")).unwrap();
        std::fs::copy(refs_dir.join("1.0.0"), refs_dir.join("4.0.0")).unwrap();
        assert_eq!(
            cache.refs(&location(), &notices),
            vec![("1.0.0".to_string(), d)]
        );
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(seen.iter().any(|s| s.contains("has no seal")), "{seen:?}");
    }

    #[cfg(unix)]
    #[test]
    fn a_cache_folder_others_can_write_is_not_trusted() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::with_key(dir.path().join("c"), SealKey::from_bytes([1; 32]));
        let (notices, seen) = collect();
        let d = Digest::sha256(b"manifest");
        cache.put_ref(&location(), "1.0.0", &d, &notices).unwrap();
        std::fs::set_permissions(cache.dir(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(cache.refs(&location(), &notices).is_empty());
        assert!(seen.lock().unwrap()[0].contains("not private"));
    }

    #[test]
    fn blobs_are_read_only_when_regular_bounded_and_intact() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::with_key(dir.path(), SealKey::from_bytes([1; 32]));
        let d = Digest::sha256(b"blob");
        cache.put_blob(&d, b"blob").unwrap();
        assert_eq!(cache.blob(&d, 4).unwrap(), b"blob");
        assert!(cache.blob(&d, 3).is_none(), "larger than expected");
        std::fs::write(cache.blob_path(&d), b"blub").unwrap();
        assert!(cache.blob(&d, 4).is_none(), "altered");
        #[cfg(unix)]
        {
            let fifo_digest = Digest::sha256(b"fifo");
            let path = cache.blob_path(&fifo_digest);
            let ok = std::process::Command::new("mkfifo")
                .arg(&path)
                .status()
                .unwrap();
            assert!(ok.success());
            // Refused without opening it: no hang.
            assert!(cache.blob(&fifo_digest, 4).is_none());
        }
    }

    #[test]
    fn a_blob_sealed_when_verified_is_trusted_until_its_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::with_key(dir.path(), SealKey::from_bytes([1; 32]));
        let bytes = b"\0asm layer".to_vec();
        let size = bytes.len() as u64;
        let d = Digest::sha256(&bytes);
        let meta = |path: &Path| std::fs::metadata(path).unwrap();
        let mut tmp = tempfile::NamedTempFile::new_in(cache.tmp_dir().unwrap()).unwrap();
        std::io::Write::write_all(&mut tmp, &bytes).unwrap();
        let (path, identity) = cache.put_blob_file(&d, tmp).unwrap();
        assert_eq!(identity.unwrap(), blob_identity(&meta(&path)));
        // Not sealed as written (a crash could tear it): the first use
        // hashes it, then seals it.
        assert!(!cache.sealed(&d, &meta(&path)));
        // A clock tick later than the file's last change, or the seal is
        // "racily clean" and not trusted.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let (found, _) = cache.blob_file(&d, size).unwrap();
        assert_eq!(found, path);
        assert!(cache.sealed(&d, &meta(&path)), "sealed once verified");
        // Another key's seal, or another blob's, vouches for nothing.
        let other = Cache::with_key(dir.path(), SealKey::from_bytes([2; 32]));
        assert!(!other.sealed(&d, &meta(&path)));
        assert!(!cache.sealed(&Digest::sha256(b"other"), &meta(&path)));
        // Rewritten with other bytes of the same size: the identity moves,
        // the seal no longer applies, and the hash refuses the entry.
        std::fs::write(&path, b"\0asm LAYER").unwrap();
        assert!(!cache.sealed(&d, &meta(&path)));
        assert!(cache.blob_file(&d, size).is_none());
        // Restored: hashed, found intact, sealed again, trusted a tick on.
        std::fs::write(&path, &bytes).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(cache.blob_file(&d, size).is_some());
        assert!(cache.sealed(&d, &meta(&path)));
    }
}
