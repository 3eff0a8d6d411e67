//! `pipectl publish` and `fetch` against a real registry server (CNCF
//! distribution, started on a free loopback port) and the embedded OCI
//! layout store, with faults injected: a stopped registry, a connection cut
//! mid-download and mid-upload, a blob altered on the registry's disk, an
//! htpasswd-protected registry.

use pipectl_testkit::{Fault, FaultProxy, RegistryServer, plugin, root};

use crate::support::{Sandbox, fails, json, ok, refused};

/// A valid component of about `size` bytes: the normalizer with a large
/// custom section appended.
fn big_component(size: usize) -> Vec<u8> {
    use wasm_encoder::ComponentSection as _;
    let mut bytes = std::fs::read(plugin("normalizer")).unwrap();
    let filler: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
    wasm_encoder::CustomSection {
        name: "filler".into(),
        data: filler.into(),
    }
    .append_to_component(&mut bytes);
    bytes
}

#[test]
fn publish_then_fetch_by_tag_digest_and_range() {
    let registry = RegistryServer::start();
    let sb = Sandbox::new();
    let normalizer = plugin("normalizer");
    let repo = format!("{}/plugins/normalizer", registry.addr);

    let published = json(&sb.run(&[
        "publish",
        normalizer.to_str().unwrap(),
        &format!("{repo}:0.2.0"),
        "--format",
        "json",
    ]));
    assert_eq!(published["status"], "published");
    let manifest = published["manifest"].as_str().unwrap().to_string();
    // A second version, so the range has a choice.
    let counter = plugin("counter");
    ok(&sb.run(&[
        "publish",
        counter.to_str().unwrap(),
        &format!("{repo}:0.2.1"),
    ]));

    let original = std::fs::read(&normalizer).unwrap();
    ok(&sb.run(&["fetch", &format!("{repo}:0.2.0"), "-o", "by-tag.wasm"]));
    assert_eq!(
        std::fs::read(sb.path("by-tag.wasm")).unwrap(),
        original,
        "publish -> fetch is byte-identical"
    );
    ok(&sb.run(&[
        "fetch",
        &format!("{repo}@{manifest}"),
        "-o",
        "by-digest.wasm",
    ]));
    assert_eq!(std::fs::read(sb.path("by-digest.wasm")).unwrap(), original);
    let ranged = json(&sb.run(&[
        "fetch",
        &format!("{repo}:^0.2"),
        "-o",
        "by-range.wasm",
        "--format",
        "json",
    ]));
    assert_eq!(ranged["version"], "0.2.1", "the highest matching version");
    assert_eq!(
        std::fs::read(sb.path("by-range.wasm")).unwrap(),
        std::fs::read(&counter).unwrap()
    );

    // The lockfile has one entry per fetch, sorted, and round-trips.
    let lock = std::fs::read_to_string(sb.path("pipectl.lock")).unwrap();
    assert_eq!(lock.matches("[[artifact]]").count(), 3, "{lock}");
    assert!(
        lock.contains("requirement = \"^0.2\"") && lock.contains(&manifest),
        "{lock}"
    );
    ok(&sb.run(&[
        "fetch",
        &format!("{repo}:^0.2"),
        "-o",
        "again.wasm",
        "--locked",
    ]));
    assert_eq!(
        std::fs::read_to_string(sb.path("pipectl.lock")).unwrap(),
        lock
    );

    // Re-publishing the same bytes is a no-op; other bytes are refused
    // unless forced.
    let again = json(&sb.run(&[
        "publish",
        normalizer.to_str().unwrap(),
        &format!("{repo}:0.2.0"),
        "--format",
        "json",
    ]));
    assert_eq!(again["status"], "unchanged");
    assert_eq!(again["manifest"], manifest.as_str());
    // A refused re-publish is a gate's no: exit 1.
    let refused = refused(&sb.run(&[
        "publish",
        counter.to_str().unwrap(),
        &format!("{repo}:0.2.0"),
    ]));
    assert!(
        refused.contains("already exists with different content"),
        "{refused}"
    );
    let forced = json(&sb.run(&[
        "publish",
        counter.to_str().unwrap(),
        &format!("{repo}:0.2.0"),
        "--force",
        "--format",
        "json",
    ]));
    assert_eq!(forced["status"], "replaced");

    // The lock pins the old 0.2.0 by digest: fetching through it still gets
    // the locked bytes, not the replaced ones.
    ok(&sb.run(&[
        "fetch",
        &format!("{repo}:0.2.0"),
        "-o",
        "pinned.wasm",
        "--locked",
    ]));
    assert_eq!(std::fs::read(sb.path("pinned.wasm")).unwrap(), original);
}

