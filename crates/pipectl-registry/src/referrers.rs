//! OCI 1.1 referrers: artifacts (signatures, SBOMs) that point at a manifest
//! through their `subject`.
//!
//! A referrer is an OCI image manifest with `artifactType`, the OCI empty
//! config (`{}`), one layer holding the payload, and `subject` = the
//! descriptor of the manifest it is about. Registries with the referrers
//! API list them at `GET /v2/<name>/referrers/<digest>`; registries
//! without it (CNCF distribution 2.8, GHCR) get the referrers tag schema:
//! an image index under the tag `sha256-<hex of the subject>`, which the
//! client maintains, adding its descriptor and keeping every other one.
//! The embedded layout lists referrer manifests in `index.json` (untagged)
//! and finds them by reading their `subject`.

use std::collections::BTreeMap;
use std::time::Instant;

use pipectl_io::Digest;
use serde::{Deserialize, Serialize};

use crate::artifact::{INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};
use crate::error::RegistryError;
use crate::ops::Context;
use crate::reference::Selector;
use crate::store::Store;

/// The OCI empty descriptor's media type (the config of an artifact).
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The OCI empty JSON object.
pub const EMPTY_JSON: &[u8] = b"{}";
/// The most bytes of a referrer payload (a bundle, an SBOM) read.
pub const MAX_PAYLOAD: u64 = 4 << 20;
/// The most referrers of one manifest read.
pub const MAX_REFERRERS: usize = 1000;

/// A descriptor as the referrers API and the tag schema list them.
pub type ReferrerDescriptor = crate::artifact::Descriptor;

/// A plain content descriptor of a referrer manifest (config, layer,
/// subject).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    /// The blob's media type, e.g. [`EMPTY_MEDIA_TYPE`] for the config.
    pub media_type: String,
    /// The blob's digest, `sha256:<hex>`.
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
}

/// A referrer manifest: an artifact (signature, SBOM) pointing at a subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferrerManifest {
    /// The manifest schema version: always 2.
    pub schema_version: u32,
    /// The manifest's media type: always [`MANIFEST_MEDIA_TYPE`].
    pub media_type: String,
    /// The artifact's type, e.g. the Sigstore bundle media type for a signature.
    pub artifact_type: String,
    /// The OCI empty config: [`EMPTY_MEDIA_TYPE`], holding `{}`.
    pub config: Blob,
    /// Exactly one: the payload.
    pub layers: Vec<Blob>,
    /// The manifest it is about.
    pub subject: Blob,
    /// The referrer manifest's annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index (the tag schema's, and the referrers API's answer).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferrerIndex {
    /// The index schema version: always 2.
    pub schema_version: u32,
    /// The index's media type: [`INDEX_MEDIA_TYPE`], when given.
    #[serde(default)]
    pub media_type: Option<String>,
    /// Descriptors of the referrer manifests, each with its `artifactType`.
    #[serde(default)]
    pub manifests: Vec<ReferrerDescriptor>,
}

impl ReferrerIndex {
    /// An index listing no referrers, to add the first one to.
    pub fn empty() -> Self {
        Self {
            schema_version: 2,
            media_type: Some(INDEX_MEDIA_TYPE.to_string()),
            manifests: Vec::new(),
        }
    }

    /// Adds `desc` unless it is there; whether it was added. Every other
    /// descriptor is kept as it was.
    pub fn add(&mut self, desc: &ReferrerDescriptor) -> bool {
        if self.manifests.iter().any(|m| m.digest == desc.digest) {
            return false;
        }
        self.manifests.push(desc.clone());
        true
    }

    /// The index as JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an index serializes")
    }
}

/// A referrer ready to push: its manifest and blobs.
#[derive(Debug, Clone)]
pub struct Referrer {
    /// The manifest's JSON bytes, exactly as pushed: its digest is over these.
    pub manifest: Vec<u8>,
    /// The manifest as a struct; `manifest` holds its exact bytes.
    pub parsed: ReferrerManifest,
    /// The payload (the one layer).
    pub payload: Vec<u8>,
}

impl Referrer {
    /// A referrer of the manifest `subject` (`subject_size` bytes) holding
    /// `payload` (of `payload_type`) as an artifact of `artifact_type`.
    pub fn build(
        subject: &Digest,
        subject_size: u64,
        artifact_type: &str,
        payload_type: &str,
        payload: Vec<u8>,
    ) -> Self {
        let parsed = ReferrerManifest {
            schema_version: 2,
            media_type: MANIFEST_MEDIA_TYPE.to_string(),
            artifact_type: artifact_type.to_string(),
            config: Blob {
                media_type: EMPTY_MEDIA_TYPE.to_string(),
                digest: Digest::sha256(EMPTY_JSON),
                size: EMPTY_JSON.len() as u64,
            },
            layers: vec![Blob {
                media_type: payload_type.to_string(),
                digest: Digest::sha256(&payload),
                size: payload.len() as u64,
            }],
            subject: Blob {
                media_type: MANIFEST_MEDIA_TYPE.to_string(),
                digest: subject.clone(),
                size: subject_size,
            },
            annotations: BTreeMap::new(),
        };
        Self {
            manifest: serde_json::to_vec(&parsed).expect("a manifest serializes"),
            parsed,
            payload,
        }
    }

    /// The digest of the manifest's bytes, `sha256:<hex>`.
    pub fn digest(&self) -> Digest {
        Digest::sha256(&self.manifest)
    }

