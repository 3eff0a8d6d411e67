//! `pipectl run`'s flags as a raw [`RunRequest`]: which stages (a manifest,
//! a component, a folder), the operator's grants and limits, the inputs;
//! and the plan's notices in words that name the flags.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use pipectl_io::text::clean;
use pipectl_manifest::{Grants, Limits, Manifest};
use pipectl_run::{CallSpec, PlanNotice, RawStage, RunRequest, Trust};

use crate::cli::opts::{RegistryArgs, RunArgs};
use crate::cli::output::warn;

/// One input and where it came from.
pub struct Input {
    /// A file name, `line N`, `stdin`.
    pub label: String,
    /// The text.
    pub text: String,
}

/// The request `args` make, the manifest it names (for messages), and the
/// inputs.
pub fn request(args: &RunArgs) -> anyhow::Result<(RunRequest, Option<PathBuf>, Vec<Input>)> {
    let inputs = read_inputs(args)?;
    let (request, manifest) = plan_request(args, inputs.len())?;
    Ok((request, manifest, inputs))
}

/// The request `args` make for `inputs` inputs (read elsewhere), and the
/// manifest it names.
pub fn plan_request(
    args: &RunArgs,
    inputs: usize,
) -> anyhow::Result<(RunRequest, Option<PathBuf>)> {
    if let Some(spec) = &args.call {
        CallSpec::parse(spec).map_err(|e| anyhow::anyhow!("--call: {e}"))?;
    }
    let grants = cli_grants(args)?;
    let (stages, trust, manifest) = stages(args)?;
    // A composed component named as the target: its embedded stages name
    // where a failure came from.
    let embedded = match (&args.target, stages.as_slice()) {
        (Some(t), [only]) if t.extension().is_none_or(|e| e != "toml") => {
            pipectl_compose::embedded_stages(&only.bytes)
        }
        _ => None,
    };
    let l = &args.limits;
    let request = RunRequest {
        stages,
        trust,
        limits: Limits {
            timeout: l.timeout,
            fuel: l.fuel,
            max_memory: l.max_memory,
            max_output: l.max_output,
        },
        grants,
        workers: args.workers,
        inputs,
        stateless: args.stateless,
        max_restarts: args.max_restarts,
        embedded,
    };
    Ok((request, manifest))
}

/// A notice of the plan, as a warning naming the flags.
pub fn render(notice: &PlanNotice, manifest: Option<&Path>) -> String {
    match notice {
        PlanNotice::LimitsLowered {
            stage,
            asked,
            trust,
        } => format!(
            "stage `{stage}` asks for {}; using the ceiling{}",
            asked.join(", "),
            match trust {
                Trust::Operator => " given on the command line",
                Trust::Folder =>
                    " (the command line's, else the defaults, for a manifest that came with `--plugins`)",
            }
        ),
        PlanNotice::GrantsIgnored(stages) => {
            let path = manifest
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let ignored: Vec<String> = stages
                .iter()
                .map(|(name, grants)| format!("`{name}` ({})", grants.join(", ")))
                .collect();
            format!(
                "{path} grants capabilities that were not applied: stage {}; a manifest found in \
                 a `--plugins` folder is not trusted with grants: pass `--trust-manifest`, or run \
                 the manifest itself (`pipectl run {path}`), to apply them",
                ignored.join(", stage "),
            )
        }
        PlanNotice::WorkersCapped { requested } => {
            let max = pipectl_run::MAX_WORKERS;
            format!("--workers {requested} is more than the {max} pipectl runs; using {max}")
        }
    }
}

