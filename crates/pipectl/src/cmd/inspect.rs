//! `pipectl inspect`: one page about a published artifact (its manifest,
//! layer, annotations, the stages it records, its referrers, signatures
//! and attestations, verified with the keys given) or a component file
//! (digest, imports, exports, the stages a composition records).

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::Outcome;
use crate::cli::attest::{Attestation, recorded_stages};
use crate::cli::opts::InspectArgs;
use crate::cli::output::{Format, print_json, print_text};
use crate::cli::trust::Checked;

/// The largest file inspected.
const MAX_FILE: u64 = 1 << 30;

#[derive(Serialize)]
struct File {
    file: String,
    digest: String,
    size: usize,
    imports: Vec<String>,
    exports: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pipeline: Option<pipectl_compose::PipelineMetadata>,
}

#[derive(Serialize)]
struct Artifact {
    reference: String,
    manifest: String,
    layer: serde_json::Value,
    annotations: serde_json::Value,
    stages: Vec<Stage>,
    referrers: Vec<Referrer>,
    signatures: Vec<Checked>,
    attestations: Vec<Attestation>,
}

#[derive(Serialize)]
struct Stage {
    name: String,
    digest: String,
}

#[derive(Serialize)]
struct Referrer {
    digest: String,
    artifact_type: Option<String>,
}

/// Runs `pipectl inspect`.
pub fn run(args: InspectArgs) -> anyhow::Result<Outcome> {
    let path = Path::new(&args.target);
    if std::fs::symlink_metadata(path).is_ok() {
        return file(path, args.format);
    }
    let found = crate::cli::attest::examine_reference(&args.registry, &args.target, &args.keys)?;
    let subject = &found.subject;
    let manifest: serde_json::Value = serde_json::from_slice(&subject.manifest)?;
    let report = Artifact {
        reference: found.subject.shown.clone(),
        manifest: found.subject.digest.to_string(),
        layer: manifest["layers"][0].clone(),
        annotations: manifest["annotations"].clone(),
        stages: recorded_stages(&subject.manifest)
            .into_iter()
            .map(|(name, digest)| Stage {
                name,
                digest: digest.to_string(),
            })
            .collect(),
        referrers: found
            .referrers
            .iter()
            .map(|d| Referrer {
                digest: d.digest.to_string(),
                artifact_type: d.artifact_type.clone(),
            })
            .collect(),
        signatures: found.signatures,
        attestations: found.attestations,
    };
    match args.format {
        Format::Json => print_json(true, &report)?,
        Format::Human => print_text(&human(&report))?,
    }
    Ok(Outcome::Ok)
}

fn file(path: &Path, format: Format) -> anyhow::Result<Outcome> {
    let bytes = pipectl_io::read_regular(path, MAX_FILE, "component")?;
    let digest = pipectl_io::Digest::sha256(&bytes).to_string();
    let pipeline = pipectl_compose::read_metadata(&bytes);
    let size = bytes.len();
    let decoded = pipectl_wit::ComponentBytes::from_bytes(path, bytes)?.decode()?;
    let report = File {
        file: path.display().to_string(),
        digest,
        size,
        imports: decoded.import_names(),
        exports: decoded.export_names(),
        pipeline,
    };
    match format {
        Format::Json => print_json(true, &report)?,
        Format::Human => {
            let mut out = String::new();
            let _ = writeln!(
                out,
                "{} ({} bytes, {})",
                report.file, report.size, report.digest
            );
            let _ = writeln!(out, "  exports: {}", report.exports.join(", "));
            let _ = writeln!(out, "  imports: {}", none(&report.imports));
            if let Some(p) = &report.pipeline {
                let _ = writeln!(out, "  pipeline {} {} for `{}`", p.name, p.version, p.world);
                for (i, s) in p.stages.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "    {:>2}. {:<16} {}  {}",
                        i + 1,
                        s.name,
                        s.digest,
                        s.origin
                    );
                }
            }
            print_text(&out)?;
        }
    }
    Ok(Outcome::Ok)
}

fn none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

fn human(r: &Artifact) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} ({})", r.reference, r.manifest);
    let _ = writeln!(
        out,
        "  layer:    {} ({} bytes, {})",
        r.layer["digest"].as_str().unwrap_or("?"),
        r.layer["size"],
        r.layer["annotations"]["org.opencontainers.image.title"]
            .as_str()
            .unwrap_or("untitled")
    );
    if let Some(ann) = r.annotations.as_object() {
        for (k, v) in ann {
            let _ = writeln!(out, "  {k}: {}", v.as_str().unwrap_or_default());
        }
    }
    for s in &r.stages {
        let _ = writeln!(out, "  stage {:<16} {}", s.name, s.digest);
    }
    let _ = writeln!(out, "  referrers: {}", r.referrers.len());
    for s in &r.signatures {
        let state = match (&s.signer, &s.error) {
            (Some(signer), _) => format!("verified, signed by {signer}"),
            (None, e) => format!("not verified: {}", e.as_deref().unwrap_or("?")),
        };
        let _ = writeln!(out, "  signature  {} ({state})", s.referrer);
    }
    for a in &r.attestations {
        let state = match (a.signed, a.verified) {
            (false, _) => "unsigned".to_string(),
            (true, true) => format!("verified, signed by {}", a.signer.as_deref().unwrap_or("?")),
            (true, false) => format!("not verified: {}", a.error.as_deref().unwrap_or("?")),
        };
        let agree = if a.disagreements.is_empty() {
            ""
        } else {
            "; DISAGREES with the manifest"
        };
        let _ = writeln!(out, "  {:<10} {} ({state}{agree})", a.kind, a.referrer);
    }
    out
}
