//! The README's `console` blocks, run in order as written, from a scratch
//! folder that looks like the repository's root (its `wit/`, `target/`,
//! `tests/` and `pipeline.toml`), with a scratch home: every `$ command`
//! must succeed and print what the README shows (`*` any text within a
//! line, a line `...` any lines). `$ cargo …` lines are what the test
//! command runs before the tests (the plugins are built), and are skipped.

use std::path::Path;
use std::process::Command;

use pipectl_testkit::root;

/// One `$ command` and the output the README shows for it.
struct Example {
    line: usize,
    command: String,
    expected: Vec<String>,
}

fn examples(readme: &str) -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    let mut in_console = false;
    for (i, line) in readme.lines().enumerate() {
        if line.starts_with("```console") {
            in_console = true;
        } else if line.starts_with("```") {
            in_console = false;
        } else if in_console {
            if let Some(command) = line.strip_prefix("$ ") {
                out.push(Example {
                    line: i + 1,
                    command: command.to_string(),
                    expected: Vec::new(),
                });
            } else if let Some(last) = out.last_mut() {
                last.expected.push(line.to_string());
            }
        }
    }
    out
}

/// Whether `text` matches `pattern`, where `*` is any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let Some(mut rest) = text.strip_prefix(parts[0]) else {
        return false;
    };
    for (i, part) in parts[1..].iter().enumerate() {
        if i == parts.len() - 2 {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Whether `lines` match `expected`, where a line `...` is any lines.
fn matches(expected: &[String], lines: &[&str]) -> bool {
    match expected.split_first() {
        None => lines.is_empty(),
        Some((first, rest)) if first.trim() == "..." => {
            (0..=lines.len()).any(|skip| matches(rest, &lines[skip..]))
        }
        Some((first, rest)) => {
            !lines.is_empty() && glob(first, lines[0]) && matches(rest, &lines[1..])
        }
    }
}

fn link(from: &Path, to: &Path) {
    std::os::unix::fs::symlink(from, to).unwrap();
}

#[test]
fn the_readme_console_blocks_run_as_written() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let examples = examples(&readme);
    assert!(examples.len() >= 6, "the README shows too little");
    let scratch = tempfile::tempdir().unwrap();
    let work = scratch.path().join("repo");
    std::fs::create_dir(&work).unwrap();
    for entry in ["wit", "target", "tests", "crates", "pipeline.toml"] {
        link(&root().join(entry), &work.join(entry));
    }
    let bin = scratch.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    link(
        Path::new(env!("CARGO_BIN_EXE_pipectl")),
        &bin.join("pipectl"),
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let home = scratch.path().join("home");
    let mut ran = 0;
    for ex in &examples {
        if ex.command.starts_with("cargo ") {
            continue;
        }
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(format!("set -o pipefail; {} 2>&1", ex.command))
            .current_dir(&work)
            .env("PATH", &path);
        crate::support::isolate(&mut cmd, &home);
        let out = crate::support::output_within(cmd, crate::support::COMMAND_LIMIT);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "README.md:{}: `{}` failed ({}):\n{text}",
            ex.line,
            ex.command,
            out.status
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            matches(&ex.expected, &lines),
            "README.md:{}: `{}` printed\n{text}\nwhere the README shows\n{}",
            ex.line,
            ex.command,
            ex.expected.join("\n")
        );
        ran += 1;
    }
    assert!(ran >= 5, "only {ran} README commands ran");
}

#[test]
fn the_matcher_refuses_what_differs() {
    let lines = ["a 1 b", "x", "y", "end"];
    let exp = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.to_string()).collect() };
    assert!(matches(&exp(&["a * b", "...", "end"]), &lines));
    assert!(!matches(&exp(&["a * c", "..."]), &lines));
    assert!(!matches(&exp(&["a * b", "x"]), &lines));
    assert!(!matches(&exp(&["a * b", "...", "y"]), &lines));
}
