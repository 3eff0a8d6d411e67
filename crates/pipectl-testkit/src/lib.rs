//! Test support shared by the crates' integration tests: where the repository
//! and the built plugins are, a real registry server started on a free
//! loopback port, and a proxy that injects faults between a client and it.
//!
//! Nothing here mocks WebAssembly or a registry: plugins are the components
//! `cargo xtask plugins` builds, the registry is CNCF distribution. The one
//! hand-written server, [`hostile`], exists to misbehave on purpose where
//! a real registry never would (huge, long, slow or endless answers).

pub mod hostile;
mod jco_serve;
mod proxy;
mod registry;

pub use jco_serve::JcoServe;
pub use proxy::{Fault, FaultProxy};
pub use registry::RegistryServer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// An example extension of pipectl (a hook or a command plugin) built by
/// `cargo xtask plugins` into `target/extensions/`: `require-license`,
/// `stamp` or `wit-stats`.
pub fn extension(name: &str) -> PathBuf {
    built("extensions", name)
}

/// jco, installed (pinned) by `cargo xtask test` under `target/tools/jco/`.
pub fn jco() -> PathBuf {
    let path = root().join("target/tools/jco/node_modules/.bin/jco");
    assert!(
        path.exists(),
        "{} is missing: `cargo xtask test` installs jco",
        path.display()
    );
    path
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

/// The `wit/` folders of the crates a never-built manifest depends on:
/// (crate name, crate version, folder), for every package that has one.
/// `cargo metadata` downloads the crates into cargo's registry cache and
/// says where they are; nothing is built.
pub fn crate_wit_dirs(manifest: &Path) -> Vec<(String, String, PathBuf)> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--manifest-path",
        ])
        .arg(manifest)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo metadata failed for {}: {}",
        manifest.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|pkg| {
            let dir = PathBuf::from(pkg["manifest_path"].as_str()?)
                .parent()?
                .join("wit");
            dir.is_dir().then(|| {
                (
                    pkg["name"].as_str().unwrap_or_default().to_string(),
                    pkg["version"].as_str().unwrap_or_default().to_string(),
                    dir,
                )
            })
        })
        .collect()
}

/// Real WASI WIT trees: WASI version (`0.2.0`, `0.3.0`) → the `wit/` folder
/// of a crate on crates.io that ships it. `tests/wasi-wit/{a,b}/Cargo.toml`
/// list the crates (never built).
pub fn wasi_trees() -> BTreeMap<String, PathBuf> {
    let mut trees = BTreeMap::new();
    for set in ["a", "b"] {
        let manifest = root().join(format!("tests/wasi-wit/{set}/Cargo.toml"));
        for (_, version, dir) in crate_wit_dirs(&manifest) {
            if let Some((_, wasi)) = version.split_once("+wasi-") {
                trees.insert(wasi.to_string(), dir);
            }
        }
    }
    trees
}

/// `sha256:<hex>` of `bytes`, computed here (not by pipectl) for tests to
/// check pipectl's digests against.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}
