//! Extending pipectl with components: hooks that run around its commands
//! and may veto them, and commands that run in the sandbox.
//!
//! - [`contract`]: the hook contract (`pipectl:hooks@0.1.0`, shipped in
//!   `wit/pipectl-hooks/0.1.0/`), and telling a hook from a
//!   `wasi:cli/command` component.
//! - [`config`]: the `[[plugin]]` entries of a `pipectl.toml` (the
//!   project's, found upward from the working folder, or the user's), read
//!   and edited in place, comments kept.
//! - [`event`]: the events a command raises and the verdicts hooks answer,
//!   as component-model values.
//! - [`runner`]: hooks loaded in pipectl's wasmtime host (deny by default,
//!   per-call limits), called in order, each call in a fresh instance and
//!   appended to an audit log.

pub mod config;
pub mod contract;
pub mod event;
pub mod runner;

pub use config::{ConfigError, PluginEntry, PluginsFile, Scope};
pub use contract::{ContractError, HOOKS_WIT, Kind, classify};
pub use event::{Annotation, Artifact, Event, StageRef, Verdict};
pub use runner::{Dispatch, HookError, Hooks, LoadedHook};
