//! `pipectl verify`: finds an artifact's signatures (OCI referrers) and
//! verifies them against trusted keys. Exit 0 when one verifies, 1 when
//! none does, 2 when pipectl could not look.

use std::fmt::Write as _;

use pipectl_registry::referrers;
use pipectl_trust::PublicKey;
use serde::Serialize;

use crate::Outcome;
use crate::cli::opts::VerifyArgs;
use crate::cli::output::{Format, print_json, print_text};
use crate::cli::trust::{Checked, check_all};

#[derive(Serialize)]
struct Report {
    verified: bool,
    reference: String,
    manifest: String,
    keys: Vec<String>,
    signatures: Vec<Checked>,
}

/// Runs `pipectl verify`.
pub fn run(args: VerifyArgs) -> anyhow::Result<Outcome> {
    let keys = args
        .keys
        .iter()
        .map(|k| crate::cli::keys::load_key(k))
        .collect::<anyhow::Result<Vec<PublicKey>>>()?;
    let mut ctx = crate::cli::registry::context(&args.registry)?;
    ctx.scope_credentials_to(&args.reference);
    let mut subject = referrers::resolve_subject(&ctx, &args.reference)?;
    let signatures = check_all(&ctx, subject.store.as_mut(), &subject.digest, &keys)?;
    let report = Report {
        verified: signatures.iter().any(|s| s.verified),
        reference: subject.shown.clone(),
        manifest: subject.digest.to_string(),
        keys: keys.iter().map(PublicKey::fingerprint).collect(),
        signatures,
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
    out
}
