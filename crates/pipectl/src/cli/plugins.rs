//! What `pipectl plugin` and command plugins share: which `pipectl.toml`,
//! names, directories and sources as recorded, the plugins as listed, and a
//! command plugin's grants.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use pipectl_hooks::config::{DirEntry, FILE_NAME};
use pipectl_hooks::{Kind, PluginEntry, PluginsFile, Scope};
use pipectl_manifest::DirGrant;
use serde::Serialize;

use crate::cli::failure::Usage;
use crate::cli::hooks::looks_like_path;
use crate::cli::opts::PluginAddArgs;

/// Largest plugin component read, in bytes.
pub const MAX_COMPONENT: u64 = 1 << 30;

/// Memory a command plugin may use.
pub const COMMAND_MEMORY: u64 = 1 << 30;

/// The file `--global` or not means: the user's, or the project's (the
/// nearest `pipectl.toml` upward, else a new one here).
pub fn target_file(global: bool) -> anyhow::Result<PluginsFile> {
    if global {
        let path = PluginsFile::global_path().ok_or_else(|| {
            Usage("--global: no config folder (set PIPECTL_CONFIG_DIR or HOME)".into())
        })?;
        return Ok(PluginsFile::load(&path, Scope::Global)?);
    }
    let cwd = std::env::current_dir().context("failed to read the working folder")?;
    let path = PluginsFile::find_project(&cwd).unwrap_or_else(|| cwd.join(FILE_NAME));
    Ok(PluginsFile::load(&path, Scope::Project)?)
}

/// The name a plugin gets by default: the file's stem, or the
/// repository's last segment.
pub fn default_name(source: &str) -> String {
    let last = source.rsplit(['/', '\\']).next().unwrap_or(source);
    let last = last.split(['@']).next().unwrap_or(last);
    let last = last.strip_suffix(".wasm").unwrap_or(last);
    // `repo:tag` (and `oci-layout:dir:tag`): the repository's part.
    let last = if looks_like_path(source) {
        last
    } else {
        last.split(':').next().unwrap_or(last)
    };
    last.to_ascii_lowercase().replace('_', "-")
}

/// `--dir`/`--dir-rw` values.
pub fn dirs(args: &PluginAddArgs) -> anyhow::Result<Vec<DirEntry>> {
    let mut out = Vec::new();
    for (values, writable) in [(&args.dir, false), (&args.dir_rw, true)] {
        for d in values {
            let (host, guest) = d.split_once("::").unwrap_or((d, d));
            if host.is_empty() || guest.is_empty() {
                return Err(Usage(format!("--dir `{d}`: expected `HOST` or `HOST::GUEST`")).into());
            }
            out.push(DirEntry {
                host: host.to_string(),
                guest: guest.to_string(),
                writable,
            });
        }
    }
    Ok(out)
}

/// The source as recorded: a file relative to the plugin file's folder
/// when it is inside it, else absolute; a reference as given.
pub fn recorded_source(file: &PluginsFile, source: &str, is_file: bool) -> String {
    if !is_file {
        return source.to_string();
    }
    let abs = std::fs::canonicalize(source).unwrap_or_else(|_| PathBuf::from(source));
    let dir = std::fs::canonicalize(file.dir()).unwrap_or_else(|_| file.dir().to_path_buf());
    match abs.strip_prefix(&dir) {
        Ok(rel) => format!("./{}", rel.display()),
        Err(_) => abs.display().to_string(),
    }
}

#[derive(Serialize)]
pub struct Listed<'a> {
    pub name: &'a str,
    pub kind: &'static str,
    pub scope: &'static str,
    pub file: String,
    pub source: &'a str,
    pub digest: String,
    pub events: &'a [String],
    pub grants: Vec<&'static str>,
    pub dirs: Vec<String>,
    pub optional: bool,
}

pub fn listed<'a>(file: &PluginsFile, e: &'a PluginEntry) -> Listed<'a> {
    Listed {
        name: &e.name,
        kind: e.kind.as_str(),
        scope: match file.scope {
            Scope::Project => "project",
            Scope::Global => "global",
        },
        file: file.path.display().to_string(),
        source: &e.source,
        digest: e.digest.to_string(),
        events: &e.events,
        grants: e.grants.iter().map(|g| g.name()).collect(),
        dirs: e
            .dirs
            .iter()
            .map(|d| {
                format!(
                    "{}::{}{}",
                    d.host,
                    d.guest,
                    if d.writable { " (rw)" } else { "" }
                )
            })
            .collect(),
        optional: e.optional,
    }
}

pub fn none_or(text: &str) -> &str {
    if text.is_empty() { "none" } else { text }
}

/// A command plugin's grants: its terminal (stdio, arguments), what was
/// granted, and its directories, relative ones taken from here.
pub fn command_grants(entry: &PluginEntry) -> anyhow::Result<pipectl_manifest::Grants> {
    let mut grants = pipectl_hooks::runner::grants(entry);
    grants.stdio = true;
    let cwd = std::env::current_dir().context("failed to read the working folder")?;
    for d in &entry.dirs {
        grants.dirs.push(DirGrant {
            host: cwd.join(&d.host),
            guest: d.guest.clone(),
            writable: d.writable,
        });
    }
    Ok(grants)
}

/// `plugin list`'s table.
pub fn table(rows: &[Listed<'_>]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<18} {:<8} {:<8} {:<30} {:<20} GRANTS",
        "NAME", "KIND", "SCOPE", "EVENTS", "DIGEST"
    );
    for r in rows {
        let mut grants = r.grants.join(",");
        for d in &r.dirs {
            grants.push_str(&format!(
                "{}dir {d}",
                if grants.is_empty() { "" } else { "," }
            ));
        }
        let _ = writeln!(
            out,
            "{:<18} {:<8} {:<8} {:<30} {:<20} {}{}",
            r.name,
            r.kind,
            r.scope,
            none_or(&r.events.join(",")),
            &r.digest[..r.digest.len().min(19)],
            none_or(&grants),
            if r.optional { " (optional)" } else { "" }
        );
    }
    out
}

/// What `plugin add` says it did.
pub fn added(file: &PluginsFile, entry: &PluginEntry) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "added {} `{}` to {}",
        entry.kind.as_str(),
        entry.name,
        file.path.display()
    );
    let _ = writeln!(out, "  digest: {}", entry.digest);
    if entry.kind == Kind::Hook {
        let _ = writeln!(out, "  events: {}", none_or(&entry.events.join(", ")));
    }
    let grants: Vec<&str> = entry.grants.iter().map(|g| g.name()).collect();
    let _ = writeln!(out, "  grants: {}", none_or(&grants.join(", ")));
    for d in &listed(file, entry).dirs {
        let _ = writeln!(out, "  dir:    {d}");
    }
    out
}
