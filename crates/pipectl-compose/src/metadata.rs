//! What a composed component records about its stages (a custom
//! section), and the stages read back from it.

use std::collections::HashMap;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

/// The name of the custom section a composition records its stages in.
pub const METADATA_SECTION: &str = "pipectl-pipeline";

/// What a composed component records about how it was built: its stages in
/// order with their digests. Stored as JSON in the [`METADATA_SECTION`]
/// custom section, so `pipectl run` can name the stage that failed and a
/// registry can show provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PipelineMetadata {
    /// The pipeline's name, from its manifest.
    pub name: String,
    /// The pipeline's version (semver), from its manifest.
    pub version: String,
    /// The world it satisfies.
    pub world: String,
    /// The interface the stages chain, `ns:pkg/iface@version`.
    pub interface: String,
    /// The stages, in order.
    pub stages: Vec<StageMetadata>,
    /// With `--adapter`: `cli`, `cli-lines` or `http` (the component then
    /// exports that adapter's WASI interface, not the contract).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
}

/// One stage in [`PipelineMetadata`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StageMetadata {
    /// The stage's name, as the manifest names it; `run` names failures by it.
    pub name: String,
    /// `sha256:<hex>` of its component.
    pub digest: String,
    /// Where it came from (a path relative to the manifest, or a reference).
    pub origin: String,
    /// Whether it wraps the rest of the chain.
    pub middleware: bool,
}

pub(crate) fn append_metadata(component: &mut Vec<u8>, meta: &PipelineMetadata) {
    use wasm_encoder::ComponentSection as _;
    let data = serde_json::to_vec(meta).expect("metadata serializes");
    let section = wasm_encoder::CustomSection {
        name: METADATA_SECTION.into(),
        data: data.into(),
    };
    // A custom section may follow any other section of a component.
    section.append_to_component(component);
}

/// Reads the [`PipelineMetadata`] a composition recorded, if any.
pub fn read_metadata(component: &[u8]) -> Option<PipelineMetadata> {
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        match payload.ok()? {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::CustomSection(c) if depth == 0 && c.name() == METADATA_SECTION => {
                return serde_json::from_slice(c.data()).ok();
            }
            _ => {}
        }
    }
    None
}

/// The stage components a composition embeds, in pipeline order, found by
/// the digests its [`PipelineMetadata`] records: `(stage name, bytes)`.
///
/// `None` when the component has no metadata, a stage's bytes are not
/// embedded, or a stage is a middleware (its chain cannot be replayed stage
/// by stage).
pub fn embedded_stages(component: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let meta = read_metadata(component)?;
    if meta.stages.iter().any(|s| s.middleware) {
        return None;
    }
    let mut by_digest: HashMap<String, Vec<u8>> = HashMap::new();
    let mut parser = wasmparser::Parser::new(0);
    let mut offset = 0;
    loop {
        let chunk = parser.parse(&component[offset..], true).ok()?;
        let (payload, consumed) = match chunk {
            wasmparser::Chunk::Parsed { payload, consumed } => (payload, consumed),
            wasmparser::Chunk::NeedMoreData(_) => return None,
        };
        offset += consumed;
        match payload {
            wasmparser::Payload::ComponentSection {
                unchecked_range, ..
            } => {
                let start = usize::try_from(unchecked_range.start).ok()?;
                let end = usize::try_from(unchecked_range.end).ok()?;
                let nested = component.get(start..end)?;
                by_digest.insert(digest(nested), nested.to_vec());
                // The parent parser resumes after the nested component: only
                // top-level components are stages.
                offset = end;
            }
            wasmparser::Payload::ModuleSection {
                unchecked_range, ..
            } => offset = usize::try_from(unchecked_range.end).ok()?,
            wasmparser::Payload::End(_) => break,
            _ => {}
        }
    }
    meta.stages
        .iter()
        .map(|s| Some((s.name.clone(), by_digest.get(&s.digest)?.clone())))
        .collect()
}

/// `sha256:<hex>` of `bytes`, in lowercase hex: the form reports and metadata use.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}
