//! Loading one side of a WIT diff: a WIT directory (with `deps/`), a `.wit`
//! file, an encoded WIT package or a component (`.wasm`), or
//! `git:<rev>:<path>` read straight from the repository (no checkout).
//!
//! Everything is loaded with every feature enabled, so the diff sees
//! `@unstable` items and decides itself which to ignore. Worlds' `include`s
//! are recorded before resolution flattens them.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use wit_parser::decoding::DecodedWasm;
use wit_parser::{PackageId, Resolve, SourceMap, UnresolvedPackage, UnresolvedPackageGroup};

use crate::read::{self, FileError, MAX_COMPONENT_BYTES, MAX_WIT_FILE_BYTES, PushError, read_file};

/// Why a side could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The path could not be read.
    #[error("failed to read WIT from `{path}`")]
    Io {
        /// The path of the side that could not be read.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be read: not a regular file, too large.
    #[error(transparent)]
    File(#[from] FileError),
    /// The WIT does not parse or resolve.
    #[error("failed to load WIT from `{path}`:\n{message}")]
    Parse {
        /// The path of the side whose WIT does not parse or resolve.
        path: String,
        /// wit-parser's message, with file, line and a caret.
        message: String,
    },
    /// A file is not UTF-8.
    #[error("`{path}` is not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 {
        /// The file that is not UTF-8: its path, or `git:<rev>:<file>`.
        path: String,
        /// The byte offset of the first invalid byte.
        offset: usize,
    },
    /// A `.wasm` file that is neither a WIT package nor a component.
    #[error("`{path}` is not an encoded WIT package or a component: {message}")]
    Wasm {
        /// The `.wasm` file that is neither a WIT package nor a component.
        path: String,
        /// wit-parser's decoding error, as shown to the user.
        message: String,
    },
    /// The source holds the same package more than once.
    #[error(
        "`{path}` holds {count} packages where one is expected ({names}); point at one release"
    )]
    SeveralPackages {
        /// The side's path, which should hold one release of the package.
        path: String,
        /// How many packages the path holds, more than one.
        count: usize,
        /// The packages' names, `ns:pkg@version`, comma-separated.
        names: String,
    },
    /// git failed: an unknown revision or path.
    #[error("`{spec}`: {message}")]
    Git {
        /// The spec as given, `git:<rev>:<path>`.
        spec: String,
        /// What went wrong: git's error output, or an empty or unknown revision.
        message: String,
    },
    /// `--package` names a package the source does not hold.
    #[error("`{path}` holds no package `{package}` (it holds: {known})")]
    NoSuchPackage {
        /// The side's path or spec, as given.
        path: String,
        /// The package asked for.
        package: String,
        /// The packages it holds.
        known: String,
    },
    /// A component where only WIT is accepted (`check --wit`).
    #[error(
        "`{path}` is a component where WIT is expected: a package folder, a folder of them, a `.wit` file or an encoded WIT package"
    )]
    NotWit {
        /// The component given where WIT is expected.
        path: String,
    },
    /// The spec names nothing loadable.
    #[error("`{path}` holds no WIT (no `.wit` files)")]
    Empty {
        /// The path that holds no `.wit` files.
        path: String,
    },
}

impl From<PushError> for SourceError {
    fn from(e: PushError) -> Self {
        match e {
            PushError::File(e) => SourceError::File(e),
            PushError::Dir(path, source) => SourceError::Io {
                path: path.display().to_string(),
                source,
            },
            PushError::Parse(path, message) => SourceError::Parse {
                path: path.display().to_string(),
                message,
            },
        }
    }
}

/// One side of a diff, loaded.
#[derive(Debug)]
pub struct LoadedWit {
    /// Every package, dependencies included.
    pub resolve: Resolve,
    /// The packages to compare: the ones the source defines (all of them
    /// when those define nothing, as in WASI trees with an empty top-level
    /// package, or for a component).
    pub packages: Vec<PackageId>,
    /// `ns:pkg/world` → the worlds it includes.
    pub includes: BTreeMap<String, Vec<String>>,
    /// What was loaded, for messages.
    pub label: String,
}

impl LoadedWit {
    /// Compares every package loaded (dependencies included) rather than the
    /// ones the source defines: for trees of packages such as WASI's.
    pub fn with_all_packages(mut self) -> Self {
        self.packages = self.resolve.packages.iter().map(|(id, _)| id).collect();
        self
    }

