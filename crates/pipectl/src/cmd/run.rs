//! `pipectl run`: text through a composed component, or through a
//! pipeline's stages chained by the host.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use pipectl_manifest::{Grants, Limits, Manifest};
use pipectl_run::{
    ArtifactCache, CallSpec, Host, HostConfig, Pipeline, StageFailure, StagePolicy, StageSummary,
};

use crate::Outcome;
use crate::cli::opts::{GrantArg, LimitArgs, RunArgs};
use crate::cli::output::write_atomic;

/// The limits every stage gets unless told otherwise: safe by default.
pub const DEFAULT_LIMITS: Limits = Limits {
    timeout: Some(Duration::from_secs(10)),
    fuel: None,
    max_memory: Some(256 * 1024 * 1024),
    max_output: Some(64 * 1024 * 1024),
};

/// A stage as the host will run it.
struct StageDef {
    name: String,
    bytes: Vec<u8>,
    grants: Grants,
    limits: Limits,
    call: CallSpec,
}

impl LimitArgs {
    fn to_limits(&self) -> Limits {
        Limits {
            timeout: self.timeout,
            fuel: self.fuel,
            max_memory: self.max_memory,
            max_output: self.max_output,
        }
    }
}

/// One input and where it came from.
struct Input {
    label: String,
    text: String,
}

