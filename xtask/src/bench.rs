//! `cargo xtask bench [NAME...]`: benchmarks that print ratios against a
//! baseline measured in the same run, never absolute pass/fail times.
//!
//! - `check`: pipectl's check engine vs `wit_component::targets` (what
//!   `wasm-tools component targets` runs) on the same components and worlds,
//!   one thread each; `--no-validate-bodies`; 8 files on `-j 2` vs `-j 1`.
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
//! - `copy`: the composed pipeline with plugins built without bulk memory
//!   against the default build; see `bench_copy.rs`.

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

/// Two sides measured alternately: `ROUNDS` rounds after a warm-up, each
/// round the median of each side over an equal share of the budget.
pub struct Spread {
    /// Side a's median time, per round.
    pub a: Vec<Duration>,
    /// Side b's median time, per round.
    pub b: Vec<Duration>,
}

/// Rounds of an alternating measurement.
pub const ROUNDS: usize = 7;

impl Spread {
    /// The median of side a's round medians.
    pub fn a(&self) -> Duration {
        median(&self.a)
    }

    /// The median of side b's round medians.
    pub fn b(&self) -> Duration {
        median(&self.b)
    }

    /// `b / a` per round (a's throughput relative to b's), sorted.
    pub fn speedups(&self) -> Vec<f64> {
        let mut r: Vec<f64> = self
            .a
            .iter()
            .zip(&self.b)
            .map(|(a, b)| ratio(*b, *a))
            .collect();
        r.sort_by(f64::total_cmp);
        r
    }

    /// `a / b` per round (a's time relative to b's), sorted.
    pub fn ratios(&self) -> Vec<f64> {
        let mut r: Vec<f64> = self
            .a
            .iter()
            .zip(&self.b)
            .map(|(a, b)| ratio(*a, *b))
            .collect();
        r.sort_by(f64::total_cmp);
        r
    }
}

/// The middle of `v` (sorted here).
pub fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// `min/median/max` of sorted ratios.
pub fn spread_text(sorted: &[f64]) -> String {
    match sorted {
        [] => "-".into(),
        _ => format!(
            "{:.2}/{:.2}/{:.2}x",
            sorted[0],
            sorted[sorted.len() / 2],
            sorted[sorted.len() - 1]
        ),
    }
}

/// Measures `a` and `b` alternately ([`ROUNDS`] rounds after a warm-up
/// round), each round spending `budget / ROUNDS` on each side.
pub fn alternate<A, B>(
    budget: Duration,
    mut a: impl FnMut() -> A,
    mut b: impl FnMut() -> B,
) -> Spread {
    let share = budget / ROUNDS as u32;
    let mut spread = Spread {
        a: Vec::new(),
        b: Vec::new(),
    };
    for round in 0..=ROUNDS {
        let ta = measure(share, &mut a);
        let tb = measure(share, &mut b);
        if round > 0 {
            spread.a.push(ta);
            spread.b.push(tb);
        }
    }
    spread
}

/// Results kept for `--json FILE`.
static RESULTS: std::sync::Mutex<Vec<serde_json::Value>> = std::sync::Mutex::new(Vec::new());

/// Records a ratio's spread (sorted) for `--json`.
pub fn record(section: &str, what: &str, sorted: &[f64], target: Option<&str>) {
    let value = serde_json::json!({
        "section": section,
        "what": what,
        "min": sorted.first(),
        "median": sorted.get(sorted.len() / 2),
        "max": sorted.last(),
        "rounds": sorted.len(),
        "target": target,
    });
    RESULTS.lock().expect("no panic holding it").push(value);
}

/// Entry point for `cargo xtask bench`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    crate::plugins()?;
    let mut args = args.to_vec();
    let json = match args.iter().position(|a| a == "--json") {
        Some(i) if i + 1 < args.len() => {
            let file = args.remove(i + 1);
            args.remove(i);
            Some(std::path::PathBuf::from(file))
        }
        Some(_) => anyhow::bail!("--json needs a FILE"),
        None => None,
    };
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
    if wants("copy") {
        crate::bench_copy::memory_copy()?;
    }
    if let Some(file) = json {
        let results = RESULTS.lock().expect("no panic holding it").clone();
        let doc = serde_json::json!({
            "profile": if cfg!(debug_assertions) { "dev" } else { "release-like" },
            "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "results": results,
        });
        fs_err::write(&file, serde_json::to_string_pretty(&doc)? + "\n")?;
        eprintln!("xtask: results written to {}", file.display());
    }

    Ok(())
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    fs_err::read(path)
        .with_context(|| format!("run `cargo xtask plugins` first ({})", path.display()))
}

