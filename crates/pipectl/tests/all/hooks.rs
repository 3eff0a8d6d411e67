//! Hooks and command plugins (`pipectl plugin`): a veto stops `publish`
//! (embedded store and a real registry), `compose`, `fetch` and `run`
//! before anything is written or run; `proceed-with` annotations reach the
//! published manifest; a trapping, looping or memory-hungry hook fails the
//! command closed unless optional; the audit log has one line per call; a
//! hook in Python (componentize-py) vetoes and stamps; a command plugin
//! sees only the directory it was granted.

use std::time::{Duration, Instant};

use pipectl_testkit::{RegistryServer, extension, fixture, plugin, root};

use crate::support::{Sandbox, assert_deadline, fails, json, ok, refused};

/// `plugin add FILE [extra…]`, expecting success.
fn add(sb: &Sandbox, file: &std::path::Path, extra: &[&str]) {
    let mut args = vec!["plugin", "add", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    ok(&sb.run(&args));
}

/// The manifest annotations of `reference`, as `inspect` shows them.
fn annotations(sb: &Sandbox, reference: &str) -> serde_json::Value {
    let report = json(&sb.run(&["inspect", reference, "--format", "json"]));
    report["annotations"].clone()
}

/// A pipeline of the normalizer alone, its stage named `stage`.
fn pipeline(sb: &Sandbox, stage: &str) -> String {
    let root = root();
    std::fs::write(
        sb.path("pipeline.toml"),
        format!(
            "[pipeline]\nname = \"hooked\"\nversion = \"0.1.0\"\n\
             world = \"example:text-transform/plugin@0.2.0\"\nwit = \"{}/wit/text-transform/0.2.0\"\n\n\
             [[stage]]\nname = \"{stage}\"\npath = \"{}\"\n",
            root.display(),
            plugin("normalizer").display()
        ),
    )
    .unwrap();
    "pipeline.toml".into()
}

#[test]
fn a_veto_stops_publish_to_the_layout_store_and_to_the_registry() {
    let registry = RegistryServer::start();
    let sb = Sandbox::new();
    add(&sb, &extension("require-license"), &[]);
    let normalizer = plugin("normalizer");
    let file = normalizer.to_str().unwrap();
    let remote = format!("{}/hooks/normalizer:0.1.0", registry.addr);
    for reference in ["oci-layout:store:normalizer:0.1.0", remote.as_str()] {
        let err = refused(&sb.run(&["publish", file, reference]));
        assert!(
            err.contains("vetoed by plugin `require-license`")
                && err.contains("org.opencontainers.image.licenses"),
            "{err}"
        );
        // Nothing was published: the reference does not resolve.
        let out = sb.run(&["inspect", reference]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{reference} exists after a veto"
        );
        ok(&sb.run(&["publish", file, reference, "--licenses", "Apache-2.0"]));
        assert_eq!(
            annotations(&sb, reference)["org.opencontainers.image.licenses"],
            "Apache-2.0"
        );
    }
    // The JSON envelope names the kind.
    let out = sb.run(&[
        "publish",
        file,
        "oci-layout:store:normalizer:0.2.0",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "vetoed", "{v}");
}

#[test]
fn proceed_with_annotations_reach_the_published_manifest_in_order() {
    let registry = RegistryServer::start();
    let sb = Sandbox::new();
    add(&sb, &extension("stamp"), &[]);
    add(&sb, &fixture("scripted-hook"), &[]);
    let file = plugin("validator");
    let remote = format!("{}/hooks/validator:1.0.0", registry.addr);
    for reference in ["oci-layout:store:validator:1.0.0", remote.as_str()] {
        ok(&sb.run(&[
            "publish",
            file.to_str().unwrap(),
            reference,
            "--annotation",
            "test.hook/action=annotate:org.opencontainers.image.vendor=Later Hook Inc",
            "--annotation",
            "org.example.ticket=CHG-1",
        ]));
        let a = annotations(&sb, reference);
        // `stamp` runs first; the scripted hook, later, replaces its value.
        assert_eq!(
            a["org.opencontainers.image.vendor"], "Later Hook Inc",
            "{a}"
        );
        assert_eq!(a["org.example.ticket"], "CHG-1", "{a}");
    }
    ok(&sb.run(&["plugin", "remove", "scripted-hook"]));
    ok(&sb.run(&[
        "publish",
        file.to_str().unwrap(),
        "oci-layout:store:validator:1.0.1",
    ]));
    let a = annotations(&sb, "oci-layout:store:validator:1.0.1");
    assert_eq!(a["org.opencontainers.image.vendor"], "Example Corp", "{a}");
}

#[test]
fn a_failing_hook_fails_closed_unless_it_is_optional() {
    let sb = Sandbox::new();
    add(&sb, &fixture("scripted-hook"), &[]);
    let file = plugin("normalizer");
    let publish = |sb: &Sandbox, action: &str, tag: &str| {
        sb.run(&[
            "publish",
            file.to_str().unwrap(),
            &format!("oci-layout:store:n:{tag}"),
            "--annotation",
            &format!("test.hook/action={action}"),
        ])
    };
    let err = fails(&publish(&sb, "trap", "1.0.0"));
    assert!(
        err.contains("plugin `scripted-hook` failed on `before-publish`") && err.contains("trap"),
        "{err}"
    );
    let started = Instant::now();
    let err = fails(&publish(&sb, "loop", "1.0.0"));
    assert_deadline(started.elapsed(), Duration::from_secs(2));
    assert!(err.contains("timeout"), "{err}");
    let err = fails(&publish(&sb, "grow", "1.0.0"));
    assert!(err.contains("memory"), "{err}");
    assert!(
        !sb.path("store").exists(),
        "a failed hook published something"
    );
    // Optional: reported, skipped, the command goes on.
    ok(&sb.run(&["plugin", "remove", "scripted-hook"]));
    add(&sb, &fixture("scripted-hook"), &["--optional"]);
    let out = publish(&sb, "trap", "1.0.0");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    ok(&out);
    assert!(
        err.contains("optional plugin `scripted-hook` failed on `before-publish` and was skipped"),
        "{err}"
    );
    // A veto from an optional hook still stops the command.
    refused(&publish(&sb, "veto:not today", "1.0.1"));
    // --no-hooks skips them and says so.
    let out = publish(&sb, "veto:not today", "1.0.1");
    assert_eq!(out.status.code(), Some(1));
    let out = sb.run(&[
        "--no-hooks",
        "publish",
        file.to_str().unwrap(),
        "oci-layout:store:n:1.0.1",
        "--annotation",
        "test.hook/action=veto:no",
    ]);
    ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--no-hooks: not calling 1 hook"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn vetoes_on_compose_fetch_and_run_leave_nothing_written_or_run() {
    let sb = Sandbox::new();
    add(&sb, &fixture("scripted-hook"), &[]);
    // before-compose and before-run see the stages.
    let manifest = pipeline(&sb, "forbidden");
    let err = refused(&sb.run(&["compose", &manifest, "-o", "out.wasm"]));
    assert!(
        err.contains("stage `forbidden`") && err.contains("sha256:"),
        "{err}"
    );
    assert!(!sb.path("out.wasm").exists());
    let out = sb.run_stdin(&["run", &manifest], "a b c");
    refused(&out);
    assert!(out.stdout.is_empty(), "a vetoed run printed a result");
    // after-compose: the output is not written.
    let manifest = pipeline(&sb, "fine");
    let err = refused(&sb.run(&["compose", &manifest, "-o", "veto-me.wasm"]));
    assert!(err.contains("`veto-me.wasm` is on the deny list"), "{err}");
    assert!(!sb.path("veto-me.wasm").exists());
    ok(&sb.run(&["compose", &manifest, "-o", "ok.wasm"]));
    assert_eq!(ok(&sb.run_stdin(&["run", "ok.wasm"], "a  b")), "a b");
    // after-fetch: neither the output nor the lockfile is written.
    ok(&sb.run(&[
        "--no-hooks",
        "publish",
        "ok.wasm",
        "oci-layout:store:veto-me:0.1.0",
    ]));
    let err = refused(&sb.run(&[
        "fetch",
        "oci-layout:store:veto-me:0.1.0",
        "-o",
        "fetched.wasm",
    ]));
    assert!(err.contains("vetoed by plugin `scripted-hook`"), "{err}");
    assert!(!sb.path("fetched.wasm").exists() && !sb.path("pipectl.lock").exists());
    // after-fetch sees the manifest's annotations.
    ok(&sb.run(&[
        "--no-hooks",
        "publish",
        "ok.wasm",
        "oci-layout:store:annotated:0.1.0",
        "--annotation",
        "test.hook/action=veto:its annotations say no",
    ]));
    let err = refused(&sb.run(&["fetch", "oci-layout:store:annotated:0.1.0", "-o", "a.wasm"]));
    assert!(err.contains("its annotations say no"), "{err}");
    assert!(!sb.path("a.wasm").exists());
}

#[test]
fn the_audit_log_has_one_line_per_call_and_unsubscribed_hooks_are_not_called() {
    let sb = Sandbox::new();
    add(&sb, &extension("require-license"), &[]);
    add(&sb, &fixture("scripted-hook"), &[]);
    let mut config = std::fs::read_to_string(sb.path("pipectl.toml")).unwrap();
    config.insert_str(0, "audit = \"audit.jsonl\"\n\n");
    std::fs::write(sb.path("pipectl.toml"), config).unwrap();
    let manifest = pipeline(&sb, "fine");
    ok(&sb.run(&["compose", &manifest, "-o", "ok.wasm"]));
    ok(&sb.run(&[
        "publish",
        "ok.wasm",
        "oci-layout:store:ok:0.1.0",
        "--licenses",
        "MIT",
    ]));
    refused(&sb.run(&["publish", "ok.wasm", "oci-layout:store:ok:0.2.0"]));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(sb.path("audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let calls: Vec<(String, String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["plugin"].as_str().unwrap().to_string(),
                l["event"].as_str().unwrap().to_string(),
                l["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = |p: &str, e: &str, v: &str| (p.to_string(), e.to_string(), v.to_string());
    assert_eq!(
        calls,
        [
            want("scripted-hook", "before-compose", "proceed"),
            want("scripted-hook", "after-compose", "proceed"),
            want("require-license", "before-publish", "proceed"),
            want("scripted-hook", "before-publish", "proceed"),
            want("scripted-hook", "after-publish", "proceed"),
            // The veto stops the rest: the scripted hook is not called.
            want("require-license", "before-publish", "veto"),
        ]
    );
    for l in &lines {
        assert!(l["digest"].as_str().unwrap().starts_with("sha256:"), "{l}");
        assert!(l["duration_ms"].as_f64().unwrap() >= 0.0, "{l}");
        assert!(l["time"].as_str().unwrap().ends_with('Z'), "{l}");
    }
    assert!(lines[5]["reason"].as_str().unwrap().contains("licenses"));
    // `--audit` wins over the file's.
    ok(&sb.run(&[
        "--audit",
        "other.jsonl",
        "compose",
        &manifest,
        "-o",
        "ok.wasm",
    ]));
    assert_eq!(
        std::fs::read_to_string(sb.path("other.jsonl"))
            .unwrap()
            .lines()
            .count(),
        2
    );
}

#[test]
fn plugin_add_refuses_what_it_cannot_use_and_changes_nothing() {
    let sb = Sandbox::new();
    let counter = plugin("counter");
    let err = fails(&sb.run(&["plugin", "add", counter.to_str().unwrap()]));
    assert!(
        err.contains("neither a hook nor a command")
            && err.contains("pipectl:hooks/hook@0.1.0")
            && err.contains("wasi:cli/run"),
        "{err}"
    );
    std::fs::write(sb.path("junk.wasm"), b"\0asm junk").unwrap();
    let err = fails(&sb.run(&["plugin", "add", "junk.wasm"]));
    assert!(
        err.contains("junk.wasm") && err.contains("not a valid component"),
        "{err}"
    );
    // A command that imports what is not granted is refused, naming the grants.
    let err = fails(&sb.run(&["plugin", "add", extension("wit-stats").to_str().unwrap()]));
    assert!(err.contains("clocks") && err.contains("random"), "{err}");
    // A name that is one of pipectl's own commands.
    let err = fails(&sb.run(&[
        "plugin",
        "add",
        extension("stamp").to_str().unwrap(),
        "--name",
        "publish",
    ]));
    assert!(
        err.contains("`publish` is one of pipectl's own commands"),
        "{err}"
    );
    assert!(
        !sb.path("pipectl.toml").exists(),
        "a refused add wrote pipectl.toml"
    );
    // Added twice: refused, the file as it was.
    add(&sb, &extension("stamp"), &[]);
    let before = std::fs::read(sb.path("pipectl.toml")).unwrap();
    fails(&sb.run(&["plugin", "add", extension("stamp").to_str().unwrap()]));
    assert_eq!(std::fs::read(sb.path("pipectl.toml")).unwrap(), before);
    let listed = json(&sb.run(&["plugin", "list", "--format", "json"]));
    let plugins = listed["plugins"].as_array().unwrap();
    assert_eq!(plugins.len(), 1);
    assert_eq!(plugins[0]["name"], "stamp");
    assert_eq!(plugins[0]["kind"], "hook");
    assert_eq!(plugins[0]["events"], serde_json::json!(["before-publish"]));
}

#[test]
fn a_hook_whose_component_changed_since_it_was_added_is_refused() {
    let sb = Sandbox::new();
    std::fs::copy(extension("stamp"), sb.path("hook.wasm")).unwrap();
    ok(&sb.run(&["plugin", "add", "hook.wasm", "--name", "stamp"]));
    // Another component planted in the cache under its digest: not used,
    // the source is read instead (and the copy replaced).
    let copies: Vec<_> = std::fs::read_dir(sb.top("cache/plugins"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    std::fs::copy(extension("require-license"), &copies[0]).unwrap();
    ok(&sb.run(&[
        "publish",
        plugin("normalizer").to_str().unwrap(),
        "oci-layout:store:n:0.0.1",
    ]));
    let a = annotations(&sb, "oci-layout:store:n:0.0.1");
    assert_eq!(a["org.opencontainers.image.vendor"], "Example Corp", "{a}");
    assert_eq!(
        std::fs::read(&copies[0]).unwrap(),
        std::fs::read(extension("stamp")).unwrap()
    );
    // The source replaced, the verified copy in the cache gone.
    std::fs::copy(extension("require-license"), sb.path("hook.wasm")).unwrap();
    std::fs::remove_dir_all(sb.top("cache/plugins")).unwrap();
    let err = fails(&sb.run(&[
        "publish",
        plugin("normalizer").to_str().unwrap(),
        "oci-layout:store:n:0.1.0",
    ]));
    assert!(
        err.contains("plugin `stamp`") && err.contains("not the sha256:"),
        "{err}"
    );
    assert!(
        !sb.path("store/index.json").exists()
            || !std::fs::read_to_string(sb.path("store/index.json"))
                .unwrap()
                .contains("0.1.0")
    );
}

#[test]
fn a_hook_written_in_python_vetoes_and_stamps_a_publish() {
    let sb = Sandbox::new();
    let hook = fixture("python-hook");
    // A Python runtime imports WASI whether it uses it or not: refused
    // until granted.
    let err = fails(&sb.run(&["plugin", "add", hook.to_str().unwrap()]));
    assert!(err.contains("--grant") && err.contains("runtime"), "{err}");
    add(
        &sb,
        &hook,
        &["--grant", "runtime", "--name", "change-ticket"],
    );
    let file = plugin("normalizer");
    let err = refused(&sb.run(&[
        "publish",
        file.to_str().unwrap(),
        "oci-layout:store:n:0.1.0",
    ]));
    assert!(
        err.contains("vetoed by plugin `change-ticket`") && err.contains("no change ticket"),
        "{err}"
    );
    ok(&sb.run(&[
        "publish",
        file.to_str().unwrap(),
        "oci-layout:store:n:0.1.0",
        "--annotation",
        "org.example.change-ticket=CHG-1234",
    ]));
    let a = annotations(&sb, "oci-layout:store:n:0.1.0");
    assert_eq!(a["org.example.checked-by"], "python-hook", "{a}");
}

#[test]
fn a_command_plugin_runs_sandboxed_with_only_its_granted_directory() {
    let sb = Sandbox::with_workdir();
    let wit = root().join("wit/pipectl-hooks/0.1.0/hooks.wit");
    std::fs::copy(&wit, sb.path("hooks.wit")).unwrap();
    std::fs::copy(&wit, sb.top("outside.wit")).unwrap();
    add(
        &sb,
        &extension("wit-stats"),
        &["--grant", "clocks,random", "--dir", "."],
    );
    let out = ok(&sb.run(&["wit-stats", "hooks.wit"]));
    assert_eq!(
        out,
        "package: pipectl:hooks@0.1.0\ninterfaces: 2\nfunctions: 2\n"
    );
    // Outside the granted directory: not visible, by a relative or an
    // absolute path; the plugin's own exit status comes back.
    for outside in ["../outside.wit", sb.top("outside.wit").to_str().unwrap()] {
        let out = sb.run(&["wit-stats", outside]);
        assert_eq!(out.status.code(), Some(1), "{outside}");
        assert!(out.stdout.is_empty(), "{outside}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("wit-stats:") && err.contains(outside), "{err}");
    }
    let err = fails(&sb.run(&["no-such-command"]));
    assert!(
        err.contains("neither a pipectl command nor a command plugin"),
        "{err}"
    );
    let err = fails(&sb.run(&["plugin", "remove", "stamp"]));
    assert!(err.contains("no plugin named `stamp`"), "{err}");
    ok(&sb.run(&["plugin", "remove", "wit-stats"]));
    fails(&sb.run(&["wit-stats", "hooks.wit"]));
}

#[test]
fn a_hook_from_a_registry_is_pinned_signature_checked_and_fetched_again_when_needed() {
    let registry = RegistryServer::start();
    let sb = Sandbox::new();
    let stamp = extension("stamp");
    let tag = format!("{}/hooks/stamp:0.1.0", registry.addr);
    ok(&sb.run(&["publish", stamp.to_str().unwrap(), &tag]));
    ok(&sb.run(&["key", "generate", "--name", "team"]));
    // A policy that requires signatures: an unsigned hook is refused and
    // nothing is recorded.
    std::fs::write(
        sb.path("pipectl.toml"),
        "[trust]\nrequire = \"signature\"\n[[trust.key]]\npath = \"team.pub\"\n",
    )
    .unwrap();
    let err = refused(&sb.run(&["plugin", "add", &tag]));
    assert!(err.contains("signature"), "{err}");
    assert!(
        !std::fs::read_to_string(sb.path("pipectl.toml"))
            .unwrap()
            .contains("[[plugin]]")
    );
    ok(&sb.run(&["sign", &tag, "--key", "team.key"]));
    let added = json(&sb.run(&["plugin", "add", &tag, "--format", "json"]));
    assert_eq!(added["name"], "stamp");
    assert_eq!(added["source"], tag.as_str());
    assert_eq!(
        added["digest"],
        pipectl_testkit::sha256(&std::fs::read(&stamp).unwrap())
    );
    // The policy and the plugin share the file.
    let text = std::fs::read_to_string(sb.path("pipectl.toml")).unwrap();
    assert!(
        text.starts_with("[trust]") && text.contains("[[plugin]]"),
        "{text}"
    );
    // With the verified copy gone, the hook is fetched again by its
    // reference and checked against the pinned digest.
    std::fs::remove_dir_all(sb.top("cache/plugins")).unwrap();
    ok(&sb.run(&[
        "publish",
        plugin("normalizer").to_str().unwrap(),
        "oci-layout:store:n:0.1.0",
    ]));
    let a = annotations(&sb, "oci-layout:store:n:0.1.0");
    assert_eq!(a["org.opencontainers.image.vendor"], "Example Corp", "{a}");
    // The tag re-pointed at other bytes: refused, naming both digests.
    std::fs::remove_dir_all(sb.top("cache/plugins")).unwrap();
    ok(&sb.run(&[
        "--no-hooks",
        "publish",
        extension("require-license").to_str().unwrap(),
        &tag,
        "--force",
    ]));
    ok(&sb.run(&["--no-hooks", "sign", &tag, "--key", "team.key"]));
    let err = fails(&sb.run(&[
        "publish",
        plugin("normalizer").to_str().unwrap(),
        "oci-layout:store:n:0.2.0",
    ]));
    assert!(
        err.contains("plugin `stamp`") && err.contains("not the sha256:"),
        "{err}"
    );
}
