//! Checking a component against a world: every problem at once.
//!
//! The component's decoded world and the target world are compared the way
//! the component-model linker would: interfaces are matched by name up to
//! semver compatibility (`@0.2.1` satisfies `@0.2.0`; `0.1` and `0.2`, or
//! `1.x` and `2.x`, never match), functions and types structurally. The
//! component must export everything the world exports, and may import only
//! what the world imports plus what the [`ImportPolicy`] allows.

use std::path::Path;

use serde::Serialize;
use wit_parser::{
    Function, Interface, InterfaceId, PackageName, Resolve, TypeDefKind, WorldId, WorldItem,
    WorldKey,
};

use crate::component::{ComponentBytes, ComponentError, DecodedComponent};
use crate::load::world_name;
use crate::policy::ImportPolicy;
use crate::types::{TypeComparer, display_signature};

/// What kind of problem a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What kind of problem.
    pub kind: FindingKind,
    /// The item: `ns:pkg/iface@ver`, or `ns:pkg/iface@ver#func`.
    pub item: String,
    /// A sentence saying what is wrong.
    pub message: String,
    /// For type mismatches, the world's type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// For type mismatches, the component's type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
}

/// The result of checking one component.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The component's path.
    pub component: String,
    /// The world it was checked against: the one it satisfies, or the
    /// closest one when it satisfies none.
    pub world: String,
    /// Whether there are no findings.
    pub ok: bool,
    /// Every problem found.
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
}

impl Target<'_> {
    /// Reads, validates and checks the component at `path`.
    ///
    /// `Err` means the file is not a usable component; problems with a
    /// usable one are findings in the report.
    pub fn check_file(&self, path: &Path) -> Result<CheckReport, ComponentError> {
        let component = ComponentBytes::read(path)?;
        self.check_bytes(&component)
    }

    /// Validates and checks a component already read.
    pub fn check_bytes(&self, component: &ComponentBytes) -> Result<CheckReport, ComponentError> {
        let decoded = component.validate_and_decode()?;
        Ok(self.check_decoded(&component.path.display().to_string(), &decoded))
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
        // Types `use`d by a world are listed among its imports; they are not
        // something a host provides.
        if matches!(citem, WorldItem::Type { .. }) {
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
                    "the component imports `{item}`, which world `{wname}` does not provide \
                     and no `--allow-import` pattern allows"
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
        (WorldItem::Type { .. }, WorldItem::Type { .. }) => {}
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
    let (required, provided, req_res, prov_res) = match dir {
        Direction::Export => (wi, ci, wres, cres),
        Direction::Import => (ci, wi, cres, wres),
    };
    for (name, tid) in &required.types {
        if !matches!(req_res.types[*tid].kind, TypeDefKind::Resource) {
            continue;
        }
        let present = provided.types.get(name).is_some_and(|t| {
            matches!(
                crate::types::dealias_kind(prov_res, *t),
                TypeDefKind::Resource
            )
        });
        if !present {
            findings.push(missing(
                dir,
                wname,
                cname,
                &format!("resource `{name}`"),
                name,
            ));
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
