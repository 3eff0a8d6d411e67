//! Developer tasks, run as `cargo xtask <task>`:
//!
//! - `plugins`: build the example plugins for `wasm32-wasip2` into
//!   `target/plugins/`.
//! - `demo`: the main job end to end (build plugins, check, compose, run,
//!   publish to and fetch from the embedded store).
//! - `adapters`: rebuild the `compose --adapter` adapters into
//!   `crates/pipectl-compose/adapters/` (`--check`: fail when those are stale).
//! - `test`: install what a fresh machine lacks, then run every test.
//! - `bench`: the benchmarks, printing ratios against baselines.
//! - `docs`: regenerate generated documentation (the WIT-diff rule catalog).

// The tasks that link pipectl's libraries: built only with the `libs`
// feature (see Cargo.toml), which `bench` and `docs` rebuild xtask with.
#[cfg(feature = "libs")]
mod bench;
#[cfg(feature = "libs")]
mod bench_copy;
#[cfg(feature = "libs")]
mod bench_serve;
#[cfg(feature = "libs")]
mod bench_wire;
mod demo;
#[cfg(feature = "libs")]
mod docs;
mod fuzz;
mod util;

use std::process::ExitCode;

use anyhow::{Context as _, bail};

use util::{cargo, root, run};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  plugins   build the example plugins (wasm32-wasip2) into target/plugins/
  demo      build, check, compose, run, publish and fetch: the main job end to end
  adapters  rebuild the compose adapters into crates/pipectl-compose/adapters/ (--check: fail if stale)
  test      install what a fresh machine lacks, then run every test
  bench     run the benchmarks and print ratios against baselines
  docs      regenerate docs/wit-diff-rules.md from the rule catalog
  fuzz      run the cargo-fuzz targets in fuzz/ ([--time SECS] [TARGET...])
  man       write the man pages (clap_mangen) and the shell completions into target/man
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("plugins") => plugins().map(|_| ()),
        Some("demo") => demo::run(),
        Some("adapters") => adapters(args.get(1).is_some_and(|a| a == "--check")),
        Some("test") => test(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("docs") => docs(),
        Some("fuzz") => fuzz::run_fuzz(&args[1..]),
        Some("man") => man(),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo xtask bench`: in the `bench` profile (release-like; `--dev` for a
/// quick look in the dev profile), xtask with its `libs` feature and
/// `pipectl` are built by one cargo invocation, so their dependencies are
/// built once with one feature set, then that xtask runs the benchmarks.
fn bench(args: &[String]) -> anyhow::Result<()> {
    #[cfg(feature = "libs")]
    if std::env::var_os(demo::PIPECTL_ENV).is_some() {
        let args: Vec<String> = args.iter().filter(|a| *a != "--dev").cloned().collect();
        return bench::run(&args);
    }
    let (profile, dir) = if args.iter().any(|a| a == "--dev") {
        ("dev", "debug")
    } else {
        eprintln!("xtask: building the benchmarks in the `bench` profile (release-like, thin LTO)");
        ("bench", "release")
    };
    let root = root();
    run(cargo().current_dir(&root).args([
        "build",
        "--quiet",
        "--profile",
        profile,
        "-p",
        "pipectl",
        "-p",
        "xtask",
        "--features",
        "xtask/libs",
    ]))?;
    let out = root.join("target").join(dir);
    run(std::process::Command::new(out.join("xtask"))
        .current_dir(&root)
        .env(demo::PIPECTL_ENV, out.join("pipectl"))
        .arg("bench")
        .args(args))
}

/// `cargo xtask docs`: xtask again with its `libs` feature, which has the
/// rule catalog.
fn docs() -> anyhow::Result<()> {
    #[cfg(feature = "libs")]
    return docs::run();
    #[cfg(not(feature = "libs"))]
    run(cargo().current_dir(root()).args([
        "run",
        "--quiet",
        "-p",
        "xtask",
        "--features",
        "libs",
        "--",
        "docs",
    ]))
}

/// The plugins' names, in pipeline order.
pub const PLUGINS: [&str; 3] = ["normalizer", "validator", "counter"];

/// The example extensions of pipectl itself: two hooks and a command plugin.
pub const EXTENSIONS: [&str; 3] = ["require-license", "stamp", "wit-stats"];

/// Makes sure `rustup` has the `wasm32-wasip2` target.
fn ensure_wasm_target() -> anyhow::Result<()> {
    ensure_target("wasm32-wasip2")
}

/// Makes sure `rustup` has `target`.
fn ensure_target(target: &str) -> anyhow::Result<()> {
    let installed = std::process::Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("failed to run `rustup`; install rustup to build the plugins")?;
    let list = String::from_utf8_lossy(&installed.stdout);
    if !list.lines().any(|l| l.trim() == target) {
        eprintln!("xtask: installing the {target} target");
        run(std::process::Command::new("rustup").args(["target", "add", target]))?;
    }
    Ok(())
}

/// The adapters `compose --adapter` embeds, by the file name they ship as.
const ADAPTERS: [&str; 2] = ["cli", "http"];

/// Builds the adapters (`crates/adapters`, `wasm32-unknown-unknown`) and
/// writes them into `crates/pipectl-compose/adapters/`; with `check`,
/// compares instead and fails when a shipped adapter differs from its
/// sources. The build is reproducible: no machine path ends up in it.
fn adapters(check: bool) -> anyhow::Result<()> {
    ensure_target("wasm32-unknown-unknown")?;
    let root = root();
    let target_dir = root.join("target/adapters");
    run(cargo()
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .args([
            "build",
            "--quiet",
            "--locked",
            "--manifest-path",
            "crates/adapters/Cargo.toml",
        ])
        .args(["--target", "wasm32-unknown-unknown", "--release"]))?;
    let shipped = root.join("crates/pipectl-compose/adapters");
    let mut stale = Vec::new();
    for name in ADAPTERS {
        let built = fs_err::read(target_dir.join(format!(
            "wasm32-unknown-unknown/release/pipectl_adapter_{name}.wasm"
        )))?;
        let file = shipped.join(format!("{name}.wasm"));
        if check {
            if std::fs::read(&file).ok().as_deref() != Some(&built[..]) {
                stale.push(file.display().to_string());
            }
        } else {
            fs_err::create_dir_all(&shipped)?;
            fs_err::write(&file, &built)?;
        }
    }
    if !stale.is_empty() {
        bail!(
            "stale adapters, not built from crates/adapters: {}; run `cargo xtask adapters` and commit them",
            stale.join(", ")
        );
    }
    eprintln!(
        "xtask: adapters {} in {}",
        if check { "up to date" } else { "written" },
        shipped.display()
    );
    Ok(())
}

/// Builds the example plugins into `target/plugins/` and the test fixtures
/// (hostile plugins, a WASI-importing plugin, a middleware) into
/// `target/fixtures/`; returns the plugins' directory.
pub fn plugins() -> anyhow::Result<std::path::PathBuf> {
    ensure_wasm_target()?;
    let root = root();
    let target_dir = root.join("target");
    let build = |manifest: &str, names: &[&str], out: &str| -> anyhow::Result<std::path::PathBuf> {
        run(cargo()
            .current_dir(&root)
            .env("CARGO_TARGET_DIR", &target_dir)
            .args(["build", "--quiet", "--manifest-path", manifest])
            .args(["--target", "wasm32-wasip2", "--release"]))?;
        let out = target_dir.join(out);
        fs_err::create_dir_all(&out)?;
        for name in names {
            // A library is named with underscores, a binary as it is.
            let release = target_dir.join("wasm32-wasip2/release");
            let lib = release.join(format!("{}.wasm", name.replace('-', "_")));
            let built = if lib.exists() {
                lib
            } else {
                release.join(format!("{name}.wasm"))
            };
            fs_err::copy(&built, out.join(format!("{name}.wasm")))?;
        }
        Ok(out)
    };
    let out = build("crates/plugins/Cargo.toml", &PLUGINS, "plugins")?;
    // Built with the plugins (one workspace), kept apart from them.
    build("crates/plugins/Cargo.toml", &EXTENSIONS, "extensions")?;
    build("tests/fixtures/plugins/Cargo.toml", &FIXTURES, "fixtures")?;
    eprintln!("xtask: plugins built in {}", out.display());
    Ok(out)
}

/// The fixture components built from `tests/fixtures/plugins`.
pub const FIXTURES: [&str; 9] = [
    "hostile",
    "fs-reader",
    "audit",
    "http-probe",
    "sleeper",
    "tagger",
    "tcp-probe",
    "scripted-hook",
    "types-echo",
];

/// jco, pinned: the tests run conformance cases on Node.js through it.
const JCO: &str = "@bytecodealliance/jco@1.35.0";

/// Installs jco, pinned, under `target/tools/jco/` (npm's own cache makes
/// that fast after the first time).
pub(crate) fn jco() -> anyhow::Result<()> {
    let dir = root().join("target/tools/jco");
    let pinned = dir.join("pinned");
    let bin = dir.join("node_modules/.bin/jco");
    if bin.exists() && std::fs::read_to_string(&pinned).unwrap_or_default() == JCO {
        return Ok(());
    }
    eprintln!("xtask: installing {JCO} into {}", dir.display());
    fs_err::create_dir_all(&dir)?;
    run(std::process::Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
        .arg(&dir)
        .arg(JCO))?;
    fs_err::write(&pinned, JCO)?;
    Ok(())
}

/// componentize-py, pinned: the tests build a hook in Python with it.
const COMPONENTIZE_PY: &str = "componentize-py==0.19.3";

/// Builds the Python fixtures with componentize-py into `target/fixtures/`:
/// `python-hook` (a pipectl hook) and `python-normalizer` (the normalizer's
/// contract in Python); componentize-py is installed, pinned, into a
/// virtual environment under `target/tools/` (pip's own cache makes that
/// fast after the first time).
fn python_fixtures() -> anyhow::Result<()> {
    let root = root();
    let venv = root.join("target/tools/componentize-py");
    let tool = venv.join("bin/componentize-py");
    let pinned = venv.join("pinned");
    let current = std::fs::read_to_string(&pinned).unwrap_or_default();
    if !tool.exists() || current != COMPONENTIZE_PY {
        eprintln!(
            "xtask: installing {COMPONENTIZE_PY} into {}",
            venv.display()
        );
        run(std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv))?;
        run(std::process::Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            COMPONENTIZE_PY,
        ]))?;
        fs_err::write(&pinned, COMPONENTIZE_PY)?;
    }
    for (fixture, wit, world) in [
        ("python-hook", "wit/pipectl-hooks/0.1.0", "hook-plugin"),
        ("python-normalizer", "wit/text-transform/0.2.0", "plugin"),
    ] {
        let out = root.join(format!("target/fixtures/{fixture}.wasm"));
        run(std::process::Command::new(&tool)
            .current_dir(root.join("tests/fixtures").join(fixture))
            // No `__pycache__` in the source tree.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .arg("-d")
            .arg(root.join(wit))
            .args(["-w", world, "componentize", "app", "-o"])
            .arg(&out)
            .stdout(std::process::Stdio::null()))?;
    }
    Ok(())
}

/// Debian packages the tests use, by the file each installs: the registry
/// server they start, openssl (the independent check of pipectl's keys and
/// signatures) and GNU time (peak memory of a pipectl process).
const TEST_PACKAGES: [(&str, &str); 3] = [
    ("docker-registry", "/usr/bin/docker-registry"),
    ("openssl", "/usr/bin/openssl"),
    ("time", "/usr/bin/time"),
];

/// Makes sure the Debian packages the tests need are installed.
fn ensure_test_packages() -> anyhow::Result<()> {
    let missing: Vec<&str> = TEST_PACKAGES
        .iter()
        .filter(|(_, file)| !std::path::Path::new(file).exists())
        .map(|(package, _)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!(
        "xtask: installing Debian packages for the tests: {}",
        missing.join(" ")
    );
    let sudo = if util::is_root() { None } else { Some("sudo") };
    let apt = |args: &[&str]| {
        let mut cmd = match sudo {
            Some(s) => {
                let mut c = std::process::Command::new(s);
                c.arg("apt-get");
                c
            }
            None => std::process::Command::new("apt-get"),
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        run(&mut cmd)
    };
    apt(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq"];
    install.extend(&missing);
    apt(&install)?;
    for (package, file) in TEST_PACKAGES {
        if !std::path::Path::new(file).exists() {
            bail!("installed {package}, but {file} is still missing");
        }
    }
    Ok(())
}

/// Builds pipectl and has it write its man pages (clap_mangen) and shell
/// completions (clap_complete) into `target/man`.
fn man() -> anyhow::Result<()> {
    let root = root();
    run(cargo()
        .current_dir(&root)
        .args(["build", "--quiet", "-p", "pipectl"]))?;
    let bin = root.join("target/debug/pipectl");
    let out = root.join("target/man");
    run(std::process::Command::new(&bin)
        .arg("man")
        .arg("--out")
        .arg(&out))?;
    for shell in ["bash", "zsh", "fish"] {
        let script = std::process::Command::new(&bin)
            .args(["completions", shell])
            .output()?;
        anyhow::ensure!(
            script.status.success(),
            "pipectl completions {shell} failed"
        );
        fs_err::write(out.join(format!("pipectl.{shell}")), script.stdout)?;
    }
    println!("man pages and completions in {}", out.display());
    Ok(())
}

/// Runs every test: the plugins' logic, then the workspace (which uses the
/// built plugins and a real registry server).
fn test(extra: &[String]) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    let took = |what: &str| eprintln!("xtask: {what} ({:.0?} in all)", start.elapsed());
    ensure_test_packages()?;
    adapters(true)?;
    took("adapters checked");
    plugins()?;
    took("plugins built");
    python_fixtures()?;
    jco()?;
    took("pinned tools ready");
    let root = root();
    run(cargo().current_dir(&root).args([
        "test",
        "--quiet",
        "--manifest-path",
        "crates/plugins/Cargo.toml",
        "-p",
        "text-transforms",
    ]))?;
    run(cargo()
        .current_dir(&root)
        .args(["test", "--workspace"])
        .args(extra))?;
    Ok(())
}
