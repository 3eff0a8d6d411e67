//! The engine, the epoch ticker, and loading plugins: compile (or load the
//! precompiled artifact), check capabilities, pre-instantiate.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pipectl_io::Digest;
use pipectl_manifest::Grants;
use wasmtime::component::types::{ComponentFunc, ComponentItem, Type};
use wasmtime::component::{
    Component, ComponentExportIndex, InstancePre, Linker, Resource, ResourceTable,
};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::sync::io::poll as sync_poll;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};
use wasmtime_wasi_io::bindings::wasi::io::poll as async_poll;

use crate::cache::{ArtifactCache, CacheWarning, CompileSource, Compiled};
use crate::output::{OutputSink, PluginStream, StdStream};

/// How often the epoch advances; timeouts fire within one tick of their
/// deadline.
pub const TICK: Duration = Duration::from_millis(1);

/// Why the host could not start.
#[derive(Debug, thiserror::Error)]
#[error("failed to configure the wasmtime engine: {message}")]
pub struct HostError {
    /// The engine's message.
    pub message: String,
}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The component does not compile.
    #[error("stage `{stage}`: failed to compile: {message}")]
    Compile {
        /// The stage.
        stage: String,
        /// wasmtime's message.
        message: String,
    },
    /// It imports a capability that was not granted.
    #[error(
        "stage `{stage}` imports `{import}`, which needs the `{capability}` capability; \
         plugins get none by default: {hint}{}",
        if others.is_empty() { String::new() } else { format!(" (also not granted: {})", others.join(", ")) }
    )]
    Capability {
        /// The stage.
        stage: String,
        /// The import.
        import: String,
        /// The capability it needs.
        capability: &'static str,
        /// How to grant it, or why it cannot be.
        hint: &'static str,
        /// Every other import that was not granted.
        others: Vec<String>,
    },
    /// It has an import the host does not provide at all.
    #[error("stage `{stage}` imports `{import}`, which the host does not provide")]
    UnknownImport {
        /// The stage.
        stage: String,
        /// The import.
        import: String,
    },
    /// It does not export what the host calls.
    #[error("stage `{stage}` does not export {what}")]
    MissingExport {
        /// The stage.
        stage: String,
        /// What is missing.
        what: String,
    },
    /// Its memories start larger than the memory limit allows.
    #[error(
        "stage `{stage}` starts with {} MiB of linear memory, over the limit of {} MiB \
         (`--max-memory`, or `max-memory` in the manifest's limits)",
        initial.div_ceil(1 << 20),
        limit >> 20
    )]
    MemoryLimit {
        /// The stage.
        stage: String,
        /// Bytes its memories declare at start, together.
        initial: u64,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The function the host calls has another type than the contract's.
    #[error(
        "stage `{stage}`: `{function}` has the wrong signature: expected `{expected}`, found `{found}`"
    )]
    Signature {
        /// The stage.
        stage: String,
        /// The function (`transform`, or `[method]resource.method`).
        function: String,
        /// The signature the host calls.
        expected: String,
        /// The signature the component exports.
        found: String,
    },
    /// Linking failed (e.g. an import's type differs from the host's).
    #[error("stage `{stage}`: {message}")]
    Link {
        /// The stage.
        stage: String,
        /// wasmtime's message.
        message: String,
    },
}

/// What a plugin is asked to do per input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CallSpec {
    /// `transform: func(string) -> result<string, transform-error>`.
    #[default]
    Transform,
    /// A method of a resource: one resource is constructed (with no
    /// arguments) per instance, and `method: func(string) -> string` called
    /// per input, so the resource's state carries across inputs.
    Method {
        /// The resource, e.g. `running-counter`.
        resource: String,
        /// The method, e.g. `count`.
        method: String,
    },
}

impl CallSpec {
    /// Parses `resource.method`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.split_once('.') {
            Some((r, m)) if !r.is_empty() && !m.is_empty() => Ok(CallSpec::Method {
                resource: r.to_string(),
                method: m.to_string(),
            }),
            _ if text == "transform" => Ok(CallSpec::Transform),
            _ => Err(format!(
                "`{text}` is neither `transform` nor `<resource>.<method>` (e.g. `running-counter.count`)"
            )),
        }
    }

    /// Whether calls keep state across inputs.
    pub fn is_stateful(&self) -> bool {
        matches!(self, CallSpec::Method { .. })
    }
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where precompiled components are cached; `None` disables the cache.
    pub cache: Option<ArtifactCache>,
    /// Meter fuel (needed for fuel limits; costs some speed).
    pub fuel: bool,
    /// Use the pooling allocator, sized for this many live instances (its
    /// address-space reservation grows with it: size it from the workers
    /// that run). When the machine cannot reserve that much, instances are
    /// allocated on demand ([`Host::pooled`] says which).
    pub pooling: Option<u32>,
    /// Largest linear memory any instance may have, in bytes.
    pub max_memory: Option<u64>,
}

