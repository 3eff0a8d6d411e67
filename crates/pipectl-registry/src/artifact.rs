//! The CNCF Wasm OCI artifact: a config (`application/vnd.wasm.config.v0+json`)
//! describing the component, exactly one `application/wasm` layer, and an
//! OCI image manifest tying them together.

use std::collections::BTreeMap;

use pipectl_io::Digest;
use serde::{Deserialize, Serialize};

/// The OCI image manifest media type.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The Wasm artifact config media type.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// The Wasm layer media type.
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";
/// Layer media types fetched as a Wasm binary: the CNCF one, and the one
/// wasm-to-oci and older registries' tooling used.
pub const ACCEPTED_LAYER_MEDIA_TYPES: [&str; 2] = [
    LAYER_MEDIA_TYPE,
    "application/vnd.wasm.content.layer.v1+wasm",
];
/// The OCI image index media type (layouts).
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// The manifest and layer annotation keys pipectl writes and reads.
pub mod annotations {
    /// The version (the tag).
    pub const VERSION: &str = "org.opencontainers.image.version";
    /// When it was created (RFC 3339).
    pub const CREATED: &str = "org.opencontainers.image.created";
    /// The source repository URL.
    pub const SOURCE: &str = "org.opencontainers.image.source";
    /// The source revision the component was built from, e.g. a commit hash.
    pub const REVISION: &str = "org.opencontainers.image.revision";
    /// A human-readable description of the component.
    pub const DESCRIPTION: &str = "org.opencontainers.image.description";
    /// The component's licenses, as an SPDX license expression.
    pub const LICENSES: &str = "org.opencontainers.image.licenses";
    /// A layer's file name.
    pub const TITLE: &str = "org.opencontainers.image.title";
    /// A tag in an image layout's index.
    pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
    /// For a composed pipeline: its stages, in order, with their digests
    /// (`name=sha256:...`, comma-separated).
    pub const STAGES: &str = "dev.pipectl.pipeline.stages";
}

/// `sha256:<hex>` of `bytes`, as text.
pub fn digest(bytes: &[u8]) -> String {
    Digest::sha256(bytes).to_string()
}

/// An OCI content descriptor: what a manifest or index says about a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The blob's media type, e.g. `application/wasm` for the component layer.
    pub media_type: String,
    /// `sha256:<hex>`, parsed: never a path.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// An artifact's type (kept as read: a layout's referrer entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The descriptor's annotations, e.g. the layer's file name (`image.title`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The manifest schema version: always 2 for an OCI image manifest.
    pub schema_version: u32,
    /// The manifest media type.
    #[serde(default)]
    pub media_type: Option<String>,
    /// The descriptor of the Wasm config blob ([`CONFIG_MEDIA_TYPE`]).
    pub config: Descriptor,
    /// The layers: exactly one for a Wasm artifact.
    pub layers: Vec<Descriptor>,
    /// Manifest annotations: version, creation time, source; stages for pipelines.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The component part of the Wasm config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentInfo {
    /// The names of the component's exports, as its world names them.
    pub exports: Vec<String>,
    /// The names of the component's imports, as its world names them.
    pub imports: Vec<String>,
    /// The world it targets, when known.
    pub target: Option<String>,
}

/// The Wasm artifact config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    /// When the artifact was built, as an RFC 3339 timestamp.
    pub created: String,
    /// The architecture: always `wasm`.
    pub architecture: String,
    /// The target OS: `wasip2`, since pipectl publishes only components.
    pub os: String,
    /// The digests of the manifest's layers (one: the component), `sha256:<hex>`.
    pub layer_digests: Vec<Digest>,
    /// What the component imports and exports.
    pub component: Option<ComponentInfo>,
}

