//! `pipectl plugin add|list|remove|wit`, and command plugins run as
//! `pipectl <name>`.

use std::path::Path;

use pipectl_hooks::config::is_label;
use pipectl_hooks::{Hooks, Kind, PluginEntry};
use pipectl_manifest::Limits;
use serde::Serialize;

use crate::Outcome;
use crate::cli::failure::Usage;
use crate::cli::hooks::{component, host, keep, looks_like_path, recorded};
use crate::cli::opts::{PluginAddArgs, PluginCommand, PluginListArgs, PluginRemoveArgs};
use crate::cli::output::{Format, print_json, print_text};
use crate::cli::plugins::{
    COMMAND_MEMORY, Listed, MAX_COMPONENT, added, command_grants, default_name, dirs, listed,
    recorded_source, table, target_file,
};

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

fn add(args: PluginAddArgs) -> anyhow::Result<Outcome> {
    let mut file = target_file(args.global)?;
    let is_file = Path::new(&args.source).is_file() || looks_like_path(&args.source);
    let bytes = if is_file {
        pipectl_io::read_regular(Path::new(&args.source), MAX_COMPONENT, "plugin component")?
    } else {
        crate::cli::registry::fetch_bytes(&args.source, &args.registry)?
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
    if kind == Kind::Hook && !entry.dirs.is_empty() {
        let why = "a hook sees only the event it is given: no directory (`--dir` is for commands)";
        return Err(Usage(format!("`{name}`: {why}")).into());
    }
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
        Format::Human => print_text(&added(&file, &entry))?,
    }
    Ok(Outcome::Ok)
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
        Format::Human => print_text(&table(&rows))?,
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