impl Default for HostConfig {
    /// No cache (a cache needs the user's seal key: see
    /// [`ArtifactCache::open`]), no fuel, a pool for 64 instances.
    fn default() -> Self {
        Self {
            cache: None,
            fuel: false,
            pooling: Some(64),
            max_memory: None,
        }
    }
}

/// One engine, one linker, one epoch ticker: shared by every plugin.
pub struct Host {
    engine: Engine,
    linker: Linker<StageState>,
    cache: Option<ArtifactCache>,
    fuel: bool,
    max_memory: Option<u64>,
    output: Option<OutputSink>,
    pooled: bool,
    _ticker: Ticker,
}

/// Advances the engine's epoch every [`TICK`] until dropped, keeping it in
/// step with wall-clock time.
struct Ticker {
    stop: Arc<AtomicBool>,
    state: Arc<TickState>,
}

/// When ticking started and how many ticks the engine has seen.
struct TickState {
    start: std::time::Instant,
    applied: std::sync::atomic::AtomicU64,
}

impl TickState {
    /// Ticks that wall-clock time says are due by now.
    fn due(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros() / TICK.as_micros()).unwrap_or(u64::MAX)
    }
}

impl Ticker {
    fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(TickState {
            start: std::time::Instant::now(),
            applied: std::sync::atomic::AtomicU64::new(0),
        });
        let weak = engine.weak();
        let (flag, ticks) = (stop.clone(), state.clone());
        std::thread::Builder::new()
            .name("pipectl-epoch".into())
            .spawn(move || {
                // Sleeping overshoots: catch up on every tick that has
                // passed, not one per wake.
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    let Some(engine) = weak.upgrade() else { break };
                    let due = ticks.due();
                    while ticks.applied.load(Ordering::Relaxed) < due {
                        engine.increment_epoch();
                        ticks.applied.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
            .expect("the epoch thread starts");
        Self { stop, state }
    }

    /// The deadline, in ticks beyond the engine's current epoch, that
    /// expires `timeout` from now. The engine's epoch may lag wall-clock
    /// time (the ticker catches up in bursts), so the lag is added: a
    /// timeout never fires early.
    fn deadline(&self, timeout: Duration) -> u64 {
        let lag = self
            .state
            .due()
            .saturating_sub(self.state.applied.load(Ordering::Relaxed));
        let ticks =
            u64::try_from(timeout.as_micros().div_ceil(TICK.as_micros())).unwrap_or(u64::MAX / 4);
        lag.saturating_add(ticks)
            .saturating_add(1)
            .min(u64::MAX / 4)
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A loaded plugin, ready to instantiate.
pub struct Plugin {
    /// Its stage name.
    pub name: String,
    /// The digest of its component.
    pub digest: Digest,
    /// Whether it was compiled or loaded from the cache.
    pub compile: CompileSource,
    /// Why a cache entry was passed over, for the caller to show.
    pub cache_warning: Option<CacheWarning>,
    /// What the host calls.
    pub call: CallSpec,
    pub(crate) grants: Grants,
    pub(crate) pre: InstancePre<StageState>,
    pub(crate) entry: Entry,
}

/// The export indices the host calls.
#[derive(Clone)]
pub(crate) enum Entry {
    Transform(ComponentExportIndex),
    Method {
        constructor: ComponentExportIndex,
        method: ComponentExportIndex,
    },
    /// No entry point: exports are called by name ([`Host::load_exports`]).
    ByName,
}

/// A store's data: WASI state (used only by granted plugins) and the
/// memory limiter.
pub struct StageState {
    wasi: WasiCtx,
    /// When the current call's time is up: a plugin waiting in
    /// `wasi:io/poll` then is interrupted, as the epoch interrupts wasm code.
    pub(crate) deadline: Option<std::time::Instant>,
    http: WasiHttpCtx,
    refuse: RefuseRequests,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
}

impl WasiHttpView for StageState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.refuse,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

/// `wasi:io/poll` whose waits end at the current call's deadline with the
/// same interrupt the epoch raises. The epoch interrupts wasm code only, so
/// without this a plugin granted clocks could block in the host past its
/// timeout (Python's `time.sleep`, Rust's `std::thread::sleep`).
struct DeadlinePoll;

impl wasmtime::component::HasData for DeadlinePoll {
    type Data<'a> = DeadlineTable<'a>;
}

/// A store's resource table, and its call's deadline.
struct DeadlineTable<'a> {
    table: &'a mut ResourceTable,
    deadline: Option<std::time::Instant>,
}

impl DeadlineTable<'_> {
    /// Runs `wait` to its end, or to the deadline: then the call is
    /// interrupted, as the epoch would have done.
    fn wait<T>(
        deadline: Option<std::time::Instant>,
        wait: impl std::future::Future<Output = wasmtime::Result<T>>,
    ) -> wasmtime::Result<T> {
        wasmtime_wasi::runtime::in_tokio(async move {
            match deadline {
                Some(deadline) => {
                    tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), wait)
                        .await
                        .map_err(|_| wasmtime::Error::from(wasmtime::Trap::Interrupt))?
                }
                None => wait.await,
            }
        })
    }
}