/// An artifact ready to push: its blobs and manifest, with digests.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The manifest's bytes (what its digest is computed over).
    pub manifest: Vec<u8>,
    /// The digest of `manifest`: what the tag points to once pushed.
    pub manifest_digest: Digest,
    /// The Wasm config serialized as JSON, exactly as pushed.
    pub config: Vec<u8>,
    /// The component's bytes: the one `application/wasm` layer.
    pub layer: Vec<u8>,
    /// The manifest as a struct; `manifest` holds its exact bytes.
    pub parsed: Manifest,
}

impl Artifact {
    /// Builds the artifact for `component`: `title` names the layer file,
    /// `info` describes it, `annotations` go on the manifest.
    pub fn build(
        component: Vec<u8>,
        title: &str,
        info: ComponentInfo,
        created: &str,
        annotations: BTreeMap<String, String>,
    ) -> Artifact {
        let layer_digest = Digest::sha256(&component);
        let config = WasmConfig {
            created: created.to_string(),
            architecture: "wasm".to_string(),
            os: "wasip2".to_string(),
            layer_digests: vec![layer_digest.clone()],
            component: Some(info),
        };
        let config_bytes = serde_json::to_vec(&config).expect("config serializes");
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MANIFEST_MEDIA_TYPE.to_string()),
            config: Descriptor {
                media_type: CONFIG_MEDIA_TYPE.to_string(),
                digest: Digest::sha256(&config_bytes),
                size: config_bytes.len() as u64,
                artifact_type: None,
                annotations: BTreeMap::new(),
            },
            layers: vec![Descriptor {
                media_type: LAYER_MEDIA_TYPE.to_string(),
                digest: layer_digest,
                size: component.len() as u64,
                artifact_type: None,
                annotations: BTreeMap::from([(annotations::TITLE.to_string(), title.to_string())]),
            }],
            annotations,
        };
        let manifest_bytes = serde_json::to_vec(&manifest).expect("manifest serializes");
        Artifact {
            manifest_digest: Digest::sha256(&manifest_bytes),
            manifest: manifest_bytes,
            config: config_bytes,
            layer: component,
            parsed: manifest,
        }
    }

    /// The digest of the one Wasm layer: the hash of the component's bytes.
    pub fn layer_digest(&self) -> &Digest {
        &self.parsed.layers[0].digest
    }
}

/// Why fetched bytes are not a Wasm artifact (or not the expected one).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// A digest does not match the bytes.
    #[error(
        "{what} digest mismatch: expected {expected}, got {actual}; the content was altered or corrupted"
    )]
    Digest {
        /// What was checked, as the message names it: `manifest`, `layer`.
        what: String,
        /// The digest it should have.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
    },
    /// A size does not match.
    #[error("{what} size mismatch: expected {expected} bytes, got {actual}")]
    Size {
        /// What was checked, as the message names it: `manifest`, `layer`.
        what: String,
        /// The size in bytes the descriptor declares.
        expected: u64,
        /// How many bytes arrived.
        actual: u64,
    },
    /// More bytes arrived than declared: the rest was not read.
    #[error("{what} is longer than the {expected} bytes declared; the rest was not read")]
    TooLong {
        /// What was read, as the message names it, e.g. `the layer`.
        what: String,
        /// The size in bytes the descriptor declares.
        expected: u64,
    },
    /// The manifest is not the Wasm artifact layout.
    #[error("not a Wasm component artifact: {0}")]
    Shape(String),
}

/// Checks `bytes` against `expected` digest (and `size`, when known).
pub fn verify(
    what: &str,
    bytes: &[u8],
    expected: &Digest,
    size: Option<u64>,
) -> Result<(), VerifyError> {
    if let Some(size) = size
        && bytes.len() as u64 != size
    {
        return Err(VerifyError::Size {
            what: what.to_string(),
            expected: size,
            actual: bytes.len() as u64,
        });
    }
    let actual = Digest::sha256(bytes);
    if actual != *expected {
        return Err(VerifyError::Digest {
            what: what.to_string(),
            expected: expected.clone(),
            actual,
        });
    }
    Ok(())
}