#[test]
fn locked_fails_when_the_lockfile_would_change() {
    let registry = RegistryServer::start();
    let sb = Sandbox::new();
    let repo = format!("{}/plugins/validator", registry.addr);
    let validator = plugin("validator");
    ok(&sb.run(&[
        "publish",
        validator.to_str().unwrap(),
        &format!("{repo}:0.2.0"),
    ]));
    ok(&sb.run(&["fetch", &format!("{repo}:^0.2"), "-o", "v.wasm"]));
    let lock = std::fs::read_to_string(sb.path("pipectl.lock")).unwrap();
    // A requirement the lockfile does not pin: it would gain an entry.
    // `--locked` drift is a gate's no: exit 1.
    let err = refused(&sb.run(&[
        "fetch",
        &format!("{repo}:0.2.0"),
        "-o",
        "w.wasm",
        "--locked",
    ]));
    assert!(err.contains("--locked"), "{err}");
    assert_eq!(
        std::fs::read_to_string(sb.path("pipectl.lock")).unwrap(),
        lock
    );
    assert!(!sb.path("w.wasm").exists(), "nothing written on failure");
}

#[test]
fn a_warm_cache_and_lockfile_make_no_blob_request() {
    let registry = RegistryServer::start();
    let sb = Sandbox::new();
    let repo = format!("{}/plugins/counter", registry.addr);
    ok(&sb.run(&[
        "publish",
        plugin("counter").to_str().unwrap(),
        &format!("{repo}:0.2.0"),
    ]));
    ok(&sb.run(&["fetch", &format!("{repo}:^0.2"), "-o", "a.wasm"]));
    let blobs = registry.requests("GET", "/blobs/");
    let manifests = registry.requests("GET", "/manifests/");
    assert!(
        blobs >= 1,
        "the first fetch downloads the layer:\n{}",
        registry.log()
    );
    let second = json(&sb.run(&[
        "fetch",
        &format!("{repo}:^0.2"),
        "-o",
        "b.wasm",
        "--format",
        "json",
    ]));
    assert_eq!(second["from_cache"], true);
    assert_eq!(
        registry.requests("GET", "/blobs/"),
        blobs,
        "no blob request with a warm cache and lockfile"
    );
    assert_eq!(
        registry.requests("GET", "/manifests/"),
        manifests,
        "nor a manifest request"
    );
    // --offline works from the same cache, the registry stopped even.
    drop(registry);
    ok(&sb.run(&[
        "fetch",
        &format!("{repo}:^0.2"),
        "-o",
        "c.wasm",
        "--offline",
    ]));
    assert_eq!(
        std::fs::read(sb.path("c.wasm")).unwrap(),
        std::fs::read(plugin("counter")).unwrap()
    );
}

#[test]
fn a_stopped_registry_is_a_clear_error_and_changes_nothing() {
    let mut registry = RegistryServer::start();
    let sb = Sandbox::new();
    let repo = format!("{}/plugins/normalizer", registry.addr);
    ok(&sb.run(&[
        "publish",
        plugin("normalizer").to_str().unwrap(),
        &format!("{repo}:0.2.0"),
    ]));
    registry.stop();
    let (cache, lock) = (sb.snapshot("cache"), sb.snapshot("pipectl.lock"));
    let err = fails(&sb.run(&["fetch", &format!("{repo}:0.2.0"), "-o", "out.wasm"]));
    assert!(
        err.contains(&registry.addr) && err.contains("cannot connect"),
        "{err}"
    );
    let err = fails(&sb.run(&[
        "publish",
        plugin("validator").to_str().unwrap(),
        &format!("{repo}:0.3.0"),
    ]));
    assert!(err.contains("cannot connect"), "{err}");
    assert!(!sb.path("out.wasm").exists());
    assert_eq!(sb.snapshot("cache"), cache);
    assert_eq!(sb.snapshot("pipectl.lock"), lock);
}

