//! Hooks in pipectl's wasmtime host: loaded deny-by-default, called in
//! the order recorded, each call in a fresh instance under limits, each
//! call appended to the audit log.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pipectl_io::Digest;
use pipectl_manifest::{Grants, Limits};
use pipectl_run::Val;
use pipectl_run::{Exports, Host, LoadError, Plugin};

use crate::config::PluginEntry;
use crate::contract::HOOK_INTERFACE;
use crate::event::{Annotation, EVENT_NAMES, Event, Verdict};

/// Per-call limits of a hook: 2 s and 64 MiB.
pub const HOOK_LIMITS: Limits = Limits {
    timeout: Some(Duration::from_secs(2)),
    fuel: None,
    max_memory: Some(64 << 20),
    max_output: None,
};

/// Why hooks stopped a command, or could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// A hook answered `veto`: the command stops (exit 1).
    #[error("vetoed by plugin `{plugin}`: {reason}")]
    Vetoed {
        /// The plugin's name.
        plugin: String,
        /// Its reason, cleaned of control characters.
        reason: String,
    },
    /// A hook trapped, timed out or answered nonsense, and is not optional:
    /// the command fails closed (exit 2).
    #[error(
        "plugin `{plugin}` failed on `{event}` (hooks fail closed; add it with `--optional` to skip it instead): {reason}"
    )]
    Failed {
        /// The plugin's name.
        plugin: String,
        /// The event it was called for.
        event: String,
        /// What went wrong.
        reason: String,
    },
    /// Its component is not the one recorded.
    #[error(
        "plugin `{plugin}`: the component from `{source_name}` has digest {found}, not the {expected} recorded when it was added"
    )]
    Digest {
        /// The plugin's name.
        plugin: String,
        /// Where the bytes came from.
        source_name: String,
        /// The digest recorded.
        expected: Digest,
        /// The digest of what was read.
        found: Digest,
    },
    /// The host refused to load it (a capability not granted, an import
    /// it does not provide).
    #[error("plugin `{plugin}` cannot be loaded")]
    Load {
        /// The plugin's name.
        plugin: String,
        /// The host's reason.
        #[source]
        source: LoadError,
    },
    /// The audit log could not be appended to.
    #[error("failed to append to the audit log `{}`: {source}", path.display())]
    Audit {
        /// The log.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

impl HookError {
    /// Whether it is a gate (a veto, exit 1) rather than a failure to run.
    pub fn is_veto(&self) -> bool {
        matches!(self, HookError::Vetoed { .. })
    }
}

/// A hook ready to call.
pub struct LoadedHook {
    /// What `pipectl.toml` records about it.
    pub entry: PluginEntry,
    plugin: Plugin,
}

/// What the hooks of one event concluded, when none vetoed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Dispatch {
    /// Annotations `proceed-with` asked for, later hooks' values replacing
    /// earlier ones of the same key.
    pub annotations: Vec<Annotation>,
    /// Optional hooks that failed and were skipped, with why.
    pub skipped: Vec<String>,
    /// How many hooks were called.
    pub called: usize,
}

/// The hooks of a command.
pub struct Hooks {
    host: Host,
    hooks: Vec<LoadedHook>,
    audit: Option<PathBuf>,
}

impl Hooks {
    /// No hooks yet, on `host` (its memory limit should be at least
    /// [`HOOK_LIMITS`]'s).
    pub fn new(host: Host) -> Self {
        Self {
            host,
            hooks: Vec::new(),
            audit: None,
        }
    }

    /// Appends one JSON line per call to `path`.
    pub fn with_audit(mut self, path: Option<PathBuf>) -> Self {
        self.audit = path;
        self
    }

    /// Whether there is no hook to call.
    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    /// The hooks loaded, in call order.
    pub fn hooks(&self) -> impl Iterator<Item = &PluginEntry> {
        self.hooks.iter().map(|h| &h.entry)
    }

    /// Loads `entry`'s component from `bytes` (read from `source_name`):
    /// the digest must be the recorded one, and its imports covered by
    /// its grants.
    pub fn load(
        &mut self,
        entry: PluginEntry,
        source_name: &str,
        bytes: &[u8],
    ) -> Result<(), HookError> {
        let found = Digest::sha256(bytes);
        if found != entry.digest {
            return Err(HookError::Digest {
                plugin: entry.name.clone(),
                source_name: source_name.to_string(),
                expected: entry.digest.clone(),
                found,
            });
        }
        let plugin = self
            .host
            .load_exports(&entry.name, bytes, &grants(&entry))
            .map_err(|source| HookError::Load {
                plugin: entry.name.clone(),
                source,
            })?;
        self.hooks.push(LoadedHook { entry, plugin });
        Ok(())
    }

