//! `pipectl verify`: finds an artifact's signatures (OCI referrers) and
//! verifies them against trusted keys. Exit 0 when one verifies, 1 when
//! none does, 2 when pipectl could not look.

use std::fmt::Write as _;

use pipectl_registry::referrers;
use pipectl_trust::{BUNDLE_MEDIA_TYPE, Bundle, PublicKey};
use serde::Serialize;

use crate::Outcome;
use crate::cli::opts::VerifyArgs;
use crate::cli::output::{Format, print_json, print_text};

#[derive(Serialize)]
struct Signature {
    /// The referrer manifest's digest.
    referrer: String,
    verified: bool,
    /// The key that verified it.
    #[serde(skip_serializing_if = "Option::is_none")]
    signer: Option<String>,
    /// `message-signature` or `dsse`.
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    /// For a DSSE envelope: the statement's predicate type.
    #[serde(skip_serializing_if = "Option::is_none")]
    predicate_type: Option<String>,
    /// Why it does not verify.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct Report {
    verified: bool,
    reference: String,
    manifest: String,
    keys: Vec<String>,
    signatures: Vec<Signature>,
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
    let found = subject.store.referrers(&subject.digest)?;
    let mut signatures = Vec::new();
    for desc in found
        .iter()
        .filter(|d| d.artifact_type.as_deref() == Some(BUNDLE_MEDIA_TYPE))
    {
        signatures.push(check(&mut subject, &ctx, desc, &keys));
    }
    let report = Report {
        verified: signatures.iter().any(|s| s.verified),
        reference: subject.shown.clone(),
        manifest: subject.digest.to_string(),
        keys: keys.iter().map(PublicKey::fingerprint).collect(),
        signatures,
    };
    match args.format {
        Format::Json => print_json(&report)?,
        Format::Human => print_text(&human(&report))?,
    }
    Ok(if report.verified {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}

/// Reads and verifies one referrer; every failure is this signature's
/// finding, not an error of the run.
fn check(
    subject: &mut referrers::Subject,
    ctx: &pipectl_registry::Context,
    desc: &referrers::ReferrerDescriptor,
    keys: &[PublicKey],
) -> Signature {
    let mut sig = Signature {
        referrer: desc.digest.to_string(),
        verified: false,
        signer: None,
        kind: None,
        predicate_type: None,
        error: None,
    };
    let payload = referrers::read_payload(subject.store.as_mut(), ctx, &subject.digest, desc);
    let bundle = payload
        .map_err(|e| e.to_string())
        .and_then(|bytes| Bundle::from_json(&bytes).map_err(|e| e.to_string()));
    let bundle = match bundle {
        Ok(b) => b,
        Err(e) => {
            sig.error = Some(e);
            return sig;
        }
    };
    sig.kind = Some(if bundle.dsse_envelope.is_some() {
        "dsse"
    } else {
        "message-signature"
    });
    match bundle.verify(&subject.digest, keys) {
        Ok(v) => {
            sig.verified = true;
            sig.signer = Some(v.key);
            sig.predicate_type = v.predicate_type;
        }
        Err(e) => sig.error = Some(e.to_string()),
    }
    sig
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