/// Waits until `proxy` holds a transfer in flight (an event, not a sleep
/// of a guessed length); fails the test if none starts within the limit.
fn wait_for_hold(proxy: &FaultProxy, child: &mut std::process::Child) {
    let start = std::time::Instant::now();
    while proxy.holding() == 0 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "pipectl ended before its transfer was caught in flight"
        );
        assert!(
            start.elapsed() < crate::support::COMMAND_LIMIT,
            "no transfer reached the proxy's hold point"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn spawn(sb: &Sandbox, args: &[&str]) -> std::process::Child {
    sb.cmd(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_registry_stopped_during_a_transfer_loses_nothing_and_recovers_on_restart() {
    let mut registry = RegistryServer::start();
    let sb = Sandbox::new();
    let validator = plugin("validator");
    ok(&sb.run(&[
        "publish",
        validator.to_str().unwrap(),
        &format!("{}/plugins/validator:0.2.0", registry.addr),
    ]));
    let (cache, lock) = (sb.snapshot("cache"), sb.snapshot("pipectl.lock"));

    // A download caught after 8 KiB of the layer's connection, and the
    // registry killed while it is in flight.
    let proxy = FaultProxy::start(&registry.addr, Fault::HoldResponseAfter(8 * 1024));
    let via = format!("{}/plugins/validator:0.2.0", proxy.addr);
    let mut child = spawn(&sb, &["fetch", &via, "-o", "v.wasm", "--retries", "0"]);
    wait_for_hold(&proxy, &mut child);
    registry.stop();
    let err = fails(&child.wait_with_output().unwrap());
    assert!(err.contains(&proxy.addr), "{err}");
    assert!(!sb.path("v.wasm").exists(), "no output");
    assert_eq!(sb.snapshot("cache"), cache, "the cache as it was");
    assert_eq!(sb.snapshot("pipectl.lock"), lock, "the lockfile as it was");

    // An upload caught in flight, the registry killed: nothing is
    // published under the tag.
    registry.restart();
    let up = FaultProxy::start(&registry.addr, Fault::HoldRequestAfter(8 * 1024));
    let target = format!("{}/plugins/caught:0.1.0", up.addr);
    let mut child = spawn(
        &sb,
        &[
            "publish",
            validator.to_str().unwrap(),
            &target,
            "--retries",
            "0",
        ],
    );
    wait_for_hold(&up, &mut child);
    registry.stop();
    fails(&child.wait_with_output().unwrap());

    // Restarted on the same storage: what was published is served, what
    // was caught is not, and both transfers succeed again.
    registry.restart();
    let direct = format!("{}/plugins/caught:0.1.0", registry.addr);
    let err = fails(&sb.run(&["fetch", &direct, "-o", "c.wasm"]));
    assert!(
        err.contains("does not exist") || err.contains("not found"),
        "{err}"
    );
    ok(&sb.run(&["publish", validator.to_str().unwrap(), &direct]));
    ok(&sb.run(&["fetch", &direct, "-o", "c.wasm"]));
    ok(&sb.run(&[
        "fetch",
        &format!("{}/plugins/validator:0.2.0", registry.addr),
        "-o",
        "v.wasm",
    ]));
    assert_eq!(
        std::fs::read(sb.path("v.wasm")).unwrap(),
        std::fs::read(&validator).unwrap()
    );
}

#[test]
fn a_download_cut_mid_transfer_leaves_nothing_half_written() {
    let registry = RegistryServer::start();
    let sb = Sandbox::new();
    let big = sb.path("big.wasm");
    std::fs::write(&big, big_component(2 << 20)).unwrap();
    let repo = format!("{}/plugins/big", registry.addr);
    ok(&sb.run(&["publish", big.to_str().unwrap(), &format!("{repo}:1.0.0")]));
    ok(&sb.run(&[
        "fetch",
        &format!("{repo}:1.0.0"),
        "-o",
        "first.wasm",
        "--cache-dir",
        "warm",
    ]));
    let lock = sb.snapshot("pipectl.lock");

    // Through a proxy that drops the connection after 256 KiB of response.
    let proxy = FaultProxy::start(&registry.addr, Fault::CutResponseAfter(256 << 10));
    let via = format!("{}/plugins/big", proxy.addr);
    let err = fails(&sb.run(&["fetch", &format!("{via}:1.0.0"), "-o", "cut.wasm"]));
    assert!(proxy.cuts() > 0, "the proxy cut the transfer");
    assert!(err.contains(&proxy.addr), "{err}");
    assert!(!sb.path("cut.wasm").exists(), "no partial output");
    assert_eq!(sb.snapshot("pipectl.lock"), lock, "lockfile untouched");
    let layer_digest = pipectl_io::Digest::sha256(&std::fs::read(&big).unwrap());
    let cached = sb.top("cache/oci/blobs/sha256").join(layer_digest.hex());
    assert!(!cached.exists(), "no partial blob in the cache");
    let leftovers: Vec<_> = sb
        .snapshot("cache")
        .into_iter()
        .filter(|(p, _)| p.starts_with(sb.top("cache/oci/tmp")))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary download left: {leftovers:?}"
    );
    // The same fetch, uncut, puts the blob exactly where the check looked.
    ok(&sb.run(&["fetch", &format!("{repo}:1.0.0"), "-o", "whole.wasm"]));
    assert!(
        cached.exists(),
        "the cache keeps blobs at {}",
        cached.display()
    );
}

#[test]
fn a_transfer_cut_once_is_retried_unless_retries_are_off() {
    let registry = RegistryServer::start();
    let sb = Sandbox::new();
    let big = sb.path("big.wasm");
    std::fs::write(&big, big_component(2 << 20)).unwrap();
    let repo = format!("{}/plugins/big", registry.addr);
    ok(&sb.run(&["publish", big.to_str().unwrap(), &format!("{repo}:1.0.0")]));

    // Retries off: the one cut is the end of it, and nothing is written.
    let proxy = FaultProxy::start(&registry.addr, Fault::CutResponseOnceAfter(256 << 10));
    let via = format!("{}/plugins/big:1.0.0", proxy.addr);
    let err = fails(&sb.run(&["fetch", &via, "-o", "off.wasm", "--retries", "0"]));
    assert_eq!(proxy.cuts(), 1);
    assert!(err.contains("broke off"), "{err}");
    assert!(!sb.path("off.wasm").exists());
    assert!(!sb.path("pipectl.lock").exists());

    // By default the request is sent again, and the bytes are the same.
    let proxy = FaultProxy::start(&registry.addr, Fault::CutResponseOnceAfter(256 << 10));
    let via = format!("{}/plugins/big:1.0.0", proxy.addr);
    let out = sb.run(&["fetch", &via, "-o", "retried.wasm"]);
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(proxy.cuts(), 1);
    assert!(err.contains("trying again"), "{err}");
    assert_eq!(
        std::fs::read(sb.path("retried.wasm")).unwrap(),
        std::fs::read(&big).unwrap()
    );
}

#[test]
fn an_upload_cut_mid_transfer_fails_and_publishing_again_works() {
    let registry = RegistryServer::start();
    let sb = Sandbox::new();
    let big = sb.path("big.wasm");
    std::fs::write(&big, big_component(2 << 20)).unwrap();
    let proxy = FaultProxy::start(&registry.addr, Fault::CutRequestAfter(256 << 10));
    let err = fails(&sb.run(&[
        "publish",
        big.to_str().unwrap(),
        &format!("{}/plugins/big:1.0.0", proxy.addr),
    ]));
    assert!(proxy.cuts() > 0);
    assert!(err.contains(&proxy.addr), "{err}");
    // Nothing was tagged.
    let missing = fails(&sb.run(&[
        "fetch",
        &format!("{}/plugins/big:1.0.0", registry.addr),
        "-o",
        "x.wasm",
    ]));
    assert!(
        missing.contains("does not exist") || missing.contains("does not have it"),
        "{missing}"
    );
    // Directly, it works.
    ok(&sb.run(&[
        "publish",
        big.to_str().unwrap(),
        &format!("{}/plugins/big:1.0.0", registry.addr),
    ]));
    ok(&sb.run(&[
        "fetch",
        &format!("{}/plugins/big:1.0.0", registry.addr),
        "-o",
        "x.wasm",
    ]));
    assert_eq!(
        std::fs::read(sb.path("x.wasm")).unwrap(),
        std::fs::read(&big).unwrap()
    );
}

#[test]
fn a_blob_altered_on_the_registry_disk_is_refused() {
    let registry = RegistryServer::start();
    let sb = Sandbox::new();
    let normalizer = plugin("normalizer");
    let repo = format!("{}/plugins/normalizer", registry.addr);
    ok(&sb.run(&[
        "publish",
        normalizer.to_str().unwrap(),
        &format!("{repo}:0.2.0"),
    ]));
    ok(&sb.run(&[
        "fetch",
        &format!("{repo}:0.2.0"),
        "-o",
        "good.wasm",
        "--cache-dir",
        "other-cache",
    ]));
    // Flip bytes of the layer where the registry keeps it (it does not
    // verify on read).
    let digest = pipectl_registry::artifact::digest(&std::fs::read(&normalizer).unwrap());
    let file = registry.blob_file(&digest);
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();

    let (cache, lock) = (sb.snapshot("cache"), sb.snapshot("pipectl.lock"));
    let err = fails(&sb.run(&["fetch", &format!("{repo}:0.2.0"), "-o", "bad.wasm"]));
    assert!(err.contains("digest mismatch"), "{err}");
    assert!(!sb.path("bad.wasm").exists());
    assert_eq!(sb.snapshot("cache"), cache, "cache untouched");
    assert_eq!(sb.snapshot("pipectl.lock"), lock, "lockfile untouched");
}

#[test]
fn htpasswd_registry_answers_401_then_accepts_credentials() {
    let registry = RegistryServer::start_with_auth("ci-bot", "correct-horse-battery");
    let sb = Sandbox::new();
    let repo = format!("{}/plugins/normalizer", registry.addr);
    let file = plugin("normalizer");
    let file = file.to_str().unwrap();

    let anonymous = fails(&sb.run(&["publish", file, &format!("{repo}:0.2.0")]));
    assert!(
        anonymous.contains("401") && anonymous.contains("--password-stdin"),
        "{anonymous}"
    );
    let wrong = sb.run_stdin(
        &[
            "publish",
            file,
            &format!("{repo}:0.2.0"),
            "--username",
            "ci-bot",
            "--password-stdin",
        ],
        "wrong-secret-value\n",
    );
    let wrong_err = fails(&wrong);
    assert!(wrong_err.contains("401"), "{wrong_err}");
    assert!(
        !wrong_err.contains("wrong-secret-value"),
        "no secret in messages: {wrong_err}"
    );
    assert!(!String::from_utf8_lossy(&wrong.stdout).contains("wrong-secret-value"));

    let right = sb.run_stdin(
        &[
            "publish",
            file,
            &format!("{repo}:0.2.0"),
            "--username",
            "ci-bot",
            "--password-stdin",
        ],
        "correct-horse-battery\n",
    );
    ok(&right);
    assert!(!String::from_utf8_lossy(&right.stderr).contains("correct-horse-battery"));
    // The environment works too.
    let fetched = sb
        .cmd(&["fetch", &format!("{repo}:0.2.0"), "-o", "n.wasm"])
        .env("PIPECTL_REGISTRY_USERNAME", "ci-bot")
        .env("PIPECTL_REGISTRY_PASSWORD", "correct-horse-battery")
        .output()
        .unwrap();
    ok(&fetched);
    assert_eq!(
        std::fs::read(sb.path("n.wasm")).unwrap(),
        std::fs::read(plugin("normalizer")).unwrap()
    );
}

#[test]
fn non_semver_tags_and_unknown_repositories_are_clear_errors() {
    let registry = RegistryServer::start();
    let sb = Sandbox::new();
    let file = plugin("normalizer");
    let err = fails(&sb.run(&[
        "publish",
        file.to_str().unwrap(),
        &format!("{}/plugins/n:latest", registry.addr),
    ]));
    assert!(err.contains("tags must be semver"), "{err}");
    let err = fails(&sb.run(&[
        "fetch",
        &format!("{}/no/such-repo:1.0.0", registry.addr),
        "-o",
        "x.wasm",
    ]));
    assert!(err.contains("no/such-repo"), "{err}");
    assert!(!sb.path("x.wasm").exists());
    assert!(
        !sb.path("pipectl.lock").exists(),
        "no lockfile from a failed fetch"
    );
}

#[test]
fn the_manifest_matches_the_golden_wasm_artifact_shape() {
    let sb = Sandbox::new();
    // Always the composed pipeline: its manifest names its stages.
    let file = std::path::PathBuf::from(crate::support::composed(&sb));
    let bytes = std::fs::read(&file).unwrap();
    let meta = pipectl_compose::read_metadata(&bytes).expect("a composed pipeline");
    ok(&sb.run(&[
        "publish",
        file.to_str().unwrap(),
        "oci-layout:layout:0.1.0",
        "--description",
        "a pipeline",
        "--source",
        "https://example.com/pipectl",
        "--revision",
        "abc123",
        "--licenses",
        "Apache-2.0",
    ]));
    let blob = |digest: &str| -> Vec<u8> {
        std::fs::read(
            sb.path("layout/blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sb.path("layout/index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest_bytes = blob(digest);
    assert_eq!(pipectl_testkit::sha256(&manifest_bytes), digest);
    let manifest: serde_json::Value = serde_json::from_slice(&manifest_bytes).unwrap();
    let golden: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("registry-fixtures/wasm-component-manifest.json")).unwrap(),
    )
    .unwrap();
    // The CNCF Wasm OCI artifact layout, values as the spec writes them
    // (not as pipectl once wrote them).
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "exactly one layer");
    assert_eq!(layers[0]["mediaType"], "application/wasm");
    // The layer is the file: digest, size and title.
    assert_eq!(
        layers[0]["digest"],
        pipectl_testkit::sha256(&bytes).as_str()
    );
    assert_eq!(layers[0]["size"], bytes.len());
    assert_eq!(
        layers[0]["annotations"]["org.opencontainers.image.title"],
        "pipeline.wasm"
    );
    // Every annotation as given, the version from the tag, the stages.
    let ann = &manifest["annotations"];
    for (key, value) in [
        ("org.opencontainers.image.description", "a pipeline"),
        (
            "org.opencontainers.image.source",
            "https://example.com/pipectl",
        ),
        ("org.opencontainers.image.revision", "abc123"),
        ("org.opencontainers.image.licenses", "Apache-2.0"),
        ("org.opencontainers.image.version", "0.1.0"),
    ] {
        assert_eq!(ann[key], value, "{key}: {manifest}");
    }
    let created = ann["org.opencontainers.image.created"].as_str().unwrap();
    assert!(
        created.len() == 20 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "RFC 3339 UTC: {created}"
    );
    let stages: Vec<String> = meta
        .stages
        .iter()
        .map(|s| format!("{}={}", s.name, s.digest))
        .collect();
    assert_eq!(ann["dev.pipectl.pipeline.stages"], stages.join(","));
    // Same keys as the golden (a key added or dropped is a format change).
    let keys =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(ann), keys(&golden["annotations"]), "{manifest}");
    assert_eq!(keys(&manifest), keys(&golden));
    // The config blob is what the manifest says, and describes the
    // component.
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config_bytes = blob(config_digest);
    assert_eq!(pipectl_testkit::sha256(&config_bytes), config_digest);
    assert_eq!(manifest["config"]["size"], config_bytes.len());
    let config: serde_json::Value = serde_json::from_slice(&config_bytes).unwrap();
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasip2");
    assert_eq!(config["layerDigests"][0], layers[0]["digest"]);
    assert!(
        config["component"]["exports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e
                .as_str()
                .unwrap()
                .starts_with("example:text-transform/text-transform@"))
    );
}

#[test]
fn compose_resolves_registry_stages_through_the_lockfile() {
    let registry = RegistryServer::start();
    let sb = Sandbox::new();
    for name in ["validator", "counter"] {
        ok(&sb.run(&[
            "publish",
            plugin(name).to_str().unwrap(),
            &format!("{}/plugins/{name}:0.2.0", registry.addr),
        ]));
    }
    let manifest = format!(
        r#"[pipeline]
name = "from-registry"
version = "1.0.0"
world = "example:text-transform/plugin@0.2.0"
wit = "{wit}"

[[stage]]
name = "normalizer"
path = "{normalizer}"

[[stage]]
name = "validator"
oci = "{addr}/plugins/validator"
version = "^0.2"

[[stage]]
name = "counter"
oci = "{addr}/plugins/counter"
version = "^0.2"
"#,
        wit = root().join("wit/text-transform/0.2.0").display(),
        normalizer = plugin("normalizer").display(),
        addr = registry.addr
    );
    std::fs::write(sb.path("pipeline.toml"), manifest).unwrap();
    let report = json(&sb.run(&[
        "compose",
        "pipeline.toml",
        "-o",
        "out.wasm",
        "--format",
        "json",
    ]));
    let lock = std::fs::read_to_string(sb.path("pipectl.lock")).unwrap();
    assert_eq!(lock.matches("[[artifact]]").count(), 2, "{lock}");
    let validator_digest =
        pipectl_registry::artifact::digest(&std::fs::read(plugin("validator")).unwrap());
    assert_eq!(report["stages"][1]["digest"], validator_digest.as_str());
    // The composed component records the stage digests, and publishing it
    // puts them in an annotation.
    let meta =
        pipectl_compose::read_metadata(&std::fs::read(sb.path("out.wasm")).unwrap()).unwrap();
    assert_eq!(meta.stages[1].digest, validator_digest);
    ok(&sb.run(&["publish", "out.wasm", "oci-layout:published:1.0.0"]));
    let index = std::fs::read_to_string(sb.path("published/index.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&index).unwrap();
    let md = v["manifests"][0]["digest"].as_str().unwrap();
    let m = std::fs::read_to_string(
        sb.path("published/blobs/sha256")
            .join(md.trim_start_matches("sha256:")),
    )
    .unwrap();
    assert!(m.contains(&format!("validator={validator_digest}")), "{m}");
    // `run` resolves the same stages, and records them as compose does.
    std::fs::remove_file(sb.path("pipectl.lock")).unwrap();
    let text = "one two three four";
    let ran = ok(&sb.run_stdin(&["run", "pipeline.toml"], text));
    assert_eq!(
        std::fs::read_to_string(sb.path("pipectl.lock")).unwrap(),
        lock
    );
    assert_eq!(ran, ok(&sb.run_stdin(&["run", "out.wasm"], text)));
    // Offline and --locked, from the cache and the lockfile alone.
    drop(registry);
    let offline = ok(&sb.run_stdin(&["run", "pipeline.toml", "--offline", "--locked"], text));
    assert_eq!(offline, ran);
    ok(&sb.run(&[
        "compose",
        "pipeline.toml",
        "-o",
        "again.wasm",
        "--offline",
        "--locked",
    ]));
    assert_eq!(
        std::fs::read(sb.path("again.wasm")).unwrap(),
        std::fs::read(sb.path("out.wasm")).unwrap()
    );
}

/// Peak RSS in KiB of `pipectl ARGS` in `sb`, measured by GNU time.
fn peak_rss_kib(sb: &Sandbox, args: &[&str]) -> u64 {
    let report = sb.path("time.txt");
    let mut cmd = std::process::Command::new("/usr/bin/time");
    cmd.arg("-v")
        .arg("-o")
        .arg(&report)
        .arg(env!("CARGO_BIN_EXE_pipectl"))
        .args(args)
        .current_dir(sb.path(""));
    crate::support::isolate(&mut cmd, &sb.path(""));
    ok(&crate::support::output_within(
        cmd,
        crate::support::COMMAND_LIMIT,
    ));
    std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
        .expect("GNU time reports the peak RSS")
}

#[test]
fn a_large_layer_is_fetched_with_flat_memory() {
    let sb = Sandbox::new();
    let size = 256usize << 20;
    let big = sb.path("big.wasm");
    std::fs::write(&big, big_component(size)).unwrap();
    ok(&sb.run(&["publish", big.to_str().unwrap(), "oci-layout:store:1.0.0"]));
    // Cold (layout → cache → output) and warm (cache → output): the layer
    // never sits in memory whole.
    for (n, out) in ["cold.wasm", "warm.wasm"].iter().enumerate() {
        let kib = peak_rss_kib(&sb, &["fetch", "oci-layout:store:1.0.0", "-o", out]);
        assert!(
            kib < 200 << 10,
            "fetch #{n} of a {} MiB layer peaked at {} MiB",
            size >> 20,
            kib >> 10
        );
        assert_eq!(
            pipectl_io::Digest::sha256(&std::fs::read(sb.path(out)).unwrap()),
            pipectl_io::Digest::sha256(&std::fs::read(&big).unwrap()),
            "{out} holds the published bytes"
        );
    }
}

/// `package = "ns:name"` stages resolve through the embedded store (no
/// registry configuration, no server), are pinned in `pipectl.lock`, and
/// then compose offline and locked.
#[test]
fn package_stages_resolve_through_the_embedded_store() {
    let sb = Sandbox::new();
    for (name, version) in [("validator", "0.2.0"), ("validator", "0.2.1")] {
        ok(&sb.run(&[
            "publish",
            plugin(name).to_str().unwrap(),
            &format!("example:{name}@{version}"),
        ]));
    }
    let manifest = format!(
        r#"[pipeline]
name = "by-package"
version = "1.0.0"
world = "example:text-transform/plugin@0.2.0"
wit = "{wit}"

[[stage]]
name = "normalizer"
path = "{normalizer}"

[[stage]]
name = "validator"
package = "example:validator"
version = "^0.2"
"#,
        wit = root().join("wit/text-transform/0.2.0").display(),
        normalizer = plugin("normalizer").display(),
    );
    std::fs::write(sb.path("pipeline.toml"), manifest).unwrap();
    let report = json(&sb.run(&[
        "compose",
        "pipeline.toml",
        "-o",
        "out.wasm",
        "--format",
        "json",
    ]));
    assert_eq!(report["stages"][1]["name"], "validator");
    assert!(
        report["stages"][1]["origin"]
            .as_str()
            .unwrap()
            .contains("example:validator"),
        "{report}"
    );
    let lock = std::fs::read_to_string(sb.path("pipectl.lock")).unwrap();
    // The highest version the requirement allows.
    assert!(
        lock.contains("name = \"example:validator\"") && lock.contains("version = \"0.2.1\""),
        "{lock}"
    );
    // Pinned: offline and locked, the same composition.
    let again = json(&sb.run(&[
        "compose",
        "pipeline.toml",
        "-o",
        "again.wasm",
        "--offline",
        "--locked",
        "--format",
        "json",
    ]));
    assert_eq!(again["digest"], report["digest"]);
    // And the stages run: the validator refuses two words.
    let out = sb.run_stdin(&["run", "out.wasm"], "two words");
    assert_eq!(out.status.code(), Some(1));
}
