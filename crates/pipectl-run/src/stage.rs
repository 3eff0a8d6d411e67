//! Running one stage: a live instance reused across inputs, limits per call,
//! a fresh instance after a trap, and a stage given up after too many
//! failures in a row.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pipectl_manifest::Limits;
use wasmtime::component::{ComponentType, Func, Lift, Lower, ResourceAny};
use wasmtime::{Store, Trap};

use crate::host::{Entry, Host, Plugin, StageState};
use crate::stats::StageStats;

/// The contract's error type, as the canonical ABI lifts it.
#[derive(ComponentType, Lift, Lower, Debug, Clone, PartialEq, Eq)]
#[component(variant)]
pub enum TransformError {
    /// The input does not meet the stage's preconditions.
    #[component(name = "invalid-input")]
    InvalidInput(String),
    /// The stage could not process well-formed input.
    #[component(name = "processing-failed")]
    ProcessingFailed(String),
}

impl TransformError {
    /// The WIT case name.
    pub fn case(&self) -> &'static str {
        match self {
            TransformError::InvalidInput(_) => "invalid-input",
            TransformError::ProcessingFailed(_) => "processing-failed",
        }
    }

    /// The message the component gave with its error case.
    pub fn message(&self) -> &str {
        match self {
            TransformError::InvalidInput(m) | TransformError::ProcessingFailed(m) => m,
        }
    }
}

/// Which limit an input exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LimitKind {
    /// Wall-clock time for one call (`timeout`).
    Timeout,
    /// Fuel, roughly wasm instructions, for one call.
    Fuel,
    /// Linear memory, in bytes.
    Memory,
    /// The size of the call's output, in bytes.
    Output,
}

impl LimitKind {
    /// The limit's name in messages and stats: `timeout`, `fuel`, `memory`, `output`.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Timeout => "timeout",
            LimitKind::Fuel => "fuel",
            LimitKind::Memory => "memory",
            LimitKind::Output => "output",
        }
    }
}

/// Why an input failed at a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// The stage returned its typed error.
    Rejected {
        /// The error case, e.g. `invalid-input`.
        case: String,
        /// The message the component gave with the error case.
        message: String,
    },
    /// The stage trapped: a wasm trap or a host error other than a limit.
    Trap {
        /// The trap, e.g. `wasm trap: wasm \`unreachable\` instruction executed`.
        message: String,
    },
    /// A limit was exceeded.
    Limit {
        /// Which limit was exceeded.
        limit: LimitKind,
        /// The limit and what happened.
        detail: String,
    },
    /// The stage failed too many times in a row and was given up.
    StageFailed {
        /// How many failures in a row gave the stage up (`--max-restarts` exceeded).
        failures: u32,
    },
    /// A fresh instance could not be created.
    Instantiate {
        /// wasmtime's message on instantiating the component.
        message: String,
    },
}

/// An input's failure: the stage and the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageFailure {
    /// The stage the input failed at, by its stage name.
    pub stage: String,
    /// How it failed: rejected, trapped, over a limit, or given up.
    pub kind: FailureKind,
}

impl std::fmt::Display for StageFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stage = &self.stage;
        match &self.kind {
            FailureKind::Rejected { case, message } => {
                write!(f, "stage `{stage}` rejected the input: {case}: {message}")
            }
            FailureKind::Trap { message } => write!(f, "stage `{stage}` trapped: {message}"),
            FailureKind::Limit { limit, detail } => {
                write!(
                    f,
                    "stage `{stage}` exceeded its {} limit: {detail}",
                    limit.as_str()
                )
            }
            FailureKind::StageFailed { failures } => write!(
                f,
                "stage `{stage}` failed {failures} times in a row and was stopped"
            ),
            FailureKind::Instantiate { message } => {
                write!(f, "stage `{stage}` could not be instantiated: {message}")
            }
        }
    }
}

/// How a stage runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StagePolicy {
    /// The limits each call runs under: time, fuel, memory, output size.
    pub limits: Limits,
    /// Failures (traps, limits) in a row before the stage is given up.
    pub max_restarts: u32,
    /// A fresh instance for every input.
    pub stateless: bool,
}

/// A live instance of a stage.
struct Live {
    store: Store<StageState>,
    func: Func,
    /// The resource the method is called on, for [`Entry::Method`].
    resource: Option<ResourceAny>,
}

/// A stage's failures in a row and whether it was given up, shared by
/// every worker that runs it: `--max-restarts` counts the stage's calls,
/// not one worker's.
#[derive(Debug, Default)]
pub struct StageHealth {
    failures_in_a_row: std::sync::atomic::AtomicU32,
    given_up: std::sync::atomic::AtomicBool,
    /// The count when the stage was given up (a call in flight on another
    /// worker may still succeed and reset `failures_in_a_row`).
    given_up_after: std::sync::atomic::AtomicU32,
}

impl StageHealth {
    fn failures(&self) -> u32 {
        self.failures_in_a_row.load(Ordering::Relaxed)
    }

