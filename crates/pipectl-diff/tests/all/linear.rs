//! `wit diff` does not walk paths: chains of renamed tuple aliases (`type
//! a1 = tuple<a0, a0>`, ...) have 2^n paths through n definitions, and each
//! pair of definitions is compared once. The check is an event, not a
//! measurement: a walk of 2^30 (or 2^60) paths never finishes, so it fails
//! the time limit by orders of magnitude, while a linear walk ends in
//! milliseconds (a ratio of two timings would be a timed test; the
//! benchmarks measure speed).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use pipectl_diff::{DiffOptions, FailOn, Side, diff_and_judge};
use pipectl_wit::source::LoadedWit;

/// `type {p}0 = tuple<u8, u8>; type {p}k = tuple<{p}k-1, {p}k-1>; ...`,
/// used by a function.
fn chain(version: &str, prefix: &str, n: usize) -> String {
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

/// Diffs `old` against `new` on another thread; fails after `limit` instead
/// of hanging (the thread is left behind; the test process ends anyway).
fn diff_within(old: String, new: String, limit: Duration) -> (Duration, Vec<String>, String) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let started = Instant::now();
        let old = LoadedWit::from_text("old.wit", &old).unwrap();
        let new = LoadedWit::from_text("new.wit", &new).unwrap();
        let opts = DiffOptions::default();
        let report = diff_and_judge(
            &Side::from(&old),
            &Side::from(&new),
            &opts,
            FailOn::Breaking,
        );
        let rules = report.findings.iter().map(|f| f.rule.clone()).collect();
        let verdict = format!(
            "required={} actual={} ok={}",
            report.required_bump.as_str(),
            report.actual_bump.as_str(),
            report.ok
        );
        let _ = tx.send((started.elapsed(), rules, verdict));
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("the diff did not finish within {limit:?}"))
}

#[test]
fn renamed_tuple_alias_chains_diff_without_walking_every_path() {
    for n in [30, 60] {
        let (took, rules, verdict) = diff_within(
            chain("1.0.0", "a", n),
            chain("2.0.0", "b", n),
            Duration::from_secs(5),
        );
        // Every alias renamed, one by one; the function's type is the same
        // shape under its new name, so it is not a change.
        assert_eq!(rules.len(), n + 1, "n = {n}: {rules:?}");
        assert!(
            rules.iter().all(|r| r == "type-renamed"),
            "n = {n}: {rules:?}"
        );
        assert_eq!(verdict, "required=major actual=major ok=true");
        eprintln!("{n} renamed tuple aliases: {took:?}");
    }
    // A difference at the bottom of the chain is still found: every alias
    // above it changes shape, and the function with them.
    let (_, rules, verdict) = diff_within(
        chain("1.0.0", "a", 60),
        chain("1.0.1", "b", 60).replace("tuple<u8, u8>", "tuple<u8, u16>"),
        Duration::from_secs(5),
    );
    assert!(!rules.iter().any(|r| r == "type-renamed"), "{rules:?}");
    assert!(rules.iter().any(|r| r == "type-removed"), "{rules:?}");
    assert_eq!(verdict, "required=major actual=patch ok=false");
}
