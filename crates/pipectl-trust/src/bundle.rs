//! Sigstore bundles (v0.3, the layout cosign 3 writes): the verification
//! material names the key (a hint: its fingerprint), and the content is
//! either a message signature over an artifact's bytes or a DSSE envelope
//! over an in-toto statement about the artifact's digest.
//!
//! pipectl signs with keys, not with Fulcio certificates, and records no
//! transparency-log entry: `tlogEntries` is empty, as `cosign sign --key
//! … --tlog-upload=false` writes it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pipectl_io::Digest;

use crate::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use crate::keys::{PublicKey, SigningKey};
use crate::statement::Statement;

/// The bundle's media type (an OCI artifact type for referrers too).
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// A Sigstore bundle (v0.3): a key-signed signature or DSSE envelope, no tlog.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    /// The bundle's media type: [`BUNDLE_MEDIA_TYPE`] when pipectl writes it.
    pub media_type: String,
    /// Which key signed: its fingerprint as the public-key hint.
    pub verification_material: VerificationMaterial,
    /// A signature over the artifact's bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_signature: Option<MessageSignature>,
    /// A DSSE envelope over a statement about the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsse_envelope: Option<Envelope>,
}

/// What a verifier needs to find the key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    /// The key's hint: pipectl writes the key's fingerprint.
    pub public_key: PublicKeyHint,
    /// Transparency-log entries (none: keys, not Fulcio).
    #[serde(default)]
    pub tlog_entries: Vec<serde_json::Value>,
    /// Signed timestamps: none, as pipectl uses no timestamp authority.
    #[serde(default)]
    pub timestamp_verification_data: serde_json::Value,
}

/// A key named by hint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PublicKeyHint {
    /// The fingerprint of the signing key.
    pub hint: String,
}

/// A signature over a message, with the message's digest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSignature {
    /// The digest of the signed bytes.
    pub message_digest: MessageDigest,
    /// The signature, base64 of DER.
    pub signature: String,
}

/// A hash and its algorithm, as Sigstore names them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MessageDigest {
    /// The hash algorithm, as Sigstore names it: always `SHA2_256`.
    pub algorithm: String,
    /// The digest of the signed bytes, in standard base64 (not hex).
    pub digest: String,
}

/// What a bundle proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The fingerprint of the key that verified it.
    pub key: String,
    /// `None` for a message signature, else the statement's predicate type.
    pub predicate_type: Option<String>,
}

/// Why a bundle does not verify.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// It is not a bundle pipectl understands.
    #[error("the bundle is malformed: {0}")]
    Malformed(String),
    /// It is about another artifact.
    #[error("the signature covers {found}, not {expected}")]
    WrongSubject {
        /// The digest being verified.
        expected: String,
        /// What the signature covers.
        found: String,
    },
    /// None of the trusted keys made it (or it was changed).
    #[error("no trusted key made this signature (signed by {hint}, or altered)")]
    Untrusted {
        /// The key the bundle names.
        hint: String,
    },
}

impl Bundle {
    fn new(key: &SigningKey) -> Self {
        Self {
            media_type: BUNDLE_MEDIA_TYPE.to_string(),
            verification_material: VerificationMaterial {
                public_key: PublicKeyHint {
                    hint: key.public().fingerprint(),
                },
                tlog_entries: Vec::new(),
                timestamp_verification_data: serde_json::json!({}),
            },
            message_signature: None,
            dsse_envelope: None,
        }
    }

    /// A message signature over `bytes` (e.g. an OCI manifest).
    pub fn sign_message(key: &SigningKey, bytes: &[u8]) -> Self {
        let digest = Digest::sha256(bytes);
        let mut raw = [0u8; 32];
        let _ = hex::decode_to_slice(digest.hex(), &mut raw);
        Self {
            message_signature: Some(MessageSignature {
                message_digest: MessageDigest {
                    algorithm: "SHA2_256".to_string(),
                    digest: STANDARD.encode(raw),
                },
                signature: STANDARD.encode(key.sign(bytes)),
            }),
            ..Self::new(key)
        }
    }