impl sync_poll::Host for DeadlineTable<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        Self::wait(self.deadline, async_poll::Host::poll(self.table, pollables))
    }
}

impl sync_poll::HostPollable for DeadlineTable<'_> {
    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        Self::wait(
            self.deadline,
            async_poll::HostPollable::block(self.table, pollable),
        )
    }

    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        sync_poll::HostPollable::ready(self.table, pollable)
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        sync_poll::HostPollable::drop(self.table, pollable)
    }
}

/// `wasi:http` hooks that refuse every outgoing request: the `http` grant
/// links the interfaces so a component that imports them loads, never so
/// that it reaches the network.
struct RefuseRequests;

/// A response future, as [`WasiHttpHooks::send_request`] returns it.
type SendRequestFuture = Box<
    dyn std::future::Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<wasmtime_wasi_http::WasiBody>,
                Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for RefuseRequests {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendRequestFuture {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

impl WasiView for StageState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl StageState {
    pub(crate) fn new(
        stage: &str,
        grants: &Grants,
        max_memory: Option<u64>,
        output: Option<&OutputSink>,
    ) -> Result<Self, String> {
        Ok(Self {
            wasi: wasi_ctx(stage, grants, output)?,
            deadline: None,
            http: WasiHttpCtx::new(),
            refuse: RefuseRequests,
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                max: max_memory.map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
                total: 0,
                hit: false,
            },
        })
    }
}

/// Refuses memory growth past a limit, and remembers that it did, so the
/// trap that follows is reported as the limit it is.
pub(crate) struct MemoryLimiter {
    max: Option<usize>,
    /// Bytes of linear memory the store's instances have, together: a
    /// composed component has one memory per embedded stage.
    total: usize,
    pub(crate) hit: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.total.saturating_sub(current).saturating_add(desired);
        if self.max.is_some_and(|max| total > max) {
            self.hit = true;
            return Ok(false);
        }
        self.total = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

fn wasi_ctx(stage: &str, grants: &Grants, output: Option<&OutputSink>) -> Result<WasiCtx, String> {
    let mut b = WasiCtxBuilder::new();
    // No network, whatever is linked: no TCP, UDP or name lookups, and the
    // default address check refuses every address.
    b.allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    if grants.stdio
        && let Some(sink) = output
    {
        // Never the terminal itself: the caller's sink decides what of it
        // to show, and how (a plugin's stdout must not mix with the
        // pipeline's output either). Without a sink it is discarded.
        b.stdout(PluginStream::new(stage, StdStream::Stdout, sink))
            .stderr(PluginStream::new(stage, StdStream::Stderr, sink));
    }
    for (k, v) in &grants.env {
        b.env(k, v);
    }
    for dir in &grants.dirs {
        let perms = if dir.writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        b.preopened_dir(&dir.host, &dir.guest, perms)
            .map_err(|e| format!("cannot preopen `{}`: {e:#}", dir.host.display()))?;
    }
    Ok(b.build())
}

/// The capability an import needs, with a hint on granting it.
fn capability(import: &str, grants: &Grants) -> Result<(), (&'static str, &'static str)> {
    let name = import.split('@').next().unwrap_or(import);
    let io_granted = grants.stdio
        || grants.clocks
        || grants.filesystem
        || grants.sockets
        || grants.http
        || !grants.dirs.is_empty();
    let (cap, granted, hint) = match name {
        n if n.starts_with("wasi:clocks/") => (
            "clocks",
            grants.clocks,
            "grant it with `grants = { clocks = true }` (`--grant clocks`)",
        ),
        n if n.starts_with("wasi:random/") => (
            "random",
            grants.random,
            "grant it with `grants = { random = true }` (`--grant random`)",
        ),
        n if n.starts_with("wasi:filesystem/") => (
            "filesystem",
            grants.filesystem || !grants.dirs.is_empty(),
            "grant a directory with `grants = { dirs = [{ host = \"data\", guest = \"/data\" }] }` \
             (`--dir data::/data`), or `grants = { filesystem = true }` (`--grant filesystem`) for \
             the interfaces with no directory",
        ),
        "wasi:cli/environment" => (
            "environment",
            grants.stdio || !grants.env.is_empty(),
            "grant variables with `grants = { env = { NAME = \"value\" } }` (`--env NAME=value`); \
             `stdio = true` gives an empty environment",
        ),
        n if n.starts_with("wasi:cli/") => (
            "stdio",
            grants.stdio,
            "grant it with `grants = { stdio = true }` (`--grant stdio`)",
        ),
        n if n.starts_with("wasi:io/") => (
            "io",
            io_granted,
            "it comes with any stdio, clocks, filesystem, sockets or http grant",
        ),
        n if n.starts_with("wasi:sockets/") => (
            "sockets",
            grants.sockets,
            "pipectl never gives plugins network access; `grants = { sockets = true }` \
             (`--grant sockets`) links the interfaces with every address refused, for toolchains (componentize-py, jco) that \
             import them regardless; `--grant runtime` gives all such toolchains import",
        ),
        n if n.starts_with("wasi:http/") => (
            "http",
            grants.http,
            "pipectl never gives plugins network access; `grants = { http = true }` (`--grant \
             http`) links the interfaces with every request refused, for toolchains (jco) that \
             import them regardless; `--grant runtime` gives all such toolchains import",
        ),
        _ => return Err(("", "")),
    };
    if granted { Ok(()) } else { Err((cap, hint)) }
}

impl Host {
    /// Starts an engine configured by `config`.
    pub fn new(config: &HostConfig) -> Result<Self, HostError> {
        let err = |e: wasmtime::Error| HostError {
            message: format!("{e:#}"),
        };
        let mut c = Config::new();
        c.wasm_component_model(true)
            .epoch_interruption(true)
            .consume_fuel(config.fuel);
        let mut pooled = None;
        if let Some(instances) = config.pooling {
            let mut pool = PoolingAllocationConfig::default();
            pool.total_component_instances(instances)
                .total_core_instances(instances.saturating_mul(16))
                .total_memories(instances.saturating_mul(16))
                .total_tables(instances.saturating_mul(16))
                .max_memories_per_module(1);
            if let Some(max) = config.max_memory {
                // Leave one page of slack: the limiter, not the pool, should
                // refuse growth past the limit so it can be reported.
                let max = usize::try_from(max.saturating_add(65_536)).unwrap_or(usize::MAX);
                pool.max_memory_size(max.min(1 << 32));
            }
            let mut with_pool = c.clone();
            with_pool.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
            // The pool reserves address space for every slot up front; when
            // that is more than the machine has (many stages times many
            // workers), instances are allocated on demand instead.
            pooled = Engine::new(&with_pool).ok();
        }
        let is_pooled = pooled.is_some();
        let engine = match pooled {
            Some(engine) => engine,
            None => Engine::new(&c).map_err(err)?,
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(err)?;
        // Replace `wasi:io/poll` (same interface version) with one whose
        // waits end at the call's deadline.
        linker.allow_shadowing(true);
        sync_poll::add_to_linker::<StageState, DeadlinePoll>(&mut linker, |s| DeadlineTable {
            table: &mut s.table,
            deadline: s.deadline,
        })
        .map_err(err)?;
        linker.allow_shadowing(false);
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker).map_err(err)?;
        Ok(Self {
            _ticker: Ticker::start(&engine),
            engine,
            linker,
            cache: config.cache.clone(),
            fuel: config.fuel,
            max_memory: config.max_memory,
            output: None,
            pooled: is_pooled,
        })
    }

    /// Whether instances come from the pooling allocator (asked for, and
    /// the machine had the address space for it).
    pub fn pooled(&self) -> bool {
        self.pooled
    }

    /// Sends what plugins granted `stdio` write to `sink` (without one, it
    /// is discarded).
    pub fn with_plugin_output(mut self, sink: OutputSink) -> Self {
        self.output = Some(sink);
        self
    }

    /// Where plugins' stdout and stderr go.
    pub(crate) fn plugin_output(&self) -> Option<&OutputSink> {
        self.output.as_ref()
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The epoch deadline (ticks beyond the current epoch) for a call that
    /// may take `timeout`.
    pub fn epoch_deadline(&self, timeout: Duration) -> u64 {
        self._ticker.deadline(timeout)
    }

    /// Whether fuel is metered.
    pub fn fuel(&self) -> bool {
        self.fuel
    }

    /// The precompiled-artifact cache folder, if any.
    pub fn cache_dir(&self) -> Option<PathBuf> {
        self.cache.as_ref().map(|c| c.dir().to_owned())
    }

    /// Compiles (or loads the cached artifact of) stage `name`'s component,
    /// checks its imports against `grants` and pre-instantiates it.
    pub fn load(
        &self,
        name: &str,
        bytes: &[u8],
        grants: &Grants,
        call: &CallSpec,
    ) -> Result<Plugin, LoadError> {
        self.load_with(name, bytes, grants, Some(call))
    }

    /// As [`Host::load`], for a component whose exports are called by name
    /// (`pipectl test`): it needs no `transform` or resource entry point, and
    /// a [`StageRunner`](crate::stage::StageRunner) cannot run it.
    pub fn load_exports(
        &self,
        name: &str,
        bytes: &[u8],
        grants: &Grants,
    ) -> Result<Plugin, LoadError> {
        self.load_with(name, bytes, grants, None)
    }

    fn load_with(
        &self,
        name: &str,
        bytes: &[u8],
        grants: &Grants,
        entry_call: Option<&CallSpec>,
    ) -> Result<Plugin, LoadError> {
        let call = entry_call.unwrap_or(&CallSpec::Transform);
        // Refuse what is not granted before compiling: a large component
        // (a JavaScript or Python runtime) takes seconds to compile.
        // WAT text is compiled to a binary first (binaries pass through).
        let bytes: &[u8] = &wat::parse_bytes(bytes).map_err(|e| LoadError::Compile {
            stage: name.to_string(),
            message: format!("{e:#}"),
        })?;
        let scanned = scan(bytes);
        if let Some(scan) = &scanned {
            check_capabilities(name, scan.imports.iter().map(String::as_str), grants)?;
            if let Some(limit) = self.max_memory
                && scan.initial_memory > limit
            {
                return Err(LoadError::MemoryLimit {
                    stage: name.to_string(),
                    initial: scan.initial_memory,
                    limit,
                });
            }
        }
        let digest = Digest::sha256(bytes);
        let Compiled {
            component,
            source: compile,
            warning: cache_warning,
        } = match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, &digest, bytes),
            None => Component::new(&self.engine, bytes).map(|component| Compiled {
                component,
                source: CompileSource::Compiled,
                warning: None,
            }),
        }
        .map_err(|e| LoadError::Compile {
            stage: name.to_string(),
            message: format!("{e:#}"),
        })?;
        let ty = component.component_type();
        if scanned.is_none() {
            let imports: Vec<&str> = ty.imports(&self.engine).map(|(n, _)| n).collect();
            check_capabilities(name, imports.into_iter(), grants)?;
        }
        // An import the host does not provide is refused, unless it is an
        // instance of types only (an interface whose types another one
        // `use`s), which needs no definition.
        for (import, item) in ty.imports(&self.engine) {
            if capability(import, grants) == Err(("", "")) && !types_only(&self.engine, &item.ty) {
                return Err(LoadError::UnknownImport {
                    stage: name.to_string(),
                    import: import.to_string(),
                });
            }
        }
        // Surface bad grants (a missing directory) now, not per input.
        StageState::new(name, grants, None, None).map_err(|message| LoadError::Link {
            stage: name.to_string(),
            message,
        })?;
        let entry = match entry_call {
            None => Some(Entry::ByName),
            Some(call) => find_entry(&self.engine, &component, call).map_err(|mut e| {
                if let LoadError::Signature { stage, .. } = &mut e {
                    *stage = name.to_string();
                }
                e
            })?,
        };
        let entry = entry.ok_or_else(|| LoadError::MissingExport {
            stage: name.to_string(),
            what: match call {
                CallSpec::Transform => {
                    "a `transform` function in an exported interface".to_string()
                }
                CallSpec::Method { resource, method } => {
                    format!("a resource `{resource}` with a constructor and a method `{method}`")
                }
            },
        })?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link {
                stage: name.to_string(),
                message: format!("{e:#}"),
            })?;
        Ok(Plugin {
            name: name.to_string(),
            digest,
            compile,
            cache_warning,
            call: call.clone(),
            grants: grants.clone(),
            pre,
            entry,
        })
    }
}

