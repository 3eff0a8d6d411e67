//! SBOM and provenance of a composed component, attached as OCI referrers
//! of its manifest: plain documents (a CycloneDX SBOM, an in-toto
//! statement), or with a key DSSE-signed in-toto statements in Sigstore
//! bundles, the way `cosign attest` attaches them. And the other way: what
//! attestations an artifact has, whether they verify, and whether the SBOM
//! agrees with the stages its manifest records.

use anyhow::Context as _;
use pipectl_io::Digest;
use pipectl_registry::Context;
use pipectl_registry::artifact::annotations;
use pipectl_registry::referrers::{self, Referrer, ReferrerDescriptor, Subject};
use pipectl_registry::store::Store;
use pipectl_trust::sbom::{self, CYCLONEDX_MEDIA_TYPE, IN_TOTO_MEDIA_TYPE};
use pipectl_trust::statement::SLSA_PROVENANCE_V1;
use pipectl_trust::{BUNDLE_MEDIA_TYPE, Bundle, PublicKey, SigningKey, Statement};
use serde::Serialize;

/// The predicate type of an SBOM statement (CycloneDX's, as cosign uses).
pub const SBOM_PREDICATE_TYPE: &str = "https://cyclonedx.org/bom";

/// An attestation pushed by [`attach`].
#[derive(Debug, Serialize)]
pub struct Attached {
    /// `sbom` or `provenance`.
    pub kind: &'static str,
    /// The referrer manifest's digest.
    pub referrer: String,
    /// Whether it is a signed statement (a Sigstore bundle).
    pub signed: bool,
    /// `attached`, or `unchanged` when that very referrer was there.
    pub status: &'static str,
}

/// The stages a manifest records (`dev.pipectl.pipeline.stages`), as
/// `(name, digest)`; empty when it records none.
pub fn recorded_stages(manifest: &[u8]) -> Vec<(String, Digest)> {
    let value: serde_json::Value = serde_json::from_slice(manifest).unwrap_or_default();
    value["annotations"][annotations::STAGES]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .filter_map(|pair| {
            let (name, digest) = pair.split_once('=')?;
            Some((name.to_string(), Digest::parse(digest).ok()?))
        })
        .collect()
}

/// The SBOM's stages from `(name, digest, source)`s, each digest parsed.
fn sbom_stages<'a>(
    stages: impl Iterator<Item = (&'a str, &'a str, &'a str)>,
) -> anyhow::Result<Vec<sbom::Stage>> {
    stages
        .map(|(name, digest, source)| {
            Ok(sbom::Stage {
                name: name.to_string(),
                version: None,
                digest: Digest::parse(digest)
                    .with_context(|| format!("stage `{name}`: its recorded digest"))?,
                source: source.to_string(),
                licence: None,
            })
        })
        .collect()
}

