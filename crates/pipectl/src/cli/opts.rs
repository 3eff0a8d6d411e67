//! The raw command-line arguments, as clap parses them. Subcommands turn
//! these into the libraries' own option types; libraries never see clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::output::Format;

/// Check, diff, compose, publish and run WebAssembly component pipelines.
#[derive(Debug, Parser)]
#[command(name = "pipectl", version, about, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check components against WIT worlds: exports, imports, types, policy.
    Check(CheckArgs),
}

/// `pipectl check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Components to check: binary (`.wasm`) or text (`.wat`).
    #[arg(required = true, value_name = "COMPONENT")]
    pub components: Vec<PathBuf>,
    /// Where the worlds are defined: a WIT package directory, a `.wit` file,
    /// an encoded WIT package, or a directory of package directories.
    #[arg(long, value_name = "PATH")]
    pub wit: PathBuf,
    /// A world to check against, e.g. `plugin` or
    /// `example:text-transform/plugin@0.2.0`. Repeatable: a component passes
    /// when it satisfies any of them.
    #[arg(long = "world", required = true, value_name = "WORLD")]
    pub worlds: Vec<String>,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// What a plugin may import beyond its world (deny by default).
#[derive(Debug, Args, Clone, Default)]
pub struct PolicyArgs {
    /// Allow imports whose interface name matches this glob, e.g.
    /// `wasi:clocks/*`. Repeatable.
    #[arg(long = "allow-import", value_name = "GLOB")]
    pub allow_imports: Vec<String>,
    /// A policy file: `allow-imports = ["wasi:clocks/*"]`.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}
