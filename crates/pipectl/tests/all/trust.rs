//! `pipectl sign` and `pipectl verify` against the embedded OCI layout and a
//! real registry without the referrers API (CNCF distribution 2.8: the
//! referrers tag schema): sign → verify, wrong key, a tampered bundle, a
//! signature moved onto another artifact, two keys side by side, signing
//! twice, and an independent check of the signature with openssl.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pipectl_testkit::{RegistryServer, plugin};
use serde_json::{Value, json};

const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// A scratch home with three key pairs: `a`, `b` and `c`.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let home = Home {
            dir: tempfile::tempdir().unwrap(),
        };
        for name in ["a", "b", "c"] {
            expect(&home.run(&["key", "generate", "--name", name]), 0);
        }
        home
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_pipectl"))
            .args(args)
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env("PIPECTL_CACHE_DIR", self.path("cache"))
            .env_remove("PIPECTL_CONFIG")
            .env_remove("DOCKER_CONFIG")
            .output()
            .expect("pipectl runs")
    }

    fn fingerprint(&self, key: &str) -> String {
        let out = self.run(&["key", "public", "--key", key, "--format", "json"]);
        let v: Value = serde_json::from_slice(&expect(&out, 0).stdout).unwrap();
        v["fingerprint"].as_str().unwrap().to_string()
    }

    fn sign(&self, reference: &str, key: &str, extra: &[&str]) -> Value {
        let mut args = vec!["sign", reference, "--key", key, "--format", "json"];
        args.extend_from_slice(extra);
        serde_json::from_slice(&expect(&self.run(&args), 0).stdout).unwrap()
    }

    /// `verify … --format json`, expecting exit `code`.
    fn verify(&self, reference: &str, keys: &[&str], code: i32) -> Value {
        let mut args = vec!["verify", reference, "--format", "json"];
        for k in keys {
            args.extend_from_slice(&["--key", k]);
        }
        serde_json::from_slice(&expect(&self.run(&args), code).stdout).unwrap()
    }

    /// Writes `pipectl.toml`: a policy requiring signatures by `keys`
    /// (`[[trust.key]]` tables).
    fn policy(&self, keys: &str) {
        std::fs::write(
            self.path("pipectl.toml"),
            format!("[trust]\nrequire = \"signature\"\n{keys}"),
        )
        .unwrap();
    }

    /// Runs openssl in the home; whether it succeeded.
    fn openssl(&self, args: &[&str]) -> bool {
        Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap()
            .status
            .success()
    }
}

