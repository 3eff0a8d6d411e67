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
    Docs, Function, FunctionKind, Handle, Interface, InterfaceId, PackageId, PackageName, Resolve,
    Stability, Type, TypeDefKind, TypeId, TypeOwner, World, WorldId, WorldItem, WorldKey,
};

use crate::catalog::{Catalog, Policy, Rule};

pub use crate::catalog::Role;

/// One side of a diff: a resolve, the packages it defines, and the worlds'
/// `include`s (resolution flattens them, so the loader records them).
pub struct Side<'a> {
    /// Every package loaded.
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

/// What to compare.
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

/// One classified change.
#[derive(Debug, Clone)]
pub struct Change {
    /// The rule.
    pub rule: &'static Rule,
    /// The package it belongs to (`ns:name`).
    pub package: String,
    /// The item, e.g. `wasi:io/streams#output-stream.write`.
    pub item: String,
    /// The old value, where the message needs it.
    pub old: Option<String>,
    /// The new value.
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
    /// [`Cx::ty_eq`].
    Ty,
    /// [`Cx::typedef_eq`].
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

    /// Handles the feature gates of an item present on either side and says
    /// what is left for the caller to do.
    #[allow(clippy::too_many_arguments, reason = "an item's full description")]
    fn gates(
        &mut self,
        item: &str,
        kind: GateKind,
        old: Option<&Stability>,
        new: Option<&Stability>,
        at: At,
        role: Role,
    ) -> GateOutcome {
        use Vis::{Hidden, Stable, Unstable};
        let o = old.map(|s| self.vis(s));
        let n = new.map(|s| self.vis(s));
        match (o, n) {
            (None | Some(Hidden), None | Some(Hidden)) => GateOutcome::Done,
            (Some(Hidden | Unstable), Some(Stable)) => {
                let rule = match kind {
                    GateKind::Function => "func-stabilized",
                    _ => "type-stabilized",
                };
                self.push(rule, item.to_string(), feature_of(old), None, at, role);
                GateOutcome::Done
            }
            (Some(Stable), Some(Hidden | Unstable)) => {
                self.push(
                    "item-made-unstable",
                    item.to_string(),
                    None,
                    feature_of(new),
                    at,
                    role,
                );
                GateOutcome::Done
            }
            (Some(Unstable), None | Some(Hidden)) => {
                self.push(
                    "unstable-item-removed",
                    item.to_string(),
                    feature_of(old),
                    None,
                    at,
                    role,
                );
                GateOutcome::Done
            }
            (None | Some(Hidden), Some(Unstable)) => {
                self.push(
                    "unstable-item-added",
                    item.to_string(),
                    None,
                    feature_of(new),
                    at,
                    role,
                );
                GateOutcome::Done
            }
            (Some(Unstable), Some(Unstable)) => {
                let feature = |s: Option<&Stability>| match s {
                    Some(Stability::Unstable { feature, .. }) => feature.clone(),
                    _ => String::new(),
                };
                let (of, nf) = (feature(old), feature(new));
                if of != nf {
                    self.push(
                        "unstable-feature-renamed",
                        item.to_string(),
                        Some(of),
                        Some(nf),
                        at,
                        role,
                    );
                }
                GateOutcome::CompareUnstable
            }
            (Some(Stable), None) => GateOutcome::Removed,
            (None, Some(Stable)) => GateOutcome::Added,
            (Some(Stable), Some(Stable)) => {
                self.stable_gates(item, old, new, at, role);
                GateOutcome::Compare
            }
        }
    }

    /// `@since` and `@deprecated` changes of an item stable on both sides.
    fn stable_gates(
        &mut self,
        item: &str,
        old: Option<&Stability>,
        new: Option<&Stability>,
        at: At,
        role: Role,
    ) {
        let parts = |s: Option<&Stability>| match s {
            Some(Stability::Stable { since, deprecated }) => {
                (Some(since.clone()), deprecated.clone())
            }
            _ => (None, None),
        };
        let (os, od) = parts(old);
        let (ns, nd) = parts(new);
        let v = |v: &Option<semver::Version>| v.as_ref().map(ToString::to_string);
        match (&os, &ns) {
            (None, Some(_)) => self.push("since-added", item.to_string(), None, v(&ns), at, role),
            (Some(_), None) => self.push("since-removed", item.to_string(), v(&os), None, at, role),
            (Some(a), Some(b)) if a != b => {
                self.push("since-changed", item.to_string(), v(&os), v(&ns), at, role)
            }
            _ => {}
        }
        match (&od, &nd) {
            (None, Some(_)) => {
                self.push("item-deprecated", item.to_string(), None, v(&nd), at, role)
            }
            (Some(_), None) => self.push(
                "item-undeprecated",
                item.to_string(),
                v(&od),
                None,
                at,
                role,
            ),
            (Some(a), Some(b)) if a != b => self.push(
                "deprecation-version-changed",
                item.to_string(),
                v(&od),
                v(&nd),
                at,
                role,
            ),
            _ => {}
        }
    }

    fn docs(&mut self, item: &str, old: &Docs, new: &Docs, at: At, role: Role) {
        let norm = |d: &Docs| d.contents.as_deref().map(str::trim).map(str::to_string);
        match (norm(old), norm(new)) {
            (None, Some(_)) => self.push("docs-added", item.to_string(), None, None, at, role),
            (Some(_), None) => self.push("docs-removed", item.to_string(), None, None, at, role),
            (Some(a), Some(b)) if a != b => {
                self.push("docs-changed", item.to_string(), None, None, at, role)
            }
            _ => {}
        }
    }

    /// Handles the feature gates of an item present on both sides, then runs
    /// `f` to compare it when the gates leave it visible; when the item is
    /// `@unstable` on both sides, folds what `f` found into one
    /// `unstable-item-changed`.
    #[allow(clippy::too_many_arguments, reason = "an item's full description")]
    fn compare_gated(
        &mut self,
        item: &str,
        kind: GateKind,
        old: &Stability,
        new: &Stability,
        at: At,
        role: Role,
        f: impl FnOnce(&mut Self),
    ) {
        let outcome = self.gates(item, kind, Some(old), Some(new), at, role);
        if !matches!(outcome, GateOutcome::Compare | GateOutcome::CompareUnstable) {
            return;
        }
        let before = self.out.len();
        f(self);
        if outcome == GateOutcome::CompareUnstable && self.out.len() > before {
            let details: Vec<String> = self
                .out
                .drain(before..)
                .map(|c| c.rule.id.clone())
                .collect();
            self.push(
                "unstable-item-changed",
                item.to_string(),
                None,
                Some(details.join(", ")),
                at,
                role,
            );
        }
    }

    // ---- packages ----

