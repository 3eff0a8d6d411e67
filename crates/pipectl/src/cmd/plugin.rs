//! `pipectl plugin add|list|remove|wit`, and command plugins run as
//! `pipectl <name>`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use pipectl_hooks::config::{DirEntry, FILE_NAME, is_label};
use pipectl_hooks::{Hooks, Kind, PluginEntry, PluginsFile, Scope};
use pipectl_manifest::{DirGrant, Limits};
use serde::Serialize;

use crate::Outcome;
use crate::cli::failure::Usage;
use crate::cli::hooks::{component, host, keep, looks_like_path, recorded};
use crate::cli::opts::{PluginAddArgs, PluginCommand, PluginListArgs, PluginRemoveArgs};
use crate::cli::output::{Format, print_json, print_text};

/// Largest plugin component read, in bytes.
const MAX_COMPONENT: u64 = 1 << 30;

/// Memory a command plugin may use.
const COMMAND_MEMORY: u64 = 1 << 30;

/// Runs `pipectl plugin …`.
pub fn run(command: PluginCommand) -> anyhow::Result<Outcome> {
    match command {
        PluginCommand::Add(args) => add(*args),
        PluginCommand::List(args) => list(args),
        PluginCommand::Remove(args) => remove(args),
        PluginCommand::Wit => {
            print_text(pipectl_hooks::HOOKS_WIT)?;
            Ok(Outcome::Ok)
        }
    }
}

/// The file `--global` or not means: the user's, or the project's (the
/// nearest `pipectl.toml` upward, else a new one here).
fn target_file(global: bool) -> anyhow::Result<PluginsFile> {
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
fn default_name(source: &str) -> String {
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
fn dirs(args: &PluginAddArgs) -> anyhow::Result<Vec<DirEntry>> {
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
fn recorded_source(file: &PluginsFile, source: &str, is_file: bool) -> String {
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
struct Listed<'a> {
    name: &'a str,
    kind: &'static str,
    scope: &'static str,
    file: String,
    source: &'a str,
    digest: String,
    events: &'a [String],
    grants: Vec<&'static str>,
    dirs: Vec<String>,
    optional: bool,
}

fn listed<'a>(file: &PluginsFile, e: &'a PluginEntry) -> Listed<'a> {
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

fn add(args: PluginAddArgs) -> anyhow::Result<Outcome> {
    let mut file = target_file(args.global)?;
    let is_file = Path::new(&args.source).is_file() || looks_like_path(&args.source);
    let bytes = if is_file {
        pipectl_io::read_regular(Path::new(&args.source), MAX_COMPONENT, "plugin component")?
    } else {
        crate::cli::hooks::fetch(&args.source, &args.registry)?
    };
    let kind = pipectl_hooks::classify(&args.source, &bytes)?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| default_name(&args.source));
    if !is_label(&name) {
        return Err(Usage(format!(
            "`{name}` is not a kebab-case plugin name (e.g. `require-license`); pass `--name`"
        ))
        .into());
    }
    if crate::command()
        .get_subcommands()
        .any(|c| c.get_name() == name)
        || name == "help"
    {
        return Err(Usage(format!(
            "`{name}` is one of pipectl's own commands; pass another `--name`"
        ))
        .into());
    }
    let mut entry = PluginEntry {
        name: name.clone(),
        kind,
        source: recorded_source(&file, &args.source, is_file),
        digest: pipectl_io::Digest::sha256(&bytes),
        events: Vec::new(),
        grants: args.grant.iter().map(|g| g.grant()).collect(),
        dirs: dirs(&args)?,
        optional: args.optional,
    };
    match kind {
        Kind::Hook => {
            let mut hooks = Hooks::new(host(64 << 20)?);
            hooks.load(entry.clone(), &args.source, &bytes)?;
            entry.events = hooks.events(&name)?;
        }
        Kind::Command => {
            host(COMMAND_MEMORY)?
                .load_exports(&name, &bytes, &command_grants(&entry)?)
                .map_err(|source| pipectl_hooks::HookError::Load {
                    plugin: name.clone(),
                    source,
                })?;
        }
    }
    file.add(entry.clone())?;
    file.save()?;
    keep(&entry, &bytes);
    match args.format {
        Format::Json => print_json(true, &listed(&file, &entry))?,
        Format::Human => {
            let mut out = String::new();
            let _ = writeln!(
                out,
                "added {} `{}` to {}",
                kind.as_str(),
                entry.name,
                file.path.display()
            );
            let _ = writeln!(out, "  digest: {}", entry.digest);
            if kind == Kind::Hook {
                let _ = writeln!(out, "  events: {}", none_or(&entry.events.join(", ")));
            }
            let grants: Vec<&str> = entry.grants.iter().map(|g| g.name()).collect();
            let _ = writeln!(out, "  grants: {}", none_or(&grants.join(", ")));
            for d in &listed(&file, &entry).dirs {
                let _ = writeln!(out, "  dir:    {d}");
            }
            print_text(&out)?;
        }
    }
    Ok(Outcome::Ok)
}

fn none_or(text: &str) -> &str {
    if text.is_empty() { "none" } else { text }
}

fn list(args: PluginListArgs) -> anyhow::Result<Outcome> {
    let files = recorded()?;
    let rows: Vec<Listed<'_>> = files
        .iter()
        .flat_map(|f| f.plugins.iter().map(move |e| listed(f, e)))
        .collect();
    match args.format {
        Format::Json => {
            #[derive(Serialize)]
            struct Report<'a> {
                plugins: &'a [Listed<'a>],
            }
            print_json(true, &Report { plugins: &rows })?
        }
        Format::Human if rows.is_empty() => {
            print_text("no plugins recorded (add one: `pipectl plugin add FILE|REF`)\n")?
        }
        Format::Human => {
            let mut out = String::new();
            let _ = writeln!(
                out,
                "{:<18} {:<8} {:<8} {:<30} {:<20} GRANTS",
                "NAME", "KIND", "SCOPE", "EVENTS", "DIGEST"
            );
            for r in &rows {
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
            print_text(&out)?;
        }
    }
    Ok(Outcome::Ok)
}

