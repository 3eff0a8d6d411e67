//! Reading files that must be regular files, and writing files atomically
//! the way users expect.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Opening, inspecting or reading failed. (The OS's reason is in the
    /// message, not an error source, so a printed chain says it once.)
    #[error("failed to read {what} `{}`: {error}", path.display())]
    Io {
        /// The file that could not be opened, inspected or read.
        path: PathBuf,
        /// What the file is read as.
        what: String,
        /// What the OS said.
        error: std::io::Error,
    },
    /// The path is a FIFO, a device, a socket or a directory.
    #[error("{what} `{}` is not a regular file (it is {kind})", path.display())]
    NotRegular {
        /// The path that is not a regular file.
        path: PathBuf,
        /// What the file is read as.
        what: String,
        /// What it is instead.
        kind: &'static str,
    },
    /// The file is larger than its format allows.
    #[error("{what} `{}` is larger than {max} bytes, the most pipectl reads for one", path.display())]
    TooLarge {
        /// The file over the size cap.
        path: PathBuf,
        /// What the file is read as.
        what: String,
        /// The most bytes pipectl reads for this kind of file.
        max: u64,
    },
}

impl ReadError {
    /// Whether the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io { error, .. } if error.kind() == std::io::ErrorKind::NotFound)
    }
}

fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    let ft = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_char_device() || ft.is_block_device() {
            return "a device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    if ft.is_dir() {
        return "a directory";
    }
    "not a regular file"
}

/// Opens `path` for reading only if it is a regular file (symlinks are
/// followed), without blocking on a FIFO.
pub fn open_regular(path: &Path, what: &str) -> Result<(std::fs::File, u64), ReadError> {
    let io = |error| ReadError::Io {
        path: path.to_path_buf(),
        what: what.to_string(),
        error,
    };
    // Look first, so a FIFO or a device is never opened at all.
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular {
            path: path.to_path_buf(),
            what: what.to_string(),
            kind: kind_of(&meta),
        });
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Swapped for a FIFO between the look and the open: do not block.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular {
            path: path.to_path_buf(),
            what: what.to_string(),
            kind: kind_of(&meta),
        });
    }
    Ok((file, meta.len()))
}

/// Reads a regular file of at most `max` bytes; `what` names the file's
/// role in the error (`lockfile`, `manifest`, ...).
pub fn read_regular(path: &Path, max: u64, what: &str) -> Result<Vec<u8>, ReadError> {
    let (file, len) = open_regular(path, what)?;
    let too_large = || ReadError::TooLarge {
        path: path.to_path_buf(),
        what: what.to_string(),
        max,
    };
    if len > max {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // Read one byte past the cap: a file that grew since is caught too.
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|error| ReadError::Io {
            path: path.to_path_buf(),
            what: what.to_string(),
            error,
        })?;
    if bytes.len() as u64 > max {
        return Err(too_large());
    }
    Ok(bytes)
}

/// [`read_regular`] as UTF-8 text.
pub fn read_regular_to_string(path: &Path, max: u64, what: &str) -> Result<String, ReadError> {
    let bytes = read_regular(path, max, what)?;
    String::from_utf8(bytes).map_err(|_| ReadError::Io {
        path: path.to_path_buf(),
        what: what.to_string(),
        error: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the {what} is not UTF-8"),
        ),
    })
}

/// How [`write_atomic`] treats the target.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// Replace a symlink at the target (the link itself, never what it
    /// points to). Without it, a symlink is refused.
    pub replace_symlink: bool,
    /// The mode for a new file before the umask applies; `None` is 0o666
    /// (what `touch` or a shell redirection gives). An existing file keeps
    /// its mode.
    pub mode: Option<u32>,
    /// Skip the `fsync` before the rename, for content every reader
    /// verifies (a cache entry checked against its digest or seal on each
    /// read): after a crash a torn entry is fetched again, never trusted.
    /// User-facing outputs and lockfiles keep it off.
    pub no_sync: bool,
}

/// Why a file could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// Creating, writing or renaming failed.
    #[error("failed to write {}: {source}", path.display())]
    Io {
        /// The file that could not be created, written or renamed into place.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The target is a symlink and replacing it was not asked for.
    #[error("{} is a symbolic link; pipectl replaces a link (the link itself, never its target) only when asked to", path.display())]
    Symlink {
        /// The symbolic link that would have been replaced.
        path: PathBuf,
    },
    /// The target is a directory or another non-file.
    #[error("{} exists and is not a regular file", path.display())]
    NotRegular {
        /// The path that exists and is a directory or another non-file.
        path: PathBuf,
    },
}

