//! The architecture's invariants that a reading of the source can check:
//! libraries never print, and the crates that read untrusted files read
//! them only through `pipectl_io::read_regular`.

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

const LIBRARIES: [&str; 7] = [
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
