//! Directories locked while they change. (Files are written with
//! [`pipectl_io::write_atomic`].)

use std::fs::File;
use std::path::Path;

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
