//! `pipectl check` and `pipectl wit diff` on hostile inputs: FIFOs, devices
//! and directories where files are expected (refused, never opened, exit
//! 2), and WIT whose naive diff takes exponential time. Each run has a
//! deadline, so a regression fails instead of hanging the suite.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pipectl_testkit::{contract, root};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs pipectl from the repository root; kills it and fails the test when
/// it is still running after `limit`.
fn pipectl_within(args: &[&str], limit: Duration) -> Run {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pipectl starts");
    loop {
        if child.try_wait().expect("wait for pipectl").is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`pipectl {}` still ran after {limit:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = started.elapsed();
    let out = child.wait_with_output().expect("pipectl's output");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took,
    }
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Names of the entries of `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn cli_check_refuses_fifos_devices_and_directories_as_components() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("plugin.wasm");
    mkfifo(&fifo);
    let wit = contract("0.2.0");
    let wit = wit.to_str().unwrap();
    let fifo_s = fifo.to_str().unwrap();
    for (path, kind) in [
        (fifo_s, "a FIFO"),
        ("/dev/zero", "a device"),
        (dir.path().to_str().unwrap(), "a directory"),
    ] {
        let run = pipectl_within(&["check", path, "--wit", wit, "--world", "plugin"], LIMIT);
        assert_eq!(run.code, 2, "{path}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{path}");
        assert_eq!(
            run.stderr,
            format!(
                "error: `{path}` is not a regular file (it is {kind}); \
                 pipectl reads a component only from regular files\n"
            ),
            "{path}"
        );
    }
    // JSON: the same error, per component, next to the good one's report.
    let good = pipectl_testkit::test_file("cli/check/version-compatible.wat");
    let run = pipectl_within(
        &[
            "check",
            good.to_str().unwrap(),
            fifo_s,
            "--wit",
            wit,
            "--world",
            "plugin",
            "--format",
            "json",
        ],
        LIMIT,
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["ok"], false, "{report}");
    let json = &report["components"];
    assert_eq!(json[0]["ok"], true, "{json}");
    assert_eq!(json[1]["component"], fifo_s);
    assert!(
        json[1]["error"]
            .as_str()
            .unwrap()
            .contains("is not a regular file (it is a FIFO)"),
        "{json}"
    );
    // Nothing was written, and the FIFO is still a FIFO.
    assert_eq!(listing(dir.path()), ["plugin.wasm"]);
    use std::os::unix::fs::FileTypeExt as _;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn cli_check_and_wit_diff_refuse_fifos_as_wit_files() {
    let dir = tempfile::tempdir().unwrap();
    // A FIFO named as the `--wit` file, and one among a package's files.
    let fifo = dir.path().join("world.wit");
    mkfifo(&fifo);
    let pkg = dir.path().join("pkg");
    std::fs::create_dir(&pkg).unwrap();
    std::fs::copy(
        contract("0.2.0").join("text-transform.wit"),
        pkg.join("a.wit"),
    )
    .unwrap();
    let inner = pkg.join("z.wit");
    mkfifo(&inner);
    let component = pipectl_testkit::test_file("cli/check/version-compatible.wat");
    let component = component.to_str().unwrap();
    for fifo in [&fifo, &inner] {
        let f = fifo.to_str().unwrap();
        let wit = if *fifo == inner {
            pkg.to_str().unwrap()
        } else {
            f
        };
        let run = pipectl_within(
            &["check", component, "--wit", wit, "--world", "plugin"],
            LIMIT,
        );
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert_eq!(
            run.stderr,
            format!(
                "error: `{f}` is not a regular file (it is a FIFO); \
                 pipectl reads a WIT file only from regular files\n"
            )
        );
        let run = pipectl_within(&["wit", "diff", "wit/text-transform/0.2.0", wit], LIMIT);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert_eq!(
            run.stderr,
            format!(
                "error: failed to load the new WIT: `{f}` is not a regular file (it is a FIFO); \
                 pipectl reads a WIT file only from regular files\n"
            )
        );
    }
    assert_eq!(listing(dir.path()), ["pkg", "world.wit"]);
    assert_eq!(listing(&pkg), ["a.wit", "z.wit"]);
}

/// `type a0 = tuple<u8, u8>; type a1 = tuple<a0, a0>; ...`, renamed to
/// `b0, b1, ...` in the new release: 2^n paths through n + 1 definitions.
fn alias_chain(version: &str, prefix: &str, n: usize) -> String {
    let mut src = format!("package test:chain@{version};\n\ninterface api {{\n");
    let _ = writeln!(src, "  type {prefix}0 = tuple<u8, u8>;");
    for k in 1..=n {
        let _ = writeln!(
            src,
            "  type {prefix}{k} = tuple<{prefix}{}, {prefix}{}>;",
            k - 1,
            k - 1
        );
    }
    let _ = writeln!(src, "  f: func(x: {prefix}{n}) -> {prefix}{n};\n}}");
    src
}

#[test]
fn cli_wit_diff_of_renamed_tuple_alias_chains_is_quick() {
    let dir = tempfile::tempdir().unwrap();
    for n in [30, 60] {
        let old = dir.path().join(format!("old-{n}.wit"));
        let new = dir.path().join(format!("new-{n}.wit"));
        std::fs::write(&old, alias_chain("1.0.0", "a", n)).unwrap();
        std::fs::write(&new, alias_chain("2.0.0", "b", n)).unwrap();
        let run = pipectl_within(
            &[
                "wit",
                "diff",
                old.to_str().unwrap(),
                new.to_str().unwrap(),
                "--format",
                "json",
            ],
            LIMIT,
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.took < Duration::from_secs(5),
            "{n} aliases: {:?}",
            run.took
        );
        let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let findings = json["findings"].as_array().unwrap();
        assert_eq!(findings.len(), n + 1, "{json}");
        assert!(
            findings.iter().all(|f| f["rule"] == "type-renamed"),
            "{json}"
        );
        assert_eq!(json["required_bump"], "major", "{json}");
    }
}
