//! What a generation of `pipectl serve` must pass before it serves: each
//! stage's conformance cases (`cases = [...]` on a `[[stage]]` of the
//! manifest), run against the very bytes the generation loaded.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use pipectl_manifest::{Limits, Manifest};
use pipectl_run::{Host, HostConfig, RunPlan};

/// How long one case may run before it counts as failed.
const CASE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the stage cases the manifest at `target` names (nothing for a
/// component) against `plan`'s stages; `Err` says which failed.
pub fn conformance(target: &Path, plan: &RunPlan) -> anyhow::Result<()> {
    if target.extension().is_none_or(|e| e != "toml") {
        return Ok(());
    }
    let manifest = Manifest::load(target)?;
    let with_cases: Vec<_> = manifest
        .stages
        .iter()
        .filter(|s| !s.cases.is_empty())
        .collect();
    if with_cases.is_empty() {
        return Ok(());
    }
    let files = with_cases
        .iter()
        .map(|s| crate::cli::test_targets::load_files(&s.cases))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let host = Host::new(&HostConfig {
        cache: crate::cli::paths::compiled_cache()
            .and_then(|dir| pipectl_run::ArtifactCache::open(dir).ok()),
        fuel: files.iter().any(|f| crate::cli::test_targets::any_fuel(f)),
        pooling: None,
        max_memory: None,
    })?;
    let defaults = Limits {
        timeout: Some(CASE_TIMEOUT),
        ..Limits::default()
    };
    let mut failed = String::new();
    for (stage, files) in with_cases.iter().zip(&files) {
        let Some(spec) = plan.stages.iter().find(|s| s.name == stage.name) else {
            continue;
        };
        let plugin = host.load_exports(&spec.name, &spec.bytes, &spec.grants)?;
        for file in files {
            let shown = file.path.display();
            if let Err(e) = pipectl_run::check_cases(&host, &plugin, file) {
                let _ = write!(failed, "; stage `{}`: {shown}: {e}", stage.name);
                continue;
            }
            let all: Vec<_> = file.cases.iter().collect();
            let outcomes = pipectl_run::run_cases(&host, &plugin, file, &all, defaults, 1)?;
            for o in outcomes.iter().filter(|o| !o.passed) {
                let _ = write!(
                    failed,
                    "; stage `{}`: {shown}: `{}` failed",
                    stage.name, o.name
                );
            }
        }
    }
    match failed.strip_prefix("; ") {
        None => Ok(()),
        Some(why) => anyhow::bail!("conformance cases failed: {why}"),
    }
}
