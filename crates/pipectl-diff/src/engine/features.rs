//! Feature gates and stability: what `@unstable`/`@since`/`@deprecated`
//! make of a change, and documentation changes.

use wit_parser::{Docs, Stability};

use super::*;

impl Cx<'_> {
    /// Handles the feature gates of an item present on either side and says
    /// what is left for the caller to do.
    #[allow(clippy::too_many_arguments, reason = "an item's full description")]
    pub(super) fn gates(
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
    pub(super) fn stable_gates(
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

    pub(super) fn docs(&mut self, item: &str, old: &Docs, new: &Docs, at: At, role: Role) {
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
    pub(super) fn compare_gated(
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
}
