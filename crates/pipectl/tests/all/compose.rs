//! Composition end to end: real plugins composed with the library, run with
//! the host, compared with the plugins chained by the host and with the
//! native Rust reference.

use std::sync::Arc;

use pipectl_compose::{ComposePlan, Composition, StageInput};
use pipectl_manifest::{Grants, Limits};
use pipectl_run::{CallSpec, FailureKind, Host, HostConfig, Pipeline, StageFailure, StagePolicy};
use pipectl_testkit::{contract, fixture, plugin};
use pipectl_wit::{ImportPolicy, Target, WitSet};
use text_transforms::TransformError;

fn stage(name: &str, path: std::path::PathBuf) -> StageInput {
    StageInput {
        name: name.to_string(),
        bytes: std::fs::read(&path).expect("built plugin"),
        origin: path.display().to_string(),
        allow_imports: Vec::new(),
    }
}

fn compose(stages: Vec<StageInput>) -> Composition {
    let wit = WitSet::load(&contract("0.2.0")).unwrap();
    pipectl_compose::compose(ComposePlan {
        name: "test-pipeline",
        version: &semver::Version::new(0, 1, 0),
        wit: &wit,
        world: "example:text-transform/plugin@0.2.0",
        stages,
        adapter: None,
    })
    .unwrap()
}

fn host() -> Arc<Host> {
    Arc::new(
        Host::new(&HostConfig {
            cache: None,
            fuel: false,
            pooling: Some(16),
            max_memory: None,
        })
        .unwrap(),
    )
}

fn policy() -> StagePolicy {
    StagePolicy {
        limits: Limits {
            max_memory: Some(512 << 20),
            ..Limits::default()
        },
        max_restarts: 3,
        stateless: false,
    }
}

fn pipeline(host: &Arc<Host>, stages: &[(&str, Vec<u8>)]) -> Pipeline {
    let plugins = stages
        .iter()
        .map(|(name, bytes)| {
            let p = host
                .load(name, bytes, &Grants::default(), &CallSpec::Transform)
                .unwrap();
            (Arc::new(p), policy())
        })
        .collect();
    Pipeline::new(host.clone(), plugins)
}

/// A small deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// At least 200 inputs covering Unicode, empty, whitespace-only, 1 MB,
/// forbidden words and fewer than three words.
fn generated_inputs() -> Vec<String> {
    let words = [
        "hello",
        "world",
        "Grüße",
        "naïve",
        "日本語",
        "テキスト",
        "😀",
        "e\u{301}",
        "ß",
        "Ω",
        "spam",
        "SPAM",
        "Abuse",
        "spammy",
        "abuser",
        "x",
        "ſpam",
        "\u{200b}",
        "a-b",
        "1234",
    ];
    let spaces = [
        " ", "  ", "\t", "\n", "\r\n", "\u{3000}", "\u{a0}", "\n\n", " \t ", "\u{2028}", "\u{85}",
    ];
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut inputs = vec![
        String::new(),
        " ".to_string(),
        "\n\n\t \r\n".to_string(),
        "\u{3000}\u{a0}".to_string(),
        "one".to_string(),
        "one two".to_string(),
        "one two three".to_string(),
        "  one \n\n two   \n three ".to_string(),
        "this is spam".to_string(),
        "no ABUSE please".to_string(),
    ];
    for i in 0..240 {
        let n = (rng.next() % 12) as usize;
        let mut text = String::new();
        for _ in 0..n {
            text.push_str(rng.pick(&words));
            text.push_str(rng.pick(&spaces));
        }
        if i % 7 == 0 {
            text.insert_str(0, rng.pick(&spaces));
        }
        inputs.push(text);
    }
    // One megabyte: many lines of words, and one with a forbidden word at
    // the very end.
    let line = "lorem ipsum  dolor\tsit amet consectetur \u{3000} adipiscing elit\n";
    let big: String = line.repeat((1 << 20) / line.len() + 1);
    inputs.push(big.clone());
    inputs.push(format!("{big} abuse"));
    inputs
}