fn expect(o: &Output, code: i32) -> &Output {
    assert_eq!(
        o.status.code(),
        Some(code),
        "expected exit {code}:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn publish(home: &Home, plugin_name: &str, reference: &str) -> String {
    let out = home.run(&[
        "publish",
        plugin(plugin_name).to_str().unwrap(),
        reference,
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&expect(&out, 0).stdout).unwrap();
    v["manifest"].as_str().unwrap().to_string()
}

fn hex(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

fn sha256(bytes: &[u8]) -> String {
    pipectl_io::Digest::sha256(bytes).to_string()
}

fn signers(report: &Value) -> Vec<String> {
    let mut found: Vec<String> = report["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["verified"] == true)
        .map(|s| s["signer"].as_str().unwrap().to_string())
        .collect();
    found.sort();
    found
}

fn errors(report: &Value) -> String {
    report["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["error"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The independent check: openssl verifies the message signature of
/// `bundle` over `manifest` with `public`, the DSSE one over its PAE.
fn openssl_verifies(home: &Home, bundle: &[u8], manifest: &[u8], public: &str) -> bool {
    let bundle: Value = serde_json::from_slice(bundle).unwrap();
    let decode = |b64: &str, out: &str| {
        std::fs::write(home.path("b64.txt"), b64).unwrap();
        assert!(home.openssl(&["base64", "-d", "-A", "-in", "b64.txt", "-out", out]));
        std::fs::read(home.path(out)).unwrap()
    };
    let signed = if let Some(m) = bundle.get("messageSignature") {
        decode(m["signature"].as_str().unwrap(), "sig.der");
        manifest.to_vec()
    } else {
        let env = &bundle["dsseEnvelope"];
        decode(env["signatures"][0]["sig"].as_str().unwrap(), "sig.der");
        let payload = decode(env["payload"].as_str().unwrap(), "payload.json");
        let statement: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(
            statement["subject"][0]["digest"]["sha256"]
                .as_str()
                .unwrap(),
            hex(&sha256(manifest)),
            "the statement is about the manifest"
        );
        let kind = env["payloadType"].as_str().unwrap();
        let mut pae = format!("DSSEv1 {} {kind} {} ", kind.len(), payload.len()).into_bytes();
        pae.extend_from_slice(&payload);
        pae
    };
    std::fs::write(home.path("signed.bin"), signed).unwrap();
    home.openssl(&[
        "dgst",
        "-sha256",
        "-verify",
        public,
        "-signature",
        "sig.der",
        "signed.bin",
    ])
}

/// The layout's `index.json`, and its untagged (referrer) entries.
fn layout_index(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap()
}

fn layout_referrers(dir: &Path) -> Vec<Value> {
    layout_index(dir)["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m.get("annotations").is_none())
        .cloned()
        .collect()
}

fn layout_blob(dir: &Path, digest: &str) -> PathBuf {
    dir.join("blobs/sha256").join(hex(digest))
}

/// Writes `manifest` into the layout as a new untagged entry (what another
/// tool writing referrers into the layout would do).
fn layout_add(dir: &Path, manifest: &Value) -> String {
    layout_add_typed(dir, manifest, BUNDLE)
}

/// [`layout_add`] of a referrer of `artifact_type`.
fn layout_add_typed(dir: &Path, manifest: &Value, artifact_type: &str) -> String {
    let bytes = serde_json::to_vec(manifest).unwrap();
    let digest = sha256(&bytes);
    std::fs::write(layout_blob(dir, &digest), &bytes).unwrap();
    let mut index = layout_index(dir);
    index["manifests"].as_array_mut().unwrap().push(json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": artifact_type,
        "digest": digest,
        "size": bytes.len(),
    }));
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    digest
}

#[test]
fn layout_signatures_verify_and_refuse_what_they_must() {
    let home = Home::new();
    let store = home.path("store");
    let (fa, fb) = (home.fingerprint("a.pub"), home.fingerprint("b.pub"));
    let one = "oci-layout:store:0.1.0";
    let two = "oci-layout:store:0.2.0";
    let manifest_one = publish(&home, "normalizer", one);
    let manifest_two = publish(&home, "counter", two);

    // Could not run: exit 2, naming what is missing.
    let out = home.run(&["verify", "oci-layout:store:9.9.9", "--key", "a.pub"]);
    let err = String::from_utf8_lossy(&expect(&out, 2).stderr).into_owned();
    assert!(err.contains("version 9.9.9 does not exist"), "{err}");
    let out = home.run(&["verify", one, "--key", "missing.pub"]);
    let err = String::from_utf8_lossy(&expect(&out, 2).stderr).into_owned();
    assert!(err.contains("missing.pub"), "{err}");
    let out = home.run(&["sign", one, "--key", "a.pub"]);
    let err = String::from_utf8_lossy(&expect(&out, 2).stderr).into_owned();
    assert!(err.contains("a.pub is not a P-256 private key"), "{err}");
    assert!(layout_referrers(&store).is_empty());

    // Unsigned: not verified.
    let r = home.verify(one, &["a.pub"], 1);
    assert_eq!(r["verified"], false);
    assert_eq!(r["signatures"].as_array().unwrap().len(), 0);

    // Signed by `a`: verifies with `a` (the private key works too), not
    // with `c`.
    let signed = home.sign(one, "a.key", &[]);
    assert_eq!(signed["status"], "signed");
    assert_eq!(signed["manifest"], manifest_one.as_str());
    let r = home.verify(one, &["a.pub"], 0);
    assert_eq!(signers(&r), vec![fa.clone()]);
    assert_eq!(r["manifest"], manifest_one.as_str());
    home.verify(one, &["a.key"], 0);
    let r = home.verify(one, &["c.pub"], 1);
    assert!(errors(&r).contains("no trusted key"), "{r}");
    let human = home.run(&["verify", one, "--key", "a.pub"]);
    let text = String::from_utf8_lossy(&expect(&human, 0).stdout).into_owned();
    assert!(
        text.starts_with("verified: ") && text.contains(&fa),
        "{text}"
    );

    // Independent: openssl verifies the signature over the manifest bytes
    // with `a`, and not with `b`.
    let manifest_bytes = std::fs::read(layout_blob(&store, &manifest_one)).unwrap();
    let bundle = std::fs::read(layout_blob(&store, signed["bundle"].as_str().unwrap())).unwrap();
    assert!(openssl_verifies(&home, &bundle, &manifest_bytes, "a.pub"));
    assert!(!openssl_verifies(&home, &bundle, &manifest_bytes, "b.pub"));

    // Signing again does not duplicate; a second key (DSSE) is added; both
    // verify; nothing is dropped.
    assert_eq!(home.sign(one, "a.key", &[])["status"], "unchanged");
    assert_eq!(layout_referrers(&store).len(), 1);
    let dsse = home.sign(one, "b.key", &["--dsse"]);
    assert_eq!(dsse["kind"], "dsse");
    assert_eq!(home.sign(one, "a.key", &[])["status"], "unchanged");
    assert_eq!(layout_referrers(&store).len(), 2);
    let r = home.verify(one, &["a.pub", "b.pub"], 0);
    let mut both = vec![fa.clone(), fb.clone()];
    both.sort();
    assert_eq!(signers(&r), both);
    let bundle_b = std::fs::read(layout_blob(&store, dsse["bundle"].as_str().unwrap())).unwrap();
    assert!(openssl_verifies(&home, &bundle_b, &manifest_bytes, "b.pub"));
    // A later publish keeps the referrers, as they were listed.
    publish(&home, "validator", "oci-layout:store:0.3.0");
    let kept = layout_referrers(&store);
    assert_eq!(kept.len(), 2);
    assert!(kept.iter().all(|m| m["artifactType"] == BUNDLE), "{kept:?}");
    home.verify(one, &["a.pub", "b.pub"], 0);

    // publish --sign: published and signed in one go; a bad key is refused
    // before anything is published.
    let out = home.run(&[
        "publish",
        plugin("counter").to_str().unwrap(),
        "oci-layout:store:0.4.0",
        "--sign",
        "--key",
        "a.key",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&expect(&out, 0).stdout).unwrap();
    assert_eq!(v["signature"]["status"], "signed");
    assert_eq!(v["signature"]["manifest"], v["manifest"]);
    home.verify("oci-layout:store:0.4.0", &["a.pub"], 0);
    let out = home.run(&[
        "publish",
        plugin("counter").to_str().unwrap(),
        "oci-layout:store:0.5.0",
        "--sign",
        "--key",
        "b.pub",
    ]);
    let err = String::from_utf8_lossy(&expect(&out, 2).stderr).into_owned();
    assert!(err.contains("b.pub is not a P-256 private key"), "{err}");
    let index = String::from_utf8(std::fs::read(store.join("index.json")).unwrap()).unwrap();
    assert!(!index.contains("0.5.0"), "{index}");

    // `a`'s signature of 0.1.0 moved onto 0.2.0: refused there.
    let referrer: Value = serde_json::from_slice(
        &std::fs::read(layout_blob(&store, signed["referrer"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let mut moved = referrer.clone();
    let size_two = std::fs::metadata(layout_blob(&store, &manifest_two))
        .unwrap()
        .len();
    moved["subject"] = json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": manifest_two,
        "size": size_two,
    });
    layout_add(&store, &moved);
    let r = home.verify(two, &["a.pub"], 1);
    assert_eq!(r["signatures"].as_array().unwrap().len(), 1, "{r}");
    assert!(
        errors(&r).contains(&format!("covers {manifest_one}, not {manifest_two}")),
        "{r}"
    );

    // A bundle with one byte changed (repacked so every digest matches):
    // the signature fails.
    let mut text = String::from_utf8(bundle.clone()).unwrap();
    let at = text.find("\"signature\":\"").unwrap() + 20;
    let old = text.as_bytes()[at];
    let new = if old == b'A' { "B" } else { "A" };
    text.replace_range(at..at + 1, new);
    let tampered = text.into_bytes();
    std::fs::write(layout_blob(&store, &sha256(&tampered)), &tampered).unwrap();
    let mut forged = referrer.clone();
    forged["layers"][0]["digest"] = json!(sha256(&tampered));
    forged["annotations"] = json!({"forged": "yes"});
    let forged_digest = layout_add(&store, &forged);
    let r = home.verify(one, &["a.pub"], 0);
    let bad: Vec<&Value> = r["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["referrer"] == forged_digest.as_str())
        .collect();
    assert_eq!(bad.len(), 1, "{r}");
    assert_eq!(bad[0]["verified"], false);
    assert!(
        bad[0]["error"].as_str().unwrap().contains("no trusted key"),
        "{r}"
    );
    // Alone (the genuine signature's bundle blob altered on disk, one
    // byte), nothing verifies with `a`: exit 1.
    let genuine = layout_blob(&store, signed["bundle"].as_str().unwrap());
    let mut bytes = std::fs::read(&genuine).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    std::fs::write(&genuine, &bytes).unwrap();
    let r = home.verify(one, &["a.pub"], 1);
    assert!(errors(&r).contains("digest mismatch"), "{r}");
    // `b`'s signature is untouched and still verifies.
    home.verify(one, &["b.pub"], 0);
}

/// `curl` against the test registry.
fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "-f"])
        .args(args)
        .output()
        .unwrap()
}

fn tag_index(registry: &RegistryServer, repo: &str, manifest: &str) -> Value {
    let out = curl(&[
        "-H",
        &format!("Accept: {INDEX}"),
        &format!(
            "http://{}/v2/{repo}/manifests/sha256-{}",
            registry.addr,
            hex(manifest)
        ),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn registry_signatures_use_the_referrers_tag_schema() {
    let registry = RegistryServer::start();
    let home = Home::new();
    let (fa, fb) = (home.fingerprint("a.pub"), home.fingerprint("b.pub"));
    let repo = "plugins/signed";
    let one = format!("{}/{repo}:0.1.0", registry.addr);
    let two = format!("{}/{repo}:0.2.0", registry.addr);
    let manifest_one = publish(&home, "normalizer", &one);
    let manifest_two = publish(&home, "counter", &two);

    // The registry has no referrers API (the tag schema is needed).
    let api = curl(&[&format!(
        "http://{}/v2/{repo}/referrers/{manifest_one}",
        registry.addr
    )]);
    assert!(!api.status.success());

    home.verify(&one, &["a.pub"], 1);
    let signed = home.sign(&one, "a.key", &[]);
    assert_eq!(signed["status"], "signed");
    let index = tag_index(&registry, repo, &manifest_one);
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(index["manifests"][0]["artifactType"], BUNDLE);
    assert_eq!(index["manifests"][0]["digest"], signed["referrer"]);
    let r = home.verify(&one, &["a.pub"], 0);
    assert_eq!(signers(&r), vec![fa.clone()]);
    // By digest too.
    home.verify(
        &format!("{}/{repo}@{manifest_one}", registry.addr),
        &["a.pub"],
        0,
    );
    home.verify(&one, &["c.pub"], 1);

    // Independent: openssl, over the manifest bytes the registry serves.
    let manifest_bytes = std::fs::read(registry.blob_file(&manifest_one)).unwrap();
    assert_eq!(sha256(&manifest_bytes), manifest_one);
    let bundle_file = registry.blob_file(signed["bundle"].as_str().unwrap());
    let bundle = std::fs::read(&bundle_file).unwrap();
    assert!(openssl_verifies(&home, &bundle, &manifest_bytes, "a.pub"));
    assert!(!openssl_verifies(&home, &bundle, &manifest_bytes, "c.pub"));

    // Twice: not duplicated; a second key: added, the first kept.
    assert_eq!(home.sign(&one, "a.key", &[])["status"], "unchanged");
    let dsse = home.sign(&one, "b.key", &["--dsse"]);
    assert_eq!(dsse["status"], "signed");
    assert_eq!(home.sign(&one, "a.key", &[])["status"], "unchanged");
    let index = tag_index(&registry, repo, &manifest_one);
    let listed: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        vec![
            signed["referrer"].as_str().unwrap(),
            dsse["referrer"].as_str().unwrap()
        ]
    );
    let r = home.verify(&one, &["a.pub", "b.pub"], 0);
    let mut both = vec![fa.clone(), fb.clone()];
    both.sort();
    assert_eq!(signers(&r), both);
    let bundle_b = std::fs::read(registry.blob_file(dsse["bundle"].as_str().unwrap())).unwrap();
    assert!(openssl_verifies(&home, &bundle_b, &manifest_bytes, "b.pub"));

    // The referrers of 0.1.0 copied under 0.2.0's referrers tag: they are
    // about another manifest, refused.
    std::fs::write(home.path("moved.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    let put = curl(&[
        "-X",
        "PUT",
        "-H",
        &format!("Content-Type: {INDEX}"),
        "--data-binary",
        &format!("@{}", home.path("moved.json").display()),
        &format!(
            "http://{}/v2/{repo}/manifests/sha256-{}",
            registry.addr,
            hex(&manifest_two)
        ),
    ]);
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let r = home.verify(&two, &["a.pub", "b.pub"], 1);
    assert_eq!(r["signatures"].as_array().unwrap().len(), 2, "{r}");
    assert!(errors(&r).contains("is a referrer of"), "{r}");

    // One byte of `a`'s bundle changed on the registry's disk: `a`'s
    // signature fails (the registry does not check; pipectl does).
    let mut bytes = bundle.clone();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    std::fs::write(&bundle_file, &bytes).unwrap();
    let r = home.verify(&one, &["a.pub"], 1);
    assert!(errors(&r).contains("digest mismatch"), "{r}");
    home.verify(&one, &["b.pub"], 0);
}

#[test]
fn a_policy_requiring_signatures_refuses_a_retagged_manifest() {
    let registry = RegistryServer::start();
    let home = Home::new();
    let repo = format!("{}/plugins/policed", registry.addr);
    let tag = format!("{repo}:0.1.0");
    publish(&home, "normalizer", &tag);
    home.sign(&tag, "a.key", &[]);
    let policy = |keys: &str| home.policy(keys);
    let fetch = |out: &str| home.run(&["fetch", &tag, "-o", out]);

    // Signed by the trusted key: fetched and locked.
    policy(&format!(
        "[[trust.key]]\npath = \"a.pub\"\nrepositories = [\"{}/plugins/*\"]\n",
        registry.addr
    ));
    expect(&fetch("signed.wasm"), 0);
    assert_eq!(
        std::fs::read(home.path("signed.wasm")).unwrap(),
        std::fs::read(plugin("normalizer")).unwrap()
    );
    let lock = std::fs::read_to_string(home.path("pipectl.lock")).unwrap();

    // Only another key trusted: refused, nothing written.
    policy("[[trust.key]]\npath = \"b.pub\"\n");
    let err = String::from_utf8_lossy(&expect(&fetch("other.wasm"), 1).stderr).into_owned();
    assert!(
        err.contains("plugins/policed") && err.contains("no trusted key"),
        "{err}"
    );
    assert!(!home.path("other.wasm").exists());
    // A key trusted for other repositories only: refused.
    policy("[[trust.key]]\npath = \"a.pub\"\nrepositories = [\"elsewhere/*\"]\n");
    let err = String::from_utf8_lossy(&expect(&fetch("other.wasm"), 1).stderr).into_owned();
    assert!(err.contains("trusts no key for this repository"), "{err}");

    // The same tag re-pointed at other bytes (unsigned): refused, the
    // lockfile and the earlier output untouched.
    policy("[[trust.key]]\npath = \"a.pub\"\n");
    let forced = home.run(&[
        "publish",
        plugin("counter").to_str().unwrap(),
        &tag,
        "--force",
    ]);
    expect(&forced, 0);
    // (The old lockfile still pins the signed manifest: that fetch works.)
    expect(&fetch("pinned.wasm"), 0);
    let fresh = [
        "fetch",
        &tag,
        "-o",
        "retagged.wasm",
        "--lockfile",
        "fresh.lock",
    ];
    let err = String::from_utf8_lossy(&expect(&home.run(&fresh), 1).stderr).into_owned();
    assert!(err.contains("it has no signature"), "{err}");
    assert!(!home.path("retagged.wasm").exists());
    assert!(!home.path("fresh.lock").exists());
    assert_eq!(
        std::fs::read_to_string(home.path("pipectl.lock")).unwrap(),
        lock
    );
    // Without the policy, the same fetch works (the refusal was the policy's).
    std::fs::remove_file(home.path("pipectl.toml")).unwrap();
    expect(&home.run(&fresh), 0);
    assert_eq!(
        std::fs::read(home.path("retagged.wasm")).unwrap(),
        std::fs::read(plugin("counter")).unwrap()
    );
}

/// A `pipeline.toml` whose one stage is the registry's validator, with
/// `extra` (e.g. a `[trust]` table) before the stage.
fn write_pipeline(home: &Home, addr: &str, extra: &str) {
    std::fs::write(
        home.path("pipeline.toml"),
        format!(
            "[pipeline]\nname = \"p\"\nversion = \"1.0.0\"\n\
             world = \"example:text-transform/plugin@0.2.0\"\nwit = \"{wit}\"\n\n{extra}\
             [[stage]]\nname = \"validator\"\noci = \"{addr}/plugins/validator\"\nversion = \"^0.2\"\n",
            wit = pipectl_testkit::root()
                .join("wit/text-transform/0.2.0")
                .display(),
        ),
    )
    .unwrap();
}

#[test]
fn a_policy_next_to_a_pipeline_covers_its_registry_stages() {
    let registry = RegistryServer::start();
    let home = Home::new();
    let tag = format!("{}/plugins/validator:0.2.0", registry.addr);
    publish(&home, "validator", &tag);
    write_pipeline(&home, &registry.addr, "");
    home.policy("[[trust.key]]\npath = \"a.pub\"\n");
    std::fs::write(home.path("input.txt"), "one two three").unwrap();
    let run = ["run", "pipeline.toml", "--input", "input.txt"];

    // Unsigned: run and compose refuse the stage (the policy's no: 1), naming it.
    let err = String::from_utf8_lossy(&expect(&home.run(&run), 1).stderr).into_owned();
    assert!(
        err.contains("stage `validator`") && err.contains("it has no signature"),
        "{err}"
    );
    let compose = ["compose", "pipeline.toml", "-o", "p.wasm"];
    let err = String::from_utf8_lossy(&expect(&home.run(&compose), 1).stderr).into_owned();
    assert!(err.contains("stage `validator`"), "{err}");
    assert!(!home.path("p.wasm").exists());

    // Signed by another key: still refused; by the trusted key: runs.
    home.sign(&tag, "b.key", &[]);
    let err = String::from_utf8_lossy(&expect(&home.run(&run), 1).stderr).into_owned();
    assert!(err.contains("no trusted key"), "{err}");
    home.sign(&tag, "a.key", &[]);
    expect(&home.run(&run), 0);
    expect(&home.run(&compose), 0);
    assert!(home.path("p.wasm").exists());
    // The stage's signature is pinned in the pipeline's lockfile, and with
    // the registry gone an offline run verifies it from the cache.
    let lock = std::fs::read_to_string(home.path("pipectl.lock")).unwrap();
    let a = home.fingerprint("a.pub");
    assert!(lock.contains(&format!("signer = \"{a}\"")), "{lock}");
    drop(registry);
    let mut offline = run.to_vec();
    offline.push("--offline");
    expect(&home.run(&offline), 0);
    // Trusting only b now: the pinned signature does not do, and offline
    // nothing else can be looked for.
    home.policy("[[trust.key]]\npath = \"b.pub\"\n");
    let err = String::from_utf8_lossy(&expect(&home.run(&offline), 1).stderr).into_owned();
    assert!(
        err.contains("stage `validator`") && err.contains("--offline"),
        "{err}"
    );
}

/// Writes a plain CycloneDX referrer of `subject` into the layout (what a
/// tool attaching its own SBOM would do).
fn layout_add_sbom(dir: &Path, subject: &str, subject_size: u64, sbom: &Value) -> String {
    let payload = serde_json::to_vec(sbom).unwrap();
    let payload_digest = sha256(&payload);
    std::fs::write(layout_blob(dir, &payload_digest), &payload).unwrap();
    let empty = b"{}";
    let empty_digest = sha256(empty);
    std::fs::write(layout_blob(dir, &empty_digest), empty).unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.cyclonedx+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty_digest, "size": 2},
        "layers": [{"mediaType": "application/vnd.cyclonedx+json", "digest": payload_digest, "size": payload.len()}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject, "size": subject_size},
    });
    layout_add_typed(dir, &manifest, "application/vnd.cyclonedx+json")
}

/// `publish --attest` attaches the composition's SBOM and provenance as
/// referrers (signed with `--sign`), `verify` and `inspect` report them, an
/// SBOM that disagrees with the stages the manifest records fails
/// verification, and attaching again adds nothing; on the embedded layout
/// and on a real registry (the referrers tag schema).
#[test]
fn attestations_describe_the_composition_and_verify() {
    let home = Home::new();
    let pipeline = pipectl_testkit::root().join("pipeline.toml");
    expect(
        &home.run(&["compose", pipeline.to_str().unwrap(), "-o", "p.wasm"]),
        0,
    );
    let publish = |reference: &str, extra: &[&str]| -> Value {
        let mut args = vec![
            "publish", "p.wasm", reference, "--attest", "--format", "json",
        ];
        args.extend_from_slice(extra);
        serde_json::from_slice(&expect(&home.run(&args), 0).stdout).unwrap()
    };
    let signed = ["--sign", "--key", "a.key"];
    let report = publish("oci-layout:store:1.0.0", &signed);
    let kinds: Vec<&str> = report["attestations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["sbom", "provenance"]);
    assert!(
        report["attestations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["signed"] == true)
    );
    let store = home.path("store");
    assert_eq!(
        layout_referrers(&store).len(),
        3,
        "a signature and two attestations"
    );
    // Again: nothing new.
    let again = publish("oci-layout:store:1.0.0", &signed);
    assert!(
        again["attestations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] == "unchanged")
    );
    assert_eq!(layout_referrers(&store).len(), 3);
    // Each attestation is a DSSE envelope openssl verifies over its PAE
    // with the signing key, and not with another; its statement is about
    // the published manifest.
    let subject = std::fs::read(layout_blob(&store, report["manifest"].as_str().unwrap())).unwrap();
    for a in report["attestations"].as_array().unwrap() {
        let referrer: Value = serde_json::from_slice(
            &std::fs::read(layout_blob(&store, a["referrer"].as_str().unwrap())).unwrap(),
        )
        .unwrap();
        let bundle = std::fs::read(layout_blob(
            &store,
            referrer["layers"][0]["digest"].as_str().unwrap(),
        ))
        .unwrap();
        assert!(openssl_verifies(&home, &bundle, &subject, "a.pub"), "{a}");
        assert!(!openssl_verifies(&home, &bundle, &subject, "b.pub"), "{a}");
    }

    // Verified with the signing key; not with another.
    let ok = home.verify("oci-layout:store:1.0.0", &["a.pub"], 0);
    assert_eq!(ok["signatures"].as_array().unwrap().len(), 1, "{ok}");
    let attestations = ok["attestations"].as_array().unwrap();
    assert_eq!(attestations.len(), 2, "{ok}");
    assert!(
        attestations
            .iter()
            .all(|a| a["verified"] == true && a.get("disagreements").is_none()),
        "{ok}"
    );
    let other = home.verify("oci-layout:store:1.0.0", &["b.pub"], 1);
    assert!(
        other["attestations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["verified"] == false)
    );

    // The SBOM says what the component records: every stage, with its digest.
    let manifest = ok["manifest"].as_str().unwrap().to_string();
    let inspect: Value = serde_json::from_slice(
        &expect(
            &home.run(&[
                "inspect",
                "oci-layout:store:1.0.0",
                "--key",
                "a.pub",
                "--format",
                "json",
            ]),
            0,
        )
        .stdout,
    )
    .unwrap();
    let stages = inspect["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 3, "{inspect}");
    assert_eq!(inspect["attestations"].as_array().unwrap().len(), 2);

    // A foreign SBOM that lists another digest for a stage: verify fails.
    let mut sbom = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "components": stages.iter().map(|s| json!({
            "type": "library",
            "name": s["name"],
            "hashes": [{"alg": "SHA-256", "content": hex(s["digest"].as_str().unwrap())}],
        })).collect::<Vec<_>>(),
    });
    sbom["components"][1]["hashes"][0]["content"] = json!("00".repeat(32));
    let size = std::fs::metadata(layout_blob(&store, &manifest))
        .unwrap()
        .len();
    layout_add_sbom(&store, &manifest, size, &sbom);
    let bad = home.verify("oci-layout:store:1.0.0", &["a.pub"], 1);
    let disagree: Vec<&Value> = bad["attestations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a.get("disagreements").is_some())
        .collect();
    assert_eq!(disagree.len(), 1, "{bad}");
    assert!(
        disagree[0]["disagreements"][0]
            .as_str()
            .unwrap()
            .contains("validator"),
        "{bad}"
    );

    // Unsigned attestations; and --attest of a plain plugin is refused.
    let plain = publish("oci-layout:plain:1.0.0", &[]);
    assert!(
        plain["attestations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["signed"] == false)
    );
    let out = home.run(&[
        "publish",
        plugin("normalizer").to_str().unwrap(),
        "oci-layout:plain:2.0.0",
        "--attest",
    ]);
    expect(&out, 2);

    // A real registry: attestations go through the referrers tag schema.
    let registry = RegistryServer::start();
    let reference = format!("{}/pipelines/text:1.0.0", registry.addr);
    publish(&reference, &signed);
    let ok = home.verify(&reference, &["a.pub"], 0);
    assert_eq!(ok["attestations"].as_array().unwrap().len(), 2, "{ok}");
    assert!(
        ok["attestations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["verified"] == true),
        "{ok}"
    );
}

/// The policy can live in the pipeline itself: a `[trust]` table in
/// `pipeline.toml` covers its registry stages as a `pipectl.toml` next to
/// it does.
#[test]
fn a_trust_table_in_the_pipeline_covers_its_registry_stages() {
    let registry = RegistryServer::start();
    let home = Home::new();
    let tag = format!("{}/plugins/validator:0.2.0", registry.addr);
    publish(&home, "validator", &tag);
    write_pipeline(
        &home,
        &registry.addr,
        "[trust]\nrequire = \"signature\"\n[[trust.key]]\npath = \"a.pub\"\n\n",
    );
    std::fs::write(home.path("input.txt"), "one two three").unwrap();
    let run = ["run", "pipeline.toml", "--input", "input.txt"];
    let err = String::from_utf8_lossy(&expect(&home.run(&run), 1).stderr).into_owned();
    assert!(
        err.contains("stage `validator`") && err.contains("pipeline.toml requires a signature")
            || err.contains("it has no signature"),
        "{err}"
    );
    home.sign(&tag, "b.key", &[]);
    expect(&home.run(&run), 1);
    home.sign(&tag, "a.key", &[]);
    expect(&home.run(&run), 0);
    // A `[trust]` table that does not parse is refused, naming it.
    let text = std::fs::read_to_string(home.path("pipeline.toml")).unwrap();
    std::fs::write(
        home.path("pipeline.toml"),
        text.replace("require = \"signature\"", "require = \"always\""),
    )
    .unwrap();
    let err = String::from_utf8_lossy(&expect(&home.run(&run), 2).stderr).into_owned();
    assert!(err.contains("`[trust]`"), "{err}");
}

/// `pipectl.lock` records the signature a policy accepted (the bundle's
/// digest and the signer's fingerprint); a warm fetch verifies it again
/// from the cache with no network, `--offline` included; `--locked` fails
/// when the signature or signer would change.
#[test]
fn the_lockfile_pins_the_signature_and_a_warm_fetch_verifies_it_offline() {
    let registry = RegistryServer::start();
    let home = Home::new();
    let tag = format!("{}/plugins/pinned-sig:0.1.0", registry.addr);
    publish(&home, "normalizer", &tag);
    home.sign(&tag, "a.key", &[]);
    let policy = |keys: &str| home.policy(keys);
    policy("[[trust.key]]\npath = \"a.pub\"\n[[trust.key]]\npath = \"b.pub\"\n");
    let fetch = |extra: &[&str]| {
        let mut args = vec!["fetch", &tag, "-o", "out.wasm", "--format", "json"];
        args.extend_from_slice(extra);
        home.run(&args)
    };
    let v: Value = serde_json::from_slice(&expect(&fetch(&[]), 0).stdout).unwrap();
    let a = home.fingerprint("a.pub");
    assert_eq!(v["signer"], a.as_str(), "{v}");
    let signature = v["signature"].as_str().unwrap().to_string();
    let lock = std::fs::read_to_string(home.path("pipectl.lock")).unwrap();
    assert!(
        lock.contains(&format!("signature = \"{signature}\""))
            && lock.contains(&format!("signer = \"{a}\"")),
        "{lock}"
    );
    // Signed again by b: the lock keeps a's signature (still good), and
    // --locked passes.
    home.sign(&tag, "b.key", &[]);
    expect(&fetch(&["--locked"]), 0);
    assert_eq!(
        std::fs::read_to_string(home.path("pipectl.lock")).unwrap(),
        lock
    );

    // The registry gone: the warm, locked fetch verifies from the cache.
    drop(registry);
    std::fs::remove_file(home.path("out.wasm")).unwrap();
    expect(&fetch(&["--locked"]), 0);
    expect(&fetch(&["--offline"]), 0);
    assert_eq!(
        std::fs::read(home.path("out.wasm")).unwrap(),
        std::fs::read(plugin("normalizer")).unwrap()
    );
    // a no longer trusted: the kept signature does not do, and offline
    // nothing else can be looked for.
    policy("[[trust.key]]\npath = \"b.pub\"\n");
    let err = String::from_utf8_lossy(&expect(&fetch(&["--offline"]), 1).stderr).into_owned();
    assert!(
        err.contains("--offline cannot look for one") && err.contains("not trusted"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(home.path("pipectl.lock")).unwrap(),
        lock
    );
}

/// With the signer no longer trusted, the registry's other signature is
/// accepted, which changes the lockfile: `--locked` refuses (exit 1).
#[test]
fn a_locked_fetch_refuses_a_signature_that_would_change() {
    let registry = RegistryServer::start();
    let home = Home::new();
    let tag = format!("{}/plugins/resigned:0.1.0", registry.addr);
    publish(&home, "normalizer", &tag);
    home.sign(&tag, "a.key", &[]);
    home.sign(&tag, "b.key", &[]);
    let policy = |keys: &str| home.policy(keys);
    policy("[[trust.key]]\npath = \"a.pub\"\n");
    expect(&home.run(&["fetch", &tag, "-o", "out.wasm"]), 0);
    let lock = std::fs::read_to_string(home.path("pipectl.lock")).unwrap();
    policy("[[trust.key]]\npath = \"b.pub\"\n");
    let out = home.run(&[
        "fetch",
        &tag,
        "-o",
        "again.wasm",
        "--locked",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&expect(&out, 1).stdout).unwrap();
    assert_eq!(v["error"]["kind"], "locked_drift", "{v}");
    assert!(!home.path("again.wasm").exists());
    assert_eq!(
        std::fs::read_to_string(home.path("pipectl.lock")).unwrap(),
        lock
    );
    // Unlocked, the lockfile takes b's signature.
    expect(&home.run(&["fetch", &tag, "-o", "again.wasm"]), 0);
    let b = home.fingerprint("b.pub");
    assert!(
        std::fs::read_to_string(home.path("pipectl.lock"))
            .unwrap()
            .contains(&format!("signer = \"{b}\""))
    );
}

/// `fetch --to oci-layout:DIR --with-referrers` copies the artifact and its
/// signatures, SBOM and provenance byte for byte: with the registry gone,
/// the mirror verifies and fetches under the policy.
#[test]
fn an_offline_mirror_carries_the_referrers_and_verifies_without_the_registry() {
    let registry = RegistryServer::start();
    let home = Home::new();
    let root = pipectl_testkit::root();
    let manifest = std::fs::read_to_string(root.join("pipeline.toml"))
        .unwrap()
        .replace("\"target/", &format!("\"{}/target/", root.display()))
        .replace("\"wit/", &format!("\"{}/wit/", root.display()));
    std::fs::write(home.path("pipeline.toml"), manifest).unwrap();
    expect(
        &home.run(&["compose", "pipeline.toml", "-o", "pipeline.wasm"]),
        0,
    );
    let tag = format!("{}/plugins/mirrored:0.1.0", registry.addr);
    expect(
        &home.run(&[
            "publish",
            "pipeline.wasm",
            &tag,
            "--attest",
            "--sign",
            "--key",
            "a.key",
        ]),
        0,
    );
    let out = home.run(&[
        "fetch",
        &tag,
        "--to",
        "oci-layout:mirror",
        "--with-referrers",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&expect(&out, 0).stdout).unwrap();
    assert_eq!(v["mirror"]["referrers"], 3, "{v}");
    assert_eq!(v["mirror"]["skipped"], json!([]), "{v}");
    let source_manifest = v["manifest"].as_str().unwrap().to_string();
    // Again: nothing to do, nothing duplicated.
    let v: Value = serde_json::from_slice(
        &expect(
            &home.run(&[
                "fetch",
                &tag,
                "--to",
                "oci-layout:mirror",
                "--with-referrers",
                "--format",
                "json",
            ]),
            0,
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(v["mirror"]["already_there"], true, "{v}");
    drop(registry);
    // The mirror: the same manifest, its signature and attestations verify.
    let r = home.verify("oci-layout:mirror:0.1.0", &["a.pub"], 0);
    assert_eq!(r["manifest"], source_manifest.as_str(), "{r}");
    assert_eq!(r["attestations"].as_array().map(Vec::len), Some(2), "{r}");
    // And a fetch from it under a policy, with no registry.
    home.policy("[[trust.key]]\npath = \"a.pub\"\n");
    expect(
        &home.run(&[
            "fetch",
            "oci-layout:mirror:0.1.0",
            "-o",
            "offline.wasm",
            "--lockfile",
            "mirror.lock",
        ]),
        0,
    );
    assert_eq!(
        std::fs::read(home.path("offline.wasm")).unwrap(),
        std::fs::read(home.path("pipeline.wasm")).unwrap()
    );
    // A mirror into a registry is refused.
    let out = home.run(&["fetch", "oci-layout:mirror:0.1.0", "--to", "localhost:1/x"]);
    expect(&out, 2);
}

/// `compose --attest` writes the composition's SBOM and provenance next to
/// its output: plain documents that name every stage and the component's
/// digest, or with `--sign` DSSE-signed statements openssl verifies.
#[test]
fn compose_attest_writes_the_sbom_and_provenance_beside_the_output() {
    let home = Home::new();
    let pipeline = pipectl_testkit::root().join("pipeline.toml");
    let compose = |out: &str, extra: &[&str]| -> Value {
        let mut args = vec![
            "compose",
            pipeline.to_str().unwrap(),
            "-o",
            out,
            "--attest",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        serde_json::from_slice(&expect(&home.run(&args), 0).stdout).unwrap()
    };
    let report = compose("p.wasm", &[]);
    let component = std::fs::read(home.path("p.wasm")).unwrap();
    assert_eq!(report["digest"], sha256(&component).as_str());
    assert_eq!(
        report["attestation_files"].as_array().map(Vec::len),
        Some(2)
    );
    let sbom: Value =
        serde_json::from_slice(&std::fs::read(home.path("p.wasm.cdx.json")).unwrap()).unwrap();
    assert_eq!(sbom["bomFormat"], "CycloneDX");
    let hashes: Vec<String> = sbom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}={}",
                c["name"].as_str().unwrap(),
                c["hashes"][0]["content"].as_str().unwrap()
            )
        })
        .collect();
    let stages: Vec<String> = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}={}",
                s["name"].as_str().unwrap(),
                hex(s["digest"].as_str().unwrap())
            )
        })
        .collect();
    assert_eq!(hashes, stages);
    let provenance: Value =
        serde_json::from_slice(&std::fs::read(home.path("p.wasm.provenance.json")).unwrap())
            .unwrap();
    assert_eq!(
        provenance["predicateType"],
        "https://slsa.dev/provenance/v1"
    );
    assert_eq!(
        provenance["subject"][0]["digest"]["sha256"],
        hex(&sha256(&component))
    );
    // Signed: Sigstore bundles, verified by openssl over the DSSE PAE with
    // the key, about this very component; not with another key.
    compose("s.wasm", &["--sign", "--key", "a.key"]);
    let signed = std::fs::read(home.path("s.wasm")).unwrap();
    for file in [
        "s.wasm.sbom.sigstore.json",
        "s.wasm.provenance.sigstore.json",
    ] {
        let bundle = std::fs::read(home.path(file)).unwrap();
        assert!(openssl_verifies(&home, &bundle, &signed, "a.pub"), "{file}");
        assert!(
            !openssl_verifies(&home, &bundle, &signed, "b.pub"),
            "{file}"
        );
    }
    // `verify FILE` checks the bundles next to it over the file's digest.
    let ok = home.verify("s.wasm", &["a.pub"], 0);
    assert_eq!(ok["manifest"], sha256(&signed).as_str(), "{ok}");
    let kinds: Vec<&str> = ok["attestations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["provenance", "sbom"], "{ok}");
    home.verify("s.wasm", &["b.pub"], 1);
    home.verify("p.wasm", &["a.pub"], 1); // plain documents: nothing signed
    // Another component under the signed name: not what was attested.
    std::fs::write(
        home.path("s.wasm"),
        std::fs::read(plugin("normalizer")).unwrap(),
    )
    .unwrap();
    let bad = home.verify("s.wasm", &["a.pub"], 1);
    assert!(
        bad["attestations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["verified"] == false),
        "{bad}"
    );
    // `-o -` has no place for them.
    let out = home.run(&["compose", pipeline.to_str().unwrap(), "-o", "-", "--attest"]);
    expect(&out, 2);
}
