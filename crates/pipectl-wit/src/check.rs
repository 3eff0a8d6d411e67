//! Checking a component against a world: every problem at once.
//!
//! The component's decoded world and the target world are compared the way
//! the component-model linker would: interfaces are matched by name up to
//! semver compatibility (`@0.2.1` satisfies `@0.2.0`; `0.1` and `0.2`, or
//! `1.x` and `2.x`, never match), functions and types structurally. The
//! component must export everything the world exports, and may import only
//! what the world imports plus what the [`ImportPolicy`] allows.

use std::path::Path;
use std::sync::OnceLock;

use wit_parser::{
    Function, Interface, InterfaceId, PackageName, Resolve, TypeDefKind, WorldId, WorldItem,
    WorldKey,
};

use crate::component::{ComponentBytes, ComponentError, DecodedComponent};
use crate::load::world_name;
use crate::policy::ImportPolicy;
use crate::targets::{Bodies, EncodedWorld};
use crate::types::{TypeComparer, display_signature};

/// What kind of problem a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FindingKind {
    /// The world exports an interface, function or resource the component
    /// does not.
    MissingExport,
    /// The component imports something the world does not provide and the
    /// policy does not allow.
    UnexpectedImport,
    /// Both sides have the item, with different types.
    TypeMismatch,
    /// Both sides have the interface, at semver-incompatible versions.
    IncompatibleVersion,
}

impl FindingKind {
    /// The kebab-case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::MissingExport => "missing-export",
            FindingKind::UnexpectedImport => "unexpected-import",
            FindingKind::TypeMismatch => "type-mismatch",
            FindingKind::IncompatibleVersion => "incompatible-version",
        }
    }
}

/// One problem found in a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What kind of problem.
    pub kind: FindingKind,
    /// The item: `ns:pkg/iface@ver`, or `ns:pkg/iface@ver#func`.
    pub item: String,
    /// A sentence saying what is wrong.
    pub message: String,
    /// For type mismatches, the world's type.
    pub expected: Option<String>,
    /// For type mismatches, the component's type.
    pub found: Option<String>,
}

/// The result of checking one component.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The checked component's path, as displayed in the report.
    pub component: String,
    /// The world it was checked against: the one it satisfies, or the
    /// closest one when it satisfies none.
    pub world: String,
    /// Whether there are no findings.
    pub ok: bool,
    /// Every problem found against that world; empty when `ok`.
    pub findings: Vec<Finding>,
}

/// The world(s) components are checked against, and the import policy.
pub struct Target<'a> {
    /// Where the worlds live.
    pub resolve: &'a Resolve,
    /// The acceptable worlds: a component passes when it satisfies any.
    pub worlds: &'a [WorldId],
    /// What may be imported beyond a world.
    pub policy: &'a ImportPolicy,
    bodies: bool,
    threads: usize,
    /// The first world's component type, encoded on first use.
    first: OnceLock<Option<EncodedWorld>>,
}

impl<'a> Target<'a> {
    /// Components are checked against `worlds` (in order) under `policy`,
    /// with function bodies validated on up to two threads.
    pub fn new(resolve: &'a Resolve, worlds: &'a [WorldId], policy: &'a ImportPolicy) -> Self {
        Self {
            resolve,
            worlds,
            policy,
            bodies: true,
            threads: 2,
            first: OnceLock::new(),
        }
    }

    /// Whether function bodies are validated (the default). Without, a
    /// check validates and compares types only: quicker, for loops that
    /// only need the WIT, and a component with an invalid body passes.
    pub fn validate_bodies(mut self, yes: bool) -> Self {
        self.bodies = yes;
        self
    }

    /// The most threads one component's check may use (at least one).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Reads, validates and checks the component at `path`.
    ///
    /// `Err` means the file is not a usable component; problems with a
    /// usable one are findings in the report.
    pub fn check_file(&self, path: &Path) -> Result<CheckReport, ComponentError> {
        let component = ComponentBytes::read(path)?;
        self.check_bytes(&component)
    }