/// Runs `pipectl run`.
pub fn run(args: RunArgs) -> anyhow::Result<Outcome> {
    let cli_limits = args.limits.to_limits();
    let mut extra = Grants::default();
    add_cli_grants(&args, &mut extra)?;
    let mut stages = stage_defs(&args, cli_limits)?;
    for stage in &mut stages {
        merge_grants(&mut stage.grants, &extra);
    }
    let inputs = read_inputs(&args)?;
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);

    let fuel = stages.iter().any(|s| s.limits.fuel.is_some());
    let max_memory = stages.iter().filter_map(|s| s.limits.max_memory).max();
    let instances = u32::try_from((stages.len() * workers * 2 + 8).min(10_000)).unwrap_or(10_000);
    let cache = if args.no_cache {
        None
    } else {
        args.cache_dir
            .clone()
            .map(ArtifactCache::new)
            .or_else(|| ArtifactCache::default_dir().map(ArtifactCache::new))
    };
    let host = Arc::new(Host::new(&HostConfig {
        cache,
        fuel,
        pooling: Some(instances),
        max_memory,
    })?);
    let mut plugins = Vec::with_capacity(stages.len());
    for s in &stages {
        let plugin = host.load(&s.name, &s.bytes, &s.grants, &s.call)?;
        if args.verbose {
            eprintln!(
                "pipectl: stage `{}`: {}",
                plugin.name,
                match plugin.compile {
                    pipectl_run::CompileSource::Compiled => "compiled",
                    pipectl_run::CompileSource::Cache => "loaded precompiled from cache",
                    pipectl_run::CompileSource::Recompiled => "cache entry invalid; recompiled",
                }
            );
        }
        plugins.push((
            Arc::new(plugin),
            StagePolicy {
                limits: s.limits,
                max_restarts: args.max_restarts,
                stateless: args.stateless,
            },
        ));
    }
    let pipeline = Pipeline::new(host.clone(), plugins);

    let texts: Vec<&str> = inputs.iter().map(|i| i.text.as_str()).collect();
    let mut batch = pipeline.run_batch(&texts, workers, args.keep_going);
    if let Some(embedded) = composed_stages(&args, &stages) {
        attribute(&host, embedded, &stages[0], &texts, &mut batch.results)?;
    }

    let mut failed = 0usize;
    let mut stdout = std::io::stdout().lock();
    let mut json_results = Vec::new();
    for ((input, result), elapsed) in inputs.iter().zip(&batch.results).zip(&batch.elapsed) {
        if args.format == crate::cli::output::Format::Json {
            failed += usize::from(matches!(result, Some(Err(_))));
            json_results.push(match result {
                None => serde_json::json!({"input": input.label, "ran": false}),
                Some(Ok(output)) => serde_json::json!({
                    "input": input.label, "ran": true, "ok": true,
                    "output": output, "elapsed_us": elapsed.as_micros() as u64,
                }),
                Some(Err(failure)) => serde_json::json!({
                    "input": input.label, "ran": true, "ok": false,
                    "error": failure, "message": failure.to_string(),
                    "elapsed_us": elapsed.as_micros() as u64,
                }),
            });
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
                    writeln!(stdout, "{output}")?;
                } else {
                    stdout.write_all(output.as_bytes())?;
                }
            }
            Some(Err(failure)) => {
                failed += 1;
                report(&input.label, failure, inputs.len() > 1);
            }
        }
    }
    if args.format == crate::cli::output::Format::Json {
        drop(stdout);
        crate::cli::output::print_json(&json_results)?;
        stdout = std::io::stdout().lock();
    }
    stdout.flush()?;
    let not_run = batch.results.iter().filter(|r| r.is_none()).count();
    if not_run > 0 {
        eprintln!(
            "pipectl: stopped at the first failure; {not_run} input{} not run (use --keep-going to run all)",
            if not_run == 1 { "" } else { "s" }
        );
    }
    let summaries: Vec<StageSummary> = batch.stats.iter().map(|s| s.summary()).collect();
    if args.stats {
        eprint!("{}", pipectl_run::stats::table(&summaries));
    }
    if let Some(path) = &args.stats_json {
        let json = serde_json::json!({
            "inputs": inputs.len(),
            "failed": failed,
            "workers": batch.workers,
            "stages": summaries,
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

/// The stages a composed component embeds, when `pipectl run` was given one
/// it can replay stage by stage.
fn composed_stages(args: &RunArgs, stages: &[StageDef]) -> Option<Vec<(String, Vec<u8>)>> {
    let target = args.target.as_ref()?;
    if stages.len() != 1 || target.extension().is_some_and(|e| e == "toml") {
        return None;
    }
    pipectl_compose::embedded_stages(&stages[0].bytes)
}

/// A composed component reports its typed errors and traps as its own; to
/// name the stage, each failing input is replayed through the embedded
/// stages one by one. When the replay fails the same way, the failure is
/// attributed to that stage; otherwise it stays the pipeline's.
fn attribute(
    host: &Arc<Host>,
    embedded: Vec<(String, Vec<u8>)>,
    composed: &StageDef,
    inputs: &[&str],
    results: &mut [Option<Result<String, StageFailure>>],
) -> anyhow::Result<()> {
    use pipectl_run::FailureKind;
    let replayable = |f: &StageFailure| {
        matches!(
            f.kind,
            FailureKind::Rejected { .. } | FailureKind::Trap { .. }
        )
    };
    if !results
        .iter()
        .any(|r| matches!(r, Some(Err(f)) if replayable(f)))
    {
        return Ok(());
    }
    let mut plugins = Vec::new();
    for (name, bytes) in &embedded {
        let plugin = host.load(name, bytes, &composed.grants, &CallSpec::Transform)?;
        plugins.push((
            Arc::new(plugin),
            StagePolicy {
                limits: composed.limits,
                max_restarts: u32::MAX,
                stateless: false,
            },
        ));
    }
    let replay = Pipeline::new(host.clone(), plugins);
    let mut session = replay.session();
    for (input, result) in inputs.iter().zip(results.iter_mut()) {
        let Some(Err(failure)) = result else { continue };
        if !replayable(failure) {
            continue;
        }
        if let Err(again) = session.run(input) {
            let same = match (&failure.kind, &again.kind) {
                (FailureKind::Trap { .. }, FailureKind::Trap { .. }) => true,
                (a, b) => a == b,
            };
            if same {
                failure.stage = again.stage;
            }
        }
    }
    Ok(())
}

fn report(label: &str, failure: &StageFailure, several: bool) {
    if several {
        eprintln!("error: {label}: {failure}");
    } else {
        eprintln!("error: {failure}");
    }
}

/// Adds the `--grant`, `--dir` and `--env` capabilities to `grants`.
fn add_cli_grants(args: &RunArgs, grants: &mut Grants) -> anyhow::Result<()> {
    for grant in &args.grant {
        match grant {
            GrantArg::Clocks => grants.clocks = true,
            GrantArg::Random => grants.random = true,
            GrantArg::Stdio => grants.stdio = true,
            GrantArg::Filesystem => grants.filesystem = true,
            GrantArg::Sockets => grants.sockets = true,
            GrantArg::Http => grants.http = true,
            GrantArg::Runtime => {
                grants.stdio = true;
                grants.clocks = true;
                grants.random = true;
                grants.filesystem = true;
                grants.sockets = true;
                grants.http = true;
            }
        }
    }
    for dir in &args.dir {
        let (host, guest) = dir.split_once("::").unwrap_or((dir, dir));
        if host.is_empty() || guest.is_empty() {
            bail!("--dir `{dir}`: expected `HOST` or `HOST::GUEST`");
        }
        grants.dirs.push(pipectl_manifest::DirGrant {
            host: PathBuf::from(host),
            guest: guest.to_string(),
            writable: false,
        });
    }
    for var in &args.env {
        let Some((name, value)) = var.split_once('=').filter(|(n, _)| !n.is_empty()) else {
            bail!("--env `{var}`: expected `NAME=VALUE`");
        };
        grants.env.insert(name.to_string(), value.to_string());
    }
    Ok(())
}

/// Adds the capabilities of `extra` to `grants`.
fn merge_grants(grants: &mut Grants, extra: &Grants) {
    grants.clocks |= extra.clocks;
    grants.random |= extra.random;
    grants.stdio |= extra.stdio;
    grants.filesystem |= extra.filesystem;
    grants.sockets |= extra.sockets;
    grants.http |= extra.http;
    grants.dirs.extend(extra.dirs.iter().cloned());
    grants
        .env
        .extend(extra.env.iter().map(|(k, v)| (k.clone(), v.clone())));
}

/// The stages to run, from a manifest, a component or a plugins folder.
fn stage_defs(args: &RunArgs, cli: Limits) -> anyhow::Result<Vec<StageDef>> {
    let fallback = |stage_limits: Limits, pipeline: Limits| {
        stage_limits.or(cli).or(pipeline).or(DEFAULT_LIMITS)
    };
    let call = match &args.call {
        Some(spec) => CallSpec::parse(spec).map_err(|e| anyhow::anyhow!("--call: {e}"))?,
        None => CallSpec::Transform,
    };
    if let Some(dir) = &args.plugins {
        let manifest = dir.join("pipeline.toml");
        if manifest.exists() {
            return manifest_stages(&Manifest::load(&manifest)?, &fallback, args);
        }
        let mut files: Vec<PathBuf> = fs_err::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("`{}` holds no `.wasm` components", dir.display());
        }
        eprintln!(
            "pipectl: warning: `{}` has no pipeline.toml; running its {} components in file-name order",
            dir.display(),
            files.len()
        );
        return files
            .iter()
            .map(|f| {
                Ok(StageDef {
                    name: stage_name(f),
                    bytes: fs_err::read(f)?,
                    grants: Grants::default(),
                    limits: fallback(Limits::default(), Limits::default()),
                    call: call.clone(),
                })
            })
            .collect();
    }
    let target = args
        .target
        .as_ref()
        .expect("clap requires a target or --plugins");
    if target.extension().is_some_and(|e| e == "toml") {
        return manifest_stages(&Manifest::load(target)?, &fallback, args);
    }
    let bytes = fs_err::read(target)?;
    let name = pipectl_compose::read_metadata(&bytes)
        .map(|m| m.name)
        .unwrap_or_else(|| stage_name(target));
    Ok(vec![StageDef {
        name,
        bytes,
        grants: Grants::default(),
        limits: fallback(Limits::default(), Limits::default()),
        call,
    }])
}

fn manifest_stages(
    manifest: &Manifest,
    fallback: &dyn Fn(Limits, Limits) -> Limits,
    args: &RunArgs,
) -> anyhow::Result<Vec<StageDef>> {
    // Registry stages come through the manifest's lockfile, which records
    // what was resolved, as `pipectl compose` does.
    let uses_registry = manifest
        .stages
        .iter()
        .any(|s| !matches!(s.source, pipectl_manifest::StageSource::Path(_)));
    let ctx = if uses_registry {
        Some(crate::cmd::registry::context(
            &crate::cli::opts::RegistryArgs::default(),
        )?)
    } else {
        None
    };
    let mut lock = pipectl_registry::Lockfile::load(&crate::cmd::compose::lock_path(manifest))?;
    let lock_before = lock.render();
    let inputs = crate::cmd::compose::load_stages(
        manifest,
        ctx.as_ref().map(|ctx| crate::cmd::compose::RegistryStages {
            ctx,
            lock: &mut lock,
            opts: pipectl_registry::FetchOptions {
                offline: args.offline,
                locked: args.locked,
            },
        }),
    )?;
    if uses_registry && lock.render() != lock_before {
        lock.save()?;
    }
    manifest
        .stages
        .iter()
        .zip(inputs)
        .map(|(stage, input)| {
            let call = match &stage.call {
                Some(spec) => CallSpec::parse(spec)
                    .map_err(|e| anyhow::anyhow!("stage `{}`: `call`: {e}", stage.name))?,
                None => CallSpec::Transform,
            };
            Ok(StageDef {
                name: stage.name.clone(),
                bytes: input.bytes,
                grants: stage.grants.clone(),
                limits: fallback(stage.limits, manifest.limits),
                call,
            })
        })
        .collect()
}

/// A stage name from a file name: its stem.
fn stage_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "component".to_string())
}

fn utf8(bytes: Vec<u8>, what: &str) -> anyhow::Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{what} is not UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

fn read_inputs(args: &RunArgs) -> anyhow::Result<Vec<Input>> {
    if let Some(dir) = &args.input_dir {
        let mut files: Vec<PathBuf> = fs_err::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        if let Some(out) = &args.output_dir {
            fs_err::create_dir_all(out)?;
        }
        return files
            .iter()
            .map(|f| {
                let label = f
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                Ok(Input {
                    text: utf8(fs_err::read(f)?, &format!("`{}`", f.display()))?,
                    label,
                })
            })
            .collect();
    }
    let (text, source) = match &args.input {
        Some(path) => (
            utf8(fs_err::read(path)?, &format!("`{}`", path.display()))?,
            path.display().to_string(),
        ),
        None => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("failed to read stdin")?;
            (utf8(buf, "stdin")?, "stdin".to_string())
        }
    };
    if args.lines {
        return Ok(text
            .lines()
            .enumerate()
            .map(|(i, line)| Input {
                label: format!("line {}", i + 1),
                text: line.to_string(),
            })
            .collect());
    }
    Ok(vec![Input {
        label: source,
        text,
    }])
}
