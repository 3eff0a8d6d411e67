//! Worlds, compared as elaborated: their imports and exports.

use std::collections::BTreeMap;

use wit_parser::{Resolve, WorldId, WorldItem, WorldKey};

use super::*;

impl Cx<'_> {
    /// Two worlds, compared as elaborated: resolution has already merged
    /// their `include`s and added the interfaces their `use`s need, so the
    /// items compared are what a component built against each imports and
    /// exports. The `include`s themselves are reported as context.
    pub(super) fn world(
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
    pub(super) fn world_items(
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
                                    let own = pipectl_wit::name::package_of(&iface_key(cx.new, *b))
                                        == cx.package.as_str();
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
}
