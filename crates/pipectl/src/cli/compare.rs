//! `pipectl compare`'s work: both sides loaded as `pipectl run` would load
//! them, every input run through both (interleaved, alternating which goes
//! first, so machine noise hits both alike), and the promotion gate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use pipectl_run::{FailureKind, Host, Pipeline, RunPlan, StageFailure};
use serde::Serialize;

use crate::cli::opts::{CompareArgs, RunArgs};
use crate::cli::run_request::{Input, plan_request, read_inputs};

/// `pipectl run`'s arguments for one side: its target, the grants and
/// limits given, and the inputs.
fn run_args(args: &CompareArgs, target: &std::path::Path) -> anyhow::Result<RunArgs> {
    let mut extra: Vec<String> = Vec::new();
    if args.inputs.is_dir() {
        extra.extend(["--input-dir".into(), args.inputs.display().to_string()]);
    } else {
        extra.extend(["--input".into(), args.inputs.display().to_string()]);
    }
    if args.lines {
        extra.push("--lines".into());
    }
    crate::cli::run_request::derived(target, &args.grant, &[], &[], &args.limits, &extra)
}

/// One side, loaded.
pub struct Side {
    pipeline: Pipeline,
}

/// Loads a side as `pipectl run TARGET` would (manifest grants, limits).
fn load(args: &CompareArgs, target: &std::path::Path, inputs: usize) -> anyhow::Result<Side> {
    let run = run_args(args, target)?;
    let (request, _) = plan_request(&run, inputs)?;
    let (plan, _) = RunPlan::new(request)?;
    let host = Arc::new(Host::new(&plan.host_config(None))?);
    let pipeline = plan
        .load(&host)
        .map_err(|e| anyhow::anyhow!("`{}`: {e}", target.display()))?;
    Ok(Side { pipeline })
}

/// What one side did over every input.
#[derive(Debug, Default, Serialize)]
pub struct SideStats {
    /// Traps.
    pub traps: usize,
    /// Limit hits (time, fuel, memory, output).
    pub limit_hits: usize,
    /// Typed errors returned.
    pub rejected: usize,
    /// Latency percentiles, microseconds.
    pub p50_us: u64,
    /// 95th percentile.
    pub p95_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    #[serde(skip)]
    latencies: Vec<u64>,
}

/// One input whose result changed.
#[derive(Debug, Serialize)]
pub struct Diff {
    /// The input's label.
    pub input: String,
    /// `output`, `ok_to_err`, `err_to_ok` or `err_case`.
    pub change: &'static str,
    /// The baseline's result (output, or the failure).
    pub baseline: String,
    /// The candidate's.
    pub candidate: String,
}

/// One threshold of the gate.
#[derive(Debug, Serialize)]
pub struct Check {
    /// `changed_outputs_pct`, `p95_ratio` or `candidate_trap_rate`.
    pub check: &'static str,
    /// The measured value.
    pub value: f64,
    /// The threshold.
    pub limit: f64,
    /// Whether it passed.
    pub passed: bool,
}

/// The comparison.
#[derive(Debug, Serialize)]
pub struct Comparison {
    /// Inputs run through both.
    pub inputs: usize,
    /// Inputs with the same result on both sides.
    pub identical: usize,
    /// Inputs whose result changed.
    pub changed: usize,
    /// The first changes (at most `--show`).
    pub diffs: Vec<Diff>,
    /// The baseline's statistics.
    pub baseline: SideStats,
    /// The candidate's.
    pub candidate: SideStats,
    /// Candidate p95 over baseline p95.
    pub p95_ratio: f64,
    /// The gate's checks.
    pub gate: Vec<Check>,
}

fn describe(r: &Result<String, StageFailure>) -> String {
    match r {
        Ok(out) => pipectl_io::text::clean(out, 200),
        Err(f) => pipectl_io::text::clean(&f.to_string(), 200),
    }
}

