//! Real releases no one here wrote: the WASI WIT trees that crates on
//! crates.io ship (`wasi`, `wasip2`, `wasip3`), read from cargo's registry
//! cache. `tests/wasi-wit/{a,b}/Cargo.toml` list them (never built);
//! `cargo metadata` downloads and locates them.

use std::path::PathBuf;

use pipectl_diff::{DiffOptions, DiffReport, Effect, FailOn, Side, diff_and_judge};
use pipectl_testkit::wasi_trees;
use pipectl_wit::source::LoadedWit;

fn diff(old: &PathBuf, new: &PathBuf) -> DiffReport {
    // Every `wasi:*` package of the tree; not the crate's own wrapper
    // package (`rust:wasi`), which is not part of WASI.
    let load = |p: &PathBuf| {
        let mut w = LoadedWit::load(p.to_str().unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .with_all_packages();
        let resolve = &w.resolve;
        w.packages
            .retain(|id| resolve.packages[*id].name.namespace == "wasi");
        w
    };
    let (old, new) = (load(old), load(new));
    diff_and_judge(
        &Side::from(&old),
        &Side::from(&new),
        &DiffOptions::default(),
        FailOn::Breaking,
    )
}

#[test]
fn wasi_0_2_0_to_every_later_0_2_is_compatible_for_importers() {
    let trees = wasi_trees();
    let base = &trees["0.2.0"];
    let later: Vec<&String> = trees
        .keys()
        .filter(|v| v.starts_with("0.2.") && *v != "0.2.0")
        .collect();
    assert!(later.len() >= 5, "WASI releases found: {:?}", trees.keys());
    for version in later {
        let report = diff(base, &trees[version]);
        assert!(
            !report.packages.is_empty(),
            "0.2.0 -> {version}: several packages compared"
        );
        let breaking: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.importer == Effect::Breaking)
            .map(|f| format!("{} {}", f.rule, f.item))
            .collect();
        assert!(
            breaking.is_empty(),
            "0.2.0 -> {version}: breaking for importers: {breaking:#?}"
        );
        // WASI's packages are imported by worlds: new functions count as
        // compatible for them, and each release's bump (0.2.0 -> 0.2.x)
        // suffices.
        assert!(report.ok, "0.2.0 -> {version}: {:?}", report.reason);
        assert!(
            !report.findings.is_empty(),
            "0.2.0 -> {version}: no change found at all"
        );
    }
}

#[test]
fn wasi_0_2_to_0_3_is_breaking() {
    let trees = wasi_trees();
    for old in ["0.2.0", "0.2.12"] {
        let report = diff(&trees[old], &trees["0.3.0"]);
        let breaking = report
            .findings
            .iter()
            .filter(|f| f.importer == Effect::Breaking)
            .count();
        assert!(
            breaking > 10,
            "{old} -> 0.3.0: only {breaking} breaking findings"
        );
        // e.g. `wasi:io` is gone in 0.3.
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.item.starts_with("wasi:cli/") && f.importer == Effect::Breaking),
            "{old} -> 0.3.0: nothing breaking in wasi:cli"
        );
    }
}

#[test]
fn wasi_0_2_1_to_0_2_2_aliases_and_deprecations_are_compatible() {
    let trees = wasi_trees();
    let report = diff(&trees["0.2.1"], &trees["0.2.2"]);
    let http: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.item.starts_with("wasi:http/types#"))
        .collect();
    let find = |rule: &str, item: &str| http.iter().any(|f| f.rule == rule && f.item == item);
    assert!(
        find("type-added", "wasi:http/types#field-name"),
        "{http:#?}"
    );
    assert!(
        find("item-deprecated", "wasi:http/types#field-key"),
        "{http:#?}"
    );
    // `fields` methods now take `field-name`, an alias of the same string:
    // no signature change.
    assert!(
        http.iter().all(|f| f.importer == Effect::Compatible),
        "{:#?}",
        http.iter()
            .filter(|f| f.importer == Effect::Breaking)
            .collect::<Vec<_>>()
    );
    assert!(report.ok, "{:?}", report.reason);
}