    /// Back to no failures, not given up.
    pub(crate) fn reset(&self) {
        self.failures_in_a_row.store(0, Ordering::Relaxed);
        self.given_up.store(false, Ordering::Relaxed);
        self.given_up_after.store(0, Ordering::Relaxed);
    }

    fn given_up(&self) -> bool {
        self.given_up.load(Ordering::Relaxed)
    }

    fn succeeded(&self) {
        // Read first: workers sharing a stage then write its cache line
        // only after a failure, not on every call.
        if self.failures() != 0 {
            self.failures_in_a_row.store(0, Ordering::Relaxed);
        }
    }

    /// Counts a failure; gives the stage up past `max_restarts`.
    fn failed(&self, max_restarts: u32) {
        let now = self.failures_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
        if now > max_restarts {
            self.given_up_after.fetch_max(now, Ordering::Relaxed);
            self.given_up.store(true, Ordering::Relaxed);
        }
    }
}

/// Runs one stage for one worker.
pub struct StageRunner {
    plugin: Arc<Plugin>,
    policy: StagePolicy,
    live: Option<Live>,
    health: Arc<StageHealth>,
    /// This runner's calls, outcomes and latencies, merged into the stage's stats.
    pub stats: StageStats,
}

impl StageRunner {
    /// A runner for `plugin`; instances are created on first use.
    pub fn new(plugin: Arc<Plugin>, policy: StagePolicy) -> Self {
        Self::sharing(plugin, policy, Arc::default())
    }

    /// A runner whose failures count together with every other runner of
    /// the same `health`.
    pub fn sharing(plugin: Arc<Plugin>, policy: StagePolicy, health: Arc<StageHealth>) -> Self {
        Self {
            stats: StageStats::new(&plugin.name),
            plugin,
            policy,
            live: None,
            health,
        }
    }

    /// The stage's name: the manifest's, or the component's file stem.
    pub fn name(&self) -> &str {
        &self.plugin.name
    }

    fn failure(&self, kind: FailureKind) -> StageFailure {
        StageFailure {
            stage: self.plugin.name.clone(),
            kind,
        }
    }

    fn instantiate(&mut self, host: &Host) -> Result<Live, FailureKind> {
        let err = |e: wasmtime::Error| FailureKind::Instantiate {
            message: format!("{e:#}"),
        };
        let state = StageState::new(
            &self.plugin.name,
            &self.plugin.grants,
            self.policy.limits.max_memory,
            host.plugin_output(),
        )
        .map_err(|message| FailureKind::Instantiate { message })?;
        let mut store = Store::new(host.engine(), state);
        store.limiter(|s| &mut s.limiter);
        // Start-up (start functions, a resource's constructor) runs under
        // the same limits as a call.
        let limits = self.policy.limits;
        let arm = |store: &mut Store<StageState>| -> Result<std::time::Instant, FailureKind> {
            arm_timeout(store, host, limits.timeout);
            if host.fuel() {
                store
                    .set_fuel(limits.fuel.unwrap_or(u64::MAX))
                    .map_err(err)?;
            }
            Ok(Instant::now())
        };
        let started = arm(&mut store)?;
        let instance = self.plugin.pre.instantiate(&mut store).map_err(|e| {
            let hit = store.data().limiter.hit;
            classify_error(&e, hit, &limits, started.elapsed())
        })?;
        let (func, resource) = match &self.plugin.entry {
            Entry::Transform(idx) => (
                instance
                    .get_func(&mut store, idx)
                    .ok_or_else(|| err(wasmtime::format_err!("`transform` is not a function")))?,
                None,
            ),
            Entry::Method {
                constructor,
                method,
            } => {
                let ctor = instance
                    .get_typed_func::<(), (ResourceAny,)>(&mut store, constructor)
                    .map_err(err)?;
                let started = arm(&mut store)?;
                let (resource,) = ctor.call(&mut store, ()).map_err(|e| {
                    let hit = store.data().limiter.hit;
                    classify_error(&e, hit, &limits, started.elapsed())
                })?;
                let func = instance
                    .get_func(&mut store, method)
                    .ok_or_else(|| err(wasmtime::format_err!("the method is not a function")))?;
                (func, Some(resource))
            }
            Entry::ByName => {
                return Err(err(wasmtime::format_err!(
                    "the component was loaded to call its exports by name, not as a stage"
                )));
            }
        };
        Ok(Live {
            store,
            func,
            resource,
        })
    }

