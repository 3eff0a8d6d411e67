//! Argument structs and output helpers shared by the subcommands.

pub mod opts;
pub mod output;
