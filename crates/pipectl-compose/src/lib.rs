//! Composes ordered plugin stages into one statically linked component.
//!
//! Stages export the contract interface (`example:text-transform/
//! text-transform@0.x`). Runs of such stages are chained by a generated
//! [`sequencer`]; a *middleware* stage, one that both imports and exports the
//! interface, wraps the rest of the chain (its import is plugged with it).
//! Everything is wired with wac-graph into one component that embeds every
//! stage; the result is validated and checked against the target world.
//!
//! This crate does no network IO: registry stages are fetched by the caller,
//! which hands over bytes.

mod adapter;
mod analysis;
mod error;
mod graph;
mod head;
mod metadata;
pub mod sequencer;
mod wac;

use pipectl_wit::check::check_world;
use pipectl_wit::{ComponentBytes, ImportPolicy, WitSet};
use wit_parser::WorldItem;

pub use adapter::Adapter;
pub use error::ComposeError;
pub use metadata::{
    METADATA_SECTION, PipelineMetadata, StageMetadata, digest, embedded_stages, read_metadata,
};
pub use sequencer::{Contract, ContractError};

use analysis::*;
use graph::*;
use metadata::*;

/// One stage to compose: a name, the component's bytes, where they came
/// from, and what it may import.
#[derive(Debug, Clone)]
pub struct StageInput {
    /// The stage's name (a kebab-case label, unique in the pipeline).
    pub name: String,
    /// The component's bytes, read from a file or fetched from a registry.
    pub bytes: Vec<u8>,
    /// Where it came from, for messages and reports (a path or reference).
    pub origin: String,
    /// Import-name globs it may import beyond the world.
    pub allow_imports: Vec<String>,
}

/// What to compose: the pipeline's name and version, target world, and stages.
#[derive(Debug, Clone)]
pub struct ComposePlan<'a> {
    /// The pipeline's name, used for the WAC package name.
    pub name: &'a str,
    /// The pipeline's version, recorded in the WAC package and the metadata.
    pub version: &'a semver::Version,
    /// The target world's WIT.
    pub wit: &'a WitSet,
    /// The target world, e.g. `example:text-transform/plugin@0.2.0`.
    pub world: &'a str,
    /// The stages, in order.
    pub stages: Vec<StageInput>,
    /// What to expose the chain as: its contract interface (`None`), or a
    /// `wasi:cli` command or `wasi:http` handler around it.
    pub adapter: Option<Adapter>,
}

/// What was built: the composed component and a report on how.
#[derive(Debug, Clone)]
pub struct Composition {
    /// The composed component's bytes, with the pipeline metadata section.
    pub bytes: Vec<u8>,
    /// The target world it satisfies, e.g. `example:text-transform/plugin@0.2.0`
    /// (with an adapter, `wasi:cli/command@0.2.4` or `wasi:http/proxy@0.2.4`).
    pub world: String,
    /// The adapter around the chain, if any.
    pub adapter: Option<Adapter>,
    /// The interface the pipeline chains.
    pub interface: String,
    /// The stages, in order.
    pub stages: Vec<StageReport>,
    /// Size of the composed component in bytes.
    pub size: usize,
    /// The composed component's sha256, `sha256:<hex>`.
    pub digest: String,
    /// Its imports (empty when statically linked).
    pub imports: Vec<String>,
    /// The composed component's export names, as its world names them.
    pub exports: Vec<String>,
    /// Exports of stages not re-exported, and why.
    pub skipped_exports: Vec<String>,
    /// The equivalent WAC source.
    pub wac: String,
    /// The generated sequencers, by the package names the WAC uses.
    pub sequencers: Vec<(String, Vec<u8>)>,
}

/// One stage in the report.
#[derive(Debug, Clone)]
pub struct StageReport {
    /// The stage's name, as the manifest names it.
    pub name: String,
    /// Where it came from.
    pub origin: String,
    /// `sha256:<hex>` of its component.
    pub digest: String,
    /// Its size in bytes.
    pub size: usize,
    /// Whether it wraps the rest of the chain.
    pub middleware: bool,
    /// The contract export it provides (its own version of the interface).
    pub provides: String,
}

