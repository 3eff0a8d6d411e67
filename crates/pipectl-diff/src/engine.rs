//! The diff engine: walks two resolved packages side by side and names each
//! change with a rule from the catalog. Generic Rust; the rules' effects and
//! messages are data.
//!
//! Types compare structurally, with one refinement: a reference to a *named*
//! type compares by name (in its scope), and the named type's own definition
//! is compared where it is defined. So a record that gains a field is one
//! finding on the record, not one more on every function that uses it; and a
//! type moved to another interface and `use`d is `type-moved`, not a break
//! (its arrival in the other interface is that interface's `type-added`).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};

use wit_parser::{
    Function, FunctionKind, Interface, InterfaceId, PackageId, PackageName, Resolve, Stability,
    Type, TypeDefKind, TypeId, TypeOwner, World, WorldItem, WorldKey,
};

use crate::catalog::{Catalog, Policy, Rule};

pub use crate::catalog::Role;

mod equality;
mod features;
mod functions;
mod packages;
mod types;
mod worlds;

/// One side of a diff: a resolve, the packages it defines, and the worlds'
/// `include`s (resolution flattens them, so the loader records them).
pub struct Side<'a> {
    /// Every package the side loaded, dependencies included.
    pub resolve: &'a Resolve,
    /// The packages compared (matched with the other side's by name).
    pub packages: Vec<PackageId>,
    /// `ns:pkg/world` → the names of the worlds it includes.
    pub includes: &'a BTreeMap<String, Vec<String>>,
}

impl<'a> From<&'a pipectl_wit::source::LoadedWit> for Side<'a> {
    fn from(w: &'a pipectl_wit::source::LoadedWit) -> Self {
        Side {
            resolve: &w.resolve,
            packages: w.packages.clone(),
            includes: &w.includes,
        }
    }
}

/// Which `@unstable` items to compare, whose side counts, and the bump policy.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// `@unstable` features whose items are compared.
    pub features: Vec<String>,
    /// Compare every `@unstable` item.
    pub all_features: bool,
    /// Overrides the role taken from the worlds.
    pub role: Option<Role>,
    /// How breaks translate into the required bump.
    pub policy: Policy,
}

/// One change, classified by a catalog rule, with where it is on each side.
#[derive(Debug, Clone)]
pub struct Change {
    /// The catalog rule the change matched: its effects and message.
    pub rule: &'static Rule,
    /// The package it belongs to (`ns:name`).
    pub package: String,
    /// The item, e.g. `wasi:io/streams#output-stream.write`.
    pub item: String,
    /// The old value, where the message needs it.
    pub old: Option<String>,
    /// The new value, where the message needs it.
    pub new: Option<String>,
    /// `file:line` of the item in the old package.
    pub old_span: Option<String>,
    /// `file:line` of the item in the new package.
    pub new_span: Option<String>,
    /// Whose effect counts for the bump.
    pub role: Role,
}

/// Where an item is, on each side, for spans.
#[derive(Clone, Copy, Default)]
struct At {
    old: Option<wit_parser::Span>,
    new: Option<wit_parser::Span>,
}

impl At {
    fn both(old: wit_parser::Span, new: wit_parser::Span) -> Self {
        At {
            old: Some(old),
            new: Some(new),
        }
    }
    fn old(span: wit_parser::Span) -> Self {
        At {
            old: Some(span),
            new: None,
        }
    }
    fn new(span: wit_parser::Span) -> Self {
        At {
            old: None,
            new: Some(span),
        }
    }
}

/// How an item's feature gate makes it count.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Vis {
    Stable,
    /// `@unstable` with its feature enabled: compared, reported with the
    /// `unstable-item-*` rules.
    Unstable,
    /// `@unstable` with its feature off: ignored.
    Hidden,
}

