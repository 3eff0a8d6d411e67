//! Every rule has an old/new fixture pair under `tests/diff/<rule-id>/`;
//! every rule runs over every pair and the findings must equal the pair's
//! `expected.txt` snapshot (`BLESS=1` rewrites them), so a false positive
//! shows up as a snapshot change.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use pipectl_diff::{Catalog, DiffOptions, Effect, FailOn, Policy, Side, diff_and_judge};
use pipectl_testkit::root;
use pipectl_wit::source::LoadedWit;

fn fixtures() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("tests/diff"))
        .expect("tests/diff exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// The old or new side of a fixture: `old.wit`, or an `old/` directory.
fn side_path(dir: &Path, which: &str) -> PathBuf {
    let file = dir.join(format!("{which}.wit"));
    if file.exists() { file } else { dir.join(which) }
}

fn load(path: &Path) -> LoadedWit {
    LoadedWit::load(path.to_str().unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn side(w: &LoadedWit) -> Side<'_> {
    Side::from(w)
}

/// The findings of one fixture, as the snapshot shows them.
fn snapshot(dir: &Path) -> (String, Vec<String>) {
    let old = load(&side_path(dir, "old"));
    let new = load(&side_path(dir, "new"));
    let opts = DiffOptions {
        all_features: true,
        ..DiffOptions::default()
    };
    let report = diff_and_judge(&side(&old), &side(&new), &opts, FailOn::Breaking);
    let strict = diff_and_judge(
        &side(&old),
        &side(&new),
        &DiffOptions {
            policy: Policy::Strict,
            ..opts.clone()
        },
        FailOn::Breaking,
    );
    let prefix = format!("{}/", root().display());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "required={} (strict: {}) actual={} ok={} (strict: {})",
        report.required_bump.as_str(),
        strict.required_bump.as_str(),
        report.actual_bump.as_str(),
        report.ok,
        strict.ok
    );
    for (f, s) in report.findings.iter().zip(&strict.findings) {
        let span = |s: &Option<String>| {
            s.as_deref()
                .map_or("-".to_string(), |s| s.replace(&prefix, ""))
        };
        let _ = writeln!(
            out,
            "{} {} importer={} exporter={} role={:?} bump={} (strict: {}) old={} new={}\n    {}",
            f.rule,
            f.item,
            f.importer.as_str(),
            f.exporter.as_str(),
            f.role,
            f.bump.as_str(),
            s.bump.as_str(),
            span(&f.old_span),
            span(&f.new_span),
            f.message
        );
        if let Some(w) = &f.warning {
            let _ = writeln!(out, "    warning: {w}");
        }
    }
    (
        out,
        report.findings.iter().map(|f| f.rule.clone()).collect(),
    )
}

#[test]
fn every_rule_has_a_fixture_that_fires_it() {
    let catalog = Catalog::get();
    let mut missing = Vec::new();
    for rule in catalog.rules() {
        let dir = root().join("tests/diff").join(&rule.id);
        if !side_path(&dir, "old").exists() || !side_path(&dir, "new").exists() {
            missing.push(format!(
                "{}: no fixture in tests/diff/{}/",
                rule.id, rule.id
            ));
            continue;
        }
        let (_, fired) = snapshot(&dir);
        if !fired.contains(&rule.id) {
            missing.push(format!(
                "{}: its fixture does not fire it (fired: {fired:?})",
                rule.id
            ));
        }
    }
    assert!(
        missing.is_empty(),
        "{} rule(s) without a working fixture:\n{}",
        missing.len(),
        missing.join("\n")
    );
}

#[test]
fn every_fixture_matches_its_snapshot() {
    let catalog = Catalog::get();
    let mut failures = Vec::new();
    for dir in fixtures() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            catalog.contains(&name),
            "tests/diff/{name} is not named after a rule"
        );
        let (actual, _) = snapshot(&dir);
        let expected_path = dir.join("expected.txt");
        if std::env::var_os("BLESS").is_some() {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "{name}:\n--- expected\n{expected}--- actual\n{actual}"
            )),
            Err(_) => failures.push(format!(
                "{name}: no expected.txt (BLESS=1 creates it):\n{actual}"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} snapshot(s) differ:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Fixtures where pipectl disagrees with `semver_check` on purpose, and why.
/// The test checks that they do disagree, so the list cannot go stale.
const DELIBERATE: &[(&str, &str)] = &[
    (
        "dep-version-changed",
        "semver_check compares the types a world's functions reach, not the versions in the \
         import names they come from; a component built against the old release imports \
         `wasi:clocks/types@0.2.0`, which a host of the new release (0.3.0) does not provide, \
         0.2 and 0.3 being semver-incompatible",
    ),
    (
        "world-types-import-removed",
        "an instance of types only needs no definition from a host (wasmtime's linker skips its \
     type exports, `pipectl run` accepts it as inert), so a component that still imports one \
     fits; semver_check compares import names and refuses the extra import",
    ),
];

/// Whether finding item `item` (`ns:pkg/iface…`) is about interface
/// `iface`; a package-level item (a dependency) is about every interface.
fn about(item: &str, iface: &str) -> bool {
    match item.split_once('/') {
        None => true,
        Some((_, rest)) => rest
            .strip_prefix(iface)
            .is_some_and(|after| after.is_empty() || after.starts_with(['#', '@', '.', ' '])),
    }
}

/// Whether no function in `src` names the type a finding's item points at
/// (`ns:pkg/iface#type.member`): semver_check encodes an imported
/// interface's types only as far as its functions reach them.
fn unreached_type(src: &str, item: &str) -> bool {
    let Some((_, ty)) = item.split_once('#') else {
        return false;
    };
    let ty = ty.split(['.', ' ']).next().unwrap_or(ty);
    !src.lines()
        .filter(|l| l.contains("func("))
        .any(|l| l.contains(ty))
}

/// pipectl and `wit_component::semver_check` judge every fixture's worlds
/// alike: where semver_check calls a world change incompatible, pipectl
/// reports a breaking finding for the side that world's components are on
/// (for a probe world, about that interface); where semver_check accepts
/// it, pipectl reports none for that side. Interfaces without worlds get
/// one world that imports them and one that exports them. Every fixture is
/// either checked or skipped for a stated reason; every mismatch is either
/// listed in `DELIBERATE` with its reason or fails the test.
#[test]
fn agrees_with_wit_component_semver_check() {
    let mut checked = 0;
    let mut mismatches = Vec::new();
    let mut deliberate = Vec::new();
    let mut skipped: Vec<(String, &str)> = Vec::new();
    let mut unreached: Vec<String> = Vec::new();
    let mut fixtures_checked = 0;
    let all = fixtures();
    for dir in &all {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let (old_path, new_path) = (side_path(dir, "old"), side_path(dir, "new"));
        if old_path.is_dir() {
            skipped.push((
                name,
                "a folder of packages (deps): semver_check takes one package",
            ));
            continue;
        }
        let old_src = std::fs::read_to_string(&old_path).unwrap();
        let new_src = std::fs::read_to_string(&new_path).unwrap();
        let old = load(&old_path);
        let new = load(&new_path);
        let (op, np) = (old.packages[0], new.packages[0]);
        let (opkg, npkg) = (&old.resolve.packages[op], &new.resolve.packages[np]);
        if opkg.name.namespace != npkg.name.namespace || opkg.name.name != npkg.name.name {
            skipped.push((name, "the package was renamed: no world pair to compare"));
            continue;
        }
        // Both releases in one resolve, with probe worlds for each interface
        // the two share.
        let shared: Vec<&String> = opkg
            .interfaces
            .keys()
            .filter(|k| npkg.interfaces.contains_key(*k))
            .collect();
        let probes: String = shared
            .iter()
            .map(|i| format!("\nworld probe-import-{i} {{ import {i}; }}\nworld probe-export-{i} {{ export {i}; }}\n"))
            .collect();
        let with_probes = |src: &str| match src.find("\npackage ") {
            // Keep nested packages after the probes.
            Some(i) => format!("{}{probes}{}", &src[..i], &src[i..]),
            None => format!("{src}{probes}"),
        };
        if opkg.name.version == npkg.name.version {
            skipped.push((
                name,
                "both releases have one version: one resolve cannot hold both",
            ));
            continue;
        }
        let mut resolve = wit_parser::Resolve::default();
        let pushed = resolve
            .push_str(&old_path, &with_probes(&old_src))
            .and_then(|po| Ok((po, resolve.push_str(&new_path, &with_probes(&new_src))?)));
        let (po, pn) = match pushed {
            Ok(pair) => pair,
            Err(e) => {
                // Unexplained: the fixture loads on its own (above).
                mismatches.push(format!("{name}: the probes do not parse: {e:#}"));
                continue;
            }
        };
        let report = diff_and_judge(
            &side(&old),
            &side(&new),
            &DiffOptions::default(),
            FailOn::Breaking,
        );
        let worlds: Vec<String> = resolve.packages[po].worlds.keys().cloned().collect();
        let before = checked;
        for world in worlds {
            let (Some(&ow), Some(&nw)) = (
                resolve.packages[po].worlds.get(&world),
                resolve.packages[pn].worlds.get(&world),
            ) else {
                continue;
            };
            checked += 1;
            let compatible = wit_component::semver_check(resolve.clone(), ow, nw).is_ok();
            // The findings that break this world's components.
            let breaking: Vec<&str> = report
                .findings
                .iter()
                .filter(|f| {
                    if let Some(i) = world.strip_prefix("probe-import-") {
                        f.importer == Effect::Breaking && about(&f.item, i)
                    } else if let Some(i) = world.strip_prefix("probe-export-") {
                        f.exporter == Effect::Breaking && about(&f.item, i)
                    } else {
                        f.importer == Effect::Breaking || f.exporter == Effect::Breaking
                    }
                })
                .map(|f| f.rule.as_str())
                .collect();
            let agree = if compatible {
                // Named worlds mix sides: pipectl may find a break for a
                // side the world does not exercise; probe worlds are exact.
                !world.starts_with("probe-") || breaking.is_empty()
            } else {
                !breaking.is_empty()
            };
            if agree {
                continue;
            }
            // A class of its own: an importer of an interface sees only the
            // types its functions reach (wasmtime links by those), so
            // semver_check accepts changes to other types; pipectl reports
            // them, because bindings generated from the interface change.
            if compatible
                && world.starts_with("probe-import-")
                && report
                    .findings
                    .iter()
                    .filter(|f| f.importer == Effect::Breaking)
                    .all(|f| unreached_type(&old_src, &f.item))
            {
                unreached.push(name.clone());
                continue;
            }
            if DELIBERATE.iter().any(|(d, _)| *d == name) {
                deliberate.push(name.clone());
                continue;
            }
            mismatches.push(format!(
                "{name}: semver_check says world `{world}` is {}; pipectl's breaking findings for it: {breaking:?} (all: {:?})",
                if compatible { "compatible" } else { "incompatible" },
                report
                    .findings
                    .iter()
                    .map(|f| (&f.rule, &f.item, f.importer, f.exporter))
                    .collect::<Vec<_>>()
            ));
        }
        if checked > before {
            fixtures_checked += 1;
        } else {
            skipped.push((name, "no world on both sides"));
        }
    }
    eprintln!(
        "semver_check agreement: {checked} world pairs in {fixtures_checked} of {} fixtures; \
         explained (types no function reaches, for importers): {unreached:?}; skipped: {skipped:#?}",
        all.len()
    );
    assert_eq!(
        fixtures_checked + skipped.len(),
        all.len(),
        "every fixture is checked or skipped for a reason"
    );
    // Most fixtures are single-package files: the comparison covers them.
    assert!(
        fixtures_checked * 4 >= all.len() * 3,
        "only {fixtures_checked} of {} fixtures were compared",
        all.len()
    );
    for (d, why) in DELIBERATE {
        assert!(
            deliberate.iter().any(|x| x == d),
            "`{d}` is listed as a deliberate disagreement ({why}) but semver_check agrees"
        );
    }
    assert!(
        mismatches.is_empty(),
        "{} unexplained mismatch(es):\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn unstable_items_are_ignored_by_default() {
    let dir = root().join("tests/diff/unstable-item-added");
    let old = load(&side_path(&dir, "old"));
    let new = load(&side_path(&dir, "new"));
    let report = diff_and_judge(
        &side(&old),
        &side(&new),
        &DiffOptions::default(),
        FailOn::Breaking,
    );
    assert!(
        report
            .findings
            .iter()
            .all(|f| !f.rule.starts_with("unstable-")),
        "{:?}",
        report.findings
    );
    let named = DiffOptions {
        features: vec!["fancy".into()],
        ..DiffOptions::default()
    };
    let report = diff_and_judge(&side(&old), &side(&new), &named, FailOn::Breaking);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.rule == "unstable-item-added")
    );
}

