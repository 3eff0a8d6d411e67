//! `pipectl test`: case files of WAVE calls run against components.

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

/// Runs `pipectl test`.
pub fn run(args: TestArgs) -> anyhow::Result<Outcome> {
    let files = args
        .cases
        .iter()
        .map(|p| CaseFile::load(p))
        .collect::<Result<Vec<_>, _>>()?;
    let workers = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let any_fuel = args.fuel.is_some()
        || files
            .iter()
            .flat_map(|f| &f.cases)
            .any(|c| c.limits.fuel.is_some());
    let host = Arc::new(Host::new(&HostConfig {
        // A language runtime's component compiles once, not every run.
        cache: crate::cli::paths::compiled_cache()
            .and_then(|dir| pipectl_run::ArtifactCache::open(dir).ok()),
        fuel: any_fuel,
        pooling: None,
        max_memory: None,
    })?);
    let grants = grants(&args.grant);
    let plugins = args
        .component
        .iter()
        .map(|p| load(&host, &args, p, &grants))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Every case file against every component, before anything runs.
    for ((plugin, bytes), path) in plugins.iter().zip(&args.component) {
        for file in &files {
            crate::cli::contract::check(file, path, bytes)?;
            pipectl_run::check_cases(&host, plugin, file)
                .with_context(|| format!("against component `{}`", plugin.name))?;
        }
    }
    let defaults = Limits {
        timeout: Some(args.timeout),
        fuel: args.fuel,
        max_memory: args.max_memory,
        max_output: None,
    };
    let mut suites = Vec::new();
    for ((plugin, _), path) in plugins.iter().zip(&args.component) {
        for file in &files {
            let selected: Vec<_> = file
                .cases
                .iter()
                .filter(|c| args.tag.is_empty() || c.tags.iter().any(|t| args.tag.contains(t)))
                .collect();
            let cases = pipectl_run::run_cases(&host, plugin, file, &selected, defaults, workers)?;
            suites.push(SuiteReport {
                component: path.clone(),
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
