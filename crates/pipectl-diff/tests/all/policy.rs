//! Worlds judged the way linkers see them (#12): elaborated worlds,
//! types-only interfaces, dependency tracks, and the guest and strict bump
//! policies. Each case states the old verdict it replaces.

use pipectl_diff::{Bump, DiffOptions, DiffReport, Effect, FailOn, Policy, Side, diff_and_judge};
use pipectl_wit::source::LoadedWit;

/// Diffs two WIT sources (files, or folders when `deps` are given) under
/// `policy`.
fn diff(old: &str, new: &str, policy: Policy) -> DiffReport {
    diff_with_deps(old, &[], new, &[], policy)
}

/// Diffs two packages, each with its `deps/` folder of `(name, source)`.
fn diff_with_deps(
    old: &str,
    old_deps: &[(&str, &str)],
    new: &str,
    new_deps: &[(&str, &str)],
    policy: Policy,
) -> DiffReport {
    let dir = tempfile::tempdir().unwrap();
    let write = |side: &str, main: &str, deps: &[(&str, &str)]| {
        let root = dir.path().join(side);
        std::fs::create_dir_all(root.join("deps")).unwrap();
        std::fs::write(root.join("main.wit"), main).unwrap();
        for (name, src) in deps {
            std::fs::write(root.join("deps").join(format!("{name}.wit")), src).unwrap();
        }
        LoadedWit::load(root.to_str().unwrap()).unwrap()
    };
    let (o, n) = (write("old", old, old_deps), write("new", new, new_deps));
    let opts = DiffOptions {
        policy,
        ..DiffOptions::default()
    };
    diff_and_judge(&Side::from(&o), &Side::from(&n), &opts, FailOn::Breaking)
}

fn rules(r: &DiffReport) -> Vec<&str> {
    r.findings.iter().map(|f| f.rule.as_str()).collect()
}

const API: &str = "interface api { run: func(); }\ninterface log { write: func(msg: string); }\n";

/// Before: `world-include-added`, breaking for exporters, major. Now the
/// elaborated world is the same: the include is layout, a patch.
#[test]
fn an_include_refactor_with_the_same_elaboration_is_a_patch() {
    let old = format!(
        "package a:b@1.0.0;\n{API}world base {{ import log; }}\nworld app {{ import log; export api; }}\n"
    );
    let new = format!(
        "package a:b@1.0.1;\n{API}world base {{ import log; }}\nworld app {{ include base; export api; }}\n"
    );
    for policy in [Policy::Guest, Policy::Strict] {
        let r = diff(&old, &new, policy);
        assert_eq!(rules(&r), ["world-include-added"], "{policy:?}");
        let f = &r.findings[0];
        assert_eq!(
            (f.importer, f.exporter),
            (Effect::Compatible, Effect::Compatible)
        );
        assert_eq!(r.required_bump, Bump::Patch, "{policy:?}");
        assert!(r.ok, "{policy:?}: {:?}", r.reason);
    }
    // And back: the include replaced by what it brought, written out.
    let r = diff(
        &new.replace("1.0.1", "1.0.0"),
        &old.replace("1.0.0", "1.0.1"),
        Policy::Guest,
    );
    assert_eq!(rules(&r), ["world-include-removed"]);
    assert_eq!(r.required_bump, Bump::Patch);
}

/// An include that brings a new import: the include is context (patch), the
/// import it brings decides (host-only: minor, strict: major).
#[test]
fn what_an_include_brings_is_judged_item_by_item() {
    let old = format!(
        "package a:b@1.0.0;\n{API}world base {{ import log; }}\nworld app {{ export api; }}\n"
    );
    let new = format!(
        "package a:b@1.1.0;\n{API}world base {{ import log; }}\nworld app {{ include base; export api; }}\n"
    );
    let r = diff(&old, &new, Policy::Guest);
    assert_eq!(rules(&r), ["world-include-added", "world-import-added"]);
    assert_eq!(r.findings[0].bump, Bump::Patch);
    assert_eq!(r.required_bump, Bump::Minor);
    assert!(r.ok, "{:?}", r.reason);
    let r = diff(&old, &new, Policy::Strict);
    assert_eq!(r.required_bump, Bump::Major);
    assert!(!r.ok);
}

/// Before: the elaborated world gained an import of `shapes`,
/// `world-import-added`, major. Now: a types-only import is informational;
/// the new interface is an addition (minor), nothing breaks.
#[test]
fn a_type_moved_to_a_types_only_interface_and_used_breaks_nothing() {
    let old = "package a:b@1.0.0;
interface api { record point { x: u32, y: u32 } draw: func(p: point); }
world app { export api; }
";
    let new = "package a:b@1.1.0;
interface shapes { record point { x: u32, y: u32 } }
interface api { use shapes.{point}; draw: func(p: point); }
world app { export api; }
";
    for policy in [Policy::Guest, Policy::Strict] {
        let r = diff(old, new, policy);
        let found = rules(&r);
        assert!(found.contains(&"world-types-import-added"), "{found:?}");
        assert!(found.contains(&"type-moved"), "{found:?}");
        assert!(!found.contains(&"world-import-added"), "{found:?}");
        assert!(
            r.findings.iter().all(|f| f.bump != Bump::Major),
            "{policy:?}: {:?}",
            r.findings
        );
        assert_eq!(r.required_bump, Bump::Minor);
        assert!(r.ok, "{policy:?}: {:?}", r.reason);
    }
}