#[test]
fn our_own_releases_need_a_minor_bump_and_pass() {
    let old = load(&root().join("wit/text-transform/0.1.0"));
    let new = load(&root().join("wit/text-transform/0.2.0"));
    let report = diff_and_judge(
        &side(&old),
        &side(&new),
        &DiffOptions::default(),
        FailOn::Breaking,
    );
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.rule == "interface-added" && f.item == "example:text-transform/counter"),
        "{:?}",
        report.findings
    );
    assert_eq!(report.required_bump, pipectl_diff::Bump::Minor);
    assert!(report.ok, "{:?}", report.reason);
    // Backwards, the version goes down: the gate fails.
    let back = diff_and_judge(
        &side(&new),
        &side(&old),
        &DiffOptions::default(),
        FailOn::Breaking,
    );
    assert!(!back.ok);
}

/// The fixture pair of a rule, for the docs.
fn example(id: &str) -> Option<(String, String)> {
    let dir = root().join("tests/diff").join(id);
    let old = std::fs::read_to_string(dir.join("old.wit")).ok()?;
    let new = std::fs::read_to_string(dir.join("new.wit")).ok()?;
    Some((old, new))
}

/// `docs/wit-diff-rules.md` is generated (`cargo xtask docs`); it must be up
/// to date with the catalog and the fixtures.
#[test]
fn generated_rule_docs_are_up_to_date() {
    let generated = pipectl_diff::catalog::docs_markdown(&example);
    let path = root().join("docs/wit-diff-rules.md");
    if std::env::var_os("BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/wit-diff-rules.md is out of date: run `cargo xtask docs`"
    );
    for rule in Catalog::get().rules() {
        assert!(generated.contains(&format!("\n## {}\n", rule.id)));
    }
}

