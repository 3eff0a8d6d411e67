//! A wasmtime host that runs plugin pipelines: isolated, limited, recovering.
//!
//! - [`host`]: one [`Engine`](wasmtime::Engine) with epoch interruption, the
//!   pooling allocator and a precompiled-artifact [`cache`]; plugins are
//!   loaded once (capabilities checked, deny by default) and pre-instantiated.
//! - [`stage`]: a live instance per stage and worker, reused across inputs;
//!   per-call timeout, fuel, memory and output limits; a fresh instance
//!   after a trap; a stage given up after too many failures in a row.
//! - [`plan`]: a run validated before it starts: stages, limits, grants,
//!   workers, pool; the replay that names a composed component's stage.
//! - [`pipeline`]: stages in order, sessions, parallel batches.
//! - [`stats`]: invocation counts, latency percentiles, trap rate, limit hits.
//! - [`cases`] and [`invoke`]: `pipectl test`: case files of WAVE calls and
//!   expectations, run against any exported function in fresh instances.
//! - [`node`]: the same cases through a jco-transpiled component on
//!   Node.js (`pipectl test --runtime node`).
//! - [`exports`]: any export called by name in a fresh instance (pipectl's
//!   hooks), and `wasi:cli/run` commands with the terminal's stdio.
//! - [`output`]: plugins' stdout and stderr go to a sink the caller gives;
//!   this crate never prints.

pub mod cache;
pub mod cases;
mod expect;
pub mod exports;
pub mod host;
pub mod invoke;
pub mod node;
pub mod output;
pub mod pipeline;
pub mod plan;
#[cfg(test)]
mod proxy_tests;
pub mod stage;
pub mod stats;

pub use cache::{ArtifactCache, CacheError, CacheWarning, CompileSource, Compiled};
pub use cases::{Case, CaseFile, CaseFileError, Expect, Step};
pub use exports::{CommandExit, Exports, run_command};
pub use host::{CallSpec, Denied, Host, HostConfig, HostError, LoadError, Plugin};
pub use invoke::{CaseOutcome, StepOutcome, check_cases, run_cases};
pub use node::run_cases_node;
pub use output::{OutputSink, PluginOutput, StdStream};
/// The key that seals cache entries (from `pipectl-io`).
pub use pipectl_io::SealKey;
pub use pipeline::{BatchResult, Pipeline, Session};
pub use plan::{
    DEFAULT_LIMITS, Grant, MAX_WORKERS, PlanError, PlanNotice, RawStage, RunPlan, RunRequest,
    StageSpec, Trust,
};
pub use stage::{FailureKind, LimitKind, StageFailure, StagePolicy, TransformError};
pub use stats::{StageStats, StageSummary};
/// A component-model value, as [`Exports::call`] takes and returns them
/// (wasmtime's), so callers need not link wasmtime themselves.
pub use wasmtime::component::Val;