    /// The events the loaded hook `name` subscribes to, as its `events`
    /// says; a name that is not an event is refused.
    pub fn events(&self, name: &str) -> Result<Vec<String>, HookError> {
        let failed = |reason: String| HookError::Failed {
            plugin: name.to_string(),
            event: "events".to_string(),
            reason,
        };
        let hook = self
            .hooks
            .iter()
            .find(|h| h.entry.name == name)
            .ok_or_else(|| failed("not loaded".into()))?;
        let mut exports = Exports::new(&self.host, &hook.plugin, HOOK_LIMITS).map_err(failed)?;
        let Some(Val::List(names)) = exports
            .call(Some(HOOK_INTERFACE), "events", &[])
            .map_err(failed)?
        else {
            return Err(failed("`events` did not return a list".into()));
        };
        let mut events = Vec::new();
        for n in names {
            let Val::String(n) = n else {
                return Err(failed("`events` did not return strings".into()));
            };
            if !EVENT_NAMES.contains(&n.as_str()) {
                return Err(failed(format!(
                    "`{}` is not an event (one of {})",
                    pipectl_io::text::clean(&n, 100),
                    EVENT_NAMES.join(", ")
                )));
            }
            if !events.contains(&n) {
                events.push(n);
            }
        }
        Ok(events)
    }

    /// Calls every hook subscribed to `event`, in order. The first veto
    /// stops the rest and is the error; a failing hook fails closed
    /// unless it is optional.
    pub fn dispatch(&self, event: &Event) -> Result<Dispatch, HookError> {
        let mut out = Dispatch::default();
        for hook in &self.hooks {
            let started = Instant::now();
            let answer = self.call(hook, event);
            let elapsed = started.elapsed();
            let answer = match answer {
                Ok(None) => continue,
                Ok(Some(verdict)) => Ok(verdict),
                Err(reason) => Err(reason),
            };
            out.called += 1;
            self.record(hook, event, &answer, elapsed)?;
            match answer {
                Ok(Verdict::Proceed) => {}
                Ok(Verdict::ProceedWith(annotations)) => {
                    for a in annotations {
                        out.annotations.retain(|b| b.key != a.key);
                        out.annotations.push(a);
                    }
                }
                Ok(Verdict::Veto(reason)) => {
                    return Err(HookError::Vetoed {
                        plugin: hook.entry.name.clone(),
                        reason: pipectl_io::text::clean(&reason, 2000),
                    });
                }
                Err(reason) if hook.entry.optional => out.skipped.push(format!(
                    "optional plugin `{}` failed on `{}` and was skipped: {reason}",
                    hook.entry.name,
                    event.name()
                )),
                Err(reason) => {
                    return Err(HookError::Failed {
                        plugin: hook.entry.name.clone(),
                        event: event.name().to_string(),
                        reason,
                    });
                }
            }
        }
        Ok(out)
    }

    /// One hook and one event: `None` when it is not subscribed.
    fn call(&self, hook: &LoadedHook, event: &Event) -> Result<Option<Verdict>, String> {
        let mut exports = Exports::new(&self.host, &hook.plugin, HOOK_LIMITS)?;
        let events = exports.call(Some(HOOK_INTERFACE), "events", &[])?;
        let subscribed = match &events {
            Some(Val::List(names)) => names
                .iter()
                .any(|n| matches!(n, Val::String(s) if s == event.name())),
            other => {
                return Err(format!(
                    "`events` returned {other:?}, not a list of strings"
                ));
            }
        };
        if !subscribed {
            return Ok(None);
        }
        let verdict = exports
            .call(Some(HOOK_INTERFACE), "on-event", &[event.to_val()])?
            .ok_or("`on-event` returned nothing")?;
        Verdict::from_val(&verdict).map(Some)
    }

    fn record(
        &self,
        hook: &LoadedHook,
        event: &Event,
        answer: &Result<Verdict, String>,
        elapsed: Duration,
    ) -> Result<(), HookError> {
        let Some(path) = &self.audit else {
            return Ok(());
        };
        let time = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let mut line = serde_json::json!({
            "time": time,
            "plugin": hook.entry.name,
            "digest": hook.entry.digest.to_string(),
            "event": event.name(),
            "verdict": match answer {
                Ok(v) => v.name(),
                Err(_) => "error",
            },
            "duration_ms": (elapsed.as_secs_f64() * 1e6).round() / 1e3,
        });
        match answer {
            Ok(Verdict::Veto(reason)) | Err(reason) => {
                line["reason"] = serde_json::Value::String(pipectl_io::text::clean(reason, 2000));
            }
            Ok(Verdict::ProceedWith(annotations)) => {
                line["annotations"] = annotations
                    .iter()
                    .map(|a| (a.key.clone(), serde_json::Value::String(a.value.clone())))
                    .collect::<serde_json::Map<_, _>>()
                    .into();
            }
            Ok(Verdict::Proceed) => {}
        }
        append_line(path, &line.to_string()).map_err(|source| HookError::Audit {
            path: path.clone(),
            source,
        })
    }
}

/// The capabilities a plugin's entry grants.
pub fn grants(entry: &PluginEntry) -> Grants {
    let mut grants = Grants::default();
    for g in &entry.grants {
        g.apply(&mut grants);
    }
    grants
}

/// Appends `line` and a line feed in one write, creating the file.
fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(format!("{line}\n").as_bytes())
}
