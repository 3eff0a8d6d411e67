//! `pipectl serve`: a pipeline behind HTTP.
//!
//! - [`server`]: hyper on tokio, the request contract (`POST` any path: the
//!   body through the pipeline; `GET /healthz`, `GET /metrics`), a bounded
//!   queue (`503` + `Retry-After` when full), workers that each keep live
//!   instances of the current generation, graceful shutdown on SIGTERM and
//!   SIGINT.
//! - [`generation`]: the pipeline as loaded, numbered; reloads (on changed
//!   files, debounced, or SIGHUP) load a new generation before it is
//!   swapped in, atomically per request, and keep the old one when that
//!   fails.
//! - [`metrics`]: per-stage counters and a latency histogram in the
//!   Prometheus text format.
//!
//! The crate never prints: log lines go to the caller's sink.

pub mod generation;
pub mod metrics;
pub mod server;

pub use generation::{Generation, Loader};
pub use server::{LogFormat, ServeConfig, ServeError, serve};
