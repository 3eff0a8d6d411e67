//! A pipeline of loaded stages, and sessions that run inputs through it:
//! one at a time, or in parallel on several workers.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::host::{Host, Plugin};
use crate::stage::{StageFailure, StageHealth, StagePolicy, StageRunner};
use crate::stats::StageStats;

/// Loaded stages, in order, each with its policy.
pub struct Pipeline {
    host: Arc<Host>,
    stages: Vec<(Arc<Plugin>, StagePolicy)>,
    /// Each stage's failures in a row, across every session.
    health: Vec<Arc<StageHealth>>,
}

impl Pipeline {
    /// A pipeline of `stages` on `host`.
    pub fn new(host: Arc<Host>, stages: Vec<(Arc<Plugin>, StagePolicy)>) -> Self {
        let health = stages.iter().map(|_| Arc::default()).collect();
        Self {
            host,
            stages,
            health,
        }
    }

    /// The host the stages were loaded on, shared by every session.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The stages' plugins, in order.
    pub fn plugins(&self) -> impl Iterator<Item = &Plugin> {
        self.stages.iter().map(|(p, _)| &**p)
    }

    /// Whether any stage keeps state across inputs (a resource method), so
    /// inputs must run in order on one worker.
    pub fn is_stateful(&self) -> bool {
        self.stages
            .iter()
            .any(|(p, policy)| p.call.is_stateful() && !policy.stateless)
    }

    /// A session: live instances for one worker.
    pub fn session(&self) -> Session<'_> {
        Session {
            pipeline: self,
            runners: self
                .stages
                .iter()
                .zip(&self.health)
                .map(|((plugin, policy), health)| {
                    StageRunner::sharing(plugin.clone(), *policy, health.clone())
                })
                .collect(),
        }
    }

    /// Runs `inputs` on `workers` threads (one when the pipeline is
    /// stateful). Unless `keep_going`, no new input starts after the first
    /// failure; inputs not run are `None`.
    pub fn run_batch<I: AsRef<str> + Sync>(
        &self,
        inputs: &[I],
        workers: usize,
        keep_going: bool,
    ) -> BatchResult {
        // A batch starts with every stage in good standing.
        for health in &self.health {
            health.reset();
        }
        let workers = if self.is_stateful() {
            1
        } else {
            workers.clamp(1, inputs.len().max(1))
        };
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let results: Vec<Mutex<Option<Result<String, StageFailure>>>> =
            inputs.iter().map(|_| Mutex::new(None)).collect();
        let elapsed: Vec<Mutex<std::time::Duration>> = inputs
            .iter()
            .map(|_| Mutex::new(std::time::Duration::ZERO))
            .collect();
        let stats: Vec<Vec<StageStats>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        let mut session = self.session();
                        loop {
                            if stop.load(Ordering::Relaxed) {
                                break;
                            }
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(input) = inputs.get(i) else { break };
                            let start = std::time::Instant::now();
                            let result = session.run(input.as_ref());
                            *elapsed[i].lock().unwrap_or_else(|e| e.into_inner()) = start.elapsed();
                            if result.is_err() && !keep_going {
                                stop.store(true, Ordering::Relaxed);
                            }
                            *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                        }
                        session.into_stats()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        let mut merged: Vec<StageStats> = self
            .stages
            .iter()
            .map(|(p, _)| StageStats::new(&p.name))
            .collect();
        for worker in &stats {
            for (total, s) in merged.iter_mut().zip(worker) {
                total.merge(s);
            }
        }
        BatchResult {
            results: results
                .into_iter()
                .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
                .collect(),
            elapsed: elapsed
                .into_iter()
                .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
                .collect(),
            stats: merged,
            workers,
        }
    }
}

/// What a batch produced.
pub struct BatchResult {
    /// Per input, in input order: its output or failure; `None` if it was
    /// not run (after a failure, without `keep_going`).
    pub results: Vec<Option<Result<String, StageFailure>>>,
    /// Per input, how long it took through every stage.
    pub elapsed: Vec<std::time::Duration>,
    /// Per stage, merged over workers.
    pub stats: Vec<StageStats>,
    /// How many workers ran.
    pub workers: usize,
}

/// One worker's live instances of every stage.
pub struct Session<'p> {
    pipeline: &'p Pipeline,
    runners: Vec<StageRunner>,
}

impl Session<'_> {
    /// Runs `input` through every stage in order; the first failure stops
    /// the chain and names its stage.
    pub fn run(&mut self, input: &str) -> Result<String, StageFailure> {
        let host = &*self.pipeline.host;
        let mut runners = self.runners.iter_mut();
        let Some(first) = runners.next() else {
            return Ok(input.to_string());
        };
        let mut current = first.call(host, input)?;
        for runner in runners {
            current = runner.call(host, &current)?;
        }
        Ok(current)
    }

    /// Hands each stage's call latencies (microseconds) since the last
    /// drain to `f`, with the stage's name, and forgets them: a long-lived
    /// session (a server's) drains after each input so they do not pile up.
    pub fn drain_latencies(&mut self, mut f: impl FnMut(&str, u64)) {
        for runner in &mut self.runners {
            let stats = &mut runner.stats;
            for micros in stats.latencies_us.drain(..) {
                f(&stats.name, micros);
            }
        }
    }

    /// The session's measurements, per stage.
    pub fn into_stats(self) -> Vec<StageStats> {
        self.runners.into_iter().map(|r| r.stats).collect()
    }
}