/// The `--grant`, `--dir` and `--env` capabilities.
fn cli_grants(args: &RunArgs) -> anyhow::Result<Grants> {
    let mut grants = Grants::default();
    for grant in &args.grant {
        grant.grant().apply(&mut grants);
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
    Ok(grants)
}

/// The stages: a manifest's (named, or a folder's `pipeline.toml`), a
/// folder's components in file-name order, or one component.
fn stages(args: &RunArgs) -> anyhow::Result<(Vec<RawStage>, Trust, Option<PathBuf>)> {
    let bare = |name: String, bytes: Vec<u8>| RawStage {
        name,
        bytes,
        grants: Grants::default(),
        limits: Limits::default(),
        call: args.call.clone(),
    };
    if let Some(dir) = &args.plugins {
        let manifest = dir.join("pipeline.toml");
        if manifest.exists() {
            let trust = match args.trust_manifest {
                true => Trust::Operator,
                false => Trust::Folder,
            };
            return Ok((manifest_stages(&manifest, args)?, trust, Some(manifest)));
        }
        let mut files: Vec<PathBuf> = fs_err::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("`{}` holds no `.wasm` components", dir.display());
        }
        if !args.order_by_name {
            // The order of stages is the pipeline's meaning: never left to
            // how files happen to be named.
            let names: Vec<String> = files.iter().map(|f| stage_name(f)).collect();
            return Err(crate::cli::failure::Usage(format!(
                "`{}` has no pipeline.toml, so the order of its {} components is unknown; write one \
                 (`name`, `version`, `world`, `wit`, then a `[[stage]]` with `name` and `path` \
                 per component, in order: {}), or pass --order-by-name to run them in file-name order",
                dir.display(),
                files.len(),
                names.join(", ")
            ))
            .into());
        }
        warn(&format!(
            "pipectl: warning: `{}` has no pipeline.toml; running its {} components in file-name order (--order-by-name)",
            dir.display(),
            files.len()
        ));
        let stages = files
            .iter()
            .map(|f| Ok(bare(stage_name(f), fs_err::read(f)?)))
            .collect::<anyhow::Result<_>>()?;
        return Ok((stages, Trust::Operator, None));
    }
    let target = args
        .target
        .as_ref()
        .expect("clap requires a target or --plugins");
    if target.extension().is_some_and(|e| e == "toml") {
        // Named by the operator: its grants are the operator's choice.
        let stages = manifest_stages(target, args)?;
        return Ok((stages, Trust::Operator, Some(target.clone())));
    }
    let bytes = fs_err::read(target)?;
    let metadata = pipectl_compose::read_metadata(&bytes);
    if let Some(adapter) = metadata.as_ref().and_then(|m| m.adapter.as_deref()) {
        return Err(crate::cli::failure::Usage(format!(
            "`{}` was composed with `--adapter {}`: it is a command or an HTTP handler for \
             another engine (`wasmtime run`/`serve`, `jco run`/`serve`), not a pipeline stage; \
             compose without `--adapter` to run or serve it with pipectl",
            target.display(),
            clean(adapter, 20)
        ))
        .into());
    }
    // The name a composed component carries is the component's say:
    // shown in messages, so made safe for a terminal.
    let name = metadata
        .map(|m| clean(&m.name, 100))
        .unwrap_or_else(|| stage_name(target));
    Ok((vec![bare(name, bytes)], Trust::Operator, None))
}

/// A manifest's stages; registry stages through its lockfile, as `compose`
/// reads them.
fn manifest_stages(path: &Path, args: &RunArgs) -> anyhow::Result<Vec<RawStage>> {
    let manifest = Manifest::load(path)?;
    let (inputs, pinned) = crate::cli::stages::load_stages(
        &manifest,
        &RegistryArgs {
            cache_dir: args.cache_dir.clone(),
            ..RegistryArgs::from_access(args.registry.clone())
        },
        pipectl_registry::FetchOptions {
            offline: args.offline,
            locked: args.locked,
        },
    )?;
    pinned.save_lock()?;
    Ok(manifest
        .stages
        .iter()
        .zip(inputs)
        .map(|(stage, input)| RawStage {
            name: stage.name.clone(),
            bytes: input.bytes,
            grants: stage.grants.clone(),
            limits: stage.limits.or(manifest.limits),
            call: stage.call.clone(),
        })
        .collect())
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

/// The inputs: each file of `--input-dir`, each line with `--lines`, or
/// all of `--input` or stdin.
pub fn read_inputs(args: &RunArgs) -> anyhow::Result<Vec<Input>> {
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

/// `pipectl run TARGET`'s arguments for a command that runs a target the
/// way `run` does (`compare`'s sides, `serve`): its grants, directories,
/// variables and limits, and `extra` flags of `run`'s own.
pub fn derived(
    target: &Path,
    grants: &[crate::cli::opts::GrantArg],
    dirs: &[String],
    env: &[String],
    limits: &crate::cli::opts::LimitArgs,
    extra: &[String],
) -> anyhow::Result<RunArgs> {
    use clap::{Args as _, FromArgMatches as _};
    let mut argv: Vec<String> = vec!["run".into(), target.display().to_string()];
    let mut flag = |name: &str, value: String| {
        argv.push(format!("--{name}"));
        argv.push(value);
    };
    for g in grants {
        if let Some(v) = clap::ValueEnum::to_possible_value(g) {
            flag("grant", v.get_name().to_string());
        }
    }
    for d in dirs {
        flag("dir", d.clone());
    }
    for e in env {
        flag("env", e.clone());
    }
    if let Some(t) = limits.timeout {
        flag("timeout", format!("{}ms", t.as_millis()));
    }
    if let Some(f) = limits.fuel {
        flag("fuel", f.to_string());
    }
    if let Some(m) = limits.max_memory {
        flag("max-memory", m.to_string());
    }
    if let Some(o) = limits.max_output {
        flag("max-output", o.to_string());
    }
    argv.extend(extra.iter().cloned());
    let matches = RunArgs::augment_args(clap::Command::new("run")).try_get_matches_from(argv)?;
    Ok(RunArgs::from_arg_matches(&matches)?)
}