/// Refuses the first import (by the rank of its capability) that `grants`
/// does not cover, naming every other one.
fn check_capabilities<'a>(
    stage: &str,
    imports: impl Iterator<Item = &'a str>,
    grants: &Grants,
) -> Result<(), LoadError> {
    let mut denied: Vec<(String, &'static str, &'static str)> = Vec::new();
    for import in imports {
        match capability(import, grants) {
            // Not WASI: decided once the import's type is known.
            Ok(()) | Err(("", _)) => {}
            Err((capability, hint)) => denied.push((import.to_string(), capability, hint)),
        }
    }
    // Name the capability that matters most first: a plugin built with
    // std imports stdio and io whatever it does, but its filesystem or
    // network imports are what it is about.
    let rank = |cap: &str| {
        [
            "http",
            "sockets",
            "filesystem",
            "environment",
            "clocks",
            "random",
            "stdio",
            "io",
        ]
        .iter()
        .position(|c| *c == cap)
        .unwrap_or(usize::MAX)
    };
    denied.sort_by_key(|(_, cap, _)| rank(cap));
    if let Some((import, capability, hint)) = denied.first().cloned() {
        let mut others: Vec<&str> = denied[1..].iter().map(|(i, _, _)| i.as_str()).collect();
        others.dedup();
        return Err(LoadError::Capability {
            stage: stage.to_string(),
            import,
            capability,
            hint,
            others: others.iter().map(|s| s.to_string()).collect(),
        });
    }
    Ok(())
}

