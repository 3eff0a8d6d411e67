//! Types: a named type's definition where it is defined, its members,
//! and the specific rule a changed type falls under.

use std::collections::HashSet;

use wit_parser::{Handle, Interface, Resolve, Type, TypeDefKind, TypeId};

use super::*;

impl Cx<'_> {
    pub(super) fn types(&mut self, iface: &str, oi: &Interface, ni: &Interface, role: Role) {
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
    pub(super) fn named_type(&mut self, item: &str, o: TypeId, n: TypeId, role: Role) {
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
    pub(super) fn typedef(&mut self, item: &str, o: TypeId, n: TypeId, role: Role) {
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
    pub(super) fn members<T>(
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
    pub(super) fn type_change(
        &mut self,
        item: &str,
        o: Type,
        n: Type,
        fallback: &str,
        at: At,
        role: Role,
    ) {
        let show_o = wit_display(self.old, &o);
        let show_n = wit_display(self.new, &n);
        let rule = self.specific_change(o, n).unwrap_or(fallback);
        self.push(rule, item.to_string(), Some(show_o), Some(show_n), at, role);
    }

    pub(super) fn specific_change(&self, o: Type, n: Type) -> Option<&'static str> {
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
    pub(super) fn specific_kind_change(
        &self,
        a: &TypeDefKind,
        b: &TypeDefKind,
    ) -> Option<&'static str> {
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
}
