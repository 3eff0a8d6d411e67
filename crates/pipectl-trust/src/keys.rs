//! ECDSA P-256 keys: generated from the OS's random source, read and
//! written as PEM, never shown.

use p256::ecdsa::Signature;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
    LineEnding,
};
use sha2::{Digest as _, Sha256};

/// Why a key could not be read or written. Never carries key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not a PEM key pipectl can use.
    #[error("{what} is not {expected}: {reason}")]
    Parse {
        /// Where the key came from (a file name, `PIPECTL_KEY`, stdin).
        what: String,
        /// What the key had to be, e.g. `a P-256 private key in PKCS#8 or SEC1 PEM`.
        expected: &'static str,
        /// Why it was refused (never the key's text).
        reason: String,
    },
    /// Encoding the key failed.
    #[error("failed to encode the key: {0}")]
    Encode(String),
}

/// A private signing key. Its `Debug` shows only the public fingerprint.
pub struct SigningKey {
    inner: p256::ecdsa::SigningKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.public().fingerprint())
    }
}

impl SigningKey {
    /// A new key from the OS's random source.
    pub fn generate() -> Self {
        Self {
            inner: p256::ecdsa::SigningKey::random(&mut rand_core::OsRng),
        }
    }

    /// Reads a P-256 private key: PKCS#8 PEM (`BEGIN PRIVATE KEY`, what
    /// `openssl genpkey` and pipectl write) or SEC1 PEM (`BEGIN EC PRIVATE
    /// KEY`). `what` names the source in errors.
    pub fn from_pem(pem: &str, what: &str) -> Result<Self, KeyError> {
        let err = |reason: String| KeyError::Parse {
            what: what.to_string(),
            expected: "a P-256 private key in PKCS#8 or SEC1 PEM",
            reason,
        };
        if pem.contains("BEGIN EC PRIVATE KEY") {
            let secret = p256::SecretKey::from_sec1_pem(pem)
                .map_err(|_| err("the SEC1 key does not decode".into()))?;
            return Ok(Self {
                inner: secret.into(),
            });
        }
        if pem.contains("BEGIN ENCRYPTED PRIVATE KEY") {
            return Err(err(
                "encrypted keys are not supported; decrypt it with `openssl pkey`".into(),
            ));
        }
        let inner = p256::ecdsa::SigningKey::from_pkcs8_pem(pem).map_err(|e| {
            err(match e {
                p256::pkcs8::Error::KeyMalformed => "the key is malformed".into(),
                p256::pkcs8::Error::PublicKey(_) | p256::pkcs8::Error::ParametersMalformed => {
                    "it is not a P-256 (prime256v1) key".into()
                }
                _ => "it does not decode as PKCS#8 PEM".into(),
            })
        })?;
        Ok(Self { inner })
    }

    /// The key as PKCS#8 PEM (write it with mode 0600).
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        self.inner
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.to_string())
            .map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// The public key matching this signing key, for verifying and fingerprints.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            inner: *self.inner.verifying_key(),
        }
    }

    /// An ECDSA-SHA256 signature over `message`, ASN.1 DER encoded (what
    /// `openssl dgst -sha256 -verify` and Sigstore bundles take).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let signature: Signature = self.inner.sign(message);
        signature.to_der().as_bytes().to_vec()
    }
}

/// A public verification key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    inner: p256::ecdsa::VerifyingKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

impl PublicKey {
    /// Reads a SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`).
    pub fn from_pem(pem: &str, what: &str) -> Result<Self, KeyError> {
        let inner =
            p256::ecdsa::VerifyingKey::from_public_key_pem(pem).map_err(|_| KeyError::Parse {
                what: what.to_string(),
                expected: "a P-256 public key in SubjectPublicKeyInfo PEM",
                reason: "it does not decode (is it a private key, or another curve?)".into(),
            })?;
        Ok(Self { inner })
    }

    /// The key as SubjectPublicKeyInfo PEM.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        self.inner
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// `sha256:` and the hex digest of the key's DER SubjectPublicKeyInfo:
    /// the same for the same key whatever file it came from.
    pub fn fingerprint(&self) -> String {
        let der = self
            .inner
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default();
        format!("sha256:{}", hex::encode(Sha256::digest(der)))
    }

    /// Whether `signature` (DER, or the 64-byte fixed form) is this key's
    /// ECDSA-SHA256 signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let parsed = parse_signature(signature);
        match parsed {
            Some(sig) => self.inner.verify(message, &sig).is_ok(),
            None => false,
        }
    }
}

impl PublicKey {
    /// Whether `signature` is this key's ECDSA signature over a message
    /// whose SHA-256 is `digest` (32 bytes): verifies a message signature
    /// from the digest alone.
    pub fn verify_prehash(&self, digest: &[u8], signature: &[u8]) -> bool {
        use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
        let parsed = parse_signature(signature);
        digest.len() == 32
            && parsed.is_some_and(|sig| self.inner.verify_prehash(digest, &sig).is_ok())
    }
}

/// An ECDSA signature in ASN.1 DER, or in the fixed 64-byte form.
fn parse_signature(bytes: &[u8]) -> Option<Signature> {
    Signature::from_der(bytes)
        .or_else(|_| Signature::from_slice(bytes))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_never_show_their_secret() {
        let key = SigningKey::generate();
        let pem = key.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let again = SigningKey::from_pem(&pem, "k.pem").unwrap();
        assert_eq!(again.public(), key.public());
        let debug = format!("{key:?}");
        assert!(debug.starts_with("SigningKey(sha256:") && !debug.contains("PRIVATE"));
        let public = PublicKey::from_pem(&key.public().to_pem().unwrap(), "p.pem").unwrap();
        let sig = key.sign(b"hello");
        assert!(public.verify(b"hello", &sig));
        assert!(!public.verify(b"hellp", &sig));
        assert!(!SigningKey::generate().public().verify(b"hello", &sig));
        assert!(!public.verify(b"hello", b"garbage"));
    }

    #[test]
    fn refusals_name_the_source_not_the_text() {
        let e = SigningKey::from_pem(
            "-----BEGIN PRIVATE KEY-----\nQUJD\n-----END PRIVATE KEY-----\n",
            "PIPECTL_KEY",
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("PIPECTL_KEY is not a P-256 private key"),
            "{text}"
        );
        assert!(!text.contains("QUJD"), "{text}");
    }
}