/// An explicit import of a types-only interface is informational too; one
/// of an interface with a resource is not (the host must define it).
#[test]
fn explicit_types_only_imports_and_resources() {
    let r = diff(
        "package a:b@1.0.0; interface t { type id = u64; } world w { export run: func(); }",
        "package a:b@1.0.1; interface t { type id = u64; } world w { import t; export run: func(); }",
        Policy::Strict,
    );
    assert_eq!(rules(&r), ["world-types-import-added"]);
    assert_eq!(r.required_bump, Bump::Patch);
    let r = diff(
        "package a:b@1.0.0; interface t { resource h; } world w { export run: func(); }",
        "package a:b@1.1.0; interface t { resource h; } world w { import t; export run: func(); }",
        Policy::Guest,
    );
    assert_eq!(rules(&r), ["world-import-added"]);
    assert_eq!(r.required_bump, Bump::Minor);
    assert!(r.findings[0].warning.is_some());
}

const CLOCKS_0: &str = "package wasi:clocks@0.2.0;\ninterface types { type instant = u64; }\ninterface clock { use types.{instant}; now: func() -> instant; }\n";

fn clocks(version: &str, extra: &str) -> String {
    CLOCKS_0.replace("0.2.0", version).replace(
        "now: func() -> instant;",
        &format!("now: func() -> instant;{extra}"),
    )
}

fn user(version: &str, clocks: &str) -> String {
    format!(
        "package a:b@{version};\ninterface api {{ use wasi:clocks/types@{clocks}.{{instant}}; at: func() -> instant; }}\nworld app {{ import wasi:clocks/clock@{clocks}; export api; }}\n"
    )
}

/// Before: `dep-version-bumped` asked for a minor bump. Same track,
/// identical content: a patch (not none: the text names the new version).
#[test]
fn a_same_track_identical_dependency_bump_is_a_patch() {
    for policy in [Policy::Guest, Policy::Strict] {
        let r = diff_with_deps(
            &user("1.0.0", "0.2.0"),
            &[("clocks", CLOCKS_0)],
            &user("1.0.1", "0.2.3"),
            &[("clocks", &clocks("0.2.3", ""))],
            policy,
        );
        // The world imports `clock` and, through the `use`s, `types`.
        assert_eq!(
            rules(&r),
            [
                "dep-version-bumped",
                "world-import-version-bumped",
                "world-import-version-bumped"
            ],
            "{policy:?}"
        );
        assert_eq!(r.required_bump, Bump::Patch, "{policy:?}");
        assert!(r.ok, "{policy:?}: {:?}", r.reason);
    }
}

/// Same track with an addition in an interface the package's world
/// imports: the addition decides (hosts must provide it: minor with a
/// warning; strict: major). An addition the package does not reach adds
/// nothing.
#[test]
fn a_same_track_bump_with_additions_needs_what_the_additions_need() {
    let with_fn = clocks("0.2.3", " resolution: func() -> u64;");
    let r = diff_with_deps(
        &user("1.0.0", "0.2.0"),
        &[("clocks", CLOCKS_0)],
        &user("1.1.0", "0.2.3"),
        &[("clocks", &with_fn)],
        Policy::Guest,
    );
    let added = r
        .findings
        .iter()
        .find(|f| f.rule == "func-added")
        .unwrap_or_else(|| panic!("{:?}", rules(&r)));
    assert_eq!(added.item, "wasi:clocks/clock@0.2.3#resolution");
    assert_eq!(added.bump, Bump::Minor);
    assert!(added.warning.as_deref().unwrap().contains("provides"));
    assert_eq!(r.required_bump, Bump::Minor);
    assert!(r.ok, "{:?}", r.reason);
    let strict = diff_with_deps(
        &user("1.0.0", "0.2.0"),
        &[("clocks", CLOCKS_0)],
        &user("1.1.0", "0.2.3"),
        &[("clocks", &with_fn)],
        Policy::Strict,
    );
    assert_eq!(strict.required_bump, Bump::Major);
    assert!(!strict.ok);
    // A new interface in the dependency that nothing here reaches.
    let unreached = format!(
        "{}interface timezone {{ name: func() -> string; }}\n",
        clocks("0.2.3", "")
    );
    let r = diff_with_deps(
        &user("1.0.0", "0.2.0"),
        &[("clocks", CLOCKS_0)],
        &user("1.0.1", "0.2.3"),
        &[("clocks", &unreached)],
        Policy::Strict,
    );
    assert_eq!(r.required_bump, Bump::Patch, "{:?}", rules(&r));
    // A new track stays breaking.
    let r = diff_with_deps(
        &user("1.0.0", "0.2.0"),
        &[("clocks", CLOCKS_0)],
        &user("1.1.0", "0.3.0"),
        &[("clocks", &clocks("0.3.0", ""))],
        Policy::Guest,
    );
    assert!(
        rules(&r).contains(&"dep-version-changed"),
        "{:?}",
        rules(&r)
    );
    assert_eq!(r.required_bump, Bump::Major);
}

