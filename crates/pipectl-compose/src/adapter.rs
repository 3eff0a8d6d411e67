//! The adapters `compose --adapter` plugs around a pipeline, and the
//! generated head that tells them which stage answered.
//!
//! The two adapters are written once, in Rust with wit-bindgen
//! (`crates/adapters/`), built for `wasm32-unknown-unknown` by `cargo xtask
//! adapters` and embedded here as core modules carrying their WIT; the test
//! command rebuilds them and fails when these bytes are stale. They import
//! `pipectl:adapter/chain@0.1.0`, which a [`head`](crate::head) generated
//! for each pipeline exports: it runs the chain's top-level elements and
//! turns the contract's error into `{stage, case, message}`.

use wit_parser::{Resolve, WorldId};

use crate::ComposeError;

/// The `wasi:cli/run` adapter's core module (`crates/adapters/cli`).
static CLI: &[u8] = include_bytes!("../adapters/cli.wasm");
/// The `wasi:http/incoming-handler` adapter's core module
/// (`crates/adapters/http`).
static HTTP: &[u8] = include_bytes!("../adapters/http.wasm");

/// The interface adapters import and the head exports.
pub const CHAIN: &str = "pipectl:adapter/chain@0.1.0";

/// What to expose a pipeline as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    /// A `wasi:cli/run` command: stdin in, stdout out; with `lines`, each
    /// line of stdin is one input.
    Cli {
        /// Each line of stdin is one input (`--adapter cli-lines`).
        lines: bool,
    },
    /// A `wasi:http/incoming-handler`, `pipectl serve`'s contract.
    Http {
        /// The largest request body, in bytes (larger gets `413`).
        max_body: u64,
    },
}

impl Adapter {
    /// The adapter's core module, as shipped.
    pub fn module(self) -> &'static [u8] {
        match self {
            Adapter::Cli { .. } => CLI,
            Adapter::Http { .. } => HTTP,
        }
    }

    /// The one interface the adapted component exports.
    pub fn export(self) -> &'static str {
        match self {
            Adapter::Cli { .. } => "wasi:cli/run@0.2.4",
            Adapter::Http { .. } => "wasi:http/incoming-handler@0.2.4",
        }
    }

    /// The WASI world the adapted component satisfies.
    pub fn target_world(self) -> &'static str {
        match self {
            Adapter::Cli { .. } => "wasi:cli/command@0.2.4",
            Adapter::Http { .. } => "wasi:http/proxy@0.2.4",
        }
    }

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Adapter::Cli { lines: false } => "cli",
            Adapter::Cli { lines: true } => "cli-lines",
            Adapter::Http { .. } => "http",
        }
    }

    pub(crate) fn line_mode(self) -> bool {
        matches!(self, Adapter::Cli { lines: true })
    }

    pub(crate) fn max_body(self) -> u64 {
        match self {
            Adapter::Http { max_body } => max_body,
            Adapter::Cli { .. } => u64::MAX,
        }
    }

    /// The WIT the adapter was built against (decoded from its module) and
    /// its world.
    pub(crate) fn bindgen(self) -> Result<(Resolve, WorldId), ComposeError> {
        let (_, bindgen) = wit_component::metadata::decode(self.module())
            .map_err(|e| ComposeError::Graph(format!("the {} adapter: {e:#}", self.name())))?;
        Ok((bindgen.resolve, bindgen.world))
    }

    /// The adapter as a component.
    pub(crate) fn component(self) -> Result<Vec<u8>, ComposeError> {
        wit_component::ComponentEncoder::default()
            .module(self.module())
            .and_then(|encoder| encoder.encode())
            .map_err(|e| ComposeError::Graph(format!("the {} adapter: {e:#}", self.name())))
    }
}