    /// Validates and checks a component already read.
    ///
    /// One validation decides the common case: the component, wrapped as
    /// `wit_component::targets` wraps it, is valid and a subtype of the
    /// first world (the `targets` module). Otherwise the component is
    /// decoded and compared with every world, so each problem is named.
    pub fn check_bytes(&self, component: &ComponentBytes) -> Result<CheckReport, ComponentError> {
        if let Some(report) = self.check_fast(component) {
            return Ok(report);
        }
        self.check_by_decoding(component)
    }

    /// [`Target::check_bytes`] without the fast path: always decodes the
    /// component's WIT and compares worlds.
    pub fn check_by_decoding(
        &self,
        component: &ComponentBytes,
    ) -> Result<CheckReport, ComponentError> {
        let decoded = if self.bodies {
            component.validate_and_decode_on(self.threads)?
        } else {
            component.decode()?
        };
        Ok(self.check_decoded(&component.path.display().to_string(), &decoded))
    }

    /// The report when the component targets the first world exactly;
    /// `None` when that is not shown (the caller then decodes).
    fn check_fast(&self, component: &ComponentBytes) -> Option<CheckReport> {
        let &world = self.worlds.first()?;
        let encoded = self
            .first
            .get_or_init(|| EncodedWorld::new(self.resolve, world))
            .as_ref()?;
        let small = component.bytes.len() < crate::component::SEQUENTIAL_BELOW;
        let mode = match (self.bodies, small || self.threads <= 1) {
            (false, _) => Bodies::Skip,
            (true, true) => Bodies::Inline,
            (true, false) => Bodies::Collect,
        };
        let bodies = crate::targets::validate(encoded, &component.bytes, mode)?;
        if mode == Bodies::Collect {
            crate::component::validate_bodies_on(bodies, self.threads).ok()?;
        }
        Some(CheckReport {
            component: component.path.display().to_string(),
            world: world_name(self.resolve, world),
            ok: true,
            findings: Vec::new(),
        })
    }

    /// Checks a decoded component against each world; reports the first one
    /// it satisfies, or the one with the fewest findings.
    pub fn check_decoded(&self, name: &str, component: &DecodedComponent) -> CheckReport {
        let mut best: Option<(WorldId, Vec<Finding>)> = None;
        for &world in self.worlds {
            let findings = check_world(component, self.resolve, world, self.policy);
            let better = match &best {
                None => true,
                Some((_, f)) => findings.len() < f.len(),
            };
            if better {
                let done = findings.is_empty();
                best = Some((world, findings));
                if done {
                    break;
                }
            }
        }
        let (world, findings) = best.unwrap_or_default_world();
        CheckReport {
            component: name.to_string(),
            world: world
                .map(|w| world_name(self.resolve, w))
                .unwrap_or_default(),
            ok: findings.is_empty(),
            findings,
        }
    }
}

trait BestOrEmpty {
    fn unwrap_or_default_world(self) -> (Option<WorldId>, Vec<Finding>);
}

impl BestOrEmpty for Option<(WorldId, Vec<Finding>)> {
    fn unwrap_or_default_world(self) -> (Option<WorldId>, Vec<Finding>) {
        match self {
            Some((w, f)) => (Some(w), f),
            None => (None, Vec::new()),
        }
    }
}

/// An interface's identity: namespace, package, name and version.
struct IfaceIdent<'a> {
    namespace: &'a str,
    package: &'a str,
    name: &'a str,
    version: Option<&'a semver::Version>,
}

impl<'a> IfaceIdent<'a> {
    fn of(resolve: &'a Resolve, id: InterfaceId) -> Option<Self> {
        let iface = &resolve.interfaces[id];
        let pkg = &resolve.packages[iface.package?];
        Some(Self {
            namespace: &pkg.name.namespace,
            package: &pkg.name.name,
            name: iface.name.as_deref()?,
            version: pkg.name.version.as_ref(),
        })
    }

    fn same_name(&self, other: &Self) -> bool {
        self.namespace == other.namespace
            && self.package == other.package
            && self.name == other.name
    }

    fn compatible(&self, other: &Self) -> bool {
        let track = |v: Option<&semver::Version>| v.map(PackageName::version_compat_track);
        track(self.version) == track(other.version)
    }
}

