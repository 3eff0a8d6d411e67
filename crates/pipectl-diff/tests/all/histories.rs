//! Real release histories beyond WASI's own crates: Spin's interface
//! packages (`spin:postgres`, `spin:sqlite`, `spin:up`, `fermyon:spin`) as
//! the Spin Rust SDK ships them on crates.io (`spin-sdk` 5.2.0 and 6.0.0,
//! listed in `tests/histories/Cargo.toml`, never built; `cargo metadata`
//! downloads and locates them). Several releases of one package sit side by
//! side in one SDK's `wit/deps/`, so both sides of a diff are packages of
//! one resolve. Every verdict below was checked by hand against the WIT
//! text; the comments say what the text shows.

use std::collections::BTreeMap;
use std::path::PathBuf;

use pipectl_diff::{Bump, DiffOptions, DiffReport, FailOn, Policy, Side, diff_and_judge};
use pipectl_testkit::root;
use pipectl_wit::source::LoadedWit;

/// `spin-sdk` version → its `wit/` folder in cargo's registry cache.
fn sdk_trees() -> BTreeMap<String, PathBuf> {
    let manifest = root().join("crates/pipectl-diff/tests/histories/Cargo.toml");
    let trees: BTreeMap<String, PathBuf> = pipectl_testkit::crate_wit_dirs(&manifest)
        .into_iter()
        .filter(|(name, _, _)| name == "spin-sdk")
        .map(|(_, version, dir)| (version, dir))
        .collect();
    assert_eq!(trees.len(), 2, "spin-sdk releases found: {trees:?}");
    trees
}

/// Every package of an SDK's WIT tree.
fn load(sdk: &str) -> LoadedWit {
    let trees = sdk_trees();
    let dir = &trees[sdk];
    LoadedWit::load(dir.to_str().unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .with_all_packages()
}

/// The package `ns:name@version` of a loaded tree.
fn package(w: &LoadedWit, name: &str) -> wit_parser::PackageId {
    w.resolve
        .packages
        .iter()
        .find(|(_, p)| p.name.to_string() == name)
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("no package `{name}`"))
}

/// Diffs package `old` of `o` against package `new` of `n`.
fn diff(o: &LoadedWit, old: &str, n: &LoadedWit, new: &str, policy: Policy) -> DiffReport {
    fn side(w: &LoadedWit, id: wit_parser::PackageId) -> Side<'_> {
        Side {
            resolve: &w.resolve,
            packages: vec![id],
            includes: &w.includes,
        }
    }
    let opts = DiffOptions {
        policy,
        ..DiffOptions::default()
    };
    diff_and_judge(
        &side(o, package(o, old)),
        &side(n, package(n, new)),
        &opts,
        FailOn::Breaking,
    )
}

fn count(r: &DiffReport, rule: &str) -> usize {
    r.findings.iter().filter(|f| f.rule == rule).count()
}

/// `spin:postgres` 4.0.0 (spin-sdk 5.2.0) -> 4.2.0 (spin-sdk 6.0.0). By
/// hand: the text adds `resource connection-builder` (`@since(4.1.0)`) and
/// the async `open-async` static, `query-async` and `execute-async` methods
/// of `connection`; nothing is removed or changed. Spin's worlds import the
/// interface (components call it, Spin provides it): hosts must provide
/// more, components built against 4.0.0 still fit. Guest policy: minor with
/// four host warnings, and the release is minor: ok. Strict: major, fails.
#[test]
fn spin_postgres_4_0_to_4_2_adds_for_hosts_only() {
    let (five, six) = (load("5.2.0"), load("6.0.0"));
    let r = diff(
        &five,
        "spin:postgres@4.0.0",
        &six,
        "spin:postgres@4.2.0",
        Policy::Guest,
    );
    let mut rules: Vec<(&str, &str)> = r
        .findings
        .iter()
        .map(|f| (f.rule.as_str(), f.item.as_str()))
        .collect();
    rules.sort();
    assert_eq!(
        rules,
        [
            (
                "resource-added",
                "spin:postgres/postgres#connection-builder"
            ),
            (
                "resource-method-added",
                "spin:postgres/postgres#connection.execute-async"
            ),
            (
                "resource-method-added",
                "spin:postgres/postgres#connection.query-async"
            ),
            (
                "resource-static-added",
                "spin:postgres/postgres#connection.open-async"
            ),
        ]
    );
    assert!(
        r.findings.iter().all(|f| f.warning.is_some()),
        "{}",
        r.human()
    );
    assert_eq!(r.required_bump, Bump::Minor);
    assert!(r.ok, "{:?}", r.reason);
    let strict = diff(
        &five,
        "spin:postgres@4.0.0",
        &six,
        "spin:postgres@4.2.0",
        Policy::Strict,
    );
    assert_eq!(strict.required_bump, Bump::Major);
    assert!(!strict.ok);
}

/// `spin:sqlite` 3.0.0 -> 3.1.0: by hand, four `@since(3.1.0)` additions to
/// `connection` (`open-async`, `execute-async`, `last-insert-rowid-async`,
/// `changes-async`), nothing else. Same verdicts as Postgres: guest minor
/// (ok for a minor release), strict major.
#[test]
fn spin_sqlite_3_0_to_3_1_adds_for_hosts_only() {
    let (five, six) = (load("5.2.0"), load("6.0.0"));
    let r = diff(
        &five,
        "spin:sqlite@3.0.0",
        &six,
        "spin:sqlite@3.1.0",
        Policy::Guest,
    );
    assert_eq!(r.findings.len(), 4, "{}", r.human());
    assert_eq!(
        count(&r, "resource-method-added") + count(&r, "resource-static-added"),
        4
    );
    assert_eq!(r.required_bump, Bump::Minor);
    assert!(r.ok, "{:?}", r.reason);
    let strict = diff(
        &five,
        "spin:sqlite@3.0.0",
        &six,
        "spin:sqlite@3.1.0",
        Policy::Strict,
    );
    assert!(!strict.ok);
}