    /// A DSSE envelope over `statement`.
    pub fn sign_statement(key: &SigningKey, statement: &Statement) -> Self {
        let payload = serde_json::to_vec(statement).unwrap_or_default();
        Self {
            dsse_envelope: Some(Envelope::sign(key, IN_TOTO_PAYLOAD_TYPE, &payload)),
            ..Self::new(key)
        }
    }

    /// Parses a bundle from JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Self, VerifyError> {
        let bundle: Bundle = serde_json::from_slice(bytes)
            .map_err(|e| VerifyError::Malformed(pipectl_io::text::clean(&e.to_string(), 200)))?;
        if bundle.media_type != BUNDLE_MEDIA_TYPE {
            return Err(VerifyError::Malformed(format!(
                "media type `{}`, expected `{BUNDLE_MEDIA_TYPE}`",
                pipectl_io::text::clean(&bundle.media_type, 100)
            )));
        }
        Ok(bundle)
    }

    /// The bundle as JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Verifies that one of `keys` signed exactly `subject` (the digest of
    /// the artifact's bytes, e.g. a manifest digest).
    pub fn verify(&self, subject: &Digest, keys: &[PublicKey]) -> Result<Verified, VerifyError> {
        let untrusted = || VerifyError::Untrusted {
            hint: pipectl_io::text::clean(&self.verification_material.public_key.hint, 80),
        };
        match (&self.message_signature, &self.dsse_envelope) {
            (Some(m), None) => {
                if m.message_digest.algorithm != "SHA2_256" {
                    return Err(VerifyError::Malformed(format!(
                        "digest algorithm `{}`",
                        pipectl_io::text::clean(&m.message_digest.algorithm, 40)
                    )));
                }
                let raw = STANDARD.decode(&m.message_digest.digest).map_err(|_| {
                    VerifyError::Malformed("the message digest is not base64".into())
                })?;
                let found = format!("sha256:{}", hex::encode(&raw));
                if found != subject.to_string() {
                    return Err(VerifyError::WrongSubject {
                        expected: subject.to_string(),
                        found: pipectl_io::text::clean(&found, 80),
                    });
                }
                let sig = STANDARD
                    .decode(&m.signature)
                    .map_err(|_| VerifyError::Malformed("the signature is not base64".into()))?;
                let key = keys
                    .iter()
                    .find(|k| k.verify_prehash(&raw, &sig))
                    .ok_or_else(untrusted)?;
                Ok(Verified {
                    key: key.fingerprint(),
                    predicate_type: None,
                })
            }
            (None, Some(env)) => {
                if env.payload_type != IN_TOTO_PAYLOAD_TYPE {
                    return Err(VerifyError::Malformed(format!(
                        "payload type `{}`",
                        pipectl_io::text::clean(&env.payload_type, 80)
                    )));
                }
                let key = env.verified_by(keys).ok_or_else(untrusted)?;
                let payload = env.payload_bytes().unwrap_or_default();
                let statement: Statement = serde_json::from_slice(&payload).map_err(|_| {
                    VerifyError::Malformed("the payload is not an in-toto statement".into())
                })?;
                if !statement.covers(subject) {
                    let found = statement
                        .subject
                        .iter()
                        .filter_map(|s| s.digest.get("sha256"))
                        .map(|h| format!("sha256:{h}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    return Err(VerifyError::WrongSubject {
                        expected: subject.to_string(),
                        found: pipectl_io::text::clean(&found, 200),
                    });
                }
                Ok(Verified {
                    key: key.fingerprint(),
                    predicate_type: Some(statement.predicate_type),
                })
            }
            _ => Err(VerifyError::Malformed(
                "a bundle holds exactly one of a message signature and a DSSE envelope".into(),
            )),
        }
    }
}
