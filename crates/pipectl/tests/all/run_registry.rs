//! `pipectl run` takes the registry flags `compose` takes: a manifest's
//! registry stages on a registry that wants credentials run with
//! `--username`/`--password-stdin`, and are refused without them.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use pipectl_testkit::{RegistryServer, plugin};

fn pipectl(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("PIPECTL_CACHE_DIR", dir.join("cache"))
        .env_remove("PIPECTL_CONFIG")
        .env_remove("PIPECTL_REGISTRY_HOST")
        .env_remove("PIPECTL_REGISTRY_USERNAME")
        .env_remove("PIPECTL_REGISTRY_PASSWORD")
        .env_remove("PIPECTL_REGISTRY_TOKEN")
        .env_remove("DOCKER_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pipectl runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn run_takes_the_registry_flags_of_compose() {
    let (user, password) = ("ci-bot", "correct-horse-battery");
    let registry = RegistryServer::start_with_auth(user, password);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let reference = format!("{}/plugins/validator:0.2.0", registry.addr);
    let validator = plugin("validator");
    let credentials = ["--username", user, "--password-stdin"];
    let published = pipectl(
        dir,
        &[
            &["publish", validator.to_str().unwrap(), &reference],
            &credentials[..],
        ]
        .concat(),
        &format!("{password}\n"),
    );
    assert!(published.status.success(), "{published:?}");
    std::fs::write(
        dir.join("pipeline.toml"),
        format!(
            "[pipeline]\nname = \"p\"\nversion = \"1.0.0\"\n\
             world = \"example:text-transform/plugin@0.2.0\"\nwit = \"{wit}\"\n\n\
             [[stage]]\nname = \"validator\"\noci = \"{addr}/plugins/validator\"\nversion = \"^0.2\"\n",
            wit = pipectl_testkit::root()
                .join("wit/text-transform/0.2.0")
                .display(),
            addr = registry.addr
        ),
    )
    .unwrap();
    std::fs::write(dir.join("input.txt"), "one two three").unwrap();
    let run = ["run", "pipeline.toml", "--input", "input.txt"];

    // Without credentials: could not run (2), the registry's answer named,
    // no lockfile written.
    let anonymous = pipectl(dir, &run, "");
    let err = String::from_utf8_lossy(&anonymous.stderr);
    assert_eq!(anonymous.status.code(), Some(2), "{err}");
    assert!(
        err.contains("stage `validator`") && err.contains("401"),
        "{err}"
    );
    assert!(!dir.join("pipectl.lock").exists());

    // With them, on stdin (the input comes from `--input`), scoped to the
    // registry with `--registry` (never to one a manifest names): the stage
    // runs and the lockfile pins it; no secret in any output.
    let scope = ["--registry", registry.addr.as_str(), "--retries", "0"];
    let flags = [&run[..], &credentials[..], &scope[..]].concat();
    let ran = pipectl(dir, &flags, &format!("{password}\n"));
    let err = String::from_utf8_lossy(&ran.stderr);
    assert_eq!(ran.status.code(), Some(0), "{err}");
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "one two three");
    assert!(!err.contains(password));
    let lock = std::fs::read_to_string(dir.join("pipectl.lock")).unwrap();
    assert!(lock.contains("plugins/validator"), "{lock}");

    // The rest of compose's registry flags parse for `run` too.
    let help = pipectl(dir, &["run", "--help"], "");
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--insecure",
        "--username",
        "--password-stdin",
        "--config",
        "--registry",
        "--retries",
        "--max-blob-size",
        "--max-manifest-size",
    ] {
        assert!(help.contains(flag), "`run --help` lacks {flag}:\n{help}");
    }
}
