//! `pipectl test`: case files of WAVE calls run against components.

use std::sync::Arc;

use anyhow::Context as _;
use pipectl_manifest::{Grants, Limits};
use pipectl_run::{Host, HostConfig};

use crate::Outcome;
use crate::cli::opts::{TestArgs, TestFormat, TestRuntime};
use crate::cli::output::{print_json, print_text};
use crate::cli::test_report::{SuiteReport, any_failed, human, json, junit};
use crate::cli::test_targets::{Target, any_fuel, load, load_files, pipeline_targets};

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
    let mut grants = Grants::default();
    args.grant.iter().for_each(|g| g.grant().apply(&mut grants));
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
    let scratch = tempfile::tempdir()?;
    let mut suites = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        for runtime in &args.runtime {
            let module = match runtime {
                TestRuntime::Node => Some(crate::cli::jco::transpile(
                    &crate::cli::jco::jco(args.jco.as_deref()),
                    &t.bytes,
                    &t.shown,
                    scratch.path(),
                    i,
                )?),
                TestRuntime::Wasmtime => None,
            };
            for file in &t.files {
                let selected: Vec<_> = file
                    .cases
                    .iter()
                    .filter(|c| args.tag.is_empty() || c.tags.iter().any(|t| args.tag.contains(t)))
                    .collect();
                let (p, s) = (&t.plugin, &selected);
                let cases = match &module {
                    None => pipectl_run::run_cases(&host, p, file, s, defaults, workers)?,
                    Some(m) => pipectl_run::run_cases_node(
                        &host,
                        p,
                        file,
                        s,
                        m,
                        &args.node,
                        scratch.path(),
                        defaults,
                        workers,
                    )?,
                };
                suites.push(SuiteReport {
                    component: t.shown.clone(),
                    runtime: runtime.as_str(),
                    file: file.path.display().to_string(),
                    cases,
                });
            }
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
