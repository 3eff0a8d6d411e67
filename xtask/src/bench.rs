//! `cargo xtask bench [NAME...]`: benchmarks that print ratios against a
//! baseline measured in the same run, never absolute pass/fail times.
//!
//! - `check`: pipectl's check engine vs `wit_component::targets` (what
//!   `wasm-tools component targets` runs) on the same components and worlds.
//! - `compose`: compose time for 1/3/10/50 stages; pipectl compose vs wac-graph
//!   alone given a pre-built glue; composed pipeline throughput vs native.
//! - `run`: the host vs a naive host; batch throughput on 2 cores vs 1; cold
//!   start with and without the precompiled cache.
//! - `trust`: publish with and without `--sign`; fetch with and without a
//!   signature policy.
//! - `hooks`: publish with and without a before-publish hook (Rust; and
//!   Python when the test fixture is built), alternated, whole process.
//! - `conformance`: `pipectl test` of one case vs `pipectl run` of the same
//!   input on the composed pipeline; `pipectl compare` on 10,000 lines vs
//!   running both sides with `pipectl run`.
//! - `serve`: `pipectl serve` vs `jco serve` of the `--adapter http`
//!   composition (requests/s and p99 at 1 and 32 connections, reload time,
//!   memory per worker); see `bench_serve.rs`.

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
    if wants("diff") {
        diff()?;
    }
    if wants("compose") {
        compose()?;
    }
    if wants("run") {
        host()?;
    }
    if wants("registry") {
        registry()?;
    }
    if wants("trust") {
        trust()?;
    }
    if wants("hooks") {
        hooks()?;
    }
    if wants("conformance") {
        conformance()?;
    }
    if wants("serve") {
        crate::bench_serve::serve()?;
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

/// `wit diff` over whole WASI trees (every `wasi:*` package, already parsed)
/// against `wit_component::semver_check` on every world the two releases
/// share (both releases merged into one resolve, as it requires). Target:
/// ratio <= 1.0.
fn diff() -> anyhow::Result<()> {
    use pipectl_diff::{DiffOptions, FailOn, Side};
    use pipectl_wit::source::LoadedWit;

    println!("\n## diff: pipectl wit diff vs wit_component::semver_check (WASI trees)");
    let trees = pipectl_testkit::wasi_trees();
    let load = |v: &str| -> anyhow::Result<LoadedWit> {
        let mut w = LoadedWit::load(trees[v].to_str().context("UTF-8 path")?)?.with_all_packages();
        let resolve = &w.resolve;
        w.packages
            .retain(|id| resolve.packages[*id].name.namespace == "wasi");
        Ok(w)
    };
    println!(
        "{:<18} {:>7} {:>9} {:>14} {:>16} {:>8}",
        "releases", "worlds", "findings", "pipectl", "semver_check", "ratio"
    );
    let mut worst: f64 = 0.0;
    for new_v in ["0.2.1", "0.2.3", "0.2.12"] {
        let (old, new) = (load("0.2.0")?, load(new_v)?);
        // Both releases' `wasi:*` packages in one resolve, for semver_check
        // (the crates' own top-level packages would clash).
        let mut merged = wit_parser::Resolve::default();
        let old_ids = push_wasi_deps(&mut merged, &trees["0.2.0"])?;
        let new_ids = push_wasi_deps(&mut merged, &trees[new_v])?;
        let mut pairs = Vec::new();
        for &op in &old_ids {
            let opkg = &merged.packages[op];
            let Some(&np) = new_ids.iter().find(|np| {
                let n = &merged.packages[**np].name;
                n.namespace == opkg.name.namespace && n.name == opkg.name.name
            }) else {
                continue;
            };
            for (name, ow) in &opkg.worlds {
                if let Some(nw) = merged.packages[np].worlds.get(name) {
                    pairs.push((*ow, *nw));
                }
            }
        }
        let opts = DiffOptions::default();
        let findings = pipectl_diff::diff_and_judge(
            &Side::from(&old),
            &Side::from(&new),
            &opts,
            FailOn::Breaking,
        )
        .findings
        .len();
        let budget = Duration::from_millis(1500);
        let ours = measure(budget, || {
            pipectl_diff::diff_and_judge(
                &Side::from(&old),
                &Side::from(&new),
                &opts,
                FailOn::Breaking,
            )
        });
        // semver_check consumes its resolve: clone it outside the timing.
        let mut total = Duration::ZERO;
        let runs = 5;
        for _ in 0..runs {
            let copies: Vec<_> = pairs.iter().map(|_| merged.clone()).collect();
            let start = Instant::now();
            for ((ow, nw), r) in pairs.iter().zip(copies) {
                std::hint::black_box(wit_component::semver_check(r, *ow, *nw).is_ok());
            }
            total += start.elapsed();
        }
        let theirs = total / runs;
        let r = ratio(ours, theirs);
        worst = worst.max(r);
        println!(
            "{:<18} {:>7} {:>9} {:>14} {:>16} {:>7.2}x",
            format!("0.2.0 -> {new_v}"),
            pairs.len(),
            findings,
            fmt(ours),
            fmt(theirs),
            r
        );
    }
    println!(
        "worst ratio pipectl/semver_check: {worst:.2}x (target <= 1.0; pipectl also diffs every interface, semver_check only worlds)"
    );
    Ok(())
}

/// Pushes the packages of a WASI tree's `deps/` into `resolve`; returns the
/// `wasi:*` ones.
fn push_wasi_deps(
    resolve: &mut wit_parser::Resolve,
    wit: &Path,
) -> anyhow::Result<Vec<wit_parser::PackageId>> {
    use wit_parser::UnresolvedPackageGroup;
    let mut groups = Vec::new();
    for entry in fs_err::read_dir(wit.join("deps"))? {
        let path = entry?.path();
        if path.is_dir() {
            groups.push(UnresolvedPackageGroup::parse_dir(&path)?);
        } else if path.extension().is_some_and(|e| e == "wit") {
            let text = fs_err::read_to_string(&path)?;
            groups.push(
                UnresolvedPackageGroup::parse(&path, &text)
                    .map_err(|(map, e)| anyhow::anyhow!("{}", e.render(&map)))?,
            );
        }
    }
    let main = groups.pop().context("no deps")?;
    let before: Vec<_> = resolve.packages.iter().map(|(id, _)| id).collect();
    resolve.push_groups(main, groups)?;
    Ok(resolve
        .packages
        .iter()
        .filter(|(id, p)| !before.contains(id) && p.name.namespace == "wasi")
        .map(|(id, _)| id)
        .collect())
}

/// A valid component of about `size` bytes: the normalizer plus a custom
/// section.
fn sized_component(size: usize) -> anyhow::Result<Vec<u8>> {
    use wasm_encoder::ComponentSection as _;
    let mut bytes = fs_err::read(root().join("target/plugins/normalizer.wasm"))?;
    let filler: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    wasm_encoder::CustomSection {
        name: "filler".into(),
        data: filler.into(),
    }
    .append_to_component(&mut bytes);
    Ok(bytes)
}

/// Publish and fetch throughput against a real registry on loopback, and
/// a second fetch with a warm cache and a lockfile (which must make no
/// request at all).
fn registry() -> anyhow::Result<()> {
    use pipectl_registry::{
        Cache, Context, CredentialSources, FetchOptions, Lockfile, Progress, PublishRequest,
        RegistryConfig, Transport,
    };

    println!("\n## registry: publish and fetch on a loopback CNCF distribution");
    let server = pipectl_testkit::RegistryServer::start();
    let scratch = tempfile::tempdir()?;
    let ctx = |cache: &str| -> anyhow::Result<Context> {
        Ok(Context {
            config: RegistryConfig::from_toml("", scratch.path().join("store"))?,
            cache: Cache::new(scratch.path().join(cache)),
            credentials: CredentialSources::default(),
            transport: Transport::default(),
            progress: Progress::new(false),
        })
    };
    println!(
        "{:<8} {:>12} {:>12} {:>14} {:>16}",
        "size", "publish", "fetch", "warm fetch", "warm requests"
    );
    for (label, mb) in [("1 MB", 1usize), ("20 MB", 20)] {
        let bytes = sized_component(mb << 20)?;
        let reference = format!("{}/bench/c{mb}:1.0.0", server.addr);
        let size_mb = bytes.len() as f64 / (1 << 20) as f64;
        let publish_ctx = ctx("publish-cache")?;
        let start = Instant::now();
        pipectl_registry::publish(
            &publish_ctx,
            PublishRequest {
                bytes: bytes.clone(),
                file_name: "c.wasm".into(),
                reference: reference.clone(),
                annotations: Default::default(),
                world: None,
                force: true,
            },
        )?;
        let publish_time = start.elapsed();
        let fetch_ctx = ctx(&format!("fetch-cache-{mb}"))?;
        let mut lock = Lockfile::load(&scratch.path().join(format!("lock-{mb}")))?;
        let start = Instant::now();
        let fetched =
            pipectl_registry::fetch(&fetch_ctx, &reference, &lock, FetchOptions::default())?;
        let fetch_time = start.elapsed();
        anyhow::ensure!(fetched.read()? == bytes, "fetched bytes differ");
        lock.upsert(fetched.entry);
        let before = server.requests("GET", "/v2/") + server.requests("HEAD", "/v2/");
        let start = Instant::now();
        let warm = pipectl_registry::fetch(&fetch_ctx, &reference, &lock, FetchOptions::default())?;
        let warm_time = start.elapsed();
        anyhow::ensure!(warm.from_cache && warm.read()? == bytes);
        let requests = server.requests("GET", "/v2/") + server.requests("HEAD", "/v2/") - before;
        let rate = |d: Duration| format!("{:.0} MB/s", size_mb / d.as_secs_f64());
        println!(
            "{label:<8} {:>12} {:>12} {:>14} {:>16}",
            rate(publish_time),
            rate(fetch_time),
            fmt(warm_time),
            requests
        );
    }
    Ok(())
}

/// What signing and verifying add: `pipectl publish` of the composed
/// pipeline to the embedded layout with and without `--sign`, and `pipectl
/// fetch` with and without a policy that requires the signature (checked
/// on every fetch). The same binary, process start included on both sides,
/// alternated in one run. Target: each adds <= 10 ms.
fn trust() -> anyhow::Result<()> {
    println!("\n## trust: publish --sign and fetch under a signature policy (embedded layout)");
    let bin = crate::demo::build_pipectl()?;
    let dir = tempfile::tempdir()?;
    let run = |args: &[&str]| timed(&bin, dir.path(), dir.path(), args);
    let pipeline = crate::util::root().join("pipeline.toml");
    run(&["compose", pipeline.to_str().unwrap(), "-o", "p.wasm"])?;
    run(&["key", "generate"])?;
    let policy = dir.path().join("pipectl.toml");
    let rounds = 15;
    let (mut plain, mut signed, mut open, mut guarded) = (vec![], vec![], vec![], vec![]);
    for i in 0..rounds {
        let (a, b) = (
            format!("oci-layout:store:1.0.{i}"),
            format!("oci-layout:store:2.0.{i}"),
        );
        plain.push(run(&["publish", "p.wasm", &a])?);
        signed.push(run(&[
            "publish",
            "p.wasm",
            &b,
            "--sign",
            "--key",
            "pipectl.key",
        ])?);
        let _ = std::fs::remove_file(&policy);
        open.push(run(&["fetch", &b, "-o", "f.wasm", "--no-lock"])?);
        std::fs::write(
            &policy,
            "[trust]\nrequire = \"signature\"\n[[trust.key]]\npath = \"pipectl.pub\"\n",
        )?;
        guarded.push(run(&["fetch", &b, "-o", "g.wasm", "--no-lock"])?);
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let spread = |v: &[Duration]| format!("{}..{}", fmt(v[0]), fmt(v[v.len() - 1]));
    println!(
        "{:<34} {:>10} {:>18} {:>10} {:>8}",
        "", "median", "spread", "added", "ratio"
    );
    for (what, base, with) in [
        ("publish vs publish --sign", &mut plain, &mut signed),
        ("fetch vs fetch under policy", &mut open, &mut guarded),
    ] {
        let (b, w) = (median(base), median(with));
        let added = w.saturating_sub(b);
        println!(
            "{what:<34} {:>10} {:>18} {:>10} {:>7.2}x",
            format!("{}/{}", fmt(b), fmt(w)),
            format!("{}/{}", spread(base), spread(with)),
            fmt(added),
            ratio(w, b)
        );
    }
    println!("target: each adds <= 10 ms (medians of {rounds} alternated runs)");
    Ok(())
}

fn hooks() -> anyhow::Result<()> {
    println!(
        "\n## hooks: publish with a before-publish hook vs without (embedded layout, whole process)"
    );
    let bin = crate::demo::build_pipectl()?;
    let home = tempfile::tempdir()?;
    let run = |dir: &Path, args: &[&str]| timed(&bin, dir, home.path(), args);
    let component = root().join("target/plugins/normalizer.wasm");
    let component = component.to_str().context("a UTF-8 path")?;
    let mut sides: Vec<(&str, std::path::PathBuf)> = vec![("no hook", home.path().join("plain"))];
    let rust = root().join("target/extensions/require-license.wasm");
    let python = root().join("target/fixtures/python-hook.wasm");
    sides.push(("require-license (Rust)", home.path().join("rust")));
    if python.exists() {
        sides.push(("change-ticket (Python)", home.path().join("python")));
    }
    for (_, dir) in &sides {
        std::fs::create_dir_all(dir)?;
    }
    run(
        &sides[1].1,
        &["plugin", "add", rust.to_str().context("UTF-8")?],
    )?;
    if let Some((_, dir)) = sides.get(2) {
        let py = python.to_str().context("UTF-8")?;
        run(dir, &["plugin", "add", py, "--grant", "runtime"])?;
    }
    let rounds = 15;
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); sides.len()];
    for i in 0..=rounds {
        for (n, (_, dir)) in sides.iter().enumerate() {
            let reference = format!("oci-layout:store:n:1.0.{i}");
            let took = run(
                dir,
                &[
                    "publish",
                    component,
                    &reference,
                    "--licenses",
                    "MIT",
                    "--annotation",
                    "org.example.change-ticket=CHG-1",
                ],
            )?;
            // Round 0 warms the compiled cache and the page cache.
            if i > 0 {
                times[n].push(took);
            }
        }
    }
    let base = times[0].clone();
    let mut sorted_base = base.clone();
    sorted_base.sort();
    println!(
        "{:<26} {:>10} {:>10} {:>24}",
        "", "median", "added", "ratio min/median/max"
    );
    println!("{:<26} {:>10}", sides[0].0, fmt(sorted_base[rounds / 2]));
    for (n, (what, _)) in sides.iter().enumerate().skip(1) {
        let mut ratios: Vec<f64> = times[n]
            .iter()
            .zip(&base)
            .map(|(w, b)| ratio(*w, *b))
            .collect();
        ratios.sort_by(f64::total_cmp);
        let mut with = times[n].clone();
        with.sort();
        let added = with[rounds / 2].saturating_sub(sorted_base[rounds / 2]);
        println!(
            "{what:<26} {:>10} {:>10} {:>24}",
            fmt(with[rounds / 2]),
            fmt(added),
            format!(
                "{:.2}/{:.2}/{:.2}x",
                ratios[0],
                ratios[rounds / 2],
                ratios[rounds - 1]
            )
        );
    }
    println!(
        "target: a before-publish hook adds <= 5 ms (medians of {rounds} alternated rounds after a warm-up)"
    );
    Ok(())
}

