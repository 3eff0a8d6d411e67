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

pub mod sequencer;
mod wac;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use pipectl_wit::check::{FindingKind, check_export, check_imports, check_world, find_matching};
use pipectl_wit::{ComponentBytes, DecodedComponent, Finding, ImportPolicy, WitSet};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use wac_graph::types::{ItemKind, Package};
use wac_graph::{CompositionGraph, EncodeOptions, NodeId, Processor};
use wit_parser::{WorldItem, WorldKey};

pub use sequencer::{Contract, ContractError};

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
        /// The world.
        world: String,
        /// Why.
        reason: String,
    },
    /// The contract interface cannot be chained.
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// A stage's file is not a usable component.
    #[error("stage `{stage}`")]
    StageFile {
        /// The stage.
        stage: String,
        /// Why its file is unusable.
        #[source]
        source: pipectl_wit::ComponentError,
    },
    /// A stage does not fit the pipeline.
    #[error("stage `{stage}` ({origin}) cannot be used:{}", list(findings))]
    Stage {
        /// The stage.
        stage: String,
        /// Where it came from.
        origin: String,
        /// What is wrong, every problem.
        findings: Vec<Finding>,
    },
    /// No stages.
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
        /// The world.
        world: String,
        /// Every problem.
        findings: Vec<Finding>,
    },
}

fn list(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let _ = write!(out, "\n  - {}: {}", f.kind.as_str(), f.message);
    }
    out
}

/// One stage to compose: a name, the component's bytes, where they came
/// from, and what it may import.
#[derive(Debug, Clone)]
pub struct StageInput {
    /// The stage's name (a kebab-case label, unique in the pipeline).
    pub name: String,
    /// The component.
    pub bytes: Vec<u8>,
    /// Where it came from, for messages and reports (a path or reference).
    pub origin: String,
    /// Import-name globs it may import beyond the world.
    pub allow_imports: Vec<String>,
}

/// What to compose.
#[derive(Debug, Clone)]
pub struct ComposePlan<'a> {
    /// The pipeline's name, used for the WAC package name.
    pub name: &'a str,
    /// The pipeline's version.
    pub version: &'a semver::Version,
    /// The target world's WIT.
    pub wit: &'a WitSet,
    /// The target world, e.g. `example:text-transform/plugin@0.2.0`.
    pub world: &'a str,
    /// The stages, in order.
    pub stages: Vec<StageInput>,
}

/// What was built.
#[derive(Debug, Clone, Serialize)]
pub struct Composition {
    /// The composed component.
    #[serde(skip)]
    pub bytes: Vec<u8>,
    /// The target world.
    pub world: String,
    /// The interface the pipeline chains.
    pub interface: String,
    /// The stages, in order.
    pub stages: Vec<StageReport>,
    /// Size of the composed component in bytes.
    pub size: usize,
    /// Its sha256, `sha256:<hex>`.
    pub digest: String,
    /// Its imports (empty when statically linked).
    pub imports: Vec<String>,
    /// Its exports.
    pub exports: Vec<String>,
    /// Exports of stages not re-exported, and why.
    pub skipped_exports: Vec<String>,
    /// The equivalent WAC source.
    #[serde(skip)]
    pub wac: String,
    /// The generated sequencers, by the package names the WAC uses.
    #[serde(skip)]
    pub sequencers: Vec<(String, Vec<u8>)>,
}

/// One stage in the report.
#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    /// Its name.
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

/// The name of the custom section a composition records its stages in.
pub const METADATA_SECTION: &str = "pipectl-pipeline";

/// What a composed component records about how it was built: its stages in
/// order with their digests. Stored as JSON in the [`METADATA_SECTION`]
/// custom section, so `pipectl run` can name the stage that failed and a
/// registry can show provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PipelineMetadata {
    /// The pipeline's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The world it satisfies.
    pub world: String,
    /// The chained interface.
    pub interface: String,
    /// The stages, in order.
    pub stages: Vec<StageMetadata>,
}