    fn package_pair(
        &mut self,
        op: PackageId,
        np: PackageId,
        old_includes: &BTreeMap<String, Vec<String>>,
        new_includes: &BTreeMap<String, Vec<String>>,
    ) {
        self.deps(op, np);
        self.reached_deps(op, np);
        let (opkg, npkg) = (&self.old.packages[op], &self.new.packages[np]);
        let prefix = self.package.clone();

        // Interfaces, matched by name; unmatched ones with the same contents
        // are a rename.
        let names = union(opkg.interfaces.keys(), npkg.interfaces.keys());
        let mut removed = Vec::new();
        let mut added = Vec::new();
        for name in &names {
            let o = opkg.interfaces.get(name).copied();
            let n = npkg.interfaces.get(name).copied();
            match (o, n) {
                (Some(o), Some(n)) => self.interface(&format!("{prefix}/{name}"), o, n),
                (Some(o), None) => removed.push((name.clone(), o)),
                (None, Some(n)) => added.push((name.clone(), n)),
                (None, None) => {}
            }
        }
        removed.retain(|(_, i)| self.vis(&self.old.interfaces[*i].stability) != Vis::Hidden);
        added.retain(|(_, i)| self.vis(&self.new.interfaces[*i].stability) != Vis::Hidden);
        for (name, o) in removed {
            let oi = &self.old.interfaces[o];
            let renamed_to = added
                .iter()
                .position(|(_, n)| same_shape(oi, &self.new.interfaces[*n]));
            let item = format!("{prefix}/{name}");
            let role = self.iface_role(&item);
            match renamed_to {
                Some(i) => {
                    let (new_name, n) = added.remove(i);
                    let at = At::both(oi.span, self.new.interfaces[n].span);
                    self.push(
                        "interface-renamed",
                        item,
                        Some(name.clone()),
                        Some(new_name.clone()),
                        at,
                        role,
                    );
                    // And what changed inside it.
                    self.interface(&format!("{prefix}/{new_name}"), o, n);
                }
                None => {
                    let at = At::old(oi.span);
                    let outcome =
                        self.gates(&item, GateKind::Other, Some(&oi.stability), None, at, role);
                    if outcome == GateOutcome::Removed {
                        let rule = if is_deprecated(&oi.stability) {
                            "deprecated-item-removed"
                        } else {
                            "interface-removed"
                        };
                        self.push(rule, item, None, None, at, role);
                    }
                }
            }
        }
        for (name, n) in added {
            let ni = &self.new.interfaces[n];
            let item = format!("{prefix}/{name}");
            let role = self.iface_role(&item);
            if let GateOutcome::Added = self.gates(
                &item,
                GateKind::Other,
                None,
                Some(&ni.stability),
                At::new(ni.span),
                role,
            ) {
                self.push("interface-added", item, None, None, At::new(ni.span), role);
            }
        }

        // Worlds.
        let names = union(opkg.worlds.keys(), npkg.worlds.keys());
        let mut removed = Vec::new();
        let mut added = Vec::new();
        for name in &names {
            match (
                opkg.worlds.get(name).copied(),
                npkg.worlds.get(name).copied(),
            ) {
                (Some(o), Some(n)) => self.world(
                    &format!("{prefix}/{name}"),
                    o,
                    n,
                    old_includes,
                    new_includes,
                ),
                (Some(o), None) => removed.push((name.clone(), o)),
                (None, Some(n)) => added.push((name.clone(), n)),
                (None, None) => {}
            }
        }
        for (name, o) in removed {
            let ow = &self.old.worlds[o];
            let item = format!("{prefix}/{name}");
            let renamed_to = added.iter().position(|(_, n)| {
                let nw = &self.new.worlds[*n];
                world_keys(self.old, ow) == world_keys(self.new, nw)
            });
            match renamed_to {
                Some(i) => {
                    let (new_name, n) = added.remove(i);
                    let at = At::both(ow.span, self.new.worlds[n].span);
                    self.push(
                        "world-renamed",
                        item,
                        Some(name.clone()),
                        Some(new_name),
                        at,
                        Role::Both,
                    );
                }
                None => {
                    if let GateOutcome::Removed = self.gates(
                        &item,
                        GateKind::Other,
                        Some(&ow.stability),
                        None,
                        At::old(ow.span),
                        Role::Both,
                    ) {
                        let rule = if is_deprecated(&ow.stability) {
                            "deprecated-item-removed"
                        } else {
                            "world-removed"
                        };
                        self.push(rule, item, None, None, At::old(ow.span), Role::Both);
                    }
                }
            }
        }
        for (name, n) in added {
            let nw = &self.new.worlds[n];
            let item = format!("{prefix}/{name}");
            if let GateOutcome::Added = self.gates(
                &item,
                GateKind::Other,
                None,
                Some(&nw.stability),
                At::new(nw.span),
                Role::Both,
            ) {
                self.push(
                    "world-added",
                    item,
                    None,
                    None,
                    At::new(nw.span),
                    Role::Both,
                );
            }
        }
    }

    /// The package's direct dependencies. One package depended on at
    /// several versions is several dependencies, paired on the same version
    /// first, then on the same semver track, then on the name alone.
    fn deps(&mut self, op: PackageId, np: PackageId) {
        let names = |r: &Resolve, p: PackageId| -> Vec<(String, Option<semver::Version>)> {
            let mut out: Vec<(String, Option<semver::Version>)> = r
                .package_direct_deps(p)
                .map(|d| {
                    let n = &r.packages[d].name;
                    (format!("{}:{}", n.namespace, n.name), n.version.clone())
                })
                .collect();
            out.sort();
            out.dedup();
            out
        };
        let (od, nd) = (names(self.old, op), names(self.new, np));
        let show = |v: &Option<semver::Version>| {
            v.as_ref()
                .map_or("(unversioned)".to_string(), ToString::to_string)
        };
        let several = |name: &str| {
            od.iter().filter(|(n, _)| n == name).count() > 1
                || nd.iter().filter(|(n, _)| n == name).count() > 1
        };
        let item = |name: &str, v: &Option<semver::Version>| match v {
            Some(v) if several(name) => format!("{name}@{v}"),
            _ => name.to_string(),
        };
        let mut pairs: Vec<(usize, Option<usize>)> = Vec::new();
        let mut used = vec![false; nd.len()];
        for pass in [Match::Version, Match::Track, Match::Name] {
            for (i, (name, ov)) in od.iter().enumerate() {
                if pairs.iter().any(|(o, _)| *o == i) {
                    continue;
                }
                let found = nd.iter().enumerate().position(|(j, (n, nv))| {
                    !used[j] && n == name && pass.matches(ov.as_ref(), nv.as_ref())
                });
                if let Some(j) = found {
                    used[j] = true;
                    pairs.push((i, Some(j)));
                }
            }
        }
        for (i, (name, ov)) in od.iter().enumerate() {
            match pairs.iter().find(|(o, _)| *o == i).and_then(|(_, j)| *j) {
                None => self.push(
                    "dep-removed",
                    item(name, ov),
                    Some(show(ov)),
                    None,
                    At::default(),
                    Role::Both,
                ),
                Some(j) if nd[j].1 != *ov => {
                    let nv = &nd[j].1;
                    let rule = if compatible(ov.as_ref(), nv.as_ref()) {
                        "dep-version-bumped"
                    } else {
                        "dep-version-changed"
                    };
                    self.push(
                        rule,
                        item(name, ov),
                        Some(show(ov)),
                        Some(show(nv)),
                        At::default(),
                        Role::Both,
                    );
                }
                Some(_) => {}
            }
        }
        for (j, (name, nv)) in nd.iter().enumerate() {
            if !used[j] {
                self.push(
                    "dep-added",
                    item(name, nv),
                    None,
                    Some(show(nv)),
                    At::default(),
                    Role::Both,
                );
            }
        }
    }