/// Compares `old` and `new`, returning every change.
pub fn diff(old: &Side<'_>, new: &Side<'_>, opts: &DiffOptions) -> Vec<Change> {
    let mut cx = Cx {
        old: old.resolve,
        new: new.resolve,
        opts,
        catalog: Catalog::get(),
        out: Vec::new(),
        package: String::new(),
        memo: RefCell::default(),
        compared: HashSet::new(),
        roles: roles(new.resolve)
            .into_iter()
            .chain(roles(old.resolve))
            .fold(HashMap::new(), |mut acc, (k, v)| {
                acc.entry(k).or_insert(v);
                acc
            }),
    };
    let key = |r: &Resolve, p: PackageId| {
        let n = &r.packages[p].name;
        format!("{}:{}", n.namespace, n.name)
    };
    let old_pkgs: Vec<(String, PackageId)> = old
        .packages
        .iter()
        .map(|p| (key(old.resolve, *p), *p))
        .collect();
    let new_pkgs: Vec<(String, PackageId)> = new
        .packages
        .iter()
        .map(|p| (key(new.resolve, *p), *p))
        .collect();
    cx.compared = old_pkgs
        .iter()
        .chain(&new_pkgs)
        .map(|(name, _)| name.clone())
        .collect();
    // A single package on each side is compared even when renamed.
    if let ([(on, op)], [(nn, np)]) = (&old_pkgs[..], &new_pkgs[..]) {
        cx.package = nn.clone();
        if on != nn {
            cx.push(
                "package-renamed",
                nn.clone(),
                Some(on.clone()),
                Some(nn.clone()),
                At::default(),
                Role::Both,
            );
        }
        cx.package_pair(*op, *np, old.includes, new.includes);
        return cx.out;
    }
    for (name, op) in &old_pkgs {
        cx.package = name.clone();
        match new_pkgs.iter().find(|(n, _)| n == name) {
            Some((_, np)) => cx.package_pair(*op, *np, old.includes, new.includes),
            None => cx.push(
                "package-removed",
                name.clone(),
                None,
                None,
                At::default(),
                Role::Both,
            ),
        }
    }
    for (name, _) in &new_pkgs {
        if !old_pkgs.iter().any(|(n, _)| n == name) {
            cx.package = name.clone();
            cx.push(
                "package-added",
                name.clone(),
                None,
                None,
                At::default(),
                Role::Both,
            );
        }
    }
    cx.out
}

/// Each interface's role, from every world that imports or exports it:
/// imported only → importer; exported only → exporter; else both.
fn roles(resolve: &Resolve) -> HashMap<String, Role> {
    let mut seen: HashMap<String, (bool, bool)> = HashMap::new();
    for (_, world) in resolve.worlds.iter() {
        for (key, _) in &world.imports {
            if let WorldKey::Interface(id) = key {
                seen.entry(iface_key(resolve, *id)).or_default().0 = true;
            }
        }
        for (key, _) in &world.exports {
            if let WorldKey::Interface(id) = key {
                seen.entry(iface_key(resolve, *id)).or_default().1 = true;
            }
        }
    }
    seen.into_iter()
        .map(|(k, v)| {
            (
                k,
                match v {
                    (true, false) => Role::Importer,
                    (false, true) => Role::Exporter,
                    _ => Role::Both,
                },
            )
        })
        .collect()
}

/// `ns:pkg/iface`, without the version.
fn iface_key(resolve: &Resolve, id: InterfaceId) -> String {
    let iface = &resolve.interfaces[id];
    let name = iface.name.as_deref().unwrap_or("<inline>");
    match iface.package {
        Some(p) => {
            let n = &resolve.packages[p].name;
            format!("{}:{}/{name}", n.namespace, n.name)
        }
        None => name.to_string(),
    }
}

fn version_of(resolve: &Resolve, id: InterfaceId) -> Option<semver::Version> {
    let p = resolve.interfaces[id].package?;
    resolve.packages[p].name.version.clone()
}

struct Cx<'a> {
    old: &'a Resolve,
    new: &'a Resolve,
    opts: &'a DiffOptions,
    catalog: &'static Catalog,
    out: Vec<Change>,
    package: String,
    roles: HashMap<String, Role>,
    /// Structural comparisons already made, by the pair of type ids on both
    /// sides: a type reached along many paths (`tuple<a, a>` of `tuple<b,
    /// b>` of ...) is compared once, so comparing is linear in the size of
    /// both trees, not in the number of paths through them.
    memo: RefCell<HashMap<(Compare, TypeId, TypeId), bool>>,
    /// The packages compared in their own right (`ns:name`): their
    /// interfaces are not compared again as another package's dependency.
    compared: HashSet<String>,
}

