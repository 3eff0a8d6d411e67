//! pipectl-trust against an independent implementation: OpenSSL reads the
//! keys pipectl writes, verifies the signatures it makes (over manifest
//! bytes and over the DSSE pre-authentication encoding), and pipectl reads
//! OpenSSL's keys and verifies OpenSSL's signatures.

use std::path::Path;
use std::process::Command;

use pipectl_io::Digest;
use pipectl_trust::dsse::{IN_TOTO_PAYLOAD_TYPE, pae};
use pipectl_trust::statement::SIGN_PREDICATE_TYPE;
use pipectl_trust::{Bundle, PublicKey, SigningKey, Statement, VerifyError};

fn openssl(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

const MANIFEST: &[u8] =
    br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#;

#[test]
fn openssl_verifies_what_pipectl_signs() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate();
    std::fs::write(dir.path().join("key.pem"), key.to_pkcs8_pem().unwrap()).unwrap();
    std::fs::write(dir.path().join("pub.pem"), key.public().to_pem().unwrap()).unwrap();
    // OpenSSL reads both keys and agrees they are one pair.
    let derived = openssl(dir.path(), &["pkey", "-in", "key.pem", "-pubout"]);
    assert_eq!(
        String::from_utf8(derived.stdout).unwrap(),
        std::fs::read_to_string(dir.path().join("pub.pem")).unwrap()
    );
    // A message signature over manifest bytes.
    std::fs::write(dir.path().join("manifest.json"), MANIFEST).unwrap();
    std::fs::write(dir.path().join("manifest.sig"), key.sign(MANIFEST)).unwrap();
    let out = openssl(
        dir.path(),
        &[
            "dgst",
            "-sha256",
            "-verify",
            "pub.pem",
            "-signature",
            "manifest.sig",
            "manifest.json",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Verified OK"));
    // A DSSE envelope's signature is over the PAE.
    let statement = Statement::about(
        "localhost/p:0.1.0",
        &Digest::sha256(MANIFEST),
        SIGN_PREDICATE_TYPE,
        serde_json::json!({}),
    );
    let bundle = Bundle::sign_statement(&key, &statement);
    let env = bundle.dsse_envelope.as_ref().unwrap();
    let payload = env.payload_bytes().unwrap();
    std::fs::write(
        dir.path().join("pae.bin"),
        pae(IN_TOTO_PAYLOAD_TYPE, &payload),
    )
    .unwrap();
    use base64::Engine as _;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(&env.signatures[0].sig)
        .unwrap();
    std::fs::write(dir.path().join("pae.sig"), sig).unwrap();
    let out = openssl(
        dir.path(),
        &[
            "dgst",
            "-sha256",
            "-verify",
            "pub.pem",
            "-signature",
            "pae.sig",
            "pae.bin",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Verified OK"));
}

#[test]
fn pipectl_reads_openssl_keys_and_verifies_openssl_signatures() {
    let dir = tempfile::tempdir().unwrap();
    openssl(
        dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "key.pem",
        ],
    );
    openssl(
        dir.path(),
        &["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"],
    );
    std::fs::write(dir.path().join("m"), MANIFEST).unwrap();
    openssl(
        dir.path(),
        &["dgst", "-sha256", "-sign", "key.pem", "-out", "m.sig", "m"],
    );
    let key = SigningKey::from_pem(
        &std::fs::read_to_string(dir.path().join("key.pem")).unwrap(),
        "key.pem",
    )
    .unwrap();
    let public = PublicKey::from_pem(
        &std::fs::read_to_string(dir.path().join("pub.pem")).unwrap(),
        "pub.pem",
    )
    .unwrap();
    assert_eq!(key.public(), public);
    let sig = std::fs::read(dir.path().join("m.sig")).unwrap();
    assert!(public.verify(MANIFEST, &sig));
    // A key on another curve is refused by name, not by a panic.
    openssl(
        dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-out",
            "p384.pem",
        ],
    );
    let e = SigningKey::from_pem(
        &std::fs::read_to_string(dir.path().join("p384.pem")).unwrap(),
        "p384.pem",
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("p384.pem is not a P-256 private key"),
        "{e}"
    );
}

#[test]
fn bundles_verify_exactly_their_subject_with_a_trusted_key() {
    let key = SigningKey::generate();
    let other = SigningKey::generate();
    let subject = Digest::sha256(MANIFEST);
    let elsewhere = Digest::sha256(b"another manifest");
    let statement = Statement::about("r", &subject, SIGN_PREDICATE_TYPE, serde_json::json!({}));
    for bundle in [
        Bundle::sign_message(&key, MANIFEST),
        Bundle::sign_statement(&key, &statement),
    ] {
        let parsed = Bundle::from_json(&bundle.to_json()).unwrap();
        let ok = parsed
            .verify(&subject, &[other.public(), key.public()])
            .unwrap();
        assert_eq!(ok.key, key.public().fingerprint());
        assert!(matches!(
            parsed.verify(&subject, &[other.public()]),
            Err(VerifyError::Untrusted { .. })
        ));
        assert!(matches!(
            parsed.verify(&elsewhere, &[key.public()]),
            Err(VerifyError::WrongSubject { .. })
        ));
        // One byte changed anywhere in a signature or payload: refused.
        let json = bundle.to_json();
        let text = String::from_utf8(json).unwrap();
        for field in ["\"signature\":\"", "\"sig\":\"", "\"payload\":\""] {
            let Some(at) = text.find(field) else { continue };
            let i = at + field.len() + 10;
            let mut bytes = text.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let verdict =
                Bundle::from_json(&bytes).and_then(|b| b.verify(&subject, &[key.public()]));
            assert!(verdict.is_err(), "a changed {field} still verified");
        }
    }
    assert!(Bundle::from_json(b"{\"mediaType\":\"x\"}").is_err());
}