/// How a world item was found among the component's items.
enum Lookup<'a> {
    Found(&'a WorldKey, &'a WorldItem),
    /// Same interface name, semver-incompatible version.
    WrongVersion(&'a WorldKey),
    Missing,
}

fn lookup<'c>(
    want_resolve: &Resolve,
    want: &WorldKey,
    have_resolve: &Resolve,
    have: &'c indexmap::IndexMap<WorldKey, WorldItem>,
) -> Lookup<'c> {
    match want {
        WorldKey::Name(name) => have
            .iter()
            .find(|(k, _)| matches!(k, WorldKey::Name(n) if n == name))
            .map_or(Lookup::Missing, |(k, v)| Lookup::Found(k, v)),
        WorldKey::Interface(id) => {
            let Some(want_ident) = IfaceIdent::of(want_resolve, *id) else {
                return Lookup::Missing;
            };
            let mut wrong_version = None;
            for (key, item) in have {
                let WorldKey::Interface(hid) = key else {
                    continue;
                };
                let Some(have_ident) = IfaceIdent::of(have_resolve, *hid) else {
                    continue;
                };
                if !want_ident.same_name(&have_ident) {
                    continue;
                }
                if want_ident.compatible(&have_ident) {
                    return Lookup::Found(key, item);
                }
                wrong_version.get_or_insert(key);
            }
            wrong_version.map_or(Lookup::Missing, Lookup::WrongVersion)
        }
    }
}

/// Every finding for `component` against `world` in `resolve`.
pub fn check_world(
    component: &DecodedComponent,
    resolve: &Resolve,
    world: WorldId,
    policy: &ImportPolicy,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (wkey, witem) in &resolve.worlds[world].exports {
        findings.extend(check_export(component, resolve, world, wkey, witem));
    }
    findings.extend(check_imports(component, resolve, world, policy));
    findings
}

/// Findings for one export `wkey` of `world`: the component must export it
/// (a semver-compatible version of it) with matching types.
pub fn check_export(
    component: &DecodedComponent,
    resolve: &Resolve,
    world: WorldId,
    wkey: &WorldKey,
    witem: &WorldItem,
) -> Vec<Finding> {
    let c = &component.resolve;
    let cworld = &c.worlds[component.world];
    let wname = world_name(resolve, world);
    let cmp = TypeComparer::new(resolve, c);
    let mut findings = Vec::new();
    let item = resolve.name_world_key(wkey);
    match lookup(resolve, wkey, c, &cworld.exports) {
        Lookup::Found(ckey, citem) => {
            let found = c.name_world_key(ckey);
            compare_items(
                &cmp,
                Direction::Export,
                &item,
                &found,
                witem,
                citem,
                &mut findings,
            );
        }
        Lookup::WrongVersion(ckey) => findings.push(Finding {
            kind: FindingKind::IncompatibleVersion,
            message: format!(
                "world `{wname}` requires export `{item}`; the component exports `{}`, \
                 which is not semver-compatible",
                c.name_world_key(ckey)
            ),
            item,
            expected: None,
            found: None,
        }),
        Lookup::Missing => findings.push(Finding {
            kind: FindingKind::MissingExport,
            message: format!(
                "world `{wname}` requires export `{item}`{}, which the component lacks",
                contents_hint(resolve, witem)
            ),
            item,
            expected: None,
            found: None,
        }),
    }
    findings
}

