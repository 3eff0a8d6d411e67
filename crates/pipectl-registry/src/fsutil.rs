//! Files written atomically and directories locked while they change.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// folder, synced, renamed into place. Readers see the old file or the new
/// one, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// An exclusive lock on a directory, held until dropped. Other pipectl
/// processes writing the same store or lockfile wait for it.
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Locks `dir` (creating it), waiting for other holders.
    pub fn acquire(dir: &Path) -> std::io::Result<DirLock> {
        std::fs::create_dir_all(dir)?;
        let file = File::open(dir)?;
        file.lock()?;
        Ok(DirLock { _file: file })
    }
}
