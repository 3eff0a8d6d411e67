//! What went into a composed component, said in the formats supply-chain
//! tools read: a CycloneDX 1.5 SBOM and an in-toto statement with a SLSA
//! provenance v1 predicate.

use pipectl_io::Digest;

use crate::statement::{SLSA_PROVENANCE_V1, Statement};

/// The SBOM's media type (an OCI artifact type for referrers).
pub const CYCLONEDX_MEDIA_TYPE: &str = "application/vnd.cyclonedx+json";
/// A provenance statement's media type.
pub const IN_TOTO_MEDIA_TYPE: &str = "application/vnd.in-toto+json";

/// A composition, as the SBOM and the provenance describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composition {
    /// The pipeline's name, from its manifest.
    pub name: String,
    /// The pipeline's version, from its manifest.
    pub version: String,
    /// The composed component's digest.
    pub digest: Digest,
    /// The WIT world it targets (`ns:pkg/world@version`).
    pub world: String,
    /// The stages, in order.
    pub stages: Vec<Stage>,
    /// The pipeline manifest's digest, when it came from one.
    pub manifest: Option<Digest>,
}

/// One stage of a [`Composition`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The stage's name in the pipeline.
    pub name: String,
    /// Its version, when known (a registry stage's tag).
    pub version: Option<String>,
    /// The digest of the stage's component, `sha256:<hex>`.
    pub digest: Digest,
    /// Where it came from: a path or an OCI reference.
    pub source: String,
    /// Its licence (SPDX expression), from its annotations when known.
    pub licence: Option<String>,
}

fn purl_or_source(stage: &Stage) -> serde_json::Value {
    serde_json::json!([{ "type": "distribution", "url": stage.source }])
}

/// A CycloneDX 1.5 JSON SBOM: the composition as the metadata component,
/// every stage a component (name, version, sha256, source, licence), and
/// the target world as a property.
pub fn cyclonedx(c: &Composition, timestamp: &str) -> serde_json::Value {
    let components: Vec<serde_json::Value> = c
        .stages
        .iter()
        .map(|s| {
            let mut component = serde_json::json!({
                "type": "library",
                "bom-ref": format!("stage:{}", s.name),
                "name": s.name,
                "hashes": [{ "alg": "SHA-256", "content": s.digest.hex() }],
                "externalReferences": purl_or_source(s),
                "properties": [{ "name": "pipectl:source", "value": s.source }],
            });
            if let Some(v) = &s.version {
                component["version"] = v.clone().into();
            }
            if let Some(l) = &s.licence {
                component["licenses"] = serde_json::json!([{ "expression": l }]);
            }
            component
        })
        .collect();
    serde_json::json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": { "components": [{ "type": "application", "name": "pipectl", "version": env!("CARGO_PKG_VERSION") }] },
            "component": {
                "type": "application",
                "bom-ref": "pipeline",
                "name": c.name,
                "version": c.version,
                "hashes": [{ "alg": "SHA-256", "content": c.digest.hex() }],
                "properties": [{ "name": "pipectl:wit-world", "value": c.world }],
            },
        },
        "components": components,
        "dependencies": [{
            "ref": "pipeline",
            "dependsOn": c.stages.iter().map(|s| format!("stage:{}", s.name)).collect::<Vec<_>>(),
        }],
    })
}

/// An in-toto v1 statement about the composed component with a SLSA
/// provenance v1 predicate: pipectl as builder, every stage digest (and
/// the manifest's) as resolved dependencies, the manifest as external
/// parameters.
pub fn provenance(
    c: &Composition,
    manifest_text: Option<&str>,
    started: &str,
    finished: &str,
) -> Statement {
    let mut deps: Vec<serde_json::Value> = c
        .stages
        .iter()
        .map(|s| {
            serde_json::json!({
                "name": s.name,
                "uri": s.source,
                "digest": { "sha256": s.digest.hex() },
            })
        })
        .collect();
    if let Some(m) = &c.manifest {
        deps.push(serde_json::json!({ "name": "pipeline.toml", "digest": { "sha256": m.hex() } }));
    }
    let predicate = serde_json::json!({
        "buildDefinition": {
            "buildType": "https://pipectl.dev/compose/v1",
            "externalParameters": {
                "pipeline": c.name,
                "version": c.version,
                "world": c.world,
                "manifest": manifest_text,
            },
            "resolvedDependencies": deps,
        },
        "runDetails": {
            "builder": { "id": "https://pipectl.dev/pipectl", "version": { "pipectl": env!("CARGO_PKG_VERSION") } },
            "metadata": { "startedOn": started, "finishedOn": finished },
        },
    });
    Statement::about(&c.name, &c.digest, SLSA_PROVENANCE_V1, predicate)
}

