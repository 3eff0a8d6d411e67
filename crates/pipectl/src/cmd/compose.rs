//! `pipectl compose`: a manifest's stages into one component.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use pipectl_compose::{ComposePlan, Composition, StageInput};
use pipectl_manifest::{Manifest, StageSource};
use pipectl_wit::WitSet;

use crate::Outcome;
use crate::cli::opts::ComposeArgs;
use crate::cli::output::{Format, print_json, print_text, write_atomic};

/// Reads each stage's component as the manifest names it.
pub fn load_stages(manifest: &Manifest) -> anyhow::Result<Vec<StageInput>> {
    manifest
        .stages
        .iter()
        .map(|stage| {
            let (bytes, origin) = match &stage.source {
                StageSource::Path(path) => {
                    let bytes = fs_err::read(path).with_context(|| {
                        format!("stage `{}`: failed to read its component", stage.name)
                    })?;
                    (bytes, relative(manifest.base_dir(), path))
                }
                StageSource::Oci { reference, .. }
                | StageSource::Package {
                    name: reference, ..
                } => {
                    anyhow::bail!(
                        "stage `{}`: registry stages (`{reference}`) are not supported yet",
                        stage.name
                    )
                }
            };
            Ok(StageInput {
                name: stage.name.clone(),
                bytes,
                origin,
                allow_imports: stage.allow_imports.clone(),
            })
        })
        .collect()
}

/// `path` relative to `base` when it is inside it, for stable reports.
fn relative(base: &Path, path: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Composes the manifest's stages; shared with `pipectl run` and publish.
pub fn compose_manifest(manifest: &Manifest) -> anyhow::Result<Composition> {
    let wit = WitSet::load(&manifest.wit)?;
    let stages = load_stages(manifest)?;
    let composition = pipectl_compose::compose(ComposePlan {
        name: &manifest.name,
        version: &manifest.version,
        wit: &wit,
        world: &manifest.world,
        stages,
    })
    .with_context(|| format!("failed to compose `{}`", manifest.path.display()))?;
    Ok(composition)
}

/// Runs `pipectl compose`.
pub fn run(args: ComposeArgs) -> anyhow::Result<Outcome> {
    let manifest = Manifest::load(&args.manifest)?;
    let composition = compose_manifest(&manifest)?;
    if let Some(wac_path) = &args.emit_wac {
        write_atomic(wac_path, composition.wac.as_bytes())?;
        let dir = wac_path.parent().unwrap_or(Path::new(""));
        for (name, bytes) in &composition.sequencers {
            let file = dir.join(format!("{}.wasm", name.replace(':', "-")));
            write_atomic(&file, bytes)?;
        }
    }
    write_atomic(&args.output, &composition.bytes)?;
    match args.format {
        Format::Json => {
            let mut value = serde_json::to_value(&composition)?;
            value["output"] = args.output.display().to_string().into();
            print_json(&value)?;
        }
        Format::Human => print_text(&human(&composition, &args.output))?,
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
