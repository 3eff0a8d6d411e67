//! Test support shared by the crates' integration tests: where the repository
//! and the built plugins are, a real registry server started on a free
//! loopback port, and a proxy that injects faults between a client and it.
//!
//! Nothing here mocks WebAssembly or a registry: plugins are the components
//! `cargo xtask plugins` builds, the registry is CNCF distribution.

use std::path::{Path, PathBuf};

/// The repository root.
pub fn root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .nth(2)
        .expect("crates/pipectl-testkit sits two levels below the root")
        .to_path_buf()
}

fn built(dir: &str, name: &str) -> PathBuf {
    let path = root().join("target").join(dir).join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: build the plugins first with `cargo xtask plugins` \
         (`cargo xtask test` does it for you)",
        path.display()
    );
    path
}

/// An example plugin built by `cargo xtask plugins`: `normalizer`,
/// `validator` or `counter`.
pub fn plugin(name: &str) -> PathBuf {
    built("plugins", name)
}

/// A test fixture component built by `cargo xtask plugins`: `hostile`,
/// `fs-reader` or `audit`.
pub fn fixture(name: &str) -> PathBuf {
    built("fixtures", name)
}

/// A file under the repository's `tests/` folder.
pub fn test_file(rel: &str) -> PathBuf {
    root().join("tests").join(rel)
}

/// The WIT of a release of the contract, e.g. `0.2.0`.
pub fn contract(version: &str) -> PathBuf {
    root().join("wit/text-transform").join(version)
}
