//! Integration tests for the `pipectl` binary: one test binary, one module
//! per area.

mod adapters;
mod cli;
mod cli_check;
mod cli_flags;
mod compare;
mod compose;
mod conformance;
mod drift_gate;
mod envelope;
mod hooks;
mod hostile_registry;
mod keys;
mod outputs;
mod readme;
mod registry;
mod registry_edges;
mod run;
mod run_edges;
mod run_registry;
mod serve;
mod support;
mod trust;
