//! Reading components, WIT and policies from disk: regular files only, each
//! with a size cap, so a FIFO, a device or a directory named as a file is
//! refused (naming it) instead of blocking or filling memory.
//!
//! WIT directories are loaded here rather than by `Resolve::push_dir`, which
//! reads whatever `*.wit` entry it finds: the layout is the same (`*.wit`
//! files, `deps/<pkg>/*.wit`, `deps/<pkg>.wit`, `deps/<pkg>.{wasm,wat}`), but
//! every file goes through [`pipectl_io::read_regular`].

use std::path::{Path, PathBuf};

use wit_parser::decoding::DecodedWasm;
use wit_parser::{PackageId, Resolve, SourceMap, UnresolvedPackageGroup};

/// The largest component (binary or WAT) pipectl reads: 256 MiB.
pub const MAX_COMPONENT_BYTES: u64 = 256 << 20;
/// The largest single WIT file (or encoded WIT package) pipectl reads: 16 MiB.
pub const MAX_WIT_FILE_BYTES: u64 = 16 << 20;
/// The largest import policy file pipectl reads: 1 MiB.
pub const MAX_POLICY_BYTES: u64 = 1 << 20;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// Opening or reading failed.
    #[error("failed to read `{path}`")]
    Io {
        /// The file that could not be opened or read.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The path is a FIFO, a device, a socket or a directory.
    #[error(
        "`{path}` is not a regular file (it is {kind}); pipectl reads {what} only from regular files"
    )]
    NotRegular {
        /// The path that is not a regular file.
        path: PathBuf,
        /// What it is instead (`a FIFO`, `a device`, ...).
        kind: &'static str,
        /// What the file was read as.
        what: &'static str,
    },
    /// The file is larger than the cap for its kind.
    #[error("`{path}` is larger than {max} bytes, the most pipectl reads for {what}")]
    TooLarge {
        /// The file over the size cap.
        path: PathBuf,
        /// The most bytes pipectl reads for this kind of file.
        max: u64,
        /// What the file was read as.
        what: &'static str,
    },
    /// The file should be text and is not UTF-8.
    #[error("`{path}` is not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 {
        /// The file that should be UTF-8 text and is not.
        path: PathBuf,
        /// Where the first invalid byte is.
        offset: usize,
    },
}

impl FileError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            FileError::Io { path, .. }
            | FileError::NotRegular { path, .. }
            | FileError::TooLarge { path, .. }
            | FileError::NotUtf8 { path, .. } => path,
        }
    }
}

/// Reads `path`, a regular file of at most `max` bytes; `what` names what it
/// is read as (`a component`, `a WIT file`) in errors.
pub fn read_file(path: &Path, max: u64, what: &'static str) -> Result<Vec<u8>, FileError> {
    pipectl_io::read_regular(path, max, what).map_err(|e| match e {
        pipectl_io::ReadError::NotRegular { kind, .. } => FileError::NotRegular {
            path: path.to_owned(),
            kind,
            what,
        },
        pipectl_io::ReadError::TooLarge { max, .. } => FileError::TooLarge {
            path: path.to_owned(),
            max,
            what,
        },
        pipectl_io::ReadError::Io { error, .. } => FileError::Io {
            path: path.to_owned(),
            source: error,
        },
        other => FileError::Io {
            path: path.to_owned(),
            source: std::io::Error::other(other.to_string()),
        },
    })
}