/// Before: major (the world has exports, so both sides counted). Now a
/// removed export only loses hosts what they called: minor with a warning;
/// strict: major.
#[test]
fn a_removed_world_export_is_minor_and_major_under_strict() {
    let old = format!("package a:b@1.0.0;\n{API}world app {{ import log; export api; }}\n");
    let new = format!("package a:b@1.1.0;\n{API}world app {{ import log; }}\n");
    let r = diff(&old, &new, Policy::Guest);
    assert_eq!(rules(&r), ["world-export-removed"]);
    assert_eq!(r.required_bump, Bump::Minor);
    assert_eq!(r.policy, Policy::Guest);
    let warning = r.findings[0].warning.as_deref().unwrap();
    assert!(warning.contains("a host that calls"), "{warning}");
    assert!(r.ok, "{:?}", r.reason);
    let r = diff(&old, &new, Policy::Strict);
    assert_eq!(r.required_bump, Bump::Major);
    assert_eq!(r.findings[0].warning, None);
    assert!(!r.ok);
    assert!(r.reason.as_deref().unwrap().contains("need a major bump"));
}

/// Before: major. Now hosts must provide more, components still fit:
/// minor with a warning; strict: major.
#[test]
fn an_added_world_import_is_minor_and_major_under_strict() {
    let old = format!("package a:b@1.0.0;\n{API}world app {{ export api; }}\n");
    let new = format!("package a:b@1.1.0;\n{API}world app {{ import log; export api; }}\n");
    let r = diff(&old, &new, Policy::Guest);
    assert_eq!(rules(&r), ["world-import-added"]);
    assert_eq!(r.required_bump, Bump::Minor);
    assert!(
        r.findings[0]
            .warning
            .as_deref()
            .unwrap()
            .contains("a host that provides")
    );
    assert!(r.ok);
    let r = diff(&old, &new, Policy::Strict);
    assert_eq!(r.required_bump, Bump::Major);
    assert!(!r.ok);
    // What breaks components stays major under both: a removed import, an
    // added export.
    for (o, n) in [
        ("import log; export api;", "export api;"),
        ("import log;", "import log; export api;"),
    ] {
        let r = diff(
            &format!("package a:b@1.0.0;\n{API}world app {{ {o} }}\n"),
            &format!("package a:b@1.1.0;\n{API}world app {{ {n} }}\n"),
            Policy::Guest,
        );
        assert_eq!(r.required_bump, Bump::Major, "{o} -> {n}: {:?}", rules(&r));
    }
}

/// The report says which policy decided, and carries the host warning
/// (the binary's JSON shows both: `tests/cli/wit-diff/policy.test`).
#[test]
fn the_report_names_the_policy() {
    let old = format!("package a:b@1.0.0;\n{API}world app {{ export api; }}\n");
    let new = format!("package a:b@1.1.0;\n{API}world app {{ import log; export api; }}\n");
    let r = diff(&old, &new, Policy::Guest);
    assert_eq!(r.policy, Policy::Guest);
    assert!(r.findings[0].warning.is_some());
    let r = diff(&old, &new, Policy::Strict);
    assert_eq!(r.policy, Policy::Strict);
    assert!(r.findings[0].warning.is_none());
}

/// A world that imports one interface at two versions keeps them apart:
/// before, `@4.0.0` was matched with `@3.0.0` and reported as a version
/// change.
#[test]
fn two_versions_of_one_import_are_two_items() {
    let dep = |v: &str| format!("package x:pg@{v};\ninterface pg {{ q: func(); }}\n");
    let main = |v: &str| {
        format!(
            "package a:b@{v};\nworld app {{ import x:pg/pg@3.0.0; import x:pg/pg@4.0.0; export run: func(); }}\n"
        )
    };
    let r = diff_with_deps(
        &main("1.0.0"),
        &[("pg3", &dep("3.0.0")), ("pg4", &dep("4.0.0"))],
        &main("1.0.1"),
        &[("pg3", &dep("3.0.0")), ("pg4", &dep("4.0.0"))],
        Policy::Strict,
    );
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}
