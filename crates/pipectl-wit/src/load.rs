//! Loading WIT packages and finding worlds in them.
//!
//! `--wit` may name a package directory (with `deps/`), a single `.wit` file,
//! an encoded WIT package (`.wasm`), or a directory of package directories
//! such as this repository's `wit/`, where each release of a package sits in
//! its own folder (`wit/text-transform/0.1.0`, `wit/text-transform/0.2.0`).

use std::path::{Path, PathBuf};

use semver::Version;
use wit_parser::{PackageId, Resolve, WorldId};

use crate::name::NameError;
use crate::read::{self, FileError};

/// Why WIT could not be loaded or a world not found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WitError {
    /// The path does not exist or cannot be read.
    #[error("failed to read WIT from `{path}`")]
    Io {
        /// The WIT path that could not be read: a folder, a `.wit` file or a package.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A WIT file could not be read: not a regular file, too large, not
    /// UTF-8.
    #[error(transparent)]
    File(#[from] FileError),
    /// The WIT does not parse or resolve; the message carries the source
    /// location.
    #[error("failed to load WIT from `{path}`:\n{message}")]
    Parse {
        /// The WIT path that does not parse or resolve.
        path: PathBuf,
        /// wit-parser's message, with file, line and a caret.
        message: String,
    },
    /// The one loader refused it (`crate::source`).
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    /// The world specifier does not parse.
    #[error("invalid world name `{spec}`: {reason}")]
    BadWorldName {
        /// What the user wrote.
        spec: String,
        /// Why it is invalid.
        reason: String,
    },
    /// No loaded package defines the world.
    #[error("world `{spec}` not found in `{path}`; available worlds: {available}")]
    UnknownWorld {
        /// What the user asked for.
        spec: String,
        /// The WIT path whose packages were searched for the world.
        path: PathBuf,
        /// Every world that was loaded, comma-separated.
        available: String,
    },
    /// Several packages define a world of that name.
    #[error(
        "world `{spec}` is defined by several packages in `{path}`: {candidates}; name one of them"
    )]
    AmbiguousWorld {
        /// What the user asked for.
        spec: String,
        /// The WIT path whose packages define the world more than once.
        path: PathBuf,
        /// The candidates' full names.
        candidates: String,
    },
}

/// WIT packages loaded from one `--wit` path.
#[derive(Debug, Clone)]
pub struct WitSet {
    /// Every package loaded, dependencies included.
    pub resolve: Resolve,
    /// The packages the path itself defines (not its `deps/`).
    pub packages: Vec<PackageId>,
    /// The path they were loaded from.
    pub path: PathBuf,
}

impl WitSet {
    /// Loads the WIT at `path`; see the module docs for what it may be.
    /// Only stable items are loaded (what a host sees) and a component is
    /// refused; the loader is the one `wit diff` uses.
    pub fn load(path: &Path) -> Result<Self, WitError> {
        let label = path.display().to_string();
        let opts = crate::source::LoadOptions {
            all_features: false,
            components: false,
        };
        let mut raw = crate::source::load_path(path, &label, opts)?;
        if raw.text.is_some() {
            // WIT text: pushed as a file (spans name it).
            let pkg = read::push_file(&mut raw.resolve, path)
                .map_err(crate::source::SourceError::from)?;
            raw.main.push(pkg);
        }
        Ok(Self {
            resolve: raw.resolve,
            packages: raw.main,
            path: path.to_owned(),
        })
    }

    /// Every world that `find_world` can select, as `ns:pkg/world@version`:
    /// the path's own first, then its dependencies'.
    pub fn world_names(&self) -> Vec<String> {
        let own = self.packages.iter().copied();
        let deps = self
            .resolve
            .packages
            .iter()
            .map(|(id, _)| id)
            .filter(|id| !self.packages.contains(id));
        own.chain(deps)
            .flat_map(|p| {
                let pkg = &self.resolve.packages[p];
                pkg.worlds
                    .keys()
                    .map(move |w| world_id_string(&pkg.name, w))
            })
            .collect()
    }

