//! `pipectl run`: text through a composed component, or through a
//! pipeline's stages chained by the host.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use pipectl_io::text::clean;
use pipectl_manifest::{Grants, Limits, Manifest};
use pipectl_run::{
    ArtifactCache, CallSpec, Host, HostConfig, OutputSink, Pipeline, PluginOutput, StageFailure,
    StagePolicy, StageSummary, StdStream,
};

use crate::Outcome;
use crate::cli::opts::{GrantArg, LimitArgs, RunArgs};
use crate::cli::output::write_atomic;

/// The most worker threads a run uses, whatever `--workers` says.
pub const MAX_WORKERS: usize = 256;

/// The most characters of one failure message (a plugin's rejection, a
/// trap) shown on the terminal.
const MAX_MESSAGE_CHARS: usize = 2000;

/// The most bytes of one line a plugin writes to stdout/stderr shown.
const MAX_PLUGIN_LINE_BYTES: usize = 4096;

/// The most bytes a stage's stdout/stderr may show in one run.
const MAX_PLUGIN_OUTPUT_BYTES: u64 = 1 << 20;

/// Writes a line to stderr; a closed or failing stderr is ignored: a
/// message must never turn into a panic (what `eprintln!` does).
fn eprint_line(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Prints a warning.
fn warn(message: impl std::fmt::Display) {
    eprint_line(&format!("pipectl: warning: {message}"));
}

/// Prints a note (`--verbose`).
fn note(message: impl std::fmt::Display) {
    eprint_line(&format!("pipectl: {message}"));
}

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
    /// The limits given on the command line: ceilings for every stage.
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
    crate::cli::output::allow_replacing_links(args.force);
    let cli_limits = args.limits.to_limits();
    let mut extra = Grants::default();
    add_cli_grants(&args, &mut extra)?;
    let mut stages = stage_defs(&args, cli_limits)?;
    for stage in &mut stages {
        merge_grants(&mut stage.grants, &extra);
    }
    let inputs = read_inputs(&args)?;
    let stateful = !args.stateless && stages.iter().any(|s| s.call.is_stateful());
    let workers = worker_count(args.workers, inputs.len(), stateful);
    let embedded = composed_stages(&args, &stages);

    let fuel = stages.iter().any(|s| s.limits.fuel.is_some());
    let max_memory = stages.iter().filter_map(|s| s.limits.max_memory).max();
    let host = Host::new(&HostConfig {
        cache: artifact_cache(&args),
        fuel,
        pooling: Some(pool_instances(
            stages.len(),
            workers,
            embedded.as_ref().map_or(0, Vec::len),
        )),
        max_memory,
    })?;
    if args.verbose && !host.pooled() {
        note(format_args!(
            "{} live instances do not fit the pooling allocator's address space; allocating them on demand",
            pool_instances(stages.len(), workers, embedded.as_ref().map_or(0, Vec::len))
        ));
    }
    let sink = Arc::new(TerminalSink::default());
    let host = Arc::new(host.with_plugin_output(OutputSink(sink.clone())));
    let mut plugins = Vec::with_capacity(stages.len());
    for s in &stages {
        let plugin = load(&host, &s.name, &s.bytes, &s.grants, &s.call)?;
        if let Some(warning) = &plugin.cache_warning {
            warn(format_args!("stage `{}`: {warning}", plugin.name));
        }
        if args.verbose {
            note(format_args!(
                "stage `{}`: {}",
                plugin.name,
                match plugin.compile {
                    pipectl_run::CompileSource::Compiled => "compiled",
                    pipectl_run::CompileSource::Cache => "loaded precompiled from cache",
                    pipectl_run::CompileSource::Recompiled => "cache entry not used; recompiled",
                }
            ));
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
    if let Some(embedded) = embedded {
        attribute(&host, embedded, &stages[0], &texts, &mut batch.results)?;
    }
    sink.finish();

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
        eprint_line(&format!(
            "pipectl: stopped at the first failure; {not_run} input{} not run (use --keep-going to run all)",
            if not_run == 1 { "" } else { "s" }
        ));
    }
    let summaries: Vec<StageSummary> = batch.stats.iter().map(|s| s.summary()).collect();
    if args.stats {
        let table = pipectl_run::stats::table(&summaries);
        eprint_line(table.trim_end_matches('\n'));
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
        // Names from the component's own metadata: made safe for a terminal.
        let name = clean(name, 100);
        let plugin = load(host, &name, bytes, &composed.grants, &CallSpec::Transform)?;
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

/// Loads a stage. The error can quote the component (a core import's name,
/// wasmtime's reading of it): made safe for a terminal.
fn load(
    host: &Host,
    name: &str,
    bytes: &[u8],
    grants: &Grants,
    call: &CallSpec,
) -> anyhow::Result<pipectl_run::Plugin> {
    host.load(name, bytes, grants, call)
        .map_err(|e| anyhow::anyhow!("{}", clean(&e.to_string(), MAX_MESSAGE_CHARS)))
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
    eprint_line(&format!("error: {}", clean(&line, MAX_MESSAGE_CHARS)));
}

/// How many workers run: `--workers` (default one per core), at most
/// [`MAX_WORKERS`] (saying so when asked for more), never more than there
/// are inputs, and one for a stateful pipeline.
fn worker_count(requested: Option<usize>, inputs: usize, stateful: bool) -> usize {
    let requested =
        requested.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if requested > MAX_WORKERS {
        warn(format_args!(
            "--workers {requested} is more than the {MAX_WORKERS} pipectl runs; using {MAX_WORKERS}"
        ));
    }
    if stateful {
        return 1;
    }
    requested.clamp(1, MAX_WORKERS).min(inputs.max(1))
}

/// Live instances the pooling allocator is sized for: each worker holds
/// one instance per stage and may be replacing one after a trap; replaying
/// a composed component's failures takes one per embedded stage.
fn pool_instances(stages: usize, workers: usize, embedded: usize) -> u32 {
    const MAX_INSTANCES: u32 = 10_000;
    stages
        .checked_mul(workers)
        .and_then(|n| n.checked_mul(2))
        .and_then(|n| n.checked_add(embedded))
        .and_then(|n| n.checked_add(8))
        .and_then(|n| u32::try_from(n).ok())
        .map_or(MAX_INSTANCES, |n| n.min(MAX_INSTANCES))
}

/// The precompiled cache, sealed with the user's key; without a usable
/// key (or with `--no-cache`) the run compiles every stage.
fn artifact_cache(args: &RunArgs) -> Option<ArtifactCache> {
    if args.no_cache {
        return None;
    }
    let dir = args.cache_dir.clone().or_else(ArtifactCache::default_dir)?;
    match ArtifactCache::open(dir) {
        Ok(cache) => Some(cache),
        Err(e) => {
            warn(format_args!(
                "not using the precompiled cache: {e}; every stage is compiled"
            ));
            None
        }
    }
}

/// Shows what plugins granted `stdio` write, on stderr, line by line: each
/// line's control characters escaped and long lines cut, at most
/// [`MAX_PLUGIN_OUTPUT_BYTES`] per stage, with a count of what was not shown.
#[derive(Default)]
struct TerminalSink {
    state: Mutex<SinkState>,
}

#[derive(Default)]
struct SinkState {
    /// Per stage and stream: the line so far, and bytes cut from it.
    partial: BTreeMap<(String, bool), (Vec<u8>, u64)>,
    /// Per stage: bytes shown, and bytes not shown once over the budget.
    shown: BTreeMap<String, (u64, u64)>,
}

impl SinkState {
    fn emit(&mut self, key: &(String, bool)) {
        let Some((line, cut)) = self.partial.remove(key) else {
            return;
        };
        let (shown, hidden) = self.shown.entry(key.0.clone()).or_default();
        if *shown >= MAX_PLUGIN_OUTPUT_BYTES {
            *hidden = hidden.saturating_add(line.len() as u64 + cut + 1);
            return;
        }
        *shown = shown.saturating_add(line.len() as u64 + 1);
        let mut text = clean(&String::from_utf8_lossy(&line), MAX_PLUGIN_LINE_BYTES);
        if cut > 0 {
            text.push_str(&format!("… ({cut} more bytes of this line cut)"));
        }
        eprint_line(&text);
    }
}

impl PluginOutput for TerminalSink {
    fn write(&self, stage: &str, stream: StdStream, bytes: &[u8]) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let key = (stage.to_string(), stream == StdStream::Stdout);
        for chunk in bytes.split_inclusive(|b| *b == b'\n') {
            let (body, complete) = match chunk.strip_suffix(b"\n") {
                Some(body) => (body, true),
                None => (chunk, false),
            };
            let (line, cut) = state.partial.entry(key.clone()).or_default();
            let room = MAX_PLUGIN_LINE_BYTES.saturating_sub(line.len());
            let kept = body.len().min(room);
            line.extend_from_slice(&body[..kept]);
            *cut = cut.saturating_add((body.len() - kept) as u64);
            if complete {
                state.emit(&key);
            }
        }
    }
}

impl TerminalSink {
    /// Shows unfinished lines, and how much each stage wrote that was not
    /// shown.
    fn finish(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let keys: Vec<_> = state.partial.keys().cloned().collect();
        for key in keys {
            state.emit(&key);
        }
        for (stage, (_, hidden)) in &state.shown {
            if *hidden > 0 {
                warn(format_args!(
                    "stage `{stage}` wrote {hidden} more bytes to stdout/stderr than the \
                     {MAX_PLUGIN_OUTPUT_BYTES} shown"
                ));
            }
        }
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

/// Whose word a manifest's grants and limits are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trust {
    /// The operator named the manifest, or passed `--trust-manifest`: its
    /// grants apply, its limits apply under the command line's.
    Operator,
    /// It came with a `--plugins` folder: its grants are ignored, and its
    /// limits cannot exceed the defaults either.
    Folder,
}

/// One stage's limits: what the manifest asks (the stage's own, else the
/// pipeline's), never above a limit given on the command line (a ceiling),
/// nor, for a manifest that came with a folder, above the defaults; each
/// unset one from the command line, else the defaults. Returns what the
/// manifest asked above a ceiling, to say so.
fn effective_limits(cli: Limits, asked: Limits, trust: Trust) -> (Limits, Vec<String>) {
    let ceiling = match trust {
        Trust::Operator => cli,
        Trust::Folder => cli.or(DEFAULT_LIMITS),
    };
    let mut lowered = Vec::new();
    fn pick<T: Ord + Copy>(
        ceiling: Option<T>,
        asked: Option<T>,
        default: Option<T>,
        over: impl FnOnce(T, T),
    ) -> Option<T> {
        match (ceiling, asked) {
            (Some(c), Some(a)) if a > c => {
                over(a, c);
                Some(c)
            }
            (_, Some(a)) => Some(a),
            (Some(c), None) => Some(c),
            (None, None) => default,
        }
    }
    let limits = Limits {
        timeout: pick(
            ceiling.timeout,
            asked.timeout,
            DEFAULT_LIMITS.timeout,
            |a, c| lowered.push(format!("a timeout of {a:?} (the ceiling is {c:?})")),
        ),
        fuel: pick(ceiling.fuel, asked.fuel, DEFAULT_LIMITS.fuel, |a, c| {
            lowered.push(format!("{a} fuel (the ceiling is {c})"))
        }),
        max_memory: pick(
            ceiling.max_memory,
            asked.max_memory,
            DEFAULT_LIMITS.max_memory,
            |a, c| lowered.push(format!("{a} bytes of memory (the ceiling is {c})")),
        ),
        max_output: pick(
            ceiling.max_output,
            asked.max_output,
            DEFAULT_LIMITS.max_output,
            |a, c| lowered.push(format!("{a} bytes of output (the ceiling is {c})")),
        ),
    };
    (limits, lowered)
}

/// The capabilities `grants` gives, in words, for a warning.
fn describe_grants(grants: &Grants) -> Vec<String> {
    let mut out = Vec::new();
    for (on, name) in [
        (grants.clocks, "clocks"),
        (grants.random, "random"),
        (grants.stdio, "stdio"),
        (grants.filesystem, "filesystem"),
        (grants.sockets, "sockets"),
        (grants.http, "http"),
    ] {
        if on {
            out.push(name.to_string());
        }
    }
    if !grants.env.is_empty() {
        out.push(format!("{} environment variables", grants.env.len()));
    }
    for dir in &grants.dirs {
        out.push(format!(
            "{} `{}`",
            if dir.writable {
                "read-write directory"
            } else {
                "directory"
            },
            clean(&dir.host.display().to_string(), 200)
        ));
    }
    out
}

/// The stages to run, from a manifest, a component or a plugins folder.
fn stage_defs(args: &RunArgs, cli: Limits) -> anyhow::Result<Vec<StageDef>> {
    let call = match &args.call {
        Some(spec) => CallSpec::parse(spec).map_err(|e| anyhow::anyhow!("--call: {e}"))?,
        None => CallSpec::Transform,
    };
    let limits = effective_limits(cli, Limits::default(), Trust::Operator).0;
    if let Some(dir) = &args.plugins {
        let manifest = dir.join("pipeline.toml");
        if manifest.exists() {
            let trust = if args.trust_manifest {
                Trust::Operator
            } else {
                Trust::Folder
            };
            return manifest_stages(&manifest, &Manifest::load(&manifest)?, cli, trust, args);
        }
        let mut files: Vec<PathBuf> = fs_err::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("`{}` holds no `.wasm` components", dir.display());
        }
        warn(format_args!(
            "`{}` has no pipeline.toml; running its {} components in file-name order",
            dir.display(),
            files.len()
        ));
        return files
            .iter()
            .map(|f| {
                Ok(StageDef {
                    name: stage_name(f),
                    bytes: fs_err::read(f)?,
                    grants: Grants::default(),
                    limits,
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
        // Named by the operator: its grants are the operator's choice.
        return manifest_stages(target, &Manifest::load(target)?, cli, Trust::Operator, args);
    }
    let bytes = fs_err::read(target)?;
    // The name a composed component carries is the component's say:
    // shown in messages, so made safe for a terminal.
    let name = pipectl_compose::read_metadata(&bytes)
        .map(|m| clean(&m.name, 100))
        .unwrap_or_else(|| stage_name(target));
    Ok(vec![StageDef {
        name,
        bytes,
        grants: Grants::default(),
        limits,
        call,
    }])
}

fn manifest_stages(
    path: &Path,
    manifest: &Manifest,
    cli: Limits,
    trust: Trust,
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
    let mut ignored = Vec::new();
    let stages = manifest
        .stages
        .iter()
        .zip(inputs)
        .map(|(stage, input)| {
            let call = match &stage.call {
                Some(spec) => CallSpec::parse(spec)
                    .map_err(|e| anyhow::anyhow!("stage `{}`: `call`: {e}", stage.name))?,
                None => CallSpec::Transform,
            };
            let grants = match trust {
                Trust::Operator => stage.grants.clone(),
                Trust::Folder => {
                    if stage.grants != Grants::default() {
                        ignored.push(format!(
                            "`{}` ({})",
                            stage.name,
                            describe_grants(&stage.grants).join(", ")
                        ));
                    }
                    Grants::default()
                }
            };
            let (limits, lowered) = effective_limits(cli, stage.limits.or(manifest.limits), trust);
            if !lowered.is_empty() {
                warn(format_args!(
                    "stage `{}` asks for {}; using the ceiling{}",
                    stage.name,
                    lowered.join(", "),
                    match trust {
                        Trust::Operator => " given on the command line",
                        Trust::Folder =>
                            " (the command line's, else the defaults, for a manifest that came with `--plugins`)",
                    }
                ));
            }
            Ok(StageDef {
                name: stage.name.clone(),
                bytes: input.bytes,
                grants,
                limits,
                call,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if !ignored.is_empty() {
        warn(format_args!(
            "{} grants capabilities that were not applied: stage {}; a manifest found in a \
             `--plugins` folder is not trusted with grants: pass `--trust-manifest`, or run the \
             manifest itself (`pipectl run {}`), to apply them",
            path.display(),
            ignored.join(", stage "),
            path.display()
        ));
    }
    Ok(stages)
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