/// One stage in [`PipelineMetadata`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StageMetadata {
    /// The stage's name.
    pub name: String,
    /// `sha256:<hex>` of its component.
    pub digest: String,
    /// Where it came from (a path relative to the manifest, or a reference).
    pub origin: String,
    /// Whether it wraps the rest of the chain.
    pub middleware: bool,
}

fn append_metadata(component: &mut Vec<u8>, meta: &PipelineMetadata) {
    use wasm_encoder::ComponentSection as _;
    let data = serde_json::to_vec(meta).expect("metadata serializes");
    let section = wasm_encoder::CustomSection {
        name: METADATA_SECTION.into(),
        data: data.into(),
    };
    // A custom section may follow any other section of a component.
    section.append_to_component(component);
}

/// Reads the [`PipelineMetadata`] a composition recorded, if any.
pub fn read_metadata(component: &[u8]) -> Option<PipelineMetadata> {
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        match payload.ok()? {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::CustomSection(c) if depth == 0 && c.name() == METADATA_SECTION => {
                return serde_json::from_slice(c.data()).ok();
            }
            _ => {}
        }
    }
    None
}

/// The stage components a composition embeds, in pipeline order, found by
/// the digests its [`PipelineMetadata`] records: `(stage name, bytes)`.
///
/// `None` when the component has no metadata, a stage's bytes are not
/// embedded, or a stage is a middleware (its chain cannot be replayed stage
/// by stage).
pub fn embedded_stages(component: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let meta = read_metadata(component)?;
    if meta.stages.iter().any(|s| s.middleware) {
        return None;
    }
    let mut by_digest: HashMap<String, Vec<u8>> = HashMap::new();
    let mut parser = wasmparser::Parser::new(0);
    let mut offset = 0;
    loop {
        let chunk = parser.parse(&component[offset..], true).ok()?;
        let (payload, consumed) = match chunk {
            wasmparser::Chunk::Parsed { payload, consumed } => (payload, consumed),
            wasmparser::Chunk::NeedMoreData(_) => return None,
        };
        offset += consumed;
        match payload {
            wasmparser::Payload::ComponentSection {
                unchecked_range, ..
            } => {
                let start = usize::try_from(unchecked_range.start).ok()?;
                let end = usize::try_from(unchecked_range.end).ok()?;
                let nested = component.get(start..end)?;
                by_digest.insert(digest(nested), nested.to_vec());
                // The parent parser resumes after the nested component: only
                // top-level components are stages.
                offset = end;
            }
            wasmparser::Payload::ModuleSection {
                unchecked_range, ..
            } => offset = usize::try_from(unchecked_range.end).ok()?,
            wasmparser::Payload::End(_) => break,
            _ => {}
        }
    }
    meta.stages
        .iter()
        .map(|s| Some((s.name.clone(), by_digest.get(&s.digest)?.clone())))
        .collect()
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A stage, checked and understood.
struct Analyzed {
    input: StageInput,
    digest: String,
    /// Its export of the contract interface (its exact name).
    export: String,
    /// Its import of the contract interface, when it is a middleware.
    import: Option<String>,
    /// Its other instance exports.
    other_exports: Vec<String>,
}

/// Composes `plan` into one component.
pub fn compose(plan: ComposePlan<'_>) -> Result<Composition, ComposeError> {
    if plan.stages.is_empty() {
        return Err(ComposeError::NoStages);
    }
    let mut names = std::collections::HashSet::new();
    for s in &plan.stages {
        if !names.insert(s.name.as_str()) {
            return Err(ComposeError::DuplicateStage(s.name.clone()));
        }
    }
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
    for input in &mut inputs {
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
    let quick = QuickContract::new(wit, world, &contract_key);
    let stages = inputs
        .iter()
        .zip(&digests)
        .map(|(input, digest)| {
            let pkg = packages[digest].0;
            match quick.analyze(&graph, pkg, input, digest) {
                Some(a) => Ok(a),
                None => analyze(input.clone(), digest.clone(), &ctx),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;

    let mut builder = Builder::new(&contract, plan.name, plan.version, graph, packages);
    let built = builder
        .build(&stages)
        .and_then(|()| builder.finish(&stages));
    let (bytes, wac, sequencers, skipped) = match built {
        Ok(b) => b,
        Err(e) => return Err(explain(&inputs, &digests, &ctx).unwrap_or(e)),
    };

    // The result must satisfy the target world, with every stage's
    // allowances (a stage's permitted imports pass through).
    let allowed: Vec<String> = stages
        .iter()
        .flat_map(|s| s.input.allow_imports.iter().cloned())
        .collect();
    let policy = ImportPolicy::allow(allowed).map_err(|e| ComposeError::Graph(e.to_string()))?;
    let composed = ComponentBytes::from_bytes(std::path::Path::new("<composed>"), bytes.clone())
        .and_then(|c| c.validate_and_decode())
        .map_err(|e| ComposeError::Graph(format!("the composed component is not valid: {e}")))?;
    let findings = check_world(&composed, &wit.resolve, world, &policy);
    if !findings.is_empty() {
        return Err(
            explain(&inputs, &digests, &ctx).unwrap_or(ComposeError::Output {
                world: world_name,
                findings,
            }),
        );
    }

    let mut bytes = bytes;
    let meta = PipelineMetadata {
        name: plan.name.to_string(),
        version: plan.version.to_string(),
        world: world_name.clone(),
        interface: contract.name.clone(),
        stages: stages
            .iter()
            .map(|s| StageMetadata {
                name: s.input.name.clone(),
                digest: s.digest.clone(),
                origin: s.input.origin.clone(),
                middleware: s.import.is_some(),
            })
            .collect(),
    };
    append_metadata(&mut bytes, &meta);
    let digest_out = digest(&bytes);
    Ok(Composition {
        size: bytes.len(),
        digest: digest_out,
        imports: composed.import_names(),
        exports: composed.export_names(),
        world: world_name,
        interface: contract.name.clone(),
        stages: stages
            .iter()
            .map(|s| StageReport {
                name: s.input.name.clone(),
                origin: s.input.origin.clone(),
                digest: s.digest.clone(),
                size: s.input.bytes.len(),
                middleware: s.import.is_some(),
                provides: s.export.clone(),
            })
            .collect(),
        skipped_exports: skipped,
        bytes,
        wac,
        sequencers,
    })
}

/// The world's one interface export that stages chain.
fn contract_export<'w>(
    wit: &'w WitSet,
    world: wit_parser::WorldId,
    world_name: &str,
) -> Result<(WorldKey, &'w WorldItem), ComposeError> {
    let exports: Vec<_> = wit.resolve.worlds[world]
        .exports
        .iter()
        .filter(|(_, item)| matches!(item, WorldItem::Interface { .. }))
        .collect();
    // A world may export several interfaces (`counter-plugin`); the chained
    // one is the one with a single chainable function.
    let chainable: Vec<_> = exports
        .iter()
        .filter(|(_, item)| match item {
            WorldItem::Interface { id, .. } => Contract::new(wit.resolve.clone(), *id).is_ok(),
            _ => false,
        })
        .collect();
    match chainable.as_slice() {
        [(key, item)] => Ok(((*key).clone(), item)),
        [] => Err(ComposeError::World {
            world: world_name.to_string(),
            reason: "it exports no interface with one `func(string) -> result<string, E>` \
                     function for stages to chain"
                .to_string(),
        }),
        several => Err(ComposeError::World {
            world: world_name.to_string(),
            reason: format!(
                "it exports several chainable interfaces ({}); pipectl chains exactly one",
                several
                    .iter()
                    .map(|(k, _)| wit.resolve.name_world_key(k))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// The target world's view a stage is checked against.
struct StageContext<'w> {
    wit: &'w WitSet,
    world: wit_parser::WorldId,
    contract_key: &'w WorldKey,
    contract_item: &'w WorldItem,
}

/// The first stage the full check finds fault with, if any.
fn explain(
    inputs: &[StageInput],
    digests: &[String],
    ctx: &StageContext<'_>,
) -> Option<ComposeError> {
    inputs
        .iter()
        .zip(digests)
        .find_map(|(input, digest)| analyze(input.clone(), digest.clone(), ctx).err())
}

/// The contract interface's name, for reading stages from wac-graph's types.
struct QuickContract<'w> {
    wit: &'w WitSet,
    world: wit_parser::WorldId,
    namespace: String,
    package: String,
    interface: String,
    track: Option<semver::Version>,
}

/// `ns:pkg/iface@version` split up; `None` for plain names.
fn split_name(name: &str) -> Option<(&str, &str, &str, Option<semver::Version>)> {
    let (path, version) = match name.split_once('@') {
        Some((p, v)) => (p, Some(semver::Version::parse(v).ok()?)),
        None => (name, None),
    };
    let (pkg, iface) = path.split_once('/')?;
    let (ns, pkg) = pkg.split_once(':')?;
    Some((ns, pkg, iface, version))
}

impl<'w> QuickContract<'w> {
    fn new(wit: &'w WitSet, world: wit_parser::WorldId, key: &WorldKey) -> Self {
        let name = wit.resolve.name_world_key(key);
        let (ns, pkg, iface, version) = split_name(&name).unwrap_or(("", "", "", None));
        Self {
            wit,
            world,
            namespace: ns.to_string(),
            package: pkg.to_string(),
            interface: iface.to_string(),
            track: version
                .as_ref()
                .map(wit_parser::PackageName::version_compat_track),
        }
    }

    fn is_contract(&self, name: &str) -> bool {
        split_name(name).is_some_and(|(ns, pkg, iface, v)| {
            ns == self.namespace
                && pkg == self.package
                && iface == self.interface
                && v.as_ref()
                    .map(wit_parser::PackageName::version_compat_track)
                    == self.track
        })
    }

    /// Whether the target world imports `name` (semver-compatibly).
    fn world_provides(&self, name: &str) -> bool {
        let Some((ns, pkg, iface, v)) = split_name(name) else {
            return false;
        };
        let r = &self.wit.resolve;
        r.worlds[self.world].imports.keys().any(|k| {
            let WorldKey::Interface(id) = k else {
                return false;
            };
            let i = &r.interfaces[*id];
            let Some(p) = i.package.map(|p| &r.packages[p].name) else {
                return false;
            };
            p.namespace == ns
                && p.name == pkg
                && i.name.as_deref() == Some(iface)
                && p.version
                    .as_ref()
                    .map(wit_parser::PackageName::version_compat_track)
                    == v.as_ref()
                        .map(wit_parser::PackageName::version_compat_track)
        })
    }

    /// A stage as wac-graph's types show it, when they show exactly one
    /// compatible export of the contract, at most one import of it (a
    /// middleware), and every other import allowed. The contract's types
    /// are then checked by wac-graph when the stage is wired, and by the
    /// final check of the composition; anything else goes to the full check.
    fn analyze(
        &self,
        graph: &CompositionGraph,
        pkg: wac_graph::PackageId,
        input: &StageInput,
        digest: &str,
    ) -> Option<Analyzed> {
        let types = graph.types();
        let world = &types[graph[pkg].ty()];
        let instance = |k: &ItemKind| matches!(k, ItemKind::Instance(_));
        let mut exports = world
            .exports
            .iter()
            .filter(|(n, k)| instance(k) && self.is_contract(n));
        let (export, _) = exports.next()?;
        if exports.next().is_some() {
            return None;
        }
        let mut import = None;
        let policy = ImportPolicy::allow(input.allow_imports.iter().cloned()).ok()?;
        for (name, kind) in &world.imports {
            if self.is_contract(name) && instance(kind) && import.is_none() {
                import = Some(name.clone());
            } else if !policy.allows(name) && !self.world_provides(name) {
                return None;
            }
        }
        let other_exports = world
            .exports
            .iter()
            .filter(|(n, k)| instance(k) && *n != export)
            .map(|(n, _)| n.clone())
            .collect();
        Some(Analyzed {
            input: input.clone(),
            digest: digest.to_string(),
            export: export.clone(),
            import,
            other_exports,
        })
    }
}

fn analyze(
    input: StageInput,
    digest: String,
    ctx: &StageContext<'_>,
) -> Result<Analyzed, ComposeError> {
    let StageContext {
        wit,
        world,
        contract_key,
        contract_item,
    } = *ctx;
    let stage_err = |source| ComposeError::StageFile {
        stage: input.name.clone(),
        source,
    };
    let file = ComponentBytes::from_bytes(std::path::Path::new(&input.origin), input.bytes.clone())
        .map_err(stage_err)?;
    let decoded: DecodedComponent = file.decode().map_err(stage_err)?;
    let findings_err = |findings: Vec<Finding>| ComposeError::Stage {
        stage: input.name.clone(),
        origin: input.origin.clone(),
        findings,
    };

    let mut findings = check_export(&decoded, &wit.resolve, world, contract_key, contract_item);
    let cworld = &decoded.resolve.worlds[decoded.world];
    let export = find_matching(
        &wit.resolve,
        contract_key,
        &decoded.resolve,
        &cworld.exports,
    )
    .map(|(k, _)| decoded.resolve.name_world_key(k));
    let import = find_matching(
        &wit.resolve,
        contract_key,
        &decoded.resolve,
        &cworld.imports,
    )
    .map(|(k, _)| decoded.resolve.name_world_key(k));

    // A middleware's import of the contract is plugged by the chain; every
    // other import needs the world or the stage's allowances.
    let mut allowed = input.allow_imports.clone();
    allowed.extend(import.iter().cloned());
    let policy = ImportPolicy::allow(allowed).map_err(|e| {
        findings_err(vec![Finding {
            kind: FindingKind::UnexpectedImport,
            item: "allow-imports".into(),
            message: e.to_string(),
            expected: None,
            found: None,
        }])
    })?;
    findings.extend(check_imports(&decoded, &wit.resolve, world, &policy));
    if !findings.is_empty() {
        for f in &mut findings {
            if f.kind == FindingKind::UnexpectedImport {
                f.message = format!(
                    "{}; allow it with `allow-imports` on the stage if it should pass through",
                    f.message
                        .trim_end_matches(" and no `--allow-import` pattern allows")
                );
            }
        }
        return Err(findings_err(findings));
    }
    let export = export.expect("no findings means the contract export was found");
    let other_exports = cworld
        .exports
        .iter()
        .filter(|(_, item)| matches!(item, WorldItem::Interface { .. }))
        .map(|(k, _)| decoded.resolve.name_world_key(k))
        .filter(|name| *name != export)
        .collect();
    Ok(Analyzed {
        digest,
        input,
        export,
        import,
        other_exports,
    })
}

/// Stage packages registered with wac-graph, by digest: id, package name,
/// origin.
type Registered = HashMap<String, (wac_graph::PackageId, String, String)>;

/// Loads each distinct stage component into a new graph (wac-graph
/// validates it); a stage may repeat under several names.
fn register_stages(
    inputs: &[StageInput],
    digests: &[String],
) -> Result<(CompositionGraph, Registered), ComposeError> {
    let mut graph = CompositionGraph::new();
    let mut packages = Registered::new();
    for (input, digest) in inputs.iter().zip(digests) {
        if packages.contains_key(digest) {
            continue;
        }
        let pkg_name = format!("stage:{}", input.name);
        let package = Package::from_bytes(&pkg_name, None, input.bytes.clone(), graph.types_mut())
            .map_err(|e| ComposeError::Stage {
                stage: input.name.clone(),
                origin: input.origin.clone(),
                findings: vec![Finding {
                    kind: FindingKind::TypeMismatch,
                    item: input.name.clone(),
                    message: format!("wac-graph cannot load it: {e:#}"),
                    expected: None,
                    found: None,
                }],
            })?;
        let id = graph
            .register_package(package)
            .map_err(|e| ComposeError::Graph(format!("{e:#}")))?;
        packages.insert(digest.clone(), (id, pkg_name, input.origin.clone()));
    }
    Ok((graph, packages))
}

/// Builds the wac graph and, alongside, the equivalent WAC source.
struct Builder<'a> {
    graph: CompositionGraph,
    contract: &'a Contract,
    wac: wac::WacWriter,
    /// Registered stage packages by digest (a stage may repeat).
    packages: Registered,
    /// Packages already listed in the WAC header.
    listed: std::collections::HashSet<String>,
    /// Each stage's instantiation node and WAC variable.
    instances: Vec<Option<(NodeId, String)>>,
    sequencers: Vec<(String, Vec<u8>)>,
    /// The chain's head: a node giving the contract instance.
    head: Option<(NodeId, wac::Expr)>,
}

impl<'a> Builder<'a> {
    fn new(
        contract: &'a Contract,
        name: &str,
        version: &semver::Version,
        graph: CompositionGraph,
        packages: Registered,
    ) -> Self {
        Self {
            graph,
            contract,
            wac: wac::WacWriter::new(name, version),
            packages,
            listed: std::collections::HashSet::new(),
            instances: Vec::new(),
            sequencers: Vec::new(),
            head: None,
        }
    }

    fn graph_err(e: impl std::fmt::Display) -> ComposeError {
        ComposeError::Graph(format!("{e:#}"))
    }

    fn build(&mut self, stages: &[Analyzed]) -> Result<(), ComposeError> {
        self.instances = vec![None; stages.len()];
        let head = self.chain(stages, 0)?;
        self.head = Some(head);
        Ok(())
    }

    /// Registers (once per distinct component) and instantiates stage `i`.
    fn instantiate_stage(&mut self, stages: &[Analyzed], i: usize) -> Result<NodeId, ComposeError> {
        let stage = &stages[i];
        let (pkg, pkg_name, origin) = self.packages[&stage.digest].clone();
        if self.listed.insert(pkg_name.clone()) {
            self.wac.dependency(&pkg_name, &origin);
        }
        let node = self.graph.instantiate(pkg);
        self.graph.set_node_name(node, stage.input.name.clone());
        self.instances[i] = Some((node, stage.input.name.clone()));
        Ok(node)
    }

    /// The chain from stage `from` to the end: returns the node that gives
    /// its contract instance, and its WAC expression.
    fn chain(
        &mut self,
        stages: &[Analyzed],
        from: usize,
    ) -> Result<(NodeId, wac::Expr), ComposeError> {
        // Export-only stages up to the next middleware.
        let mut elements: Vec<(NodeId, wac::Expr)> = Vec::new();
        let mut i = from;
        let mut args: Vec<Option<(String, wac::Expr)>> = Vec::new();
        while i < stages.len() && stages[i].import.is_none() {
            let node = self.instantiate_stage(stages, i)?;
            let alias = self
                .graph
                .alias_instance_export(node, &stages[i].export)
                .map_err(Self::graph_err)?;
            let expr = wac::Expr::export(&stages[i].input.name, &stages[i].export);
            self.wac.instantiate(
                &stages[i].input.name,
                &self.package_name(stages, i),
                &[],
                true,
            );
            elements.push((alias, expr));
            args.push(None);
            i += 1;
        }
        if i < stages.len() {
            // A middleware wraps the rest of the chain.
            let rest = self.chain(stages, i + 1)?;
            let mw = &stages[i];
            let import = mw.import.clone().expect("middleware has an import");
            let node = self.instantiate_stage(stages, i)?;
            self.graph
                .set_instantiation_argument(node, &import, rest.0)
                .map_err(Self::graph_err)?;
            self.wac.instantiate(
                &mw.input.name,
                &self.package_name(stages, i),
                &[(import.clone(), rest.1.clone())],
                true,
            );
            let alias = self
                .graph
                .alias_instance_export(node, &mw.export)
                .map_err(Self::graph_err)?;
            elements.push((alias, wac::Expr::export(&mw.input.name, &mw.export)));
        } else if elements.is_empty() {
            // A middleware closes the chain: it wraps the identity.
            return self.sequencer(Vec::new());
        }
        if elements.len() == 1 {
            return Ok(elements.pop().expect("one element"));
        }
        self.sequencer(elements)
    }

    fn package_name(&self, stages: &[Analyzed], i: usize) -> String {
        self.packages[&stages[i].digest].1.clone()
    }

    /// Generates and instantiates a sequencer over `elements`.
    fn sequencer(
        &mut self,
        elements: Vec<(NodeId, wac::Expr)>,
    ) -> Result<(NodeId, wac::Expr), ComposeError> {
        let bytes = sequencer::generate(self.contract, elements.len())?;
        let k = self.sequencers.len();
        let pkg_name = if k == 0 {
            "pipectl:sequencer".to_string()
        } else {
            format!("pipectl:sequencer{k}")
        };
        let var = if k == 0 {
            "sequencer".to_string()
        } else {
            format!("sequencer{k}")
        };
        let package = Package::from_bytes(&pkg_name, None, bytes.clone(), self.graph.types_mut())
            .map_err(Self::graph_err)?;
        let pkg = self
            .graph
            .register_package(package)
            .map_err(Self::graph_err)?;
        let node = self.graph.instantiate(pkg);
        self.graph.set_node_name(node, var.clone());
        let mut wac_args = Vec::new();
        for (i, (source, expr)) in elements.into_iter().enumerate() {
            let arg = sequencer::stage_import(i);
            self.graph
                .set_instantiation_argument(node, &arg, source)
                .map_err(Self::graph_err)?;
            wac_args.push((arg, expr));
        }
        self.wac.dependency(&pkg_name, "generated by pipectl");
        self.wac.instantiate(&var, &pkg_name, &wac_args, false);
        self.sequencers.push((pkg_name, bytes));
        let alias = self
            .graph
            .alias_instance_export(node, &self.contract.name)
            .map_err(Self::graph_err)?;
        Ok((alias, wac::Expr::export(&var, &self.contract.name)))
    }

    /// Exports the chain and the stages' other interfaces, and encodes.
    #[allow(clippy::type_complexity)]
    fn finish(
        mut self,
        stages: &[Analyzed],
    ) -> Result<(Vec<u8>, String, Vec<(String, Vec<u8>)>, Vec<String>), ComposeError> {
        let (head, head_expr) = self.head.clone().expect("build ran");
        self.graph
            .export(head, self.contract.name.clone())
            .map_err(Self::graph_err)?;
        self.wac.export(&head_expr, &self.contract.name);

        // Other interfaces a stage exports are re-exported when exactly one
        // stage instance provides them.
        let mut providers: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, s) in stages.iter().enumerate() {
            for e in &s.other_exports {
                providers.entry(e.as_str()).or_default().push(i);
            }
        }
        let mut skipped = Vec::new();
        for (name, who) in providers {
            if name == self.contract.name {
                skipped.push(format!("`{name}`: the pipeline's own export"));
                continue;
            }
            if !(name.contains(':') && name.contains('/')) {
                // A plain name (componentize-py's `exports`) is the stage's
                // own business, not an interface others could import.
                let names: Vec<_> = who.iter().map(|i| stages[*i].input.name.as_str()).collect();
                skipped.push(format!(
                    "`{name}` (of {}): a plain-named export, not an interface",
                    names.join(", ")
                ));
                continue;
            }
            if let [i] = who[..] {
                let (node, var) = self.instances[i]
                    .clone()
                    .expect("every stage is instantiated");
                let pkg = self.graph[node]
                    .package()
                    .expect("a stage node is an instantiation");
                let world = &self.graph.types()[self.graph[pkg].ty()];
                if !matches!(world.exports.get(name), Some(ItemKind::Instance(_))) {
                    continue;
                }
                let alias = self
                    .graph
                    .alias_instance_export(node, name)
                    .map_err(Self::graph_err)?;
                self.graph
                    .export(alias, name.to_string())
                    .map_err(Self::graph_err)?;
                self.wac.export(&wac::Expr::export(&var, name), name);
            } else {
                let names: Vec<_> = who.iter().map(|i| stages[*i].input.name.as_str()).collect();
                skipped.push(format!(
                    "`{name}`: exported by several stages ({}), so it is ambiguous",
                    names.join(", ")
                ));
            }
        }

        let version = env!("CARGO_PKG_VERSION");
        let bytes = self
            .graph
            .encode(EncodeOptions {
                define_components: true,
                // Validated in full by the caller, function bodies on two
                // threads, while it decodes the result's WIT.
                validate: false,
                processor: Some(Processor {
                    name: "pipectl",
                    version,
                }),
            })
            .map_err(Self::graph_err)?;
        let wac = self.wac.finish();
        Ok((bytes, wac, self.sequencers, skipped))
    }
}