fn record(stats: &mut SideStats, r: &Result<String, StageFailure>, took: Duration) {
    stats.latencies.push(took.as_micros() as u64);
    if let Err(f) = r {
        match &f.kind {
            FailureKind::Trap { .. } | FailureKind::Instantiate { .. } => stats.traps += 1,
            FailureKind::Limit { .. } => stats.limit_hits += 1,
            FailureKind::Rejected { .. } => stats.rejected += 1,
            FailureKind::StageFailed { .. } => stats.traps += 1,
        }
    }
}

fn percentiles(stats: &mut SideStats) {
    let mut l = stats.latencies.clone();
    l.sort_unstable();
    let at = |p: f64| -> u64 {
        if l.is_empty() {
            return 0;
        }
        l[((l.len() - 1) as f64 * p).round() as usize]
    };
    (stats.p50_us, stats.p95_us, stats.p99_us) = (at(0.50), at(0.95), at(0.99));
}

/// Which change turns `b` into `c`, if any.
fn change(
    b: &Result<String, StageFailure>,
    c: &Result<String, StageFailure>,
) -> Option<&'static str> {
    match (b, c) {
        (Ok(x), Ok(y)) => (x != y).then_some("output"),
        (Ok(_), Err(_)) => Some("ok_to_err"),
        (Err(_), Ok(_)) => Some("err_to_ok"),
        (Err(x), Err(y)) => {
            let case = |f: &StageFailure| match &f.kind {
                FailureKind::Rejected { case, .. } => format!("rejected:{case}"),
                FailureKind::Limit { limit, .. } => format!("limit:{}", limit.as_str()),
                FailureKind::Trap { .. } | FailureKind::Instantiate { .. } => "trap".into(),
                FailureKind::StageFailed { .. } => "stage_failed".into(),
            };
            (case(x) != case(y)).then_some("err_case")
        }
    }
}

/// A side as `pipectl run` takes it: a file or manifest as it is; a
/// registry reference fetched (verified, under the working folder's trust
/// policy) into `scratch`.
fn side(
    args: &CompareArgs,
    spec: &str,
    scratch: &std::path::Path,
) -> anyhow::Result<std::path::PathBuf> {
    let path = std::path::Path::new(spec);
    if std::fs::symlink_metadata(path).is_ok() || crate::cli::hooks::looks_like_path(spec) {
        return Ok(path.to_path_buf());
    }
    let (name, bytes) = crate::cli::registry::component(spec, &args.registry, 1 << 30)?;
    let file = scratch.join(format!(
        "{name}-{}.wasm",
        pipectl_io::Digest::sha256(&bytes).hex()
    ));
    std::fs::write(&file, bytes).with_context(|| format!("failed to write {}", file.display()))?;
    Ok(file)
}

