//! `pipectl test`: case files of WAVE calls run against components.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use pipectl_manifest::{Grants, Limits};
use pipectl_run::{CaseFile, Host, HostConfig, Plugin};

use crate::Outcome;
use crate::cli::opts::{GrantArg, TestArgs, TestFormat};
use crate::cli::output::{print_json, print_text};
use crate::cli::test_report::{SuiteReport, any_failed, human, json, junit};

/// Largest component read, in bytes.
const MAX_COMPONENT: u64 = 512 << 20;

fn any_fuel(files: &[CaseFile]) -> bool {
    files
        .iter()
        .flat_map(|f| &f.cases)
        .any(|c| c.limits.fuel.is_some())
}

fn grants(args: &[GrantArg]) -> Grants {
    let mut g = Grants::default();
    for grant in args {
        grant.grant().apply(&mut g);
    }
    g
}

fn load(
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
struct Target {
    shown: String,
    plugin: Plugin,
    bytes: Vec<u8>,
    files: Vec<CaseFile>,
}

fn load_files(paths: &[PathBuf]) -> anyhow::Result<Vec<CaseFile>> {
    Ok(paths
        .iter()
        .map(|p| CaseFile::load(p))
        .collect::<Result<Vec<_>, _>>()?)
}

/// `--pipeline`: each stage with its own case files, then the composition
/// with the pipeline's (and the command line's).
fn pipeline_targets(
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
        let composition = pipectl_compose::compose(pipectl_compose::ComposePlan {
            name: &manifest.name,
            version: &manifest.version,
            wit: &wit,
            world: &manifest.world,
            stages,
        })
        .with_context(|| format!("failed to compose `{}`", manifest.path.display()))?;
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

/// Runs `pipectl test`.
pub fn run(args: TestArgs) -> anyhow::Result<Outcome> {
    let files = load_files(&args.cases)?;
    let workers = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let host = Arc::new(Host::new(&HostConfig {
        // A language runtime's component compiles once, not every run.
        cache: crate::cli::paths::compiled_cache()
            .and_then(|dir| pipectl_run::ArtifactCache::open(dir).ok()),
        // Fuel metering costs speed: on only when a limit asks for it.
        fuel: args.fuel.is_some() || args.pipeline.is_some() || any_fuel(&files),
        pooling: None,
        max_memory: None,
    })?);
    let grants = grants(&args.grant);
    let targets = match &args.pipeline {
        Some(path) => pipeline_targets(&host, &args, path, &grants)?,
        None => args
            .component
            .iter()
            .map(|spec| {
                let (plugin, bytes) = load(&host, &args, spec, &grants)?;
                Ok(Target {
                    shown: spec.clone(),
                    plugin,
                    bytes,
                    files: files.clone(),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?,
    };
    // Every case file against its component, before anything runs.
    for t in &targets {
        for file in &t.files {
            crate::cli::contract::check(file, &t.shown, &t.bytes)?;
            pipectl_run::check_cases(&host, &t.plugin, file)
                .with_context(|| format!("against component `{}`", t.shown))?;
        }
    }
    let defaults = Limits {
        timeout: Some(args.timeout),
        fuel: args.fuel,
        max_memory: args.max_memory,
        max_output: None,
    };
    let mut suites = Vec::new();
    for t in &targets {
        for file in &t.files {
            let selected: Vec<_> = file
                .cases
                .iter()
                .filter(|c| args.tag.is_empty() || c.tags.iter().any(|t| args.tag.contains(t)))
                .collect();
            let cases =
                pipectl_run::run_cases(&host, &t.plugin, file, &selected, defaults, workers)?;
            suites.push(SuiteReport {
                component: t.shown.clone(),
                file: file.path.display().to_string(),
                cases,
            });
        }
    }
    match args.format {
        TestFormat::Human => print_text(&human(&suites))?,
        TestFormat::Json => print_json(!any_failed(&suites), &json(&suites))?,
        TestFormat::Junit => print_text(&junit(&suites))?,
    }
    Ok(if any_failed(&suites) {
        Outcome::Failed
    } else {
        Outcome::Ok
    })
}
