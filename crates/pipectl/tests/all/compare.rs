//! `pipectl compare`: identical components are promoted; a changed output,
//! a slower candidate and a trapping candidate each fail the gate, for
//! their own reason.

use pipectl_testkit::{fixture, plugin};

use crate::support::Sandbox;

fn compare(
    sb: &Sandbox,
    baseline: &str,
    candidate: &str,
    extra: &[&str],
) -> (i32, serde_json::Value) {
    let mut args = vec![
        "compare",
        baseline,
        candidate,
        "--inputs",
        "inputs.txt",
        "--lines",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = sb.run(&args);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), json)
}

fn failed_checks(report: &serde_json::Value) -> Vec<String> {
    report["gate"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["passed"] == false)
        .map(|g| g["check"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_gate_promotes_identical_components_and_fails_each_regression_for_its_reason() {
    let sb = Sandbox::new();
    let lines: Vec<String> = (0..40)
        .map(|i| format!("  word {i}   and   more "))
        .collect();
    std::fs::write(sb.path("inputs.txt"), lines.join("\n")).unwrap();
    let normalizer = plugin("normalizer");
    let n = normalizer.to_str().unwrap();

    // The same component on both sides: promoted.
    let (code, report) = compare(&sb, n, n, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["ok"], true);
    assert_eq!(
        (report["inputs"].as_u64(), report["changed"].as_u64()),
        (Some(40), Some(0))
    );

    // A candidate that changes the output: refused for that, the first
    // changes shown.
    let counter = plugin("counter");
    let (code, report) = compare(&sb, n, counter.to_str().unwrap(), &["--show", "2"]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(failed_checks(&report), ["changed_outputs_pct"]);
    assert_eq!(report["changed"], 40);
    assert_eq!(report["diffs"].as_array().unwrap().len(), 2);
    assert_eq!(report["diffs"][0]["change"], "output");

    // A slower candidate (it sleeps 30 ms per call): refused for p95 alone
    // when output changes are allowed.
    std::fs::write(sb.path("inputs.txt"), vec!["30"; 20].join("\n")).unwrap();
    let sleeper = fixture("sleeper");
    let (code, report) = compare(
        &sb,
        n,
        sleeper.to_str().unwrap(),
        &["--max-diff", "100", "--grant", "clocks,stdio"],
    );
    assert_eq!(code, 1, "{report}");
    assert_eq!(failed_checks(&report), ["p95_ratio"], "{report}");
    assert!(report["candidate"]["p95_us"].as_u64().unwrap() >= 30_000);

    // A candidate that traps: refused for its trap rate.
    std::fs::write(sb.path("inputs.txt"), "fine input\ntrap\nfine again").unwrap();
    let hostile = fixture("hostile");
    let (code, report) = compare(&sb, n, hostile.to_str().unwrap(), &["--max-diff", "100"]);
    assert_eq!(code, 1, "{report}");
    assert!(
        failed_checks(&report).contains(&"candidate_trap_rate".to_string()),
        "{report}"
    );
    assert_eq!(report["candidate"]["traps"], 1);

    // Markdown for a pull request.
    let out = sb.run(&[
        "compare",
        n,
        n,
        "--inputs",
        "inputs.txt",
        "--lines",
        "--format",
        "markdown",
    ]);
    let text = crate::support::ok(&out);
    assert!(text.starts_with("### pipectl compare: promote"), "{text}");
}
