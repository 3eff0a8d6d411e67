//! `publish`, `fetch` and `compose` fed what a pull request or a registry
//! controls: lockfiles, OCI layouts, cache entries, references and
//! configuration files written to escape, hang or leak; and environment
//! credentials that must not follow a manifest to another registry.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pipectl_registry::artifact::{Artifact, ComponentInfo, annotations};
use pipectl_registry::layout::LayoutStore;
use pipectl_registry::store::{Progress, Store as _};
use pipectl_testkit::{RegistryServer, plugin, root};

use crate::support::{Sandbox, fails, ok, output_within};

/// A Wasm artifact of `plugin(name)` whose manifest says `version`.
fn artifact(name: &str, version: &str) -> Artifact {
    Artifact::build(
        std::fs::read(plugin(name)).unwrap(),
        &format!("{name}.wasm"),
        ComponentInfo {
            exports: vec![],
            imports: vec![],
            target: None,
        },
        "2026-01-01T00:00:00Z",
        [(annotations::VERSION.to_string(), version.to_string())].into(),
    )
}

#[test]
fn a_lockfile_version_that_climbs_out_of_the_working_directory_is_refused() {
    let sb = Sandbox::with_workdir();
    let normalizer = plugin("normalizer");
    ok(&sb.run(&[
        "publish",
        normalizer.to_str().unwrap(),
        "oci-layout:store:0.2.0",
    ]));
    ok(&sb.run(&["fetch", "oci-layout:store:^0.2", "-o", "first.wasm"]));
    let lock = std::fs::read_to_string(sb.path("pipectl.lock")).unwrap();
    let planted = lock.replace("version = \"0.2.0\"", "version = \"x/../../f\"");
    assert_ne!(planted, lock);
    std::fs::write(sb.path("pipectl.lock"), &planted).unwrap();
    let before = sb.files();

    // Without `-o`, the old code wrote `store-x/../../f.wasm`: the parent
    // of the working directory.
    let err = fails(&sb.run(&["fetch", "oci-layout:store:^0.2"]));
    assert!(
        err.contains("pipectl.lock")
            && err.contains("version `x/../../f`")
            && err.contains("path separator"),
        "{err}"
    );
    assert_eq!(sb.files(), before, "nothing written anywhere");
    assert!(!sb.top("f.wasm").exists());
    assert_eq!(
        std::fs::read_to_string(sb.path("pipectl.lock")).unwrap(),
        planted
    );
}

#[test]
fn a_registry_version_annotation_that_climbs_out_is_refused() {
    let sb = Sandbox::with_workdir();
    let evil = artifact("normalizer", "x/../../f");
    LayoutStore::new(sb.path("layout"))
        .push(&evil, "1.0.0", None, &Progress::new(false))
        .unwrap();
    let before = sb.files();
    let reference = format!("oci-layout:layout@{}", evil.manifest_digest);
    let err = fails(&sb.run(&["fetch", &reference]));
    assert!(
        err.contains("oci-layout:layout")
            && err.contains("org.opencontainers.image.version")
            && err.contains("version `x/../../f`")
            && err.contains("path separator"),
        "{err}"
    );
    assert_eq!(sb.files(), before, "nothing written, no lockfile");
    // With `-o` too: the version would go into the lockfile.
    let err = fails(&sb.run(&["fetch", &reference, "-o", "named.wasm"]));
    assert!(err.contains("version `x/../../f`"), "{err}");
    assert_eq!(sb.files(), before);
}

