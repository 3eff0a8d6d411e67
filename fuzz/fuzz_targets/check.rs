//! Fuzz target: arbitrary bytes classified as a component, validated,
//! decoded and checked against the repository's `text-transform` worlds.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pipectl_wit::{ComponentBytes, ImportPolicy, Target};
use wit_parser::{Resolve, WorldId};

struct Worlds {
    resolve: Resolve,
    worlds: Vec<WorldId>,
    policy: ImportPolicy,
}

fn worlds() -> &'static Worlds {
    static WORLDS: OnceLock<Worlds> = OnceLock::new();
    WORLDS.get_or_init(|| {
        let mut resolve = Resolve::default();
        let mut worlds = Vec::new();
        for (name, text) in [
            (
                "0.1.0.wit",
                include_str!("../../wit/text-transform/0.1.0/text-transform.wit"),
            ),
            (
                "0.2.0.wit",
                include_str!("../../wit/text-transform/0.2.0/text-transform.wit"),
            ),
        ] {
            let pkg = resolve
                .push_str(name, text)
                .expect("the repository's WIT loads");
            worlds.extend(resolve.packages[pkg].worlds.values().copied());
        }
        Worlds {
            resolve,
            worlds,
            policy: ImportPolicy::allow(["wasi:clocks/*"]).expect("a valid pattern"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(component) = ComponentBytes::from_bytes(Path::new("fuzz.wasm"), data.to_vec()) else {
        return;
    };
    let w = worlds();
    let target = Target {
        resolve: &w.resolve,
        worlds: &w.worlds,
        policy: &w.policy,
    };
    if let Ok(report) = target.check_bytes(&component) {
        assert_eq!(report.ok, report.findings.is_empty());
        for f in &report.findings {
            assert!(!f.message.is_empty());
        }
    }
});
