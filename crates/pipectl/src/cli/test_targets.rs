//! What `pipectl test` runs: each component under test (named on the
//! command line, or a pipeline's stages and their composition) with the
//! case files to run against it.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use pipectl_manifest::Grants;
use pipectl_run::{CaseFile, Host, Plugin};

use crate::cli::opts::TestArgs;

/// Largest component read, in bytes.
pub const MAX_COMPONENT: u64 = 512 << 20;

pub fn any_fuel(files: &[CaseFile]) -> bool {
    files
        .iter()
        .flat_map(|f| &f.cases)
        .any(|c| c.limits.fuel.is_some())
}

pub fn load(
    host: &Host,
    args: &TestArgs,
    spec: &str,
    grants: &Grants,
) -> anyhow::Result<(Plugin, Vec<u8>)> {
    let (name, bytes) = crate::cli::registry::component(spec, &args.registry, MAX_COMPONENT)?;
    let plugin = host
        .load_exports(&name, &bytes, grants)
        .with_context(|| format!("failed to load component {spec}"))?;
    Ok((plugin, bytes))
}

/// One component under test and the case files run against it.
pub struct Target {
    /// How reports name it.
    pub shown: String,
    /// Loaded in the host.
    pub plugin: Plugin,
    /// Its binary.
    pub bytes: Vec<u8>,
    /// The case files for it.
    pub files: Vec<CaseFile>,
}

pub fn load_files(paths: &[PathBuf]) -> anyhow::Result<Vec<CaseFile>> {
    Ok(paths
        .iter()
        .map(|p| CaseFile::load(p))
        .collect::<Result<Vec<_>, _>>()?)
}

/// `--pipeline`: each stage with its own case files, then the composition
/// with the pipeline's (and the command line's).
pub fn pipeline_targets(
    host: &Host,
    args: &TestArgs,
    path: &Path,
    grants: &Grants,
) -> anyhow::Result<Vec<Target>> {
    let manifest = pipectl_manifest::Manifest::load(path)?;
    let registry = crate::cli::opts::RegistryArgs::from_access(args.registry.clone());
    let opts = pipectl_registry::FetchOptions {
        offline: false,
        locked: false,
    };
    let (stages, pinned) = crate::cli::stages::load_stages(&manifest, &registry, opts)?;
    let mut targets = Vec::new();
    for (stage, input) in manifest.stages.iter().zip(&stages) {
        if stage.cases.is_empty() {
            continue;
        }
        let mut stage_grants = stage.grants.clone();
        stage_grants.merge(grants);
        let plugin = host
            .load_exports(&stage.name, &input.bytes, &stage_grants)
            .with_context(|| format!("stage `{}`", stage.name))?;
        targets.push(Target {
            shown: format!("stage `{}` ({})", stage.name, input.origin),
            plugin,
            bytes: input.bytes.clone(),
            files: load_files(&stage.cases)?,
        });
    }
    let mut files = manifest.cases.clone();
    files.extend(args.cases.iter().cloned());
    if !files.is_empty() {
        let wit = pipectl_wit::WitSet::load(&manifest.wit)?;
        let composition = crate::cli::stages::compose(&manifest, &wit, stages, None)?;
        let name = format!("pipeline `{}`", manifest.name);
        let plugin = host.load_exports(&manifest.name, &composition.bytes, grants)?;
        targets.push(Target {
            shown: name,
            plugin,
            bytes: composition.bytes,
            files: load_files(&files)?,
        });
    }
    anyhow::ensure!(
        !targets.is_empty(),
        "`{}` names no case files: add `cases = [...]` to `[pipeline]` or to a `[[stage]]`",
        path.display()
    );
    pinned.save_lock()?;
    Ok(targets)
}
