//! `cargo xtask demo`: pipectl's main job end to end, on a fresh machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;

use crate::util::{cargo, root, run as run_cmd};

/// Builds `pipectl` (the dev profile, shared with the tests) and returns its
/// path.
pub fn build_pipectl() -> anyhow::Result<PathBuf> {
    let root = root();
    run_cmd(
        cargo()
            .current_dir(&root)
            .args(["build", "--quiet", "-p", "pipectl"]),
    )?;
    Ok(root.join("target/debug/pipectl"))
}

fn pipectl(bin: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.current_dir(root());
    cmd
}

fn step(title: &str) {
    eprintln!("\n==> {title}");
}

/// Runs the demo: `cargo xtask demo`.
pub fn run() -> anyhow::Result<()> {
    step("building the plugins (wasm32-wasip2)");
    let plugins = crate::plugins()?;
    step("building pipectl");
    let bin = build_pipectl()?;
    let wit = root().join("wit/text-transform/0.2.0");

    step("checking each plugin against its world");
    for (name, world) in [
        ("normalizer", "example:text-transform/plugin@0.2.0"),
        ("validator", "example:text-transform/plugin@0.2.0"),
        ("counter", "example:text-transform/counter-plugin@0.2.0"),
    ] {
        run_cmd(
            pipectl(&bin)
                .arg("check")
                .arg(plugins.join(format!("{name}.wasm")))
                .arg("--wit")
                .arg(&wit)
                .args(["--world", world]),
        )
        .with_context(|| format!("`{name}` does not satisfy `{world}`"))?;
    }
    Ok(())
}
