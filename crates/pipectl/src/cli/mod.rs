//! Argument structs and output helpers shared by the subcommands.

pub mod keys;
pub mod opts;
pub mod output;
pub mod test_report;
