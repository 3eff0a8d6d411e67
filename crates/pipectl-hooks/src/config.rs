//! The plugins a `pipectl.toml` records: `[[plugin]]` entries and the
//! `audit` log's path. The project's file is found upward from the working
//! folder (as cargo finds `Cargo.toml`); the user's lives in the config
//! folder. Edits keep the rest of the file (its `[trust]` table, comments)
//! as it was, and are written atomically.

use std::path::{Path, PathBuf};

use pipectl_io::Digest;
use pipectl_manifest::Grant;
use serde::Deserialize;

use crate::contract::Kind;
use crate::event::EVENT_NAMES;

/// The file's name, in a project folder or the user's config folder.
pub const FILE_NAME: &str = "pipectl.toml";

/// Which file a plugin is recorded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The project's `pipectl.toml`.
    Project,
    /// The user's, in the config folder (`--global`).
    Global,
}

/// A host directory a command plugin sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The host directory, as given (relative paths are taken from the
    /// working folder when the plugin runs).
    pub host: String,
    /// Where the guest sees it.
    pub guest: String,
    /// Whether the guest may write.
    pub writable: bool,
}

/// One `[[plugin]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginEntry {
    /// Its name: a kebab-case label; a command plugin's subcommand.
    pub name: String,
    /// Hook or command.
    pub kind: Kind,
    /// Where it came from: a path (relative to the file's folder) or a
    /// registry reference.
    pub source: String,
    /// The component's digest: what loads is checked against it.
    pub digest: Digest,
    /// A hook's events, as it declared them when added.
    pub events: Vec<String>,
    /// Capabilities granted (none by default).
    pub grants: Vec<Grant>,
    /// Directories preopened (command plugins).
    pub dirs: Vec<DirEntry>,
    /// A failing hook is reported and skipped instead of failing the command.
    pub optional: bool,
}