/// Pushes the SBOM and the provenance of the composed component `meta`
/// describes (whose layer is `layer`) as referrers of `subject`, signed
/// with `key` when given. Dated with the manifest's creation time, so that
/// attaching again changes nothing.
pub fn attach(
    ctx: &Context,
    subject: &mut Subject,
    meta: &pipectl_compose::PipelineMetadata,
    layer: &Digest,
    key: Option<&SigningKey>,
) -> anyhow::Result<Vec<Attached>> {
    let stages = sbom_stages(
        meta.stages
            .iter()
            .map(|s| (s.name.as_str(), s.digest.as_str(), s.origin.as_str())),
    )?;
    let composition = sbom::Composition {
        name: meta.name.clone(),
        version: meta.version.clone(),
        digest: layer.clone(),
        world: meta.world.clone(),
        stages,
        manifest: None,
    };
    let manifest: serde_json::Value = serde_json::from_slice(&subject.manifest)?;
    let created = manifest["annotations"][annotations::CREATED]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(pipectl_registry::artifact::now_rfc3339);
    let sbom_doc = sbom::cyclonedx(&composition, &created);
    let mut provenance = sbom::provenance(&composition, None, &created, &created);
    // About the manifest (what referrers hang on) and the component.
    let about_manifest = Statement::about(
        &subject.shown,
        &subject.digest,
        SLSA_PROVENANCE_V1,
        serde_json::Value::Null,
    );
    provenance.subject.splice(0..0, about_manifest.subject);

    let documents: [(&'static str, &str, Vec<u8>, Statement); 2] = [
        (
            "sbom",
            CYCLONEDX_MEDIA_TYPE,
            serde_json::to_vec(&sbom_doc)?,
            Statement::about(
                &subject.shown,
                &subject.digest,
                SBOM_PREDICATE_TYPE,
                sbom_doc.clone(),
            ),
        ),
        (
            "provenance",
            IN_TOTO_MEDIA_TYPE,
            serde_json::to_vec(&provenance)?,
            provenance.clone(),
        ),
    ];
    let present: Vec<Digest> = subject
        .store
        .referrers(&subject.digest)?
        .into_iter()
        .map(|d| d.digest)
        .collect();
    let mut out = Vec::new();
    for (kind, media_type, plain, statement) in documents {
        let (artifact_type, payload) = match key {
            Some(key) => (
                BUNDLE_MEDIA_TYPE,
                Bundle::sign_statement(key, &statement).to_json(),
            ),
            None => (media_type, plain),
        };
        let referrer = Referrer::build(
            &subject.digest,
            subject.manifest.len() as u64,
            artifact_type,
            artifact_type,
            payload,
        );
        let digest = referrer.digest();
        let there = present.contains(&digest);
        if !there {
            subject.store.push_referrer(&referrer, &ctx.progress)?;
        }
        out.push(Attached {
            kind,
            referrer: digest.to_string(),
            signed: key.is_some(),
            status: if there { "unchanged" } else { "attached" },
        });
    }
    Ok(out)
}

/// The SBOM and provenance of a composition just written to `output`,
/// as files next to it: plain documents, or with `key` Sigstore bundles of
/// DSSE-signed in-toto statements about the component. Returns the files.
pub fn write_beside(
    output: &std::path::Path,
    c: &pipectl_compose::Composition,
    manifest: &pipectl_manifest::Manifest,
    key: Option<&SigningKey>,
) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let stages = sbom_stages(
        c.stages
            .iter()
            .map(|s| (s.name.as_str(), s.digest.as_str(), s.origin.as_str())),
    )?;
    let manifest_text = pipectl_io::read_regular_to_string(&manifest.path, 4 << 20, "manifest")?;
    let name = output.file_name().map_or_else(
        || "component.wasm".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let composition = sbom::Composition {
        name: manifest.name.clone(),
        version: manifest.version.to_string(),
        digest: Digest::parse(&c.digest).context("the composition's digest")?,
        world: c.world.clone(),
        stages,
        manifest: Some(Digest::sha256(manifest_text.as_bytes())),
    };
    let now = pipectl_registry::artifact::now_rfc3339();
    let sbom_doc = sbom::cyclonedx(&composition, &now);
    let provenance = sbom::provenance(&composition, Some(&manifest_text), &now, &now);
    let sbom_statement = Statement::about(
        &name,
        &composition.digest,
        SBOM_PREDICATE_TYPE,
        sbom_doc.clone(),
    );
    let files: [(&str, Vec<u8>); 2] = match key {
        Some(key) => [
            (
                "sbom.sigstore.json",
                Bundle::sign_statement(key, &sbom_statement).to_json(),
            ),
            (
                "provenance.sigstore.json",
                Bundle::sign_statement(key, &provenance).to_json(),
            ),
        ],
        None => [
            ("cdx.json", serde_json::to_vec_pretty(&sbom_doc)?),
            ("provenance.json", serde_json::to_vec_pretty(&provenance)?),
        ],
    };
    let mut written = Vec::new();
    for (suffix, bytes) in files {
        let path = output.with_file_name(format!("{name}.{suffix}"));
        crate::cli::output::write_atomic(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}

/// An attestation found on an artifact.
#[derive(Debug, Serialize)]
pub struct Attestation {
    /// `sbom` or `provenance`.
    pub kind: &'static str,
    /// The referrer manifest's digest.
    pub referrer: String,
    /// Whether it is a signed statement.
    pub signed: bool,
    /// Whether its signature verifies with a trusted key (false when
    /// unsigned).
    pub verified: bool,
    /// The fingerprint of the key that verified it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// For an SBOM: where it and the stages the manifest records disagree.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disagreements: Vec<String>,
    /// Why it could not be read or did not verify.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Whether a checked bundle is an attestation pipectl attaches (an SBOM or
/// a provenance statement), not a signature of the artifact.
pub fn is_attestation(c: &crate::cli::trust::Checked) -> bool {
    matches!(
        c.predicate_type.as_deref(),
        Some(SBOM_PREDICATE_TYPE | SLSA_PROVENANCE_V1)
    )
}

/// The SBOMs and provenance statements among `subject`'s referrers in
/// `store`, each verified against `keys` when signed, each SBOM compared
/// with the stages `manifest` records.
pub fn examine(
    ctx: &Context,
    store: &mut dyn Store,
    subject: &Digest,
    manifest: &[u8],
    keys: &[PublicKey],
) -> Result<Vec<Attestation>, pipectl_registry::RegistryError> {
    let stages = recorded_stages(manifest);
    let found = store.referrers(subject)?;
    Ok(found
        .iter()
        .filter_map(|desc| examine_one(ctx, store, subject, desc, keys, &stages))
        .collect())
}

fn examine_one(
    ctx: &Context,
    store: &mut dyn Store,
    subject: &Digest,
    desc: &ReferrerDescriptor,
    keys: &[PublicKey],
    stages: &[(String, Digest)],
) -> Option<Attestation> {
    let kind_of = |media_type: &str| match media_type {
        CYCLONEDX_MEDIA_TYPE => Some("sbom"),
        IN_TOTO_MEDIA_TYPE => Some("provenance"),
        _ => None,
    };
    let artifact_type = desc.artifact_type.as_deref().unwrap_or_default();
    let signed = artifact_type == BUNDLE_MEDIA_TYPE;
    if !signed && kind_of(artifact_type).is_none() {
        return None;
    }
    let payload = match referrers::read_payload(store, ctx, subject, desc) {
        Ok(bytes) => bytes,
        Err(e) => {
            return Some(Attestation {
                kind: kind_of(artifact_type).unwrap_or("sbom"),
                referrer: desc.digest.to_string(),
                signed,
                verified: false,
                signer: None,
                disagreements: Vec::new(),
                error: Some(e.to_string()),
            });
        }
    };
    judge(
        desc.digest.to_string(),
        &payload,
        signed,
        kind_of(artifact_type).unwrap_or("sbom"),
        subject,
        keys,
        stages,
    )
}

/// An attestation's payload (`referrer` names where it was found), judged:
/// a signed one verified against `keys` over `subject`, an SBOM compared
/// with `stages`. `None` when it is a signature or an attestation pipectl
/// does not make.
pub fn judge(
    referrer: String,
    payload: &[u8],
    signed: bool,
    kind: &'static str,
    subject: &Digest,
    keys: &[PublicKey],
    stages: &[(String, Digest)],
) -> Option<Attestation> {
    let mut out = Attestation {
        kind,
        referrer,
        signed,
        verified: false,
        signer: None,
        disagreements: Vec::new(),
        error: None,
    };
    let document: serde_json::Value = if signed {
        let bundle = Bundle::from_json(payload).ok()?;
        let statement: Statement = bundle
            .dsse_envelope
            .as_ref()
            .and_then(|e| e.payload_bytes())
            .and_then(|p| serde_json::from_slice(&p).ok())?;
        out.kind = match statement.predicate_type.as_str() {
            SBOM_PREDICATE_TYPE => "sbom",
            SLSA_PROVENANCE_V1 => "provenance",
            // A signature, or an attestation pipectl does not make.
            _ => return None,
        };
        match bundle.verify(subject, keys) {
            Ok(v) => (out.verified, out.signer) = (true, Some(v.key)),
            Err(e) => out.error = Some(e.to_string()),
        }
        statement.predicate
    } else {
        match serde_json::from_slice(payload) {
            Ok(v) => v,
            Err(e) => {
                out.error = Some(format!("not JSON: {e}"));
                return Some(out);
            }
        }
    };
    if out.kind == "sbom" {
        out.disagreements = sbom::disagreements(&document, stages);
    }
    Some(out)
}

/// A published artifact with its referrers, its signatures and its
/// attestations, checked against trusted keys: what `verify` and `inspect`
/// report.
pub struct Examined {
    /// The artifact's manifest, as the reference names it now.
    pub subject: Subject,
    /// The trusted keys.
    pub keys: Vec<PublicKey>,
    /// Every referrer of the manifest.
    pub referrers: Vec<ReferrerDescriptor>,
    /// The signatures (attestation bundles are not counted).
    pub signatures: Vec<crate::cli::trust::Checked>,
    /// The SBOMs and provenance statements.
    pub attestations: Vec<Attestation>,
}

/// Resolves `reference`, loads the keys `key_specs` name, and checks every
/// signature and attestation of the manifest against them.
pub fn examine_reference(
    registry: &crate::cli::opts::RegistryArgs,
    reference: &str,
    key_specs: &[String],
) -> anyhow::Result<Examined> {
    let keys = key_specs
        .iter()
        .map(|k| crate::cli::keys::load_key(k))
        .collect::<anyhow::Result<Vec<PublicKey>>>()?;
    let mut ctx = crate::cli::registry::context(registry)?;
    ctx.scope_credentials_to(reference);
    let mut subject = referrers::resolve_subject(&ctx, reference)?;
    let store = subject.store.as_mut();
    let referrers = store.referrers(&subject.digest)?;
    let mut signatures = crate::cli::trust::check_all(&ctx, store, &subject.digest, &keys)?;
    signatures.retain(|s| !is_attestation(s));
    let attestations = examine(&ctx, store, &subject.digest, &subject.manifest, &keys)?;
    Ok(Examined {
        subject,
        keys,
        referrers,
        signatures,
        attestations,
    })
}