/// [`read_file`] as UTF-8 text.
pub fn read_text(path: &Path, max: u64, what: &'static str) -> Result<String, FileError> {
    String::from_utf8(read_file(path, max, what)?).map_err(|e| FileError::NotUtf8 {
        path: path.to_owned(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// Why WIT at a path could not be loaded into a [`Resolve`].
#[derive(Debug)]
pub(crate) enum PushError {
    /// A file could not be read.
    File(FileError),
    /// A directory could not be listed.
    Dir(PathBuf, std::io::Error),
    /// The WIT (or encoded package) at `.0` does not parse or resolve; `.1`
    /// is the rendered message, with file, line and a caret.
    Parse(PathBuf, String),
}

impl From<FileError> for PushError {
    fn from(e: FileError) -> Self {
        PushError::File(e)
    }
}

/// What one WIT file turned into.
enum Parsed {
    /// WIT text, not resolved yet.
    Group(Box<UnresolvedPackageGroup>),
    /// An encoded package, already merged into the resolve.
    Merged(PackageId),
}

/// Parses WIT text from `path` into an unresolved group.
fn parse_text(path: &Path, map: SourceMap) -> Result<UnresolvedPackageGroup, PushError> {
    map.parse()
        .map_err(|(map, e)| PushError::Parse(path.to_owned(), e.render(&map)))
}

/// Reads one file: an encoded WIT package (binary or WAT), merged into
/// `resolve`, or WIT text.
fn read_wit_file(resolve: &mut Resolve, path: &Path) -> Result<Parsed, PushError> {
    let bytes = read_file(path, MAX_WIT_FILE_BYTES, "a WIT file")?;
    if wat::Detect::from_bytes(&bytes).is_wasm() {
        let parse = |message: String| PushError::Parse(path.to_owned(), message);
        let binary = wat::parse_bytes(&bytes).map_err(|mut e| {
            e.set_path(path);
            parse(e.to_string())
        })?;
        return match wit_parser::decoding::decode(&binary).map_err(|e| parse(format!("{e:#}")))? {
            DecodedWasm::Component(..) => Err(parse(
                "found a component where an encoded WIT package was expected".to_string(),
            )),
            DecodedWasm::WitPackage(other, pkg) => {
                let remap = resolve.merge(other).map_err(|e| parse(format!("{e:#}")))?;
                Ok(Parsed::Merged(remap.packages[pkg.index()]))
            }
        };
    }
    let text = String::from_utf8(bytes).map_err(|e| FileError::NotUtf8 {
        path: path.to_owned(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    let mut map = SourceMap::new();
    map.push(path, text);
    Ok(Parsed::Group(Box::new(parse_text(path, map)?)))
}

/// Loads a single file (WIT text or an encoded package) into `resolve`, as
/// `Resolve::push_file` does.
pub(crate) fn push_file(resolve: &mut Resolve, path: &Path) -> Result<PackageId, PushError> {
    match read_wit_file(resolve, path)? {
        Parsed::Merged(pkg) => Ok(pkg),
        Parsed::Group(group) => resolve
            .push_group(*group)
            .map_err(|e| PushError::Parse(path.to_owned(), e.render(&resolve.source_map))),
    }
}

/// Loads a package directory (its `*.wit` files and its `deps/`) into
/// `resolve`, as `Resolve::push_dir` does, showing `inspect` the
/// directory's own package before it is resolved (resolution flattens what
/// some callers need, such as worlds' `include`s).
pub(crate) fn push_dir_with(
    resolve: &mut Resolve,
    dir: &Path,
    inspect: impl FnOnce(&UnresolvedPackageGroup),
) -> Result<PackageId, PushError> {
    let main = parse_dir(dir)?;
    inspect(&main);
    let deps_dir = dir.join("deps");
    let mut deps = Vec::new();
    if std::fs::metadata(&deps_dir).is_ok_and(|m| m.is_dir()) {
        for path in sorted_entries(&deps_dir)? {
            if std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
                deps.push(parse_dir(&path)?);
                continue;
            }
            let ext = path.extension().and_then(|e| e.to_str());
            if !matches!(ext, Some("wit" | "wat" | "wasm")) {
                // Like wit-parser: other files (`.DS_Store`) are ignored.
                continue;
            }
            match read_wit_file(resolve, &path)? {
                Parsed::Group(group) => deps.push(*group),
                Parsed::Merged(_) => {}
            }
        }
    }
    resolve
        .push_groups(main, deps)
        .map_err(|e| PushError::Parse(dir.to_owned(), e.render(&resolve.source_map)))
}

/// Parses the `*.wit` files directly in `dir` as one package.
fn parse_dir(dir: &Path) -> Result<UnresolvedPackageGroup, PushError> {
    let mut map = SourceMap::new();
    for path in sorted_entries(dir)? {
        if path.extension().is_none_or(|e| e != "wit") {
            continue;
        }
        // Directories (and links to them) named `*.wit` are skipped, as
        // wit-parser does; everything else must be a regular file.
        if std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let text = read_text(&path, MAX_WIT_FILE_BYTES, "a WIT file")?;
        map.push(&path, text);
    }
    parse_text(dir, map)
}

/// The entries of `dir`, sorted by name for a stable load order.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, PushError> {
    let io = |e| PushError::Dir(dir.to_owned(), e);
    let mut entries = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    entries.sort();
    Ok(entries)
}

#[cfg(test)]
mod tests {
    /// [`push_dir_with`] with nothing to inspect.
    fn push_dir(resolve: &mut Resolve, dir: &Path) -> Result<PackageId, PushError> {
        push_dir_with(resolve, dir, |_| {})
    }

    use super::*;

    #[test]
    fn refuses_a_fifo_named_like_a_wit_file_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.wit"), "package a:b;\ninterface i {}\n").unwrap();
        let fifo = dir.path().join("z.wit");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let mut resolve = Resolve::default();
        match push_dir(&mut resolve, dir.path()) {
            Err(PushError::File(FileError::NotRegular { path, kind, .. })) => {
                assert_eq!(path, fifo);
                assert_eq!(kind, "a FIFO");
            }
            other => panic!("{other:?}"),
        }
        // A FIFO that is not named `*.wit` is never opened at all.
        std::fs::remove_file(&fifo).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(dir.path().join("notes"))
            .status()
            .unwrap();
        assert!(status.success());
        push_dir(&mut Resolve::default(), dir.path()).unwrap();
    }

    #[test]
    fn loads_deps_as_wit_parser_does_and_renders_resolve_errors() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("main.wit"),
            "package a:main;\ninterface i { use a:dep/t.{x}; f: func(v: x); }\n",
        )
        .unwrap();
        std::fs::create_dir_all(root.join("deps/dep")).unwrap();
        std::fs::write(
            root.join("deps/dep/t.wit"),
            "package a:dep;\ninterface t { type x = u32; }\n",
        )
        .unwrap();
        std::fs::write(
            root.join("deps/other.wit"),
            "package a:other;\ninterface o {}\n",
        )
        .unwrap();
        std::fs::write(root.join("deps/.DS_Store"), [0xff, 0xfe]).unwrap();
        let mut resolve = Resolve::default();
        let pkg = push_dir(&mut resolve, root).unwrap();
        assert_eq!(resolve.packages[pkg].name.to_string(), "a:main");
        assert_eq!(resolve.packages.len(), 3);

        std::fs::remove_dir_all(root.join("deps/dep")).unwrap();
        let Err(PushError::Parse(path, message)) = push_dir(&mut Resolve::default(), root) else {
            panic!("a missing dependency must not resolve");
        };
        assert_eq!(path, root);
        assert!(message.contains("a:dep"), "{message}");
        assert!(message.contains("main.wit:2"), "{message}");
    }
}
