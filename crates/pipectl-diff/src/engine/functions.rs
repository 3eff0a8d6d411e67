//! Functions: added, removed, and changed signatures.

use wit_parser::{Function, FunctionKind, Interface};

use super::*;

impl Cx<'_> {
    pub(super) fn functions(&mut self, iface: &str, oi: &Interface, ni: &Interface, role: Role) {
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

    pub(super) fn function(&mut self, item: &str, o: &Function, n: &Function, role: Role) {
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
    pub(super) fn signature(&mut self, item: &str, o: &Function, n: &Function, role: Role) {
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

    pub(super) fn signature_eq(&self, o: &Function, n: &Function) -> bool {
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
}
