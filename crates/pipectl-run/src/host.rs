//! The engine, the epoch ticker, and loading plugins: compile (or load the
//! precompiled artifact), check capabilities, pre-instantiate.

use std::path::PathBuf;
use std::time::Duration;

use pipectl_io::Digest;
use pipectl_manifest::Grants;
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi::p2::bindings::sync::io::poll as sync_poll;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::cache::{ArtifactCache, CacheWarning, CompileSource, Compiled};
use crate::output::OutputSink;

mod checks;
mod deadline;
pub(crate) mod grants;

use checks::*;
use deadline::*;
pub use grants::Denied;
use grants::*;

/// How often the epoch advances; timeouts fire within one tick of their
/// deadline.
pub const TICK: Duration = Duration::from_millis(1);

/// Why the host could not start.
#[derive(Debug, thiserror::Error)]
#[error("failed to configure the wasmtime engine: {message}")]
pub struct HostError {
    /// wasmtime's message on rejecting the engine configuration.
    pub message: String,
}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The component does not compile.
    #[error("stage `{stage}`: failed to compile: {message}")]
    Compile {
        /// The stage whose component failed to compile, by its stage name.
        stage: String,
        /// wasmtime's compile error, as shown to the user.
        message: String,
    },
    /// It imports capabilities that were not granted: every one at once,
    /// with the grant that covers them.
    #[error(
        "stage `{stage}` imports what it was not granted (plugins get no capability by default): {}",
        grants::describe_denied(denied)
    )]
    Capability {
        /// The stage whose imports were not granted, by its stage name.
        stage: String,
        /// Every import not granted, the most significant capability first.
        denied: Vec<Denied>,
    },
    /// It has an import the host does not provide at all.
    #[error("stage `{stage}` imports `{import}`, which the host does not provide")]
    UnknownImport {
        /// The stage with the unknown import, by its stage name.
        stage: String,
        /// The import's full name, e.g. `wasi:sockets/tcp@0.2.0`.
        import: String,
    },
    /// It does not export what the host calls.
    #[error("stage `{stage}` does not export {what}")]
    MissingExport {
        /// The stage that lacks the export, by its stage name.
        stage: String,
        /// What the host looked for: a `transform` function, or a resource and method.
        what: String,
    },
    /// Its memories start larger than the memory limit allows.
    #[error(
        "stage `{stage}` starts with {} MiB of linear memory, over the limit of {} MiB",
        initial.div_ceil(1 << 20),
        limit >> 20
    )]
    MemoryLimit {
        /// The stage whose memories start too large, by its stage name.
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
        /// The stage whose export has the wrong signature, by its stage name.
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
        /// The stage that failed to link, by its stage name.
        stage: String,
        /// wasmtime's linking error, e.g. an import whose type differs from the host's.
        message: String,
    },
}

impl LoadError {
    /// What the operator can do about it.
    pub fn hint(&self) -> Option<pipectl_io::Hint> {
        match self {
            LoadError::Capability { denied, .. } => Some(grants::grant_hint(denied)),
            LoadError::MemoryLimit { .. } => Some(pipectl_io::Hint::MaxMemory),
            _ => None,
        }
    }
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
    /// Parses `--call`: `transform`, or `<resource>.<method>` for a method call.
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

/// Engine settings: the precompiled cache, fuel, pooling and a memory cap.
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
    /// For components that import nothing: links no WASI at all.
    bare: Linker<StageState>,
    /// WASI and `wasi:http`, linked on the first component that imports
    /// anything (what a component may use is its grants' business).
    linker: std::sync::OnceLock<Linker<StageState>>,
    cache: Option<ArtifactCache>,
    fuel: bool,
    max_memory: Option<u64>,
    output: Option<OutputSink>,
    pooled: bool,
    _ticker: Ticker,
}

/// A loaded plugin, ready to instantiate.
pub struct Plugin {
    /// The stage's name (the manifest's, or the file stem); failures and stats use it.
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
            limiter: MemoryLimiter::new(max_memory),
        })
    }

    /// The state of a command plugin's run: `args`, the terminal's stdio,
    /// and what `grants` give.
    pub(crate) fn command(
        grants: &Grants,
        args: &[String],
        max_memory: Option<u64>,
    ) -> Result<Self, String> {
        Ok(Self {
            wasi: command_ctx(grants, args)?,
            deadline: None,
            http: WasiHttpCtx::new(),
            refuse: RefuseRequests,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(max_memory),
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

impl MemoryLimiter {
    fn new(max_memory: Option<u64>) -> Self {
        Self {
            max: max_memory.map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
            total: 0,
            hit: false,
        }
    }
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
                // Calls are synchronous: no fiber stacks to reserve (the
                // default, 1,000, costs as many `mprotect`s per engine).
                .total_stacks(1)
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
        Ok(Self {
            _ticker: Ticker::start(&engine),
            bare: Linker::new(&engine),
            linker: std::sync::OnceLock::new(),
            engine,
            cache: config.cache.clone(),
            fuel: config.fuel,
            max_memory: config.max_memory,
            output: None,
            pooled: is_pooled,
        })
    }

    /// The linker with WASI and `wasi:http`, made on first use.
    fn wasi_linker(&self) -> wasmtime::Result<&Linker<StageState>> {
        if let Some(linker) = self.linker.get() {
            return Ok(linker);
        }
        let mut linker = Linker::new(&self.engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        // Replace `wasi:io/poll` (same interface version) with one whose
        // waits end at the call's deadline.
        linker.allow_shadowing(true);
        sync_poll::add_to_linker::<StageState, DeadlinePoll>(&mut linker, |s| DeadlineTable {
            table: &mut s.table,
            deadline: s.deadline,
        })?;
        linker.allow_shadowing(false);
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)?;
        Ok(self.linker.get_or_init(|| linker))
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

    /// The wasmtime engine every plugin is compiled and run on.
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
            if capability(import, grants) == Capability::NotWasi
                && !types_only(&self.engine, &item.ty)
            {
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
        let linker = if ty.imports(&self.engine).next().is_none() {
            &self.bare
        } else {
            self.wasi_linker().map_err(|e| LoadError::Link {
                stage: name.to_string(),
                message: format!("{e:#}"),
            })?
        };
        let pre = linker
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
        assert_eq!(capability(tcp, &none), Capability::Denied("sockets"));
        assert_eq!(capability(tcp, &sockets), Capability::Granted);
        assert_eq!(capability(tcp, &http_only), Capability::Denied("sockets"));
        let http = "wasi:http/outgoing-handler@0.2.3";
        assert_eq!(capability(http, &sockets), Capability::Denied("http"));
        assert_eq!(capability(http, &http_only), Capability::Granted);
        assert_eq!(
            capability("wasi:clocks/wall-clock@0.2.0", &sockets),
            Capability::Denied("clocks")
        );
        assert_eq!(capability("example:x/y", &none), Capability::NotWasi);
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
        let LoadError::Capability { denied, .. } = &err else {
            panic!("{err}")
        };
        let named: Vec<(&str, &str)> = denied
            .iter()
            .map(|d| (d.import.as_str(), d.capability))
            .collect();
        assert_eq!(
            named,
            [
                ("wasi:http/types@0.2.10", "http"),
                ("wasi:clocks/wall-clock@0.2.0", "clocks")
            ]
        );
        assert_eq!(
            err.hint(),
            Some(pipectl_io::Hint::Grant {
                grants: vec!["http", "clocks"],
                dir: false,
                env: false,
                network: true
            })
        );
    }
}
