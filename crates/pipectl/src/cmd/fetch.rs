//! `pipectl fetch`: a component, verified, through the cache and the
//! lockfile.

use std::fmt::Write as _;
use std::path::PathBuf;

use pipectl_registry::{FetchOptions, Lockfile};
use serde::Serialize;

use crate::Outcome;
use crate::cli::opts::FetchArgs;
use crate::cli::output::{Format, print_json, print_text, write_atomic};

#[derive(Serialize)]
struct Report<'a> {
    output: String,
    from_cache: bool,
    lock_updated: bool,
    #[serde(flatten)]
    entry: &'a pipectl_registry::LockEntry,
}

/// Runs `pipectl fetch`.
pub fn run(args: FetchArgs) -> anyhow::Result<Outcome> {
    let mut ctx = super::registry::context(&args.registry)?;
    ctx.scope_credentials_to(&args.reference);
    let mut lock = Lockfile::load(&args.lockfile)?;
    let fetched = pipectl_registry::fetch(
        &ctx,
        &args.reference,
        &lock,
        FetchOptions {
            offline: args.offline,
            locked: args.locked,
        },
    )?;
    let output = args.output.clone().unwrap_or_else(|| {
        let base = fetched
            .entry
            .name
            .rsplit(['/', ':'])
            .next()
            .unwrap_or("component")
            .to_string();
        PathBuf::from(format!("{base}-{}.wasm", fetched.entry.version))
    });
    // The component first, the lockfile after: a failure leaves the
    // lockfile as it was.
    write_atomic(&output, &fetched.bytes)?;
    let mut lock_updated = false;
    if !args.no_lock && lock.upsert(fetched.entry.clone()) {
        lock.save()?;
        lock_updated = true;
    }
    let report = Report {
        output: output.display().to_string(),
        from_cache: fetched.from_cache,
        lock_updated,
        entry: &fetched.entry,
    };
    match args.format {
        Format::Json => print_json(&report)?,
        Format::Human => {
            let mut out = String::new();
            let _ = writeln!(
                out,
                "fetched {} {} -> {} ({} bytes{})",
                fetched.entry.name,
                fetched.entry.version,
                output.display(),
                fetched.entry.size,
                if fetched.from_cache {
                    ", from the cache"
                } else {
                    ""
                }
            );
            let _ = writeln!(out, "  manifest: {}", fetched.entry.manifest);
            let _ = writeln!(out, "  layer:    {}", fetched.entry.layer);
            if lock_updated {
                let _ = writeln!(out, "  recorded in {}", args.lockfile.display());
            }
            print_text(&out)?;
        }
    }
    Ok(Outcome::Ok)
}
