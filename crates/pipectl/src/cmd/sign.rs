//! `pipectl sign`: a Sigstore bundle over the manifest a reference names,
//! pushed as that manifest's OCI referrer.

use std::fmt::Write as _;

use pipectl_registry::referrers;

use crate::Outcome;
use crate::cli::opts::SignArgs;
use crate::cli::output::{Format, print_json, print_text};

/// Runs `pipectl sign`.
pub fn run(args: SignArgs) -> anyhow::Result<Outcome> {
    let key = crate::cli::keys::load_signing_key(&args.key)?;
    let mut ctx = crate::cli::registry::context(&args.registry)?;
    ctx.scope_credentials_to(&args.reference);
    let mut subject = referrers::resolve_subject(&ctx, &args.reference)?;
    let report = crate::cli::trust::sign(&ctx, &mut subject, &key, args.dsse)?;
    match args.format {
        Format::Json => print_json(true, &report)?,
        Format::Human => print_text(&human(&report))?,
    }
    Ok(Outcome::Ok)
}

/// The human lines of a signing.
fn human(report: &crate::cli::trust::Signed) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} ({})",
        if report.status == "unchanged" {
            "already signed"
        } else {
            "signed"
        },
        report.reference,
        report.manifest
    );
    let _ = writeln!(out, "  signer:   {}", report.fingerprint);
    let _ = writeln!(out, "  referrer: {} ({})", report.referrer, report.kind);
    out
}