/// Runs the comparison and judges it.
pub fn compare(args: &CompareArgs) -> anyhow::Result<Comparison> {
    let scratch = tempfile::tempdir().context("failed to make a scratch folder")?;
    let baseline_file = side(args, &args.baseline, scratch.path())?;
    let candidate_file = side(args, &args.candidate, scratch.path())?;
    let inputs: Vec<Input> = read_inputs(&run_args(args, &baseline_file)?)?;
    anyhow::ensure!(
        !inputs.is_empty(),
        "`{}` holds no inputs",
        args.inputs.display()
    );
    let baseline = load(args, &baseline_file, inputs.len())?;
    let candidate = load(args, &candidate_file, inputs.len())?;
    let (mut b, mut c) = (baseline.pipeline.session(), candidate.pipeline.session());
    // Warm both up: the first call of a fresh instance is not a sample.
    let _ = (b.run(&inputs[0].text), c.run(&inputs[0].text));
    let (mut bs, mut cs) = (SideStats::default(), SideStats::default());
    let mut diffs = Vec::new();
    let mut changed = 0;
    for (i, input) in inputs.iter().enumerate() {
        let timed = |s: &mut pipectl_run::Session<'_>| {
            let start = Instant::now();
            let r = s.run(&input.text);
            (r, start.elapsed())
        };
        let ((rb, tb), (rc, tc)) = if i % 2 == 0 {
            let rb = timed(&mut b);
            (rb, timed(&mut c))
        } else {
            let rc = timed(&mut c);
            (timed(&mut b), rc)
        };
        record(&mut bs, &rb, tb);
        record(&mut cs, &rc, tc);
        if let Some(kind) = change(&rb, &rc) {
            changed += 1;
            if diffs.len() < args.show {
                diffs.push(Diff {
                    input: input.label.clone(),
                    change: kind,
                    baseline: describe(&rb),
                    candidate: describe(&rc),
                });
            }
        }
    }
    percentiles(&mut bs);
    percentiles(&mut cs);
    let n = inputs.len() as f64;
    let p95_ratio = cs.p95_us.max(1) as f64 / bs.p95_us.max(1) as f64;
    let slack = args.p95_slack.as_micros() as u64;
    let changed_pct = changed as f64 * 100.0 / n;
    let trap_rate = (cs.traps + cs.limit_hits) as f64 / n;
    let gate = vec![
        Check {
            check: "changed_outputs_pct",
            value: changed_pct,
            limit: args.max_diff,
            passed: changed_pct <= args.max_diff,
        },
        Check {
            check: "p95_ratio",
            value: p95_ratio,
            limit: args.max_p95_ratio,
            // Microsecond jitter is not a regression: the ratio counts only
            // when the candidate is also slower by more than the slack.
            passed: p95_ratio <= args.max_p95_ratio || cs.p95_us <= bs.p95_us + slack,
        },
        Check {
            check: "candidate_trap_rate",
            value: trap_rate,
            limit: args.max_trap_rate,
            passed: trap_rate <= args.max_trap_rate,
        },
    ];
    Ok(Comparison {
        inputs: inputs.len(),
        identical: inputs.len() - changed,
        changed,
        diffs,
        baseline: bs,
        candidate: cs,
        p95_ratio,
        gate,
    })
}

/// The comparison as text for people, or as Markdown for a pull request.
pub fn render(c: &Comparison, markdown: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let ok = c.gate.iter().all(|g| g.passed);
    let verdict = if ok { "promote" } else { "do not promote" };
    if markdown {
        let _ = writeln!(out, "### pipectl compare: {verdict}\n");
        let _ = writeln!(out, "| check | value | limit | |\n|---|---|---|---|");
        for g in &c.gate {
            let mark = if g.passed { "✅" } else { "❌" };
            let _ = writeln!(
                out,
                "| {} | {:.3} | {:.3} | {mark} |",
                g.check, g.value, g.limit
            );
        }
        let _ = writeln!(out);
    } else {
        let _ = writeln!(
            out,
            "{verdict}: {} inputs, {} identical, {} changed",
            c.inputs, c.identical, c.changed
        );
        for g in &c.gate {
            let mark = if g.passed { "ok  " } else { "FAIL" };
            let _ = writeln!(
                out,
                "  {mark} {:<20} {:.3} (limit {:.3})",
                g.check, g.value, g.limit
            );
        }
    }
    for (name, s) in [("baseline", &c.baseline), ("candidate", &c.candidate)] {
        let _ = writeln!(
            out,
            "{}{name}: p50 {} µs, p95 {} µs, p99 {} µs; traps {}, limit hits {}, rejected {}",
            if markdown { "- " } else { "  " },
            s.p50_us,
            s.p95_us,
            s.p99_us,
            s.traps,
            s.limit_hits,
            s.rejected
        );
    }
    for d in &c.diffs {
        let _ = writeln!(
            out,
            "{}{} ({}): baseline `{}`, candidate `{}`",
            if markdown { "- " } else { "  changed " },
            d.input,
            d.change,
            d.baseline.replace('\n', "\\n"),
            d.candidate.replace('\n', "\\n")
        );
    }
    out
}
