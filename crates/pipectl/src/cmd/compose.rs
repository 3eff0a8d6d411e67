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

/// Where registry stages come from, and the lockfile that pins them.
pub struct RegistryStages<'a> {
    /// The registry context.
    pub ctx: &'a pipectl_registry::Context,
    /// `pipectl.lock` next to the manifest; gains entries for new stages.
    pub lock: &'a mut pipectl_registry::Lockfile,
    /// Offline and `--locked`.
    pub opts: pipectl_registry::FetchOptions,
}

/// The reference text `fetch` takes for a registry stage.
fn stage_reference(source: &StageSource) -> Option<String> {
    match source {
        StageSource::Path(_) => None,
        StageSource::Oci { reference, version } => Some(format!("{reference}:{version}")),
        StageSource::Package { name, version } => Some(format!("{name}@{version}")),
    }
}

/// Reads each stage's component as the manifest names it: files, or
/// registry stages fetched (verified) through the lockfile.
pub fn load_stages(
    manifest: &Manifest,
    mut registry: Option<RegistryStages<'_>>,
) -> anyhow::Result<Vec<StageInput>> {
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
                source => {
                    let reference = stage_reference(source).expect("a registry stage");
                    let Some(reg) = registry.as_mut() else {
                        anyhow::bail!(
                            "stage `{}`: registry stages need a registry context",
                            stage.name
                        );
                    };
                    let fetched = pipectl_registry::fetch(reg.ctx, &reference, reg.lock, reg.opts)
                        .with_context(|| {
                            format!(
                                "stage `{}`: failed to fetch `{}`",
                                stage.name,
                                pipectl_registry::reference::redact(&reference)
                            )
                        })?;
                    let origin = format!("{}@{}", fetched.entry.name, fetched.entry.manifest);
                    reg.lock.upsert(fetched.entry);
                    (fetched.bytes, origin)
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

/// The lockfile that pins a manifest's registry stages.
pub fn lock_path(manifest: &Manifest) -> std::path::PathBuf {
    manifest.base_dir().join("pipectl.lock")
}

/// `path` relative to `base` when it is inside it, for stable reports.
fn relative(base: &Path, path: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Composes the manifest's stages.
pub fn compose_manifest(
    manifest: &Manifest,
    registry: Option<RegistryStages<'_>>,
) -> anyhow::Result<Composition> {
    let wit = WitSet::load(&manifest.wit)?;
    let stages = load_stages(manifest, registry)?;
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
    crate::cli::output::allow_replacing_links(args.force);
    let manifest = Manifest::load(&args.manifest)?;
    let uses_registry = manifest
        .stages
        .iter()
        .any(|s| !matches!(s.source, StageSource::Path(_)));
    // Credentials are never scoped to a registry the manifest names: only
    // to `--registry`, PIPECTL_REGISTRY_HOST, or the host in a
    // PIPECTL_REGISTRY_<HOST>_* variable's name.
    let ctx = if uses_registry {
        Some(super::registry::context(&args.registry)?)
    } else {
        None
    };
    let mut lock = pipectl_registry::Lockfile::load(&lock_path(&manifest))?;
    let lock_before = lock.render();
    let composition = compose_manifest(
        &manifest,
        ctx.as_ref().map(|ctx| RegistryStages {
            ctx,
            lock: &mut lock,
            opts: pipectl_registry::FetchOptions {
                offline: args.offline,
                locked: args.locked,
            },
        }),
    )?;
    if let Some(wac_path) = &args.emit_wac {
        write_atomic(wac_path, composition.wac.as_bytes())?;
        let dir = wac_path.parent().unwrap_or(Path::new(""));
        for (name, bytes) in &composition.sequencers {
            let file = dir.join(format!("{}.wasm", name.replace(':', "-")));
            write_atomic(&file, bytes)?;
        }
    }
    write_atomic(&args.output, &composition.bytes)?;
    // The lockfile records the registry stages' digests, once the
    // composition exists.
    if uses_registry && lock.render() != lock_before {
        lock.save()?;
    }
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