/// `spin:postgres` 3.0.0 -> 4.0.0 (both in spin-sdk 5.2.0): a new major with
/// changed types (by hand: `db-value` and `parameter-value` gain cases
/// such as `uuid` and `jsonb`, `db-data-type` turns from an enum into a
/// variant, the `query-failed` error case's payload changes; every
/// component using them breaks): major under both policies, and the
/// release is major: ok.
#[test]
fn spin_postgres_3_to_4_is_breaking_and_released_as_major() {
    let five = load("5.2.0");
    for policy in [Policy::Guest, Policy::Strict] {
        let r = diff(
            &five,
            "spin:postgres@3.0.0",
            &five,
            "spin:postgres@4.0.0",
            policy,
        );
        assert_eq!(r.required_bump, Bump::Major);
        assert!(
            r.findings
                .iter()
                .any(|f| f.bump == Bump::Major && f.warning.is_none()),
            "{}",
            r.human()
        );
        assert!(r.ok, "{:?}", r.reason);
    }
}

/// `spin:up` 3.2.0 -> 3.4.0 (both in spin-sdk 5.2.0). By hand: `platform`
/// drops `include wasi:cli/imports@0.2.3` and `import
/// wasi:http/outgoing-handler@0.2.3` and adds `import
/// spin:postgres/postgres@4.0.0`; the `@0.2.0` WASI imports that
/// `fermyon:spin/platform@2.0.0` brings stay. A component built against
/// 3.2.0 that imports `wasi:cli/environment@0.2.3` no longer fits: major
/// under both policies, and the release is minor: the gate fails. The two
/// versions of each WASI interface are told apart (only the `@0.2.3` ones
/// are removed), and `spin:postgres@4.0.0` is a new dependency next to
/// `@3.0.0`, not a version change.
#[test]
fn spin_up_3_2_to_3_4_drops_imports_components_use() {
    let five = load("5.2.0");
    let r = diff(
        &five,
        "spin:up@3.2.0",
        &five,
        "spin:up@3.4.0",
        Policy::Guest,
    );
    let removed: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.rule == "world-import-removed")
        .map(|f| f.item.as_str())
        .collect();
    assert!(removed.len() > 20, "{}", r.human());
    assert!(
        removed.iter().all(|i| i.ends_with("@0.2.3)")),
        "{removed:#?}"
    );
    assert!(removed.contains(&"spin:up/platform#import(wasi:cli/environment@0.2.3)"));
    let added: Vec<(&str, &str)> = r
        .findings
        .iter()
        .filter(|f| f.rule == "world-import-added")
        .map(|f| (f.item.as_str(), f.label()))
        .collect();
    assert_eq!(
        added,
        [
            (
                "spin:up/platform#import(spin:postgres/postgres@4.0.0)",
                "warning"
            ),
            (
                "spin:up/http-trigger#import(spin:postgres/postgres@4.0.0)",
                "warning"
            ),
        ]
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.rule == "dep-added" && f.item == "spin:postgres@4.0.0"),
        "{}",
        r.human()
    );
    assert_eq!(count(&r, "dep-version-changed"), 0);
    assert_eq!(r.required_bump, Bump::Major);
    assert!(!r.ok);
}

/// `spin:up` 3.4.0 -> 3.6.0 (3.6.0 is spin-sdk 5.2.0's own package). By
/// hand: `platform` adds back `include wasi:cli/imports@0.2.6` and `import
/// wasi:http/outgoing-handler@0.2.6` (hosts must provide more), and
/// `http-trigger` no longer exports `wasi:http/incoming-handler@0.2.0`
/// (its only export is now `@unstable`): hosts can call less, a component
/// built against 3.4.0 still fits (it exports more). The two versions of
/// `spin:postgres/postgres` it imports are unchanged. Guest: minor with
/// warnings, ok for this minor release; strict: major, fails. (Items
/// brought by its `@unstable include wasi:cli/imports@0.3.0-rc-...` count
/// as stable additions: wit-parser's elaboration drops the include's gate.
/// They are host-side additions too, so the verdict is the same.)
#[test]
fn spin_up_3_4_to_3_6_asks_only_hosts_for_more() {
    let five = load("5.2.0");
    let r = diff(
        &five,
        "spin:up@3.4.0",
        &five,
        "spin:up@3.6.0",
        Policy::Guest,
    );
    assert!(
        r.findings.iter().all(|f| f.bump != Bump::Major),
        "{}",
        r.human()
    );
    assert!(
        r.findings.iter().any(|f| f.rule == "world-export-removed"
            && f.item == "spin:up/http-trigger#export(wasi:http/incoming-handler)"
            && f.warning.is_some()),
        "{}",
        r.human()
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.item == "spin:up/platform#import(wasi:cli/environment@0.2.6)"),
        "{}",
        r.human()
    );
    assert!(
        r.findings
            .iter()
            .all(|f| !f.item.contains("spin:postgres/postgres")),
        "{}",
        r.human()
    );
    assert_eq!(r.required_bump, Bump::Minor);
    assert!(r.ok, "{:?}", r.reason);
    let strict = diff(
        &five,
        "spin:up@3.4.0",
        &five,
        "spin:up@3.6.0",
        Policy::Strict,
    );
    assert_eq!(strict.required_bump, Bump::Major);
    assert!(!strict.ok);
}