/// A result as the three ways can all express it.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Ok(String),
    Rejected { case: String, message: String },
}

fn from_host(result: Result<String, StageFailure>) -> Outcome {
    match result {
        Ok(s) => Outcome::Ok(s),
        Err(StageFailure {
            kind: FailureKind::Rejected { case, message },
            ..
        }) => Outcome::Rejected { case, message },
        Err(other) => panic!("unexpected failure: {other}"),
    }
}

fn from_native(result: Result<String, TransformError>) -> Outcome {
    match result {
        Ok(s) => Outcome::Ok(s),
        Err(TransformError::InvalidInput(m)) => Outcome::Rejected {
            case: "invalid-input".into(),
            message: m,
        },
        Err(TransformError::ProcessingFailed(m)) => Outcome::Rejected {
            case: "processing-failed".into(),
            message: m,
        },
    }
}

#[test]
fn composed_chained_and_native_agree() {
    let names = ["normalizer", "validator", "counter"];
    let composed = compose(names.iter().map(|n| stage(n, plugin(n))).collect());
    assert!(
        composed.imports.is_empty(),
        "statically linked: {:?}",
        composed.imports
    );

    let host = host();
    let one = pipeline(&host, &[("composed", composed.bytes.clone())]);
    let chained_stages: Vec<(&str, Vec<u8>)> = names
        .iter()
        .map(|n| (*n, std::fs::read(plugin(n)).unwrap()))
        .collect();
    let chained = pipeline(&host, &chained_stages);

    let inputs = generated_inputs();
    assert!(inputs.len() >= 200);
    let (mut a, mut b) = (one.session(), chained.session());
    let mut rejected = 0;
    for (i, input) in inputs.iter().enumerate() {
        let native = from_native(text_transforms::pipeline(input));
        let via_composed = from_host(a.run(input));
        let via_chain = from_host(b.run(input));
        assert_eq!(
            via_composed,
            native,
            "input {i} ({} bytes): composed vs native",
            input.len()
        );
        assert_eq!(
            via_chain,
            native,
            "input {i} ({} bytes): chained vs native",
            input.len()
        );
        rejected += usize::from(matches!(native, Outcome::Rejected { .. }));
    }
    // The inputs exercise both outcomes, and both error cases.
    assert!(
        rejected > 20 && rejected < inputs.len() - 20,
        "rejected {rejected}"
    );
}

#[test]
fn composes_one_three_and_fifty_stages() {
    let normalizer = plugin("normalizer");
    let validator = plugin("validator");
    let counter = plugin("counter");
    let wit = WitSet::load(&contract("0.2.0")).unwrap();
    let world = wit.find_world("plugin").unwrap();
    let host = host();
    for n in [1usize, 3, 50] {
        // Alternate normalizer and validator, end with the counter: a stage
        // may repeat under different names.
        let mut stages = Vec::new();
        for i in 0..n - 1 {
            let (kind, path) = if i % 2 == 0 {
                ("normalizer", &normalizer)
            } else {
                ("validator", &validator)
            };
            stages.push(stage(&format!("{kind}{i}"), path.clone()));
        }
        stages.push(stage("counter", counter.clone()));
        let composed = compose(stages);
        assert_eq!(composed.stages.len(), n);
        assert!(
            composed.imports.is_empty(),
            "{n} stages: imports {:?}",
            composed.imports
        );
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&composed.bytes)
            .unwrap_or_else(|e| panic!("{n} stages: invalid output: {e}"));
        let policy = ImportPolicy::deny_all();
        let target = Target::new(&wit.resolve, std::slice::from_ref(&world), &policy);
        let report = target
            .check_bytes(
                &pipectl_wit::ComponentBytes::from_bytes(
                    std::path::Path::new("composed.wasm"),
                    composed.bytes.clone(),
                )
                .unwrap(),
            )
            .unwrap();
        assert!(report.ok, "{n} stages: {:?}", report.findings);

        // It runs, and does what the stages do in order.
        let p = pipeline(&host, &[("composed", composed.bytes)]);
        let input = "  several   words\n\n here ";
        let mut expected = Ok(input.to_string());
        for i in 0..n - 1 {
            expected = expected.and_then(|s| {
                if i % 2 == 0 {
                    Ok(text_transforms::normalize(&s))
                } else {
                    text_transforms::validate(&s)
                }
            });
        }
        let expected = expected.map(|s| text_transforms::count(&s));
        assert_eq!(
            from_host(p.session().run(input)),
            from_native(expected),
            "{n} stages"
        );
    }
}

