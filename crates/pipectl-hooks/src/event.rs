//! The events commands raise and the verdicts hooks answer: the contract's
//! `types` interface, as Rust values and as component-model values.

use pipectl_run::Val;

/// An OCI annotation: `key = value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// E.g. `org.opencontainers.image.licenses`.
    pub key: String,
    /// Its value.
    pub value: String,
}

/// A stage of a pipeline, as `before-compose` and `before-run` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageRef {
    /// The stage's name in the manifest.
    pub name: String,
    /// Where its component comes from: a path, or a registry reference.
    pub source: String,
    /// `sha256:<hex>` of its component, or empty when not known yet.
    pub digest: String,
}

/// An artifact a command publishes, composes or fetches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// `host/repo:tag`, `oci-layout:DIR:tag`, or a file path.
    pub reference: String,
    /// `sha256:<hex>` of the component bytes.
    pub digest: String,
    /// Size of the component, in bytes.
    pub size: u64,
    /// Its annotations.
    pub annotations: Vec<Annotation>,
    /// `ns:pkg/world@version`, when known.
    pub target_world: Option<String>,
}

/// What happened, or is about to: the contract's `event` variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A component is about to be published.
    BeforePublish(Artifact),
    /// A component was published.
    AfterPublish(Artifact),
    /// Stages are about to be composed.
    BeforeCompose(Vec<StageRef>),
    /// A composed component is ready, not yet written.
    AfterCompose(Artifact),
    /// A component was fetched and verified, not yet written.
    AfterFetch(Artifact),
    /// A pipeline is about to run.
    BeforeRun(Vec<StageRef>),
}

/// Every event's name, as a hook's `events` lists them.
pub const EVENT_NAMES: [&str; 6] = [
    "before-publish",
    "after-publish",
    "before-compose",
    "after-compose",
    "after-fetch",
    "before-run",
];

impl Event {
    /// Its name in the contract, e.g. `before-publish`.
    pub fn name(&self) -> &'static str {
        match self {
            Event::BeforePublish(_) => "before-publish",
            Event::AfterPublish(_) => "after-publish",
            Event::BeforeCompose(_) => "before-compose",
            Event::AfterCompose(_) => "after-compose",
            Event::AfterFetch(_) => "after-fetch",
            Event::BeforeRun(_) => "before-run",
        }
    }

    /// As the component-model value `on-event` takes.
    pub fn to_val(&self) -> Val {
        let payload = match self {
            Event::BeforePublish(a)
            | Event::AfterPublish(a)
            | Event::AfterCompose(a)
            | Event::AfterFetch(a) => artifact_val(a),
            Event::BeforeCompose(stages) | Event::BeforeRun(stages) => {
                Val::List(stages.iter().map(stage_val).collect())
            }
        };
        Val::Variant(self.name().to_string(), Some(Box::new(payload)))
    }
}

fn string(s: &str) -> Val {
    Val::String(s.to_string())
}

fn annotation_val(a: &Annotation) -> Val {
    Val::Record(vec![
        ("key".into(), string(&a.key)),
        ("value".into(), string(&a.value)),
    ])
}

fn stage_val(s: &StageRef) -> Val {
    Val::Record(vec![
        ("name".into(), string(&s.name)),
        ("source".into(), string(&s.source)),
        ("digest".into(), string(&s.digest)),
    ])
}

fn artifact_val(a: &Artifact) -> Val {
    Val::Record(vec![
        ("reference".into(), string(&a.reference)),
        ("digest".into(), string(&a.digest)),
        ("size".into(), Val::U64(a.size)),
        (
            "annotations".into(),
            Val::List(a.annotations.iter().map(annotation_val).collect()),
        ),
        (
            "target-world".into(),
            Val::Option(a.target_world.as_deref().map(|w| Box::new(string(w)))),
        ),
    ])
}

/// What a hook answered: the contract's `verdict` variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on.
    Proceed,
    /// Go on, with these annotations added (before-publish only).
    ProceedWith(Vec<Annotation>),
    /// Stop the command, with this reason.
    Veto(String),
}

impl Verdict {
    /// `proceed`, `proceed-with` or `veto`.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Proceed => "proceed",
            Verdict::ProceedWith(_) => "proceed-with",
            Verdict::Veto(_) => "veto",
        }
    }

    /// Reads the value `on-event` returned. `Err` says what is wrong with
    /// it (the host type-checks results, so only a mismatched contract
    /// gets there).
    pub fn from_val(val: &Val) -> Result<Verdict, String> {
        match val {
            Val::Variant(case, None) if case == "proceed" => Ok(Verdict::Proceed),
            Val::Variant(case, Some(payload)) if case == "veto" => match &**payload {
                Val::String(reason) => Ok(Verdict::Veto(reason.clone())),
                other => Err(format!("`veto` carries {other:?}, not a string")),
            },
            Val::Variant(case, Some(payload)) if case == "proceed-with" => match &**payload {
                Val::List(items) => items
                    .iter()
                    .map(annotation_from_val)
                    .collect::<Result<_, _>>()
                    .map(Verdict::ProceedWith),
                other => Err(format!("`proceed-with` carries {other:?}, not a list")),
            },
            other => Err(format!("{other:?} is not a verdict")),
        }
    }
}

fn annotation_from_val(val: &Val) -> Result<Annotation, String> {
    let Val::Record(fields) = val else {
        return Err(format!("{val:?} is not an annotation"));
    };
    let field = |name: &str| {
        fields.iter().find_map(|(n, v)| match v {
            Val::String(s) if n == name => Some(s.clone()),
            _ => None,
        })
    };
    match (field("key"), field("value")) {
        (Some(key), Some(value)) => Ok(Annotation { key, value }),
        _ => Err(format!("{val:?} is not an annotation")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_variants_of_the_contract_and_verdicts_come_back() {
        let event = Event::BeforePublish(Artifact {
            reference: "oci-layout:store:x".into(),
            digest: "sha256:00".into(),
            size: 3,
            annotations: vec![Annotation {
                key: "k".into(),
                value: "v".into(),
            }],
            target_world: None,
        });
        let Val::Variant(name, Some(payload)) = event.to_val() else {
            panic!("not a variant with a payload")
        };
        assert_eq!(name, "before-publish");
        let Val::Record(fields) = *payload else {
            panic!("not a record")
        };
        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["reference", "digest", "size", "annotations", "target-world"]
        );
        let with = Val::Variant(
            "proceed-with".into(),
            Some(Box::new(Val::List(vec![annotation_val(&Annotation {
                key: "a".into(),
                value: "b".into(),
            })]))),
        );
        assert_eq!(
            Verdict::from_val(&with).unwrap(),
            Verdict::ProceedWith(vec![Annotation {
                key: "a".into(),
                value: "b".into()
            }])
        );
        assert!(Verdict::from_val(&Val::Bool(true)).is_err());
        assert_eq!(
            Verdict::from_val(&Val::Variant("veto".into(), Some(Box::new(string("no"))))).unwrap(),
            Verdict::Veto("no".into())
        );
    }
}
