//! Argument structs and output helpers shared by the subcommands.

pub mod attest;
pub mod bars;
pub mod compare;
pub mod contract;
pub mod failure;
pub mod hints;
pub mod hooks;
pub mod jco;
pub mod json;
pub mod keys;
pub mod opts;
pub mod output;
pub mod paths;
pub mod plugin_output;
pub mod plugins;
pub mod registry;
pub mod run_output;
pub mod run_request;
pub mod serve_gate;
pub mod stages;
pub mod test_report;
pub mod test_targets;
pub mod trust;
pub mod version;