/// `pipectl check`'s engine against `wit_component::targets` (encode the
/// world, wrap, validate) on the same components and worlds, both on one
/// thread; then `--no-validate-bodies`, and several files at once. Target:
/// ratio <= 1.0.
fn check() -> anyhow::Result<()> {
    println!("\n## check: pipectl check engine vs wit_component::targets (one thread each)");
    let root = root();
    let wit = pipectl_wit::WitSet::load(&root.join("wit/text-transform/0.2.0"))?;
    let policy = pipectl_wit::ImportPolicy::deny_all();
    let inputs = vec![
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
        ("composed pipeline", composed_pipeline()?.0, "plugin"),
    ];
    println!(
        "{:<20} {:>8} {:>14} {:>14} {:>22} {:>22}",
        "component", "bytes", "pipectl", "targets", "ratio min/median/max", "types only / targets"
    );
    let mut worst: f64 = 0.0;
    for (name, path, world_name) in &inputs {
        let bytes = read(path)?;
        let world = wit.find_world(world_name)?;
        let worlds = [world];
        let target = pipectl_wit::Target::new(&wit.resolve, &worlds, &policy).threads(1);
        let types_only =
            pipectl_wit::Target::new(&wit.resolve, &worlds, &policy).validate_bodies(false);
        // Both must agree that the component targets the world.
        let component = pipectl_wit::ComponentBytes::from_bytes(path, bytes.clone())?;
        let report = target.check_bytes(&component)?;
        anyhow::ensure!(
            report.ok,
            "{name}: pipectl check fails: {:?}",
            report.findings
        );
        wit_component::targets(&wit.resolve, world, &bytes)
            .with_context(|| format!("{name}: targets fails"))?;

        // Both sides get the component in memory: `targets` as bytes, the
        // check as the `ComponentBytes` it reads files into.
        let checks =
            |target: &pipectl_wit::Target<'_>| target.check_bytes(&component).expect("checks");
        let targets = || wit_component::targets(&wit.resolve, world, &bytes).expect("targets");
        let spread = alternate(Duration::from_millis(2100), || checks(&target), targets);
        let ratios = spread.ratios();
        record(
            "check",
            &format!("pipectl check / targets, {name}, one thread each"),
            &ratios,
            Some("<= 1.0x"),
        );
        let quick = alternate(Duration::from_millis(1400), || checks(&types_only), targets);
        let quick_ratios = quick.ratios();
        record(
            "check",
            &format!("pipectl check --no-validate-bodies / targets, {name}"),
            &quick_ratios,
            None,
        );
        worst = worst.max(ratios[ratios.len() / 2]);
        println!(
            "{name:<20} {:>8} {:>14} {:>14} {:>22} {:>22}",
            bytes.len(),
            fmt(spread.a()),
            fmt(spread.b()),
            spread_text(&ratios),
            spread_text(&quick_ratios)
        );
    }
    println!("worst median ratio pipectl/targets: {worst:.2}x (target <= 1.0)");
    check_files(&inputs)
}

