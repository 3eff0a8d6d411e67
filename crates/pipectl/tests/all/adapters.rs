//! `compose --adapter`: the adapted components check against the WASI
//! worlds and import only what the adapter needs; they run on an engine
//! pipectl did not write (jco, on Node.js) and answer exactly as `pipectl
//! run` and `pipectl serve` do, for the same inputs.

use std::collections::BTreeSet;

use pipectl_testkit::{JcoServe, fixture, jco, plugin, root};

use crate::serve::{Server, exchange};
use crate::support::{Sandbox, fails, json, ok};

/// Writes `pipeline.toml`: `stages` in order, by name and file.
fn manifest(sb: &Sandbox, name: &str, stages: &[(&str, std::path::PathBuf)]) {
    let mut manifest = format!(
        "[pipeline]\nname = \"{name}\"\nversion = \"0.1.0\"\n\
         world = \"example:text-transform/plugin@0.2.0\"\nwit = \"{}\"\n\n",
        root().join("wit/text-transform/0.2.0").display(),
    );
    for (stage, path) in stages {
        manifest.push_str(&format!(
            "[[stage]]\nname = \"{stage}\"\npath = \"{}\"\n",
            path.display()
        ));
    }
    std::fs::write(sb.path("pipeline.toml"), manifest).unwrap();
}

/// normalizer -> hostile (traps on `trap`) -> validator -> counter.
fn pipeline(sb: &Sandbox) {
    manifest(
        sb,
        "adapted",
        &[
            ("normalizer", plugin("normalizer")),
            ("hostile", fixture("hostile")),
            ("validator", plugin("validator")),
            ("counter", plugin("counter")),
        ],
    );
}

/// Composes `pipeline.toml` with `--adapter ADAPTER` into `<adapter>.wasm`;
/// returns the report.
fn adapt(sb: &Sandbox, adapter: &str, extra: &[&str]) -> serde_json::Value {
    let out = format!("{adapter}.wasm");
    let mut args = vec![
        "compose",
        "pipeline.toml",
        "--adapter",
        adapter,
        "-o",
        &out,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    json(&sb.run(&args))
}

fn names(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn adapted_components_check_against_the_wasi_worlds_and_import_only_what_they_need() {
    let sb = Sandbox::new();
    pipeline(&sb);
    let wasi = root().join("wit/pipectl-adapter/0.1.0");
    let wasi = wasi.to_str().unwrap();
    let io = ["wasi:io/error@0.2.4", "wasi:io/streams@0.2.4"];
    for (adapter, world, export, own) in [
        (
            "cli",
            "wasi:cli/command@0.2.4",
            "wasi:cli/run@0.2.4",
            &[
                "wasi:cli/stdin@0.2.4",
                "wasi:cli/stdout@0.2.4",
                "wasi:cli/stderr@0.2.4",
            ][..],
        ),
        (
            "cli-lines",
            "wasi:cli/command@0.2.4",
            "wasi:cli/run@0.2.4",
            &[
                "wasi:cli/stdin@0.2.4",
                "wasi:cli/stdout@0.2.4",
                "wasi:cli/stderr@0.2.4",
            ][..],
        ),
        (
            "http",
            "wasi:http/proxy@0.2.4",
            "wasi:http/incoming-handler@0.2.4",
            &["wasi:http/types@0.2.4"][..],
        ),
    ] {
        let report = adapt(&sb, adapter, &[]);
        let data = &report;
        assert_eq!(data["world"], world, "{report}");
        assert_eq!(data["adapter"], adapter);
        assert_eq!(
            names(&data["exports"]),
            BTreeSet::from([export.to_string()])
        );
        // The stages import nothing: the adapter's WASI is all there is.
        let expected: BTreeSet<String> = io.iter().chain(own).map(|s| s.to_string()).collect();
        assert_eq!(names(&data["imports"]), expected, "{adapter}");
        // The WASI release's own worlds accept it ...
        let file = format!("{adapter}.wasm");
        ok(&sb.run(&["check", &file, "--wit", wasi, "--world", world]));
        // ... and the other one does not (the check can fail).
        let other = if world.starts_with("wasi:cli") {
            "wasi:http/proxy@0.2.4"
        } else {
            "wasi:cli/command@0.2.4"
        };
        let refused = sb.run(&["check", &file, "--wit", wasi, "--world", other]);
        assert_eq!(refused.status.code(), Some(1), "{adapter} against {other}");
    }
    // pipectl's own host runs the plain composition, and says so.
    for adapter in ["cli", "http"] {
        let out = sb.run_stdin(&["run", &format!("{adapter}.wasm")], "a b c");
        let err = fails(&out);
        assert!(err.contains(&format!("--adapter {adapter}")), "{err}");
    }
    // The limit is baked in; a size that is not one is refused.
    let err = fails(&sb.run(&[
        "compose",
        "pipeline.toml",
        "--adapter",
        "http",
        "--max-body",
        "lots",
        "-o",
        "x.wasm",
    ]));
    assert!(err.contains("lots"), "{err}");
    assert!(!sb.path("x.wasm").exists());
}

/// Runs `jco run COMPONENT` with `stdin`.
fn jco_run(component: &std::path::Path, stdin: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut child = std::process::Command::new(jco())
        .arg("run")
        .arg(component)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.as_bytes()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

/// Texts the pipeline accepts, all different.
fn good_inputs(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "input  number {i} has\tseveral   words {}",
                "x".repeat(i % 7)
            )
        })
        .collect()
}

