//! What `pipectl --version` says: the version, the commit, and the
//! engines inside (recorded by `build.rs`).

/// `pipectl -V`: the version and the commit.
pub const SHORT: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("PIPECTL_COMMIT"), ")");

/// `pipectl --version`: also the engines inside.
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("PIPECTL_COMMIT"),
    ")\nwasmtime ",
    env!("PIPECTL_WASMTIME"),
    "\nwit-component (wasm-tools) ",
    env!("PIPECTL_WIT_COMPONENT"),
    "\nwac-graph ",
    env!("PIPECTL_WAC_GRAPH")
);
