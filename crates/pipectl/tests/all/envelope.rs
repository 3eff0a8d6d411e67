//! One CLI: every command's JSON, on success and on each kind of failure,
//! is one object on stdout with `ok` first, valid against its schema in
//! `docs/json/`; exit codes and error kinds are the ones `docs/cli.md`
//! documents; completions, man pages and `--version` work.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;

use pipectl_testkit::{fixture, plugin, root};

use crate::support::Sandbox;

/// The rows of a markdown table in `docs/cli.md` under `heading`: cells,
/// without the header and the separator.
fn table(heading: &str) -> Vec<Vec<String>> {
    let doc = std::fs::read_to_string(root().join("docs/cli.md")).unwrap();
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with(heading))
        .unwrap_or_else(|| panic!("docs/cli.md has no `## {heading}`"));
    section
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect()
        })
        .collect()
}

/// `docs/cli.md`'s error kinds and their exit codes.
fn documented_kinds() -> BTreeMap<String, i32> {
    table("Error kinds")
        .into_iter()
        .map(|row| (row[0].clone(), row[1].parse().unwrap()))
        .collect()
}

/// `docs/cli.md`'s commands, their exit codes and schema names.
fn documented_commands() -> BTreeMap<String, (BTreeSet<i32>, Option<String>)> {
    table("JSON")
        .into_iter()
        .map(|row| {
            let codes = row[1]
                .split(',')
                .filter_map(|c| c.trim().parse().ok())
                .collect();
            let schema = row[3]
                .split("json/")
                .nth(1)
                .map(|s| s.split(".schema.json").next().unwrap().to_string());
            (row[0].clone(), (codes, schema))
        })
        .collect()
}

fn validator(name: &str) -> jsonschema::Validator {
    let path = root().join(format!("docs/json/{name}.schema.json"));
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("{}: not a valid schema: {e}", path.display()))
}

fn assert_valid(schema: &str, value: &serde_json::Value, context: &str) {
    let v = validator(schema);
    let errors: Vec<String> = v.iter_errors(value).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{context}: not valid against docs/json/{schema}.schema.json:\n{}\n{value:#}",
        errors.join("\n")
    );
}

/// What one run must show.
struct Expect<'a> {
    /// The row of `docs/cli.md`.
    command: &'a str,
    /// The exit code.
    exit: i32,
    /// The schema of stdout: the command's, or `error` with its kind.
    schema: &'a str,
    kind: Option<&'a str>,
}

/// Checks one `--format json` run against the documentation; returns stdout.
fn check(out: &Output, want: Expect<'_>, args: &[&str]) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let context = format!("pipectl {}\nstderr: {stderr}", args.join(" "));
    assert_eq!(
        out.status.code(),
        Some(want.exit),
        "{context}\nstdout: {stdout}"
    );
    let (codes, _) = &documented_commands()[want.command];
    assert!(
        codes.contains(&want.exit),
        "docs/cli.md does not list exit {} for `{}`",
        want.exit,
        want.command
    );
    // One object, `ok` first, and `ok` agrees with the exit code.
    assert!(
        stdout.starts_with("{\n  \"ok\": "),
        "{context}: stdout is not one object with `ok` first:\n{stdout}"
    );
    let value: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{context}: stdout is not JSON ({e}):\n{stdout}"));
    assert_eq!(value["ok"], want.exit == 0, "{context}");
    assert_valid(want.schema, &value, &context);
    if let Some(kind) = want.kind {
        assert_eq!(value["error"]["kind"], kind, "{context}");
        assert_eq!(
            documented_kinds().get(kind),
            Some(&want.exit),
            "docs/cli.md must list kind `{kind}` with exit {}",
            want.exit
        );
        assert!(
            stderr.contains("error: "),
            "stderr repeats the error: {context}"
        );
    }
    value
}

fn ok<'a>(command: &'a str, schema: &'a str) -> Expect<'a> {
    Expect {
        command,
        exit: 0,
        schema,
        kind: None,
    }
}

fn gate<'a>(command: &'a str, schema: &'a str) -> Expect<'a> {
    Expect {
        command,
        exit: 1,
        schema,
        kind: None,
    }
}