#[test]
fn cli_adapter_under_jco_run_answers_like_pipectl_run() {
    let sb = Sandbox::new();
    pipeline(&sb);
    adapt(&sb, "cli", &[]);
    adapt(&sb, "cli-lines", &[]);
    // 200 inputs, one per line, in one run of each.
    let lines = good_inputs(200).join("\n") + "\n";
    let ours = sb.run_stdin(&["run", "pipeline.toml", "--lines"], &lines);
    let theirs = jco_run(&sb.path("cli-lines.wasm"), &lines);
    assert_eq!(theirs.status.code(), Some(0), "{:?}", theirs);
    assert_eq!(
        String::from_utf8_lossy(&theirs.stdout),
        ok(&ours),
        "jco run and pipectl run --lines differ"
    );
    assert_eq!(String::from_utf8_lossy(&ours.stdout).lines().count(), 200);
    // The whole of stdin as one input.
    let text = "one  text\nover two lines";
    let ours = sb.run_stdin(&["run", "pipeline.toml"], text);
    let theirs = jco_run(&sb.path("cli.wasm"), text);
    assert_eq!(theirs.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&theirs.stdout), ok(&ours));
    // Each error case: `stage: case: message` on stderr, exit code 1.
    for (input, stage, case) in [
        ("two words", "validator", "invalid-input"),
        ("spam and eggs", "validator", "processing-failed"),
    ] {
        let theirs = jco_run(&sb.path("cli.wasm"), input);
        assert_eq!(theirs.status.code(), Some(1), "{input}");
        assert!(theirs.stdout.is_empty());
        let first = String::from_utf8_lossy(&theirs.stderr)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        assert!(first.starts_with(&format!("{stage}: {case}: ")), "{first}");
        let ours = sb.run_stdin(&["run", "pipeline.toml"], input);
        let message = first.splitn(3, ": ").nth(2).unwrap();
        let said = String::from_utf8_lossy(&ours.stderr);
        assert!(
            said.contains(stage) && said.contains(case) && said.contains(message),
            "{said}"
        );
    }
    // A trap: a non-zero exit and no output.
    let theirs = jco_run(&sb.path("cli.wasm"), "trap");
    assert!(!theirs.status.success());
    assert!(theirs.stdout.is_empty());
}