#[test]
fn digests_that_are_paths_are_refused_before_anything_is_read() {
    let sb = Sandbox::with_workdir();
    // A secret next to the cache and the layout, where `..` leads.
    std::fs::write(sb.top("secret"), "root:x:0:0").unwrap();
    let secret_digest = pipectl_registry::artifact::digest(b"root:x:0:0");

    // In an OCI layout's index.json.
    ok(&sb.run(&[
        "publish",
        plugin("normalizer").to_str().unwrap(),
        "oci-layout:layout:1.0.0",
    ]));
    let index = sb.path("layout/index.json");
    let text = std::fs::read_to_string(&index).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let digest = v["manifests"][0]["digest"].as_str().unwrap().to_string();
    std::fs::write(&index, text.replace(&digest, "sha256:../../../../secret")).unwrap();
    let err = fails(&sb.run(&["fetch", "oci-layout:layout:1.0.0", "-o", "x.wasm"]));
    assert!(
        err.contains("index.json") && err.contains("not a digest"),
        "{err}"
    );
    assert!(!err.contains(&secret_digest), "the secret was read: {err}");
    assert!(!sb.path("x.wasm").exists());
    std::fs::write(&index, &text).unwrap();

    // In pipectl.lock.
    ok(&sb.run(&["fetch", "oci-layout:layout:1.0.0", "-o", "y.wasm"]));
    let lock = std::fs::read_to_string(sb.path("pipectl.lock")).unwrap();
    std::fs::write(
        sb.path("pipectl.lock"),
        lock.replace(&digest, "sha256:../../secret"),
    )
    .unwrap();
    let err = fails(&sb.run(&["fetch", "oci-layout:layout:1.0.0", "-o", "z.wasm"]));
    assert!(
        err.contains("pipectl.lock") && err.contains("not a digest"),
        "{err}"
    );
    assert!(!err.contains(&secret_digest), "{err}");
    assert!(!sb.path("z.wasm").exists());
}

#[cfg(unix)]
#[test]
fn a_blob_that_is_a_fifo_is_a_clear_error_not_a_hang() {
    let sb = Sandbox::with_workdir();
    let a = artifact("validator", "1.0.0");
    LayoutStore::new(sb.path("layout"))
        .push(&a, "1.0.0", None, &Progress::new(false))
        .unwrap();
    let layer = sb.path("layout/blobs/sha256").join(a.layer_digest().hex());
    std::fs::remove_file(&layer).unwrap();
    let made = Command::new("mkfifo").arg(&layer).status().unwrap();
    assert!(made.success());
    let start = Instant::now();
    let out = output_within(
        sb.cmd(&["fetch", "oci-layout:layout:1.0.0", "-o", "x.wasm"]),
        Duration::from_secs(30),
    );
    let err = fails(&out);
    assert!(
        err.contains("not a regular file (it is a FIFO)") && err.contains(a.layer_digest().hex()),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(20));
    assert!(!sb.path("x.wasm").exists() && !sb.path("pipectl.lock").exists());
}

