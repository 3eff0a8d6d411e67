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
        let om: Vec<Named<'_>> = old.iter().map(|(k, v)| (key(self.old, k), k, v)).collect();
        let nm: Vec<Named<'_>> = new.iter().map(|(k, v)| (key(self.new, k), k, v)).collect();
        let (pairs, used) = self.pair_world_items(&om, &nm);
        // An item a world has at two versions is named with its version.
        let shown = |r: &Resolve, name: &String, k: &WorldKey| {
            let twice = |m: &[Named<'_>]| m.iter().filter(|(n, _, _)| n == name).count() > 1;
            match k {
                WorldKey::Interface(id) if twice(&om) || twice(&nm) => match version_of(r, *id) {
                    Some(v) => format!("{world}#{dir}({name}@{v})"),
                    None => format!("{world}#{dir}({name})"),
                },
                _ => format!("{world}#{dir}({name})"),
            }
        };
        for (i, j) in pairs {
            let (name, okey, oitem) = &om[i];
            let item = shown(self.old, name, okey);
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
                        |cx| cx.world_item_pair(&item, (okey, oitem), (nkey, nitem), at, imports),
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
                        let rule = removed_rule(self.old, oitem, imports);
                        self.push(rule, item, None, None, at, role);
                    }
                }
            }
        }
        for (j, (name, nkey, nitem)) in nm.iter().enumerate() {
            if used[j] {
                continue;
            }
            let item = shown(self.new, name, nkey);
            let at = At::new(nitem.span());
            if let GateOutcome::Added = self.gates(
                &item,
                gate_kind(nitem),
                None,
                Some(nitem.stability(self.new)),
                at,
                role,
            ) {
                let rule = added_rule(self.new, nitem, imports);
                self.push(rule, item, None, None, at, role);
            }
        }
    }

    /// Pairs a world's old items with its new ones. An interface a world
    /// imports at two versions (`@3.0.0` and `@4.0.0`) is two items,
    /// matched on the same version first, then on the same semver track,
    /// then on the name alone. Returns, in old order, each old item with
    /// its new partner (if any), and which new items were paired.
    fn pair_world_items(
        &self,
        om: &[Named<'_>],
        nm: &[Named<'_>],
    ) -> (Vec<(usize, Option<usize>)>, Vec<bool>) {
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
        (pairs, used)
    }

    /// Compares one world item present in both releases.
    fn world_item_pair(
        &mut self,
        item: &str,
        (okey, oitem): (&WorldKey, &WorldItem),
        (nkey, nitem): (&WorldKey, &WorldItem),
        at: At,
        imports: bool,
    ) {
        let role = if imports {
            Role::Importer
        } else {
            Role::Exporter
        };
        match (okey, nkey, oitem, nitem) {
            (WorldKey::Interface(a), WorldKey::Interface(b), _, _) => {
                let (va, vb) = (version_of(self.old, *a), version_of(self.new, *b));
                // The package's own interfaces move with its version; only
                // other packages' versions are a change of the world.
                let own = pipectl_wit::name::package_of(&iface_key(self.new, *b))
                    == self.package.as_str();
                if va != vb && !own {
                    let rule = match (compatible(va.as_ref(), vb.as_ref()), imports) {
                        (true, true) => "world-import-version-bumped",
                        (false, true) => "world-import-version-changed",
                        (true, false) => "world-export-version-bumped",
                        (false, false) => "world-export-version-changed",
                    };
                    let show = |v: Option<semver::Version>| {
                        v.map_or("(unversioned)".into(), |v| v.to_string())
                    };
                    self.push(
                        rule,
                        item.to_string(),
                        Some(show(va)),
                        Some(show(vb)),
                        at,
                        role,
                    );
                }
            }
            (_, _, WorldItem::Function(a), WorldItem::Function(b)) => {
                self.signature(item, a, b, role)
            }
            (_, _, WorldItem::Type { id: a, .. }, WorldItem::Type { id: b, .. }) => {
                let (a, b) = (dealias_named(self.old, *a), dealias_named(self.new, *b));
                self.typedef(item, a, b, role);
            }
            (_, _, WorldItem::Interface { id: a, .. }, WorldItem::Interface { id: b, .. }) => {
                let (a, b) = (&self.old.interfaces[*a], &self.new.interfaces[*b]);
                self.types(item, a, b, role);
                self.functions(item, a, b, role);
            }
            _ => self.push(
                "type-kind-changed",
                item.to_string(),
                Some(item_kind(oitem).into()),
                Some(item_kind(nitem).into()),
                at,
                role,
            ),
        }
    }

    // ---- type equality ----
}

/// A world item with its name: `(name, key, item)`.
type Named<'a> = (String, &'a WorldKey, &'a WorldItem);

/// The rule for a world item the new release no longer has.
fn removed_rule(old: &Resolve, item: &WorldItem, imports: bool) -> &'static str {
    match (item, imports) {
        _ if is_deprecated(item.stability(old)) => "deprecated-item-removed",
        (WorldItem::Function(_), true) => "world-func-import-removed",
        (WorldItem::Function(_), false) => "world-func-export-removed",
        (WorldItem::Type { .. }, _) => "world-type-removed",
        (WorldItem::Interface { id, .. }, true) if types_only(old, *id) => {
            "world-types-import-removed"
        }
        (_, true) => "world-import-removed",
        (_, false) => "world-export-removed",
    }
}

/// The rule for a world item the new release adds.
fn added_rule(new: &Resolve, item: &WorldItem, imports: bool) -> &'static str {
    match (item, imports) {
        (WorldItem::Function(_), true) => "world-func-import-added",
        (WorldItem::Function(_), false) => "world-func-export-added",
        (WorldItem::Type { .. }, _) => "world-type-added",
        (WorldItem::Interface { id, .. }, true) if types_only(new, *id) => {
            "world-types-import-added"
        }
        (_, true) => "world-import-added",
        (_, false) => "world-export-added",
    }
}