/// The inputs both servers get: accepted texts, each error case, bodies
/// over the limit and bodies that are not UTF-8, interleaved; 200 of them.
fn http_inputs() -> Vec<Vec<u8>> {
    let good = good_inputs(200);
    (0..200)
        .map(|i| match i % 10 {
            3 => format!("two words{i}").into_bytes(),
            5 => format!("spam number {i} here").into_bytes(),
            7 => vec![b'a'; 1025 + i],
            9 => vec![0xff, 0xfe, b' ', b'a', b'b'],
            _ => good[i].clone().into_bytes(),
        })
        .collect()
}

#[test]
fn http_adapter_under_jco_serve_answers_like_pipectl_serve() {
    let sb = Sandbox::new();
    pipeline(&sb);
    adapt(&sb, "http", &["--max-body", "1KiB"]);
    let ours = Server::start(
        &sb,
        &["pipeline.toml", "--max-body", "1KiB", "--workers", "1"],
    );
    let theirs = JcoServe::start(&sb.path("http.wasm"), &[]);
    let mut statuses = BTreeSet::new();
    for (i, body) in http_inputs().iter().enumerate() {
        let path = if i % 2 == 0 { "/" } else { "/any/path" };
        let a = exchange(&ours.url(path), "POST", Some(body));
        let b = exchange(&theirs.url(path), "POST", Some(body));
        assert_eq!(a, b, "input {i}: pipectl serve and jco serve differ");
        statuses.insert(a.0);
    }
    assert_eq!(statuses, BTreeSet::from([200, 400, 413, 422]));
    // Other methods: 405 from both.
    assert_eq!(exchange(&ours.url("/"), "GET", None).0, 405);
    assert_eq!(exchange(&theirs.url("/"), "GET", None).0, 405);
    drop(theirs);

    // A trap is a 5xx on both; the body is the engine's. pipectl serve
    // names the stage and goes on; jco serve must isolate requests in
    // workers to survive one (by default a trap ends the whole server).
    let (status, _, body) = exchange(&ours.url("/"), "POST", Some(b"trap"));
    assert_eq!(status, 500);
    assert!(body.contains("\"stage\":\"hostile\""), "{body}");
    let mut isolated = JcoServe::start(&sb.path("http.wasm"), &["--isolate-requests", "worker"]);
    let (status, _, _) = exchange(&isolated.url("/"), "POST", Some(b"trap"));
    assert!((500..600).contains(&status), "jco serve answered {status}");
    let after = good_inputs(1).pop().unwrap();
    let a = exchange(&ours.url("/"), "POST", Some(after.as_bytes()));
    let b = exchange(&isolated.url("/"), "POST", Some(after.as_bytes()));
    assert_eq!((a.0, &a.2), (200, &b.2));
    assert!(isolated.alive());
}

/// A middleware wraps the rest of the chain: the head calls it as one
/// element, so an error it passes on is named for it.
#[test]
fn a_middleware_in_an_adapted_pipeline_answers_for_what_it_wraps() {
    let sb = Sandbox::new();
    manifest(
        &sb,
        "wrapped",
        &[
            ("normalizer", plugin("normalizer")),
            ("audit", fixture("audit")),
            ("validator", plugin("validator")),
            ("counter", plugin("counter")),
        ],
    );
    adapt(&sb, "cli", &[]);
    // `pipectl run` runs a middleware in the plain composition.
    ok(&sb.run(&["compose", "pipeline.toml", "-o", "plain.wasm"]));
    let text = "one  two three";
    let theirs = jco_run(&sb.path("cli.wasm"), text);
    assert_eq!(theirs.status.code(), Some(0), "{theirs:?}");
    let ours = sb.run_stdin(&["run", "plain.wasm"], text);
    assert_eq!(String::from_utf8_lossy(&theirs.stdout), ok(&ours));
    assert!(ok(&ours).ends_with("-- audited"));
    let theirs = jco_run(&sb.path("cli.wasm"), "two words");
    assert_eq!(theirs.status.code(), Some(1));
    let said = String::from_utf8_lossy(&theirs.stderr);
    assert!(
        said.starts_with("audit: invalid-input: expected at least 3 words, found 2\n"),
        "{said}"
    );
}
