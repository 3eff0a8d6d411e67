//! The rule catalog: data, not code. `rules.toml` lists every kind of change
//! `wit diff` reports, with its effect on each side and its message; the
//! engine in [`crate::engine`] only decides which rule a change is.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The catalog's source, compiled in.
pub const RULES_TOML: &str = include_str!("../rules.toml");

/// How a change affects one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// Components built against the old version still work.
    Compatible,
    /// Components built against the old version break.
    Breaking,
}

impl Effect {
    /// The name as `rules.toml` and reports spell it: `compatible` or `breaking`.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Compatible => "compatible",
            Effect::Breaking => "breaking",
        }
    }
}

/// What kind of change a rule describes; decides the bump of compatible
/// changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// An item was added: a function, a type, a case, an interface.
    Addition,
    /// An item was removed.
    Removal,
    /// An item is on both sides but changed, e.g. its signature or its type.
    Modification,
    /// Nothing a component can observe (docs, order, gates' versions).
    Cosmetic,
}

/// A semver bump, ordered from none to major.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bump {
    /// No bump: the versions are equal, or nothing needs one.
    None,
    /// A patch release: enough when only unobservable things changed.
    Patch,
    /// A minor release (for 0.x: a patch release).
    Minor,
    /// A major release (for 0.x: a minor release).
    Major,
}

impl Bump {
    /// The name as reports spell it: `none`, `patch`, `minor` or `major`.
    pub fn as_str(self) -> &'static str {
        match self {
            Bump::None => "none",
            Bump::Patch => "patch",
            Bump::Minor => "minor",
            Bump::Major => "major",
        }
    }
}

/// The area a rule belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Changes to packages themselves and to their dependencies.
    Package,
    /// Changes to whole interfaces, e.g. one added or removed.
    Interface,
    /// Functions (and resource methods, statics, constructors' signatures).
    Function,
    /// Changes to resources themselves, beyond their functions' signatures.
    Resource,
    /// Named and anonymous types.
    Type,
    /// Changes to worlds: their imports, exports and `include`s.
    World,
    /// Changes to `use` statements, which bring in types from other interfaces.
    Use,
    /// Changes to feature gates: `@since`, `@unstable`, `@deprecated`.
    Gate,
    /// Changes to doc comments only.
    Docs,
}

/// One rule of `rules.toml`: a kind of change, its effects, and its message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The id, e.g. `func-added`.
    pub id: String,
    /// The area of WIT the rule is about.
    pub category: Category,
    /// A one-sentence summary of the change the rule describes.
    pub summary: String,
    /// The effect on a component that imports the item (calls it).
    pub importer: Effect,
    /// The effect on a component that exports the item (implements it).
    pub exporter: Effect,
    /// The kind of change.
    pub change: ChangeKind,
    /// The message template: `{item}`, `{old}` and `{new}` are replaced.
    pub message: String,
    /// Why the effects are what they are, and what to do.
    pub help: String,
}

/// Which side of an item the components built against a release are on
/// (the guests); the host is on the other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Components import the item; the host implements it (WASI, a world's
    /// imports).
    Importer,
    /// Components export the item; the host calls it (plugins, a world's
    /// exports).
    Exporter,
    /// Components may be on either side.
    Both,
}

/// How breaks translate into the required bump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Guest-centric, like `wasm-tools component semver-check` and WASI's
    /// versioning: `major` when a component built against the old release
    /// (importing or exporting) no longer fits the new one; `minor`, with a
    /// warning, when only hosts are affected (they must provide more or can
    /// call less); `patch` for docs, layout and gates.
    #[default]
    Guest,
    /// Any break for any side, host or guest, is `major`.
    Strict,
}

impl Policy {
    /// The name as `--policy` and reports spell it: `guest` or `strict`.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Guest => "guest",
            Policy::Strict => "strict",
        }
    }
}

/// Which host a host-only break affects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostSide {
    /// Hosts that provide the item (components import it): they must provide
    /// more.
    Provider,
    /// Hosts that call the item (components export it): they can call less.
    Caller,
}

impl Rule {
    /// The bump a change of this rule requires when `effect` applies.
    pub fn bump(&self, effect: Effect) -> Bump {
        match (effect, self.change) {
            (Effect::Breaking, _) => Bump::Major,
            (Effect::Compatible, ChangeKind::Cosmetic) => Bump::Patch,
            (Effect::Compatible, _) => Bump::Minor,
        }
    }

