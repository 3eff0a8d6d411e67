//! `pipectl.lock`: one entry per fetched artifact, pinning its manifest and
//! layer digests. TOML with a format version, sorted for stable diffs,
//! written atomically while its folder is locked.

use std::path::{Path, PathBuf};

use pipectl_io::Digest;
use serde::{Deserialize, Serialize};

use crate::error::RegistryError;
use crate::fsutil::DirLock;
use crate::limits::MAX_FILE_SIZE;

/// The lockfile format version this pipectl writes.
pub const LOCK_VERSION: u32 = 1;

/// One `[[artifact]]` entry of `pipectl.lock`: a request and the digests it pinned.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LockEntry {
    /// What was asked for: `host/repo`, `oci-layout:<dir>` or `ns:name`.
    pub name: String,
    /// The registry (`oci-layout` for layouts).
    pub registry: String,
    /// The repository (the directory for layouts).
    pub repository: String,
    /// The requirement asked for (`^0.2`, `=0.2.0`, or a digest).
    pub requirement: String,
    /// The version it resolved to: one safe file name (it names
    /// `pipectl fetch`'s output).
    pub version: String,
    /// The digest of the manifest the requirement resolved to, `sha256:<hex>`.
    pub manifest: Digest,
    /// The digest of the component layer that manifest names, `sha256:<hex>`.
    pub layer: Digest,
    /// The component layer's size in bytes.
    pub size: u64,
    /// The digest of the Sigstore bundle a trust policy accepted for this
    /// manifest (kept in the cache, so a warm fetch verifies it again with
    /// no network), when a policy required one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Digest>,
    /// The fingerprint (`sha256:<hex>`) of the key that made that signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockFile {
    version: u32,
    #[serde(default, rename = "artifact")]
    artifacts: Vec<LockEntry>,
}

/// A `pipectl.lock` read into memory, with the entries changed since loading.
#[derive(Debug, Clone)]
pub struct Lockfile {
    path: PathBuf,
    entries: Vec<LockEntry>,
    /// Entries added or changed since loading: what `save` applies to the
    /// file as it is then, so that concurrent fetches lose nothing.
    pending: Vec<LockEntry>,
}

impl Lockfile {
    /// Loads `path`; a missing file is an empty lockfile.
    pub fn load(path: &Path) -> Result<Self, RegistryError> {
        Ok(Self {
            path: path.to_owned(),
            entries: read_entries(path)?,
            pending: Vec::new(),
        })
    }

