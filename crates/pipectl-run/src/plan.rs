//! A run, validated before anything is compiled: the stages with their
//! sources, limits and grants, the workers and the pool they need (built
//! from a raw [`RunRequest`] the caller fills from its flags), and the
//! replay that names the stage a composed component's failure came from.

use std::sync::Arc;
use std::time::Duration;

pub use pipectl_manifest::Grant;
use pipectl_manifest::{Grants, Limits};

use crate::{
    ArtifactCache, CallSpec, FailureKind, Host, HostConfig, LoadError, Pipeline, Plugin,
    StageFailure, StagePolicy,
};

/// The most worker threads a run uses, whatever the caller asks.
pub const MAX_WORKERS: usize = 256;

/// The limits every stage gets unless told otherwise: safe by default.
pub const DEFAULT_LIMITS: Limits = Limits {
    timeout: Some(Duration::from_secs(10)),
    fuel: None,
    max_memory: Some(256 * 1024 * 1024),
    max_output: Some(64 * 1024 * 1024),
};

/// The capabilities `grants` gives, in words.
pub fn describe_grants(grants: &Grants) -> Vec<String> {
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
            pipectl_io::text::clean(&dir.host.display().to_string(), 200)
        ));
    }
    out
}

/// Whose word a manifest's grants and limits are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// The operator named the manifest (or said to trust it): its grants
    /// apply, its limits apply under the operator's.
    Operator,
    /// It came with a folder of components: its grants are ignored, and
    /// its limits cannot exceed the defaults either.
    Folder,
}

/// A stage as its source describes it, not yet validated.
#[derive(Debug, Clone)]
pub struct RawStage {
    /// The stage's name: from the manifest, else the component file's stem.
    pub name: String,
    /// The component's bytes, as read or fetched.
    pub bytes: Vec<u8>,
    /// What its manifest grants it (none for a bare component).
    pub grants: Grants,
    /// What its manifest asks (the stage's own, else the pipeline's).
    pub limits: Limits,
    /// What to call (`None`: `transform`).
    pub call: Option<String>,
}

/// What the caller asks for, from its flags.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The stages, in order.
    pub stages: Vec<RawStage>,
    /// Whose word the stages' grants and limits are.
    pub trust: Trust,
    /// The operator's limits: ceilings for every stage.
    pub limits: Limits,
    /// Capabilities the operator grants every stage.
    pub grants: Grants,
    /// Worker threads asked for (`None`: one per core).
    pub workers: Option<usize>,
    /// How many inputs there are.
    pub inputs: usize,
    /// A fresh instance of every stage for every input.
    pub stateless: bool,
    /// Failures in a row before a stage is given up.
    pub max_restarts: u32,
    /// The stages a composed component embeds, to name the stage a failure
    /// came from.
    pub embedded: Option<Vec<(String, Vec<u8>)>>,
}

/// A stage as the host will run it.
#[derive(Debug, Clone)]
pub struct StageSpec {
    /// The stage's name, used in failures and stats.
    pub name: String,
    /// The component's bytes, as given in its [`RawStage`].
    pub bytes: Vec<u8>,
    /// What it may import.
    pub grants: Grants,
    /// Its limits per call.
    pub limits: Limits,
    /// What is called per input: `transform`, or a method of a resource.
    pub call: CallSpec,
}

/// What building a plan found that the caller should be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanNotice {
    /// A stage asked for more than a ceiling; the ceiling applies.
    LimitsLowered {
        /// The stage whose limits were lowered.
        stage: String,
        /// Each limit asked above its ceiling, in words.
        asked: Vec<String>,
        /// Whose ceiling it was.
        trust: Trust,
    },
    /// Grants of stages whose manifest is not trusted were not applied:
    /// each stage's name and its grants in words.
    GrantsIgnored(Vec<(String, Vec<String>)>),
    /// More workers were asked for than [`MAX_WORKERS`].
    WorkersCapped {
        /// How many were asked for.
        requested: usize,
    },
}

/// Why a request is not a plan.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A stage's `call` does not parse.
    #[error("stage `{stage}`: `call`: {reason}")]
    Call {
        /// The stage whose `call` does not parse.
        stage: String,
        /// Why it does not parse, e.g. neither `transform` nor `<resource>.<method>`.
        reason: String,
    },
}

/// A validated run: effective limits and grants, the workers and the pool size.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// The stages, in order.
    pub stages: Vec<StageSpec>,
    /// Worker threads to run: 1 for a stateful call, else capped by the inputs.
    pub workers: usize,
    /// Live instances the pooling allocator is sized for.
    pub pool_instances: u32,
    /// Failures in a row before a stage is given up.
    pub max_restarts: u32,
    /// A fresh instance of every stage for every input.
    pub stateless: bool,
    /// The stages a composed component embeds.
    pub embedded: Option<Vec<(String, Vec<u8>)>>,
}

