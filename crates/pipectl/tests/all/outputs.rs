//! Files and streams as users expect: outputs honour the umask and keep an
//! existing file's mode, a symbolic link at an output path is refused
//! unless `--force`, and a closed stderr never turns into a panic.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};

use pipectl_testkit::{plugin, root};

fn manifest(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("pipeline.toml");
    let stage = |name: &str| plugin(name).display().to_string();
    std::fs::write(
        &path,
        format!(
            "[pipeline]\nname = \"p\"\nversion = \"0.1.0\"\nwit = \"{}\"\nworld = \"example:text-transform/plugin@0.2.0\"\n\n\
             [[stage]]\nname = \"normalizer\"\npath = \"{}\"\n\n[[stage]]\nname = \"validator\"\npath = \"{}\"\n",
            root().join("wit/text-transform/0.2.0").display(),
            stage("normalizer"),
            stage("validator"),
        ),
    )
    .unwrap();
    path
}

/// `pipectl compose` with `umask` set by the shell, so the child inherits it.
fn compose(dir: &Path, umask: &str, out: &str, extra: &str) -> std::process::Output {
    let script = format!("umask {umask} && exec \"$0\" compose pipeline.toml -o {out} {extra}",);
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_pipectl"))
        .current_dir(dir)
        .env("PIPECTL_CACHE_DIR", dir.join("cache"))
        .env("PIPECTL_CONFIG_DIR", dir.join("config"))
        .output()
        .unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn outputs_honour_the_umask_and_keep_an_existing_mode() {
    let dir = tempfile::tempdir().unwrap();
    manifest(dir.path());
    let out = compose(dir.path(), "022", "a.wasm", "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        mode(&dir.path().join("a.wasm")),
        0o644,
        "0666 less umask 022"
    );
    let out = compose(dir.path(), "077", "b.wasm", "");
    assert!(out.status.success());
    assert_eq!(
        mode(&dir.path().join("b.wasm")),
        0o600,
        "0666 less umask 077"
    );
    std::fs::set_permissions(
        dir.path().join("a.wasm"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let out = compose(dir.path(), "022", "a.wasm", "");
    assert!(out.status.success());
    assert_eq!(
        mode(&dir.path().join("a.wasm")),
        0o640,
        "an existing file keeps its mode"
    );
}

#[test]
fn a_symlinked_output_is_refused_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    manifest(dir.path());
    let target = dir.path().join("precious.txt");
    std::fs::write(&target, b"keep me").unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("out.wasm")).unwrap();
    let out = compose(dir.path(), "022", "out.wasm", "");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("out.wasm")
            && stderr.contains("symbolic link")
            && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
    assert!(
        std::fs::symlink_metadata(dir.path().join("out.wasm"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".pipectl-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left behind");

    let out = compose(dir.path(), "022", "out.wasm", "--force");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(&target).unwrap(),
        b"keep me",
        "the link's target is untouched"
    );
    let meta = std::fs::symlink_metadata(dir.path().join("out.wasm")).unwrap();
    assert!(meta.is_file(), "the link itself was replaced by the output");
}

#[test]
fn a_closed_stderr_is_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    // An error path (the file does not exist) writes to stderr.
    let status = Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .args(["compose", "missing.toml", "-o", "x.wasm"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(writer)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2), "exit 2, not a panic's 101");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .args(["check", "missing.wasm", "--wit"])
        .arg(root().join("wit/text-transform/0.2.0"))
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(writer)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2), "exit 2, not a panic's 101");
}

#[test]
fn fetch_refuses_a_symlinked_output_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_pipectl"))
            .args(args)
            .current_dir(dir.path())
            .env("PIPECTL_CACHE_DIR", dir.path().join("cache"))
            .env("PIPECTL_CONFIG_DIR", dir.path().join("config"))
            .output()
            .unwrap()
    };
    let plugin = plugin("normalizer").display().to_string();
    let out = run(&["publish", &plugin, "oci-layout:store:0.1.0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let target = dir.path().join("precious.txt");
    std::fs::write(&target, b"keep me").unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("got.wasm")).unwrap();
    let out = run(&[
        "fetch",
        "oci-layout:store:0.1.0",
        "-o",
        "got.wasm",
        "--no-lock",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("symbolic link"));
    assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
    let out = run(&[
        "fetch",
        "oci-layout:store:0.1.0",
        "-o",
        "got.wasm",
        "--no-lock",
        "--force",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
    assert_eq!(
        std::fs::read(dir.path().join("got.wasm")).unwrap(),
        std::fs::read(plugin).unwrap()
    );
}
