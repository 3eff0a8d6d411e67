//! Flags that mean one thing everywhere: `-q`/`-v`, `-o -`, `--lines`
//! framing, durations and sizes in one syntax.

use pipectl_testkit::{plugin, root};

use crate::support::{Sandbox, ok};

#[test]
fn quiet_silences_warnings_and_verbose_says_more() {
    let sb = Sandbox::new();
    let plugins = sb.path("plugins");
    std::fs::create_dir(&plugins).unwrap();
    for name in ["normalizer", "validator"] {
        std::fs::copy(plugin(name), plugins.join(format!("{name}.wasm"))).unwrap();
    }
    let args = ["run", "--plugins", "plugins", "--order-by-name"];
    let out = sb.run_stdin(&args, "a b c");
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning"));
    let out = sb.run_stdin(&[&args[..], &["-q"]].concat(), "a b c");
    assert_eq!(ok(&out), "a b c");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "-q: nothing on stderr"
    );
    // An error still reaches stderr under -q.
    let out = sb.run(&["-q", "run", "missing.wasm"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.wasm"));
    // -v (global: before or after the subcommand) says how stages loaded.
    let quiet = sb.run_stdin(&["run", "plugins/normalizer.wasm"], "x");
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("stage `normalizer`"));
    let out = sb.run_stdin(&["run", "plugins/normalizer.wasm", "-v"], "x");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pipectl: stage `normalizer`: "),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // -q and -v together are a usage error.
    assert_eq!(
        sb.run(&["-q", "-v", "run", "x.wasm"]).status.code(),
        Some(2)
    );
}

#[test]
fn dash_o_dash_writes_the_component_to_stdout() {
    let sb = Sandbox::new();
    let manifest = root().join("pipeline.toml");
    let manifest = manifest.to_str().unwrap();
    ok(&sb.run(&["compose", manifest, "-o", "file.wasm"]));
    let out = sb.run(&["compose", manifest, "-o", "-"]);
    ok(&out);
    assert_eq!(out.stdout, std::fs::read(sb.path("file.wasm")).unwrap());
    assert!(!sb.path("-").exists(), "no file named `-`");
    assert!(String::from_utf8_lossy(&out.stderr).contains("composed 3 stages"));
    // With --format json the report needs stdout: refused.
    let out = sb.run(&["compose", manifest, "-o", "-", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    // fetch as well.
    ok(&sb.run(&["publish", "file.wasm", "oci-layout:store:0.1.0"]));
    let out = sb.run(&["fetch", "oci-layout:store:0.1.0", "-o", "-"]);
    ok(&out);
    assert_eq!(out.stdout, std::fs::read(sb.path("file.wasm")).unwrap());
    assert!(!sb.path("-").exists());
}

#[test]
fn lines_frames_multi_line_results_one_per_line() {
    let sb = Sandbox::new();
    let counter = plugin("counter");
    let out = sb.run_stdin(
        &["run", counter.to_str().unwrap(), "--lines"],
        "a b c\nback\\slash here\n",
    );
    let text = ok(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "Words: 3, Lines: 1, Chars: 5\\n\\na b c",
            "Words: 2, Lines: 1, Chars: 15\\n\\nback\\\\slash here"
        ],
        "one line per result, escaped"
    );
}

#[test]
fn durations_and_sizes_take_one_syntax_in_flags_and_manifests() {
    let sb = Sandbox::new();
    let normalizer = plugin("normalizer");
    let n = normalizer.to_str().unwrap();
    // A bare number is milliseconds, as in a manifest; units work too.
    for timeout in ["250", "250ms", "1s", "1m 30s"] {
        ok(&sb.run_stdin(&["run", n, "--timeout", timeout], "x"));
    }
    for size in ["67108864", "64MiB", "64 MB"] {
        ok(&sb.run_stdin(&["run", n, "--max-memory", size], "x"));
    }
    let out = sb.run_stdin(&["run", n, "--timeout", "soon"], "x");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("soon"));
    // `pipectl test` takes the same syntax.
    let cases = root().join("tests/conformance/normalizer.toml");
    ok(&sb.run(&[
        "test",
        cases.to_str().unwrap(),
        "--component",
        n,
        "--timeout",
        "2s",
        "--max-memory",
        "64MiB",
    ]));
}
