//! A manifest's stages as `compose` and `run` read them: files, and
//! registry stages fetched (verified) through `pipectl.lock`.

use std::path::Path;

use anyhow::Context as _;
use pipectl_compose::StageInput;
use pipectl_manifest::{Manifest, StageSource};
use pipectl_registry::{FetchOptions, PinRequest, Pinned};

use crate::cli::opts::RegistryArgs;

/// The reference text `fetch` takes for a registry stage.
fn stage_reference(source: &StageSource) -> Option<String> {
    match source {
        StageSource::Path(_) => None,
        StageSource::Oci { reference, version } => Some(format!("{reference}:{version}")),
        StageSource::Package { name, version } => Some(format!("{name}@{version}")),
    }
}

/// Reads each stage's component as the manifest names it. The registry
/// context is built only when a stage names a registry: credentials are
/// never scoped to a registry the manifest names, only to `--registry`,
/// `PIPECTL_REGISTRY_HOST`, or the host in a `PIPECTL_REGISTRY_<HOST>_*`
/// variable's name. The returned pins are saved with
/// [`Pinned::save_lock`] once the stages served.
pub fn load_stages(
    manifest: &Manifest,
    registry: &RegistryArgs,
    opts: FetchOptions,
) -> anyhow::Result<(Vec<StageInput>, Pinned)> {
    let requests: Vec<PinRequest> = manifest
        .stages
        .iter()
        .filter_map(|stage| {
            stage_reference(&stage.source).map(|reference| PinRequest {
                stage: stage.name.clone(),
                reference,
            })
        })
        .collect();
    let ctx = if requests.is_empty() {
        None
    } else {
        Some(crate::cli::registry::context(registry)?)
    };
    // Files first, as the manifest orders them: a missing file is found
    // before any network traffic.
    let mut files = Vec::new();
    for stage in &manifest.stages {
        if let StageSource::Path(path) = &stage.source {
            let bytes = fs_err::read(path)
                .with_context(|| format!("stage `{}`: failed to read its component", stage.name))?;
            files.push((bytes, relative(manifest.base_dir(), path)));
        }
    }
    let lock_path = manifest.base_dir().join("pipectl.lock");
    let policy = crate::cli::trust::Policy::for_manifest(manifest)?;
    let mut pinned = pipectl_registry::fetch_pinned(ctx.as_ref(), &lock_path, &requests, opts)?;
    // A trust policy next to the manifest: every registry stage signed,
    // the proof pinned in the lockfile (and verified from the cache when
    // it is there).
    if let (Some(policy), Some(ctx)) = (&policy, &ctx) {
        let entries: Vec<_> = pinned.stages.iter().map(|s| s.entry.clone()).collect();
        for (request, mut entry) in requests.iter().zip(entries) {
            crate::cli::trust::prove(
                policy,
                ctx,
                &request.reference,
                &mut entry,
                opts.offline,
                opts.locked,
            )
            .with_context(|| format!("stage `{}`", request.stage))?;
            pinned.record(entry);
        }
    }
    let mut files = files.into_iter();
    let mut fetched = std::mem::take(&mut pinned.stages).into_iter();
    let inputs = manifest
        .stages
        .iter()
        .map(|stage| {
            let (bytes, origin) = match &stage.source {
                StageSource::Path(_) => files.next().expect("one file per path stage"),
                _ => {
                    let s = fetched.next().expect("one fetch per registry stage");
                    (s.bytes, s.origin)
                }
            };
            StageInput {
                name: stage.name.clone(),
                bytes,
                origin,
                allow_imports: stage.allow_imports.clone(),
            }
        })
        .collect();
    Ok((inputs, pinned))
}

/// `path` relative to `base` when it is inside it, for stable reports.
fn relative(base: &Path, path: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Composes `manifest`'s `stages` (as [`load_stages`] read them) against
/// its world in `wit` (its WIT, loaded).
pub fn compose(
    manifest: &Manifest,
    wit: &pipectl_wit::WitSet,
    stages: Vec<StageInput>,
    adapter: Option<pipectl_compose::Adapter>,
) -> anyhow::Result<pipectl_compose::Composition> {
    pipectl_compose::compose(pipectl_compose::ComposePlan {
        name: &manifest.name,
        version: &manifest.version,
        wit,
        world: &manifest.world,
        stages,
        adapter,
    })
    .with_context(|| format!("failed to compose `{}`", manifest.path.display()))
}