    /// The effect on the components built against the old release, when
    /// they are on the `role` side.
    pub fn guest_effect(&self, role: Role) -> Effect {
        match role {
            Role::Importer => self.importer,
            Role::Exporter => self.exporter,
            Role::Both => self.importer.max(self.exporter),
        }
    }

    /// The bump a change of this rule requires under `policy` when the
    /// components are on the `role` side, and the host it breaks when only
    /// hosts break (the guest policy then asks for `minor` and a warning).
    pub fn bump_for(&self, role: Role, policy: Policy) -> (Bump, Option<HostSide>) {
        let any = self.importer.max(self.exporter);
        match policy {
            Policy::Strict => (self.bump(any), None),
            Policy::Guest => {
                let host = match role {
                    Role::Importer => Some((self.exporter, HostSide::Provider)),
                    Role::Exporter => Some((self.importer, HostSide::Caller)),
                    Role::Both => None,
                };
                match (self.guest_effect(role), host) {
                    (Effect::Breaking, _) => (Bump::Major, None),
                    (Effect::Compatible, Some((Effect::Breaking, side))) => {
                        (self.bump(Effect::Compatible).max(Bump::Minor), Some(side))
                    }
                    (Effect::Compatible, _) => (self.bump(Effect::Compatible), None),
                }
            }
        }
    }

    /// The warning a host-only break carries under the guest policy.
    pub fn host_warning(item: &str, side: HostSide) -> String {
        match side {
            HostSide::Provider => format!(
                "breaks hosts only: a host that provides `{item}` must provide more; components built against the old release still fit"
            ),
            HostSide::Caller => format!(
                "breaks hosts only: a host that calls `{item}` can call less; components built against the old release still fit"
            ),
        }
    }