/// Findings for the component's imports: each must be provided by `world`
/// (with matching types) or allowed by `policy`.
pub fn check_imports(
    component: &DecodedComponent,
    resolve: &Resolve,
    world: WorldId,
    policy: &ImportPolicy,
) -> Vec<Finding> {
    let c = &component.resolve;
    let cworld = &c.worlds[component.world];
    let wworld = &resolve.worlds[world];
    let wname = world_name(resolve, world);
    let cmp = TypeComparer::new(resolve, c);
    let mut findings = Vec::new();
    for (ckey, citem) in &cworld.imports {
        // Types a world `use`s from an interface are listed among its
        // imports; they come with that interface's import, checked on its
        // own. Other types (a resource imported at the world level) are
        // something the host must provide.
        if let WorldItem::Type { id, .. } = citem
            && c.type_interface_dep(*id).is_some()
        {
            continue;
        }
        let item = c.name_world_key(ckey);
        let allowed = policy.allows(&item);
        match lookup(c, ckey, resolve, &wworld.imports) {
            Lookup::Found(wkey, witem) => {
                if !allowed {
                    let provided = resolve.name_world_key(wkey);
                    compare_items(
                        &cmp,
                        Direction::Import,
                        &provided,
                        &item,
                        witem,
                        citem,
                        &mut findings,
                    );
                }
            }
            _ if allowed => {}
            Lookup::WrongVersion(wkey) => findings.push(Finding {
                kind: FindingKind::IncompatibleVersion,
                message: format!(
                    "the component imports `{item}`; world `{wname}` provides `{}`, \
                     which is not semver-compatible",
                    resolve.name_world_key(wkey)
                ),
                item,
                expected: None,
                found: None,
            }),
            Lookup::Missing => findings.push(Finding {
                kind: FindingKind::UnexpectedImport,
                message: format!(
                    "the component imports {}, which world `{wname}` does not provide \
                     and no allowed import pattern matches",
                    describe_import(c, &item, citem)
                ),
                item,
                expected: None,
                found: None,
            }),
        }
    }
    findings
}

/// Finds the component's item matching `want` (a key in `want_resolve`):
/// the same plain name, or the same interface at a semver-compatible version.
/// Returns the key's name when found.
pub fn find_matching<'c>(
    want_resolve: &Resolve,
    want: &WorldKey,
    have_resolve: &Resolve,
    have: &'c indexmap::IndexMap<WorldKey, WorldItem>,
) -> Option<(&'c WorldKey, &'c WorldItem)> {
    match lookup(want_resolve, want, have_resolve, have) {
        Lookup::Found(k, v) => Some((k, v)),
        _ => None,
    }
}

/// Which side must provide: for exports the component provides, for imports
/// the world (its host) does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Export,
    Import,
}

/// Names the functions of a missing interface, so a user sees what it holds.
fn contents_hint(resolve: &Resolve, item: &WorldItem) -> String {
    match item {
        WorldItem::Interface { id, .. } => {
            let funcs: Vec<_> = resolve.interfaces[*id]
                .functions
                .keys()
                .map(String::as_str)
                .collect();
            if funcs.is_empty() {
                String::new()
            } else {
                format!(" (functions {})", funcs.join(", "))
            }
        }
        _ => String::new(),
    }
}

/// Compares a world item (in `cmp`'s first resolve) with the component's
/// (in its second). `wname`/`cname` are their full names.
fn compare_items(
    cmp: &TypeComparer<'_>,
    dir: Direction,
    wname: &str,
    cname: &str,
    witem: &WorldItem,
    citem: &WorldItem,
    findings: &mut Vec<Finding>,
) {
    let (wres, cres) = cmp.resolves();
    match (witem, citem) {
        (WorldItem::Interface { id: wid, .. }, WorldItem::Interface { id: cid, .. }) => {
            compare_interfaces(
                cmp,
                dir,
                wname,
                cname,
                &wres.interfaces[*wid],
                &cres.interfaces[*cid],
                findings,
            );
        }
        (WorldItem::Function(wf), WorldItem::Function(cf)) => {
            compare_function(cmp, wname, wf, cf, findings);
        }
        (WorldItem::Type { id: wid, .. }, WorldItem::Type { id: cid, .. }) => {
            compare_type(cmp, wname, *wid, *cid, findings);
        }
        _ => findings.push(Finding {
            kind: FindingKind::TypeMismatch,
            item: wname.to_string(),
            message: format!(
                "`{wname}` is {} in the world but {} in the component",
                kind(witem),
                kind(citem)
            ),
            expected: Some(kind(witem).to_string()),
            found: Some(kind(citem).to_string()),
        }),
    }
}

/// How an import is named in a message: `resource \`blob\``, `type
/// \`level\``, or just the item for interfaces and functions.
fn describe_import(resolve: &Resolve, item: &str, citem: &WorldItem) -> String {
    match citem {
        WorldItem::Type { id, .. } => match crate::types::dealias_kind(resolve, *id) {
            TypeDefKind::Resource => format!("resource `{item}`"),
            _ => format!("type `{item}`"),
        },
        _ => format!("`{item}`"),
    }
}