    /// What changed inside the package's dependencies, as far as it
    /// reaches them: every interface of another package that its interfaces
    /// `use` or its worlds import or export (elaborated, transitively), on
    /// the same semver track on both sides, compared as if it were the
    /// package's own. A dependency bumped with the same content then adds
    /// nothing to its `dep-version-bumped` (a patch); one bumped with
    /// additions needs what the additions need. Packages compared in their
    /// own right are judged in their own report instead.
    fn reached_deps(&mut self, op: PackageId, np: PackageId) {
        let (old, new) = (reached(self.old, op), reached(self.new, np));
        let mut used = vec![false; new.len()];
        let mut pairs = Vec::new();
        let mut paired = vec![false; old.len()];
        // The same version first (a dependency reached at two versions on
        // both sides), then the same track.
        for pass in [Match::Version, Match::Track] {
            for (i, (key, o)) in old.iter().enumerate() {
                if paired[i] {
                    continue;
                }
                let ov = version_of(self.old, *o);
                let found = new.iter().enumerate().position(|(j, (k, n))| {
                    !used[j]
                        && k == key
                        && pass.matches(ov.as_ref(), version_of(self.new, *n).as_ref())
                });
                if let Some(j) = found {
                    used[j] = true;
                    paired[i] = true;
                    pairs.push((key.clone(), *o, new[j].1));
                }
            }
        }
        for (key, o, n) in pairs {
            let package = key.split('/').next().unwrap_or_default();
            if self.compared.contains(package) {
                continue;
            }
            let item = match version_of(self.new, n) {
                Some(v) => format!("{key}@{v}"),
                None => key.clone(),
            };
            self.interface(&item, o, n);
        }
    }

    /// The role of an interface (`ns:pkg/iface`, with or without a version).
    fn iface_role(&self, key: &str) -> Role {
        let key = key.split_once('@').map_or(key, |(k, _)| k);
        self.roles.get(key).copied().unwrap_or(Role::Both)
    }

    // ---- interfaces ----

    fn interface(&mut self, item: &str, o: InterfaceId, n: InterfaceId) {
        let (oi, ni) = (&self.old.interfaces[o], &self.new.interfaces[n]);
        let role = self.iface_role(item);
        let at = At::both(oi.span, ni.span);
        self.compare_gated(
            item,
            GateKind::Other,
            &oi.stability,
            &ni.stability,
            at,
            role,
            |cx| {
                cx.docs(item, &oi.docs, &ni.docs, at, role);
                cx.types(item, oi, ni, role);
                cx.functions(item, oi, ni, role);
                // Same items in another order: cosmetic.
                let order = |i: &Interface| -> (Vec<String>, Vec<String>) {
                    (
                        i.types.keys().cloned().collect(),
                        i.functions.keys().cloned().collect(),
                    )
                };
                let (ot, of) = order(oi);
                let (nt, nf) = order(ni);
                let same_set = |a: &[String], b: &[String]| {
                    let (mut a, mut b) = (a.to_vec(), b.to_vec());
                    a.sort();
                    b.sort();
                    a == b
                };
                if (same_set(&ot, &nt) && ot != nt) || (same_set(&of, &nf) && of != nf) {
                    cx.push("items-reordered", item.to_string(), None, None, at, role);
                }
            },
        );
    }

    fn types(&mut self, iface: &str, oi: &Interface, ni: &Interface, role: Role) {
        let names = union(oi.types.keys(), ni.types.keys());
        let mut removed: Vec<(String, TypeId)> = Vec::new();
        let mut added: Vec<(String, TypeId)> = Vec::new();
        for name in &names {
            match (oi.types.get(name).copied(), ni.types.get(name).copied()) {
                (Some(o), Some(n)) => self.named_type(&format!("{iface}#{name}"), o, n, role),
                (Some(o), None) => removed.push((name.clone(), o)),
                (None, Some(n)) => added.push((name.clone(), n)),
                (None, None) => {}
            }
        }
        removed.retain(|(_, t)| self.vis(&self.old.types[*t].stability) != Vis::Hidden);
        added.retain(|(_, t)| self.vis(&self.new.types[*t].stability) != Vis::Hidden);
        for (name, o) in removed {
            let od = &self.old.types[o];
            let item = format!("{iface}#{name}");
            let is_use = self.old.type_interface_dep(o).is_some();
            // Removed and added with the same shape: a rename.
            let twin = added.iter().position(|(_, n)| {
                self.new.type_interface_dep(*n).is_some() == is_use && self.typedef_eq(o, *n)
            });
            if let Some(i) = twin {
                let (new_name, n) = added.remove(i);
                let rule = if is_use {
                    "use-renamed"
                } else if matches!(od.kind, TypeDefKind::Resource) {
                    "resource-renamed"
                } else {
                    "type-renamed"
                };
                let at = At::both(od.span, self.new.types[n].span);
                self.push(rule, item, Some(name.clone()), Some(new_name), at, role);
                continue;
            }
            let at = At::old(od.span);
            if let GateOutcome::Removed =
                self.gates(&item, GateKind::Type, Some(&od.stability), None, at, role)
            {
                let rule = if is_deprecated(&od.stability) {
                    "deprecated-item-removed"
                } else if is_use {
                    "use-removed"
                } else if matches!(od.kind, TypeDefKind::Resource) {
                    "resource-removed"
                } else {
                    "type-removed"
                };
                let source = self
                    .old
                    .type_interface_dep(o)
                    .map(|i| iface_key(self.old, i));
                self.push(rule, item, source, None, at, role);
            }
        }
        for (name, n) in added {
            let nd = &self.new.types[n];
            let item = format!("{iface}#{name}");
            let at = At::new(nd.span);
            if let GateOutcome::Added =
                self.gates(&item, GateKind::Type, None, Some(&nd.stability), at, role)
            {
                let source = self
                    .new
                    .type_interface_dep(n)
                    .map(|i| iface_key(self.new, i));
                let rule = if source.is_some() {
                    "use-added"
                } else if matches!(nd.kind, TypeDefKind::Resource) {
                    "resource-added"
                } else {
                    "type-added"
                };
                self.push(rule, item, None, source, at, role);
            }
        }
    }

