//! `pipectl run`: text through a composed component, or through a
//! pipeline's stages chained by the host. The flags become a request
//! ([`crate::cli::run_request`]); `pipectl-run` validates it into a plan,
//! loads it and runs it.

use std::io::Write as _;
use std::sync::Arc;

use pipectl_io::text::clean;
use pipectl_run::{ArtifactCache, Host, OutputSink, RunPlan, StageFailure, StageSummary};

use crate::Outcome;
use crate::cli::opts::RunArgs;
use crate::cli::output::{warn, write_atomic};
use crate::cli::plugin_output::TerminalSink;
use crate::cli::run_request::{render, request};

/// The most characters of one failure message (a plugin's rejection, a
/// trap, a component's reading by wasmtime) shown on the terminal.
const MAX_MESSAGE_CHARS: usize = 2000;

/// A message from (or quoting) a component, made safe for a terminal; its
/// classification (exit code, JSON `kind`) kept.
fn cleaned(e: impl Into<anyhow::Error>) -> anyhow::Error {
    crate::cli::failure::Classified::rewrite(e.into(), |m| clean(m, MAX_MESSAGE_CHARS))
}

/// Runs `pipectl run`.
pub fn run(args: RunArgs) -> anyhow::Result<Outcome> {
    crate::cli::output::allow_replacing_links(args.force);
    let (request, manifest, inputs) = request(&args)?;
    let (plan, notices) = RunPlan::new(request)?;
    for notice in &notices {
        warn(&format!(
            "pipectl: warning: {}",
            render(notice, manifest.as_deref())
        ));
    }
    let target = args
        .target
        .as_ref()
        .or(args.plugins.as_ref())
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    crate::cli::hooks::dispatch(&pipectl_hooks::Event::BeforeRun(
        plan.stages
            .iter()
            .map(|s| crate::cli::hooks::stage(&s.name, &target, Some(&s.bytes)))
            .collect(),
    ))?;
    let host = Host::new(&plan.host_config(artifact_cache(&args)))?;
    if crate::cli::output::verbose() && !host.pooled() {
        warn(&format!(
            "pipectl: {} live instances do not fit the pooling allocator's address space; allocating them on demand",
            plan.pool_instances
        ));
    }
    let sink = Arc::new(TerminalSink::default());
    let host = Arc::new(host.with_plugin_output(OutputSink(sink.clone())));
    let pipeline = plan.load(&host).map_err(cleaned)?;
    for plugin in pipeline.plugins() {
        if let Some(warning) = &plugin.cache_warning {
            warn(&format!(
                "pipectl: warning: stage `{}`: {warning}",
                plugin.name
            ));
        }
        if crate::cli::output::verbose() {
            let how = match plugin.compile {
                pipectl_run::CompileSource::Compiled => "compiled",
                pipectl_run::CompileSource::Cache => "loaded precompiled from cache",
                pipectl_run::CompileSource::Recompiled => "cache entry not used; recompiled",
            };
            warn(&format!("pipectl: stage `{}`: {how}", plugin.name));
        }
    }
    let texts: Vec<&str> = inputs.iter().map(|i| i.text.as_str()).collect();
    let mut batch = pipeline.run_batch(&texts, plan.workers, args.keep_going);
    plan.attribute(&host, &texts, &mut batch.results)
        .map_err(cleaned)?;
    sink.finish();

    let mut failed = 0usize;
    let mut stdout = std::io::stdout().lock();
    let mut json_results = Vec::new();
    let json = args.format == crate::cli::output::Format::Json;
    for ((input, result), elapsed) in inputs.iter().zip(&batch.results).zip(&batch.elapsed) {
        failed += usize::from(matches!(result, Some(Err(_))));
        if json {
            json_results.push(crate::cli::run_output::json_result(
                &input.label,
                result.as_ref(),
                *elapsed,
            ));
            continue;
        }
        match result {
            None => {}
            Some(Ok(output)) => {
                if let Some(dir) = &args.output_dir {
                    write_atomic(&dir.join(&input.label), output.as_bytes())?;
                } else if args.input_dir.is_some() {
                    writeln!(stdout, "==> {} <==\n{output}", input.label)?;
                } else if args.lines {
                    writeln!(stdout, "{}", crate::cli::run_output::one_line(output))?;
                } else {
                    stdout.write_all(output.as_bytes())?;
                }
            }
            Some(Err(failure)) => report(&input.label, failure, inputs.len() > 1),
        }
    }
    stdout.flush()?;
    drop(stdout);
    let not_run = batch.results.iter().filter(|r| r.is_none()).count();
    if json {
        crate::cli::output::print_json(
            failed == 0 && not_run == 0,
            &serde_json::json!({
                "inputs": inputs.len(),
                "failed": failed,
                "not_run": not_run,
                "results": json_results,
            }),
        )?;
    }
    if not_run > 0 {
        warn(&format!(
            "pipectl: stopped at the first failure; {not_run} input{} not run (use --keep-going to run all)",
            if not_run == 1 { "" } else { "s" }
        ));
    }
    let summaries: Vec<StageSummary> = batch.stats.iter().map(|s| s.summary()).collect();
    if args.stats {
        let table = pipectl_run::stats::table(&summaries);
        warn(table.trim_end_matches('\n'));
    }
    if let Some(path) = &args.stats_json {
        let json = serde_json::json!({
            "ok": failed == 0 && not_run == 0,
            "inputs": inputs.len(),
            "failed": failed,
            "workers": batch.workers,
            "stages": summaries.iter().map(crate::cli::json::StageStats::from).collect::<Vec<_>>(),
            "peak_rss_bytes": pipectl_run::stats::peak_rss(),
            "compiled": pipeline
                .plugins()
                .map(|p| serde_json::json!({"stage": p.name, "digest": p.digest, "source": p.compile}))
                .collect::<Vec<_>>(),
        });
        write_atomic(path, serde_json::to_string_pretty(&json)?.as_bytes())?;
    }
    Ok(if failed > 0 {
        Outcome::Failed
    } else {
        Outcome::Ok
    })
}

/// Prints an input's failure. What the plugin said (its rejection's
/// message, a trap) is untrusted: control characters are escaped and the
/// line is cut, saying how much was.
fn report(label: &str, failure: &StageFailure, several: bool) {
    let line = if several {
        format!("{label}: {failure}")
    } else {
        failure.to_string()
    };
    crate::cli::output::error(&format!("error: {}", clean(&line, MAX_MESSAGE_CHARS)));
}

/// The precompiled cache, sealed with the user's key; without a usable
/// key (or with `--no-cache`) the run compiles every stage.
fn artifact_cache(args: &RunArgs) -> Option<ArtifactCache> {
    if args.no_compiled_cache {
        return None;
    }
    let dir = args
        .compiled_cache
        .clone()
        .or_else(crate::cli::paths::compiled_cache)?;
    ArtifactCache::open(dir)
        .map_err(|e| {
            warn(&format!(
                "pipectl: warning: not using the precompiled cache: {e}; every stage is compiled"
            ))
        })
        .ok()
}