    /// Compares only the packages named `ns:name` (any version).
    pub fn with_packages(mut self, names: &[String]) -> Result<Self, SourceError> {
        let mut picked = Vec::new();
        for name in names {
            let found: Vec<PackageId> = self
                .resolve
                .packages
                .iter()
                .filter(|(_, p)| format!("{}:{}", p.name.namespace, p.name.name) == *name)
                .map(|(id, _)| id)
                .collect();
            if found.is_empty() {
                let mut known: Vec<String> = self
                    .resolve
                    .packages
                    .iter()
                    .map(|(_, p)| format!("{}:{}", p.name.namespace, p.name.name))
                    .collect();
                known.sort();
                known.dedup();
                return Err(SourceError::NoSuchPackage {
                    path: self.label.clone(),
                    package: name.clone(),
                    known: known.join(", "),
                });
            }
            picked.extend(found);
        }
        self.packages = picked;
        Ok(self)
    }

    /// Loads `spec`: a path, or `git:<rev>:<path>`, with every feature
    /// enabled and components accepted (their WIT is compared).
    pub fn load(spec: &str) -> Result<Self, SourceError> {
        if let Some(rest) = spec.strip_prefix("git:") {
            return load_git(spec, rest);
        }
        let raw = load_path(
            Path::new(spec),
            spec,
            LoadOptions {
                all_features: true,
                components: true,
            },
        )?;
        match raw.text {
            Some(text) => Self::from_text(spec, &text),
            None => finish(raw.resolve, raw.main, raw.includes, spec),
        }
    }

    /// Loads WIT source text (one file's worth, which may hold nested
    /// packages); `label` names it in messages and spans.
    pub fn from_text(label: &str, text: &str) -> Result<Self, SourceError> {
        let mut resolve = new_resolve();
        let mut includes = BTreeMap::new();
        let pkg = resolve
            .push_str(label, text)
            .map_err(|e| SourceError::Parse {
                path: label.to_string(),
                message: resolve.render_error(&e),
            })?;
        if let Ok(group) = UnresolvedPackageGroup::parse(label, text) {
            record_includes(&group, &mut includes);
        }
        finish(resolve, vec![pkg], includes, label)
    }
}

/// What a loader accepts beyond WIT packages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoadOptions {
    /// `@unstable` items of every feature are loaded (the diff decides
    /// which to ignore); otherwise only stable ones, as a host sees them.
    pub all_features: bool,
    /// A component's WIT is taken (its world and every package it
    /// mentions); otherwise a component is refused where WIT is expected.
    pub components: bool,
}

/// What [`load_path`] read: the packages, the main ones and worlds' includes.
pub(crate) struct Raw {
    /// Every package, dependencies included.
    pub resolve: Resolve,
    /// The packages the path itself defines.
    pub main: Vec<PackageId>,
    /// `ns:pkg/world` → the worlds it includes.
    pub includes: BTreeMap<String, Vec<String>>,
    /// A WIT text file, not parsed yet: [`LoadedWit::from_text`] parses it
    /// (recording includes); [`crate::WitSet`] pushes it as a file.
    pub text: Option<String>,
}