impl WriteError {
    /// What the operator can do about it.
    pub fn hint(&self) -> Option<crate::Hint> {
        matches!(self, WriteError::Symlink { .. }).then_some(crate::Hint::Force)
    }
}

/// Writes `bytes` to `path` atomically: see [`write_atomic_with`].
pub fn write_atomic(path: &Path, bytes: &[u8], options: WriteOptions) -> Result<(), WriteError> {
    write_atomic_with(path, options, |out| out.write_all(bytes))
}

/// Writes whatever `fill` writes to `path` atomically: a temporary file in
/// the same folder, synced, renamed into place. Readers see the old file or the new
/// one, never half of one; a failure leaves the old file as it was and no
/// temporary file behind.
///
/// A new file gets `mode & !umask` (0o666 by default), an existing one keeps
/// its mode; a symlink at `path` is refused unless
/// [`WriteOptions::replace_symlink`].
///
/// `fill` may stream (memory stays flat) and may refuse: an error from it
/// leaves nothing at `path` and no temporary file.
pub fn write_atomic_with(
    path: &Path,
    options: WriteOptions,
    fill: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<(), WriteError> {
    let io = |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    };
    let existing = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            if !options.replace_symlink {
                return Err(WriteError::Symlink {
                    path: path.to_path_buf(),
                });
            }
            None
        }
        Ok(meta) if meta.is_file() => Some(meta),
        Ok(_) => {
            return Err(WriteError::NotRegular {
                path: path.to_path_buf(),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".pipectl-tmp-");
    #[cfg(unix)]
    {
        // The kernel applies the umask to this mode, as for any new file.
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(
            options.mode.unwrap_or(0o666),
        ));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(io)?;
    {
        let mut out = std::io::BufWriter::with_capacity(64 << 10, tmp.as_file_mut());
        fill(&mut out).map_err(io)?;
        out.flush().map_err(io)?;
    }
    #[cfg(unix)]
    if let Some(meta) = &existing {
        tmp.as_file()
            .set_permissions(meta.permissions())
            .map_err(io)?;
    }
    #[cfg(not(unix))]
    let _ = existing;
    if !options.no_sync {
        tmp.as_file().sync_all().map_err(io)?;
    }
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_fifos_devices_and_directories_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        for (path, kind) in [
            (fifo.as_path(), "a FIFO"),
            (Path::new("/dev/zero"), "a device"),
            (dir.path(), "a directory"),
        ] {
            match read_regular(path, 1 << 20, "lockfile") {
                Err(ReadError::NotRegular { kind: k, .. }) => assert_eq!(k, kind),
                other => panic!("{}: {other:?}", path.display()),
            }
        }
    }

    #[test]
    fn caps_the_size() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("big");
        std::fs::write(&f, vec![0u8; 101]).unwrap();
        let e = read_regular(&f, 100, "lockfile").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "lockfile `{}` is larger than 100 bytes, the most pipectl reads for one",
                f.display()
            )
        );
        let e = read_regular(&dir.path().join("nope"), 100, "lockfile").unwrap_err();
        assert!(e.is_not_found());
        assert!(
            e.to_string().starts_with("failed to read lockfile `"),
            "{e}"
        );
        assert_eq!(read_regular(&f, 101, "lockfile").unwrap().len(), 101);
    }

    #[cfg(unix)]
    #[test]
    fn writes_honour_the_umask_keep_modes_and_refuse_links() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("out.wasm");
        write_atomic(&f, b"one", WriteOptions::default()).unwrap();
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        // Whatever the umask, group/other bits it allows are kept: never
        // a blanket 0600. (The test process's umask is usually 022.)
        assert_eq!(mode & 0o600, 0o600);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&f, b"two", WriteOptions::default()).unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"two");
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let target = dir.path().join("target");
        std::fs::write(&target, b"keep").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = write_atomic(&link, b"evil", WriteOptions::default()).unwrap_err();
        assert!(matches!(e, WriteError::Symlink { .. }), "{e}");
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        write_atomic(
            &link,
            b"new",
            WriteOptions {
                replace_symlink: true,
                ..WriteOptions::default()
            },
        )
        .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        assert!(
            !std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 3, "no temporary file left behind");
    }
}