/// Refuses an empty pipeline and two stages of one name.
fn check_names(stages: &[StageInput]) -> Result<(), ComposeError> {
    if stages.is_empty() {
        return Err(ComposeError::NoStages);
    }
    let mut names = std::collections::HashSet::new();
    for s in stages {
        if !names.insert(s.name.as_str()) {
            return Err(ComposeError::DuplicateStage(s.name.clone()));
        }
    }
    Ok(())
}

/// Turns WAT stages into binaries (a binary stays as it is).
fn to_binaries(inputs: &mut [StageInput]) -> Result<(), ComposeError> {
    for input in inputs {
        let file = ComponentBytes::from_bytes(
            std::path::Path::new(&input.origin),
            std::mem::take(&mut input.bytes),
        )
        .map_err(|source| ComposeError::StageFile {
            stage: input.name.clone(),
            source,
        })?;
        input.bytes = file.bytes;
    }
    Ok(())
}

/// Decodes the composed component and checks it against the target world
/// with every stage's allowances: the decoded component, or (inner `Err`)
/// the findings as [`ComposeError::Output`] for the caller to explain.
fn check_output(
    bytes: &[u8],
    stages: &[Analyzed],
    ctx: &StageContext<'_>,
    world_name: &str,
) -> Result<Result<pipectl_wit::DecodedComponent, ComposeError>, ComposeError> {
    let (composed, policy) = decode_composed(bytes, stages)?;
    let findings = check_world(&composed, &ctx.wit.resolve, ctx.world, &policy);
    if findings.is_empty() {
        Ok(Ok(composed))
    } else {
        Ok(Err(ComposeError::Output {
            world: world_name.to_string(),
            findings,
        }))
    }
}

/// Validates and decodes the composed component; the import policy of
/// every stage's allowances (a stage's permitted imports pass through).
fn decode_composed(
    bytes: &[u8],
    stages: &[Analyzed],
) -> Result<(pipectl_wit::DecodedComponent, ImportPolicy), ComposeError> {
    let allowed: Vec<String> = stages
        .iter()
        .flat_map(|s| s.input.allow_imports.iter().cloned())
        .collect();
    let policy = ImportPolicy::allow(allowed).map_err(|e| ComposeError::Graph(e.to_string()))?;
    let composed = ComponentBytes::from_bytes(std::path::Path::new("<composed>"), bytes.to_vec())
        .and_then(|c| c.validate_and_decode())
        .map_err(|e| ComposeError::Graph(format!("the composed component is not valid: {e}")))?;
    Ok((composed, policy))
}

/// Decodes an adapted composition and checks it against the adapter's own
/// world (the WASI it imports, the one interface it exports), with every
/// stage's allowances: nothing beyond what the adapter and the stages
/// import.
fn check_adapted(
    bytes: &[u8],
    stages: &[Analyzed],
    adapter: Adapter,
) -> Result<pipectl_wit::DecodedComponent, ComposeError> {
    let (resolve, world) = adapter.bindgen()?;
    let (composed, policy) = decode_composed(bytes, stages)?;
    let findings: Vec<_> = check_world(&composed, &resolve, world, &policy)
        .into_iter()
        // The chain is the head's business, inside the composition.
        .filter(|f| f.item != adapter::CHAIN)
        .collect();
    if findings.is_empty() {
        Ok(composed)
    } else {
        Err(ComposeError::Output {
            world: adapter.target_world().to_string(),
            findings,
        })
    }
}

/// Each stage, read from wac-graph's types when they show exactly what a
/// stage must be; otherwise decoded and checked in full.
fn analyze_stages(
    inputs: &[StageInput],
    digests: &[String],
    graph: &wac_graph::CompositionGraph,
    packages: &Registered,
    ctx: &StageContext<'_>,
) -> Result<Vec<Analyzed>, ComposeError> {
    let quick = QuickContract::new(ctx.wit, ctx.world, ctx.contract_key);
    inputs
        .iter()
        .zip(digests)
        .map(|(input, digest)| {
            let pkg = packages[digest].0;
            match quick.analyze(graph, pkg, input, digest) {
                Some(a) => Ok(a),
                None => analyze(input.clone(), digest.clone(), ctx),
            }
        })
        .collect()
}

