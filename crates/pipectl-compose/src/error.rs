//! Why a composition could not be built.

use std::fmt::Write as _;

use pipectl_wit::Finding;

use crate::*;

/// Why a composition could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComposeError {
    /// The target world could not be loaded or found.
    #[error(transparent)]
    Wit(#[from] pipectl_wit::WitError),
    /// The target world does not export a chainable interface.
    #[error("world `{world}`: {reason}")]
    World {
        /// The target world's full name, e.g. `example:text-transform/plugin@0.2.0`.
        world: String,
        /// Why it cannot be chained: no chainable interface, or several.
        reason: String,
    },
    /// The contract interface cannot be chained.
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// A stage's file is not a usable component.
    #[error("stage `{stage}`")]
    StageFile {
        /// The stage whose file is unusable, as the manifest names it.
        stage: String,
        /// Why its file is unusable.
        #[source]
        source: pipectl_wit::ComponentError,
    },
    /// A stage does not fit the pipeline.
    #[error("stage `{stage}` ({origin}) cannot be used:{}", list(findings))]
    Stage {
        /// The stage that does not fit, as the manifest names it.
        stage: String,
        /// Where it came from.
        origin: String,
        /// What is wrong, every problem.
        findings: Vec<Finding>,
    },
    /// The pipeline lists no stages.
    #[error("a pipeline needs at least one stage")]
    NoStages,
    /// Two stages share a name.
    #[error("duplicate stage name `{0}`")]
    DuplicateStage(String),
    /// wac-graph refused the wiring.
    #[error("failed to wire the composition: {0}")]
    Graph(String),
    /// The composed component does not satisfy the target world.
    #[error("the composition does not satisfy world `{world}`:{}", list(findings))]
    Output {
        /// The target world the composed component was checked against.
        world: String,
        /// Every way the composed component misses the world.
        findings: Vec<Finding>,
    },
}

pub(crate) fn list(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let _ = write!(out, "\n  - {}: {}", f.kind.as_str(), f.message);
    }
    out
}