fn error<'a>(command: &'a str, exit: i32, kind: &'a str) -> Expect<'a> {
    Expect {
        command,
        exit,
        schema: "error",
        kind: Some(kind),
    }
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

#[test]
fn every_command_answers_in_one_json_envelope_documented_in_docs_cli_md() {
    let sb = Sandbox::new();
    let root = root();
    let wit = s(&root.join("wit/text-transform/0.2.0"));
    let (normalizer, validator, counter) = (
        s(&plugin("normalizer")),
        s(&plugin("validator")),
        s(&plugin("counter")),
    );
    let run = |args: &[&str], want: Expect<'_>| check(&sb.run(args), want, args);
    let run_in = |args: &[&str], stdin: &str, want: Expect<'_>| {
        check(&sb.run_stdin(args, stdin), want, args)
    };
    let json = ["--format", "json"];
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(json.iter())
            .map(|a| a.to_string())
            .collect()
    };

    // check: ok, findings (1), a component that cannot be read (2, still
    // the check report), WIT that does not load (2, the envelope).
    let a = with(&["check", &normalizer, "--wit", &wit, "--world", "plugin"]);
    run(&refs(&a), ok("check", "check"));
    let a = with(&[
        "check",
        &normalizer,
        "--wit",
        &wit,
        "--world",
        "counter-plugin",
    ]);
    let v = run(&refs(&a), gate("check", "check"));
    assert!(
        !v["components"][0]["findings"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let a = with(&["check", "missing.wasm", "--wit", &wit, "--world", "plugin"]);
    let v = run(
        &refs(&a),
        Expect {
            command: "check",
            exit: 2,
            schema: "check",
            kind: None,
        },
    );
    assert_eq!(v["components"][0]["ok"], false);
    let a = with(&[
        "check",
        &normalizer,
        "--wit",
        "nowhere",
        "--world",
        "plugin",
    ]);
    run(&refs(&a), error("check", 2, "wit"));
    // A usage error is an envelope too.
    let a = with(&["check", &normalizer]);
    run(&refs(&a), error("check", 2, "usage"));

    // wit diff: ok, breaking drift (1), a missing release (2).
    let (v1, v2) = (
        s(&root.join("tests/cli/wit-diff/v1.wit")),
        s(&root.join("tests/cli/wit-diff/v2.wit")),
    );
    let a = with(&["wit", "diff", &v1, &v2]);
    let drift = sb.run(&refs(&a));
    let exit = drift.status.code().unwrap();
    assert!(exit == 0 || exit == 1);
    check(
        &drift,
        Expect {
            command: "wit diff",
            exit,
            schema: "wit-diff",
            kind: None,
        },
        &refs(&a),
    );
    let a = with(&["wit", "diff", &v1, &v1]);
    run(&refs(&a), ok("wit diff", "wit-diff"));
    // Several packages: the summary, then each package.
    let (f1, f2) = (
        s(&root.join("tests/cli/wit-diff/flags-old.wit")),
        s(&root.join("tests/cli/wit-diff/flags-new.wit")),
    );
    let a = with(&["wit", "diff", &f1, &f2, "--all-packages"]);
    let v = run(&refs(&a), gate("wit diff", "wit-diff"));
    assert_eq!(v["packages"].as_array().map(Vec::len), Some(2), "{v}");
    let a = with(&["wit", "diff", &v1, "missing.wit"]);
    run(&refs(&a), error("wit diff", 2, "wit"));

    // compose: ok, a stage that does not fit (1), a missing manifest (2).
    let a = with(&["compose", &s(&root.join("pipeline.toml")), "-o", "p.wasm"]);
    let v = run(&refs(&a), ok("compose", "compose"));
    assert_eq!(v["output_file"], "p.wasm");
    let bad = s(&root.join("tests/cli/compose/incompatible-versions.toml"));
    let a = with(&["compose", &bad, "-o", "bad.wasm"]);
    run(&refs(&a), error("compose", 1, "stage_rejected"));
    assert!(!sb.path("bad.wasm").exists());
    let a = with(&["compose", "missing.toml", "-o", "x.wasm"]);
    run(&refs(&a), error("compose", 2, "manifest"));

    // run: ok with statistics, a rejected input (1), a denied capability
    // (1), a missing component (2).
    let a = with(&["run", "p.wasm", "--stats-json", "stats.json"]);
    let v = run_in(&refs(&a), "a b c", ok("run", "run"));
    assert!(v["results"][0]["output_text"].is_string());
    let stats: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sb.path("stats.json")).unwrap()).unwrap();
    assert_valid("run-stats", &stats, "--stats-json");
    let a = with(&["run", "p.wasm"]);
    let v = run_in(&refs(&a), "two words", gate("run", "run"));
    assert_eq!(v["results"][0]["error"]["kind"], "rejected");
    let a = with(&["run", &s(&fixture("fs-reader"))]);
    run_in(&refs(&a), "/x", error("run", 1, "capability_denied"));
    let a = with(&["run", "missing.wasm"]);
    run_in(&refs(&a), "", error("run", 2, "io"));

    // test: ok, a failing case (1), a broken case file (2).
    let cases = s(&root.join("tests/conformance/validator.toml"));
    let a = with(&["test", &cases, "--component", &validator]);
    run(&refs(&a), ok("test", "test"));
    std::fs::write(
        sb.path("wrong.toml"),
        "[[case]]\nname = \"wrong\"\ninvoke = 'transform(\"a b c\")'\nexpect = 'ok(\"c b a\")'\n",
    )
    .unwrap();
    let a = with(&["test", "wrong.toml", "--component", &validator]);
    run(&refs(&a), gate("test", "test"));
    std::fs::write(sb.path("broken.toml"), "[[case]]\nname = 3\n").unwrap();
    let a = with(&["test", "broken.toml", "--component", &validator]);
    run(&refs(&a), error("test", 2, "case_file"));

    // compare: promote (0), a changed output (1), no inputs file (2).
    std::fs::write(sb.path("inputs.txt"), "a  b\nc   d\n").unwrap();
    let a = with(&[
        "compare",
        &normalizer,
        &normalizer,
        "--inputs",
        "inputs.txt",
        "--lines",
    ]);
    run(&refs(&a), ok("compare", "compare"));
    let a = with(&[
        "compare",
        &normalizer,
        &counter,
        "--inputs",
        "inputs.txt",
        "--lines",
    ]);
    run(&refs(&a), gate("compare", "compare"));
    let a = with(&["compare", &normalizer, &counter, "--inputs", "missing.txt"]);
    run(&refs(&a), error("compare", 2, "io"));

    // publish: ok, other bytes under the same version (1), no tag (2).
    let a = with(&["publish", &normalizer, "oci-layout:store:0.1.0"]);
    run(&refs(&a), ok("publish", "publish"));
    let a = with(&["publish", &counter, "oci-layout:store:0.1.0"]);
    run(&refs(&a), error("publish", 1, "version_exists"));
    let a = with(&["publish", &counter, "oci-layout:store@sha256:00"]);
    let out = sb.run(&refs(&a));
    check(&out, error("publish", 2, "reference"), &refs(&a));

    // fetch: ok, `--locked` drift (1), a version that does not exist (2).
    let a = with(&["fetch", "oci-layout:store:0.1.0", "-o", "n.wasm"]);
    let v = run(&refs(&a), ok("fetch", "fetch"));
    assert_eq!(v["output_file"], "n.wasm");
    run(
        &[
            "publish",
            &counter,
            "oci-layout:store:0.2.0",
            "--format",
            "json",
        ],
        ok("publish", "publish"),
    );
    let a = with(&[
        "fetch",
        "oci-layout:store:0.2.0",
        "-o",
        "c.wasm",
        "--locked",
    ]);
    run(&refs(&a), error("fetch", 1, "locked_drift"));
    let a = with(&["fetch", "oci-layout:store:9.0.0", "-o", "x.wasm"]);
    run(&refs(&a), error("fetch", 2, "not_found"));

    // keys, sign and verify.
    let a = with(&["key", "generate"]);
    run(&refs(&a), ok("key generate", "key-generate"));
    let a = with(&["key", "generate", "--name", "other"]);
    run(&refs(&a), ok("key generate", "key-generate"));
    let a = with(&["key", "generate"]);
    run(&refs(&a), error("key generate", 2, "error"));
    let a = with(&["key", "public", "--key", "pipectl.key"]);
    run(&refs(&a), ok("key public", "key-public"));
    let a = with(&["key", "public", "--key", "missing.pem"]);
    let out = sb.run(&refs(&a));
    assert_eq!(out.status.code(), Some(2));
    check(&out, error("key public", 2, "io"), &refs(&a));
    let a = with(&["sign", "oci-layout:store:0.1.0", "--key", "pipectl.key"]);
    run(&refs(&a), ok("sign", "sign"));
    let a = with(&["sign", "oci-layout:store:0.1.0", "--key", "pipectl.pub"]);
    run(&refs(&a), error("sign", 2, "key"));
    let a = with(&["verify", "oci-layout:store:0.1.0", "--key", "pipectl.pub"]);
    run(&refs(&a), ok("verify", "verify"));
    let a = with(&["verify", "oci-layout:store:0.1.0", "--key", "other.pub"]);
    let v = run(&refs(&a), gate("verify", "verify"));
    assert_eq!(v["verified"], false);
    let a = with(&["verify", "oci-layout:store:7.0.0", "--key", "pipectl.pub"]);
    run(&refs(&a), error("verify", 2, "not_found"));

    // inspect: a file, an artifact with its attestations, nothing (2).
    let a = with(&["inspect", "p.wasm"]);
    let v = run(&refs(&a), ok("inspect", "inspect"));
    assert_eq!(v["pipeline"]["stages"].as_array().map(Vec::len), Some(3));
    let a = with(&[
        "publish",
        "p.wasm",
        "oci-layout:store:3.0.0",
        "--attest",
        "--sign",
        "--key",
        "pipectl.key",
    ]);
    let v = run(&refs(&a), ok("publish", "publish"));
    assert_eq!(v["attestations"].as_array().map(Vec::len), Some(2));
    let a = with(&["inspect", "oci-layout:store:3.0.0", "--key", "pipectl.pub"]);
    let v = run(&refs(&a), ok("inspect", "inspect"));
    assert_eq!(v["attestations"].as_array().map(Vec::len), Some(2));
    let a = with(&["verify", "oci-layout:store:3.0.0", "--key", "pipectl.pub"]);
    run(&refs(&a), ok("verify", "verify"));
    let a = with(&["inspect", "oci-layout:store:8.0.0"]);
    run(&refs(&a), error("inspect", 2, "not_found"));

    // plugin add and list: a hook recorded, one that is not a plugin.
    let stamp = s(&pipectl_testkit::extension("stamp"));
    let a = with(&["plugin", "add", &stamp, "--optional"]);
    let v = run(&refs(&a), ok("plugin add", "plugin-add"));
    assert_eq!(v["events"], serde_json::json!(["before-publish"]));
    let a = with(&["plugin", "add", &counter]);
    run(&refs(&a), error("plugin add", 2, "not_a_plugin"));
    let a = with(&["plugin", "list"]);
    let v = run(&refs(&a), ok("plugin list", "plugin-list"));
    assert_eq!(v["plugins"][0]["name"], "stamp");
    // With a hook recorded, publish answers as before.
    let a = with(&[
        "publish",
        &normalizer,
        "oci-layout:store:9.0.0",
        "--annotation",
        "org.opencontainers.image.vendor=x",
    ]);
    run(&refs(&a), ok("publish", "publish"));
}