/// Which comparison a memo entry is for.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Compare {
    /// An entry for [`Cx::ty_eq`]: whether two types are equal.
    Ty,
    /// An entry for [`Cx::typedef_eq`]: whether two type definitions are equal.
    Typedef,
}

fn span_text(resolve: &Resolve, span: Option<wit_parser::Span>) -> Option<String> {
    let span = span?;
    if !span.is_known() {
        return None;
    }
    let loc = resolve.render_location(span);
    // `path:line:col` → `path:line`, relative to the working directory.
    let loc = match loc.rsplit_once(':') {
        Some((rest, col)) if col.chars().all(|c| c.is_ascii_digit()) => rest.to_string(),
        _ => loc,
    };
    let cwd = std::env::current_dir().ok();
    match cwd.and_then(|c| {
        loc.strip_prefix(&format!("{}/", c.display()))
            .map(str::to_string)
    }) {
        Some(rel) => Some(rel),
        None => Some(loc),
    }
}

/// Names of fields, cases, flags or params, for the list diff.
struct Named<'t, T> {
    name: &'t str,
    item: &'t T,
    span: wit_parser::Span,
}

fn param_member(p: &wit_parser::Param) -> (&str, &Type, wit_parser::Span) {
    (p.name.as_str(), &p.ty, p.span)
}

/// Members as the list diff sees them: `f` gives each one's name, payload
/// and span.
fn named<'t, X, T>(
    xs: &'t [X],
    f: impl Fn(&'t X) -> (&'t str, &'t T, wit_parser::Span),
) -> Vec<Named<'t, T>> {
    xs.iter()
        .map(|x| {
            let (name, item, span) = f(x);
            Named { name, item, span }
        })
        .collect()
}

impl<'a> Cx<'a> {
    fn push(
        &mut self,
        rule: &str,
        item: String,
        old: Option<String>,
        new: Option<String>,
        at: At,
        role: Role,
    ) {
        let rule = self.catalog.rule(rule);
        let role = self.opts.role.unwrap_or(role);
        self.out.push(Change {
            rule,
            package: self.package.clone(),
            item,
            old,
            new,
            old_span: span_text(self.old, at.old),
            new_span: span_text(self.new, at.new),
            role,
        });
    }

    fn vis(&self, s: &Stability) -> Vis {
        match s {
            Stability::Unstable { feature, .. } => {
                if self.opts.all_features || self.opts.features.iter().any(|f| f == feature) {
                    Vis::Unstable
                } else {
                    Vis::Hidden
                }
            }
            _ => Vis::Stable,
        }
    }
}

/// What an item is, for the stabilization rules.
#[derive(Clone, Copy, PartialEq, Eq)]
enum GateKind {
    Function,
    Type,
    Other,
}