/// Parses a manifest and checks it is a Wasm artifact: an OCI image
/// manifest with exactly one Wasm layer (`application/wasm`, or
/// wasm-to-oci's type); any config type.
pub fn parse_manifest(bytes: &[u8]) -> Result<Manifest, VerifyError> {
    let m: Manifest = serde_json::from_slice(bytes).map_err(|e| {
        VerifyError::Shape(format!(
            "the manifest is not valid JSON of an OCI image manifest: {}",
            pipectl_io::text::clean(&e.to_string(), 300)
        ))
    })?;
    if m.schema_version != 2 {
        return Err(VerifyError::Shape(format!(
            "schemaVersion {} (expected 2)",
            m.schema_version
        )));
    }
    if let Some(mt) = &m.media_type
        && mt != MANIFEST_MEDIA_TYPE
    {
        return Err(VerifyError::Shape(format!(
            "manifest media type `{}`",
            pipectl_io::text::clean(mt, 100)
        )));
    }
    // The config is not read when fetching, so any config type is taken:
    // `oras push` writes `application/vnd.oci.empty.v1+json`, wasm-to-oci
    // `application/vnd.wasm.config.v1+json`. pipectl writes the CNCF one.
    match m.layers.as_slice() {
        [layer] if ACCEPTED_LAYER_MEDIA_TYPES.contains(&layer.media_type.as_str()) => {}
        [layer] => {
            return Err(VerifyError::Shape(format!(
                "layer media type `{}` (expected `{LAYER_MEDIA_TYPE}` or `{}`)",
                pipectl_io::text::clean(&layer.media_type, 100),
                ACCEPTED_LAYER_MEDIA_TYPES[1]
            )));
        }
        layers => {
            return Err(VerifyError::Shape(format!(
                "{} layers (expected exactly one)",
                layers.len()
            )));
        }
    }
    Ok(m)
}

/// The current time in RFC 3339, or `SOURCE_DATE_EPOCH` for reproducible
/// artifacts.
pub fn now_rfc3339() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
    time::OffsetDateTime::from_unix_timestamp(secs)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_reparses() {
        let a = Artifact::build(
            b"\0asm\x0d\0\x01\0".to_vec(),
            "x.wasm",
            ComponentInfo {
                exports: vec!["a:b/c@1.0.0".into()],
                imports: vec![],
                target: None,
            },
            "2026-01-01T00:00:00Z",
            BTreeMap::from([(annotations::VERSION.into(), "1.0.0".into())]),
        );
        let m = parse_manifest(&a.manifest).unwrap();
        assert_eq!(m, a.parsed);
        verify("manifest", &a.manifest, &a.manifest_digest, None).unwrap();
        assert!(matches!(
            verify("layer", b"other", a.layer_digest(), None),
            Err(VerifyError::Digest { .. })
        ));
        assert!(matches!(
            verify("layer", &a.layer, a.layer_digest(), Some(1)),
            Err(VerifyError::Size { .. })
        ));
        let mut two = a.parsed.clone();
        two.layers.push(two.layers[0].clone());
        assert!(parse_manifest(&serde_json::to_vec(&two).unwrap()).is_err());
        // What other tools push: oras's empty config, wasm-to-oci's layer.
        let mut oras = a.parsed.clone();
        oras.config.media_type = "application/vnd.oci.empty.v1+json".into();
        oras.layers[0].media_type = "application/vnd.wasm.content.layer.v1+wasm".into();
        assert!(parse_manifest(&serde_json::to_vec(&oras).unwrap()).is_ok());
        let mut tar = a.parsed.clone();
        tar.layers[0].media_type = "application/vnd.oci.image.layer.v1.tar+gzip".into();
        let err = parse_manifest(&serde_json::to_vec(&tar).unwrap()).unwrap_err();
        assert!(err.to_string().contains("layer media type"), "{err}");
    }
}