impl RunPlan {
    /// Validates `req`: each stage's call, grants (a folder's manifest's
    /// ignored, the operator's added) and limits (under the ceilings, else
    /// the defaults); the workers; the pool.
    pub fn new(req: RunRequest) -> Result<(Self, Vec<PlanNotice>), PlanError> {
        let mut notices = Vec::new();
        let mut ignored = Vec::new();
        let mut stages = Vec::with_capacity(req.stages.len());
        for raw in req.stages {
            let call = match &raw.call {
                Some(spec) => CallSpec::parse(spec).map_err(|reason| PlanError::Call {
                    stage: raw.name.clone(),
                    reason,
                })?,
                None => CallSpec::Transform,
            };
            let mut grants = match req.trust {
                Trust::Operator => raw.grants,
                Trust::Folder => {
                    if raw.grants != Grants::default() {
                        ignored.push((raw.name.clone(), describe_grants(&raw.grants)));
                    }
                    Grants::default()
                }
            };
            grants.merge(&req.grants);
            let (limits, asked) = effective_limits(req.limits, raw.limits, req.trust);
            if !asked.is_empty() {
                notices.push(PlanNotice::LimitsLowered {
                    stage: raw.name.clone(),
                    asked,
                    trust: req.trust,
                });
            }
            stages.push(StageSpec {
                name: raw.name,
                bytes: raw.bytes,
                grants,
                limits,
                call,
            });
        }
        if !ignored.is_empty() {
            notices.push(PlanNotice::GrantsIgnored(ignored));
        }
        let requested = req
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if requested > MAX_WORKERS {
            notices.push(PlanNotice::WorkersCapped { requested });
        }
        let stateful = !req.stateless && stages.iter().any(|s| s.call.is_stateful());
        let workers = if stateful {
            1
        } else {
            requested.clamp(1, MAX_WORKERS).min(req.inputs.max(1))
        };
        let embedded_count = req.embedded.as_ref().map_or(0, Vec::len);
        Ok((
            Self {
                pool_instances: pool_instances(stages.len(), workers, embedded_count),
                stages,
                workers,
                max_restarts: req.max_restarts,
                stateless: req.stateless,
                embedded: req.embedded,
            },
            notices,
        ))
    }

    /// The host this plan needs: fuel metered when a stage has a fuel
    /// limit, memory capped at the largest stage's, the pool sized.
    pub fn host_config(&self, cache: Option<ArtifactCache>) -> HostConfig {
        HostConfig {
            cache,
            fuel: self.stages.iter().any(|s| s.limits.fuel.is_some()),
            pooling: Some(self.pool_instances),
            max_memory: self.stages.iter().filter_map(|s| s.limits.max_memory).max(),
        }
    }

    /// Loads every stage into `host`, in order, as a pipeline.
    pub fn load(&self, host: &Arc<Host>) -> Result<Pipeline, LoadError> {
        let mut plugins = Vec::with_capacity(self.stages.len());
        for s in &self.stages {
            let plugin = host.load(&s.name, &s.bytes, &s.grants, &s.call)?;
            plugins.push((
                Arc::new(plugin),
                StagePolicy {
                    limits: s.limits,
                    max_restarts: self.max_restarts,
                    stateless: self.stateless,
                },
            ));
        }
        Ok(Pipeline::new(host.clone(), plugins))
    }

    /// A composed component reports its typed errors and traps as its own;
    /// to name the stage, each failing input is replayed through the
    /// embedded stages one by one. When the replay fails the same way, the
    /// failure is attributed to that stage; otherwise it stays the
    /// pipeline's. Embedded names are the component's say: cleaned.
    pub fn attribute(
        &self,
        host: &Arc<Host>,
        inputs: &[&str],
        results: &mut [Option<Result<String, StageFailure>>],
    ) -> Result<(), LoadError> {
        let (Some(embedded), Some(composed)) = (&self.embedded, self.stages.first()) else {
            return Ok(());
        };
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
        for (name, bytes) in embedded {
            let name = pipectl_io::text::clean(name, 100);
            let plugin: Plugin = host.load(&name, bytes, &composed.grants, &CallSpec::Transform)?;
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
}

/// One stage's limits: what the manifest asks, never above a ceiling (the
/// operator's; for a folder's manifest, the operator's else the defaults);
/// each unset one from the operator's, else the defaults. Returns, in
/// words, what was asked above a ceiling.
pub fn effective_limits(operator: Limits, asked: Limits, trust: Trust) -> (Limits, Vec<String>) {
    let ceiling = match trust {
        Trust::Operator => operator,
        Trust::Folder => operator.or(DEFAULT_LIMITS),
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

/// Live instances the pooling allocator is sized for: each worker holds
/// one instance per stage and may be replacing one after a trap; replaying
/// a composed component's failures takes one per embedded stage.
pub fn pool_instances(stages: usize, workers: usize, embedded: usize) -> u32 {
    const MAX_INSTANCES: u32 = 10_000;
    stages
        .checked_mul(workers)
        .and_then(|n| n.checked_mul(2))
        .and_then(|n| n.checked_add(embedded))
        .and_then(|n| n.checked_add(8))
        .and_then(|n| u32::try_from(n).ok())
        .map_or(MAX_INSTANCES, |n| n.min(MAX_INSTANCES))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_manifest_is_capped_at_the_defaults_and_loses_its_grants() {
        let asked = Limits {
            timeout: Some(Duration::from_secs(60)),
            ..Limits::default()
        };
        let (limits, lowered) = effective_limits(Limits::default(), asked, Trust::Folder);
        assert_eq!(limits.timeout, DEFAULT_LIMITS.timeout);
        assert_eq!(lowered.len(), 1);
        let (limits, lowered) = effective_limits(Limits::default(), asked, Trust::Operator);
        assert_eq!(limits.timeout, Some(Duration::from_secs(60)));
        assert!(lowered.is_empty());
    }

    #[test]
    fn runtime_is_every_inert_grant() {
        let mut g = Grants::default();
        Grant::Runtime.apply(&mut g);
        assert!(g.clocks && g.random && g.stdio && g.filesystem && g.sockets && g.http);
        assert!(g.dirs.is_empty() && g.env.is_empty());
    }

    #[test]
    fn the_pool_grows_with_workers_and_is_capped() {
        assert_eq!(pool_instances(2, 3, 1), 2 * 3 * 2 + 1 + 8);
        assert_eq!(pool_instances(usize::MAX, 2, 0), 10_000);
    }
}
