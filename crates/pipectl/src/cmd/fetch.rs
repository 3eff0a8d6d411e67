//! `pipectl fetch`: a component, verified, through the cache and the
//! lockfile.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use pipectl_registry::{FetchOptions, Lockfile};
use serde::Serialize;

use crate::Outcome;
use crate::cli::opts::FetchArgs;
use crate::cli::output::{Format, print_json, print_text};

#[derive(Serialize)]
struct Report<'a> {
    /// The file written, `-` for stdout, or the mirror's reference.
    output_file: String,
    from_cache: bool,
    lock_updated: bool,
    #[serde(flatten)]
    entry: crate::cli::json::LockEntry<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mirror: Option<Mirror>,
}

#[derive(Serialize)]
struct Mirror {
    reference: String,
    already_there: bool,
    referrers: usize,
    skipped: Vec<String>,
}

/// `<name>-<version>.wasm` in the working directory. The version comes
/// from the lockfile or the registry (already checked there); the whole
/// name is checked again here, as one file name, before anything is
/// written.
fn default_output(entry: &pipectl_registry::LockEntry) -> anyhow::Result<PathBuf> {
    let base = entry
        .name
        .rsplit(['/', ':'])
        .next()
        .filter(|b| !b.is_empty())
        .unwrap_or("component");
    let name = format!("{base}-{}.wasm", entry.version);
    pipectl_io::name::check_component("output name", &name)
        .with_context(|| format!("`{}`: pass `-o FILE`", entry.name))?;
    Ok(PathBuf::from(name))
}

/// Runs `pipectl fetch`.
pub fn run(args: FetchArgs) -> anyhow::Result<Outcome> {
    crate::cli::output::allow_replacing_links(args.force);
    let to_stdout = args.output.as_ref().is_some_and(|o| o.as_os_str() == "-");
    if to_stdout && args.format == Format::Json {
        return Err(crate::cli::failure::Usage(
            "`-o -` writes the component to stdout, where `--format json` writes its report; pick one"
                .into(),
        )
        .into());
    }
    if args.offline && args.to.is_some() {
        return Err(crate::cli::failure::Usage(
            "--to copies from the registry, which --offline does not reach".into(),
        )
        .into());
    }
    let mut ctx = crate::cli::registry::context(&args.registry)?;
    ctx.scope_credentials_to(&args.reference);
    let mut lock = Lockfile::load(&args.lockfile)?;
    let mut fetched = pipectl_registry::fetch(
        &ctx,
        &args.reference,
        &lock,
        FetchOptions {
            offline: args.offline,
            locked: args.locked,
        },
    )?;
    // A policy that requires signatures: checked before anything is
    // written.
    if let Some(policy) = crate::cli::trust::Policy::load(std::path::Path::new("."))? {
        crate::cli::trust::prove(
            &policy,
            &ctx,
            &args.reference,
            &mut fetched.entry,
            args.offline,
            args.locked,
        )?;
    }
    // Before anything is written: a veto leaves no output and no lock entry.
    if crate::cli::hooks::wanted("after-fetch")? {
        let bytes = fetched.read()?;
        let annotations = crate::cli::hooks::annotations(
            &ctx,
            &args.reference,
            &fetched.entry.manifest,
            args.offline,
        )?;
        crate::cli::hooks::dispatch(&pipectl_hooks::Event::AfterFetch(
            crate::cli::hooks::artifact(&args.reference, &bytes, &annotations, None),
        ))?;
    }
    let mirrored = match &args.to {
        Some(to) => Some(pipectl_registry::mirror(
            &ctx,
            &fetched,
            &args.reference,
            to,
            args.with_referrers,
        )?),
        None => None,
    };
    let output = match (&args.output, &mirrored) {
        (_, Some(m)) => PathBuf::from(&m.reference),
        (Some(path), None) => path.clone(),
        (None, None) => default_output(&fetched.entry)?,
    };
    // The component first, the lockfile after: a failure leaves the
    // lockfile as it was.
    // Streamed from the verified cache entry, hashed again on the way: a
    // layer of any size passes through in 64 KiB pieces.
    if mirrored.is_none() && to_stdout {
        let mut out = std::io::stdout().lock();
        fetched.copy_to(&mut out)?;
        std::io::Write::flush(&mut out)?;
    } else if mirrored.is_none() {
        crate::cli::output::write_atomic_with(&output, |out| fetched.copy_to(out))?;
    }
    let mut lock_updated = false;
    if !args.no_lock && lock.upsert(fetched.entry.clone()) {
        lock.save()?;
        lock_updated = true;
    }
    let report = Report {
        output_file: output.display().to_string(),
        from_cache: fetched.from_cache,
        lock_updated,
        entry: (&fetched.entry).into(),
        mirror: mirrored.as_ref().map(|m| Mirror {
            reference: m.reference.clone(),
            already_there: m.already_there,
            referrers: m.referrers,
            skipped: m.skipped.clone(),
        }),
    };
    match args.format {
        Format::Json => print_json(true, &report)?,
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
            if let Some(m) = &mirrored {
                let _ = writeln!(
                    out,
                    "  mirror:   {}{}, {} referrer{}",
                    m.reference,
                    if m.already_there {
                        " (already there)"
                    } else {
                        ""
                    },
                    m.referrers,
                    if m.referrers == 1 { "" } else { "s" }
                );
                for s in &m.skipped {
                    let _ = writeln!(out, "  skipped:  {s}");
                }
            }
            let _ = writeln!(out, "  layer:    {}", fetched.entry.layer);
            if lock_updated {
                let _ = writeln!(out, "  recorded in {}", args.lockfile.display());
            }
            if to_stdout {
                crate::cli::output::warn(out.trim_end());
            } else {
                print_text(&out)?;
            }
        }
    }
    Ok(Outcome::Ok)
}