fn remove(args: PluginRemoveArgs) -> anyhow::Result<Outcome> {
    let mut file = target_file(args.global)?;
    let removed = file.remove(&args.name)?;
    file.save()?;
    print_text(&format!(
        "removed {} `{}` from {}\n",
        removed.kind.as_str(),
        removed.name,
        file.path.display()
    ))?;
    Ok(Outcome::Ok)
}

/// A command plugin's grants: its terminal (stdio, arguments), what was
/// granted, and its directories, relative ones taken from here.
fn command_grants(entry: &PluginEntry) -> anyhow::Result<pipectl_manifest::Grants> {
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

/// `pipectl <name> [args…]`: the command plugin `name`, sandboxed.
pub fn external(args: Vec<String>) -> anyhow::Result<Outcome> {
    let Some(name) = args.first() else {
        return Err(Usage("no command given".into()).into());
    };
    let files = recorded()?;
    let found = files.iter().find_map(|f| f.get(name).map(|e| (f, e)));
    let Some((file, entry)) = found else {
        return Err(Usage(format!(
            "`{}` is neither a pipectl command nor a command plugin (see `pipectl --help` and `pipectl plugin list`)",
            pipectl_io::text::clean(name, 100)
        ))
        .into());
    };
    if entry.kind != Kind::Command {
        return Err(Usage(format!(
            "plugin `{name}` is a hook, not a command: pipectl calls it around its commands"
        ))
        .into());
    }
    let (_, mut bytes) = component(file, entry, true)?;
    if pipectl_io::Digest::sha256(&bytes) != entry.digest {
        // The store is a cache: the source is the authority.
        let source;
        (source, bytes) = component(file, entry, false)?;
        let found = pipectl_io::Digest::sha256(&bytes);
        if found != entry.digest {
            return Err(pipectl_hooks::HookError::Digest {
                plugin: entry.name.clone(),
                source_name: source,
                expected: entry.digest.clone(),
                found,
            }
            .into());
        }
        keep(entry, &bytes);
    }
    let grants = command_grants(entry)?;
    let host = host(COMMAND_MEMORY)?;
    let plugin = host.load_exports(name, &bytes, &grants).map_err(|source| {
        pipectl_hooks::HookError::Load {
            plugin: name.clone(),
            source,
        }
    })?;
    let limits = Limits {
        max_memory: Some(COMMAND_MEMORY),
        ..Limits::default()
    };
    match pipectl_run::run_command(&host, &plugin, &grants, &args, limits) {
        pipectl_run::CommandExit::Status(code) => {
            Ok(Outcome::Exit(u8::try_from(code.clamp(0, 255)).unwrap_or(1)))
        }
        pipectl_run::CommandExit::Trap(reason) => Err(anyhow::anyhow!(
            "command plugin `{name}` failed: {}",
            pipectl_io::text::clean(&reason, 2000)
        )),
    }
}