/// Diffs two WIT sources written to a temporary folder.
fn diff_sources(old: &str, new: &str, opts: &DiffOptions) -> pipectl_diff::DiffReport {
    let dir = tempfile::tempdir().unwrap();
    let (o, n) = (dir.path().join("old.wit"), dir.path().join("new.wit"));
    std::fs::write(&o, old).unwrap();
    std::fs::write(&n, new).unwrap();
    let (old, new) = (load(&o), load(&n));
    diff_and_judge(&side(&old), &side(&new), opts, FailOn::Breaking)
}

fn rules_of(report: &pipectl_diff::DiffReport) -> Vec<&str> {
    report.findings.iter().map(|f| f.rule.as_str()).collect()
}

#[test]
fn constructor_results_are_compared() {
    let r = diff_sources(
        "package a:b@1.0.0; interface i { resource r { constructor(x: u32); } }",
        "package a:b@2.0.0; interface i { variant e { bad } resource r { constructor(x: u32) -> result<r, e>; } }",
        &DiffOptions::default(),
    );
    assert!(
        rules_of(&r).contains(&"resource-constructor-changed"),
        "{:?}",
        rules_of(&r)
    );
}

#[test]
fn a_resource_from_another_interface_is_another_resource() {
    let r = diff_sources(
        "package a:b@1.0.0; interface types { resource blob; } interface store { resource blob; } interface api { use types.{blob}; f: func(b: borrow<blob>); }",
        "package a:b@1.0.1; interface types { resource blob; } interface store { resource blob; } interface api { use store.{blob}; f: func(b: borrow<blob>); }",
        &DiffOptions::default(),
    );
    let f = r
        .findings
        .iter()
        .find(|f| f.item == "a:b/api#blob")
        .expect("a finding on the use");
    assert_eq!(f.rule, "type-alias-target-changed");
    assert_eq!(f.importer, Effect::Breaking);
    assert!(!r.ok);
}

