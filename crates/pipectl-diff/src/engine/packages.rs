//! Packages side by side: their interfaces, dependencies and the
//! dependency interfaces they reach.

use std::collections::BTreeMap;

use wit_parser::{Interface, InterfaceId, PackageId, Resolve};

use super::*;

impl Cx<'_> {
    pub(super) fn package_pair(
        &mut self,
        op: PackageId,
        np: PackageId,
        old_includes: &BTreeMap<String, Vec<String>>,
        new_includes: &BTreeMap<String, Vec<String>>,
    ) {
        self.deps(op, np);
        self.reached_deps(op, np);
        self.package_interfaces(op, np);
        self.package_worlds(op, np, old_includes, new_includes);
    }

    /// The package's interfaces, matched by name; unmatched ones with the
    /// same contents are a rename.
    fn package_interfaces(&mut self, op: PackageId, np: PackageId) {
        let (opkg, npkg) = (&self.old.packages[op], &self.new.packages[np]);
        let prefix = self.package.clone();
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
    }

    /// The package's worlds, matched by name; unmatched ones with the same
    /// items are a rename.
    fn package_worlds(
        &mut self,
        op: PackageId,
        np: PackageId,
        old_includes: &BTreeMap<String, Vec<String>>,
        new_includes: &BTreeMap<String, Vec<String>>,
    ) {
        let (opkg, npkg) = (&self.old.packages[op], &self.new.packages[np]);
        let prefix = self.package.clone();
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
    pub(super) fn deps(&mut self, op: PackageId, np: PackageId) {
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
    pub(super) fn reached_deps(&mut self, op: PackageId, np: PackageId) {
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
            let package = pipectl_wit::name::package_of(&key);
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
    pub(super) fn iface_role(&self, key: &str) -> Role {
        let key = pipectl_wit::name::unversioned(key);
        self.roles.get(key).copied().unwrap_or(Role::Both)
    }

    // ---- interfaces ----

    pub(super) fn interface(&mut self, item: &str, o: InterfaceId, n: InterfaceId) {
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
}
