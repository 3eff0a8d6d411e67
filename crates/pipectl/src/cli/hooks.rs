//! Hooks around the commands: the plugins `pipectl.toml` records (the
//! project's, found upward from the working folder, then the user's),
//! their components found and verified by digest, called for each event.

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::Context as _;
use pipectl_hooks::{Dispatch, Event, Hooks, Kind, PluginEntry, PluginsFile, Scope};
use pipectl_run::{Host, HostConfig};

/// `--no-hooks` and `--audit`, for the whole process.
struct Settings {
    no_hooks: bool,
    audit: Option<PathBuf>,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Records the global flags; called once, before the command runs.
pub fn configure(no_hooks: bool, audit: Option<PathBuf>) {
    let _ = SETTINGS.set(Settings { no_hooks, audit });
}

fn settings() -> &'static Settings {
    SETTINGS.get_or_init(|| Settings {
        no_hooks: false,
        audit: None,
    })
}

/// The plugin files that exist: the project's, then the user's.
pub fn recorded() -> anyhow::Result<Vec<PluginsFile>> {
    let mut files = Vec::new();
    let cwd = std::env::current_dir().context("failed to read the working folder")?;
    if let Some(path) = PluginsFile::find_project(&cwd) {
        files.push(PluginsFile::load(&path, Scope::Project)?);
    }
    if let Some(path) = PluginsFile::global_path()
        && path.is_file()
    {
        files.push(PluginsFile::load(&path, Scope::Global)?);
    }
    Ok(files)
}

/// Where verified copies of plugin components are kept, by digest.
pub fn store_dir() -> PathBuf {
    crate::cli::paths::cache_root()
        .unwrap_or_else(|| PathBuf::from(".pipectl-cache"))
        .join("plugins")
}

fn stored(entry: &PluginEntry) -> PathBuf {
    store_dir().join(format!("{}.wasm", entry.digest.hex()))
}

/// Keeps a verified copy of a plugin's component (best effort: the
/// source stays the authority).
pub fn keep(entry: &PluginEntry, bytes: &[u8]) {
    let path = stored(entry);
    if std::fs::create_dir_all(store_dir()).is_ok() {
        let _ = pipectl_io::write_atomic(&path, bytes, pipectl_io::WriteOptions::default());
    }
}

/// A plugin's component: the copy in the store (a cache, so untrusted:
/// the caller checks the digest, and calls again with `from_store` false
/// when it does not match), else its source: a file relative to `file`'s
/// folder, or a registry reference fetched and verified like `pipectl
/// fetch`. Returns where it was read and its bytes.
pub fn component(
    file: &PluginsFile,
    entry: &PluginEntry,
    from_store: bool,
) -> anyhow::Result<(String, Vec<u8>)> {
    let copy = stored(entry);
    if from_store && let Ok(bytes) = pipectl_io::read_regular(&copy, 1 << 30, "plugin component") {
        return Ok((copy.display().to_string(), bytes));
    }
    let path = file.dir().join(&entry.source);
    if path.is_file() || looks_like_path(&entry.source) {
        let bytes =
            pipectl_io::read_regular(&path, 1 << 30, "plugin component").with_context(|| {
                format!(
                    "plugin `{}` (recorded in `{}`)",
                    entry.name,
                    file.path.display()
                )
            })?;
        Ok((path.display().to_string(), bytes))
    } else {
        let args = crate::cli::opts::RegistryArgs::from_access(default_access());
        Ok((
            entry.source.clone(),
            crate::cli::registry::fetch_bytes(&entry.source, &args)?,
        ))
    }
}

/// Loads `entry`'s component into `hooks`: the store's copy when it is
/// the pinned one, else the source's (then kept in the store). The digest
/// is computed once, by [`Hooks::load`].
fn load_hook(hooks: &mut Hooks, file: &PluginsFile, entry: &PluginEntry) -> anyhow::Result<()> {
    let (name, bytes) = component(file, entry, true)?;
    let from_store = name == stored(entry).display().to_string();
    match hooks.load(entry.clone(), &name, &bytes) {
        Err(pipectl_hooks::HookError::Digest { .. }) if from_store => {
            let _ = std::fs::remove_file(stored(entry));
            let (name, bytes) = component(file, entry, false)?;
            hooks.load(entry.clone(), &name, &bytes)?;
            keep(entry, &bytes);
        }
        Err(e) => return Err(e.into()),
        Ok(()) if !from_store => keep(entry, &bytes),
        Ok(()) => {}
    }
    Ok(())
}

/// Whether `source` is meant as a file (not a registry reference).
pub fn looks_like_path(source: &str) -> bool {
    source.starts_with('/')
        || source.starts_with("./")
        || source.starts_with("../")
        || (source.ends_with(".wasm") && !source.contains(':'))
}

