//! Reading keys named on the command line: a PEM file, `env:VAR`, or `-`
//! for stdin. Key text never appears in errors.

use std::path::PathBuf;

use anyhow::Context as _;
use pipectl_trust::{PublicKey, SigningKey};

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
pub fn load_signing_key(spec: &str) -> anyhow::Result<SigningKey> {
    let (text, what) = key_text(spec)?;
    Ok(SigningKey::from_pem(&text, &what)?)
}