/// The one loader of a local WIT path, for `check`, `compose`, `run`'s
/// contracts and `wit diff` alike: a directory (one package with `deps/`,
/// or a folder of package folders), an encoded WIT package (binary or
/// WAT), a component (when `opts.components`), or WIT text. Every file is
/// read as a regular file of bounded size.
pub(crate) fn load_path(path: &Path, label: &str, opts: LoadOptions) -> Result<Raw, SourceError> {
    let meta = std::fs::metadata(path).map_err(|source| SourceError::Io {
        path: label.to_string(),
        source,
    })?;
    let mut resolve = Resolve {
        all_features: opts.all_features,
        ..Resolve::default()
    };
    let mut includes = BTreeMap::new();
    if meta.is_dir() {
        let mut main = Vec::new();
        for dir in crate::load::package_dirs(path)? {
            let pkg = read::push_dir_with(&mut resolve, &dir, |group| {
                record_includes(group, &mut includes);
            })?;
            main.push(pkg);
        }
        if main.is_empty() {
            return Err(SourceError::Empty {
                path: label.to_string(),
            });
        }
        return Ok(Raw {
            resolve,
            main,
            includes,
            text: None,
        });
    }
    let is_wasm_name = path.extension().is_some_and(|e| e == "wasm");
    let max = if is_wasm_name {
        MAX_COMPONENT_BYTES
    } else {
        MAX_WIT_FILE_BYTES
    };
    let what = if is_wasm_name {
        "a component or WIT package"
    } else {
        "a WIT file"
    };
    let bytes = read_file(path, max, what)?;
    if !is_wasm_name && !wat::Detect::from_bytes(&bytes).is_wasm() {
        let text = String::from_utf8(bytes).map_err(|e| SourceError::NotUtf8 {
            path: label.to_string(),
            offset: e.utf8_error().valid_up_to(),
        })?;
        return Ok(Raw {
            resolve,
            main: Vec::new(),
            includes,
            text: Some(text),
        });
    }
    // Empty, truncated, core modules and non-Wasm files get the same clear
    // errors as everywhere else.
    let wasm = |message: String| SourceError::Wasm {
        path: label.to_string(),
        message,
    };
    let bytes = crate::component::ComponentBytes::from_bytes(path, bytes)
        .map_err(|e| wasm(e.to_string()))?
        .bytes;
    let main = match wit_parser::decoding::decode(&bytes).map_err(|e| wasm(format!("{e:#}")))? {
        DecodedWasm::WitPackage(r, pkg) => {
            let remap = resolve.merge(r).map_err(|e| wasm(format!("{e:#}")))?;
            vec![remap.packages[pkg.index()]]
        }
        DecodedWasm::Component(r, _) if opts.components => {
            // A component's WIT is its world plus every package it
            // mentions: compare them all.
            resolve = r;
            resolve.all_features |= opts.all_features;
            resolve.packages.iter().map(|(id, _)| id).collect()
        }
        DecodedWasm::Component(..) => {
            return Err(SourceError::NotWit {
                path: label.to_string(),
            });
        }
    };
    Ok(Raw {
        resolve,
        main,
        includes,
        text: None,
    })
}

fn new_resolve() -> Resolve {
    Resolve {
        all_features: true,
        ..Resolve::default()
    }
}

