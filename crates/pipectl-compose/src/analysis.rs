//! Each stage checked against the target world and understood: its
//! export of the contract interface, its import when it is a middleware.

use pipectl_wit::check::{FindingKind, check_export, check_imports, find_matching};
use pipectl_wit::{ComponentBytes, DecodedComponent, Finding, ImportPolicy, WitSet};
use wac_graph::CompositionGraph;
use wac_graph::types::ItemKind;
use wit_parser::{WorldItem, WorldKey};

use crate::*;

/// A stage, checked and understood.
pub(crate) struct Analyzed {
    pub(crate) input: StageInput,
    pub(crate) digest: String,
    /// Its export of the contract interface (its exact name).
    pub(crate) export: String,
    /// Its import of the contract interface, when it is a middleware.
    pub(crate) import: Option<String>,
    /// Its other instance exports.
    pub(crate) other_exports: Vec<String>,
}

/// The world's one interface export that stages chain.
pub(crate) fn contract_export<'w>(
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
pub(crate) struct StageContext<'w> {
    pub(crate) wit: &'w WitSet,
    pub(crate) world: wit_parser::WorldId,
    pub(crate) contract_key: &'w WorldKey,
    pub(crate) contract_item: &'w WorldItem,
}

/// The first stage the full check finds fault with, if any.
pub(crate) fn explain(
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
pub(crate) struct QuickContract<'w> {
    pub(crate) wit: &'w WitSet,
    pub(crate) world: wit_parser::WorldId,
    pub(crate) namespace: String,
    pub(crate) package: String,
    pub(crate) interface: String,
    pub(crate) track: Option<semver::Version>,
}

/// `ns:pkg/iface@version` split up; `None` for plain names.
pub(crate) fn split_name(name: &str) -> Option<(&str, &str, &str, Option<semver::Version>)> {
    let q = pipectl_wit::QualifiedName::parse(name).ok()?;
    Some((q.namespace, q.package, q.item, q.version))
}

impl<'w> QuickContract<'w> {
    pub(crate) fn new(wit: &'w WitSet, world: wit_parser::WorldId, key: &WorldKey) -> Self {
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

    pub(crate) fn is_contract(&self, name: &str) -> bool {
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
    pub(crate) fn world_provides(&self, name: &str) -> bool {
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
    pub(crate) fn analyze(
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

pub(crate) fn analyze(
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
                        .trim_end_matches(" and no allowed import pattern matches")
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