fn conformance() -> anyhow::Result<()> {
    println!(
        "\n## conformance: pipectl test and pipectl compare on the composed pipeline (whole process)"
    );
    let bin = crate::demo::build_pipectl()?;
    let dir = tempfile::tempdir()?;
    let run = |args: &[&str]| timed(&bin, dir.path(), dir.path(), args);
    let pipeline = root().join("pipeline.toml");
    run(&[
        "compose",
        pipeline.to_str().context("UTF-8")?,
        "-o",
        "p.wasm",
    ])?;
    let input = "the quick brown fox jumps over the lazy dog";
    std::fs::write(dir.path().join("input.txt"), input)?;
    let expected = format!(
        "Words: 9, Lines: 1, Chars: {}\n\n{input}",
        input.chars().count()
    );
    std::fs::write(
        dir.path().join("case.toml"),
        format!(
            "[[case]]\nname = \"one input\"\ninvoke = 'transform(\"{input}\")'\nexpect = 'ok({expected:?})'\n"
        ),
    )?;
    let lines: String = (0..10_000)
        .map(|i| format!("line {i} has some words in it\n"))
        .collect();
    std::fs::write(dir.path().join("lines.txt"), lines)?;
    let rounds = 11;
    let (mut test, mut single, mut compare, mut both) = (vec![], vec![], vec![], vec![]);
    for i in 0..=rounds {
        let t = run(&["test", "case.toml", "--component", "p.wasm"])?;
        let r = run(&["run", "p.wasm", "--input", "input.txt"])?;
        let c = run(&[
            "compare",
            "p.wasm",
            "p.wasm",
            "--inputs",
            "lines.txt",
            "--lines",
            "--max-p95-ratio",
            "100",
        ])?;
        let b = run(&[
            "run",
            "p.wasm",
            "--input",
            "lines.txt",
            "--lines",
            "--workers",
            "1",
        ])?;
        if i > 0 {
            test.push(t);
            single.push(r);
            compare.push(c);
            both.push(b * 2);
        }
    }
    let mid = rounds / 2;
    let row = |what: &str, with: &[Duration], base: &[Duration]| {
        let mut ratios: Vec<f64> = with.iter().zip(base).map(|(w, b)| ratio(*w, *b)).collect();
        ratios.sort_by(f64::total_cmp);
        let (mut w, mut b) = (with.to_vec(), base.to_vec());
        w.sort();
        b.sort();
        println!(
            "{what:<44} {:>10} {:>10} {:>22}",
            fmt(w[mid]),
            fmt(b[mid]),
            format!(
                "{:.2}/{:.2}/{:.2}x",
                ratios[0],
                ratios[mid],
                ratios[rounds - 1]
            )
        );
    };
    println!(
        "{:<44} {:>10} {:>10} {:>22}",
        "", "median", "baseline", "ratio min/median/max"
    );
    row("test (1 case) vs run (1 input)", &test, &single);
    row("compare 10,000 lines vs run of both sides", &compare, &both);
    let mut c = compare.clone();
    c.sort();
    println!(
        "compare throughput: {:.0} lines/s (both sides, one worker, interleaved)",
        10_000.0 / c[mid].as_secs_f64()
    );
    println!(
        "target: test <= 2x run per case (medians of {rounds} alternated rounds after a warm-up)"
    );
    Ok(())
}