#[test]
fn hidden_unstable_items_take_no_part_in_renames() {
    let r = diff_sources(
        "package a:b@1.0.0; interface i { @unstable(feature = x) get-a: func() -> u32; }",
        "package a:b@1.0.0; interface i { @unstable(feature = x) get-b: func() -> u32; }",
        &DiffOptions::default(),
    );
    assert!(r.findings.is_empty(), "{:?}", rules_of(&r));
    assert!(r.ok);
}

#[test]
fn a_renamed_interface_is_still_compared_inside() {
    let r = diff_sources(
        "package a:b@1.0.0; interface a { f: func(x: u32); }",
        "package a:b@2.0.0; interface b { f: func(x: string); }",
        &DiffOptions::default(),
    );
    let rules = rules_of(&r);
    assert!(
        rules.contains(&"interface-renamed") && rules.contains(&"func-param-type-changed"),
        "{rules:?}"
    );
}

#[test]
fn a_named_alias_of_an_anonymous_type_is_that_type() {
    let r = diff_sources(
        "package a:b@1.0.0; interface i { type bytes = list<u8>; f: func(x: bytes); }",
        "package a:b@1.0.1; interface i { type bytes = list<u8>; f: func(x: list<u8>); }",
        &DiffOptions::default(),
    );
    assert!(
        r.findings
            .iter()
            .all(|f| f.rule != "func-param-type-changed"),
        "{:?}",
        rules_of(&r)
    );
}

