//! `pipectl test` (#14): the conformance case files in `tests/conformance/`
//! pass against the three example plugins and the pipeline composed from
//! them; a wrong expectation fails with exit 1 and says expected vs found;
//! a malformed case file exits 2 naming the file, the case and the reason
//! before anything runs.

use pipectl_testkit::{plugin, root};

use crate::support::{Sandbox, composed, fails, json, ok};

/// A tiny component whose `boom` traps and whose `add` adds.
const TRAPS_WAT: &str = r#"(component
  (core module $m
    (func (export "boom") unreachable)
    (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
  (core instance $i (instantiate $m))
  (func (export "boom") (canon lift (core func $i "boom")))
  (func (export "add") (param "a" u32) (param "b" u32) (result u32)
    (canon lift (core func $i "add"))))"#;

fn cases(name: &str) -> String {
    root()
        .join("tests/conformance")
        .join(format!("{name}.toml"))
        .display()
        .to_string()
}

fn wasm(name: &str) -> String {
    plugin(name).display().to_string()
}

#[test]
fn example_cases_pass_against_the_plugins_and_the_composed_pipeline() {
    let sb = Sandbox::with_workdir();
    let contract = cases("text-transform");
    for name in ["normalizer", "validator", "counter"] {
        let own = cases(name);
        let stdout = ok(&sb.run(&["test", &contract, &own, "--component", &wasm(name)]));
        assert!(!stdout.contains('✗'), "{name}:\n{stdout}");
        assert!(stdout.contains("✓ never traps on eight words"), "{stdout}");
    }
    // The composed pipeline: the contract, the pipeline's own cases, and
    // the counter's resource, which the composition re-exports.
    let p = composed(&sb);
    let report = json(&sb.run(&[
        "test",
        &contract,
        &cases("pipeline"),
        &cases("counter"),
        "--component",
        &p,
        "--tag",
        "smoke",
        "--tag",
        "stateful",
        "--tag",
        "qualified",
        "--format",
        "json",
    ]));
    assert_eq!(report["failed"], 0, "{report:#}");
    // --tag selects: one qualified contract case, one pipeline case, two
    // stateful counter cases.
    assert_eq!(report["passed"], 4, "{report:#}");
    let stateful = &report["suites"][2]["cases"][0];
    assert_eq!(
        stateful["name"],
        "the running total is the sum of the counts"
    );
    assert_eq!(stateful["steps"][3]["found"], "5", "{stateful:#}");
    // All the pipeline's cases, untagged.
    ok(&sb.run(&["test", &contract, &cases("pipeline"), "--component", &p]));
}

#[test]
fn the_same_cases_run_against_several_components() {
    let sb = Sandbox::new();
    let out = sb.run(&[
        "test",
        &cases("text-transform"),
        "--component",
        &wasm("normalizer"),
        "--component",
        &wasm("validator"),
        "--format",
        "junit",
    ]);
    let xml = ok(&out);
    assert_eq!(xml.matches("<testsuite ").count(), 2, "{xml}");
    assert!(xml.contains("tests=\"12\" failures=\"0\""), "{xml}");
}

/// The normalizer built in Rust and the same contract implemented in Python
/// (componentize-py, built by the test command): the same case files give
/// the same verdicts, case by case, and the same results.
#[test]
fn the_rust_and_the_python_normalizer_get_identical_verdicts() {
    let sb = Sandbox::new();
    let python = pipectl_testkit::fixture("python-normalizer")
        .display()
        .to_string();
    let report = json(&sb.run(&[
        "test",
        &cases("text-transform"),
        &cases("normalizer"),
        "--component",
        &wasm("normalizer"),
        "--component",
        &python,
        // A Python runtime imports WASI whether it uses it or not.
        "--grant",
        "runtime",
        "--format",
        "json",
    ]));
    let suites = report["suites"].as_array().unwrap();
    assert_eq!(suites.len(), 4, "{report:#}");
    let verdicts = |component: &str| -> Vec<(String, bool, String)> {
        suites
            .iter()
            .filter(|s| s["component"] == component)
            .flat_map(|s| s["cases"].as_array().unwrap().iter())
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["passed"].as_bool().unwrap(),
                    c["steps"][0]["found"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect()
    };
    let rust = verdicts(&wasm("normalizer"));
    assert_eq!(rust.len(), 10, "{report:#}");
    assert_eq!(rust, verdicts(&python));
    assert_eq!(report["failed"], 0, "{report:#}");
    // And a wrong expectation fails both the same way.
    std::fs::write(
        sb.path("wrong.toml"),
        "[[case]]\nname = \"wrong\"\ninvoke = 'transform(\"a  b\")'\nexpect = 'ok(\"a  b\")'\n",
    )
    .unwrap();
    let out = sb.run(&[
        "test",
        sb.path("wrong.toml").to_str().unwrap(),
        "--component",
        &wasm("normalizer"),
        "--component",
        &python,
        "--grant",
        "runtime",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failed"], 2, "{report:#}");
}

#[test]
fn a_wrong_expectation_fails_with_exit_1_and_shows_expected_and_found() {
    let sb = Sandbox::new();
    std::fs::write(
        sb.path("wrong.toml"),
        r#"
[[case]]
name = "right"
invoke = 'transform("a b c")'
expect-contains = "Words: 3,"

[[case]]
name = "wrong error case"
invoke = 'transform("two words")'
expect = 'err(processing-failed(_))'

[[case]]
name = "wrong total"
resource = "running-counter"
[[case.step]]
invoke = 'count("a b")'
expect-contains = "Running total: 2"
[[case.step]]
invoke = 'total-words()'
expect = '3'

[[case]]
name = "expects a trap"
invoke = 'transform("a")'
expect-trap = true

[[case]]
name = "long output"
invoke = 'transform("the quick brown fox jumps over the lazy dog")'
expect = 'ok("Words: 9, Lines: 1, Chars: 43\n\nthe quick brown fox jumps over the lazy cat")'
"#,
    )
    .unwrap();
    // The validator has no counter; the counter's transform never refuses.
    let out = sb.run(&["test", "wrong.toml", "--component", &wasm("counter")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("✓ right"), "{stdout}");
    assert!(
        stdout.contains(
            "  ✗ wrong error case\n      call:     transform(\"two words\")\n      \
             expected: err(processing-failed(_))\n      found:    ok(\"Words: 2, Lines: 1, Chars: 9\\n\\ntwo words\")\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "  ✗ wrong total\n      step 2: total-words()\n      expected: 3\n      found:    2\n"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("  ✗ expects a trap\n"), "{stdout}");
    // A long value says where it first differs.
    assert!(
        stdout.contains(
            "      first difference at character 78: expected `…jumps over the lazy cat\")`, \
             found `…jumps over the lazy dog\")`\n"
        ),
        "{stdout}"
    );
    assert!(stdout.ends_with("1 passed, 4 failed\n"), "{stdout}");

    // The same, as JUnit XML.
    let out = sb.run(&[
        "test",
        "wrong.toml",
        "--component",
        &wasm("counter"),
        "--format",
        "junit",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let xml = String::from_utf8_lossy(&out.stdout);
    assert!(
        xml.contains("<testsuites name=\"pipectl test\" tests=\"5\" failures=\"4\">"),
        "{xml}"
    );
    assert!(
        xml.contains("<failure message=\"expected 3, found 2\">"),
        "{xml}"
    );
}

#[test]
fn a_trap_in_one_case_does_not_affect_the_next() {
    let sb = Sandbox::new();
    // A tiny component whose `boom` traps and whose `add` adds.
    std::fs::write(sb.path("traps.wat"), TRAPS_WAT).unwrap();
    std::fs::write(
        sb.path("traps.toml"),
        r#"
[[case]]
name = "traps"
invoke = 'boom()'
expect-trap = true

[[case]]
name = "a trap ends a case"
[[case.step]]
invoke = 'boom()'
expect-trap = true
[[case.step]]
invoke = 'add(1, 1)'
expect = '2'

[[case]]
name = "adds after a trap"
invoke = 'add(2, 40)'
expect = '42'
"#,
    )
    .unwrap();
    let out = sb.run(&[
        "test",
        "traps.toml",
        "--component",
        "traps.wat",
        "--format",
        "json",
        "--jobs",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["passed"], 2, "{report:#}");
    assert_eq!(report["failed"], 1, "{report:#}");
    let cases = &report["suites"][0]["cases"];
    let found = cases[0]["steps"][0]["found"].as_str().unwrap();
    assert!(found.starts_with("trap: "), "{found}");
    let ended = &cases[1]["steps"][1];
    assert_eq!(ended["invoke"], "add(1, 1)", "{ended:#}");
    assert_eq!(
        ended["found"],
        "not run: an earlier step trapped; a trap ends a case"
    );
    assert_eq!(cases[2]["passed"], true, "{:#}", cases[2]);
}

#[test]
fn a_malformed_case_file_exits_2_naming_the_case_before_anything_runs() {
    let sb = Sandbox::new();
    let check = |name: &str, invoke: &str, expect: &str, reason: &str| {
        let file = format!("{name}.toml");
        std::fs::write(
            sb.path(&file),
            format!(
                "[[case]]\nname = \"fine\"\ninvoke = 'transform(\"a b c\")'\nexpect = '_'\n\n\
                 [[case]]\nname = \"{name}\"\ninvoke = '{invoke}'\nexpect = '{expect}'\n"
            ),
        )
        .unwrap();
        let err = fails(&sb.run(&["test", &file, "--component", &wasm("validator")]));
        let out = sb.run(&["test", &file, "--component", &wasm("validator")]);
        assert!(
            out.stdout.is_empty(),
            "nothing ran: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            err.contains(&format!("{file}: case `{name}`: {reason}")),
            "{err}"
        );
    };
    check(
        "unknown",
        "frobnicate(\"x\")",
        "_",
        "the component exports no function `frobnicate`",
    );
    check(
        "arity",
        "transform(\"a\", \"b\")",
        "_",
        "the arguments of `transform(\"a\", \"b\")` do not fit `transform`",
    );
    check(
        "argtype",
        "transform(42)",
        "_",
        "the arguments of `transform(42)` do not fit `transform`",
    );
    check(
        "valuetype",
        "transform(\"x\")",
        "ok(42)",
        "`expect`: `ok(42)` does not fit the type",
    );
    check(
        "nocase",
        "transform(\"x\")",
        "err(nope(_))",
        "`expect`: `nope(_)` does not fit the type: no case `nope`",
    );

    // Shape errors: no expectation, two expectations.
    std::fs::write(
        sb.path("shape.toml"),
        "[[case]]\nname = \"bare\"\ninvoke = 'transform(\"x\")'\n",
    )
    .unwrap();
    let err = fails(&sb.run(&["test", "shape.toml", "--component", &wasm("validator")]));
    assert!(
        err.contains("shape.toml: case `bare`: no expectation: give `expect`, `expect-trap` or `expect-contains`"),
        "{err}"
    );
    // A stateful case over a resource the component does not export.
    std::fs::write(
        sb.path("res.toml"),
        "[[case]]\nname = \"needs a counter\"\nresource = \"running-counter\"\n[[case.step]]\ninvoke = 'total-words()'\nexpect = '0'\n",
    )
    .unwrap();
    let err = fails(&sb.run(&["test", "res.toml", "--component", &wasm("validator")]));
    assert!(
        err.contains(
            "res.toml: case `needs a counter`: the component exports no resource `running-counter`"
        ),
        "{err}"
    );
    // A case file whose `[contract]` world the component does not implement.
    let err = fails(&sb.run(&[
        "test",
        &cases("counter"),
        "--component",
        &wasm("normalizer"),
    ]));
    assert!(
        err.contains("counter.toml: component ")
            && err.contains("does not implement the contract's world `example:text-transform/counter-plugin@0.2.0`"),
        "{err}"
    );
}

/// `test --component` and `compare`'s sides take registry references too:
/// fetched and verified, then tested or compared like files.
#[test]
fn cases_and_comparisons_run_against_registry_references() {
    let registry = pipectl_testkit::RegistryServer::start();
    let sb = Sandbox::new();
    let reference = format!("{}/plugins/normalizer:0.2.0", registry.addr);
    ok(&sb.run(&["publish", &wasm("normalizer"), &reference]));
    let report = json(&sb.run(&[
        "test",
        &cases("normalizer"),
        "--component",
        &reference,
        "--format",
        "json",
    ]));
    assert_eq!(report["passed"], 4, "{report:#}");
    assert_eq!(report["suites"][0]["component"], reference.as_str());
    std::fs::write(sb.path("inputs.txt"), "a  b\n c \n\nd\te\n").unwrap();
    let verdict = json(&sb.run(&[
        "compare",
        &reference,
        &wasm("normalizer"),
        "--inputs",
        "inputs.txt",
        "--lines",
        "--format",
        "json",
    ]));
    assert_eq!(verdict["changed"], 0, "{verdict:#}");
    // Against the validator: changed outputs, the gate says no.
    let out = sb.run(&[
        "compare",
        &reference,
        &wasm("validator"),
        "--inputs",
        "inputs.txt",
        "--lines",
    ]);
    assert_eq!(out.status.code(), Some(1));
    // A reference that names nothing: could not run.
    let missing = format!("{}/plugins/nothing:1.0.0", registry.addr);
    let err = fails(&sb.run(&["test", &cases("normalizer"), "--component", &missing]));
    assert!(err.contains("nothing"), "{err}");
}

/// `test --pipeline`: every stage against the case files its `[[stage]]`
/// names, and the composition against `[pipeline]`'s; a failing stage case
/// fails the run (exit 1); a manifest naming no case files cannot run (2).
#[test]
fn a_pipeline_is_tested_stage_by_stage_and_composed() {
    let sb = Sandbox::new();
    let manifest = root().join("pipeline.toml").display().to_string();
    let report = json(&sb.run(&["test", "--pipeline", &manifest, "--format", "json"]));
    assert_eq!(report["failed"], 0, "{report:#}");
    let mut components: Vec<String> = report["suites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["component"].as_str().unwrap().to_string())
        .collect();
    components.dedup();
    assert_eq!(
        components,
        [
            "stage `normalizer` (target/plugins/normalizer.wasm)",
            "stage `validator` (target/plugins/validator.wasm)",
            "stage `counter` (target/plugins/counter.wasm)",
            "pipeline `text-pipeline`",
        ]
    );
    // A stage whose own case fails.
    std::fs::write(
        sb.path("wrong.toml"),
        "[[case]]\nname = \"wrong\"\ninvoke = 'transform(\"a  b\")'\nexpect = 'ok(\"a  b\")'\n",
    )
    .unwrap();
    let write = |cases: &str| {
        std::fs::write(
            sb.path("p.toml"),
            format!(
                "[pipeline]\nname = \"p\"\nversion = \"0.1.0\"\n\
                 world = \"example:text-transform/plugin@0.2.0\"\nwit = \"{}\"\n\n\
                 [[stage]]\nname = \"normalizer\"\npath = \"{}\"\n{cases}",
                root().join("wit/text-transform/0.2.0").display(),
                wasm("normalizer")
            ),
        )
        .unwrap()
    };
    write("cases = [\"wrong.toml\"]\n");
    let out = sb.run(&["test", "--pipeline", "p.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("✗ wrong"));
    write("");
    let err = fails(&sb.run(&["test", "--pipeline", "p.toml"]));
    assert!(err.contains("names no case files"), "{err}");
    // Case files given as arguments run against the composition.
    let report = json(&sb.run(&[
        "test",
        "--pipeline",
        "p.toml",
        &cases("normalizer"),
        "--format",
        "json",
    ]));
    assert_eq!(report["suites"][0]["component"], "pipeline `p`");
    assert_eq!(report["passed"], 4, "{report:#}");
}

/// `--runtime node`: the same cases through the component transpiled by
/// jco (pinned, installed by the test command) on Node.js, reported per
/// runtime, with the same verdicts as wasmtime: the example cases pass for
/// the normalizer, the counter's resource and the composed pipeline; wrong
/// expectations fail the same way; a trap ends its case only.
#[test]
fn the_same_cases_give_the_same_verdicts_on_node() {
    let sb = Sandbox::new();
    let jco = pipectl_testkit::jco().display().to_string();
    let both = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["test"];
        all.extend_from_slice(args);
        all.extend_from_slice(&[
            "--runtime",
            "wasmtime",
            "--runtime",
            "node",
            "--jco",
            &jco,
            "--format",
            "json",
        ]);
        let out = sb.run(&all);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
    };
    let verdicts = |report: &serde_json::Value, runtime: &str| -> Vec<(String, bool, String)> {
        report["suites"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["runtime"] == runtime)
            .flat_map(|s| s["cases"].as_array().unwrap().iter())
            .map(|c| {
                let steps = c["steps"].as_array().unwrap();
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["passed"].as_bool().unwrap(),
                    steps
                        .last()
                        .map(|s| s["found"].to_string())
                        .unwrap_or_default(),
                )
            })
            .collect()
    };
    let report = both(&[
        &cases("text-transform"),
        &cases("normalizer"),
        "--component",
        &wasm("normalizer"),
    ]);
    assert_eq!(report["failed"], 0, "{report:#}");
    assert_eq!(verdicts(&report, "node").len(), 10);
    assert_eq!(verdicts(&report, "wasmtime"), verdicts(&report, "node"));
    let report = both(&[&cases("counter"), "--component", &wasm("counter")]);
    assert_eq!(report["failed"], 0, "{report:#}");
    assert_eq!(verdicts(&report, "wasmtime"), verdicts(&report, "node"));
    let p = composed(&sb);
    let report = both(&[
        &cases("text-transform"),
        &cases("pipeline"),
        "--component",
        &p,
    ]);
    assert_eq!(report["failed"], 0, "{report:#}");
    assert_eq!(verdicts(&report, "wasmtime"), verdicts(&report, "node"));
    // Every kind of value the contract subset names crosses to JavaScript
    // and back: records, variants, enums, flags, lists and byte lists,
    // options, 64-bit integers at their limits, tuples, chars, results.
    let types = pipectl_testkit::fixture("types-echo").display().to_string();
    let file = root().join("tests/fixtures/plugins/types-echo/cases.toml");
    let report = both(&[file.to_str().unwrap(), "--component", &types]);
    assert_eq!(report["failed"], 0, "{report:#}");
    assert_eq!(verdicts(&report, "node").len(), 16, "{report:#}");
    assert_eq!(verdicts(&report, "wasmtime"), verdicts(&report, "node"));
    // Wrong expectations: the same failures, found the same.
    std::fs::write(
        sb.path("wrong.toml"),
        "[[case]]\nname = \"wrong case\"\ninvoke = 'transform(\"two words\")'\nexpect = 'err(processing-failed(_))'\n\n\
         [[case]]\nname = \"wrong total\"\nresource = \"running-counter\"\n\
         [[case.step]]\ninvoke = 'count(\"a b\")'\nexpect-contains = \"Running total: 2\"\n\
         [[case.step]]\ninvoke = 'total-words()'\nexpect = '3'\n",
    )
    .unwrap();
    let report = both(&["wrong.toml", "--component", &wasm("counter")]);
    assert_eq!(report["failed"], 4, "{report:#}");
    assert_eq!(verdicts(&report, "wasmtime"), verdicts(&report, "node"));
    // A trap ends its case, not the next.
    std::fs::write(sb.path("traps.wat"), TRAPS_WAT).unwrap();
    std::fs::write(
        sb.path("traps.toml"),
        "[[case]]\nname = \"traps\"\ninvoke = 'boom()'\nexpect-trap = true\n\n\
         [[case]]\nname = \"adds\"\ninvoke = 'add(2, 40)'\nexpect = '42'\n",
    )
    .unwrap();
    let report = both(&["traps.toml", "--component", "traps.wat"]);
    assert_eq!(report["failed"], 0, "{report:#}");
    let node = verdicts(&report, "node");
    assert!(node[0].2.contains("trap"), "{node:?}");
    assert_eq!(node[1].2, "\"42\"");
    // Without jco: could not run, saying how to get it.
    let err = fails(&sb.run(&[
        "test",
        &cases("normalizer"),
        "--component",
        &wasm("normalizer"),
        "--runtime",
        "node",
        "--jco",
        "/nonexistent/jco",
    ]));
    assert!(err.contains("npm install @bytecodealliance/jco"), "{err}");
}
