//! The wac graph that wires the stages and sequencers, and the
//! equivalent WAC source alongside.

use std::collections::{BTreeMap, HashMap};

use pipectl_wit::Finding;
use pipectl_wit::check::FindingKind;
use wac_graph::types::{ItemKind, Package};
use wac_graph::{CompositionGraph, EncodeOptions, NodeId, Processor};

use crate::adapter::{Adapter, CHAIN};
use crate::*;

/// Stage packages registered with wac-graph, by digest: id, package name,
/// origin.
pub(crate) type Registered = HashMap<String, (wac_graph::PackageId, String, String)>;

/// Loads each distinct stage component into a new graph (wac-graph
/// validates it); a stage may repeat under several names.
pub(crate) fn register_stages(
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
pub(crate) struct Builder<'a> {
    pub(crate) graph: CompositionGraph,
    pub(crate) contract: &'a Contract,
    pub(crate) wac: wac::WacWriter,
    /// Registered stage packages by digest (a stage may repeat).
    pub(crate) packages: Registered,
    /// Packages already listed in the WAC header.
    pub(crate) listed: std::collections::HashSet<String>,
    /// Each stage's instantiation node and WAC variable.
    pub(crate) instances: Vec<Option<(NodeId, String)>>,
    pub(crate) sequencers: Vec<(String, Vec<u8>)>,
    /// The chain's head: a node giving the contract instance (or, with an
    /// adapter, the adapter's export).
    pub(crate) head: Option<(NodeId, wac::Expr)>,
    /// What the chain is exposed as, if not its contract.
    pub(crate) adapter: Option<Adapter>,
}

