//! The architecture's invariants that a reading of the source can check
//! (a tidy test): libraries never print and know neither clap nor
//! indicatif; the crates that read untrusted files read them only through
//! `pipectl_io::read_regular`; each `cmd/*.rs` of the binary is a thin
//! layer (at most 200 lines, importing no other `cmd` module); every `.rs`
//! file opens with a `//!` line.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/pipectl-io sits two levels below the root")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Lines of the library sources of `crate_name` (src/ only, `#[cfg(test)]`
/// modules cut off at their start), with file and line number.
fn library_lines(crate_name: &str) -> Vec<(String, usize, String)> {
    let mut files = Vec::new();
    rust_files(
        &root().join("crates").join(crate_name).join("src"),
        &mut files,
    );
    let mut lines = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") {
                continue;
            }
            lines.push((file.display().to_string(), n + 1, line.to_string()));
        }
    }
    lines
}

const LIBRARIES: [&str; 8] = [
    "pipectl-trust",
    "pipectl-io",
    "pipectl-wit",
    "pipectl-diff",
    "pipectl-compose",
    "pipectl-registry",
    "pipectl-run",
    "pipectl-manifest",
];

#[test]
fn libraries_never_print() {
    let mut offenders = Vec::new();
    for krate in LIBRARIES {
        for (file, n, line) in library_lines(krate) {
            if ["println!(", "eprintln!(", "print!(", "eprint!(", "dbg!("]
                .iter()
                .any(|m| line.contains(m))
            {
                offenders.push(format!("{file}:{n}: {}", line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "libraries print:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn untrusted_files_are_read_only_through_read_regular() {
    let mut offenders = Vec::new();
    for krate in [
        "pipectl-registry",
        "pipectl-run",
        "pipectl-manifest",
        "pipectl-wit",
    ] {
        for (file, n, line) in library_lines(krate) {
            // Allowed: the kernel's own files, and a folder opened to lock it.
            let allowed = line.contains("\"/proc/self/") || line.contains("File::open(dir)");
            if !allowed
                && ["fs::read(", "fs::read_to_string(", "File::open("]
                    .iter()
                    .any(|m| line.contains(m))
            {
                offenders.push(format!("{file}:{n}: {}", line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "files read without `pipectl_io::read_regular`:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn libraries_know_neither_clap_nor_indicatif() {
    let mut offenders = Vec::new();
    for krate in LIBRARIES {
        for (file, n, line) in library_lines(krate) {
            if ["clap", "indicatif"].iter().any(|m| line.contains(m)) {
                offenders.push(format!("{file}:{n}: {}", line.trim()));
            }
        }
        let manifest = root().join("crates").join(krate).join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        for (n, line) in text.lines().enumerate() {
            let name = line.split(['=', '.', ' ']).next().unwrap_or("");
            if name == "clap" || name == "indicatif" {
                offenders.push(format!("{}:{}: {line}", manifest.display(), n + 1));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "libraries that know the terminal:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn subcommands_are_thin_and_independent() {
    let dir = root().join("crates/pipectl/src/cmd");
    let mut offenders = Vec::new();
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    assert!(files.len() > 5, "the subcommands are in {}", dir.display());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines = text.lines().count();
        if lines > 200 {
            offenders.push(format!("{}: {lines} lines (at most 200)", file.display()));
        }
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if !code.starts_with("//")
                && (code.contains("crate::cmd::") || code.contains("super::"))
            {
                offenders.push(format!("{}:{}: {code}", file.display(), n + 1));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "subcommands that hold logic or reach into each other (shared helpers go to `cli/`):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn every_rust_file_opens_with_a_doc_line() {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(root().join("crates")).unwrap() {
        let krate = entry.unwrap().path();
        for sub in ["src", "tests", "benches", "examples"] {
            if krate.join(sub).is_dir() {
                rust_files(&krate.join(sub), &mut files);
            }
        }
    }
    rust_files(&root().join("xtask/src"), &mut files);
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| {
            !std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .next()
                .is_some_and(|l| l.starts_with("//!"))
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        files.len() > 50,
        "found the sources under {}",
        root().display()
    );
    assert!(
        offenders.is_empty(),
        "files without a `//!` first line:\n{}",
        offenders.join("\n")
    );
}

/// The crates (`crates/*`, `xtask`) whose Cargo.toml names one of `deps`.
fn crates_depending_on(deps: &[&str]) -> Vec<String> {
    crates_with_dependency(|name, _| deps.contains(&name))
}

/// The crates (and xtask) with a dependency line that `pick` accepts, given
/// the dependency's name and the whole line.
fn crates_with_dependency(pick: impl Fn(&str, &str) -> bool) -> Vec<String> {
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path().join("Cargo.toml"))
        .filter(|p| p.is_file())
        .collect();
    manifests.push(root().join("xtask/Cargo.toml"));
    let mut found: Vec<String> = manifests
        .iter()
        .filter(|m| {
            std::fs::read_to_string(m).unwrap().lines().any(|line| {
                let name = line.split(['=', '.', ' ']).next().unwrap_or("");
                pick(name, line)
            })
        })
        .map(|m| {
            let dir = m.parent().unwrap();
            dir.file_name().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    found.sort();
    found
}

/// `cargo xtask test` and `cargo xtask demo` build xtask first. Linked to
/// pipectl's libraries by default, it would build wasmtime and the wasm-tools
/// family once more with its own feature set before the tests build them
/// with the workspace's: most of a clean CI run. What the benchmarks and the
/// docs generator need stays behind xtask's `libs` feature.
#[test]
fn xtask_is_small_unless_it_benchmarks() {
    let manifest = std::fs::read_to_string(root().join("xtask/Cargo.toml")).unwrap();
    let deps = manifest
        .split("\n[dependencies]\n")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("xtask has a [dependencies] table");
    let required: Vec<&str> = deps
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter(|l| !l.contains("optional = true"))
        .map(|l| l.split(['=', '.', ' ']).next().unwrap_or(""))
        .collect();
    assert_eq!(required, ["anyhow", "tempfile", "fs-err", "serde_json"]);
}

#[test]
fn only_the_run_crate_and_xtask_link_wasmtime() {
    assert_eq!(
        crates_depending_on(&["wasmtime", "wasmtime-wasi", "wasmtime-wasi-http"]),
        ["pipectl-run", "xtask"]
    );
}

#[test]
fn only_the_registry_crate_has_an_http_client() {
    assert_eq!(
        crates_depending_on(&["reqwest", "oci-client", "ureq"]),
        ["pipectl-registry"]
    );
}

#[test]
fn only_the_serve_crate_runs_an_http_server() {
    // hyper's server side (hyper-util's server, graceful shutdown) is
    // `pipectl serve`'s alone; the registry reaches hyper only through
    // its client, the bench's load generator and the wasi:http test only
    // through hyper's client.
    assert_eq!(
        crates_with_dependency(|name, line| name == "axum"
            || (["hyper", "hyper-util"].contains(&name) && line.contains("server"))),
        ["pipectl-serve"]
    );
    assert_eq!(
        crates_depending_on(&["hyper", "hyper-util"]),
        ["pipectl-run", "pipectl-serve", "xtask"]
    );
}

/// Library functions longer than 100 lines, each with the reason
/// ARCHITECTURE.md gives ("Long functions"); the test fails when another
/// grows past 100 lines, or when one of these no longer does (the list
/// cannot go stale).
const LONG_FUNCTIONS: &[(&str, &str)] = &[
    ("pipectl-wit/src/types.rs", "compare_defs"),
    ("pipectl-run/src/expect.rs", "walk"),
    ("pipectl-wit/src/source.rs", "load_git"),
    ("pipectl-run/src/invoke.rs", "prepare"),
    ("pipectl-diff/src/engine/functions.rs", "functions"),
    ("pipectl-run/src/host.rs", "load_with"),
];

/// Every `fn` in a library crate's `src` (tests cut off) with its length
/// in lines, from its signature to its closing brace (braces in strings
/// and comments are skipped, roughly: enough for this source).
fn function_lengths() -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    for krate in LIBRARIES {
        let mut files = Vec::new();
        rust_files(&root().join("crates").join(krate).join("src"), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let text = text.split("#[cfg(test)]").next().unwrap_or("");
            let rel = file
                .strip_prefix(root().join("crates"))
                .unwrap()
                .display()
                .to_string();
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let t = line.trim_start();
                let t = t
                    .strip_prefix("pub(crate) ")
                    .or_else(|| t.strip_prefix("pub(super) "))
                    .or_else(|| t.strip_prefix("pub "))
                    .unwrap_or(t);
                let t = t.strip_prefix("async ").unwrap_or(t);
                let Some(rest) = t.strip_prefix("fn ") else {
                    continue;
                };
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let mut depth = 0i32;
                let mut opened = false;
                let mut end = i;
                'scan: for (j, l) in lines.iter().enumerate().skip(i) {
                    let code = l.split("//").next().unwrap_or("");
                    let mut in_str = false;
                    for c in code.chars() {
                        match c {
                            '"' => in_str = !in_str,
                            '{' if !in_str => {
                                depth += 1;
                                opened = true;
                            }
                            '}' if !in_str => depth -= 1,
                            ';' if !in_str && !opened && depth == 0 => break 'scan,
                            _ => {}
                        }
                    }
                    if opened && depth == 0 {
                        end = j;
                        break;
                    }
                }
                out.push((rel.clone(), name, end.saturating_sub(i) + 1));
            }
        }
    }
    out
}

#[test]
fn library_functions_stay_under_100_lines_unless_architecture_says_why() {
    let lengths = function_lengths();
    assert!(lengths.len() > 300, "the scan found too few functions");
    let long: Vec<_> = lengths.iter().filter(|(_, _, n)| *n > 100).collect();
    let unexplained: Vec<String> = long
        .iter()
        .filter(|(f, name, _)| !LONG_FUNCTIONS.contains(&(f.as_str(), name.as_str())))
        .map(|(f, name, n)| format!("{f}: fn {name}: {n} lines"))
        .collect();
    assert!(
        unexplained.is_empty(),
        "library functions over 100 lines (split them, or say why in ARCHITECTURE.md's \
         \"Long functions\" and list them here):\n{}",
        unexplained.join("\n")
    );
    for (file, name) in LONG_FUNCTIONS {
        assert!(
            long.iter().any(|(f, n, _)| f == file && n == name),
            "{file}: fn {name} is listed as long but is not (remove it from LONG_FUNCTIONS)"
        );
    }
    let architecture = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    for (_, name) in LONG_FUNCTIONS {
        assert!(
            architecture.contains(&format!("`{name}`")),
            "ARCHITECTURE.md must say why `{name}` is long"
        );
    }
}

/// Libraries name no command-line flag in what they say: they attach a
/// `pipectl_io::Hint` and the binary renders it. Exempt: the arguments
/// pipectl-wit passes to `git`, and the rule catalog's page of CLI docs.
#[test]
fn libraries_name_no_command_line_flags() {
    let exempt = ["pipectl-wit/src/source.rs", "pipectl-diff/src/catalog.rs"];
    let mut found = Vec::new();
    for krate in LIBRARIES {
        for (file, n, line) in library_lines(krate) {
            if exempt.iter().any(|e| file.ends_with(e)) {
                continue;
            }
            let code = line.split("//").next().unwrap_or("");
            let in_string = code.split('"').skip(1).step_by(2).any(|s| {
                s.match_indices("--")
                    .any(|(i, _)| s[i + 2..].starts_with(|c: char| c.is_ascii_lowercase()))
            });
            if in_string {
                found.push(format!("{file}:{n}: {}", line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "library strings that name a flag (attach a Hint instead):\n{}",
        found.join("\n")
    );
}
