//! Golden CLI tests, in the style of wasm-tools' `tests/cli`: every
//! `tests/cli/**/*.{test,wat,toml}` file carries `RUN:` lines (after `;;`,
//! `#` or `//`); each runs `pipectl` from the repository root and its exit
//! code, stdout and stderr must equal the blocks in `<file>.out`.
//! `BLESS=1 cargo test` rewrites the `.out` files.
//!
//! In a RUN line, `%` is the file itself, `{plugins}` and `{fixtures}` the
//! built components, `{tmp}` a fresh temporary folder. An `ASSERT-NO-FILE:`
//! line names a file that must not exist afterwards (nothing half-written).
//! `.wat` and `.toml` files without RUN lines are data for other tests.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use pipectl_testkit::root;

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("tests/cli exists")
        .map(|e| e.expect("readable entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, out);
        } else if path
            .extension()
            .is_some_and(|e| e == "test" || e == "wat" || e == "toml")
        {
            out.push(path);
        }
    }
}

/// Splits a RUN line into arguments; single or double quotes group.
fn split(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_arg = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_arg = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_arg {
                    args.push(std::mem::take(&mut cur));
                    in_arg = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_arg = true;
            }
        }
    }
    if in_arg {
        args.push(cur);
    }
    args
}

fn directive<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let line = line.trim_start();
    let rest = line
        .strip_prefix(";;")
        .or_else(|| line.strip_prefix("//"))
        .or_else(|| line.strip_prefix('#'))?;
    rest.trim_start().strip_prefix(name).map(str::trim)
}

/// Replaces what differs from run to run: the temporary folder and digests.
fn normalize(text: &str, tmp: &Path) -> String {
    let text = text.replace(&tmp.display().to_string(), "{tmp}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest.find("sha256:") {
        out.push_str(&rest[..i + 7]);
        let after = &rest[i + 7..];
        let hex = after.bytes().take_while(u8::is_ascii_hexdigit).count();
        if hex == 64 {
            out.push_str("<digest>");
            rest = &after[64..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    sizes(&out)
}

/// Replaces byte counts, which change with the toolchain: `"size": N` and
/// `N bytes` (with the padding before N) become `<size>`.
fn sizes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let mut line = line.to_string();
        if let Some(i) = line.find("\"size\": ") {
            let start = i + "\"size\": ".len();
            let digits = line[start..].bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 {
                line.replace_range(start..start + digits, "<size>");
            }
        }
        let mut from = 0;
        while let Some(j) = line[from..].find(" bytes").map(|j| j + from) {
            let digits = line[..j]
                .bytes()
                .rev()
                .take_while(u8::is_ascii_digit)
                .count();
            if digits == 0 {
                from = j + 1;
                continue;
            }
            let mut start = j - digits;
            // Right-aligned columns pad before the number: two spaces and
            // `<size>` stand for any padding.
            let pad = line[..start]
                .bytes()
                .rev()
                .take_while(|b| *b == b' ')
                .count();
            let replacement = if pad >= 2 {
                start -= pad;
                "  <size>"
            } else {
                "<size>"
            };
            line.replace_range(start..j, replacement);
            from = start + replacement.len();
        }
        out.push_str(&line);
    }
    out
}

fn run_file(path: &Path, failures: &mut Vec<String>) {
    let root = root();
    let rel = path.strip_prefix(&root).expect("under the root");
    let text = std::fs::read_to_string(path).expect("readable test file");
    let tmp = tempfile::tempdir().expect("a temp dir");
    let subst = |s: &str| {
        s.replace('%', &rel.display().to_string())
            .replace("{plugins}", "target/plugins")
            .replace("{fixtures}", "target/fixtures")
            .replace("{tmp}", &tmp.path().display().to_string())
    };
    let mut actual = String::new();
    let mut ran = false;
    for line in text.lines() {
        if let Some(cmd) = directive(line, "RUN:") {
            ran = true;
            let args = split(&subst(cmd));
            let output = Command::new(env!("CARGO_BIN_EXE_pipectl"))
                .args(&args)
                .current_dir(&root)
                .env("PIPECTL_CACHE_DIR", tmp.path().join("cache"))
                .env_remove("RUST_BACKTRACE")
                .output()
                .expect("pipectl runs");
            let _ = writeln!(actual, "$ pipectl {cmd}");
            let _ = writeln!(actual, "exit: {}", output.status.code().unwrap_or(-1));
            let _ = writeln!(actual, "--- stdout");
            actual.push_str(&normalize(
                &String::from_utf8_lossy(&output.stdout),
                tmp.path(),
            ));
            let _ = writeln!(actual, "--- stderr");
            actual.push_str(&normalize(
                &String::from_utf8_lossy(&output.stderr),
                tmp.path(),
            ));
            actual.push('\n');
        } else if let Some(file) = directive(line, "ASSERT-NO-FILE:") {
            let file = PathBuf::from(subst(file));
            let file = if file.is_absolute() {
                file
            } else {
                root.join(file)
            };
            if file.exists() {
                failures.push(format!(
                    "{}: `{}` exists but must not",
                    rel.display(),
                    file.display()
                ));
            }
        }
    }
    if !ran {
        // Data files (policies, manifests used by other tests) have no RUN
        // lines; a `.test` file without one is a mistake.
        assert!(
            path.extension().is_none_or(|e| e != "test"),
            "{} has no RUN: line",
            rel.display()
        );
        return;
    }
    let expected_path = PathBuf::from(format!("{}.out", path.display()));
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&expected_path, &actual).expect("write the .out file");
        return;
    }
    match std::fs::read_to_string(&expected_path) {
        Ok(expected) if expected == actual => {}
        Ok(expected) => failures.push(format!(
            "{} differs from {}:\n--- expected\n{expected}\n--- actual\n{actual}",
            rel.display(),
            expected_path
                .strip_prefix(&root)
                .unwrap_or(&expected_path)
                .display()
        )),
        Err(_) => failures.push(format!(
            "{} has no expected output; run with BLESS=1 to create it:\n{actual}",
            rel.display()
        )),
    }
}

#[test]
fn golden() {
    let mut files = Vec::new();
    collect(&root().join("tests/cli"), &mut files);
    assert!(!files.is_empty(), "no golden tests found");
    let mut failures = Vec::new();
    for file in &files {
        run_file(file, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} golden test(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn split_groups_quotes() {
    assert_eq!(
        split("check a 'b c' --x=\"d e\""),
        ["check", "a", "b c", "--x=d e"]
    );
}