/// Every kind the binary can answer is documented, with its exit code.
#[test]
fn every_error_kind_in_the_source_is_documented() {
    let documented = documented_kinds();
    let mut found = BTreeMap::new();
    let src = root().join("crates/pipectl/src");
    let mut files = vec![src.join("cli/failure.rs")];
    for dir in ["cli", "cmd"] {
        for entry in std::fs::read_dir(src.join(dir)).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (marker, exit) in [
            ("gate(\"", 1),
            ("broken(\"", 2),
            ("Gate::new(\n", 1),
            ("Gate::new(\"", 1),
        ] {
            for piece in text.split(marker).skip(1) {
                let piece = piece.trim_start().trim_start_matches('"');
                let kind: String = piece
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !kind.is_empty() {
                    found.insert(kind, exit);
                }
            }
        }
    }
    assert!(found.len() > 20, "the scan found too little: {found:?}");
    for (kind, exit) in &found {
        assert_eq!(
            documented.get(kind),
            Some(exit),
            "kind `{kind}` (exit {exit}) must be in docs/cli.md's error kinds"
        );
    }
}

#[test]
fn completions_man_pages_and_version() {
    let sb = Sandbox::new();
    let out = sb.run(&["completions", "bash"]);
    let script = crate::support::ok(&out);
    assert!(
        script.contains("_pipectl()") && script.contains("compose") && script.contains("--format"),
        "{script}"
    );
    // bash itself accepts the script.
    std::fs::write(sb.path("pipectl.bash"), &script).unwrap();
    let parsed = std::process::Command::new("bash")
        .arg("-n")
        .arg(sb.path("pipectl.bash"))
        .status()
        .unwrap();
    assert!(parsed.success(), "bash -n refused the completion script");

    let out = sb.run(&["man", "--out", "man"]);
    crate::support::ok(&out);
    let page = std::fs::read_to_string(sb.path("man/pipectl.1")).unwrap();
    assert!(
        page.starts_with(".ie") || page.contains(".TH pipectl"),
        "{page}"
    );
    assert!(page.contains("Exit codes"), "the footer is in the page");
    assert!(sb.path("man/pipectl-compose.1").exists());

    let version = crate::support::ok(&sb.run(&["--version"]));
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(head) = head {
        assert!(
            version.contains(&head),
            "--version names the commit {head}: {version}"
        );
    }
    assert!(
        version.contains("wasmtime ") && version.contains("wit-component"),
        "{version}"
    );
    // Every --help ends with the exit codes.
    for args in [
        &["--help"][..],
        &["run", "--help"],
        &["wit", "diff", "--help"],
    ] {
        let help = crate::support::ok(&sb.run(args));
        assert!(
            help.contains("Exit codes: 0 ok; 1 a gate said no"),
            "{args:?}"
        );
    }
}
