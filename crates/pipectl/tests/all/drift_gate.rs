//! The reusable drift gate (`.github/workflows/wit-drift.yml`): its steps'
//! scripts, taken from the workflow file as GitHub would run them, run in a
//! scratch repository with a real git history.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use pipectl_testkit::root;

/// A step of the workflow: its `env` and its `run` script.
struct Step {
    env: BTreeMap<String, String>,
    run: String,
}

/// The step named `name` of `.github/workflows/wit-drift.yml`.
fn step(name: &str) -> Step {
    let text = std::fs::read_to_string(root().join(".github/workflows/wit-drift.yml")).unwrap();
    let start = text
        .find(&format!("- name: {name}\n"))
        .unwrap_or_else(|| panic!("the workflow has no step `{name}`"));
    let mut lines = text[start..].lines().skip(1);
    let (mut env, mut run) = (BTreeMap::new(), String::new());
    let mut section = "";
    for line in lines.by_ref() {
        let indent = line.len() - line.trim_start().len();
        if line.trim_start().starts_with("- ") && indent <= 6 {
            break;
        }
        match line.trim() {
            "env:" => section = "env",
            "run: |" => section = "run",
            _ if section == "env" && indent == 10 => {
                let (k, v) = line.trim().split_once(": ").unwrap();
                env.insert(k.to_string(), v.to_string());
            }
            _ if section == "run" && (indent >= 10 || line.trim().is_empty()) => {
                run.push_str(line.get(10..).unwrap_or(""));
                run.push('\n');
            }
            _ => section = "",
        }
    }
    assert!(!run.is_empty(), "step `{name}` has no script");
    Step { env, run }
}

/// Runs a step's script with `env` (every variable the step declares must
/// be given: the values GitHub would compute).
fn run_step(step: &Step, dir: &Path, env: &[(&str, &str)], path: &Path) -> Output {
    for key in step.env.keys() {
        assert!(
            env.iter().any(|(k, _)| k == key),
            "the test must give `{key}`"
        );
    }
    let system_path = std::env::var("PATH").unwrap_or_default();
    Command::new("bash")
        .arg("-c")
        .arg(&step.run)
        .current_dir(dir)
        .envs(env.iter().copied())
        .env("PATH", format!("{}:{system_path}", path.display()))
        .output()
        .unwrap()
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn wit(version: &str, param: &str) -> String {
    format!(
        "package test:gate@{version};\n\ninterface api {{\n  f: func(a: {param}) -> u32;\n}}\n\nworld w {{\n  export api;\n}}\n"
    )
}

#[test]
fn the_workflow_gates_a_scratch_repository_history() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("wit")).unwrap();
    // pipectl on PATH, as `cargo install` leaves it.
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_pipectl"), bin.join("pipectl")).unwrap();

    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("wit/gate.wit"), wit("1.0.0", "u32")).unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "1.0.0"]);
    git(&repo, &["tag", "v1"]);

    let diff = step("Diff the WIT against the baseline");
    let summary = dir.path().join("summary.md");
    let env = |baseline: &'static str| {
        [
            ("WIT", "wit"),
            ("BASELINE", baseline),
            ("FAIL_ON", "breaking"),
            ("POLICY", "guest"),
            ("ROLE", ""),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ]
    };

    // A breaking change under the same version: the gate fails (exit 1),
    // annotates the line and writes the summary.
    std::fs::write(repo.join("wit/gate.wit"), wit("1.0.0", "string")).unwrap();
    git(&repo, &["commit", "-qam", "break it"]);
    let out = run_step(&diff, &repo, &env("v1"), &bin);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("::error"), "GitHub annotations: {stdout}");
    let report = std::fs::read_to_string(&summary).unwrap();
    assert!(
        report.contains("test:gate") && report.contains("major"),
        "{report}"
    );

    // The same change with a major bump passes.
    std::fs::write(repo.join("wit/gate.wit"), wit("2.0.0", "string")).unwrap();
    git(&repo, &["commit", "-qam", "2.0.0"]);
    let out = run_step(&diff, &repo, &env("v1"), &bin);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A baseline that does not exist: could not run (2), not a pass.
    let out = run_step(&diff, &repo, &env("no-such-rev"), &bin);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_workflow_installs_pipectl_from_git_in_another_repository() {
    let dir = tempfile::tempdir().unwrap();
    let install = step("Install pipectl");
    // A `cargo` that records how it was called.
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let log = dir.path().join("cargo.log");
    let fake = bin.join("cargo");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let env = [
        ("PIPECTL_GIT", "https://example.com/pipectl"),
        ("PIPECTL_REV", "abc123"),
    ];
    // Another repository: from git, pinned, with its lockfile.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let out = run_step(&install, &other, &env, &bin);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "install --locked --git https://example.com/pipectl --rev abc123 pipectl\n"
    );
    // pipectl's own repository: the checkout's pipectl.
    std::fs::remove_file(&log).unwrap();
    let out = run_step(&install, &root(), &env, &bin);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "install --locked --path crates/pipectl\n"
    );
}
