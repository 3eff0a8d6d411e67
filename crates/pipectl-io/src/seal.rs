//! Authenticating what pipectl writes into a cache.
//!
//! A checksum beside a cache entry detects corruption, not tampering:
//! whoever can write the folder can write both. A [`SealKey`] is a per-user
//! secret kept outside every cache (created 0600 on first use); an entry's
//! seal is an HMAC-SHA256 of its bytes under that key, so only a process
//! that can read the key could have written a valid one. Anything that fails
//! its seal is treated as missing.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// Why the key could not be had, or a folder is not private.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Reading or creating the key failed.
    #[error("failed to use the cache key {}: {source}", path.display())]
    Io {
        /// The key file or its folder.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The key file or a cache folder can be changed or read by others.
    #[error("{} is not private: {reason}", path.display())]
    NotPrivate {
        /// The file or folder.
        path: PathBuf,
        /// Why it is not private: another owner, or a mode that lets others in.
        reason: String,
    },
}

/// The user's pipectl configuration folder: `$PIPECTL_CONFIG_DIR`, else
/// `$XDG_CONFIG_HOME/pipectl`, else `~/.config/pipectl`.
pub fn config_dir() -> Option<PathBuf> {
    std::env::var_os("PIPECTL_CONFIG_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CONFIG_HOME").map(|d| PathBuf::from(d).join("pipectl")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/pipectl")))
}

/// A per-user secret for sealing cache entries.
pub struct SealKey {
    key: [u8; 32],
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

impl SealKey {
    /// `$PIPECTL_CONFIG_DIR`, else `$XDG_CONFIG_HOME/pipectl`, else
    /// `~/.config/pipectl`; plus `/cache.key`. Never inside a cache folder.
    pub fn default_path() -> Option<PathBuf> {
        Some(config_dir()?.join("cache.key"))
    }

    /// Reads the key at `path`, or creates it (folder 0700, file 0600) from
    /// the OS's random source. A key file others can read or write is
    /// refused.
    pub fn load_or_create(path: &Path) -> Result<Self, SealError> {
        let io = |source| SealError::Io {
            path: path.to_path_buf(),
            source,
        };
        match crate::file::read_regular(path, 1024, "cache key") {
            Ok(bytes) => {
                check_private(path, 0o077)?;
                let hex = String::from_utf8_lossy(&bytes);
                let mut key = [0u8; 32];
                hex::decode_to_slice(hex.trim(), &mut key).map_err(|_| {
                    io(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "the cache key is not 64 hex digits",
                    ))
                })?;
                Ok(Self { key })
            }
            Err(e) if e.is_not_found() => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|e| io(std::io::Error::other(e.to_string())))?;
                if let Some(dir) = path.parent() {
                    let mut builder = std::fs::DirBuilder::new();
                    builder.recursive(true);
                    #[cfg(unix)]
                    {
                        use std::os::unix::fs::DirBuilderExt as _;
                        builder.mode(0o700);
                    }
                    builder.create(dir).map_err(io)?;
                }
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt as _;
                    options.mode(0o600);
                }
                match options.open(path) {
                    Ok(mut file) => {
                        file.write_all(hex::encode(key).as_bytes()).map_err(io)?;
                        file.sync_all().map_err(io)?;
                        Ok(Self { key })
                    }
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Self::load_or_create(path)
                    }
                    Err(e) => Err(io(e)),
                }
            }
            Err(crate::file::ReadError::Io { error, .. }) => Err(io(error)),
            Err(other) => Err(io(std::io::Error::other(other.to_string()))),
        }
    }

    /// A key from fixed bytes (tests).
    pub fn from_bytes(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn mac(&self, context: &str, bytes: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(context.as_bytes());
        mac.update(&[0]);
        mac.update(bytes);
        mac
    }

    /// The seal of `bytes` for `context` (what the entry is, e.g. its key),
    /// as hex.
    pub fn seal(&self, context: &str, bytes: &[u8]) -> String {
        hex::encode(self.mac(context, bytes).finalize().into_bytes())
    }

    /// Whether `seal` is `bytes`'s seal for `context` (constant time).
    pub fn verify(&self, context: &str, bytes: &[u8], seal: &str) -> bool {
        let Ok(tag) = hex::decode(seal.trim()) else {
            return false;
        };
        self.mac(context, bytes).verify_slice(&tag).is_ok()
    }
}

/// A file's identity for sealing: `kind`, then device, inode, size, change
/// and modification times (size and modification time elsewhere). Any write
/// to the file, or another file renamed into its place, changes it, and no
/// user can set a change time: a seal over it vouches for the bytes that
/// were verified when it was made, without hashing them again.
pub fn file_identity(kind: &str, meta: &std::fs::Metadata) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        format!(
            "{kind}:{}:{}:{}:{}.{}:{}.{}",
            meta.dev(),
            meta.ino(),
            meta.len(),
            meta.ctime(),
            meta.ctime_nsec(),
            meta.mtime(),
            meta.mtime_nsec()
        )
        .into_bytes()
    }
    #[cfg(not(unix))]
    {
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .unwrap_or_default();
        format!("{kind}:{}:{}", meta.len(), modified.as_nanos()).into_bytes()
    }
}

/// Checks that `path` belongs to the current user and has none of the
/// `forbidden` mode bits (e.g. 0o022: writable by group or others).
pub fn check_private(path: &Path, forbidden: u32) -> Result<(), SealError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let meta = std::fs::metadata(path).map_err(|source| SealError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let me = rustix::process::getuid().as_raw();
        if meta.uid() != me {
            return Err(SealError::NotPrivate {
                path: path.to_path_buf(),
                reason: format!("it belongs to user {}, not to {me}", meta.uid()),
            });
        }
        let bits = meta.mode() & forbidden;
        if bits != 0 {
            return Err(SealError::NotPrivate {
                path: path.to_path_buf(),
                reason: format!(
                    "its mode {:o} lets others in ({bits:o})",
                    meta.mode() & 0o7777
                ),
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (path, forbidden);
    Ok(())
}

/// Checks a cache folder before trusting anything in it: owned by the
/// current user and writable by no one else.
pub fn check_cache_dir(dir: &Path) -> Result<(), SealError> {
    check_private(dir, 0o022)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_verify_only_with_the_same_key_context_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cfg/cache.key");
        let key = SealKey::load_or_create(&path).unwrap();
        let again = SealKey::load_or_create(&path).unwrap();
        let seal = key.seal("a", b"bytes");
        assert!(again.verify("a", b"bytes", &seal));
        assert!(!key.verify("b", b"bytes", &seal));
        assert!(!key.verify("a", b"bytez", &seal));
        assert!(!SealKey::from_bytes([7; 32]).verify("a", b"bytes", &seal));
        assert!(!key.verify("a", b"bytes", "zz"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = SealKey::load_or_create(&path).unwrap_err();
            assert!(e.to_string().contains("not private"), "{e}");
        }
    }
}
