//! `pipectl sign`: a Sigstore bundle over the manifest a reference names,
//! pushed as that manifest's OCI referrer.

use std::fmt::Write as _;

use pipectl_registry::referrers::{self, Referrer};
use pipectl_trust::statement::SIGN_PREDICATE_TYPE;
use pipectl_trust::{BUNDLE_MEDIA_TYPE, Bundle, Statement};
use serde::Serialize;

use crate::Outcome;
use crate::cli::opts::SignArgs;
use crate::cli::output::{Format, print_json, print_text};

#[derive(Serialize)]
struct Report {
    reference: String,
    manifest: String,
    /// `signed`, or `unchanged` when this signature was already there.
    status: &'static str,
    /// `message-signature` or `dsse`.
    kind: &'static str,
    /// The referrer manifest's digest.
    referrer: String,
    /// The bundle's digest (the referrer's one layer).
    bundle: String,
    fingerprint: String,
}

/// Runs `pipectl sign`.
pub fn run(args: SignArgs) -> anyhow::Result<Outcome> {
    let key = crate::cli::keys::load_signing_key(&args.key)?;
    let mut ctx = crate::cli::registry::context(&args.registry)?;
    ctx.scope_credentials_to(&args.reference);
    let mut subject = referrers::resolve_subject(&ctx, &args.reference)?;
    let (bundle, kind) = if args.dsse {
        let statement = Statement::about(
            &subject.shown,
            &subject.digest,
            SIGN_PREDICATE_TYPE,
            serde_json::json!({}),
        );
        (Bundle::sign_statement(&key, &statement), "dsse")
    } else {
        (
            Bundle::sign_message(&key, &subject.manifest),
            "message-signature",
        )
    };
    let referrer = Referrer::build(
        &subject.digest,
        subject.manifest.len() as u64,
        BUNDLE_MEDIA_TYPE,
        BUNDLE_MEDIA_TYPE,
        bundle.to_json(),
    );
    // ECDSA signatures here are deterministic (RFC 6979): signing the same
    // manifest with the same key again makes the same referrer.
    let digest = referrer.digest();
    let present = subject
        .store
        .referrers(&subject.digest)?
        .iter()
        .any(|d| d.digest == digest);
    if !present {
        subject.store.push_referrer(&referrer, &ctx.progress)?;
    }
    let report = Report {
        reference: subject.shown.clone(),
        manifest: subject.digest.to_string(),
        status: if present { "unchanged" } else { "signed" },
        kind,
        referrer: digest.to_string(),
        bundle: referrer.parsed.layers[0].digest.to_string(),
        fingerprint: key.public().fingerprint(),
    };
    match args.format {
        Format::Json => print_json(&report)?,
        Format::Human => {
            let mut out = String::new();
            let _ = writeln!(
                out,
                "{} {} ({})",
                if present { "already signed" } else { "signed" },
                report.reference,
                report.manifest
            );
            let _ = writeln!(out, "  signer:   {}", report.fingerprint);
            let _ = writeln!(out, "  referrer: {} ({kind})", report.referrer);
            print_text(&out)?;
        }
    }
    Ok(Outcome::Ok)
}