fn gate_kind(item: &WorldItem) -> GateKind {
    match item {
        WorldItem::Function(_) => GateKind::Function,
        _ => GateKind::Type,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum GateOutcome {
    /// Reported (or ignored) by the gate rules.
    Done,
    /// Present only on the old side, stably.
    Removed,
    /// Present only on the new side, stably.
    Added,
    /// Stable on both: compare.
    Compare,
    /// Unstable (enabled) on both: compare, fold into one finding.
    CompareUnstable,
}

/// The rules for a kind of member list.
#[derive(Clone, Copy)]
struct Members {
    added: &'static str,
    removed: &'static str,
    renamed: &'static str,
    reordered: &'static str,
    sep: &'static str,
}

impl Members {
    const RECORD: Members = Members {
        added: "record-field-added",
        removed: "record-field-removed",
        renamed: "record-field-renamed",
        reordered: "record-fields-reordered",
        sep: ".",
    };
    const VARIANT: Members = Members {
        added: "variant-case-added",
        removed: "variant-case-removed",
        renamed: "variant-case-renamed",
        reordered: "variant-cases-reordered",
        sep: ".",
    };
    const ENUM: Members = Members {
        added: "enum-case-added",
        removed: "enum-case-removed",
        renamed: "enum-case-renamed",
        reordered: "enum-cases-reordered",
        sep: ".",
    };
    const FLAGS: Members = Members {
        added: "flag-added",
        removed: "flag-removed",
        renamed: "flag-renamed",
        reordered: "flags-reordered",
        sep: ".",
    };
    const PARAMS: Members = Members {
        added: "func-param-added",
        removed: "func-param-removed",
        renamed: "func-param-renamed",
        reordered: "func-params-reordered",
        sep: " param ",
    };
}

/// Member payloads that can be compared for rename detection.
trait MemberEq {
    fn member_eq(cx: &Cx<'_>, a: &Self, b: &Self) -> bool;
}

impl MemberEq for Type {
    fn member_eq(cx: &Cx<'_>, a: &Self, b: &Self) -> bool {
        cx.ty_eq(*a, *b)
    }
}

impl MemberEq for Option<Type> {
    fn member_eq(cx: &Cx<'_>, a: &Self, b: &Self) -> bool {
        cx.opt_eq(*a, *b)
    }
}

impl MemberEq for () {
    fn member_eq(_: &Cx<'_>, _: &Self, _: &Self) -> bool {
        true
    }
}

fn feature_of(s: Option<&Stability>) -> Option<String> {
    match s {
        Some(Stability::Unstable { feature, .. }) => Some(feature.clone()),
        _ => None,
    }
}

fn is_deprecated(s: &Stability) -> bool {
    matches!(
        s,
        Stability::Stable {
            deprecated: Some(_),
            ..
        } | Stability::Unstable {
            deprecated: Some(_),
            ..
        }
    )
}

fn compatible(a: Option<&semver::Version>, b: Option<&semver::Version>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            PackageName::version_compat_track(a) == PackageName::version_compat_track(b)
        }
        (None, None) => true,
        _ => false,
    }
}

fn union<'k>(
    a: impl Iterator<Item = &'k String>,
    b: impl Iterator<Item = &'k String>,
) -> Vec<String> {
    let mut out: Vec<String> = a.cloned().collect();
    for k in b {
        if !out.contains(k) {
            out.push(k.clone());
        }
    }
    out
}

fn same_shape(a: &Interface, b: &Interface) -> bool {
    a.functions.keys().eq(b.functions.keys()) && a.types.keys().eq(b.types.keys())
}

fn world_keys(r: &Resolve, w: &World) -> Vec<String> {
    w.imports
        .keys()
        .chain(w.exports.keys())
        .map(|k| match k {
            WorldKey::Name(n) => n.clone(),
            WorldKey::Interface(id) => iface_key(r, *id),
        })
        .collect()
}

fn owner_name(r: &Resolve, owner: TypeOwner) -> Option<String> {
    match owner {
        TypeOwner::Interface(i) => Some(r.interfaces[i].name.clone().unwrap_or_default()),
        TypeOwner::World(w) => Some(format!("world {}", r.worlds[w].name)),
        TypeOwner::None => None,
    }
}

/// Follows `use`s and `type a = b` (to another named type) to the definition.
fn dealias_named(r: &Resolve, mut id: TypeId) -> TypeId {
    for _ in 0..64 {
        match r.types[id].kind {
            TypeDefKind::Type(Type::Id(next)) if r.types[next].name.is_some() => id = next,
            _ => break,
        }
    }
    id
}

/// How two versioned things (dependencies, world items) are paired.
#[derive(Clone, Copy)]
enum Match {
    /// Paired only with the exact same version.
    Version,
    /// The same semver track.
    Track,
    /// Paired by name alone, whatever the versions.
    Name,
}

impl Match {
    fn matches(self, a: Option<&semver::Version>, b: Option<&semver::Version>) -> bool {
        match self {
            Match::Version => a == b,
            Match::Track => compatible(a, b),
            Match::Name => true,
        }
    }
}

