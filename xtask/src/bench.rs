//! `cargo xtask bench [NAME...]`: benchmarks that print ratios against a
//! baseline measured in the same run, never absolute pass/fail times.
//!
//! - `check`: pipectl's check engine vs `wit_component::targets` (what
//!   `wasm-tools component targets` runs) on the same components and worlds.
//! - `compose`: compose time for 1/3/10/50 stages; pipectl compose vs wac-graph
//!   alone given a pre-built glue; composed pipeline throughput vs native.
//! - `run`: the host vs a naive host; batch throughput on 2 cores vs 1; cold
//!   start with and without the precompiled cache.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::util::root;

/// The median time of `f` over enough runs to fill about `budget`.
pub fn measure<T>(budget: Duration, mut f: impl FnMut() -> T) -> Duration {
    // One warm-up run, which also sizes the sample.
    let start = Instant::now();
    std::hint::black_box(f());
    let once = start.elapsed().max(Duration::from_nanos(50));
    let runs = (budget.as_nanos() / once.as_nanos()).clamp(5, 10_000) as usize;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        std::hint::black_box(f());
        times.push(start.elapsed());
    }
    times.sort_unstable();
    times[times.len() / 2]
}

/// Formats a duration compactly.
pub fn fmt(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 10_000 {
        format!("{ns} ns")
    } else if ns < 10_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else {
        format!("{:.1} ms", ns as f64 / 1e6)
    }
}

/// `a / b` as a ratio.
pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-12)
}

/// Entry point for `cargo xtask bench`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    crate::plugins()?;
    let all = args.is_empty() || args.iter().any(|a| a == "all");
    let wants = |name: &str| all || args.iter().any(|a| a == name);
    if wants("check") {
        check()?;
    }

    Ok(())
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    fs_err::read(path)
        .with_context(|| format!("run `cargo xtask plugins` first ({})", path.display()))
}

/// `pipectl check`'s engine (validate, decode, compare) against
/// `wit_component::targets` (encode the world, wrap, validate) on the same
/// components and worlds. Target: ratio <= 1.0.
fn check() -> anyhow::Result<()> {
    println!("\n## check: pipectl check engine vs wit_component::targets");
    let root = root();
    let wit = pipectl_wit::WitSet::load(&root.join("wit/text-transform/0.2.0"))?;
    let policy = pipectl_wit::ImportPolicy::deny_all();
    let composed = root.join("target/demo/pipeline.wasm");
    let mut inputs = vec![
        (
            "normalizer",
            root.join("target/plugins/normalizer.wasm"),
            "plugin",
        ),
        (
            "validator",
            root.join("target/plugins/validator.wasm"),
            "plugin",
        ),
        (
            "counter",
            root.join("target/plugins/counter.wasm"),
            "counter-plugin",
        ),
    ];
    if composed.exists() {
        inputs.push(("composed pipeline", composed, "plugin"));
    }
    println!(
        "{:<20} {:>8} {:>14} {:>14} {:>8}",
        "component", "bytes", "pipectl", "targets", "ratio"
    );
    let mut worst: f64 = 0.0;
    for (name, path, world_name) in inputs {
        let bytes = read(&path)?;
        let world = wit.find_world(world_name)?;
        let worlds = [world];
        let target = pipectl_wit::Target {
            resolve: &wit.resolve,
            worlds: &worlds,
            policy: &policy,
        };
        // Both must agree that the component targets the world.
        let component = pipectl_wit::ComponentBytes::from_bytes(&path, bytes.clone())?;
        let report = target.check_bytes(&component)?;
        anyhow::ensure!(
            report.ok,
            "{name}: pipectl check fails: {:?}",
            report.findings
        );
        wit_component::targets(&wit.resolve, world, &bytes)
            .with_context(|| format!("{name}: targets fails"))?;

        let budget = Duration::from_millis(700);
        let ours = measure(budget, || {
            let component =
                pipectl_wit::ComponentBytes::from_bytes(&path, bytes.clone()).expect("valid");
            target.check_bytes(&component).expect("checks")
        });
        let theirs = measure(budget, || {
            wit_component::targets(&wit.resolve, world, &bytes).expect("targets")
        });
        let r = ratio(ours, theirs);
        worst = worst.max(r);
        println!(
            "{name:<20} {:>8} {:>14} {:>14} {:>7.2}x",
            bytes.len(),
            fmt(ours),
            fmt(theirs),
            r
        );
    }
    println!("worst ratio pipectl/targets: {worst:.2}x (target <= 1.0)");
    Ok(())
}