/// Runs `bin ARGS` in `dir`, with `home` as its whole world (HOME, cache,
/// config), failing unless it exits 0: how long it took, process start
/// included.
fn timed(bin: &Path, dir: &Path, home: &Path, args: &[&str]) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let out = std::process::Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("PIPECTL_CACHE_DIR", home.join("cache"))
        .env("PIPECTL_CONFIG_DIR", home.join("config"))
        .output()?;
    let took = start.elapsed();
    anyhow::ensure!(
        out.status.success(),
        "pipectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(took)
}

fn plugin_bytes(name: &str) -> anyhow::Result<Vec<u8>> {
    read(&root().join(format!("target/plugins/{name}.wasm")))
}

fn stage_inputs(n: usize) -> anyhow::Result<Vec<pipectl_compose::StageInput>> {
    let (norm, val, count) = (
        plugin_bytes("normalizer")?,
        plugin_bytes("validator")?,
        plugin_bytes("counter")?,
    );
    let mut stages = Vec::new();
    for i in 0..n.saturating_sub(1) {
        let (kind, bytes) = if i % 2 == 0 {
            ("normalizer", &norm)
        } else {
            ("validator", &val)
        };
        stages.push(pipectl_compose::StageInput {
            name: format!("{kind}{i}"),
            bytes: bytes.clone(),
            origin: kind.to_string(),
            allow_imports: vec![],
        });
    }
    stages.push(pipectl_compose::StageInput {
        name: "counter".into(),
        bytes: count,
        origin: "counter".into(),
        allow_imports: vec![],
    });
    Ok(stages)
}

