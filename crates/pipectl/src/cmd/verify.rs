//! `pipectl verify`: finds an artifact's signatures (OCI referrers) and
//! verifies them against trusted keys. Exit 0 when one verifies, 1 when
//! none does, 2 when pipectl could not look.

use std::fmt::Write as _;

use pipectl_trust::PublicKey;
use serde::Serialize;

use crate::Outcome;
use crate::cli::opts::VerifyArgs;
use crate::cli::output::{Format, print_json, print_text};
use crate::cli::trust::Checked;

#[derive(Serialize)]
struct Report {
    verified: bool,
    reference: String,
    manifest: String,
    keys: Vec<String>,
    signatures: Vec<Checked>,
    attestations: Vec<crate::cli::attest::Attestation>,
}

/// Runs `pipectl verify`.
pub fn run(args: VerifyArgs) -> anyhow::Result<Outcome> {
    if std::fs::symlink_metadata(&args.reference).is_ok() {
        return file(&args);
    }
    let found = crate::cli::attest::examine_reference(&args.registry, &args.reference, &args.keys)?;
    let (subject, keys, signatures, attestations) = (
        found.subject,
        found.keys,
        found.signatures,
        found.attestations,
    );
    // Verified: a trusted key signed the manifest, and no SBOM disagrees
    // with the stages the manifest records.
    let consistent = attestations.iter().all(|a| a.disagreements.is_empty());
    let report = Report {
        verified: signatures.iter().any(|s| s.verified) && consistent,
        reference: subject.shown.clone(),
        manifest: subject.digest.to_string(),
        keys: keys.iter().map(PublicKey::fingerprint).collect(),
        signatures,
        attestations,
    };
    finish(&report, args.format)
}

/// A component file: the attestations `compose --attest --sign` wrote
/// next to it (`<file>.*.sigstore.json`), each verified against the keys
/// over the file's digest, the SBOM compared with the stages the component
/// records. Verified when there is at least one and every one verifies.
fn file(args: &VerifyArgs) -> anyhow::Result<Outcome> {
    let path = std::path::Path::new(&args.reference);
    let bytes = pipectl_io::read_regular(path, 1 << 30, "component")?;
    let digest = pipectl_io::Digest::sha256(&bytes);
    let keys = args
        .keys
        .iter()
        .map(|k| crate::cli::keys::load_key(k))
        .collect::<anyhow::Result<Vec<PublicKey>>>()?;
    let stages: Vec<(String, pipectl_io::Digest)> = pipectl_compose::read_metadata(&bytes)
        .map(|m| {
            m.stages
                .iter()
                .filter_map(|s| Some((s.name.clone(), pipectl_io::Digest::parse(&s.digest).ok()?)))
                .collect()
        })
        .unwrap_or_default();
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let mut beside: Vec<std::path::PathBuf> = std::fs::read_dir(dir.unwrap_or(".".as_ref()))?
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| {
            p.file_name().is_some_and(|f| {
                let f = f.to_string_lossy();
                f.starts_with(&format!("{name}.")) && f.ends_with(".sigstore.json")
            })
        })
        .collect();
    beside.sort();
    let mut attestations = Vec::new();
    for bundle in &beside {
        let payload = pipectl_io::read_regular(bundle, 1 << 20, "Sigstore bundle")?;
        let shown = bundle.display().to_string();
        attestations.extend(crate::cli::attest::judge(
            shown, &payload, true, "sbom", &digest, &keys, &stages,
        ));
    }
    let report = Report {
        verified: !attestations.is_empty()
            && attestations
                .iter()
                .all(|a| a.verified && a.disagreements.is_empty()),
        reference: args.reference.clone(),
        manifest: digest.to_string(),
        keys: keys.iter().map(PublicKey::fingerprint).collect(),
        signatures: Vec::new(),
        attestations,
    };
    finish(&report, args.format)
}

/// Prints `report`; verified is 0, not verified 1.
fn finish(report: &Report, format: Format) -> anyhow::Result<Outcome> {
    match format {
        Format::Json => print_json(report.verified, report)?,
        Format::Human => print_text(&human(report))?,
    }
    Ok(if report.verified {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}

fn human(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} ({})",
        if report.verified {
            "verified"
        } else {
            "not verified"
        },
        report.reference,
        report.manifest
    );
    if report.signatures.is_empty() && report.attestations.is_empty() {
        let _ = writeln!(out, "  no signature or signed attestation found");
    }
    for s in &report.signatures {
        match (&s.signer, &s.error) {
            (Some(signer), _) => {
                let _ = writeln!(
                    out,
                    "  ok   {} signed by {signer} ({})",
                    s.referrer,
                    s.kind.unwrap_or("?")
                );
            }
            (None, error) => {
                let _ = writeln!(
                    out,
                    "  bad  {}: {}",
                    s.referrer,
                    error.as_deref().unwrap_or("not verified")
                );
            }
        }
    }
    for a in &report.attestations {
        let state = match (a.signed, a.verified) {
            (false, _) => "unsigned".to_string(),
            (true, true) => format!("signed by {}", a.signer.as_deref().unwrap_or("?")),
            (true, false) => format!("NOT verified: {}", a.error.as_deref().unwrap_or("?")),
        };
        let _ = writeln!(out, "  {:<10} {} ({state})", a.kind, a.referrer);
        for d in &a.disagreements {
            let _ = writeln!(out, "      disagrees: {d}");
        }
    }
    out
}