#[test]
fn middleware_wraps_the_rest_of_the_chain() {
    let host = host();
    // normalizer -> audit(validator -> counter)
    let composed = compose(vec![
        stage("normalizer", plugin("normalizer")),
        stage("audit", fixture("audit")),
        stage("validator", plugin("validator")),
        stage("counter", plugin("counter")),
    ]);
    assert!(composed.stages[1].middleware);
    assert!(composed.imports.is_empty());
    let p = pipeline(&host, &[("composed", composed.bytes)]);
    let mut s = p.session();
    let out = s.run(" one  two three ").unwrap();
    assert_eq!(
        out,
        format!("{}\n-- audited", text_transforms::count("one two three"))
    );
    // The wrapped chain's error comes back through the middleware unchanged.
    assert_eq!(
        from_host(s.run("only two")),
        from_native(text_transforms::validate("only two"))
    );
    // The middleware refuses oversized input itself.
    let big = "word ".repeat(300_000);
    assert!(matches!(
        from_host(s.run(&big)),
        Outcome::Rejected { case, message } if case == "invalid-input" && message.contains("audit limit")
    ));

    // A middleware last in line wraps the identity.
    let composed = compose(vec![
        stage("normalizer", plugin("normalizer")),
        stage("audit", fixture("audit")),
    ]);
    let p = pipeline(&host, &[("composed", composed.bytes)]);
    assert_eq!(p.session().run(" a  b ").unwrap(), "a b\n-- audited");
}

#[test]
fn emitted_wac_describes_the_same_composition() {
    let composed = compose(vec![
        stage("normalizer", plugin("normalizer")),
        stage("audit", fixture("audit")),
        stage("validator", plugin("validator")),
        stage("counter", plugin("counter")),
    ]);
    // Resolve the WAC with wac's own parser, given the packages it names,
    // and encode it: it must describe a component with the same exports and
    // (no) imports.
    let doc = wac_parser::Document::parse(&composed.wac)
        .unwrap_or_else(|e| panic!("the emitted WAC does not parse: {e}\n{}", composed.wac));
    let mut packages = indexmap::IndexMap::new();
    let stage_bytes: Vec<(String, Vec<u8>)> = [
        ("stage:normalizer", plugin("normalizer")),
        ("stage:audit", fixture("audit")),
        ("stage:validator", plugin("validator")),
        ("stage:counter", plugin("counter")),
    ]
    .iter()
    .map(|(n, p)| (n.to_string(), std::fs::read(p).unwrap()))
    .chain(composed.sequencers.iter().cloned())
    .collect();
    for (name, bytes) in &stage_bytes {
        packages.insert(
            wac_types::BorrowedPackageKey::from_name_and_version(name, None),
            bytes.clone(),
        );
    }
    let resolution = doc
        .resolve(packages)
        .unwrap_or_else(|e| panic!("the emitted WAC does not resolve: {e:?}\n{}", composed.wac));
    let bytes = resolution
        .encode(wac_graph::EncodeOptions::default())
        .expect("wac encodes it");
    let decoded = pipectl_wit::ComponentBytes::from_bytes(std::path::Path::new("wac.wasm"), bytes)
        .unwrap()
        .decode()
        .unwrap();
    assert_eq!(decoded.export_names(), composed.exports);
    assert_eq!(decoded.import_names(), composed.imports);
}
