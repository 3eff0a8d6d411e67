//! `pipectl serve`: a pipeline behind HTTP, loaded as `pipectl run` loads
//! it (grants, limits, the precompiled cache), reloaded in place.

use std::path::PathBuf;
use std::sync::Arc;

use pipectl_run::{Host, RunPlan};
use pipectl_serve::{Loader, LogFormat, ServeConfig};

use crate::Outcome;
use crate::cli::opts::{LogFormatArg, ServeArgs};

/// The files whose change reloads: the target, and for a manifest its
/// stages' files (a registry stage reloads when its lockfile changes).
fn watched(target: &std::path::Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = vec![target.to_path_buf()];
    if target.extension().is_some_and(|e| e == "toml") {
        let m = pipectl_manifest::Manifest::load(target)?;
        for s in &m.stages {
            if let pipectl_manifest::StageSource::Path(p) = &s.source {
                files.push(p.clone());
            }
        }
        files.push(m.base_dir().join("pipectl.lock"));
    }
    Ok(files)
}

/// Runs `pipectl serve`.
pub fn run(args: ServeArgs) -> anyhow::Result<Outcome> {
    if !args.listen.ip().is_loopback() && !args.allow_remote {
        return Err(crate::cli::failure::Usage(format!(
            "{} is not a loopback address: serving plain HTTP beyond this machine needs --allow-remote",
            args.listen
        ))
        .into());
    }
    let workers = args.workers.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let run_args = crate::cli::run_request::derived(
        &args.target,
        &args.grant,
        &args.dir,
        &args.env,
        &args.limits,
        &["--workers".into(), workers.to_string()],
    )?;
    let cache = crate::cli::paths::compiled_cache();
    let target = args.target.clone();
    let loader: Loader = Arc::new(move || {
        let load = || -> anyhow::Result<_> {
            let (request, _) = crate::cli::run_request::plan_request(&run_args, workers)?;
            let (plan, _) = RunPlan::new(request)?;
            let artifacts = cache
                .clone()
                .and_then(|dir| pipectl_run::ArtifactCache::open(dir).ok());
            let host = Arc::new(Host::new(&plan.host_config(artifacts))?);
            let pipeline = plan.load(&host)?;
            crate::cli::serve_gate::conformance(&target, &plan)?;
            Ok((plan, host, pipeline))
        };
        load().map_err(|e| format!("{e:#}"))
    });
    let config = ServeConfig {
        listen: args.listen,
        workers,
        queue: args.queue,
        max_body: args.max_body,
        watch: if args.watch {
            watched(&args.target)?
        } else {
            Vec::new()
        },
        log: match args.log_format {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        },
        sink: Arc::new(|line: &str| crate::cli::output::error(line)),
    };
    pipectl_serve::serve(config, loader)?;
    Ok(Outcome::Ok)
}