    /// A named type present on both sides.
    fn named_type(&mut self, item: &str, o: TypeId, n: TypeId, role: Role) {
        let (od, nd) = (&self.old.types[o], &self.new.types[n]);
        let at = At::both(od.span, nd.span);
        self.compare_gated(
            item,
            GateKind::Type,
            &od.stability,
            &nd.stability,
            at,
            role,
            |cx| {
                cx.docs(item, &od.docs, &nd.docs, at, role);
                let o_use = cx.old.type_interface_dep(o);
                let n_use = cx.new.type_interface_dep(n);
                let (odef, ndef) = (dealias_named(cx.old, o), dealias_named(cx.new, n));
                let o_src = o_use.map(|i| iface_key(cx.old, i));
                let n_src = n_use.map(|i| iface_key(cx.new, i));
                if o_src != n_src {
                    // Resources are nominal: one from another interface is
                    // another resource, whatever its shape.
                    let resource =
                        |r: &Resolve, id: TypeId| matches!(r.types[id].kind, TypeDefKind::Resource);
                    if resource(cx.old, odef) || resource(cx.new, ndef) {
                        let origin = |src: &Option<String>| {
                            src.clone().unwrap_or_else(|| {
                                item.rsplit_once('#').map_or(item, |(i, _)| i).to_string()
                            })
                        };
                        cx.push(
                            "type-alias-target-changed",
                            item.to_string(),
                            Some(origin(&o_src)),
                            Some(origin(&n_src)),
                            at,
                            role,
                        );
                        return;
                    }
                    // A definition became a `use` (or the reverse, or the source
                    // changed): fine when the type is the same.
                    let before = cx.out.len();
                    cx.typedef(item, odef, ndef, role);
                    if cx.out.len() == before {
                        cx.push(
                            "type-moved",
                            item.to_string(),
                            Some(o_src.unwrap_or_else(|| {
                                item.rsplit_once('#').map_or(item, |(i, _)| i).to_string()
                            })),
                            Some(n_src.unwrap_or_else(|| {
                                item.rsplit_once('#').map_or(item, |(i, _)| i).to_string()
                            })),
                            at,
                            role,
                        );
                    }
                    return;
                }
                if o_use.is_some() {
                    // The same `use` on both sides: its source is compared where
                    // it is defined.
                    return;
                }
                cx.typedef(item, o, n, role);
            },
        );
    }

    /// Two type definitions: reports structural changes.
    fn typedef(&mut self, item: &str, o: TypeId, n: TypeId, role: Role) {
        let (od, nd) = (&self.old.types[o], &self.new.types[n]);
        let at = At::both(od.span, nd.span);
        match (&od.kind, &nd.kind) {
            (TypeDefKind::Record(a), TypeDefKind::Record(b)) => {
                let a = named(&a.fields, |f| (f.name.as_str(), &f.ty, f.span));
                let b = named(&b.fields, |f| (f.name.as_str(), &f.ty, f.span));
                self.members(item, &a, &b, role, Members::RECORD, |cx, i, x, y, at| {
                    if !cx.ty_eq(*x, *y) {
                        cx.type_change(i, *x, *y, "record-field-type-changed", at, role);
                    }
                });
            }
            (TypeDefKind::Variant(a), TypeDefKind::Variant(b)) => {
                let a = named(&a.cases, |c| (c.name.as_str(), &c.ty, c.span));
                let b = named(&b.cases, |c| (c.name.as_str(), &c.ty, c.span));
                self.members(
                    item,
                    &a,
                    &b,
                    role,
                    Members::VARIANT,
                    |cx, i, x, y, at| match (x, y) {
                        (None, Some(_)) => cx.push(
                            "variant-case-payload-added",
                            i.to_string(),
                            None,
                            None,
                            at,
                            role,
                        ),
                        (Some(_), None) => cx.push(
                            "variant-case-payload-removed",
                            i.to_string(),
                            None,
                            None,
                            at,
                            role,
                        ),
                        (Some(x), Some(y)) if !cx.ty_eq(*x, *y) => {
                            cx.type_change(i, *x, *y, "variant-case-payload-changed", at, role)
                        }
                        _ => {}
                    },
                );
            }
            (TypeDefKind::Enum(a), TypeDefKind::Enum(b)) => {
                let a = named(&a.cases, |c| (c.name.as_str(), &(), c.span));
                let b = named(&b.cases, |c| (c.name.as_str(), &(), c.span));
                self.members(item, &a, &b, role, Members::ENUM, |_, _, _, _, _| {});
            }
            (TypeDefKind::Flags(a), TypeDefKind::Flags(b)) => {
                let a = named(&a.flags, |c| (c.name.as_str(), &(), c.span));
                let b = named(&b.flags, |c| (c.name.as_str(), &(), c.span));
                self.members(item, &a, &b, role, Members::FLAGS, |_, _, _, _, _| {});
            }
            (TypeDefKind::Resource, TypeDefKind::Resource) => {}
            (a, b) if is_record_like(a) || is_record_like(b) => {
                self.push(
                    "type-kind-changed",
                    item.to_string(),
                    Some(kind_name(a)),
                    Some(kind_name(b)),
                    at,
                    role,
                );
            }
            (a, b) => {
                // Aliases and anonymous shapes: `type x = list<u8>`.
                if !self.anon_eq(a, b) {
                    let rule = self
                        .specific_kind_change(a, b)
                        .unwrap_or("type-alias-target-changed");
                    let show_o = shape_display(self.old, o);
                    let show_n = shape_display(self.new, n);
                    self.push(rule, item.to_string(), Some(show_o), Some(show_n), at, role);
                }
            }
        }
    }