    /// Runs `input` through the stage.
    pub fn call(&mut self, host: &Host, input: &str) -> Result<String, StageFailure> {
        if self.health.given_up() {
            self.stats.invocations += 1;
            self.stats.skipped += 1;
            return Err(self.failure(FailureKind::StageFailed {
                failures: self.health.given_up_after.load(Ordering::Relaxed),
            }));
        }
        if self.live.is_none() {
            let failures = self.health.failures();
            if failures > 1 {
                // Back off before restarting a stage that keeps failing.
                let shift = (failures - 2).min(7);
                std::thread::sleep(Duration::from_millis(1 << shift));
            }
            if failures > 0 {
                self.stats.restarts += 1;
            }
            match self.instantiate(host) {
                Ok(live) => self.live = Some(live),
                Err(kind) => {
                    self.stats.invocations += 1;
                    self.record_failure(&kind);
                    return Err(self.failure(kind));
                }
            }
        }
        let limits = self.policy.limits;
        let live = self.live.as_mut().expect("instantiated above");
        live.store.data_mut().limiter.hit = false;
        arm_timeout(&mut live.store, host, limits.timeout);
        if host.fuel() {
            let fuel = limits.fuel.unwrap_or(u64::MAX);
            if live.store.set_fuel(fuel).is_err() {
                // Fuel is on for this engine, so this cannot fail; treat it
                // as "no fuel limit".
            }
        }
        let start = Instant::now();
        let outcome = call_once(live, input);
        let elapsed = start.elapsed();
        self.stats.invocations += 1;
        self.stats
            .latencies_us
            .push(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
        let memory_hit = live.store.data().limiter.hit;

        let result = match outcome {
            Ok(Ok(output)) => match limits.max_output {
                Some(max) if output.len() as u64 > max => Err(FailureKind::Limit {
                    limit: LimitKind::Output,
                    detail: format!("produced {} bytes; the limit is {max}", output.len()),
                }),
                _ => Ok(output),
            },
            Ok(Err(rejection)) => {
                self.stats.rejected += 1;
                self.health.succeeded();
                if self.policy.stateless {
                    self.live = None;
                }
                return Err(self.failure(FailureKind::Rejected {
                    case: rejection.case().to_string(),
                    message: rejection.message().to_string(),
                }));
            }
            Err(e) => Err(classify_error(&e, memory_hit, &limits, elapsed)),
        };
        match result {
            Ok(output) => {
                self.stats.ok += 1;
                self.health.succeeded();
                if self.policy.stateless {
                    self.live = None;
                }
                Ok(output)
            }
            Err(kind) => {
                // A trapped store cannot be entered again, and one that hit a
                // limit may hold a grown memory: start over next time.
                self.live = None;
                self.record_failure(&kind);
                Err(self.failure(kind))
            }
        }
    }

    fn record_failure(&mut self, kind: &FailureKind) {
        match kind {
            FailureKind::Limit { limit, .. } => {
                *self.stats.limit_hits.entry(*limit).or_default() += 1
            }
            FailureKind::Trap { .. } | FailureKind::Instantiate { .. } => self.stats.traps += 1,
            FailureKind::Rejected { .. } | FailureKind::StageFailed { .. } => {}
        }
        self.health.failed(self.policy.max_restarts);
    }
}

/// One call; `Ok(Err(_))` is the stage's typed rejection.
fn call_once(live: &mut Live, input: &str) -> wasmtime::Result<Result<String, TransformError>> {
    match live.resource {
        None => {
            let f = live
                .func
                .typed::<(&str,), (Result<String, TransformError>,)>(&live.store)?;
            Ok(f.call(&mut live.store, (input,))?.0)
        }
        Some(resource) => {
            let f = live
                .func
                .typed::<(ResourceAny, &str), (String,)>(&live.store)?;
            Ok(Ok(f.call(&mut live.store, (resource, input))?.0))
        }
    }
}

fn classify_error(
    e: &wasmtime::Error,
    memory_hit: bool,
    limits: &Limits,
    elapsed: Duration,
) -> FailureKind {
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => FailureKind::Limit {
            limit: LimitKind::Timeout,
            detail: format!(
                "interrupted after {:.1?}; the limit is {:?}",
                elapsed,
                limits.timeout.unwrap_or_default()
            ),
        },
        Some(Trap::OutOfFuel) => FailureKind::Limit {
            limit: LimitKind::Fuel,
            detail: format!(
                "ran out of fuel; the limit is {}",
                limits.fuel.unwrap_or_default()
            ),
        },
        _ if memory_hit => FailureKind::Limit {
            limit: LimitKind::Memory,
            detail: format!(
                "tried to grow memory past {} bytes, then stopped: {}",
                limits.max_memory.unwrap_or_default(),
                trap_text(e)
            ),
        },
        _ => FailureKind::Trap {
            message: trap_text(e),
        },
    }
}

/// The trap's message without the backtrace wasmtime attaches.
fn trap_text(e: &wasmtime::Error) -> String {
    match e.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{e:#}"),
    }
}

/// Sets the call's epoch deadline, which interrupts wasm code, and its
/// wall-clock deadline, which interrupts a plugin waiting in `wasi:io/poll`.
fn arm_timeout(store: &mut Store<StageState>, host: &Host, timeout: Option<std::time::Duration>) {
    match timeout {
        Some(t) => {
            store.set_epoch_deadline(host.epoch_deadline(t));
            store.data_mut().deadline = Instant::now().checked_add(t);
        }
        None => {
            store.set_epoch_deadline(u64::MAX / 2);
            store.data_mut().deadline = None;
        }
    }
}
