//! DSSE (Dead Simple Signing Envelope): a payload, its type, and
//! signatures over the pre-authentication encoding of both.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::keys::{PublicKey, SigningKey};

/// The payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// `DSSEv1 <len(type)> <type> <len(body)> <body>`: the bytes a DSSE
/// signature covers.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// A DSSE envelope as JSON carries it (payload and signatures in base64).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The payload (the JSON statement), in standard base64.
    pub payload: String,
    /// What the payload is.
    pub payload_type: String,
    /// Signatures over the PAE.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EnvelopeSignature {
    /// The signature, base64 of DER.
    pub sig: String,
    /// Which key (pipectl writes the fingerprint; others may leave it empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub keyid: String,
}

impl Envelope {
    /// Signs `payload` of `payload_type` with `key`.
    pub fn sign(key: &SigningKey, payload_type: &str, payload: &[u8]) -> Self {
        Self {
            payload: STANDARD.encode(payload),
            payload_type: payload_type.to_string(),
            signatures: vec![EnvelopeSignature {
                sig: STANDARD.encode(key.sign(&pae(payload_type, payload))),
                keyid: key.public().fingerprint(),
            }],
        }
    }

    /// The decoded payload, if it is valid base64.
    pub fn payload_bytes(&self) -> Option<Vec<u8>> {
        STANDARD.decode(&self.payload).ok()
    }

    /// The first of `keys` that made one of the signatures.
    pub fn verified_by<'k>(&self, keys: &'k [PublicKey]) -> Option<&'k PublicKey> {
        let payload = self.payload_bytes()?;
        let message = pae(&self.payload_type, &payload);
        self.signatures.iter().find_map(|s| {
            let sig = STANDARD.decode(&s.sig).ok()?;
            keys.iter().find(|k| k.verify(&message, &sig))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_the_specified_encoding() {
        // The example from the DSSE specification's protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn envelopes_verify_only_unchanged_and_with_the_right_key() {
        let key = SigningKey::generate();
        let env = Envelope::sign(&key, IN_TOTO_PAYLOAD_TYPE, b"{}");
        assert!(env.verified_by(&[key.public()]).is_some());
        assert!(
            env.verified_by(&[SigningKey::generate().public()])
                .is_none()
        );
        let mut changed = env.clone();
        changed.payload = STANDARD.encode(b"{ }");
        assert!(changed.verified_by(&[key.public()]).is_none());
        let mut retyped = env;
        retyped.payload_type = "text/plain".into();
        assert!(retyped.verified_by(&[key.public()]).is_none());
    }
}