/// Why the file could not be read, edited or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Reading failed (other than its absence).
    #[error(transparent)]
    Read(#[from] pipectl_io::ReadError),
    /// Writing failed.
    #[error(transparent)]
    Write(#[from] pipectl_io::WriteError),
    /// Not valid TOML, or an entry is not valid.
    #[error("`{}`: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the entry.
        reason: String,
    },
    /// `plugin add` with a name already recorded.
    #[error("`{}` already has a plugin named `{name}`; remove it first or pass `--name`", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
        /// The name.
        name: String,
    },
    /// `plugin remove` of a name not recorded.
    #[error("`{}` has no plugin named `{name}`", path.display())]
    NotFound {
        /// The file.
        path: PathBuf,
        /// The name.
        name: String,
    },
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    audit: Option<String>,
    #[serde(default, rename = "plugin")]
    plugins: Vec<RawPlugin>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugin {
    name: String,
    kind: String,
    source: String,
    digest: Digest,
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    grants: Vec<String>,
    #[serde(default, rename = "dir")]
    dirs: Vec<RawDir>,
    #[serde(default)]
    optional: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDir {
    host: String,
    guest: Option<String>,
    #[serde(default)]
    writable: bool,
}

/// A `pipectl.toml`, as far as plugins go.
#[derive(Debug, Clone)]
pub struct PluginsFile {
    /// The file (which may not exist yet).
    pub path: PathBuf,
    /// Project or user.
    pub scope: Scope,
    /// Its plugins, in order: hooks are called in this order.
    pub plugins: Vec<PluginEntry>,
    /// The audit log, resolved against the file's folder.
    pub audit: Option<PathBuf>,
    doc: toml_edit::DocumentMut,
}

/// Whether `name` is a kebab-case label: lowercase words of letters and
/// digits, each starting with a letter, joined by single hyphens.
pub fn is_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.split('-').all(|w| {
            w.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

impl PluginsFile {
    /// The project's file: the nearest `pipectl.toml` in `start` or a
    /// folder above it; `None` when there is none.
    pub fn find_project(start: &Path) -> Option<PathBuf> {
        start
            .ancestors()
            .map(|d| d.join(FILE_NAME))
            .find(|p| p.is_file())
    }

    /// The user's file, in the config folder (`None` without a home).
    pub fn global_path() -> Option<PathBuf> {
        Some(pipectl_io::config_dir()?.join(FILE_NAME))
    }

    /// The folder the file is in: relative sources and the audit log are
    /// resolved against it.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// Reads `path`; a file that does not exist is empty.
    pub fn load(path: &Path, scope: Scope) -> Result<Self, ConfigError> {
        let text = match pipectl_io::read_regular_to_string(path, 1 << 20, "plugin configuration") {
            Ok(text) => text,
            Err(e) if e.is_not_found() => String::new(),
            Err(e) => return Err(e.into()),
        };
        let invalid = |reason: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let doc: toml_edit::DocumentMut = text.parse().map_err(|e| invalid(format!("{e}")))?;
        let raw: RawFile = toml::from_str(&text).map_err(|e| invalid(format!("{e}")))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut plugins: Vec<PluginEntry> = Vec::new();
        for (n, p) in raw.plugins.into_iter().enumerate() {
            let entry = entry(p).map_err(|r| invalid(format!("[[plugin]] {}: {r}", n + 1)))?;
            if plugins.iter().any(|q| q.name == entry.name) {
                return Err(invalid(format!(
                    "[[plugin]] {}: the name `{}` is used twice",
                    n + 1,
                    entry.name
                )));
            }
            plugins.push(entry);
        }
        Ok(Self {
            path: path.to_path_buf(),
            scope,
            plugins,
            audit: raw.audit.map(|a| dir.join(a)),
            doc,
        })
    }

    /// The plugin named `name`.
    pub fn get(&self, name: &str) -> Option<&PluginEntry> {
        self.plugins.iter().find(|p| p.name == name)
    }

    /// Records `entry` last. Nothing is written until [`Self::save`].
    pub fn add(&mut self, entry: PluginEntry) -> Result<(), ConfigError> {
        if self.get(&entry.name).is_some() {
            return Err(ConfigError::Exists {
                path: self.path.clone(),
                name: entry.name,
            });
        }
        let table = to_table(&entry);
        let array = self
            .doc
            .entry("plugin")
            .or_insert_with(|| toml_edit::Item::ArrayOfTables(Default::default()));
        match array.as_array_of_tables_mut() {
            Some(a) => a.push(table),
            None => {
                return Err(ConfigError::Invalid {
                    path: self.path.clone(),
                    reason: "`plugin` is not an array of tables (`[[plugin]]`)".into(),
                });
            }
        }
        self.plugins.push(entry);
        Ok(())
    }

    /// Forgets the plugin named `name`. Nothing is written until
    /// [`Self::save`].
    pub fn remove(&mut self, name: &str) -> Result<PluginEntry, ConfigError> {
        let not_found = || ConfigError::NotFound {
            path: self.path.clone(),
            name: name.to_string(),
        };
        let i = self
            .plugins
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(not_found)?;
        if let Some(array) = self
            .doc
            .get_mut("plugin")
            .and_then(|a| a.as_array_of_tables_mut())
        {
            array.retain(|t| t.get("name").and_then(|n| n.as_str()) != Some(name));
            if array.is_empty() {
                self.doc.remove("plugin");
            }
        }
        Ok(self.plugins.remove(i))
    }

    /// Writes the file atomically (its folder created when needed), the
    /// rest of it as it was.
    pub fn save(&self) -> Result<(), ConfigError> {
        if let Some(dir) = self.path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|error| {
                ConfigError::Write(pipectl_io::WriteError::Io {
                    path: dir.to_path_buf(),
                    source: error,
                })
            })?;
        }
        let mut text = self.doc.to_string();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        pipectl_io::write_atomic(
            &self.path,
            text.as_bytes(),
            pipectl_io::WriteOptions::default(),
        )?;
        Ok(())
    }
}

fn entry(p: RawPlugin) -> Result<PluginEntry, String> {
    if !is_label(&p.name) {
        return Err(format!(
            "`name = {:?}` is not a kebab-case label (e.g. `require-license`)",
            p.name
        ));
    }
    let kind = Kind::from_name(&p.kind)
        .ok_or_else(|| format!("`kind = {:?}` is neither `hook` nor `command`", p.kind))?;
    for e in &p.events {
        if !EVENT_NAMES.contains(&e.as_str()) {
            return Err(format!(
                "`events`: `{e}` is not an event (one of {})",
                EVENT_NAMES.join(", ")
            ));
        }
    }
    let grants = p
        .grants
        .iter()
        .map(|g| {
            Grant::from_name(g).ok_or_else(|| {
                let names: Vec<&str> = Grant::ALL.iter().map(|(n, _)| *n).collect();
                format!(
                    "`grants`: `{g}` is not a capability (one of {})",
                    names.join(", ")
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let hook_with_dirs = kind == Kind::Hook && !p.dirs.is_empty();
    let dirs: Vec<DirEntry> = p
        .dirs
        .into_iter()
        .map(|d| DirEntry {
            guest: d.guest.unwrap_or_else(|| d.host.clone()),
            host: d.host,
            writable: d.writable,
        })
        .collect();
    if hook_with_dirs {
        return Err("a hook gets no directory (`[[plugin.dir]]` is for commands)".into());
    }
    Ok(PluginEntry {
        name: p.name,
        kind,
        source: p.source,
        digest: p.digest,
        events: p.events,
        grants,
        dirs,
        optional: p.optional,
    })
}

fn to_table(e: &PluginEntry) -> toml_edit::Table {
    let strings = |items: &mut dyn Iterator<Item = &str>| {
        let mut a = toml_edit::Array::new();
        for i in items {
            a.push(i);
        }
        toml_edit::value(a)
    };
    let mut t = toml_edit::Table::new();
    t["name"] = toml_edit::value(&e.name);
    t["kind"] = toml_edit::value(e.kind.as_str());
    t["source"] = toml_edit::value(&e.source);
    t["digest"] = toml_edit::value(e.digest.to_string());
    if e.kind == Kind::Hook {
        t["events"] = strings(&mut e.events.iter().map(String::as_str));
    }
    if !e.grants.is_empty() {
        t["grants"] = strings(&mut e.grants.iter().map(|g| g.name()));
    }
    if e.optional {
        t["optional"] = toml_edit::value(true);
    }
    if !e.dirs.is_empty() {
        let mut dirs = toml_edit::ArrayOfTables::new();
        for d in &e.dirs {
            let mut dt = toml_edit::Table::new();
            dt["host"] = toml_edit::value(&d.host);
            dt["guest"] = toml_edit::value(&d.guest);
            if d.writable {
                dt["writable"] = toml_edit::value(true);
            }
            dirs.push(dt);
        }
        t["dir"] = toml_edit::Item::ArrayOfTables(dirs);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> PluginEntry {
        PluginEntry {
            name: name.into(),
            kind: Kind::Hook,
            source: "hooks/x.wasm".into(),
            digest: Digest::sha256(b"x"),
            events: vec!["before-publish".into()],
            grants: vec![Grant::Clocks],
            dirs: vec![],
            optional: true,
        }
    }

    #[test]
    fn add_and_remove_keep_the_rest_of_the_file_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let before = "# the team's policy\n[trust]\nrequire = \"none\"\n";
        std::fs::write(&path, before).unwrap();
        let mut file = PluginsFile::load(&path, Scope::Project).unwrap();
        file.add(sample("one")).unwrap();
        file.add(sample("two")).unwrap();
        assert!(matches!(
            file.add(sample("one")),
            Err(ConfigError::Exists { .. })
        ));
        file.save().unwrap();
        let again = PluginsFile::load(&path, Scope::Project).unwrap();
        assert_eq!(again.plugins, vec![sample("one"), sample("two")]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(before), "{text}");
        let mut again = again;
        again.remove("one").unwrap();
        assert!(matches!(
            again.remove("one"),
            Err(ConfigError::NotFound { .. })
        ));
        again.remove("two").unwrap();
        again.save().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    }

    #[test]
    fn invalid_entries_are_refused_naming_the_entry_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let digest = Digest::sha256(b"x");
        for (body, says) in [
            (
                format!(
                    "name = \"Bad Name\"\nkind = \"hook\"\nsource = \"x\"\ndigest = \"{digest}\""
                ),
                "kebab-case",
            ),
            (
                format!("name = \"a\"\nkind = \"daemon\"\nsource = \"x\"\ndigest = \"{digest}\""),
                "`kind",
            ),
            (
                format!(
                    "name = \"a\"\nkind = \"hook\"\nsource = \"x\"\ndigest = \"{digest}\"\nevents = [\"before-lunch\"]"
                ),
                "before-lunch",
            ),
            (
                format!(
                    "name = \"a\"\nkind = \"hook\"\nsource = \"x\"\ndigest = \"{digest}\"\ngrants = [\"network\"]"
                ),
                "network",
            ),
            (
                "name = \"a\"\nkind = \"hook\"\nsource = \"x\"\ndigest = \"sha256:../../etc\""
                    .to_string(),
                "digest",
            ),
            (
                format!(
                    "name = \"a\"\nkind = \"hook\"\nsource = \"x\"\ndigest = \"{digest}\"\n[[plugin.dir]]\nhost = \"/\""
                ),
                "no directory",
            ),
        ] {
            std::fs::write(&path, format!("[[plugin]]\n{body}\n")).unwrap();
            let err = PluginsFile::load(&path, Scope::Project)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(FILE_NAME) && err.contains(says),
                "{says}: {err}"
            );
        }
    }

    #[test]
    fn the_project_file_is_found_upward() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(PluginsFile::find_project(&deep), None);
        std::fs::write(dir.path().join(FILE_NAME), "").unwrap();
        assert_eq!(
            PluginsFile::find_project(&deep),
            Some(dir.path().join(FILE_NAME))
        );
        assert!(is_label("wit-stats") && !is_label("wit--stats") && !is_label("9x"));
    }
}