    /// No lockfile: a fetch through it pins nothing (it is never saved).
    pub fn none() -> Self {
        Self {
            path: PathBuf::new(),
            entries: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// The path the lockfile was loaded from and is saved to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every entry, including those added since loading; the file keeps them sorted.
    pub fn entries(&self) -> &[LockEntry] {
        &self.entries
    }

    /// The entry for `name` and `requirement`.
    pub fn find(&self, name: &str, requirement: &str) -> Option<&LockEntry> {
        self.entries
            .iter()
            .find(|e| e.name == name && e.requirement == requirement)
    }

    /// Adds or replaces the entry for its name and requirement; returns
    /// whether anything changed.
    pub fn upsert(&mut self, entry: LockEntry) -> bool {
        let changed = upsert(&mut self.entries, entry.clone());
        if changed {
            self.pending
                .retain(|e| e.name != entry.name || e.requirement != entry.requirement);
            self.pending.push(entry);
        }
        changed
    }

    /// The TOML text `save` writes: a header comment, the version, sorted entries.
    pub fn render(&self) -> String {
        let mut entries = self.entries.clone();
        entries.sort();
        let file = LockFile {
            version: LOCK_VERSION,
            artifacts: entries,
        };
        format!(
            "# This file is written by pipectl; do not edit it by hand.\n# It pins every fetched artifact to its digests.\n{}",
            toml::to_string(&file).expect("the lockfile serializes")
        )
    }

    /// Writes the lockfile atomically, holding its folder's lock: the
    /// entries changed since loading are applied to the file as it is now,
    /// so another pipectl that saved in between keeps its entries.
    pub fn save(&mut self) -> Result<(), RegistryError> {
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let _lock = DirLock::acquire(&dir).map_err(RegistryError::io("failed to lock", &dir))?;
        let mut entries = read_entries(&self.path)?;
        for entry in &self.pending {
            upsert(&mut entries, entry.clone());
        }
        entries.sort();
        let saved = Self {
            path: self.path.clone(),
            entries,
            pending: Vec::new(),
        };
        pipectl_io::write_atomic(
            &self.path,
            saved.render().as_bytes(),
            pipectl_io::WriteOptions::default(),
        )?;
        *self = saved;
        Ok(())
    }
}

/// The entries of the lockfile at `path`; none when it does not exist.
/// Digests are parsed (never a path), versions must be one file name.
fn read_entries(path: &Path) -> Result<Vec<LockEntry>, RegistryError> {
    match pipectl_io::read_regular_to_string(path, MAX_FILE_SIZE, "lockfile") {
        Ok(text) => {
            let file: LockFile = toml::from_str(&text).map_err(|e| RegistryError::Lock {
                path: path.to_owned(),
                message: pipectl_io::text::clean_lines(e.to_string().trim_end(), 2000),
            })?;
            if file.version != LOCK_VERSION {
                return Err(RegistryError::Lock {
                    path: path.to_owned(),
                    message: format!(
                        "format version {} is not supported (this pipectl writes {LOCK_VERSION})",
                        file.version
                    ),
                });
            }
            for entry in &file.artifacts {
                pipectl_io::name::check_component("version", &entry.version).map_err(|e| {
                    RegistryError::Lock {
                        path: path.to_owned(),
                        message: format!(
                            "artifact `{}`: {e}",
                            pipectl_io::text::clean(&entry.name, 200)
                        ),
                    }
                })?;
            }
            Ok(file.artifacts)
        }
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// Adds or replaces the entry for its name and requirement in `entries`;
/// returns whether anything changed.
fn upsert(entries: &mut Vec<LockEntry>, entry: LockEntry) -> bool {
    if let Some(existing) = entries
        .iter_mut()
        .find(|e| e.name == entry.name && e.requirement == entry.requirement)
    {
        if *existing == entry {
            return false;
        }
        *existing = entry;
    } else {
        entries.push(entry);
    }
    entries.sort();
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, version: &str) -> LockEntry {
        LockEntry {
            signature: None,
            signer: None,
            name: name.into(),
            registry: "localhost:5000".into(),
            repository: name.into(),
            requirement: "^0.2".into(),
            version: version.into(),
            manifest: Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap(),
            layer: Digest::parse(&format!("sha256:{}", "b".repeat(64))).unwrap(),
            size: 3,
        }
    }

    #[test]
    fn round_trips_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pipectl.lock");
        let mut lock = Lockfile::load(&path).unwrap();
        assert!(lock.upsert(entry("zeta", "0.2.0")));
        assert!(lock.upsert(entry("alpha", "0.2.1")));
        assert!(!lock.upsert(entry("alpha", "0.2.1")));
        lock.save().unwrap();
        let again = Lockfile::load(&path).unwrap();
        assert_eq!(again.entries()[0].name, "alpha");
        assert_eq!(again.render(), lock.render());
        std::fs::write(&path, "version = 9\n").unwrap();
        assert!(Lockfile::load(&path).is_err());
    }

    #[test]
    fn digests_and_versions_from_the_file_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pipectl.lock");
        let mut lock = Lockfile::load(&path).unwrap();
        lock.upsert(entry("alpha", "0.2.0"));
        lock.save().unwrap();
        let good = std::fs::read_to_string(&path).unwrap();
        let a = format!("sha256:{}", "a".repeat(64));
        std::fs::write(&path, good.replace(&a, "sha256:../../etc/passwd")).unwrap();
        let e = Lockfile::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("pipectl.lock") && e.contains("not a digest"),
            "{e}"
        );
        std::fs::write(&path, good.replace("\"0.2.0\"", "\"x/../../f\"")).unwrap();
        let e = Lockfile::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("pipectl.lock") && e.contains("version `x/../../f`"),
            "{e}"
        );
        std::fs::remove_file(&path).unwrap();
        #[cfg(unix)]
        {
            let ok = std::process::Command::new("mkfifo")
                .arg(&path)
                .status()
                .unwrap();
            assert!(ok.success());
            let e = Lockfile::load(&path).unwrap_err().to_string();
            assert!(e.contains("not a regular file"), "{e}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn saving_keeps_the_lockfile_mode() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pipectl.lock");
        std::fs::write(&path, "version = 1\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut lock = Lockfile::load(&path).unwrap();
        lock.upsert(entry("alpha", "0.2.0"));
        lock.save().unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the old code forced 0644");
    }

    #[test]
    fn two_writers_that_loaded_the_same_file_keep_both_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pipectl.lock");
        let mut first = Lockfile::load(&path).unwrap();
        first.upsert(entry("shared", "0.2.0"));
        first.save().unwrap();
        // Both load the same file, then each records something else.
        let mut a = Lockfile::load(&path).unwrap();
        let mut b = Lockfile::load(&path).unwrap();
        assert!(a.upsert(entry("alpha", "0.2.0")));
        assert!(b.upsert(entry("beta", "0.2.0")));
        assert!(b.upsert(entry("shared", "0.2.1")));
        a.save().unwrap();
        b.save().unwrap();
        let names: Vec<(String, String)> = Lockfile::load(&path)
            .unwrap()
            .entries()
            .iter()
            .map(|e| (e.name.clone(), e.version.clone()))
            .collect();
        assert_eq!(
            names,
            [
                ("alpha".to_string(), "0.2.0".to_string()),
                ("beta".to_string(), "0.2.0".to_string()),
                ("shared".to_string(), "0.2.1".to_string()),
            ]
        );
        // What `b` holds after saving is what the file says.
        assert_eq!(b.render(), std::fs::read_to_string(&path).unwrap());
    }
}