/// A stage, as the report shows it.
fn stage_report(s: &Analyzed) -> StageReport {
    StageReport {
        name: s.input.name.clone(),
        origin: s.input.origin.clone(),
        digest: s.digest.clone(),
        size: s.input.bytes.len(),
        middleware: s.import.is_some(),
        provides: s.export.clone(),
    }
}

/// What the composed component records about a stage.
fn stage_metadata(s: &Analyzed) -> StageMetadata {
    StageMetadata {
        name: s.input.name.clone(),
        digest: s.digest.clone(),
        origin: s.input.origin.clone(),
        middleware: s.import.is_some(),
    }
}

/// Composes `plan` into one component.
pub fn compose(plan: ComposePlan<'_>) -> Result<Composition, ComposeError> {
    check_names(&plan.stages)?;
    let wit = plan.wit;
    let world = wit.find_world(plan.world)?;
    let world_name = wit.world_name(world);
    let (contract_key, contract_item) = contract_export(wit, world, &world_name)?;
    let WorldItem::Interface {
        id: contract_iface, ..
    } = contract_item
    else {
        unreachable!("contract_export returns interfaces only")
    };
    let contract = Contract::new(wit.resolve.clone(), *contract_iface)?;

    // WAT stages become binaries, then wac-graph loads (and validates) each
    // distinct component once.
    let mut inputs = plan.stages;
    to_binaries(&mut inputs)?;
    let digests: Vec<String> = inputs.iter().map(|s| digest(&s.bytes)).collect();
    let ctx = StageContext {
        wit,
        world,
        contract_key: &contract_key,
        contract_item,
    };
    let (graph, packages) = match register_stages(&inputs, &digests) {
        Ok(r) => r,
        // Explain with the full check when it finds something.
        Err(e) => return Err(explain(&inputs, &digests, &ctx).unwrap_or(e)),
    };

    // Each stage, read from wac-graph's types when they show exactly what a
    // stage must be; otherwise decoded and checked in full (which also
    // explains what is wrong).
    let stages = analyze_stages(&inputs, &digests, &graph, &packages, &ctx)?;

    let mut builder = Builder::new(
        &contract,
        plan.name,
        plan.version,
        graph,
        packages,
        plan.adapter,
    );
    let built = builder
        .build(&stages)
        .and_then(|()| builder.finish(&stages));
    let (bytes, wac, sequencers, skipped) = match built {
        Ok(b) => b,
        Err(e) => return Err(explain(&inputs, &digests, &ctx).unwrap_or(e)),
    };

    // The result must satisfy the target world, with every stage's
    // allowances (a stage's permitted imports pass through).
    let composed = match plan.adapter {
        Some(adapter) => check_adapted(&bytes, &stages, adapter)?,
        None => match check_output(&bytes, &stages, &ctx, &world_name)? {
            Ok(composed) => composed,
            Err(output) => return Err(explain(&inputs, &digests, &ctx).unwrap_or(output)),
        },
    };

    let mut bytes = bytes;
    let meta = PipelineMetadata {
        name: plan.name.to_string(),
        version: plan.version.to_string(),
        world: world_name.clone(),
        interface: contract.name.clone(),
        stages: stages.iter().map(stage_metadata).collect(),
        adapter: plan.adapter.map(|a| a.name().to_string()),
    };
    append_metadata(&mut bytes, &meta);
    let digest_out = digest(&bytes);
    Ok(Composition {
        size: bytes.len(),
        digest: digest_out,
        imports: composed.import_names(),
        exports: composed.export_names(),
        world: plan
            .adapter
            .map_or(world_name, |a| a.target_world().to_string()),
        adapter: plan.adapter,
        interface: contract.name.clone(),
        stages: stages.iter().map(stage_report).collect(),
        skipped_exports: skipped,
        bytes,
        wac,
        sequencers,
    })
}