fn default_access() -> crate::cli::opts::RegistryAccessArgs {
    use clap::Parser as _;
    #[derive(clap::Parser)]
    struct Defaults {
        #[command(flatten)]
        access: crate::cli::opts::RegistryAccessArgs,
    }
    Defaults::parse_from(["pipectl"]).access
}

/// A host for plugins: the precompiled cache, no pool, `max_memory`.
pub fn host(max_memory: u64) -> anyhow::Result<Host> {
    let cache = crate::cli::paths::compiled_cache()
        .and_then(|dir| pipectl_run::ArtifactCache::open(dir).ok());
    Ok(Host::new(&HostConfig {
        cache,
        fuel: false,
        pooling: None,
        max_memory: Some(max_memory),
    })?)
}

/// Whether any recorded hook subscribes to `event` (so a command can skip
/// preparing it).
pub fn wanted(event: &str) -> anyhow::Result<bool> {
    Ok(recorded()?.iter().any(|f| {
        f.plugins
            .iter()
            .any(|p| p.kind == Kind::Hook && p.events.iter().any(|e| e == event))
    }))
}

/// Calls the hooks subscribed to `event`, in the order recorded (the
/// project's, then the user's). A veto is an error (exit 1); a failing hook
/// fails the command (exit 2) unless it is optional, when it is reported
/// and skipped.
pub fn dispatch(event: &Event) -> anyhow::Result<Dispatch> {
    let settings = settings();
    let files = recorded()?;
    let subscribed: Vec<(&PluginsFile, &PluginEntry)> = files
        .iter()
        .flat_map(|f| f.plugins.iter().map(move |p| (f, p)))
        .filter(|(_, p)| p.kind == Kind::Hook && p.events.iter().any(|e| e == event.name()))
        .collect();
    if subscribed.is_empty() {
        return Ok(Dispatch::default());
    }
    if settings.no_hooks {
        crate::cli::output::warn(&format!(
            "pipectl: --no-hooks: not calling {} hook{} on `{}`",
            subscribed.len(),
            if subscribed.len() == 1 { "" } else { "s" },
            event.name()
        ));
        return Ok(Dispatch::default());
    }
    let audit = settings
        .audit
        .clone()
        .or_else(|| files.iter().find_map(|f| f.audit.clone()));
    let mut hooks = Hooks::new(host(
        pipectl_hooks::runner::HOOK_LIMITS
            .max_memory
            .unwrap_or(64 << 20),
    )?)
    .with_audit(audit);
    for (file, entry) in subscribed {
        load_hook(&mut hooks, file, entry)?;
    }
    let dispatch = hooks.dispatch(event)?;
    for skipped in &dispatch.skipped {
        crate::cli::output::warn(&format!("pipectl: warning: {skipped}"));
    }
    Ok(dispatch)
}

/// An artifact as hooks see it.
pub fn artifact(
    reference: &str,
    bytes: &[u8],
    annotations: &std::collections::BTreeMap<String, String>,
    world: Option<&str>,
) -> pipectl_hooks::Artifact {
    pipectl_hooks::Artifact {
        reference: reference.to_string(),
        digest: digest(bytes),
        size: bytes.len() as u64,
        annotations: annotations
            .iter()
            .map(|(key, value)| pipectl_hooks::Annotation {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        target_world: world.map(str::to_string),
    }
}

/// The annotations of the manifest `digest`: from the cache (where a
/// fetch keeps it), else from the store `reference` names (unless
/// `offline`: then none); read and verified by digest either way.
pub fn annotations(
    ctx: &pipectl_registry::Context,
    reference: &str,
    digest: &pipectl_io::Digest,
    offline: bool,
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let bytes = match ctx.cache.blob(digest, 4 << 20) {
        Some(bytes) => bytes,
        None if offline => return Ok(Default::default()),
        None => {
            let location = ctx.resolve(reference, true)?.reference.location;
            let deadline = std::time::Instant::now() + ctx.limits().timeout;
            ctx.open(&location, deadline)?.manifest_by_digest(digest)?
        }
    };
    let manifest: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("`{reference}`: the manifest {digest} is not JSON"))?;
    Ok(manifest["annotations"]
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default())
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    pipectl_io::Digest::sha256(bytes).to_string()
}

/// A stage as hooks see it.
pub fn stage(name: &str, source: &str, bytes: Option<&[u8]>) -> pipectl_hooks::StageRef {
    pipectl_hooks::StageRef {
        name: name.to_string(),
        source: source.to_string(),
        digest: bytes.map(digest).unwrap_or_default(),
    }
}