/// A text of about `len` bytes that every stage accepts.
fn sample_text(len: usize) -> String {
    let line = "the quick  brown fox jumps over\tthe lazy dog  \n";
    let mut s = line.repeat(len / line.len() + 1);
    s.truncate(len);
    s
}

/// Compose time by stage count; pipectl compose against wac-graph alone with
/// a pre-built glue; the composed pipeline's throughput against native Rust.
fn compose() -> anyhow::Result<()> {
    use pipectl_compose::{ComposePlan, compose as compose_plan};
    println!("\n## compose");
    let wit = pipectl_wit::WitSet::load(&root().join("wit/text-transform/0.2.0"))?;
    let version = semver::Version::new(0, 1, 0);
    let plan = |n: usize| -> anyhow::Result<ComposePlan<'_>> {
        Ok(ComposePlan {
            name: "bench",
            version: &version,
            wit: &wit,
            world: "example:text-transform/plugin@0.2.0",
            stages: stage_inputs(n)?,
            adapter: None,
        })
    };
    println!(
        "{:<8} {:>12} {:>14} {:>12}",
        "stages", "compose", "per stage", "vs 1 stage"
    );
    let mut base = None;
    for n in [1usize, 3, 10, 50] {
        let stages = plan(n)?;
        let t = measure(Duration::from_millis(1500), || {
            compose_plan(stages.clone()).expect("composes")
        });
        let b = *base.get_or_insert(t);
        println!(
            "{n:<8} {:>12} {:>14} {:>11.1}x",
            fmt(t),
            fmt(t / n as u32),
            ratio(t, b)
        );
    }

    // The same composition through wac-graph alone, given a pre-built glue.
    let stages = stage_inputs(3)?;
    let contract = {
        let world = wit.find_world("plugin")?;
        let (_, item) = wit.resolve.worlds[world]
            .exports
            .iter()
            .next()
            .context("an export")?;
        let wit_parser::WorldItem::Interface { id, .. } = item else {
            anyhow::bail!("not an interface")
        };
        pipectl_compose::Contract::new(wit.resolve.clone(), *id)?
    };
    let glue = pipectl_compose::sequencer::generate(&contract, 3)?;
    let export = "example:text-transform/text-transform@0.2.0";
    let wac_only = || -> Vec<u8> {
        use wac_graph::types::Package;
        use wac_graph::{CompositionGraph, EncodeOptions};
        let mut g = CompositionGraph::new();
        let mut aliases = Vec::new();
        for s in &stages {
            let p = Package::from_bytes(
                &format!("stage:{}", s.name),
                None,
                s.bytes.clone(),
                g.types_mut(),
            )
            .expect("valid");
            let id = g.register_package(p).expect("registers");
            let inst = g.instantiate(id);
            aliases.push(g.alias_instance_export(inst, export).expect("exports"));
        }
        let p = Package::from_bytes("pipectl:sequencer", None, glue.clone(), g.types_mut())
            .expect("valid");
        let id = g.register_package(p).expect("registers");
        let seq = g.instantiate(id);
        for (i, a) in aliases.into_iter().enumerate() {
            g.set_instantiation_argument(seq, &format!("stage{i}"), a)
                .expect("wires");
        }
        let out = g.alias_instance_export(seq, export).expect("exports");
        g.export(out, export).expect("exports");
        g.encode(EncodeOptions::default()).expect("encodes")
    };
    let ours = measure(Duration::from_millis(1500), || {
        compose_plan(plan(3).expect("plan")).expect("composes")
    });
    let theirs = measure(Duration::from_millis(1500), wac_only);
    println!(
        "pipectl compose (3 stages, glue generated, checked) {} vs wac-graph with a pre-built glue {}: {:.2}x (target <= 1.5)",
        fmt(ours),
        fmt(theirs),
        ratio(ours, theirs)
    );

    // Throughput of the composed pipeline against the native transforms.
    let composed = compose_plan(plan(3)?)?;
    let host = std::sync::Arc::new(pipectl_run::Host::new(&pipectl_run::HostConfig {
        cache: None,
        fuel: false,
        pooling: Some(8),
        max_memory: None,
    })?);
    let plugin = host.load(
        "composed",
        &composed.bytes,
        &Default::default(),
        &pipectl_run::CallSpec::Transform,
    )?;
    let pipeline = pipectl_run::Pipeline::new(
        host.clone(),
        vec![(
            std::sync::Arc::new(plugin),
            pipectl_run::StagePolicy {
                limits: Default::default(),
                max_restarts: 3,
                stateless: false,
            },
        )],
    );
    let mut session = pipeline.session();
    println!(
        "{:<8} {:>12} {:>12} {:>16}",
        "input", "composed", "native", "composed/native"
    );
    for (label, len) in [("100 B", 100usize), ("10 KB", 10 << 10), ("1 MB", 1 << 20)] {
        let text = sample_text(len);
        let expected = text_transforms::pipeline(&text).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        anyhow::ensure!(
            session.run(&text).map_err(|e| anyhow::anyhow!("{e}"))? == expected,
            "outputs differ"
        );
        let budget = Duration::from_millis(1000);
        let c = measure(budget, || session.run(&text).expect("runs"));
        let n = measure(budget, || text_transforms::pipeline(&text).expect("runs"));
        println!(
            "{label:<8} {:>12} {:>12} {:>15.2}x",
            fmt(c),
            fmt(n),
            ratio(n, c)
        );
    }
    println!("(composed/native is throughput relative to native; target >= 0.5 at 1 MB)");
    Ok(())
}