    /// The message with its placeholders filled.
    pub fn render(&self, item: &str, old: Option<&str>, new: Option<&str>) -> String {
        self.message
            .replace("{item}", item)
            .replace("{old}", old.unwrap_or("-"))
            .replace("{new}", new.unwrap_or("-"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    rule: Vec<Rule>,
}

/// Every rule, by id.
#[derive(Debug)]
pub struct Catalog {
    rules: Vec<Rule>,
    by_id: HashMap<String, usize>,
}

impl Catalog {
    /// The catalog parsed from [`RULES_TOML`] on first use, then shared.
    pub fn get() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| Catalog::parse(RULES_TOML).expect("rules.toml is valid"))
    }

    /// Parses a catalog; ids must be unique.
    pub fn parse(text: &str) -> Result<Catalog, String> {
        let file: CatalogFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut by_id = HashMap::new();
        for (i, rule) in file.rule.iter().enumerate() {
            if by_id.insert(rule.id.clone(), i).is_some() {
                return Err(format!("duplicate rule id `{}`", rule.id));
            }
        }
        Ok(Catalog {
            rules: file.rule,
            by_id,
        })
    }

    /// The rule `id`.
    ///
    /// # Panics
    /// When the engine names a rule the catalog lacks: a bug, caught by the
    /// tests that run every rule.
    pub fn rule(&self, id: &str) -> &Rule {
        match self.by_id.get(id) {
            Some(i) => &self.rules[*i],
            None => panic!("rule `{id}` is not in rules.toml"),
        }
    }

    /// Whether `id` is a rule.
    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// Every rule, in catalog order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

/// The catalog as Markdown: every rule with its effects, its bump under
/// both policies and an example taken from its fixture pair (`example(id)`
/// returns the old and new WIT).
pub fn docs_markdown(example: &dyn Fn(&str) -> Option<(String, String)>) -> String {
    use std::fmt::Write as _;
    let catalog = Catalog::get();
    let mut out = String::from(
        "# `pipectl wit diff` rules\n\n\
         Generated from `crates/pipectl-diff/rules.toml` and the fixtures in `tests/diff/` \
         by `cargo xtask docs`; do not edit.\n\n\
         *Importer*: a component that imports the item (calls it; for a world's imports, the \
         component; for a world's exports, the host). *Exporter*: a component that exports the \
         item (implements it; for a world's exports, the component; for a world's imports, the \
         host). Which side the *components* (guests) are on comes from the package's worlds: \
         a world's imports are imported by components and its exports exported by them; an \
         interface imported by worlds only has importing components, one exported only has \
         exporting components, any other has both (or `--role` says). Worlds are compared as \
         elaborated: after `include`s and `use`s, what a component built against them imports \
         and exports.\n\n\
         ## Policies\n\n\
         **guest** (the default, `--policy guest`), as `wasm-tools component semver-check` and \
         WASI's versioning judge: the required bump is `major` when a component built against \
         the old release (importing or exporting) no longer fits the new one; `minor` when only \
         hosts are affected (they must provide more or can call less), with a warning naming \
         the host-side effect; `minor` for other additions and modifications, `patch` for docs, \
         layout and gates. **strict** (`--policy strict`): any break for any side, host or \
         component, is `major`. For 0.x versions every bump moves one place right (`major` is \
         `0.y` → `0.(y+1)`, `minor` and `patch` are `0.y.z` → `0.y.(z+1)`). The JSON report \
         says which policy decided (`policy`).\n\n\
         Dependencies: a dependency moved within its semver track needs a `patch` (not `none`: \
         the package's text names the new version, so the same version cannot be published for \
         it again); what changed inside it, as far as the package's interfaces and worlds reach, \
         is reported with the rules below and decides the bump (unless the dependency is \
         compared in its own right). A move to a new track is breaking.\n\n",
    );
    let _ = writeln!(out, "{} rules.\n", catalog.rules().len());
    out.push_str(
        "| rule | importer | exporter | guest: components import | guest: components export | strict | summary |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    let show = |r: &Rule, role: Role, policy: Policy| {
        let (bump, host) = r.bump_for(role, policy);
        match host {
            Some(_) => format!("{} (host warning)", bump.as_str()),
            None => bump.as_str().to_string(),
        }
    };
    for r in catalog.rules() {
        let _ = writeln!(
            out,
            "| [`{0}`](#{0}) | {1} | {2} | {3} | {4} | {5} | {6} |",
            r.id,
            r.importer.as_str(),
            r.exporter.as_str(),
            show(r, Role::Importer, Policy::Guest),
            show(r, Role::Exporter, Policy::Guest),
            show(r, Role::Both, Policy::Strict),
            r.summary
        );
    }
    for r in catalog.rules() {
        let _ = write!(
            out,
            "\n## {}\n\n{}\n\n- importer: **{}**, exporter: **{}**\n\
             - guest policy: {} when components import it, {} when they export it, {} when they may do either\n\
             - strict policy: {}\n- message: {}\n\n{}\n",
            r.id,
            r.summary,
            r.importer.as_str(),
            r.exporter.as_str(),
            show(r, Role::Importer, Policy::Guest),
            show(r, Role::Exporter, Policy::Guest),
            show(r, Role::Both, Policy::Guest),
            show(r, Role::Both, Policy::Strict),
            r.message,
            r.help
        );
        if let Some((old, new)) = example(&r.id) {
            out.push_str("\n```diff\n");
            out.push_str(&line_diff(&old, &new));
            out.push_str("```\n");
        }
    }
    out
}

/// A unified-style line diff (longest common subsequence).
fn line_diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!(" {}\n", a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] > lcs[i + 1][j]) {
            out.push_str(&format!("+{}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("-{}\n", a[i]));
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_loads_and_is_large_enough() {
        let c = Catalog::get();
        assert!(c.rules().len() >= 60, "{} rules", c.rules().len());
        let r = c.rule("func-added");
        assert_eq!(
            (r.importer, r.exporter),
            (Effect::Compatible, Effect::Breaking)
        );
        assert_eq!(r.bump(Effect::Breaking), Bump::Major);
        assert_eq!(r.bump(Effect::Compatible), Bump::Minor);
        assert_eq!(c.rule("docs-changed").bump(Effect::Compatible), Bump::Patch);
        assert!(Catalog::parse("[[rule]]\nid = \"x\"").is_err());
        // A host-only break: minor with a warning under the guest policy,
        // major under strict; a guest break is major under both.
        assert_eq!(
            r.bump_for(Role::Importer, Policy::Guest),
            (Bump::Minor, Some(HostSide::Provider))
        );
        assert_eq!(
            r.bump_for(Role::Importer, Policy::Strict),
            (Bump::Major, None)
        );
        assert_eq!(
            r.bump_for(Role::Exporter, Policy::Guest),
            (Bump::Major, None)
        );
        assert_eq!(r.bump_for(Role::Both, Policy::Guest), (Bump::Major, None));
        let removed = c.rule("world-export-removed");
        assert_eq!(
            removed.bump_for(Role::Exporter, Policy::Guest),
            (Bump::Minor, Some(HostSide::Caller))
        );
        assert_eq!(
            c.rule("docs-changed")
                .bump_for(Role::Importer, Policy::Strict),
            (Bump::Patch, None)
        );
    }
}
