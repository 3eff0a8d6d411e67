//! `pipectl key`: ECDSA P-256 key pairs in the PEM formats openssl and
//! cosign read.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use pipectl_trust::{PublicKey, SigningKey};
use serde::Serialize;

use crate::Outcome;
use crate::cli::opts::{KeyCommand, KeyGenerateArgs, KeyPublicArgs};
use crate::cli::output::{Format, print_json, print_text};

/// Runs `pipectl key …`.
pub fn run(command: KeyCommand) -> anyhow::Result<Outcome> {
    match command {
        KeyCommand::Generate(args) => generate(args),
        KeyCommand::Public(args) => public(args),
    }
}

#[derive(Serialize)]
struct Generated {
    ok: bool,
    private_key: String,
    public_key: String,
    fingerprint: String,
}

fn generate(args: KeyGenerateArgs) -> anyhow::Result<Outcome> {
    pipectl_io::name::check_component("key name", &args.name)?;
    let private = args.out.join(format!("{}.key", args.name));
    let public = args.out.join(format!("{}.pub", args.name));
    for path in [&private, &public] {
        if std::fs::symlink_metadata(path).is_ok() {
            bail!(
                "{} already exists; pipectl never overwrites a key (move it away first)",
                path.display()
            );
        }
    }
    let key = SigningKey::generate();
    let pem = key.to_pkcs8_pem()?;
    // The private key: 0600 whatever the umask, written atomically.
    pipectl_io::write_atomic(
        &private,
        pem.as_bytes(),
        pipectl_io::WriteOptions {
            replace_symlink: false,
            mode: Some(0o600),
        },
    )?;
    let written = pipectl_io::write_atomic(
        &public,
        key.public().to_pem()?.as_bytes(),
        pipectl_io::WriteOptions::default(),
    );
    if let Err(e) = written {
        // Never leave half a pair.
        let _ = std::fs::remove_file(&private);
        return Err(e.into());
    }
    let report = Generated {
        ok: true,
        private_key: private.display().to_string(),
        public_key: public.display().to_string(),
        fingerprint: key.public().fingerprint(),
    };
    match args.format {
        Format::Json => print_json(&report)?,
        Format::Human => {
            let mut out = String::new();
            let _ = writeln!(out, "private key: {} (keep it secret)", report.private_key);
            let _ = writeln!(out, "public key:  {}", report.public_key);
            let _ = writeln!(out, "fingerprint: {}", report.fingerprint);
            print_text(&out)?;
        }
    }
    Ok(Outcome::Ok)
}

#[derive(Serialize)]
struct Public {
    ok: bool,
    fingerprint: String,
    public_key_pem: String,
}

fn public(args: KeyPublicArgs) -> anyhow::Result<Outcome> {
    let key = load_key(&args.key)?;
    let report = Public {
        ok: true,
        fingerprint: key.fingerprint(),
        public_key_pem: key.to_pem()?,
    };
    match args.format {
        Format::Json => print_json(&report)?,
        Format::Human => print_text(&format!(
            "{}fingerprint: {}\n",
            report.public_key_pem, report.fingerprint
        ))?,
    }
    Ok(Outcome::Ok)
}

/// The largest key file pipectl reads.
const MAX_KEY_BYTES: u64 = 64 << 10;

/// Reads key text from `spec`: a file, `env:VAR`, or `-` for stdin.
fn key_text(spec: &str) -> anyhow::Result<(String, String)> {
    if spec == "-" {
        use std::io::Read as _;
        let mut text = String::new();
        std::io::stdin()
            .take(MAX_KEY_BYTES)
            .read_to_string(&mut text)
            .context("failed to read a key from stdin")?;
        return Ok((text, "the key on stdin".to_string()));
    }
    if let Some(var) = spec.strip_prefix("env:") {
        let text = std::env::var(var)
            .with_context(|| format!("environment variable `{var}` is not set or not UTF-8"))?;
        return Ok((text, format!("the key in `{var}`")));
    }
    let path = PathBuf::from(spec);
    let text = pipectl_io::read_regular_to_string(&path, MAX_KEY_BYTES, "key")?;
    Ok((text, path.display().to_string()))
}

/// A public key from `spec` (a file, `env:VAR` or `-`): a public key PEM,
/// or a private key whose public half is taken.
pub fn load_key(spec: &str) -> anyhow::Result<PublicKey> {
    let (text, what) = key_text(spec)?;
    if text.contains("PRIVATE KEY") {
        return Ok(SigningKey::from_pem(&text, &what)?.public());
    }
    Ok(PublicKey::from_pem(&text, &what)?)
}

/// A signing key from `spec` (a file, `env:VAR` or `-`).
#[allow(dead_code, reason = "used by `sign` and `publish --sign` (issue #13)")]
pub fn load_signing_key(spec: &str) -> anyhow::Result<SigningKey> {
    let (text, what) = key_text(spec)?;
    Ok(SigningKey::from_pem(&text, &what)?)
}
