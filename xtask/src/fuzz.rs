//! `cargo xtask fuzz [--time SECS] [TARGET...]`: runs the cargo-fuzz
//! targets in `fuzz/`, each for `--time` seconds (default 60), seeding their
//! corpora from the repository's own files, and prints executions and
//! coverage per target.
//!
//! cargo-fuzz needs nightly compiler flags (`-Zsanitizer`, sanitizer
//! coverage); on a stable toolchain they are unlocked with
//! `RUSTC_BOOTSTRAP=1`, set here for the fuzz build only. AddressSanitizer
//! is used when it builds, `--sanitizer none` otherwise. The fuzz build has
//! its own target folder, `fuzz/target`.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

use crate::util::{cargo, root, run};

/// The fuzz targets, as named in `fuzz/Cargo.toml`.
pub const TARGETS: [&str; 6] = [
    "check",
    "wit_diff",
    "manifest",
    "lockfile",
    "reference",
    "oci_manifest",
];

const USAGE: &str = "usage: cargo xtask fuzz [--time SECS] [TARGET...]\n\ntargets: check, wit_diff, manifest, lockfile, reference, oci_manifest (default: all)";

/// What one run of a target reported.
struct Outcome {
    target: String,
    /// libFuzzer's last status line (`#N DONE cov: X ft: Y corp: ...`).
    last: Option<String>,
    crashed: bool,
}

/// Runs `cargo xtask fuzz`.
pub fn run_fuzz(args: &[String]) -> anyhow::Result<()> {
    let mut time = 60u64;
    let mut targets = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--time" => {
                let v = it.next().context("`--time` needs a number of seconds")?;
                time = v
                    .parse()
                    .with_context(|| format!("`--time {v}`: expected a number of seconds"))?;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            t if TARGETS.contains(&t) => targets.push(t.to_string()),
            other => bail!("unknown fuzz target or option `{other}`\n{USAGE}"),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.iter().map(|t| t.to_string()).collect();
    }
    ensure_cargo_fuzz()?;
    let fuzz_dir = root().join("fuzz");
    let sanitizer = pick_sanitizer(&fuzz_dir, &targets[0])?;
    let mut outcomes = Vec::new();
    for target in &targets {
        let corpus = fuzz_dir.join("corpus").join(target);
        let seeds = seed(target, &corpus)?;
        eprintln!("xtask: fuzzing `{target}` for {time} s ({seeds} seed files added)");
        outcomes.push(run_target(&fuzz_dir, target, sanitizer, &corpus, time)?);
    }
    println!(
        "\n{:<14} {:>12}  {:>8}  {:>8}  result",
        "target", "executions", "cov", "ft"
    );
    for o in &outcomes {
        let field = |name: &str| {
            o.last
                .as_deref()
                .and_then(|l| stat(l, name))
                .unwrap_or("-")
                .to_string()
        };
        let runs = o
            .last
            .as_deref()
            .and_then(|l| l.strip_prefix('#'))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or("-");
        println!(
            "{:<14} {:>12}  {:>8}  {:>8}  {}",
            o.target,
            runs,
            field("cov:"),
            field("ft:"),
            if o.crashed {
                "CRASH (see fuzz/artifacts/)"
            } else {
                "ok"
            }
        );
    }
    let crashed: Vec<_> = outcomes
        .iter()
        .filter(|o| o.crashed)
        .map(|o| o.target.as_str())
        .collect();
    if !crashed.is_empty() {
        bail!(
            "fuzz target(s) {} found a crash; the input is in fuzz/artifacts/<target>/",
            crashed.join(", ")
        );
    }
    Ok(())
}

/// The value after `name` in a libFuzzer status line.
fn stat<'l>(line: &'l str, name: &str) -> Option<&'l str> {
    let mut words = line.split_whitespace();
    words.find(|w| *w == name)?;
    words.next()
}

/// A `cargo fuzz` command with nightly flags unlocked on stable.
fn cargo_fuzz(fuzz_dir: &Path) -> Command {
    let mut cmd = cargo();
    cmd.arg("fuzz")
        .current_dir(fuzz_dir)
        .env("RUSTC_BOOTSTRAP", "1")
        // The fuzz workspace has its own target folder, `fuzz/target`.
        .env_remove("CARGO_TARGET_DIR");
    cmd
}

fn ensure_cargo_fuzz() -> anyhow::Result<()> {
    let installed = cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        eprintln!("xtask: installing cargo-fuzz");
        run(cargo().args(["install", "cargo-fuzz", "--locked"]))?;
    }
    Ok(())
}

/// AddressSanitizer when the fuzz targets build with it, else none.
fn pick_sanitizer(fuzz_dir: &Path, probe: &str) -> anyhow::Result<&'static str> {
    let asan = cargo_fuzz(fuzz_dir)
        .args(["build", "--sanitizer", "address", probe])
        .status()
        .context("failed to run `cargo fuzz build`")?;
    if asan.success() {
        return Ok("address");
    }
    eprintln!(
        "xtask: the fuzz targets do not build with AddressSanitizer here; using `--sanitizer none`"
    );
    run(cargo_fuzz(fuzz_dir).args(["build", "--sanitizer", "none", probe]))?;
    Ok("none")
}