/// Checks the main packages and widens an empty one to the whole tree.
fn finish(
    resolve: Resolve,
    main: Vec<PackageId>,
    includes: BTreeMap<String, Vec<String>>,
    label: &str,
) -> Result<LoadedWit, SourceError> {
    let name = |p: PackageId| {
        let n = &resolve.packages[p].name;
        format!("{}:{}", n.namespace, n.name)
    };
    let mut names: Vec<String> = main.iter().map(|p| name(*p)).collect();
    names.sort();
    let total = names.len();
    names.dedup();
    if names.len() != total {
        return Err(SourceError::SeveralPackages {
            path: label.to_string(),
            count: total,
            names: main
                .iter()
                .map(|p| resolve.packages[*p].name.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let empty = main.iter().all(|p| {
        let pkg = &resolve.packages[*p];
        pkg.interfaces.is_empty() && pkg.worlds.is_empty()
    });
    let packages = if empty {
        resolve
            .packages
            .iter()
            .map(|(id, _)| id)
            .filter(|id| !main.contains(id))
            .collect()
    } else {
        main
    };
    Ok(LoadedWit {
        resolve,
        packages,
        includes,
        label: label.to_string(),
    })
}

/// Records each world's `include`s from the unresolved packages.
fn record_includes(group: &UnresolvedPackageGroup, out: &mut BTreeMap<String, Vec<String>>) {
    for pkg in std::iter::once(&group.main).chain(&group.nested) {
        record_package_includes(pkg, out);
    }
}

fn record_package_includes(pkg: &UnresolvedPackage, out: &mut BTreeMap<String, Vec<String>>) {
    for (_, world) in pkg.worlds.iter() {
        if world.includes.is_empty() {
            continue;
        }
        let key = format!("{}:{}/{}", pkg.name.namespace, pkg.name.name, world.name);
        let names = world
            .includes
            .iter()
            .map(|inc| {
                let included = &pkg.worlds[inc.id];
                if !included.name.is_empty() {
                    return included.name.clone();
                }
                // A foreign world: find its name among the foreign deps.
                pkg.foreign_deps
                    .iter()
                    .find_map(|(pname, items)| {
                        items.iter().find_map(|(item, (ast, _))| match ast {
                            wit_parser::AstItem::World(id) if *id == inc.id => {
                                Some(format!("{}:{}/{item}", pname.namespace, pname.name))
                            }
                            _ => None,
                        })
                    })
                    .unwrap_or_else(|| "<foreign world>".to_string())
            })
            .collect();
        out.insert(key, names);
    }
}

fn git(args: &[&str]) -> Result<Vec<u8>, String> {
    let output = Command::new("git")
        .args(args)
        .output()
        .map_err(|e| format!("failed to run git: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(stderr
            .lines()
            .next()
            .unwrap_or("git failed")
            .trim()
            .to_string());
    }
    Ok(output.stdout)
}

/// `git:<rev>:<path>`: reads the WIT at `path` as it was at `rev`.
fn load_git(spec: &str, rest: &str) -> Result<LoadedWit, SourceError> {
    let err = |message: String| SourceError::Git {
        spec: spec.to_string(),
        message,
    };
    let (rev, path) = rest
        .split_once(':')
        .ok_or_else(|| err("expected `git:<rev>:<path>`".to_string()))?;
    if rev.is_empty() {
        return Err(err("the revision is empty".to_string()));
    }
    git(&[
        "rev-parse",
        "--verify",
        "--quiet",
        &format!("{rev}^{{commit}}"),
    ])
    .map_err(|_| err(format!("unknown revision `{rev}`")))?;
    let path = path.trim_end_matches('/');
    // Paths from the repository root, NUL-separated (no quoting of unusual
    // names).
    let listing = git(&[
        "ls-tree",
        "-r",
        "-z",
        "--full-tree",
        "--name-only",
        rev,
        "--",
        path,
    ])
    .map_err(err)?;
    let files: Vec<String> = String::from_utf8_lossy(&listing)
        .split('\0')
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    if files.is_empty() {
        return Err(err(format!("`{path}` does not exist at `{rev}`")));
    }
    let read = |file: &str| -> Result<(String, String), SourceError> {
        let bytes = git(&["show", &format!("{rev}:{file}")]).map_err(err)?;
        let name = format!("git:{rev}:{file}");
        let text = String::from_utf8(bytes).map_err(|e| SourceError::NotUtf8 {
            path: name.clone(),
            offset: e.utf8_error().valid_up_to(),
        })?;
        Ok((name, text))
    };
    // The package itself: `path` when it is a file, else its `*.wit` files;
    // dependencies: `deps/<name>/*.wit` and `deps/<name>.wit`.
    let is_file = files.len() == 1 && files[0] == path;
    // A file's own folder is its base: it is the package itself.
    let base = if is_file {
        path.rsplit_once('/').map_or("", |(dir, _)| dir)
    } else {
        path
    };
    let rel = |f: &str| {
        f.strip_prefix(base)
            .unwrap_or(f)
            .trim_start_matches('/')
            .to_string()
    };
    let mut main = SourceMap::new();
    let mut deps: BTreeMap<String, SourceMap> = BTreeMap::new();
    let mut main_files = 0;
    for file in &files {
        if !file.ends_with(".wit") {
            continue;
        }
        let r = rel(file);
        let parts: Vec<&str> = r.split('/').collect();
        match parts.as_slice() {
            [_] => {
                let (name, text) = read(file)?;
                main.push_str(&name, text);
                main_files += 1;
            }
            ["deps", dep, ..] => {
                let (name, text) = read(file)?;
                deps.entry(dep.trim_end_matches(".wit").to_string())
                    .or_default()
                    .push_str(&name, text);
            }
            _ => {}
        }
    }
    if main_files == 0 {
        return Err(SourceError::Empty {
            path: spec.to_string(),
        });
    }
    let parse = |map: SourceMap| -> Result<UnresolvedPackageGroup, SourceError> {
        map.parse().map_err(|(map, e)| SourceError::Parse {
            path: spec.to_string(),
            message: e.render(&map),
        })
    };
    let main = parse(main)?;
    let mut includes = BTreeMap::new();
    record_includes(&main, &mut includes);
    let deps = deps
        .into_values()
        .map(parse)
        .collect::<Result<Vec<_>, _>>()?;
    let mut resolve = new_resolve();
    let pkg = resolve
        .push_groups(main, deps)
        .map_err(|e| SourceError::Parse {
            path: spec.to_string(),
            message: e.render(&resolve.source_map),
        })?;
    finish(resolve, vec![pkg], includes, spec)
}
