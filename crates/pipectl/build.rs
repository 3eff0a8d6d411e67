//! Records what `pipectl --version` names: the commit it was built from
//! and the versions of the engines inside (from the workspace's
//! `Cargo.lock`).

use std::path::Path;
use std::process::Command;

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let root = Path::new(&manifest_dir).join("../..");
    println!("cargo:rerun-if-env-changed=PIPECTL_BUILD_COMMIT");
    let commit = std::env::var("PIPECTL_BUILD_COMMIT")
        .ok()
        .or_else(|| git(&root, &["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "commit unknown".to_string());
    // Rebuild when HEAD moves: the file HEAD and the branch it names.
    if let Some(git_dir) = git(&root, &["rev-parse", "--absolute-git-dir"]) {
        let head = Path::new(&git_dir).join("HEAD");
        println!("cargo:rerun-if-changed={}", head.display());
        if let Ok(text) = std::fs::read_to_string(&head)
            && let Some(branch) = text.trim().strip_prefix("ref: ")
        {
            println!(
                "cargo:rerun-if-changed={}",
                Path::new(&git_dir).join(branch).display()
            );
        }
    }
    let lock_path = root.join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock_path.display());
    let lock = std::fs::read_to_string(&lock_path).unwrap_or_default();
    println!("cargo:rustc-env=PIPECTL_COMMIT={commit}");
    println!(
        "cargo:rustc-env=PIPECTL_WASMTIME={}",
        versions(&lock, "wasmtime")
    );
    println!(
        "cargo:rustc-env=PIPECTL_WIT_COMPONENT={}",
        versions(&lock, "wit-component")
    );
    println!(
        "cargo:rustc-env=PIPECTL_WAC_GRAPH={}",
        versions(&lock, "wac-graph")
    );
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// The versions of package `name` in a `Cargo.lock`, newest first.
fn versions(lock: &str, name: &str) -> String {
    let mut found: Vec<&str> = Vec::new();
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == format!("name = \"{name}\"")
            && let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = \""))
        {
            found.push(v.trim_end_matches('"'));
        }
    }
    found.reverse();
    if found.is_empty() {
        "unknown".to_string()
    } else {
        found.join(", ")
    }
}