    /// Finds a world by `world`, `ns:pkg/world` or `ns:pkg/world@version`.
    ///
    /// Without a version the newest loaded version of the package is used;
    /// a bare world name must be defined by exactly one loaded package.
    pub fn find_world(&self, spec: &str) -> Result<WorldId, WitError> {
        let spec_parsed = WorldSpec::parse(spec)?;
        let matching = |packages: &mut dyn Iterator<Item = PackageId>| {
            packages
                .filter_map(|pkg_id| {
                    let pkg = &self.resolve.packages[pkg_id];
                    let world = *pkg.worlds.get(&spec_parsed.world)?;
                    if let Some((ns, name)) = &spec_parsed.package
                        && (pkg.name.namespace != *ns || pkg.name.name != *name)
                    {
                        return None;
                    }
                    if let Some(version) = &spec_parsed.version
                        && pkg.name.version.as_ref() != Some(version)
                    {
                        return None;
                    }
                    Some((pkg_id, world))
                })
                .collect::<Vec<(PackageId, WorldId)>>()
        };
        // The path's own packages first; then its dependencies, so that
        // `wasi:cli/command` (or `command`) is found in a tree whose own
        // package only pulls WASI in, as wit-parser's world selection does.
        let mut candidates = matching(&mut self.packages.iter().copied());
        if candidates.is_empty() {
            candidates = matching(
                &mut self
                    .resolve
                    .packages
                    .iter()
                    .map(|(id, _)| id)
                    .filter(|id| !self.packages.contains(id)),
            );
        }
        let unknown = || WitError::UnknownWorld {
            spec: spec.to_string(),
            path: self.path.clone(),
            available: {
                let names = self.world_names();
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            },
        };
        match candidates.len() {
            0 => Err(unknown()),
            1 => Ok(candidates[0].1),
            _ if spec_parsed.package.is_some() => {
                // Same package name, several versions: take the newest.
                let newest = candidates
                    .iter()
                    .max_by(|a, b| {
                        let va = &self.resolve.packages[a.0].name.version;
                        let vb = &self.resolve.packages[b.0].name.version;
                        va.cmp(vb)
                    })
                    .map(|c| c.1);
                newest.ok_or_else(unknown)
            }
            _ => Err(WitError::AmbiguousWorld {
                spec: spec.to_string(),
                path: self.path.clone(),
                candidates: candidates
                    .iter()
                    .map(|(p, w)| {
                        world_id_string(
                            &self.resolve.packages[*p].name,
                            &self.resolve.worlds[*w].name,
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// The full name of a world: `ns:pkg/world@version`.
    pub fn world_name(&self, world: WorldId) -> String {
        world_name(&self.resolve, world)
    }
}

/// The full name of a world in `resolve`: `ns:pkg/world@version`.
pub fn world_name(resolve: &Resolve, world: WorldId) -> String {
    let w = &resolve.worlds[world];
    match w.package {
        Some(p) => world_id_string(&resolve.packages[p].name, &w.name),
        None => w.name.clone(),
    }
}

fn world_id_string(pkg: &wit_parser::PackageName, world: &str) -> String {
    match &pkg.version {
        Some(v) => format!("{}:{}/{world}@{v}", pkg.namespace, pkg.name),
        None => format!("{}:{}/{world}", pkg.namespace, pkg.name),
    }
}

/// A parsed `--world` value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WorldSpec {
    package: Option<(String, String)>,
    world: String,
    version: Option<Version>,
}

impl WorldSpec {
    fn parse(spec: &str) -> Result<Self, WitError> {
        let bad = |reason: &str| WitError::BadWorldName {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let (package, world, version) = match crate::name::QualifiedName::parse(spec) {
            Ok(q) => (
                Some((q.namespace.to_string(), q.package.to_string())),
                q.item.to_string(),
                q.version,
            ),
            Err(NameError::Version { text, reason }) => {
                return Err(bad(&format!("version `{text}`: {reason}")));
            }
            Err(NameError::NoNamespace) => return Err(bad("expected `namespace:package/world`")),
            Err(NameError::NoItem { path, .. }) if path.contains(':') => {
                return Err(bad("expected `namespace:package/world`, found no `/world`"));
            }
            Err(NameError::NoItem { path, version }) => (None, path, version),
        };
        if world.is_empty() {
            return Err(bad("the world name is empty"));
        }
        if version.is_some() && package.is_none() {
            return Err(bad(
                "a version needs a package: `namespace:package/world@version`",
            ));
        }
        Ok(Self {
            package,
            world,
            version,
        })
    }
}

/// The package directories under `dir`: `dir` itself when it holds `.wit`
/// files, otherwise every descendant that does (not descending into a
/// package's `deps/`), sorted for a stable order.
pub(crate) fn package_dirs(dir: &Path) -> Result<Vec<PathBuf>, crate::source::SourceError> {
    let io = |source| crate::source::SourceError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut has_wit = false;
    let mut subdirs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        if entry.file_type().map_err(io)?.is_dir() {
            subdirs.push(path);
        } else if path.extension().is_some_and(|e| e == "wit") {
            has_wit = true;
        }
    }
    if has_wit {
        return Ok(vec![dir.to_owned()]);
    }
    subdirs.sort();
    let mut found = Vec::new();
    for sub in subdirs {
        found.extend(package_dirs(&sub)?);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_world_specs() {
        let s = WorldSpec::parse("example:text-transform/plugin@0.2.0").unwrap();
        assert_eq!(s.package, Some(("example".into(), "text-transform".into())));
        assert_eq!(s.world, "plugin");
        assert_eq!(s.version, Some(Version::new(0, 2, 0)));
        assert_eq!(WorldSpec::parse("plugin").unwrap().package, None);
        assert!(WorldSpec::parse("plugin@0.1.0").is_err());
        assert!(WorldSpec::parse("a:b").is_err());
        assert!(WorldSpec::parse("a:b/w@x").is_err());
    }

    #[test]
    fn worlds_of_dependencies_are_found_by_name_when_the_path_defines_none() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.wit"), "package my:crate;\n").unwrap();
        for (pkg, worlds) in [("x:cli@0.2.1", "command"), ("x:io@0.2.1", "command")] {
            let name = pkg.split(['@', ':']).nth(1).unwrap();
            let sub = dir.path().join("deps").join(name);
            std::fs::create_dir_all(&sub).unwrap();
            std::fs::write(
                sub.join("w.wit"),
                format!("package {pkg};\ninterface i {{}}\nworld {worlds} {{ export i; }}\n"),
            )
            .unwrap();
        }
        let set = WitSet::load(dir.path()).unwrap();
        let found = set.find_world("x:cli/command").unwrap();
        assert_eq!(set.world_name(found), "x:cli/command@0.2.1");
        let found = set.find_world("x:io/command@0.2.1").unwrap();
        assert_eq!(set.world_name(found), "x:io/command@0.2.1");
        // A bare name is ambiguous across two dependencies.
        assert!(matches!(
            set.find_world("command"),
            Err(WitError::AmbiguousWorld { .. })
        ));
        // Unknown: the error lists the dependencies' worlds.
        let err = set.find_world("x:cli/daemon").unwrap_err().to_string();
        assert!(err.contains("x:cli/command@0.2.1"), "{err}");
    }
}
