//! What the binary's tests share: a scratch home whose environment holds
//! nothing of the machine's (no docker config, no registry credentials, no
//! cache or key outside it), commands that cannot hang the suite, and
//! assertions on exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The longest any one pipectl command may take in a test before it is
/// killed and the test fails (a hang is a failure, not a stall).
pub const COMMAND_LIMIT: Duration = Duration::from_secs(120);

/// A scratch home. Commands run in its working folder: the top itself, or
/// `work/` one level down (so a file written "outside the working folder"
/// lands where the test can see it).
pub struct Sandbox {
    dir: tempfile::TempDir,
    work: PathBuf,
}

impl Sandbox {
    /// Commands run at the sandbox's top.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().to_path_buf();
        Sandbox { dir, work }
    }

    /// Commands run in `work/`, one level below the top.
    pub fn with_workdir() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir(&work).unwrap();
        Sandbox { dir, work }
    }

    /// A path relative to the working folder.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.work.join(rel)
    }

    /// A path relative to the sandbox's top.
    pub fn top(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `pipectl ARGS` in the working folder, with the cache, the seal key
    /// and the embedded store inside the sandbox and no credentials.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pipectl"));
        c.args(args).current_dir(&self.work).stdin(Stdio::null());
        isolate(&mut c, self.dir.path());
        c
    }

    /// Runs `pipectl ARGS` to the end (at most [`COMMAND_LIMIT`]).
    pub fn run(&self, args: &[&str]) -> Output {
        output_within(self.cmd(args), COMMAND_LIMIT)
    }

    /// Runs `pipectl ARGS` with `stdin` as its input.
    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write as _;
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// The file at `rel` (working folder), or every file under it if it is
    /// a folder, with their bytes: for "untouched" checks. A missing path
    /// is an empty list, so a check that it stays missing works too.
    pub fn snapshot(&self, rel: &str) -> Vec<(PathBuf, Vec<u8>)> {
        snapshot(&self.path(rel))
    }

    /// Every file under the sandbox outside `cache/` and `config/`, for
    /// "nothing else was written" checks.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut all = Vec::new();
        snapshot_into(self.dir.path(), &mut all);
        let mut out: Vec<PathBuf> = all
            .into_iter()
            .map(|(p, _)| p)
            .filter(|p| !p.starts_with(self.top("cache")) && !p.starts_with(self.top("config")))
            .collect();
        out.sort();
        out
    }
}

/// The file at `path`, or every file under it, with their bytes, sorted.
pub fn snapshot(path: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    snapshot_into(path, &mut out);
    out.sort();
    out
}

/// Makes `cmd` see `home` as its whole world: HOME, the cache, the seal
/// key's folder and the embedded store inside it; no XDG folders, registry
/// configuration, credentials or docker config of the machine's.
pub fn isolate(cmd: &mut Command, home: &Path) {
    cmd.env("HOME", home)
        .env("PIPECTL_CACHE_DIR", home.join("cache"))
        .env("PIPECTL_CONFIG_DIR", home.join("config"))
        .env("PIPECTL_STORE", home.join("store"))
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("PIPECTL_CONFIG")
        .env_remove("PIPECTL_REGISTRY_HOST")
        .env_remove("PIPECTL_REGISTRY_USERNAME")
        .env_remove("PIPECTL_REGISTRY_PASSWORD")
        .env_remove("PIPECTL_REGISTRY_TOKEN")
        .env_remove("DOCKER_CONFIG");
}

fn snapshot_into(path: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if meta.is_dir() {
        for e in std::fs::read_dir(path).into_iter().flatten().flatten() {
            snapshot_into(&e.path(), out);
        }
    } else if meta.is_file() {
        out.push((path.to_path_buf(), std::fs::read(path).unwrap()));
    } else {
        out.push((path.to_path_buf(), Vec::new()));
    }
}

/// Runs `cmd`, killing it if it takes longer than `limit`.
pub fn output_within(mut cmd: Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pipectl runs");
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
            panic!("pipectl did not finish within {limit:?}");
        }
    }
}

/// Asserts exit 0; returns stdout.
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "pipectl failed ({}):\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts exit 2 (could not run; never a panic's 101); returns stderr.
pub fn fails(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(2),
        "expected exit 2:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts exit 0; returns stdout parsed as JSON.
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(o)).unwrap()
}

/// The per-input results of `pipectl run --format json`: the envelope's
/// `results`, after checking that `ok` says whether every input passed.
pub fn run_results(stdout: &[u8]) -> Vec<serde_json::Value> {
    let report: serde_json::Value = serde_json::from_slice(stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(stdout)));
    let results = report["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no `results` array: {report}"))
        .clone();
    let all_ok = results.iter().all(|r| r["ok"] == true);
    assert_eq!(
        report["ok"], all_ok,
        "`ok` must say whether every input passed: {report}"
    );
    results
}

/// Asserts exit 1 (a gate said no); returns stderr.
pub fn refused(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected exit 1:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Composes the example pipeline (the repository's `pipeline.toml` with
/// absolute paths) with the CLI, into the sandbox.
pub fn composed(sb: &Sandbox) -> String {
    let manifest = std::fs::read_to_string(pipectl_testkit::root().join("pipeline.toml"))
        .unwrap()
        .replace(
            "\"target/plugins/",
            &format!("\"{}/target/plugins/", pipectl_testkit::root().display()),
        )
        .replace(
            "\"wit/",
            &format!("\"{}/wit/", pipectl_testkit::root().display()),
        )
        .replace(
            "\"tests/",
            &format!("\"{}/tests/", pipectl_testkit::root().display()),
        );
    std::fs::write(sb.path("pipeline.toml"), manifest).unwrap();
    ok(&sb.run(&["compose", "pipeline.toml", "-o", "pipeline.wasm"]));
    sb.path("pipeline.wasm").display().to_string()
}

/// Asserts that a call stopped by a `limit` deadline took at least the
/// limit and at most twice it plus 500 ms: the lower bound is exact (the
/// deadline cannot fire early), the upper one generous enough for a loaded
/// 2-core machine yet far below what the call would take unstopped.
pub fn assert_deadline(took: Duration, limit: Duration) {
    assert!(
        took >= limit && took <= limit * 2 + Duration::from_millis(500),
        "stopped after {took:?}; the limit is {limit:?}"
    );
}