/// Whether `item` is an instance that exports types only (no functions,
/// no resources): nothing the host has to define.
fn types_only(engine: &Engine, item: &ComponentItem) -> bool {
    match item {
        ComponentItem::ComponentInstance(instance) => instance
            .exports(engine)
            .all(|(_, export)| matches!(export.ty, ComponentItem::Type(_))),
        _ => false,
    }
}

/// What a component's bytes say before it is compiled.
struct Scan {
    /// The names it imports at its top level.
    imports: Vec<String>,
    /// Bytes of linear memory its core modules define at start, together.
    initial_memory: u64,
}

/// Reads a component's top-level imports and its memories' initial sizes
/// without compiling it; `None` when the bytes do not parse (compiling then
/// says why).
fn scan(bytes: &[u8]) -> Option<Scan> {
    use wasmparser::{Parser, Payload};
    let mut scan = Scan {
        imports: Vec::new(),
        initial_memory: 0,
    };
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.ok()? {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(section) if depth == 1 => {
                for import in section {
                    scan.imports.push(import.ok()?.name.name.to_string());
                }
            }
            Payload::MemorySection(section) => {
                for memory in section {
                    let memory = memory.ok()?;
                    let page = 1u64 << memory.page_size_log2.unwrap_or(16);
                    scan.initial_memory = scan
                        .initial_memory
                        .saturating_add(memory.initial.saturating_mul(page));
                }
            }
            _ => {}
        }
    }
    Some(scan)
}