/// The named interfaces of other packages that package `p` reaches: those
/// its interfaces `use` and its worlds import or export, and theirs in turn;
/// as `ns:pkg/iface` and id, in a stable order.
fn reached(r: &Resolve, p: PackageId) -> Vec<(String, InterfaceId)> {
    let pkg = &r.packages[p];
    let mut stack: Vec<InterfaceId> = pkg.interfaces.values().copied().collect();
    for w in pkg.worlds.values() {
        let w = &r.worlds[*w];
        for item in w.imports.values().chain(w.exports.values()) {
            if let WorldItem::Interface { id, .. } = item {
                stack.push(*id);
            }
        }
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        let iface = &r.interfaces[id];
        if iface.package.is_some() && iface.package != Some(p) && iface.name.is_some() {
            out.push((iface_key(r, id), id));
        }
        stack.extend(r.interface_direct_deps(id));
    }
    out.sort_by(|(a, x), (b, y)| a.cmp(b).then(version_of(r, *x).cmp(&version_of(r, *y))));
    out
}

/// Whether an interface holds types only: no functions and no resources
/// (a resource, even without methods, is a type the host must define). A
/// world import of one asks nothing of a host.
fn types_only(r: &Resolve, id: InterfaceId) -> bool {
    let iface = &r.interfaces[id];
    iface.functions.is_empty()
        && iface
            .types
            .values()
            .all(|t| !matches!(r.types[dealias_named(r, *t)].kind, TypeDefKind::Resource))
}

/// Prints a named type's shape, `list<u8>` for `type bytes = list<u8>`.
fn shape_display(r: &Resolve, id: TypeId) -> String {
    pipectl_wit::types::display_shape(r, &r.types[id].kind)
}

fn is_record_like(k: &TypeDefKind) -> bool {
    matches!(
        k,
        TypeDefKind::Record(_)
            | TypeDefKind::Variant(_)
            | TypeDefKind::Enum(_)
            | TypeDefKind::Flags(_)
            | TypeDefKind::Resource
    )
}

fn kind_name(k: &TypeDefKind) -> String {
    match k {
        TypeDefKind::Type(_) => "alias".to_string(),
        k => k.as_str().to_string(),
    }
}

fn item_kind(i: &WorldItem) -> &'static str {
    match i {
        WorldItem::Interface { .. } => "interface",
        WorldItem::Function(_) => "function",
        WorldItem::Type { .. } => "type",
    }
}

fn kind_word(k: &FunctionKind) -> &'static str {
    match k {
        FunctionKind::Method(_) | FunctionKind::AsyncMethod(_) => "method",
        FunctionKind::Static(_) | FunctionKind::AsyncStatic(_) => "static",
        FunctionKind::Constructor(_) => "constructor",
        _ => "function",
    }
}

fn removal_rule(k: &FunctionKind) -> &'static str {
    match k {
        FunctionKind::Method(_) | FunctionKind::AsyncMethod(_) => "resource-method-removed",
        FunctionKind::Static(_) | FunctionKind::AsyncStatic(_) => "resource-static-removed",
        FunctionKind::Constructor(_) => "resource-constructor-removed",
        _ => "func-removed",
    }
}

fn addition_rule(k: &FunctionKind) -> &'static str {
    match k {
        FunctionKind::Method(_) | FunctionKind::AsyncMethod(_) => "resource-method-added",
        FunctionKind::Static(_) | FunctionKind::AsyncStatic(_) => "resource-static-added",
        FunctionKind::Constructor(_) => "resource-constructor-added",
        _ => "func-added",
    }
}

/// The item name of `f` in `iface`: `iface#f`, `iface#res.method`, `iface#res.constructor`.
fn func_item(iface: &str, f: &Function) -> String {
    match f.kind {
        FunctionKind::Constructor(_) => {
            format!(
                "{iface}#{}.constructor",
                f.name.trim_start_matches("[constructor]")
            )
        }
        FunctionKind::Freestanding | FunctionKind::AsyncFreestanding => {
            format!("{iface}#{}", f.name)
        }
        _ => {
            let name = f
                .name
                .split_once(']')
                .map_or(f.name.as_str(), |(_, rest)| rest);
            format!("{iface}#{name}")
        }
    }
}

fn wit_display(r: &Resolve, t: &Type) -> String {
    pipectl_wit::types::display_type(r, t)
}

/// `(a: u32, b: string)` for messages.
pub(crate) fn params_text(r: &Resolve, f: &Function) -> String {
    let params: Vec<String> = f
        .params
        .iter()
        .map(|p| format!("{}: {}", p.name, wit_display(r, &p.ty)))
        .collect();
    format!("({})", params.join(", "))
}
