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
    match args.format {
        Format::Json => print_json(report.verified, &report)?,
        Format::Human => print_text(&human(&report))?,
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
    if report.signatures.is_empty() {
        let _ = writeln!(out, "  no signature found");
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