/// Compares a type the world provides (`wid`, in `cmp`'s first resolve)
/// with the one the component imports (`cid`, in its second): resources by
/// name and owner, other types by shape.
fn compare_type(
    cmp: &TypeComparer<'_>,
    item: &str,
    wid: wit_parser::TypeId,
    cid: wit_parser::TypeId,
    findings: &mut Vec<Finding>,
) {
    let (wres, cres) = cmp.resolves();
    let w_resource = matches!(crate::types::dealias_kind(wres, wid), TypeDefKind::Resource);
    let c_resource = matches!(crate::types::dealias_kind(cres, cid), TypeDefKind::Resource);
    let describe = |resource: bool| if resource { "a resource" } else { "a type" };
    if w_resource != c_resource {
        findings.push(Finding {
            kind: FindingKind::TypeMismatch,
            item: item.to_string(),
            message: format!(
                "`{item}` is {} in the world but {} in the component",
                describe(w_resource),
                describe(c_resource)
            ),
            expected: Some(describe(w_resource).to_string()),
            found: Some(describe(c_resource).to_string()),
        });
        return;
    }
    if w_resource {
        // Nominal, and already matched by name (and interface).
        return;
    }
    if let Err(mismatch) = cmp.compare(&wit_parser::Type::Id(wid), &wit_parser::Type::Id(cid)) {
        let expected = crate::types::display_shape(wres, &wres.types[wid].kind);
        let found = crate::types::display_shape(cres, &cres.types[cid].kind);
        findings.push(Finding {
            kind: FindingKind::TypeMismatch,
            item: item.to_string(),
            message: format!(
                "type `{item}` has another shape in the component than in the world: {mismatch}"
            ),
            expected: Some(expected),
            found: Some(found),
        });
    }
}

fn kind(item: &WorldItem) -> &'static str {
    match item {
        WorldItem::Interface { .. } => "an interface",
        WorldItem::Function(_) => "a function",
        WorldItem::Type { .. } => "a type",
    }
}

fn compare_interfaces(
    cmp: &TypeComparer<'_>,
    dir: Direction,
    wname: &str,
    cname: &str,
    wi: &Interface,
    ci: &Interface,
    findings: &mut Vec<Finding>,
) {
    let (wres, cres) = cmp.resolves();
    // The side that must be complete: the component for exports, the world
    // for imports.
    let (required, provided, req_res) = match dir {
        Direction::Export => (wi, ci, wres),
        Direction::Import => (ci, wi, cres),
    };
    for (name, tid) in &required.types {
        let is_resource = matches!(req_res.types[*tid].kind, TypeDefKind::Resource);
        match provided.types.get(name) {
            // An export must have the world's resources; the component may
            // leave out other types it does not use.
            Some(_) if dir == Direction::Export => {}
            None if dir == Direction::Export && !is_resource => {}
            Some(&ptid) => {
                // An import: the host's interface must have every type the
                // component imports from it, of the same shape.
                let (wt, ct) = (ptid, *tid);
                compare_type(cmp, &format!("{wname}#{name}"), wt, ct, findings);
            }
            None => {
                let what = if is_resource { "resource" } else { "type" };
                findings.push(missing(
                    dir,
                    wname,
                    cname,
                    &format!("{what} `{name}`"),
                    name,
                ));
            }
        }
    }
    for (name, rf) in &required.functions {
        match provided.functions.get(name) {
            None => findings.push(missing(
                dir,
                wname,
                cname,
                &format!("function `{name}`"),
                name,
            )),
            Some(pf) => {
                let (wf, cf) = match dir {
                    Direction::Export => (rf, pf),
                    Direction::Import => (pf, rf),
                };
                compare_function(cmp, &format!("{wname}#{name}"), wf, cf, findings);
            }
        }
    }
}

fn missing(dir: Direction, wname: &str, cname: &str, what: &str, name: &str) -> Finding {
    match dir {
        Direction::Export => Finding {
            kind: FindingKind::MissingExport,
            item: format!("{wname}#{name}"),
            message: format!(
                "the component's export `{cname}` lacks {what}, which `{wname}` requires"
            ),
            expected: None,
            found: None,
        },
        Direction::Import => Finding {
            kind: FindingKind::UnexpectedImport,
            item: format!("{cname}#{name}"),
            message: format!(
                "the component imports {what} from `{cname}`, which the world's `{wname}` does not provide"
            ),
            expected: None,
            found: None,
        },
    }
}