/// Where an SBOM and the stages a component says it holds disagree: one
/// line per difference (missing stage, extra stage, other digest, other
/// order). Empty when they agree.
pub fn disagreements(sbom: &serde_json::Value, stages: &[(String, Digest)]) -> Vec<String> {
    let listed: Vec<(String, String)> = sbom["components"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    let name = c["name"].as_str().unwrap_or_default().to_string();
                    let hash = c["hashes"]
                        .as_array()
                        .and_then(|h| h.iter().find(|h| h["alg"] == "SHA-256"))
                        .and_then(|h| h["content"].as_str())
                        .unwrap_or_default()
                        .to_string();
                    (name, hash)
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for (name, digest) in stages {
        match listed.iter().find(|(n, _)| n == name) {
            None => out.push(format!("stage `{name}` is not in the SBOM")),
            Some((_, hash)) if hash != digest.hex() => out.push(format!(
                "stage `{name}` is {digest} in the component but sha256:{} in the SBOM",
                pipectl_io::text::clean(hash, 80)
            )),
            Some(_) => {}
        }
    }
    for (name, _) in &listed {
        if !stages.iter().any(|(n, _)| n == name) {
            out.push(format!(
                "the SBOM lists `{}`, which the component does not hold",
                pipectl_io::text::clean(name, 80)
            ));
        }
    }
    let order_component: Vec<&str> = stages.iter().map(|(n, _)| n.as_str()).collect();
    let order_sbom: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    if out.is_empty() && order_component != order_sbom {
        out.push("the SBOM lists the stages in another order".to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn composition() -> Composition {
        Composition {
            name: "text-pipeline".into(),
            version: "0.1.0".into(),
            digest: Digest::sha256(b"composed"),
            world: "example:text-transform/plugin@0.2.0".into(),
            stages: ["normalizer", "validator"]
                .iter()
                .map(|n| Stage {
                    name: (*n).into(),
                    version: Some("0.2.0".into()),
                    digest: Digest::sha256(n.as_bytes()),
                    source: format!("oci-layout:store:{n}:0.2.0"),
                    licence: Some("Apache-2.0".into()),
                })
                .collect(),
            manifest: Some(Digest::sha256(b"[pipeline]")),
        }
    }

    #[test]
    fn the_sbom_names_every_stage_and_agrees_with_its_composition() {
        let c = composition();
        let sbom = cyclonedx(&c, "2026-12-01T00:00:00Z");
        assert_eq!(sbom["specVersion"], "1.5");
        assert_eq!(
            sbom["components"][1]["hashes"][0]["content"],
            c.stages[1].digest.hex()
        );
        assert_eq!(
            sbom["components"][0]["licenses"][0]["expression"],
            "Apache-2.0"
        );
        let stages: Vec<(String, Digest)> = c
            .stages
            .iter()
            .map(|s| (s.name.clone(), s.digest.clone()))
            .collect();
        assert!(disagreements(&sbom, &stages).is_empty());
        let mut swapped = stages.clone();
        swapped.swap(0, 1);
        assert_eq!(
            disagreements(&sbom, &swapped),
            ["the SBOM lists the stages in another order"]
        );
        let mut other = stages.clone();
        other[1].1 = Digest::sha256(b"evil");
        assert!(disagreements(&sbom, &other)[0].contains("stage `validator` is sha256:"));
        assert_eq!(disagreements(&sbom, &stages[..1]).len(), 1);
    }

    #[test]
    fn provenance_is_about_the_composed_component() {
        let c = composition();
        let st = provenance(&c, Some("[pipeline]"), "t0", "t1");
        assert!(st.covers(&c.digest));
        assert_eq!(st.predicate_type, SLSA_PROVENANCE_V1);
        let deps = st.predicate["buildDefinition"]["resolvedDependencies"]
            .as_array()
            .unwrap();
        assert_eq!(deps.len(), 3);
        assert_eq!(
            deps[2]["digest"]["sha256"],
            c.manifest.as_ref().unwrap().hex()
        );
    }
}