#[test]
fn a_planted_tag_entry_in_the_cache_is_ignored_offline() {
    let sb = Sandbox::with_workdir();
    for (name, version) in [("normalizer", "0.2.0"), ("counter", "0.3.0")] {
        ok(&sb.run(&[
            "publish",
            plugin(name).to_str().unwrap(),
            &format!("oci-layout:store:{version}"),
        ]));
        ok(&sb.run(&[
            "fetch",
            &format!("oci-layout:store:{version}"),
            "-o",
            &format!("{name}.wasm"),
            "--no-lock",
        ]));
    }
    // Sealed entries work offline.
    ok(&sb.run(&[
        "fetch",
        "oci-layout:store:0.2.0",
        "-o",
        "offline.wasm",
        "--offline",
        "--no-lock",
    ]));
    assert_eq!(
        std::fs::read(sb.path("offline.wasm")).unwrap(),
        std::fs::read(plugin("normalizer")).unwrap()
    );
    // Someone who can write the cache points 0.2.0 at counter's manifest
    // (cached too), in the old unsealed format.
    let refs: Vec<PathBuf> = std::fs::read_dir(sb.top("cache/oci/refs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(refs.len(), 1);
    let counter_entry = std::fs::read_to_string(refs[0].join("0.3.0")).unwrap();
    let counter_manifest = counter_entry.lines().next().unwrap();
    std::fs::write(refs[0].join("0.2.0"), format!("{counter_manifest}\n")).unwrap();

    let err = fails(&sb.run(&[
        "fetch",
        "oci-layout:store:0.2.0",
        "-o",
        "planted.wasm",
        "--offline",
        "--no-lock",
    ]));
    assert!(err.contains("not in the cache"), "{err}");
    assert!(
        err.contains("ignored") && err.contains("has no seal"),
        "the notice says why: {err}"
    );
    assert!(!sb.path("planted.wasm").exists());
}

#[test]
fn a_layer_over_max_blob_size_is_refused_before_any_byte_is_downloaded() {
    let registry = RegistryServer::start();
    let sb = Sandbox::with_workdir();
    let repo = format!("{}/plugins/normalizer", registry.addr);
    ok(&sb.run(&[
        "publish",
        plugin("normalizer").to_str().unwrap(),
        &format!("{repo}:0.2.0"),
    ]));
    let size = std::fs::metadata(plugin("normalizer")).unwrap().len();
    let err = fails(&sb.run(&[
        "fetch",
        &format!("{repo}:0.2.0"),
        "-o",
        "x.wasm",
        "--max-blob-size",
        "1KiB",
    ]));
    assert!(
        err.contains(&format!("declares {size} bytes"))
            && err.contains("1024 bytes")
            && err.contains("--max-blob-size"),
        "{err}"
    );
    assert_eq!(
        registry.requests("GET", "/blobs/"),
        0,
        "no blob request:\n{}",
        registry.log()
    );
    assert!(!sb.path("x.wasm").exists() && !sb.path("pipectl.lock").exists());
    // Within the cap, the same fetch works.
    ok(&sb.run(&[
        "fetch",
        &format!("{repo}:0.2.0"),
        "-o",
        "x.wasm",
        "--max-blob-size",
        "64MiB",
    ]));
}

/// A pipeline whose one registry stage comes from `registry`.
fn pipeline_from(sb: &Sandbox, file: &str, registry: &str) {
    let manifest = format!(
        r#"[pipeline]
name = "creds"
version = "1.0.0"
world = "example:text-transform/plugin@0.2.0"
wit = "{wit}"

[[stage]]
name = "normalizer"
path = "{normalizer}"

[[stage]]
name = "validator"
oci = "{registry}/plugins/validator"
version = "^0.2"
"#,
        wit = root().join("wit/text-transform/0.2.0").display(),
        normalizer = plugin("normalizer").display(),
    );
    std::fs::write(sb.path(file), manifest).unwrap();
}

#[test]
fn environment_credentials_never_follow_a_manifest_to_another_registry() {
    // Both registries would accept the same credentials: only a 401 shows
    // that none were sent.
    let ours = RegistryServer::start_with_auth("ci-bot", "shared-secret");
    let other = RegistryServer::start_with_auth("ci-bot", "shared-secret");
    let sb = Sandbox::with_workdir();
    for registry in [&ours, &other] {
        let mut publish = sb.cmd(&[
            "publish",
            plugin("validator").to_str().unwrap(),
            &format!("{}/plugins/validator:0.2.0", registry.addr),
            "--username",
            "ci-bot",
            "--password-stdin",
        ]);
        publish.stdin(Stdio::piped());
        let mut child = publish
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"shared-secret\n")
            .unwrap();
        ok(&child.wait_with_output().unwrap());
    }
    pipeline_from(&sb, "ours.toml", &ours.addr);
    pipeline_from(&sb, "other.toml", &other.addr);
    let key = pipectl_registry::auth::env_key(&ours.addr);

    let run = |file: &str, env: &[(&str, &str)]| {
        let mut c = sb.cmd(&["compose", file, "-o", "out.wasm"]);
        for (k, v) in env {
            c.env(k, v);
        }
        output_within(c, Duration::from_secs(120))
    };
    // The unscoped variables: the old code scoped them to the manifest's
    // first registry stage, whichever it was.
    let unscoped = [
        ("PIPECTL_REGISTRY_USERNAME", "ci-bot"),
        ("PIPECTL_REGISTRY_PASSWORD", "shared-secret"),
    ];
    let err = fails(&run("other.toml", &unscoped));
    assert!(err.contains(&other.addr) && err.contains("401"), "{err}");
    assert!(!sb.path("out.wasm").exists());

    // Scoped by host: they go to that host, and nowhere else.
    let user = format!("PIPECTL_REGISTRY_{key}_USERNAME");
    let password = format!("PIPECTL_REGISTRY_{key}_PASSWORD");
    let scoped = [
        (user.as_str(), "ci-bot"),
        (password.as_str(), "shared-secret"),
    ];
    ok(&run("ours.toml", &scoped));
    assert!(sb.path("out.wasm").exists());
    std::fs::remove_file(sb.path("out.wasm")).unwrap();
    let err = fails(&run("other.toml", &scoped));
    assert!(err.contains(&other.addr) && err.contains("401"), "{err}");

    // PIPECTL_REGISTRY_HOST names the one registry the unscoped ones are
    // for; `--registry` does the same on the command line.
    let hosted = [
        ("PIPECTL_REGISTRY_HOST", ours.addr.as_str()),
        ("PIPECTL_REGISTRY_USERNAME", "ci-bot"),
        ("PIPECTL_REGISTRY_PASSWORD", "shared-secret"),
    ];
    ok(&run("ours.toml", &hosted));
    let err = fails(&run("other.toml", &hosted));
    assert!(err.contains("401"), "{err}");
    let mut flagged = sb.cmd(&[
        "compose",
        "other.toml",
        "-o",
        "out.wasm",
        "--registry",
        &ours.addr,
    ]);
    flagged.envs(unscoped);
    let err = fails(&output_within(flagged, Duration::from_secs(120)));
    assert!(err.contains("401"), "{err}");
    // Nothing leaked into messages.
    assert!(!err.contains("shared-secret"));
}

#[test]
fn credentials_in_a_reference_are_refused_without_being_shown() {
    let sb = Sandbox::with_workdir();
    for reference in [
        "ci:hunter2@127.0.0.1:5000/plugins/x:1.0.0",
        "https://ci:hunter2@registry.example/plugins/x:1.0.0",
    ] {
        let out = sb.run(&["fetch", reference, "-o", "x.wasm"]);
        let err = fails(&out);
        assert!(!err.contains("hunter2"), "{err}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("hunter2"));
        assert!(err.contains("***@") && err.contains("credentials"), "{err}");
    }
    let err = fails(&sb.run(&[
        "publish",
        plugin("normalizer").to_str().unwrap(),
        "ci:hunter2@127.0.0.1:5000/plugins/x:1.0.0",
    ]));
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn a_broken_wkg_configuration_is_named_by_line_not_quoted() {
    let sb = Sandbox::with_workdir();
    std::fs::write(
        sb.path("wkg.toml"),
        "default_registry = \"registry.example\"\n\n[registry.\"registry.example\".oci]\nauth = { token = \"ghp_s3cr3tT0ken\" \n",
    )
    .unwrap();
    let err = fails(&sb.run(&["fetch", "example:normalizer@^0.2", "--config", "wkg.toml"]));
    assert!(!err.contains("s3cr3t"), "{err}");
    assert!(err.contains("wkg.toml") && err.contains("line 4"), "{err}");
}

#[test]
fn tag_names_from_a_store_reach_the_terminal_escaped_and_bounded() {
    let sb = Sandbox::with_workdir();
    let mut store = LayoutStore::new(sb.path("layout"));
    let a = artifact("normalizer", "1.0.0");
    store
        .push(
            &a,
            "\u{1b}]0;owned\u{7}\u{1b}[2J",
            None,
            &Progress::new(false),
        )
        .unwrap();
    for i in 0..30 {
        store
            .push(&a, &format!("tag-{i}"), None, &Progress::new(false))
            .unwrap();
    }
    let err = fails(&sb.run(&["fetch", "oci-layout:layout:^9", "-o", "x.wasm"]));
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
    assert!(err.contains("\\u{1b}]0;owned"), "{err}");
    assert!(err.contains("and 11 more"), "{err}");
}

#[cfg(unix)]
#[test]
fn the_lockfile_honours_the_umask() {
    use std::os::unix::fs::PermissionsExt as _;
    let sb = Sandbox::with_workdir();
    ok(&sb.run(&[
        "publish",
        plugin("normalizer").to_str().unwrap(),
        "oci-layout:store:0.2.0",
    ]));
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!(
            "umask 077 && exec '{}' fetch oci-layout:store:0.2.0 -o x.wasm",
            env!("CARGO_BIN_EXE_pipectl")
        ))
        .current_dir(sb.path(""))
        .env("HOME", sb.top(""))
        .env("PIPECTL_CACHE_DIR", sb.top("cache"))
        .env("PIPECTL_CONFIG_DIR", sb.top("config"))
        .stdin(Stdio::null());
    ok(&output_within(c, Duration::from_secs(60)));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode(&sb.path("pipectl.lock")),
        0o600,
        "the old code forced 0644"
    );
    // And an existing lockfile keeps its mode.
    std::fs::set_permissions(
        sb.path("pipectl.lock"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    ok(&sb.run(&["fetch", "oci-layout:store:^0.2", "-o", "y.wasm"]));
    assert_eq!(mode(&sb.path("pipectl.lock")), 0o640);
}

/// What a docker user already has: `~/.docker/config.json` with a static
/// `auths` entry, or a credential helper (`credHelpers`) run from PATH;
/// and the unscoped token variable, sent as a Bearer token only to the
/// registry it is scoped to.
#[test]
fn credentials_come_from_docker_config_and_credential_helpers() {
    use base64::Engine as _;
    let registry = RegistryServer::start_with_auth("alice", "s3cret-pass");
    let sb = Sandbox::new();
    let normalizer = plugin("normalizer");
    let reference = format!("{}/plugins/n:0.1.0", registry.addr);
    // Nothing configured: refused, saying how to sign in.
    let err = fails(&sb.run(&["publish", normalizer.to_str().unwrap(), &reference]));
    assert!(err.contains("refused access"), "{err}");

    // A static `auths` entry.
    let docker = sb.top(".docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret-pass");
    std::fs::write(
        docker.join("config.json"),
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#,
            registry.addr
        ),
    )
    .unwrap();
    ok(&sb.run(&["publish", normalizer.to_str().unwrap(), &reference]));
    ok(&sb.run(&["fetch", &reference, "-o", "a.wasm"]));

    // A credential helper, found on PATH as `docker-credential-<name>`.
    let bin = sb.top("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let called = sb.top("helper.log");
    let helper = bin.join("docker-credential-pipectl-test");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread server\necho \"$1 $server\" >> {}\n\
             printf '{{\"ServerURL\":\"%s\",\"Username\":\"alice\",\"Secret\":\"s3cret-pass\"}}' \"$server\"\n",
            called.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        docker.join("config.json"),
        format!(
            r#"{{"credHelpers": {{"{}": "pipectl-test"}}}}"#,
            registry.addr
        ),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // A cold cache and no lockfile: the registry must be asked.
    let cold = ["--cache-dir", "cold-cache", "--lockfile", "cold.lock"];
    let mut cmd = sb.cmd(&[&["fetch", &reference, "-o", "b.wasm"][..], &cold].concat());
    cmd.env("PATH", &path);
    ok(&output_within(cmd, crate::support::COMMAND_LIMIT));
    let log = std::fs::read_to_string(&called).unwrap_or_default();
    assert!(
        log.contains("get") && log.contains(&registry.addr),
        "the helper was asked for the registry's credentials: {log:?}"
    );
    assert_eq!(
        std::fs::read(sb.path("b.wasm")).unwrap(),
        std::fs::read(&normalizer).unwrap()
    );
    // A helper that knows nothing of this registry: refused.
    std::fs::write(
        &helper,
        "#!/bin/sh\necho 'credentials not found in native keychain'\nexit 1\n",
    )
    .unwrap();
    let colder = ["--cache-dir", "colder", "--lockfile", "colder.lock"];
    let mut cmd = sb.cmd(&[&["fetch", &reference, "-o", "c.wasm"][..], &colder].concat());
    cmd.env("PATH", &path);
    let out = output_within(cmd, crate::support::COMMAND_LIMIT);
    let err = fails(&out);
    assert!(err.contains(&registry.addr), "{err}");
    assert!(!sb.path("c.wasm").exists());
}