    /// Diffs named members (fields, cases, flags, params) by name and order.
    #[allow(
        clippy::too_many_arguments,
        reason = "the member kind's rules and a per-member comparison"
    )]
    fn members<T>(
        &mut self,
        item: &str,
        old: &[Named<'_, T>],
        new: &[Named<'_, T>],
        role: Role,
        rules: Members,
        mut same: impl FnMut(&mut Self, &str, &T, &T, At),
    ) where
        T: MemberEq,
    {
        let sub = |name: &str| format!("{item}{}{name}", rules.sep);
        let on: Vec<&str> = old.iter().map(|m| m.name).collect();
        let nn: Vec<&str> = new.iter().map(|m| m.name).collect();
        let mut os = on.clone();
        let mut ns = nn.clone();
        os.sort_unstable();
        ns.sort_unstable();
        if os == ns && on != nn {
            self.push(
                rules.reordered,
                item.to_string(),
                Some(on.join(", ")),
                Some(nn.join(", ")),
                At::default(),
                role,
            );
        }
        let removed: Vec<&Named<'_, T>> = old.iter().filter(|m| !nn.contains(&m.name)).collect();
        let added: Vec<&Named<'_, T>> = new.iter().filter(|m| !on.contains(&m.name)).collect();
        // One removed and one added at the same position with the same
        // type: a rename.
        let mut renamed = HashSet::new();
        for r in &removed {
            let pos = on.iter().position(|n| *n == r.name);
            if let Some(a) = added.iter().find(|a| {
                nn.iter().position(|n| *n == a.name) == pos && T::member_eq(self, r.item, a.item)
            }) {
                renamed.insert(a.name);
                self.push(
                    rules.renamed,
                    sub(r.name),
                    Some(r.name.to_string()),
                    Some(a.name.to_string()),
                    At::both(r.span, a.span),
                    role,
                );
            } else {
                self.push(
                    rules.removed,
                    sub(r.name),
                    None,
                    None,
                    At::old(r.span),
                    role,
                );
            }
        }
        for a in &added {
            if !renamed.contains(a.name) {
                self.push(rules.added, sub(a.name), None, None, At::new(a.span), role);
            }
        }
        for o in old {
            if let Some(n) = new.iter().find(|n| n.name == o.name) {
                same(self, &sub(o.name), o.item, n.item, At::both(o.span, n.span));
            }
        }
    }

    /// Names a type change by the most specific rule, else `fallback`.
    fn type_change(&mut self, item: &str, o: Type, n: Type, fallback: &str, at: At, role: Role) {
        let show_o = wit_display(self.old, &o);
        let show_n = wit_display(self.new, &n);
        let rule = self.specific_change(o, n).unwrap_or(fallback);
        self.push(rule, item.to_string(), Some(show_o), Some(show_n), at, role);
    }

    fn specific_change(&self, o: Type, n: Type) -> Option<&'static str> {
        let (Type::Id(a), Type::Id(b)) = (o, n) else {
            return None;
        };
        let (da, db) = (&self.old.types[a], &self.new.types[b]);
        if da.name.is_some() || db.name.is_some() {
            return None;
        }
        self.specific_kind_change(&da.kind, &db.kind)
    }

    /// The most specific rule for two anonymous shapes that differ.
    fn specific_kind_change(&self, a: &TypeDefKind, b: &TypeDefKind) -> Option<&'static str> {
        Some(match (a, b) {
            (TypeDefKind::List(_), TypeDefKind::List(_)) => "list-element-type-changed",
            (TypeDefKind::FixedLengthList(x, m), TypeDefKind::FixedLengthList(y, k)) => {
                if m != k && self.ty_eq(*x, *y) {
                    "fixed-list-length-changed"
                } else {
                    "list-element-type-changed"
                }
            }
            (TypeDefKind::List(_), TypeDefKind::FixedLengthList(..)) => "list-made-fixed-length",
            (TypeDefKind::FixedLengthList(..), TypeDefKind::List(_)) => "list-made-variable-length",
            (TypeDefKind::Tuple(x), TypeDefKind::Tuple(y)) => {
                if x.types.len() != y.types.len() {
                    "tuple-arity-changed"
                } else {
                    "tuple-element-type-changed"
                }
            }
            (TypeDefKind::Map(k1, _), TypeDefKind::Map(k2, _)) => {
                if self.ty_eq(*k1, *k2) {
                    "map-value-type-changed"
                } else {
                    "map-key-type-changed"
                }
            }
            (TypeDefKind::Option(_), TypeDefKind::Option(_)) => "option-payload-changed",
            (TypeDefKind::Result(x), TypeDefKind::Result(y)) => {
                match (x.ok, y.ok) {
                    (None, Some(_)) => return Some("result-ok-added"),
                    (Some(_), None) => return Some("result-ok-removed"),
                    (Some(p), Some(q)) if !self.ty_eq(p, q) => return Some("result-ok-changed"),
                    _ => {}
                }
                match (x.err, y.err) {
                    (None, Some(_)) => "result-err-added",
                    (Some(_), None) => "result-err-removed",
                    _ => "result-err-changed",
                }
            }
            (TypeDefKind::Future(_), TypeDefKind::Future(_)) => "future-payload-changed",
            (TypeDefKind::Stream(_), TypeDefKind::Stream(_)) => "stream-payload-changed",
            (TypeDefKind::Handle(x), TypeDefKind::Handle(y)) => match (x, y) {
                (Handle::Own(_), Handle::Borrow(_)) | (Handle::Borrow(_), Handle::Own(_)) => {
                    "handle-ownership-changed"
                }
                _ => "handle-resource-changed",
            },
            _ => return None,
        })
    }

    // ---- functions ----

    fn functions(&mut self, iface: &str, oi: &Interface, ni: &Interface, role: Role) {
        let names = union(oi.functions.keys(), ni.functions.keys());
        let mut removed: Vec<&Function> = Vec::new();
        let mut added: Vec<&Function> = Vec::new();
        for name in &names {
            match (oi.functions.get(name), ni.functions.get(name)) {
                (Some(o), Some(n)) => self.function(&func_item(iface, o), o, n, role),
                (Some(o), None) => removed.push(o),
                (None, Some(n)) => added.push(n),
                (None, None) => {}
            }
        }
        // `@unstable` items whose feature is off are ignored: they take no
        // part in rename detection either.
        removed.retain(|f| self.vis(&f.stability) != Vis::Hidden);
        added.retain(|f| self.vis(&f.stability) != Vis::Hidden);
        // Resources that came or went take their functions with them.
        let resource_gone = |cx: &Self, f: &Function| {
            f.kind.resource().is_some_and(|r| {
                let name = cx.old.types[r].name.as_deref().unwrap_or_default();
                !ni.types.contains_key(name)
            })
        };
        let resource_new = |cx: &Self, f: &Function| {
            f.kind.resource().is_some_and(|r| {
                let name = cx.new.types[r].name.as_deref().unwrap_or_default();
                !oi.types.contains_key(name)
            })
        };
        for o in removed {
            if resource_gone(self, o) {
                continue;
            }
            let item = func_item(iface, o);
            // A method that became a static (or the reverse).
            if let Some(i) = added.iter().position(|n| {
                n.item_name() == o.item_name()
                    && n.kind.resource().is_some()
                    && o.kind.resource().is_some()
            }) {
                let n = added.remove(i);
                self.push(
                    "resource-method-kind-changed",
                    item,
                    Some(kind_word(&o.kind).to_string()),
                    Some(kind_word(&n.kind).to_string()),
                    At::both(o.span, n.span),
                    role,
                );
                continue;
            }
            // A freestanding function removed and one added with the same
            // signature: a rename.
            if matches!(
                o.kind,
                FunctionKind::Freestanding | FunctionKind::AsyncFreestanding
            ) && let Some(i) = added
                .iter()
                .position(|n| n.kind == o.kind && self.signature_eq(o, n))
            {
                let n = added.remove(i);
                self.push(
                    "func-renamed",
                    item,
                    Some(o.name.clone()),
                    Some(n.name.clone()),
                    At::both(o.span, n.span),
                    role,
                );
                continue;
            }
            let at = At::old(o.span);
            if let GateOutcome::Removed = self.gates(
                &item,
                GateKind::Function,
                Some(&o.stability),
                None,
                at,
                role,
            ) {
                let rule = if is_deprecated(&o.stability) {
                    "deprecated-item-removed"
                } else {
                    removal_rule(&o.kind)
                };
                self.push(rule, item, None, None, at, role);
            }
        }
        for n in added {
            if resource_new(self, n) {
                continue;
            }
            let item = func_item(iface, n);
            let at = At::new(n.span);
            if let GateOutcome::Added = self.gates(
                &item,
                GateKind::Function,
                None,
                Some(&n.stability),
                at,
                role,
            ) {
                self.push(addition_rule(&n.kind), item, None, None, at, role);
            }
        }
    }

    fn function(&mut self, item: &str, o: &Function, n: &Function, role: Role) {
        let at = At::both(o.span, n.span);
        self.compare_gated(
            item,
            GateKind::Function,
            &o.stability,
            &n.stability,
            at,
            role,
            |cx| {
                cx.docs(item, &o.docs, &n.docs, at, role);
                cx.signature(item, o, n, role);
            },
        );
    }

    /// Params, results and async-ness.
    fn signature(&mut self, item: &str, o: &Function, n: &Function, role: Role) {
        let at = At::both(o.span, n.span);
        match (o.kind.is_async(), n.kind.is_async()) {
            (false, true) => self.push("func-async-added", item.to_string(), None, None, at, role),
            (true, false) => {
                self.push("func-async-removed", item.to_string(), None, None, at, role)
            }
            _ => {}
        }
        let skip = |f: &Function| {
            usize::from(matches!(
                f.kind,
                FunctionKind::Method(_) | FunctionKind::AsyncMethod(_)
            ))
        };
        let op = named(&o.params[skip(o)..], param_member);
        let np = named(&n.params[skip(n)..], param_member);
        if matches!(o.kind, FunctionKind::Constructor(_)) {
            let differs = op.len() != np.len()
                || op
                    .iter()
                    .zip(&np)
                    .any(|(a, b)| a.name != b.name || !self.ty_eq(*a.item, *b.item));
            let results_differ = match (o.result, n.result) {
                (None, None) => false,
                (Some(a), Some(b)) => !self.ty_eq(a, b),
                _ => true,
            };
            if differs || results_differ {
                self.push(
                    "resource-constructor-changed",
                    item.to_string(),
                    Some(crate::engine::params_text(self.old, o)),
                    Some(crate::engine::params_text(self.new, n)),
                    at,
                    role,
                );
            }
            return;
        }
        self.members(item, &op, &np, role, Members::PARAMS, |cx, i, x, y, at| {
            if !cx.ty_eq(*x, *y) {
                cx.type_change(i, *x, *y, "func-param-type-changed", at, role);
            }
        });
        match (o.result, n.result) {
            (None, Some(_)) => {
                self.push("func-result-added", item.to_string(), None, None, at, role)
            }
            (Some(_), None) => self.push(
                "func-result-removed",
                item.to_string(),
                None,
                None,
                at,
                role,
            ),
            (Some(a), Some(b)) if !self.ty_eq(a, b) => {
                self.type_change(item, a, b, "func-result-type-changed", at, role)
            }
            _ => {}
        }
    }

    fn signature_eq(&self, o: &Function, n: &Function) -> bool {
        o.params.len() == n.params.len()
            && o.params
                .iter()
                .zip(&n.params)
                .all(|(a, b)| a.name == b.name && self.ty_eq(a.ty, b.ty))
            && match (o.result, n.result) {
                (None, None) => true,
                (Some(a), Some(b)) => self.ty_eq(a, b),
                _ => false,
            }
    }

    // ---- worlds ----

    /// Two worlds, compared as elaborated: resolution has already merged
    /// their `include`s and added the interfaces their `use`s need, so the
    /// items compared are what a component built against each imports and
    /// exports. The `include`s themselves are reported as context.
    fn world(
        &mut self,
        item: &str,
        o: WorldId,
        n: WorldId,
        old_includes: &BTreeMap<String, Vec<String>>,
        new_includes: &BTreeMap<String, Vec<String>>,
    ) {
        let (ow, nw) = (&self.old.worlds[o], &self.new.worlds[n]);
        let at = At::both(ow.span, nw.span);
        // Components implement worlds with exports; for import-only worlds
        // the host implements everything and components only import.
        let role = if ow.exports.is_empty() && nw.exports.is_empty() {
            Role::Importer
        } else {
            Role::Both
        };
        self.compare_gated(
            item,
            GateKind::Other,
            &ow.stability,
            &nw.stability,
            at,
            role,
            |cx| {
                cx.docs(item, &ow.docs, &nw.docs, at, role);
                let empty = Vec::new();
                let oi = old_includes.get(item).unwrap_or(&empty);
                let ni = new_includes.get(item).unwrap_or(&empty);
                for inc in ni.iter().filter(|i| !oi.contains(i)) {
                    cx.push(
                        "world-include-added",
                        format!("{item}#include({inc})"),
                        None,
                        Some(inc.clone()),
                        at,
                        role,
                    );
                }
                for inc in oi.iter().filter(|i| !ni.contains(i)) {
                    cx.push(
                        "world-include-removed",
                        format!("{item}#include({inc})"),
                        Some(inc.clone()),
                        None,
                        at,
                        role,
                    );
                }
                cx.world_items(item, &ow.imports, &nw.imports, true);
                cx.world_items(item, &ow.exports, &nw.exports, false);
            },
        );
    }

    /// A world's imports (or exports) on both sides. Components import a
    /// world's imports and export its exports, whatever else the world
    /// holds: that decides the role of each item.
    fn world_items(
        &mut self,
        world: &str,
        old: &indexmap::IndexMap<WorldKey, WorldItem>,
        new: &indexmap::IndexMap<WorldKey, WorldItem>,
        imports: bool,
    ) {
        let role = if imports {
            Role::Importer
        } else {
            Role::Exporter
        };
        let dir = if imports { "import" } else { "export" };
        let key = |r: &Resolve, k: &WorldKey| match k {
            WorldKey::Name(n) => n.clone(),
            WorldKey::Interface(id) => iface_key(r, *id),
        };
        let om: Vec<(String, &WorldKey, &WorldItem)> =
            old.iter().map(|(k, v)| (key(self.old, k), k, v)).collect();
        let nm: Vec<(String, &WorldKey, &WorldItem)> =
            new.iter().map(|(k, v)| (key(self.new, k), k, v)).collect();
        // An interface a world imports at two versions (`@3.0.0` and
        // `@4.0.0`) is two items: they are named with their versions, and
        // matched on the same version first, then on the same semver track,
        // then on the name alone.
        let twice = |m: &[(String, &WorldKey, &WorldItem)], name: &str| {
            m.iter().filter(|(n, _, _)| n == name).count() > 1
        };
        let version = |r: &Resolve, k: &WorldKey| match k {
            WorldKey::Interface(id) => version_of(r, *id),
            WorldKey::Name(_) => None,
        };
        let mut pairs: Vec<(usize, Option<usize>)> = Vec::new();
        let mut used = vec![false; nm.len()];
        for pass in [Match::Version, Match::Track, Match::Name] {
            for (i, (name, okey, _)) in om.iter().enumerate() {
                if pairs.iter().any(|(o, _)| *o == i) {
                    continue;
                }
                let found = nm.iter().enumerate().position(|(j, (n, nkey, _))| {
                    !used[j]
                        && n == name
                        && pass.matches(
                            version(self.old, okey).as_ref(),
                            version(self.new, nkey).as_ref(),
                        )
                });
                if let Some(j) = found {
                    used[j] = true;
                    pairs.push((i, Some(j)));
                }
            }
        }
        for i in 0..om.len() {
            if !pairs.iter().any(|(o, _)| *o == i) {
                pairs.push((i, None));
            }
        }
        pairs.sort_by_key(|(o, _)| *o);
        let versioned = |r: &Resolve, name: &str, k: &WorldKey| match k {
            WorldKey::Interface(id) => match version_of(r, *id) {
                Some(v) => format!("{name}@{v}"),
                None => name.to_string(),
            },
            WorldKey::Name(_) => name.to_string(),
        };
        for (i, j) in pairs {
            let (name, okey, oitem) = &om[i];
            let shown = if twice(&om, name) || twice(&nm, name) {
                versioned(self.old, name, okey)
            } else {
                name.clone()
            };
            let item = format!("{world}#{dir}({shown})");
            match j.map(|j| &nm[j]) {
                Some((_, nkey, nitem)) => {
                    let at = At::both(oitem.span(), nitem.span());
                    self.compare_gated(
                        &item,
                        GateKind::Other,
                        oitem.stability(self.old),
                        nitem.stability(self.new),
                        at,
                        role,
                        |cx| {
                            match (okey, nkey, oitem, nitem) {
                                (WorldKey::Interface(a), WorldKey::Interface(b), _, _) => {
                                    let (va, vb) = (version_of(cx.old, *a), version_of(cx.new, *b));
                                    // The package's own interfaces move with its
                                    // version; only other packages' versions are
                                    // a change of the world.
                                    let own = iface_key(cx.new, *b).split('/').next()
                                        == Some(cx.package.as_str());
                                    if va != vb && !own {
                                        let rule =
                                            match (compatible(va.as_ref(), vb.as_ref()), imports) {
                                                (true, true) => "world-import-version-bumped",
                                                (false, true) => "world-import-version-changed",
                                                (true, false) => "world-export-version-bumped",
                                                (false, false) => "world-export-version-changed",
                                            };
                                        let show = |v: Option<semver::Version>| {
                                            v.map_or("(unversioned)".into(), |v| v.to_string())
                                        };
                                        cx.push(
                                            rule,
                                            item.clone(),
                                            Some(show(va)),
                                            Some(show(vb)),
                                            at,
                                            role,
                                        );
                                    }
                                }
                                (_, _, WorldItem::Function(a), WorldItem::Function(b)) => {
                                    cx.signature(&item, a, b, role)
                                }
                                (
                                    _,
                                    _,
                                    WorldItem::Type { id: a, .. },
                                    WorldItem::Type { id: b, .. },
                                ) => {
                                    let (a, b) =
                                        (dealias_named(cx.old, *a), dealias_named(cx.new, *b));
                                    cx.typedef(&item, a, b, role);
                                }
                                (
                                    _,
                                    _,
                                    WorldItem::Interface { id: a, .. },
                                    WorldItem::Interface { id: b, .. },
                                ) => {
                                    let (a, b) = (&cx.old.interfaces[*a], &cx.new.interfaces[*b]);
                                    cx.types(&item, a, b, role);
                                    cx.functions(&item, a, b, role);
                                }
                                _ => cx.push(
                                    "type-kind-changed",
                                    item.clone(),
                                    Some(item_kind(oitem).into()),
                                    Some(item_kind(nitem).into()),
                                    at,
                                    role,
                                ),
                            }
                        },
                    );
                }
                None => {
                    let at = At::old(oitem.span());
                    if let GateOutcome::Removed = self.gates(
                        &item,
                        gate_kind(oitem),
                        Some(oitem.stability(self.old)),
                        None,
                        at,
                        role,
                    ) {
                        let rule = match (oitem, imports) {
                            _ if is_deprecated(oitem.stability(self.old)) => {
                                "deprecated-item-removed"
                            }
                            (WorldItem::Function(_), true) => "world-func-import-removed",
                            (WorldItem::Function(_), false) => "world-func-export-removed",
                            (WorldItem::Type { .. }, _) => "world-type-removed",
                            (WorldItem::Interface { id, .. }, true)
                                if types_only(self.old, *id) =>
                            {
                                "world-types-import-removed"
                            }
                            (_, true) => "world-import-removed",
                            (_, false) => "world-export-removed",
                        };
                        self.push(rule, item, None, None, at, role);
                    }
                }
            }
        }
        for (j, (name, nkey, nitem)) in nm.iter().enumerate() {
            if used[j] {
                continue;
            }
            let shown = if twice(&om, name) || twice(&nm, name) {
                versioned(self.new, name, nkey)
            } else {
                name.clone()
            };
            let item = format!("{world}#{dir}({shown})");
            let at = At::new(nitem.span());
            if let GateOutcome::Added = self.gates(
                &item,
                gate_kind(nitem),
                None,
                Some(nitem.stability(self.new)),
                at,
                role,
            ) {
                let rule = match (nitem, imports) {
                    (WorldItem::Function(_), true) => "world-func-import-added",
                    (WorldItem::Function(_), false) => "world-func-export-added",
                    (WorldItem::Type { .. }, _) => "world-type-added",
                    (WorldItem::Interface { id, .. }, true) if types_only(self.new, *id) => {
                        "world-types-import-added"
                    }
                    (_, true) => "world-import-added",
                    (_, false) => "world-export-added",
                };
                self.push(rule, item, None, None, at, role);
            }
        }
    }

    // ---- type equality ----

    /// Two type references are the same: primitives equal; named types by
    /// their name in their scope; anonymous ones by structure.
    fn ty_eq(&self, o: Type, n: Type) -> bool {
        match (o, n) {
            (Type::Id(a), Type::Id(b)) => {
                self.memoized(Compare::Ty, a, b, |cx| cx.ty_eq_uncached(o, n))
            }
            _ => self.ty_eq_uncached(o, n),
        }
    }

    /// Looks `(what, o, n)` up in the memo, or computes and records it.
    fn memoized(&self, what: Compare, o: TypeId, n: TypeId, f: impl FnOnce(&Self) -> bool) -> bool {
        if let Some(&known) = self.memo.borrow().get(&(what, o, n)) {
            return known;
        }
        // WIT types are acyclic (resources, the only way back, compare by
        // name), so the recursion below never reaches this pair again.
        let eq = f(self);
        self.memo.borrow_mut().insert((what, o, n), eq);
        eq
    }

    fn ty_eq_uncached(&self, o: Type, n: Type) -> bool {
        if let (Type::Id(a), Type::Id(b)) = (o, n) {
            let (da, db) = (&self.old.types[a], &self.new.types[b]);
            // The same name in the same scope: the definition's own changes
            // are reported where it is defined.
            if da.name.is_some()
                && da.name == db.name
                && owner_name(self.old, da.owner) == owner_name(self.new, db.owner)
            {
                return true;
            }
        }
        // Aliases are transparent: `type field-name = field-key` is the same
        // type as `field-key`, and as `string` when that is what it names.
        let step = |r: &Resolve, t: Type| match t {
            Type::Id(id) => match r.types[id].kind {
                TypeDefKind::Type(inner) => inner,
                _ => t,
            },
            t => t,
        };
        let (so, sn) = (step(self.old, o), step(self.new, n));
        if so != o || sn != n {
            return self.ty_eq(so, sn);
        }
        match (o, n) {
            (Type::Id(a), Type::Id(b)) => {
                let (da, db) = (&self.old.types[a], &self.new.types[b]);
                match (&da.name, &db.name) {
                    (None, None) => self.anon_eq(&da.kind, &db.kind),
                    // `type bytes = list<u8>` is `list<u8>`.
                    (Some(_), None) | (None, Some(_))
                        if !is_record_like(&da.kind) && !is_record_like(&db.kind) =>
                    {
                        self.anon_eq(&da.kind, &db.kind)
                    }
                    // Two differently named definitions: equal when their
                    // shapes are (resources stay nominal).
                    (Some(_), Some(_)) => {
                        !matches!(da.kind, TypeDefKind::Resource) && self.typedef_eq(a, b)
                    }
                    _ => false,
                }
            }
            (Type::Id(_), _) | (_, Type::Id(_)) => false,
            (a, b) => a == b,
        }
    }

    fn opt_eq(&self, a: Option<Type>, b: Option<Type>) -> bool {
        match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => self.ty_eq(a, b),
            _ => false,
        }
    }

    fn anon_eq(&self, a: &TypeDefKind, b: &TypeDefKind) -> bool {
        match (a, b) {
            (TypeDefKind::List(x), TypeDefKind::List(y))
            | (TypeDefKind::Option(x), TypeDefKind::Option(y))
            | (TypeDefKind::Type(x), TypeDefKind::Type(y)) => self.ty_eq(*x, *y),
            (TypeDefKind::FixedLengthList(x, m), TypeDefKind::FixedLengthList(y, k)) => {
                m == k && self.ty_eq(*x, *y)
            }
            (TypeDefKind::Map(k1, v1), TypeDefKind::Map(k2, v2)) => {
                self.ty_eq(*k1, *k2) && self.ty_eq(*v1, *v2)
            }
            (TypeDefKind::Tuple(x), TypeDefKind::Tuple(y)) => {
                x.types.len() == y.types.len()
                    && x.types
                        .iter()
                        .zip(&y.types)
                        .all(|(p, q)| self.ty_eq(*p, *q))
            }
            (TypeDefKind::Result(x), TypeDefKind::Result(y)) => {
                self.opt_eq(x.ok, y.ok) && self.opt_eq(x.err, y.err)
            }
            (TypeDefKind::Future(x), TypeDefKind::Future(y))
            | (TypeDefKind::Stream(x), TypeDefKind::Stream(y)) => self.opt_eq(*x, *y),
            (TypeDefKind::Handle(x), TypeDefKind::Handle(y)) => match (x, y) {
                (Handle::Own(p), Handle::Own(q)) | (Handle::Borrow(p), Handle::Borrow(q)) => {
                    self.ty_eq(Type::Id(*p), Type::Id(*q))
                }
                _ => false,
            },
            (TypeDefKind::Resource, TypeDefKind::Resource) => true,
            // Named kinds (records, variants, ...) only occur anonymously
            // in invalid WIT.
            _ => false,
        }
    }

    /// Two type definitions have the same shape (for rename detection).
    fn typedef_eq(&self, o: TypeId, n: TypeId) -> bool {
        self.memoized(Compare::Typedef, o, n, |cx| cx.typedef_eq_uncached(o, n))
    }

    fn typedef_eq_uncached(&self, o: TypeId, n: TypeId) -> bool {
        let (o, n) = (dealias_named(self.old, o), dealias_named(self.new, n));
        let (a, b) = (&self.old.types[o].kind, &self.new.types[n].kind);
        match (a, b) {
            (TypeDefKind::Record(x), TypeDefKind::Record(y)) => {
                x.fields.len() == y.fields.len()
                    && x.fields
                        .iter()
                        .zip(&y.fields)
                        .all(|(p, q)| p.name == q.name && self.ty_eq(p.ty, q.ty))
            }
            (TypeDefKind::Variant(x), TypeDefKind::Variant(y)) => {
                x.cases.len() == y.cases.len()
                    && x.cases
                        .iter()
                        .zip(&y.cases)
                        .all(|(p, q)| p.name == q.name && self.opt_eq(p.ty, q.ty))
            }
            (TypeDefKind::Enum(x), TypeDefKind::Enum(y)) => x
                .cases
                .iter()
                .map(|c| &c.name)
                .eq(y.cases.iter().map(|c| &c.name)),
            (TypeDefKind::Flags(x), TypeDefKind::Flags(y)) => x
                .flags
                .iter()
                .map(|c| &c.name)
                .eq(y.flags.iter().map(|c| &c.name)),
            (a, b) => self.anon_eq(a, b),
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
    /// The same version.
    Version,
    /// The same semver track.
    Track,
    /// Any version.
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

/// `iface#f`, `iface#res.method`, `iface#res.constructor`.
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