/// The host against a naive host; batch throughput on two cores against
/// one; cold start with and without the precompiled cache.
fn host() -> anyhow::Result<()> {
    use std::sync::Arc;
    use wasmtime::component::{Component, Linker};

    println!("\n## run: the host");
    let composed = read(&root().join("target/demo/pipeline.wasm")).or_else(
        |_| -> anyhow::Result<Vec<u8>> {
            let wit = pipectl_wit::WitSet::load(&root().join("wit/text-transform/0.2.0"))?;
            Ok(pipectl_compose::compose(pipectl_compose::ComposePlan {
                name: "bench",
                version: &semver::Version::new(0, 1, 0),
                wit: &wit,
                world: "example:text-transform/plugin@0.2.0",
                stages: stage_inputs(3)?,
                adapter: None,
            })?
            .bytes)
        },
    )?;
    let config = pipectl_run::HostConfig {
        cache: None,
        fuel: false,
        pooling: Some(64),
        max_memory: None,
    };
    let host = Arc::new(pipectl_run::Host::new(&config)?);
    let policy = pipectl_run::StagePolicy {
        limits: Default::default(),
        max_restarts: 3,
        stateless: false,
    };
    let load = |name: &str,
                bytes: &[u8]|
     -> anyhow::Result<(Arc<pipectl_run::Plugin>, pipectl_run::StagePolicy)> {
        Ok((
            Arc::new(host.load(
                name,
                bytes,
                &Default::default(),
                &pipectl_run::CallSpec::Transform,
            )?),
            policy,
        ))
    };
    let pipeline = pipectl_run::Pipeline::new(host.clone(), vec![load("composed", &composed)?]);
    let mut session = pipeline.session();

    // The naive host: the three plugins, each call a fresh Store and a
    // fresh instance per plugin (components compiled once).
    let engine = host.engine().clone();
    let linker: Linker<()> = Linker::new(&engine);
    let components: Vec<Component> = ["normalizer", "validator", "counter"]
        .iter()
        .map(|n| Component::new(&engine, plugin_bytes(n)?).map_err(wt))
        .collect::<anyhow::Result<_>>()?;
    let naive = |input: &str| -> anyhow::Result<String> {
        let mut text = input.to_string();
        for c in &components {
            let mut store = wasmtime::Store::new(&engine, ());
            store.set_epoch_deadline(u64::MAX / 2);
            let instance = linker.instantiate(&mut store, c).map_err(wt)?;
            let iface = c
                .get_export_index(None, "example:text-transform/text-transform@0.2.0")
                .context("the interface")?;
            let f = c
                .get_export_index(Some(&iface), "transform")
                .context("transform")?;
            let func = instance
                .get_typed_func::<(&str,), (Result<String, pipectl_run::TransformError>,)>(
                    &mut store, &f,
                )
                .map_err(wt)?;
            text = func
                .call(&mut store, (&text,))
                .map_err(wt)?
                .0
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        }
        Ok(text)
    };
    println!(
        "{:<8} {:>12} {:>12} {:>10}",
        "input", "host", "naive", "speedup"
    );
    for (label, len) in [("100 B", 100usize), ("10 KB", 10 << 10)] {
        let text = sample_text(len);
        anyhow::ensure!(naive(&text)? == session.run(&text).map_err(|e| anyhow::anyhow!("{e}"))?);
        let budget = Duration::from_millis(1000);
        let ours = measure(budget, || session.run(&text).expect("runs"));
        let theirs = measure(budget, || naive(&text).expect("runs"));
        println!(
            "{label:<8} {:>12} {:>12} {:>9.1}x",
            fmt(ours),
            fmt(theirs),
            ratio(theirs, ours)
        );
    }
    println!("(target: >= 20x at 100 B)");

    // Batch throughput: the three stages chained by the host, 1 vs 2 workers.
    let chained = pipectl_run::Pipeline::new(
        host.clone(),
        vec![
            load("normalizer", &plugin_bytes("normalizer")?)?,
            load("validator", &plugin_bytes("validator")?)?,
            load("counter", &plugin_bytes("counter")?)?,
        ],
    );
    let inputs: Vec<String> = (0..4000)
        .map(|i| format!("{} {i}", sample_text(2048)))
        .collect();
    let mut best = [Duration::MAX; 2];
    for _ in 0..3 {
        for (slot, workers) in [(0usize, 1usize), (1, 2)] {
            let start = Instant::now();
            let r = chained.run_batch(&inputs, workers, true);
            best[slot] = best[slot].min(start.elapsed());
            anyhow::ensure!(r.results.iter().all(|r| matches!(r, Some(Ok(_)))));
        }
    }
    let mb = inputs.iter().map(String::len).sum::<usize>() as f64 / (1 << 20) as f64;
    println!(
        "batch, 4000 x 2 KB: 1 worker {:.0} MB/s, 2 workers {:.0} MB/s: {:.2}x on {} cores",
        mb / best[0].as_secs_f64(),
        mb / best[1].as_secs_f64(),
        ratio(best[0], best[1]),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // Cold start: a new host loading the composed pipeline, compiled vs
    // from the precompiled cache.
    let cache_dir = tempfile::tempdir()?;
    let cache = pipectl_run::ArtifactCache::new(
        cache_dir.path().join("compiled"),
        pipectl_run::SealKey::load_or_create(&cache_dir.path().join("cache.key"))?,
    );
    let cold = |cached: bool| -> anyhow::Result<Duration> {
        let start = Instant::now();
        let h = pipectl_run::Host::new(&pipectl_run::HostConfig {
            cache: cached.then(|| cache.clone()),
            ..config.clone()
        })?;
        let p = h.load(
            "composed",
            &composed,
            &Default::default(),
            &pipectl_run::CallSpec::Transform,
        )?;
        let elapsed = start.elapsed();
        let expected = if cached {
            pipectl_run::CompileSource::Cache
        } else {
            pipectl_run::CompileSource::Compiled
        };
        anyhow::ensure!(
            p.compile == expected,
            "{:?} instead of {expected:?}",
            p.compile
        );
        Ok(elapsed)
    };
    // Fill the cache (this one compiles).
    let _ = cold(false);
    {
        let h = pipectl_run::Host::new(&pipectl_run::HostConfig {
            cache: Some(cache.clone()),
            ..config.clone()
        })?;
        h.load(
            "composed",
            &composed,
            &Default::default(),
            &pipectl_run::CallSpec::Transform,
        )?;
    }
    let compiled = (0..3)
        .map(|_| cold(false))
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .min()
        .unwrap_or_default();
    let from_cache = (0..3)
        .map(|_| cold(true))
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .min()
        .unwrap_or_default();
    println!(
        "cold start (new engine + load the composed pipeline): compiled {} vs precompiled cache {}: {:.0}x faster",
        fmt(compiled),
        fmt(from_cache),
        ratio(compiled, from_cache)
    );
    Ok(())
}

/// wasmtime's error as anyhow's.
fn wt(e: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{e:#}")
}