/// Finds the function(s) the host calls: `transform` in an exported
/// interface (the one named `*/text-transform@*` when several have one), or
/// the resource constructor and method; and checks their signatures, so a
/// component the host cannot call is refused before any input runs.
/// `Ok(None)` when there is no such export; a signature error names no
/// stage (the caller fills it in).
fn find_entry(
    engine: &Engine,
    component: &Component,
    call: &CallSpec,
) -> Result<Option<Entry>, LoadError> {
    let ty = component.component_type();
    // Each candidate: the export's name, the entry, and the functions to
    // check with their expected shapes.
    type Checks = Vec<(String, ComponentFunc, Shape)>;
    let mut found: Vec<(String, Entry, Checks)> = Vec::new();
    for (name, item) in ty.exports(engine) {
        match (item.ty, call) {
            (ComponentItem::ComponentFunc(func), CallSpec::Transform) if name == "transform" => {
                let Some(idx) = component.get_export_index(None, name) else {
                    continue;
                };
                found.push((
                    name.to_string(),
                    Entry::Transform(idx),
                    vec![(name.to_string(), func, Shape::Transform)],
                ));
            }
            (ComponentItem::ComponentInstance(inst), _) => {
                let Some(iface) = component.get_export_index(None, name) else {
                    continue;
                };
                let func = |n: &str| match inst.get_export(engine, n).map(|e| e.ty) {
                    Some(ComponentItem::ComponentFunc(f)) => Some(f),
                    _ => None,
                };
                match call {
                    CallSpec::Transform => {
                        if let (Some(f), Some(idx)) = (
                            func("transform"),
                            component.get_export_index(Some(&iface), "transform"),
                        ) {
                            found.push((
                                name.to_string(),
                                Entry::Transform(idx),
                                vec![("transform".to_string(), f, Shape::Transform)],
                            ));
                        }
                    }
                    CallSpec::Method { resource, method } => {
                        let ctor = format!("[constructor]{resource}");
                        let meth = format!("[method]{resource}.{method}");
                        if let (Some(cf), Some(mf), Some(ci), Some(mi)) = (
                            func(&ctor),
                            func(&meth),
                            component.get_export_index(Some(&iface), &ctor),
                            component.get_export_index(Some(&iface), &meth),
                        ) {
                            found.push((
                                name.to_string(),
                                Entry::Method {
                                    constructor: ci,
                                    method: mi,
                                },
                                vec![
                                    (ctor, cf, Shape::Constructor(resource.clone())),
                                    (meth, mf, Shape::Method(resource.clone())),
                                ],
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let preferred = found
        .iter()
        .position(|(n, _, _)| n.contains("/text-transform@") || n.ends_with("/text-transform"));
    let chosen = match preferred {
        Some(i) => Some(found.swap_remove(i)),
        None => found.into_iter().next(),
    };
    let Some((_, entry, funcs)) = chosen else {
        return Ok(None);
    };
    for (function, func, shape) in funcs {
        if !shape.matches(&func) {
            return Err(LoadError::Signature {
                stage: String::new(),
                function,
                expected: shape.expected(),
                found: render_func(&func),
            });
        }
    }
    Ok(Some(entry))
}

/// The signatures the host calls.
enum Shape {
    /// `func(input: string) -> result<string, transform-error>`.
    Transform,
    /// `constructor()` of the resource.
    Constructor(String),
    /// `func(self: borrow<resource>, input: string) -> string`.
    Method(String),
}

impl Shape {
    fn matches(&self, func: &ComponentFunc) -> bool {
        let params: Vec<Type> = func.params().map(|(_, t)| t).collect();
        let results: Vec<Type> = func.results().collect();
        match self {
            Shape::Transform => {
                matches!(params.as_slice(), [Type::String])
                    && matches!(results.as_slice(), [Type::Result(r)]
                        if matches!(r.ok(), Some(Type::String))
                            && r.err().is_some_and(|e| is_transform_error(&e)))
            }
            Shape::Constructor(_) => {
                params.is_empty() && matches!(results.as_slice(), [Type::Own(_)])
            }
            Shape::Method(_) => {
                matches!(params.as_slice(), [Type::Borrow(_), Type::String])
                    && matches!(results.as_slice(), [Type::String])
            }
        }
    }

    fn expected(&self) -> String {
        match self {
            Shape::Transform => "func(input: string) -> result<string, transform-error>".into(),
            Shape::Constructor(r) => format!("constructor() -> own<{r}>"),
            Shape::Method(r) => format!("func(self: borrow<{r}>, input: string) -> string"),
        }
    }
}

/// Whether `ty` is the contract's `transform-error` variant, as
/// [`crate::TransformError`] lifts it: these cases, in this order.
fn is_transform_error(ty: &Type) -> bool {
    let Type::Variant(v) = ty else { return false };
    let cases: Vec<(&str, Option<Type>)> = v.cases().map(|c| (c.name, c.ty)).collect();
    matches!(
        cases.as_slice(),
        [
            ("invalid-input", Some(Type::String)),
            ("processing-failed", Some(Type::String))
        ]
    )
}

/// A function's type in WIT-like text, e.g. `func(input: u32) -> string`.
fn render_func(func: &ComponentFunc) -> String {
    let params: Vec<String> = func
        .params()
        .map(|(n, t)| format!("{n}: {}", render_type(&t, 0)))
        .collect();
    let results: Vec<String> = func.results().map(|t| render_type(&t, 0)).collect();
    let mut out = format!("func({})", params.join(", "));
    match results.as_slice() {
        [] => {}
        [one] => out.push_str(&format!(" -> {one}")),
        many => out.push_str(&format!(" -> ({})", many.join(", "))),
    }
    out
}

/// A type in WIT-like text, structurally (component types carry no names);
/// the contract's error variant is shown as `transform-error`. Deeply
/// nested types are cut short.
fn render_type(ty: &Type, depth: usize) -> String {
    if depth > 4 {
        return "...".to_string();
    }
    let r = |t: &Type| render_type(t, depth + 1);
    let opt = |t: Option<Type>| t.map_or_else(|| "_".to_string(), |t| r(&t));
    match ty {
        Type::List(l) => format!("list<{}>", r(&l.ty())),
        Type::FixedLengthList(l) => format!("list<{}, {}>", r(&l.ty()), l.len()),
        Type::Map(m) => format!("map<{}, {}>", r(&m.key()), r(&m.value())),
        Type::Option(o) => format!("option<{}>", r(&o.ty())),
        Type::Result(res) => format!("result<{}, {}>", opt(res.ok()), opt(res.err())),
        Type::Tuple(t) => format!(
            "tuple<{}>",
            t.types().map(|t| r(&t)).collect::<Vec<_>>().join(", ")
        ),
        Type::Record(rec) => format!(
            "record {{ {} }}",
            rec.fields()
                .map(|f| format!("{}: {}", f.name, r(&f.ty)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Type::Variant(_) if is_transform_error(ty) => "transform-error".to_string(),
        Type::Variant(v) => format!(
            "variant {{ {} }}",
            v.cases()
                .map(|c| match c.ty {
                    Some(t) => format!("{}({})", c.name, r(&t)),
                    None => c.name.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Type::Enum(e) => format!("enum {{ {} }}", e.names().collect::<Vec<_>>().join(", ")),
        Type::Flags(f) => format!("flags {{ {} }}", f.names().collect::<Vec<_>>().join(", ")),
        Type::Own(_) => "own<_>".to_string(),
        Type::Borrow(_) => "borrow<_>".to_string(),
        Type::Future(f) => format!("future<{}>", opt(f.ty())),
        Type::Stream(st) => format!("stream<{}>", opt(st.ty())),
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::ErrorContext => "error-context".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_and_http_need_their_own_grants() {
        let none = Grants::default();
        let sockets = Grants {
            sockets: true,
            ..Grants::default()
        };
        let http_only = Grants {
            http: true,
            ..Grants::default()
        };
        let tcp = "wasi:sockets/tcp@0.2.3";
        assert_eq!(capability(tcp, &none).unwrap_err().0, "sockets");
        assert!(capability(tcp, &sockets).is_ok());
        assert_eq!(capability(tcp, &http_only).unwrap_err().0, "sockets");
        let http = "wasi:http/outgoing-handler@0.2.3";
        assert_eq!(capability(http, &sockets).unwrap_err().0, "http");
        assert!(capability(http, &http_only).is_ok());
        assert_eq!(
            capability("wasi:clocks/wall-clock@0.2.0", &sockets)
                .unwrap_err()
                .0,
            "clocks"
        );
    }

    #[test]
    fn imports_are_listed_without_compiling_and_nested_ones_are_skipped() {
        let wat = r#"(component
            (import "wasi:http/types@0.2.10" (instance))
            (component (import "inner:x/y" (instance)))
            (import "wasi:clocks/wall-clock@0.2.0" (instance))
        )"#;
        let bytes = wat::parse_str(wat).expect("valid WAT");
        let scanned = scan(&bytes).expect("parses");
        assert_eq!(
            scanned.imports,
            ["wasi:http/types@0.2.10", "wasi:clocks/wall-clock@0.2.0"]
        );
        assert_eq!(scanned.initial_memory, 0);
        assert!(scan(b"(component)").is_none());
        let two_memories = wat::parse_str(
            r#"(component
                (core module (memory 3))
                (component (core module (memory 2)))
            )"#,
        )
        .expect("valid WAT");
        assert_eq!(scan(&two_memories).expect("parses").initial_memory, 5 << 16);
        let err = check_capabilities(
            "js",
            ["wasi:clocks/wall-clock@0.2.0", "wasi:http/types@0.2.10"].into_iter(),
            &Grants::default(),
        )
        .unwrap_err();
        assert!(
            matches!(&err, LoadError::Capability { capability: "http", others, .. } if others == &["wasi:clocks/wall-clock@0.2.0"]),
            "{err}"
        );
    }
}
