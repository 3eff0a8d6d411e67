//! A wasmtime host that runs plugin pipelines: isolated, limited, recovering.
//!
//! - [`host`]: one [`Engine`](wasmtime::Engine) with epoch interruption, the
//!   pooling allocator and a precompiled-artifact [`cache`]; plugins are
//!   loaded once (capabilities checked, deny by default) and pre-instantiated.
//! - [`stage`]: a live instance per stage and worker, reused across inputs;
//!   per-call timeout, fuel, memory and output limits; a fresh instance
//!   after a trap; a stage given up after too many failures in a row.
//! - [`pipeline`]: stages in order, sessions, parallel batches.
//! - [`stats`]: invocation counts, latency percentiles, trap rate, limit hits.
//! - [`output`]: plugins' stdout and stderr go to a sink the caller gives;
//!   this crate never prints.

pub mod cache;
pub mod host;
pub mod output;
pub mod pipeline;
pub mod stage;
pub mod stats;

pub use cache::{ArtifactCache, CacheError, CacheWarning, CompileSource, Compiled};
pub use host::{CallSpec, Host, HostConfig, HostError, LoadError, Plugin};
pub use output::{OutputSink, PluginOutput, StdStream};
/// The key that seals cache entries (from `pipectl-io`).
pub use pipectl_io::SealKey;
pub use pipeline::{BatchResult, Pipeline, Session};
pub use stage::{FailureKind, LimitKind, StageFailure, StagePolicy, TransformError};
pub use stats::{StageStats, StageSummary};