fn run_target(
    fuzz_dir: &Path,
    target: &str,
    sanitizer: &str,
    corpus: &Path,
    time: u64,
) -> anyhow::Result<Outcome> {
    let mut child = cargo_fuzz(fuzz_dir)
        .args(["run", "--sanitizer", sanitizer, target])
        .arg(corpus)
        .args([
            "--",
            &format!("-max_total_time={time}"),
            // One input may take a while (a large component), not forever.
            "-timeout=20",
            "-rss_limit_mb=3072",
            "-max_len=262144",
            "-print_final_stats=1",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("failed to run `cargo fuzz run {target}`"))?;
    let mut last = None;
    let stderr = child.stderr.take().context("piped stderr")?;
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap_or_default();
        eprintln!("{line}");
        if line.starts_with('#') && line.contains(" cov: ") {
            last = Some(line);
        }
    }
    let status = child.wait()?;
    Ok(Outcome {
        target: target.to_string(),
        last,
        crashed: !status.success(),
    })
}

/// Copies seed inputs for `target` from the repository into `corpus`;
/// returns how many new files were added.
fn seed(target: &str, corpus: &Path) -> anyhow::Result<usize> {
    fs_err::create_dir_all(corpus)?;
    let root = root();
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    let mut files = |dir: &Path, exts: &[&str]| -> anyhow::Result<()> {
        for path in walk(dir)? {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if exts.iter().any(|e| name.ends_with(e)) {
                let bytes = fs_err::read(&path)?;
                if bytes.len() <= 256 * 1024 {
                    seeds.push(bytes);
                }
            }
        }
        Ok(())
    };
    match target {
        "check" => {
            files(&root.join("tests/cli/check"), &[".wat", ".wasm"])?;
            files(&root.join("target/plugins"), &[".wasm"])?;
            files(&root.join("target/fixtures"), &[".wasm"])?;
        }
        "wit_diff" => {
            files(&root.join("wit"), &[".wit"])?;
            files(&root.join("tests/cli/wit-diff"), &[".wit"])?;
            // Each rule's old/new pair, joined by the NUL the target splits at.
            for dir in walk(&root.join("tests/diff"))?
                .into_iter()
                .filter(|p| p.ends_with("old.wit"))
            {
                let new = dir.with_file_name("new.wit");
                if let (Ok(mut old), Ok(new)) = (fs_err::read(&dir), fs_err::read(&new)) {
                    old.push(0);
                    old.extend(new);
                    seeds.push(old);
                }
            }
        }
        "manifest" => {
            files(&root, &["pipeline.toml"])?;
            files(&root.join("tests/cli/compose"), &[".toml", ".toml.txt"])?;
        }
        "lockfile" => seeds.push(LOCK_SEED.as_bytes().to_vec()),
        "reference" => {
            seeds.extend(REFERENCE_SEEDS.iter().map(|r| r.as_bytes().to_vec()));
        }
        "oci_manifest" => {
            // The first byte picks the parser: even a manifest, odd an index.
            for path in walk(&root.join("registry-fixtures"))? {
                if path.extension().is_some_and(|e| e == "json") {
                    let mut seed = vec![0];
                    seed.extend(fs_err::read(&path)?);
                    seeds.push(seed);
                }
            }
            let mut index = vec![1];
            index.extend(INDEX_SEED.as_bytes());
            seeds.push(index);
        }
        other => bail!("no seeds for `{other}`"),
    }
    let mut added = 0;
    for bytes in seeds {
        let name = format!("seed-{:016x}", fnv1a(&bytes));
        let path = corpus.join(name);
        if !path.exists() {
            fs_err::write(&path, &bytes)?;
            added += 1;
        }
    }
    Ok(added)
}

/// Every file under `dir` (none when it does not exist), skipping `target`,
/// `.git` and `fuzz` folders below it.
fn walk(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name();
            let ty = entry.file_type()?;
            if ty.is_dir() {
                if !matches!(name.to_str(), Some("target" | ".git" | "fuzz")) {
                    stack.push(path);
                }
            } else if ty.is_file() {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A stable name for a seed: FNV-1a of its bytes.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

const LOCK_SEED: &str = r#"# This file is written by pipectl; do not edit it by hand.
version = 1

[[artifact]]
name = "localhost:5000/plugins/normalizer"
registry = "localhost:5000"
repository = "plugins/normalizer"
requirement = "^0.2"
version = "0.2.0"
manifest = "sha256:f7c8ef4a09393b92c6e07071235ab1bff72c571fc1f6cd8c6127b7d08d70494c"
layer = "sha256:8ca478fc59518e8f79901b4102dae3ac8cc944a4ee8200df3e70f3f7a5729266"
size = 69814
"#;

const REFERENCE_SEEDS: [&str; 8] = [
    "localhost:5000/plugins/normalizer:0.2.0",
    "ghcr.io/example/normalizer@sha256:8ca478fc59518e8f79901b4102dae3ac8cc944a4ee8200df3e70f3f7a5729266",
    "oci-layout:store/plugins:0.1.0",
    "example:normalizer@^0.2",
    "example:normalizer@=0.2.0",
    "127.0.0.1:5000/a/b/c:1.0.0-rc.1+build",
    "[::1]:5000/plugins/counter:0.2.0",
    "user:secret@registry.example.com/x:1.0.0",
];

const INDEX_SEED: &str = r#"{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.index.v1+json",
  "manifests": [
    {
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "digest": "sha256:f7c8ef4a09393b92c6e07071235ab1bff72c571fc1f6cd8c6127b7d08d70494c",
      "size": 812,
      "annotations": { "org.opencontainers.image.ref.name": "0.1.0" }
    }
  ]
}"#;