/// Rule ids are strings in the engine and data in `rules.toml`: every
/// kebab-case literal the engine's source passes around is a rule of the
/// catalog (a typo would otherwise panic only when that change occurs),
/// and every rule of the catalog is named somewhere in the engine (no
/// rule the engine can never report).
#[test]
fn the_engine_names_only_rules_of_the_catalog_and_every_one() {
    let catalog = Catalog::get();
    let mut files = Vec::new();
    let src = root().join("crates/pipectl-diff/src");
    files.push(src.join("engine.rs"));
    for entry in std::fs::read_dir(src.join("engine")).unwrap() {
        files.push(entry.unwrap().path());
    }
    // Kebab-case literals that are not rule ids.
    const NOT_RULES: &[&str] = &["(unversioned)"];
    let mut named = std::collections::BTreeSet::new();
    let mut unknown = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        for (i, literal) in text.split('"').enumerate() {
            let is_kebab = literal.contains('-')
                && literal
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if i % 2 == 1 && is_kebab && !NOT_RULES.contains(&literal) {
                if catalog.contains(literal) {
                    named.insert(literal.to_string());
                } else {
                    unknown.push(format!("{}: `{literal}`", file.display()));
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "the engine names rules rules.toml lacks:\n{}",
        unknown.join("\n")
    );
    let missing: Vec<&str> = catalog
        .rules()
        .iter()
        .map(|r| r.id.as_str())
        .filter(|id| !named.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "rules the engine never names ({}): {missing:?}",
        missing.len()
    );
}