impl<'a> Builder<'a> {
    pub(crate) fn new(
        contract: &'a Contract,
        name: &str,
        version: &semver::Version,
        graph: CompositionGraph,
        packages: Registered,
        adapter: Option<Adapter>,
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
            adapter,
        }
    }

    pub(crate) fn graph_err(e: impl std::fmt::Display) -> ComposeError {
        ComposeError::Graph(format!("{e:#}"))
    }

    pub(crate) fn build(&mut self, stages: &[Analyzed]) -> Result<(), ComposeError> {
        self.instances = vec![None; stages.len()];
        let head = match self.adapter {
            None => self.chain(stages, 0)?,
            Some(adapter) => self.adapted(stages, adapter)?,
        };
        self.head = Some(head);
        Ok(())
    }

    /// Registers (once per distinct component) and instantiates stage `i`.
    pub(crate) fn instantiate_stage(
        &mut self,
        stages: &[Analyzed],
        i: usize,
    ) -> Result<NodeId, ComposeError> {
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
    pub(crate) fn chain(
        &mut self,
        stages: &[Analyzed],
        from: usize,
    ) -> Result<(NodeId, wac::Expr), ComposeError> {
        let mut elements = self.elements(stages, from)?;
        if elements.is_empty() {
            // A middleware closes the chain: it wraps the identity.
            return self.sequencer(Vec::new());
        }
        if elements.len() == 1 {
            let (node, expr, _) = elements.pop().expect("one element");
            return Ok((node, expr));
        }
        self.sequencer(elements.into_iter().map(|(n, e, _)| (n, e)).collect())
    }

    /// The elements of the chain from stage `from`: each export-only stage
    /// up to the next middleware, then that middleware wrapping the rest of
    /// the chain; each as the node giving its contract instance, its WAC
    /// expression and the stage's name.
    pub(crate) fn elements(
        &mut self,
        stages: &[Analyzed],
        from: usize,
    ) -> Result<Vec<(NodeId, wac::Expr, String)>, ComposeError> {
        let mut elements = Vec::new();
        let mut i = from;
        while i < stages.len() && stages[i].import.is_none() {
            let node = self.instantiate_stage(stages, i)?;
            let alias = self
                .graph
                .alias_instance_export(node, &stages[i].export)
                .map_err(Self::graph_err)?;
            let name = &stages[i].input.name;
            let expr = wac::Expr::export(name, &stages[i].export);
            self.wac
                .instantiate(name, &self.package_name(stages, i), &[], true);
            elements.push((alias, expr, name.clone()));
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
            let expr = wac::Expr::export(&mw.input.name, &mw.export);
            elements.push((alias, expr, mw.input.name.clone()));
        }
        Ok(elements)
    }

    pub(crate) fn package_name(&self, stages: &[Analyzed], i: usize) -> String {
        self.packages[&stages[i].digest].1.clone()
    }

    /// Generates and instantiates a sequencer over `elements`.
    pub(crate) fn sequencer(
        &mut self,
        elements: Vec<(NodeId, wac::Expr)>,
    ) -> Result<(NodeId, wac::Expr), ComposeError> {
        let bytes = sequencer::generate(self.contract, elements.len())?;
        let k = self.sequencers.len();
        let (pkg_name, var) = match k {
            0 => ("pipectl:sequencer".to_string(), "sequencer".to_string()),
            k => (format!("pipectl:sequencer{k}"), format!("sequencer{k}")),
        };
        let args = elements
            .into_iter()
            .enumerate()
            .map(|(i, (node, expr))| (sequencer::stage_import(i), node, expr))
            .collect();
        let name = self.contract.name.clone();
        self.generated(&pkg_name, &var, bytes, args, &name)
    }

    /// Registers a component pipectl made (a sequencer, a head, an
    /// adapter), instantiates it with `args` and returns its export
    /// `export`.
    fn generated(
        &mut self,
        pkg_name: &str,
        var: &str,
        bytes: Vec<u8>,
        args: Vec<(String, NodeId, wac::Expr)>,
        export: &str,
    ) -> Result<(NodeId, wac::Expr), ComposeError> {
        let package = Package::from_bytes(pkg_name, None, bytes.clone(), self.graph.types_mut())
            .map_err(Self::graph_err)?;
        let pkg = self
            .graph
            .register_package(package)
            .map_err(Self::graph_err)?;
        let node = self.graph.instantiate(pkg);
        self.graph.set_node_name(node, var.to_string());
        let mut wac_args = Vec::new();
        for (arg, source, expr) in args {
            self.graph
                .set_instantiation_argument(node, &arg, source)
                .map_err(Self::graph_err)?;
            wac_args.push((arg, expr));
        }
        self.wac.dependency(pkg_name, "generated by pipectl");
        self.wac.instantiate(var, pkg_name, &wac_args, false);
        self.sequencers.push((pkg_name.to_string(), bytes));
        let alias = self
            .graph
            .alias_instance_export(node, export)
            .map_err(Self::graph_err)?;
        Ok((alias, wac::Expr::export(var, export)))
    }

    /// The chain's top-level elements under a generated head, plugged
    /// into `adapter`: returns the adapter's export.
    fn adapted(
        &mut self,
        stages: &[Analyzed],
        adapter: Adapter,
    ) -> Result<(NodeId, wac::Expr), ComposeError> {
        let elements = self.elements(stages, 0)?;
        let names: Vec<String> = elements.iter().map(|e| e.2.clone()).collect();
        let (bindgen, _) = adapter.bindgen()?;
        let bytes = head::generate(self.contract, &names, adapter, bindgen)?;
        let args = elements
            .into_iter()
            .enumerate()
            .map(|(i, (node, expr, _))| (sequencer::stage_import(i), node, expr))
            .collect();
        let chain = self.generated("pipectl:head", "head", bytes, args, CHAIN)?;
        let pkg_name = format!("pipectl:adapter-{}", adapter.name());
        self.generated(
            &pkg_name,
            "adapter",
            adapter.component()?,
            vec![(CHAIN.to_string(), chain.0, chain.1)],
            adapter.export(),
        )
    }

    /// Exports the chain and the stages' other interfaces, and encodes.
    #[allow(clippy::type_complexity)]
    pub(crate) fn finish(
        mut self,
        stages: &[Analyzed],
    ) -> Result<(Vec<u8>, String, Vec<(String, Vec<u8>)>, Vec<String>), ComposeError> {
        let (head, head_expr) = self.head.clone().expect("build ran");
        let export = match self.adapter {
            Some(adapter) => adapter.export().to_string(),
            None => self.contract.name.clone(),
        };
        self.graph
            .export(head, export.clone())
            .map_err(Self::graph_err)?;
        self.wac.export(&head_expr, &export);

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
            if let Some(adapter) = self.adapter {
                skipped.push(format!(
                    "`{name}`: the {} adapter exports `{}` only",
                    adapter.name(),
                    adapter.export()
                ));
                continue;
            }
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