fn compare_function(
    cmp: &TypeComparer<'_>,
    item: &str,
    wf: &Function,
    cf: &Function,
    findings: &mut Vec<Finding>,
) {
    if let Err(mismatch) = cmp.compare_functions(wf, cf) {
        let (wres, cres) = cmp.resolves();
        let expected = display_signature(wres, wf);
        let found = display_signature(cres, cf);
        findings.push(Finding {
            kind: FindingKind::TypeMismatch,
            item: item.to_string(),
            message: format!(
                "`{item}` has the wrong type: expected `{expected}`, found `{found}` ({mismatch})"
            ),
            expected: Some(expected),
            found: Some(found),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host world importing `logging` (an enum, a resource, a function)
    /// and a world-level resource `blob`.
    const HOST: &str = "package test:host@1.0.0;
        interface logging {
            enum level { info, warn }
            resource handle;
            log: func(message: string);
        }
        world plugin { import logging; resource blob; import make: func() -> blob; }
        world bare { import log: func(message: string); }";

    fn findings(world: &str, wat: &str) -> Vec<(FindingKind, String, String)> {
        let mut resolve = Resolve::default();
        let pkg = resolve.push_str("host.wit", HOST).unwrap();
        let world = resolve.packages[pkg].worlds[world];
        let bytes =
            ComponentBytes::from_bytes(Path::new("c.wat"), wat.as_bytes().to_vec()).unwrap();
        let policy = ImportPolicy::deny_all();
        let target = Target::new(&resolve, std::slice::from_ref(&world), &policy);
        let report = target.check_bytes(&bytes).unwrap();
        // The fast path answers exactly as decoding and comparing does.
        let decoded = target.check_by_decoding(&bytes).unwrap();
        assert_eq!(
            (report.ok, &report.world, &report.findings),
            (decoded.ok, &decoded.world, &decoded.findings)
        );
        report
            .findings
            .into_iter()
            .map(|f| (f.kind, f.item, f.message))
            .collect()
    }

    const BLOB: &str = r#"(component
        (import "blob" (type $b (sub resource)))
        (import "make" (func (result (own $b)))))"#;

    #[test]
    fn a_world_level_resource_the_world_lacks_is_a_finding() {
        let found = findings("bare", BLOB);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert_eq!(found[0].0, FindingKind::UnexpectedImport);
        assert_eq!(found[0].1, "blob");
        assert_eq!(
            found[0].2,
            "the component imports resource `blob`, which world `test:host/bare@1.0.0` \
             does not provide and no allowed import pattern matches"
        );
        assert_eq!(found[1].1, "make");
        // The world that declares the resource provides it.
        assert_eq!(findings("plugin", BLOB), vec![]);
    }

    #[test]
    fn types_of_an_imported_interface_must_be_provided_with_their_shape() {
        let import = |types: &str| {
            format!(
                r#"(component (import "test:host/logging@1.0.0" (instance
                    {types}
                    (export "log" (func (param "message" string))))))"#
            )
        };
        let level = r#"(type $l (enum "info" "warn")) (export "level" (type (eq $l)))"#;
        assert_eq!(findings("plugin", &import(level)), vec![]);
        assert_eq!(
            findings(
                "plugin",
                &import(r#"(export "handle" (type (sub resource)))"#)
            ),
            vec![]
        );
        // A resource and an enum the world's interface does not have.
        let extra = r#"(export "cursor" (type (sub resource)))
            (type $c (enum "red")) (export "colour" (type (eq $c)))"#;
        let found = findings("plugin", &import(extra));
        let items: Vec<_> = found.iter().map(|f| (f.0, f.1.as_str())).collect();
        assert_eq!(
            items,
            [
                (
                    FindingKind::UnexpectedImport,
                    "test:host/logging@1.0.0#cursor"
                ),
                (
                    FindingKind::UnexpectedImport,
                    "test:host/logging@1.0.0#colour"
                ),
            ]
        );
        assert_eq!(
            found[0].2,
            "the component imports resource `cursor` from `test:host/logging@1.0.0`, \
             which the world's `test:host/logging@1.0.0` does not provide"
        );
        assert!(
            found[1].2.contains("imports type `colour`"),
            "{}",
            found[1].2
        );
        // Same name, another shape; a resource where the world has a type.
        let other = r#"(type $l (enum "info" "error")) (export "level" (type (eq $l)))"#;
        let found = findings("plugin", &import(other));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].0, FindingKind::TypeMismatch);
        assert!(
            found[0]
                .2
                .contains("expected enum cases [\"info\", \"warn\"], found [\"info\", \"error\"]"),
            "{}",
            found[0].2
        );
        let found = findings(
            "plugin",
            &import(r#"(export "level" (type (sub resource)))"#),
        );
        assert_eq!(found[0].0, FindingKind::TypeMismatch);
        assert!(
            found[0]
                .2
                .contains("is a type in the world but a resource in the component"),
            "{}",
            found[0].2
        );
    }

    /// A world that exports an interface and a function, and a component
    /// that implements it, parameterised by its parts.
    const SERVED: &str = "package test:host@1.0.0;
        interface api { double: func(x: u32) -> u32; }
        world served { export api; export run: func(x: u32) -> u32; }";

    fn served(name: &str, param: &str, body: &str, imports: &str) -> String {
        format!(
            r#"(component {imports}
                (core module $m (func (export "f") (param i32) (result i32) {body}))
                (core instance $i (instantiate $m))
                (func $f (param "{param}" u32) (result u32) (canon lift (core func $i "f")))
                (instance $api (export "double" (func $f)))
                (export "{name}" (instance $api))
                (export "run" (func $f)))"#
        )
    }

    #[test]
    fn the_fast_path_decides_only_what_decoding_would() {
        let mut resolve = Resolve::default();
        let pkg = resolve.push_str("host.wit", SERVED).unwrap();
        let world = resolve.packages[pkg].worlds["served"];
        let policy = ImportPolicy::deny_all();
        let ok_body = "local.get 0";
        let api = "test:host/api@1.0.0";
        let cases = [
            // (what, wat, fast path answers, decoding's verdict)
            ("exact", served(api, "x", ok_body, ""), true, Some(true)),
            (
                "a semver-compatible export",
                served("test:host/api@1.0.1", "x", ok_body, ""),
                false,
                Some(true),
            ),
            (
                "a renamed parameter",
                served(api, "y", ok_body, ""),
                false,
                Some(false),
            ),
            (
                "an import the world lacks",
                served(
                    api,
                    "x",
                    ok_body,
                    r#"(import "test:host/other@1.0.0" (instance))"#,
                ),
                false,
                Some(false),
            ),
            (
                "an invalid function body",
                served(api, "x", "i64.const 0", ""),
                false,
                None,
            ),
            (
                "an export WIT cannot describe (a core module)",
                served(api, "x", ok_body, "").replace(
                    r#"(export "run" (func $f)))"#,
                    r#"(export "run" (func $f)) (export "m" (core module $m)))"#,
                ),
                false,
                None,
            ),
        ];
        for (what, wat, fast, verdict) in cases {
            let bytes = ComponentBytes::from_bytes(Path::new("c.wat"), wat.into_bytes()).unwrap();
            let target = Target::new(&resolve, std::slice::from_ref(&world), &policy);
            assert_eq!(target.check_fast(&bytes).is_some(), fast, "{what}");
            // Fed in pieces, the wrapper validates exactly when its bytes do.
            let encoded = EncodedWorld::new(&resolve, world).unwrap();
            let whole = wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
                .validate_all(&encoded.wrap(&bytes.bytes))
                .is_ok();
            let fed = crate::targets::feed(&encoded, &bytes.bytes, crate::targets::Bodies::Inline);
            assert_eq!(fed.is_some(), whole, "{what}");
            let slow = target.check_by_decoding(&bytes);
            let either = target.check_bytes(&bytes);
            match (verdict, slow, either) {
                (Some(ok), Ok(slow), Ok(report)) => {
                    assert_eq!(slow.ok, ok, "{what}: {:?}", slow.findings);
                    assert_eq!(
                        (report.ok, &report.world, &report.findings),
                        (slow.ok, &slow.world, &slow.findings),
                        "{what}"
                    );
                }
                (None, Err(slow), Err(report)) => {
                    assert_eq!(slow.to_string(), report.to_string(), "{what}");
                    if slow.to_string().contains("type mismatch") {
                        // Types only: the invalid body goes unnoticed, on
                        // both paths.
                        let types_only =
                            Target::new(&resolve, std::slice::from_ref(&world), &policy)
                                .validate_bodies(false);
                        assert!(types_only.check_fast(&bytes).is_some(), "{what}");
                        assert!(types_only.check_by_decoding(&bytes).unwrap().ok, "{what}");
                    } else {
                        assert!(
                            slow.to_string().contains("not a function or instance"),
                            "{slow}"
                        );
                    }
                }
                (verdict, slow, either) => {
                    panic!("{what}: expected {verdict:?}, got {slow:?} and {either:?}")
                }
            }
        }
    }

    #[test]
    fn the_wrapper_fed_in_pieces_validates_as_its_bytes_do() {
        let mut resolve = Resolve::default();
        let pkg = resolve.push_str("host.wit", SERVED).unwrap();
        let world = resolve.packages[pkg].worlds["served"];
        let encoded = EncodedWorld::new(&resolve, world).unwrap();
        let wat = served("test:host/api@1.0.0", "x", "local.get 0", "");
        let full = wat::parse_str(&wat).unwrap();
        // Cut short anywhere, or with bytes after its end: both refuse it
        // or both accept it.
        let mut inputs: Vec<Vec<u8>> = (0..full.len())
            .step_by(7)
            .map(|n| full[..n].to_vec())
            .collect();
        inputs.push([full.as_slice(), &[0x00, 0x01]].concat());
        inputs.push(full.clone());
        for bytes in inputs {
            let whole = wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
                .validate_all(&encoded.wrap(&bytes))
                .is_ok();
            let fed = crate::targets::feed(&encoded, &bytes, crate::targets::Bodies::Inline);
            assert_eq!(
                fed.is_some(),
                whole,
                "{} of {} bytes",
                bytes.len(),
                full.len()
            );
            assert_eq!(whole, bytes == full, "{} bytes", bytes.len());
        }
    }

    #[test]
    fn a_reexported_imported_resource_is_left_to_decoding() {
        let wit = "package test:host@1.0.0;
            interface types { resource r; }
            interface api { resource r; make: func() -> r; }
            world w { import types; export api; }";
        let mut resolve = Resolve::default();
        let pkg = resolve.push_str("host.wit", wit).unwrap();
        let world = resolve.packages[pkg].worlds["w"];
        let policy = ImportPolicy::deny_all();
        let wat = r#"(component
            (import "test:host/types@1.0.0" (instance $t (export "r" (type (sub resource)))))
            (alias export $t "r" (type $r))
            (core module $m (func (export "make") (result i32) i32.const 0))
            (core instance $i (instantiate $m))
            (func $make (result (own $r)) (canon lift (core func $i "make")))
            (instance $api (export "r" (type $r)) (export "make" (func $make)))
            (export "test:host/api@1.0.0" (instance $api)))"#;
        let bytes =
            ComponentBytes::from_bytes(Path::new("c.wat"), wat.as_bytes().to_vec()).unwrap();
        let target = Target::new(&resolve, std::slice::from_ref(&world), &policy);
        // Subtyping accepts it (the wrapper validates); the shape rule is
        // what sends it to decoding.
        let wrapper = EncodedWorld::new(&resolve, world)
            .unwrap()
            .wrap(&bytes.bytes);
        assert!(crate::component::outline(&wrapper).is_ok());
        assert!(target.check_fast(&bytes).is_none());
        let report = target.check_bytes(&bytes);
        let decoded = target.check_by_decoding(&bytes);
        assert_eq!(format!("{report:?}"), format!("{decoded:?}"));
        assert!(
            !decoded.is_ok_and(|r| r.ok),
            "decoding refuses the borrowed resource"
        );
    }
}
