//! `cargo xtask demo`: pipectl's main job end to end, on a fresh machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;

use crate::util::{cargo, root, run as run_cmd};

/// Names the `pipectl` binary built next to a benchmarking xtask (see
/// `bench` in main.rs).
pub const PIPECTL_ENV: &str = "XTASK_PIPECTL";

/// Builds `pipectl` in the profile this xtask was built in (dev for the
/// demo, shared with the tests) and returns its path; the benchmarks get the
/// one built with them, named by [`PIPECTL_ENV`].
pub fn build_pipectl() -> anyhow::Result<PathBuf> {
    if let Some(bin) = std::env::var_os(PIPECTL_ENV) {
        return Ok(PathBuf::from(bin));
    }
    let root = root();
    let (profile, dir) = if cfg!(debug_assertions) {
        ("dev", "debug")
    } else {
        ("bench", "release")
    };
    run_cmd(cargo().current_dir(&root).args([
        "build",
        "--quiet",
        "--profile",
        profile,
        "-p",
        "pipectl",
    ]))?;
    Ok(root.join("target").join(dir).join("pipectl"))
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

    let out = root().join("target/demo");
    fs_err::create_dir_all(&out)?;
    let composed = out.join("pipeline.wasm");
    step("composing normalizer -> validator -> counter (pipeline.toml)");
    run_cmd(
        pipectl(&bin)
            .args(["compose", "pipeline.toml", "-o"])
            .arg(&composed)
            .arg("--emit-wac")
            .arg(out.join("pipeline.wac")),
    )?;

    step("checking the composed component against the world");
    run_cmd(
        pipectl(&bin)
            .arg("check")
            .arg(&composed)
            .arg("--wit")
            .arg(&wit)
            .args(["--world", "example:text-transform/counter-plugin@0.2.0"]),
    )?;

    step("running sample text through it");
    let sample = "  The quick   brown fox\n\n   jumps over the lazy dog  \n";
    let output = pipe(pipectl(&bin).arg("run").arg(&composed), sample)?;
    if !output.status.success() {
        anyhow::bail!(
            "the pipeline failed on the sample: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    println!("{}", String::from_utf8_lossy(&output.stdout));
    step("conformance cases of each stage and of the composed pipeline (pipectl test --pipeline)");
    run_cmd(
        pipectl(&bin)
            .arg("test")
            .args(["--pipeline", "pipeline.toml"]),
    )?;
    step("a rejected input: the stage and error case, exit code 1");
    let output = pipe(pipectl(&bin).arg("run").arg(&composed), "buy spam now")?;
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    if output.status.code() != Some(1) {
        anyhow::bail!(
            "expected exit code 1 for a rejected input, got {:?}",
            output.status.code()
        );
    }

    step(
        "the same pipeline for other engines: compose --adapter http and cli, checked against WASI 0.2.4's worlds",
    );
    let wasi = root().join("wit/pipectl-adapter/0.1.0");
    for (adapter, world) in [
        ("http", "wasi:http/proxy@0.2.4"),
        ("cli", "wasi:cli/command@0.2.4"),
    ] {
        let file = out.join(format!("pipeline-{adapter}.wasm"));
        run_cmd(
            pipectl(&bin)
                .args(["compose", "pipeline.toml", "--adapter", adapter, "-o"])
                .arg(&file),
        )?;
        run_cmd(
            pipectl(&bin)
                .arg("check")
                .arg(&file)
                .arg("--wit")
                .arg(&wasi)
                .args(["--world", world]),
        )?;
    }

    // The embedded default store: an OCI image layout, no server. The demo
    // keeps it (and the cache and lockfile) under target/demo.
    let store_env = |cmd: &mut Command| {
        cmd.env("PIPECTL_STORE", out.join("store"))
            .env("PIPECTL_CACHE_DIR", out.join("cache"))
            .env_remove("PIPECTL_CONFIG");
    };
    step("a signing key (ECDSA P-256, PEM: what openssl and cosign read)");
    let keys = out.join("keys");
    if keys.exists() {
        fs_err::remove_dir_all(&keys)?;
    }
    fs_err::create_dir_all(&keys)?;
    run_cmd(pipectl(&bin).args(["key", "generate", "--out"]).arg(&keys))?;

    step("a release policy as hooks: require-license vetoes, stamp annotates (pipectl plugin add)");
    // The demo's folder is the project: its pipectl.toml records the hooks.
    // A fresh store too: what an earlier demo published (and signed with
    // its own key) would only clutter what is inspected below.
    let _ = fs_err::remove_file(out.join("pipectl.toml"));
    let _ = fs_err::remove_dir_all(out.join("store"));
    let extensions = root().join("target/extensions");
    for hook in ["require-license", "stamp"] {
        let mut add = pipectl(&bin);
        store_env(&mut add);
        run_cmd(
            add.current_dir(&out)
                .args(["plugin", "add"])
                .arg(extensions.join(format!("{hook}.wasm"))),
        )?;
    }
    let mut vetoed = pipectl(&bin);
    store_env(&mut vetoed);
    let status = vetoed
        .current_dir(&out)
        .arg("publish")
        .arg(&composed)
        .args(["example:text-pipeline@0.1.0", "--force"])
        .status()?;
    anyhow::ensure!(
        status.code() == Some(1),
        "a publish without a licence must be vetoed (exit 1), got {status}"
    );
    eprintln!("(vetoed as it should be: the manifest carries the licence, next)");

    step("publishing to the embedded store, signed, with its SBOM and provenance");
    let mut publish = pipectl(&bin);
    store_env(&mut publish);
    run_cmd(
        publish
            .current_dir(&out)
            .arg("publish")
            .arg(&composed)
            .args(["example:text-pipeline@0.1.0", "--manifest"])
            .arg(root().join("pipeline.toml"))
            .args(["--force", "--attest", "--sign", "--key"])
            .arg(keys.join("pipectl.key")),
    )?;

    step("fetching it back under a policy that requires the signature, into pipectl.lock");
    // The policy is read from the working folder: the demo's own, next to
    // its hooks.
    let hooks = fs_err::read_to_string(out.join("pipectl.toml"))?;
    fs_err::write(
        out.join("pipectl.toml"),
        format!(
            "[trust]\nrequire = \"signature\"\n[[trust.key]]\npath = \"keys/pipectl.pub\"\n\n{hooks}"
        ),
    )?;
    let fetched = out.join("fetched.wasm");
    // A fresh lockfile: an earlier demo may have pinned other bytes.
    let _ = fs_err::remove_file(out.join("pipectl.lock"));
    let mut fetch = pipectl(&bin);
    store_env(&mut fetch);
    run_cmd(
        fetch
            .current_dir(&out)
            .args(["fetch", "example:text-pipeline@^0.1", "-o"])
            .arg(&fetched)
            .arg("--lockfile")
            .arg(out.join("pipectl.lock")),
    )?;

    step("inspecting it: manifest, stages, signature, SBOM and provenance, verified");
    let mut inspect = pipectl(&bin);
    store_env(&mut inspect);
    run_cmd(
        inspect
            .args(["inspect", "example:text-pipeline@0.1.0", "--key"])
            .arg(keys.join("pipectl.pub")),
    )?;
    if fs_err::read(&fetched)? != fs_err::read(&composed)? {
        anyhow::bail!("the fetched component differs from the published one");
    }
    eprintln!("fetched bytes are identical to the published ones");
    let output = pipe(pipectl(&bin).arg("run").arg(&fetched), sample)?;
    if !output.status.success() {
        anyhow::bail!(
            "the fetched pipeline failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    eprintln!("\ndemo complete: outputs in {}", out.display());
    Ok(())
}

/// Runs `cmd` with `input` on stdin, capturing its output.
fn pipe(cmd: &mut Command, input: &str) -> anyhow::Result<std::process::Output> {
    use std::io::Write as _;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("failed to start pipectl")?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.as_bytes())?;
    Ok(child.wait_with_output()?)
}