    /// How an index lists it.
    pub fn descriptor(&self) -> ReferrerDescriptor {
        ReferrerDescriptor {
            media_type: MANIFEST_MEDIA_TYPE.to_string(),
            digest: self.digest(),
            size: self.manifest.len() as u64,
            artifact_type: Some(self.parsed.artifact_type.clone()),
            annotations: BTreeMap::new(),
        }
    }
}

/// The referrers tag schema's tag for `subject`: `sha256-<hex>`.
pub fn tag_for(subject: &Digest) -> String {
    format!("sha256-{}", subject.hex())
}

/// Parses a referrer manifest, refusing one that is not about `subject` or
/// has not exactly one layer.
pub fn parse_referrer(
    bytes: &[u8],
    subject: &Digest,
    shown: &str,
) -> Result<ReferrerManifest, RegistryError> {
    let manifest: ReferrerManifest = serde_json::from_slice(bytes).map_err(|e| {
        RegistryError::Refused(format!(
            "`{shown}` is not a referrer manifest: {}",
            pipectl_io::text::clean(&e.to_string(), 200)
        ))
    })?;
    if manifest.subject.digest != *subject {
        return Err(RegistryError::Refused(format!(
            "`{shown}` is a referrer of {}, not of {subject}",
            manifest.subject.digest
        )));
    }
    if manifest.layers.len() != 1 {
        return Err(RegistryError::Refused(format!(
            "`{shown}` has {} layers; a referrer pipectl reads has one",
            manifest.layers.len()
        )));
    }
    Ok(manifest)
}

/// Reads a referrer's payload: its manifest (verified by digest, about
/// `subject`), then its one layer, at most [`MAX_PAYLOAD`] bytes, verified
/// by digest and size.
pub fn read_payload(
    store: &mut dyn Store,
    ctx: &Context,
    subject: &Digest,
    desc: &ReferrerDescriptor,
) -> Result<Vec<u8>, RegistryError> {
    let shown = format!("{}@{}", store.describe(), desc.digest);
    let bytes = store.manifest_by_digest(&desc.digest)?;
    let manifest = parse_referrer(&bytes, subject, &shown)?;
    let layer = &manifest.layers[0];
    if layer.size > MAX_PAYLOAD {
        return Err(RegistryError::TooLarge {
            reference: shown,
            what: "the referrer's payload (a signature or SBOM)".to_string(),
            detail: format!("the manifest declares {} bytes", layer.size),
            max: MAX_PAYLOAD,
            hint: None,
        });
    }
    let layer_desc = crate::artifact::Descriptor {
        media_type: layer.media_type.clone(),
        digest: layer.digest.clone(),
        size: layer.size,
        artifact_type: None,
        annotations: BTreeMap::new(),
    };
    let tmp = ctx.cache.tmp_dir()?;
    let file = store.blob(&layer_desc, &tmp, &ctx.progress)?;
    pipectl_io::read_regular(file.path(), MAX_PAYLOAD, "referrer payload").map_err(Into::into)
}

/// A manifest a reference names, resolved in its store.
pub struct Subject {
    /// The store it lives in.
    pub store: Box<dyn Store>,
    /// The manifest's bytes, verified against the digest.
    pub manifest: Vec<u8>,
    /// The digest of those bytes: the subject referrers point at.
    pub digest: Digest,
    /// The reference as shown.
    pub shown: String,
}

/// Opens the store of `reference` (a tag or a digest) and reads the
/// manifest it names now.
pub fn resolve_subject(ctx: &Context, reference: &str) -> Result<Subject, RegistryError> {
    let resolved = ctx.resolve(reference, false)?;
    let deadline = Instant::now() + ctx.limits().timeout;
    let mut store = ctx.open(&resolved.reference.location, deadline)?;
    let (manifest, digest, shown) = match &resolved.reference.selector {
        Selector::Tag(tag) => {
            let shown = format!("{}:{tag}", store.describe());
            let tag = tag.to_string();
            let (bytes, digest) =
                store
                    .manifest_for_tag(&tag)?
                    .ok_or_else(|| RegistryError::NotFound {
                        reference: shown.clone(),
                        what: format!("version {tag} does not exist"),
                    })?;
            (bytes, digest, shown)
        }
        Selector::Digest(d) => (
            store.manifest_by_digest(d)?,
            d.clone(),
            format!("{}@{d}", store.describe()),
        ),
        Selector::Requirement(r) => {
            return Err(RegistryError::Refused(format!(
                "`{reference}`: a version range ({r}) names no one manifest; give a tag or a digest"
            )));
        }
    };
    Ok(Subject {
        store,
        manifest,
        digest,
        shown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_keeps_other_referrers_and_adds_once() {
        let subject = Digest::sha256(b"m");
        let a = Referrer::build(&subject, 1, "x/a", "x/a", b"a".to_vec());
        let b = Referrer::build(&subject, 1, "x/b", "x/b", b"b".to_vec());
        let mut index = ReferrerIndex::empty();
        assert!(index.add(&a.descriptor()));
        assert!(index.add(&b.descriptor()));
        assert!(!index.add(&a.descriptor()));
        assert_eq!(index.manifests.len(), 2);
        let back: ReferrerIndex = serde_json::from_slice(&index.to_json()).unwrap();
        assert_eq!(back.manifests[1].artifact_type.as_deref(), Some("x/b"));
        assert_eq!(tag_for(&subject), format!("sha256-{}", subject.hex()));
        let parsed = parse_referrer(&a.manifest, &subject, "a").unwrap();
        assert_eq!(parsed.layers[0].digest, Digest::sha256(b"a"));
        let other = Digest::sha256(b"n");
        let e = parse_referrer(&a.manifest, &other, "a").unwrap_err();
        assert!(e.to_string().contains("is a referrer of"), "{e}");
    }
}
