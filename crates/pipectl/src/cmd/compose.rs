//! `pipectl compose`: a manifest's stages into one component.

use std::fmt::Write as _;
use std::path::Path;

use pipectl_compose::Composition;
use pipectl_manifest::Manifest;
use pipectl_wit::WitSet;

use crate::Outcome;
use crate::cli::hooks;
use crate::cli::opts::ComposeArgs;
use crate::cli::output::{Format, print_json, print_text, write_atomic};
use crate::cli::stages::load_stages;
use pipectl_hooks::Event;

/// Runs `pipectl compose`.
pub fn run(args: ComposeArgs) -> anyhow::Result<Outcome> {
    crate::cli::output::allow_replacing_links(args.force);
    let to_stdout = args.output.as_os_str() == "-";
    if to_stdout && args.format == Format::Json {
        return Err(crate::cli::failure::Usage(
            "`-o -` writes the component to stdout, where `--format json` writes its report; pick one"
                .into(),
        )
        .into());
    }
    if to_stdout && args.attest {
        return Err(crate::cli::failure::Usage(
            "--attest writes files next to the output; `-o -` has none".into(),
        )
        .into());
    }
    // A bad key is refused before anything is composed.
    let key = match &args.key {
        Some(spec) => Some(crate::cli::keys::load_signing_key(spec)?),
        None => None,
    };
    let manifest = Manifest::load(&args.manifest)?;
    let wit = WitSet::load(&manifest.wit)?;
    let opts = pipectl_registry::FetchOptions {
        offline: args.offline,
        locked: args.locked,
    };
    let (stages, pinned) = load_stages(&manifest, &args.registry, opts)?;
    let seen = stages
        .iter()
        .map(|s| hooks::stage(&s.name, &s.origin, Some(&s.bytes)))
        .collect();
    hooks::dispatch(&Event::BeforeCompose(seen))?;
    let composition = crate::cli::stages::compose(&manifest, &wit, stages, args.adapter())?;
    // Before anything is written: a veto leaves no output.
    hooks::dispatch(&Event::AfterCompose(hooks::artifact(
        &args.output.display().to_string(),
        &composition.bytes,
        &Default::default(),
        Some(&composition.world),
    )))?;
    if let Some(wac_path) = &args.emit_wac {
        write_atomic(wac_path, composition.wac.as_bytes())?;
        let dir = wac_path.parent().unwrap_or(Path::new(""));
        for (name, bytes) in &composition.sequencers {
            let file = dir.join(format!("{}.wasm", name.replace(':', "-")));
            write_atomic(&file, bytes)?;
        }
    }
    if to_stdout {
        crate::cli::output::print_bytes(&composition.bytes)?;
    } else {
        write_atomic(&args.output, &composition.bytes)?;
    }
    let attested = match args.attest {
        true => {
            crate::cli::attest::write_beside(&args.output, &composition, &manifest, key.as_ref())?
        }
        false => Vec::new(),
    };
    // The lockfile records the registry stages' digests, once the
    // composition exists.
    pinned.save_lock()?;
    match args.format {
        Format::Json => {
            let mut report =
                crate::cli::json::Composition::new(&composition, args.output.display().to_string());
            report.attestation_files = attested.iter().map(|p| p.display().to_string()).collect();
            print_json(true, &report)?
        }
        // The component went to stdout: the report goes to stderr.
        Format::Human if to_stdout => {
            crate::cli::output::warn(human(&composition, &args.output).trim_end())
        }
        Format::Human => {
            let mut text = human(&composition, &args.output);
            for file in &attested {
                let _ = writeln!(text, "  attested: {}", file.display());
            }
            print_text(&text)?
        }
    }
    Ok(Outcome::Ok)
}

fn human(c: &Composition, output: &Path) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "composed {} stage{} into {} ({} bytes, {})",
        c.stages.len(),
        if c.stages.len() == 1 { "" } else { "s" },
        output.display(),
        c.size,
        c.digest
    );
    let _ = writeln!(out, "  world:   {}", c.world);
    if let Some(adapter) = c.adapter {
        let _ = writeln!(out, "  adapter: {}", adapter.name());
    }
    for (i, s) in c.stages.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {:>2}. {:<16} {}  {:>8} bytes  {}{}",
            i + 1,
            s.name,
            s.digest,
            s.size,
            s.origin,
            if s.middleware { "  (middleware)" } else { "" }
        );
    }
    let _ = writeln!(out, "  exports: {}", c.exports.join(", "));
    let _ = writeln!(
        out,
        "  imports: {}",
        if c.imports.is_empty() {
            "none (statically linked)".to_string()
        } else {
            c.imports.join(", ")
        }
    );
    for skipped in &c.skipped_exports {
        let _ = writeln!(out, "  not re-exported: {skipped}");
    }
    out
}