/// `pipectl check` of the plugins and the composition, 8 files in one
/// process, on two workers against one (`-j 2` / `-j 1`), whole process.
fn check_files(inputs: &[(&str, std::path::PathBuf, &str)]) -> anyhow::Result<()> {
    let bin = crate::demo::build_pipectl()?;
    let wit = root().join("wit/text-transform/0.2.0");
    let files: Vec<&std::path::PathBuf> = inputs
        .iter()
        .filter(|(_, _, world)| *world == "plugin")
        .map(|(_, path, _)| path)
        .cycle()
        .take(8)
        .collect();
    let run = |jobs: &str| -> Duration {
        let start = Instant::now();
        let status = std::process::Command::new(&bin)
            .arg("check")
            .args(&files)
            .args(["--world", "plugin", "-j", jobs, "--wit"])
            .arg(&wit)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("pipectl check runs");
        assert!(status.success(), "pipectl check -j {jobs} fails");
        start.elapsed()
    };
    let spread = alternate(Duration::from_secs(3), || run("1"), || run("2"));
    let ratios = spread.ratios();
    record(
        "check",
        "pipectl check of 8 files, -j 1 time / -j 2 time (speed-up)",
        &ratios,
        None,
    );
    println!(
        "pipectl check of {} files, whole process: -j 1 {} vs -j 2 {}: speed-up {}",
        files.len(),
        fmt(spread.a()),
        fmt(spread.b()),
        spread_text(&ratios)
    );
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

    println!(
        "\n## registry: publish and fetch on a loopback CNCF distribution, against a plain HTTP client making the fewest requests ({ROUNDS} alternating rounds)"
    );
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!(
        "{:<6} {:>10} {:>10} {:>22} {:>9} {:>10} {:>10} {:>22} {:>9} {:>10}",
        "size",
        "publish",
        "plain",
        "publish/plain speed",
        "requests",
        "fetch",
        "plain",
        "fetch/plain speed",
        "requests",
        "warm: first / sealed"
    );
    for (label, mb) in [("1 MB", 1usize), ("20 MB", 20)] {
        let base = sized_component(mb << 20)?;
        let size_mb = base.len() as f64 / (1 << 20) as f64;
        let publish_ctx = ctx("publish-cache")?;
        let (mut publish, mut plain_publish, mut fetch, mut plain_fetch) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut publish_requests, mut fetch_requests, mut warm_requests) = (0, 0, 0);
        let (mut warm_time, mut sealed_time) = (Duration::ZERO, Duration::ZERO);
        for round in 0..=ROUNDS {
            // New bytes each round: nothing is already there.
            let mut bytes = base.clone();
            let last = bytes.len() - 1;
            bytes[last] = round as u8;
            let reference = format!("{}/bench/c{mb}:1.0.{round}", server.addr);
            let before = server.total_requests();
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
            let took = start.elapsed();
            publish_requests = server.total_requests() - before;
            let mut other = bytes.clone();
            other[last] = 0x80 | round as u8;
            let start = Instant::now();
            rt.block_on(async {
                let mut plain = crate::bench_wire::Plain::connect(&server.addr).await?;
                plain
                    .publish(&format!("plain/c{mb}"), &format!("1.0.{round}"), &other)
                    .await
            })?;
            let plain_took = start.elapsed();

            let fetch_ctx = ctx(&format!("fetch-cache-{mb}-{round}"))?;
            let mut lock = Lockfile::load(&scratch.path().join(format!("lock-{mb}-{round}")))?;
            let before = server.total_requests();
            let start = Instant::now();
            let fetched =
                pipectl_registry::fetch(&fetch_ctx, &reference, &lock, FetchOptions::default())?;
            let fetch_took = start.elapsed();
            fetch_requests = server.total_requests() - before;
            anyhow::ensure!(fetched.read()? == bytes, "fetched bytes differ");
            let start = Instant::now();
            let got = rt.block_on(async {
                let mut plain = crate::bench_wire::Plain::connect(&server.addr).await?;
                plain
                    .fetch(&format!("plain/c{mb}"), &format!("1.0.{round}"))
                    .await
            })?;
            let plain_fetch_took = start.elapsed();
            anyhow::ensure!(got[..] == other[..], "the plain fetch differs");

            lock.upsert(fetched.entry);
            let before = server.total_requests();
            let start = Instant::now();
            let warm =
                pipectl_registry::fetch(&fetch_ctx, &reference, &lock, FetchOptions::default())?;
            warm_time = start.elapsed();
            anyhow::ensure!(warm.from_cache && warm.read()? == bytes);
            // The first warm fetch hashed the blob and sealed it; a later
            // one (a clock tick on) trusts the seal after a `stat`.
            std::thread::sleep(Duration::from_millis(20));
            let start = Instant::now();
            let sealed =
                pipectl_registry::fetch(&fetch_ctx, &reference, &lock, FetchOptions::default())?;
            sealed_time = start.elapsed();
            anyhow::ensure!(sealed.from_cache && sealed.read()? == bytes);
            warm_requests = server.total_requests() - before;
            if round > 0 {
                publish.push(took);
                plain_publish.push(plain_took);
                fetch.push(fetch_took);
                plain_fetch.push(plain_fetch_took);
            }
        }
        let speed = |ours: &[Duration], theirs: &[Duration]| {
            let mut r: Vec<f64> = ours
                .iter()
                .zip(theirs)
                .map(|(o, t)| ratio(*t, *o))
                .collect();
            r.sort_by(f64::total_cmp);
            r
        };
        let (p, f) = (speed(&publish, &plain_publish), speed(&fetch, &plain_fetch));
        record(
            "registry",
            &format!("publish/plain speed, {label}"),
            &p,
            Some(if mb == 1 { ">= 0.5x" } else { ">= 0.7x" }),
        );
        record("registry", &format!("fetch/plain speed, {label}"), &f, None);
        record(
            "registry",
            &format!("requests per publish, {label}"),
            &[publish_requests as f64],
            Some("<= 8"),
        );
        record(
            "registry",
            &format!("requests per cold fetch, {label}"),
            &[fetch_requests as f64],
            Some("<= 4"),
        );
        record(
            "registry",
            &format!("requests per warm fetch with lock, {label}"),
            &[warm_requests as f64],
            Some("0"),
        );
        let rate = |d: Duration| format!("{:.0} MB/s", size_mb / d.as_secs_f64());
        println!(
            "{label:<6} {:>10} {:>10} {:>22} {:>9} {:>10} {:>10} {:>22} {:>9} {:>10}",
            rate(median(&publish)),
            rate(median(&plain_publish)),
            spread_text(&p),
            publish_requests,
            rate(median(&fetch)),
            rate(median(&plain_fetch)),
            spread_text(&f),
            fetch_requests,
            format!(
                "{} / {} ({warm_requests} req)",
                fmt(warm_time),
                fmt(sealed_time)
            ),
        );
    }
    println!(
        "(plain: 5 requests per publish, 2 per fetch, on one connection; warm: the first warm fetch with the lock (hashes and seals the blob) / a later one (trusts the seal); requests: both warm fetches; targets: publish >= 0.5x at 1 MB and >= 0.7x at 20 MB, <= 8 requests per publish, <= 4 per cold fetch, 0 warm)"
    );
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
        // Each stage a distinct component (its own digest, loaded and
        // checked on its own), as in a real pipeline of many stages.
        let mut bytes = bytes.clone();
        use wasm_encoder::ComponentSection as _;
        wasm_encoder::CustomSection {
            name: "pipectl-bench-stage".into(),
            data: i.to_le_bytes().to_vec().into(),
        }
        .append_to_component(&mut bytes);
        stages.push(pipectl_compose::StageInput {
            name: format!("{kind}{i}"),
            bytes,
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

/// The three plugins composed (normalizer, validator, counter), composed
/// here from the plugins just built and written to
/// `target/bench/pipeline.wasm` for the runs that need a file.
fn composed_pipeline() -> anyhow::Result<(std::path::PathBuf, Vec<u8>)> {
    let wit = pipectl_wit::WitSet::load(&root().join("wit/text-transform/0.2.0"))?;
    let bytes = pipectl_compose::compose(pipectl_compose::ComposePlan {
        name: "bench",
        version: &semver::Version::new(0, 1, 0),
        wit: &wit,
        world: "example:text-transform/plugin@0.2.0",
        stages: stage_inputs(3)?,
        adapter: None,
    })?
    .bytes;
    let path = root().join("target/bench/pipeline.wasm");
    fs_err::create_dir_all(root().join("target/bench"))?;
    fs_err::write(&path, &bytes)?;
    Ok((path, bytes))
}

/// A text of about `len` bytes that every stage accepts.
pub fn sample_text(len: usize) -> String {
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
    let host = bench_host()?;
    let pipeline = one_stage(&host, &composed.bytes)?;
    let mut session = pipeline.session();
    println!(
        "{:<8} {:>12} {:>12} {:>22}",
        "input", "composed", "native", "composed/native"
    );
    for (label, len, target) in [
        ("100 B", 100usize, "0.6x"),
        ("10 KB", 10 << 10, "0.75x"),
        ("1 MB", 1 << 20, "0.85x"),
    ] {
        let text = sample_text(len);
        let expected = text_transforms::pipeline(&text).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        anyhow::ensure!(
            session.run(&text).map_err(|e| anyhow::anyhow!("{e}"))? == expected,
            "outputs differ"
        );
        let spread = alternate(
            Duration::from_millis(2100),
            || session.run(&text).expect("runs"),
            || text_transforms::pipeline(&text).expect("runs"),
        );
        let speedups = spread.speedups();
        record(
            "compose",
            &format!("composed/native throughput, {label}"),
            &speedups,
            Some(target),
        );
        println!(
            "{label:<8} {:>12} {:>12} {:>22}   (target >= {target})",
            fmt(spread.a()),
            fmt(spread.b()),
            spread_text(&speedups)
        );
    }
    println!(
        "(composed/native: throughput relative to native, min/median/max of {ROUNDS} alternating rounds)"
    );
    Ok(())
}

/// The host against a naive host; batch throughput on two cores against
/// one; cold start with and without the precompiled cache.
fn host() -> anyhow::Result<()> {
    use std::sync::Arc;
    use wasmtime::component::{Component, Linker};

    println!("\n## run: the host");
    let (_, composed) = composed_pipeline()?;
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
    let inputs: Vec<String> = (0..1000)
        .map(|i| format!("{} {i}", sample_text(10 << 10)))
        .collect();
    let batch = |workers: usize| {
        let r = chained.run_batch(&inputs, workers, true);
        assert!(r.results.iter().all(|r| matches!(r, Some(Ok(_)))));
    };
    let spread = alternate(Duration::from_secs(7), || batch(2), || batch(1));
    let speedups = spread.speedups();
    record(
        "run",
        "batch 2 workers / 1 worker, 10 KB inputs",
        &speedups,
        Some(">= 1.85x"),
    );
    let mb = inputs.iter().map(String::len).sum::<usize>() as f64 / (1 << 20) as f64;
    println!(
        "batch, 1000 x 10 KB: 1 worker {:.0} MB/s, 2 workers {:.0} MB/s: {} on {} cores (target >= 1.85x)",
        mb / spread.b().as_secs_f64(),
        mb / spread.a().as_secs_f64(),
        spread_text(&speedups),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    process_floor(&composed)?;

    // Cold start: a new host loading the composed pipeline, compiled vs
    // from the precompiled cache.
    let cache_dir = tempfile::tempdir()?;
    let cache = pipectl_run::ArtifactCache::new(
        cache_dir.path().join("compiled"),
        pipectl_run::SealKey::load_or_create(&cache_dir.path().join("cache.key"))?,
    );
    // Time to the first result, and where it went: (total, host, load, first run).
    let cold_parts = |cached: bool| -> anyhow::Result<[Duration; 4]> {
        let start = Instant::now();
        let h = pipectl_run::Host::new(&pipectl_run::HostConfig {
            cache: cached.then(|| cache.clone()),
            ..config.clone()
        })?;
        let h = Arc::new(h);
        let made = start.elapsed();
        let p = h.load(
            "composed",
            &composed,
            &Default::default(),
            &pipectl_run::CallSpec::Transform,
        )?;
        let compile = p.compile;
        let pipeline = pipectl_run::Pipeline::new(
            h.clone(),
            vec![(
                Arc::new(p),
                pipectl_run::StagePolicy {
                    limits: Default::default(),
                    max_restarts: 3,
                    stateless: false,
                },
            )],
        );
        let loaded = start.elapsed();
        let first = pipeline
            .session()
            .run(&sample_text(100))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let elapsed = start.elapsed();
        std::hint::black_box(first);
        let expected = if cached {
            pipectl_run::CompileSource::Cache
        } else {
            pipectl_run::CompileSource::Compiled
        };
        anyhow::ensure!(compile == expected, "{compile:?} instead of {expected:?}");
        Ok([elapsed, made, loaded - made, elapsed - loaded])
    };
    let cold = |cached: bool| cold_parts(cached).map(|parts| parts[0]);
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
    // Each start takes about a millisecond: 30 of them after a warm-up.
    let parts: Vec<[Duration; 4]> = (0..=30)
        .map(|_| cold_parts(true))
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .skip(1)
        .collect();
    let warm: Vec<Duration> = parts.iter().map(|p| p[0]).collect();
    let part = |i: usize| fmt(median(&parts.iter().map(|p| p[i]).collect::<Vec<_>>()));
    println!(
        "cold start, precompiled cache, medians: host {} + load {} + first 100 B result {}",
        part(1),
        part(2),
        part(3)
    );
    let from_cache = median(&warm);
    let mut ms: Vec<f64> = warm.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    record(
        "run",
        "cold start to first result, precompiled cache (ms)",
        &ms,
        Some("<= 1 ms"),
    );
    println!(
        "cold start (new engine, load the composed pipeline, first 100 B result): compiled {} vs precompiled cache {} (min/median/max {:.2}/{:.2}/{:.2} ms; target <= 1 ms): {:.0}x faster",
        fmt(compiled),
        fmt(from_cache),
        ms[0],
        ms[ms.len() / 2],
        ms[ms.len() - 1],
        ratio(compiled, from_cache)
    );
    Ok(())
}

/// `pipectl run` of 100 B through the composed pipeline (warm precompiled
/// cache), whole process, against `pipectl --version`, the process floor;
/// alternated. Target: <= 2x.
fn process_floor(composed: &[u8]) -> anyhow::Result<()> {
    let bin = crate::demo::build_pipectl()?;
    let home = tempfile::tempdir()?;
    let file = home.path().join("pipeline.wasm");
    fs_err::write(&file, composed)?;
    let text = sample_text(100);
    let run = |args: &[&std::ffi::OsStr]| -> Duration {
        use std::io::Write as _;
        let start = Instant::now();
        let mut child = std::process::Command::new(&bin)
            .args(args)
            .env("HOME", home.path())
            .env("PIPECTL_CACHE_DIR", home.path().join("cache"))
            .env("PIPECTL_CONFIG_DIR", home.path().join("config"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("pipectl starts");
        let _ = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes());
        let status = child.wait().expect("pipectl ends");
        assert!(status.success());
        start.elapsed()
    };
    let target = [std::ffi::OsStr::new("run"), file.as_os_str()];
    run(&target); // fills the precompiled cache
    let version = [std::ffi::OsStr::new("--version")];
    let spread = alternate(Duration::from_secs(4), || run(&target), || run(&version));
    let ratios = spread.ratios();
    record(
        "run",
        "pipectl run 100 B (warm cache) / pipectl --version, whole process",
        &ratios,
        Some("<= 2x"),
    );
    println!(
        "whole process: pipectl run of 100 B {} vs pipectl --version {}: {} (target <= 2x)",
        fmt(spread.a()),
        fmt(spread.b()),
        spread_text(&ratios)
    );
    Ok(())
}

/// A host for throughput runs: no cache, no fuel, a small pool.
pub fn bench_host() -> anyhow::Result<std::sync::Arc<pipectl_run::Host>> {
    Ok(std::sync::Arc::new(pipectl_run::Host::new(
        &pipectl_run::HostConfig {
            cache: None,
            fuel: false,
            pooling: Some(8),
            max_memory: None,
        },
    )?))
}

/// A pipeline of one stage: the component `bytes`, loaded on `host`.
pub fn one_stage(
    host: &std::sync::Arc<pipectl_run::Host>,
    bytes: &[u8],
) -> anyhow::Result<pipectl_run::Pipeline> {
    let plugin = host.load(
        "composed",
        bytes,
        &Default::default(),
        &pipectl_run::CallSpec::Transform,
    )?;
    Ok(pipectl_run::Pipeline::new(
        host.clone(),
        vec![(
            std::sync::Arc::new(plugin),
            pipectl_run::StagePolicy {
                limits: Default::default(),
                max_restarts: 3,
                stateless: false,
            },
        )],
    ))
}

/// wasmtime's error as anyhow's.
fn wt(e: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{e:#}")
}
