//! `pipectl key`: pairs openssl reads, modes that keep the secret, no
//! overwrite, and keys that never reach the output.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

fn pipectl(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn generated_keys_are_private_readable_by_openssl_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let out = pipectl(dir.path(), &["key", "generate", "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true);
    let key = dir.path().join("pipectl.key");
    let public = dir.path().join("pipectl.pub");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&public) & 0o600, 0o600);
    let secret = std::fs::read_to_string(&key).unwrap();
    assert!(secret.starts_with("-----BEGIN PRIVATE KEY-----"));
    // openssl derives the same public key from the private one.
    let derived = Command::new("openssl")
        .args(["pkey", "-in", "pipectl.key", "-pubout"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(derived.status.success());
    assert_eq!(derived.stdout, std::fs::read(&public).unwrap());
    // The same fingerprint from either half, and from an environment variable.
    let fp = report["fingerprint"].as_str().unwrap().to_string();
    for spec in ["pipectl.key", "pipectl.pub", "env:TEST_KEY"] {
        let out = Command::new(env!("CARGO_BIN_EXE_pipectl"))
            .args(["key", "public", "--key", spec, "--format", "json"])
            .current_dir(dir.path())
            .env("TEST_KEY", &secret)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{spec}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(shown["fingerprint"], fp.as_str(), "{spec}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("PRIVATE"));
    }
    // A second generate refuses and leaves the pair as it was.
    let out = pipectl(dir.path(), &["key", "generate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("never overwrites a key"));
    assert_eq!(std::fs::read_to_string(&key).unwrap(), secret);
}

#[test]
fn a_bad_key_is_named_and_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXRva2VuLXNob3VsZC1ub3QtbGVhaw==\n-----END PRIVATE KEY-----\n";
    std::fs::write(dir.path().join("bad.pem"), bogus).unwrap();
    let out = pipectl(dir.path(), &["key", "public", "--key", "bad.pem"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.pem is not a P-256 private key"),
        "{stderr}"
    );
    assert!(!stderr.contains("c2VjcmV0"), "{stderr}");
    let out = pipectl(dir.path(), &["key", "public", "--key", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a regular file"));
}
