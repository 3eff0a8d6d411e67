//! What `/metrics` reports, in the Prometheus text format: requests by
//! status, per stage invocations, rejections by error case, traps and limit
//! hits, a latency histogram, the queue, and the reloads.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use pipectl_run::{FailureKind, StageFailure};

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A latency histogram over fixed buckets (0.5 ms to 2.5 s).
#[derive(Debug, Default, Clone)]
pub struct Histogram {
    /// Observations per bucket (cumulative when shown).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    /// Records one observation of `secs` seconds.
    pub fn observe(&mut self, secs: f64) {
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += secs;
    }

    /// The histogram's sample lines for metric `name` with `labels`
    /// (`stage="x",` or empty).
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (b, n) in BUCKETS.iter().zip(self.buckets) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{b}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {}", self.count);
        let labels = labels.trim_end_matches(',');
        let braces = |l: &str| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{{{l}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {}", braces(labels), self.sum);
        let _ = writeln!(out, "{name}_count{} {}", braces(labels), self.count);
    }
}

/// One stage's counters.
#[derive(Debug, Default, Clone)]
pub struct StageCounters {
    /// Inputs that reached the stage.
    pub invocations: u64,
    /// Typed errors, by error case.
    pub rejected: BTreeMap<String, u64>,
    /// Traps (and instances that could not be made, and stages given up).
    pub traps: u64,
    /// Limit hits, by limit.
    pub limit_hits: BTreeMap<String, u64>,
    /// The stage's call latencies (when the stages run one by one: a
    /// composed component's stages run in one call).
    pub latency: Histogram,
}

/// Everything `/metrics` shows.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Responses by HTTP status.
    pub responses: BTreeMap<u16, u64>,
    /// Per stage, in pipeline order (the current generation's stages).
    pub stages: Vec<(String, StageCounters)>,
    /// Latency of requests that ran.
    latency: Histogram,
    /// The generation serving.
    pub generation: u64,
    /// Reloads that succeeded.
    pub reloads: u64,
    /// Reloads refused (the old generation kept serving).
    pub reload_failures: u64,
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    fn stage(&mut self, name: &str) -> &mut StageCounters {
        if let Some(i) = self.stages.iter().position(|(n, _)| n == name) {
            return &mut self.stages[i].1;
        }
        self.stages
            .push((name.to_string(), StageCounters::default()));
        &mut self.stages.last_mut().expect("just pushed").1
    }

    /// A generation took over: its stages, in order.
    pub fn start_generation(&mut self, id: u64, stages: &[String]) {
        self.generation = id;
        for s in stages {
            self.stage(s);
        }
    }

    /// One call of stage `name` took `micros` microseconds. A call that is
    /// no stage's (a composed component runs its stages in one call) is
    /// left out: its time is the request's.
    pub fn stage_call(&mut self, name: &str, micros: u64) {
        if let Some((_, c)) = self.stages.iter_mut().find(|(n, _)| n == name) {
            c.latency.observe(micros as f64 / 1e6);
        }
    }

    /// One input ran through `stages` (in order) and ended with `failure`,
    /// if any, after `took`.
    pub fn ran(&mut self, stages: &[String], failure: Option<&StageFailure>, took: Duration) {
        let reached = match failure {
            Some(f) => stages
                .iter()
                .position(|s| *s == f.stage)
                .map_or(stages.len(), |i| i + 1),
            None => stages.len(),
        };
        for s in &stages[..reached] {
            self.stage(s).invocations += 1;
        }
        if let Some(f) = failure {
            let stage = self.stage(&f.stage);
            match &f.kind {
                FailureKind::Rejected { case, .. } => {
                    *stage.rejected.entry(case.clone()).or_default() += 1
                }
                FailureKind::Limit { limit, .. } => {
                    *stage
                        .limit_hits
                        .entry(limit.as_str().to_string())
                        .or_default() += 1
                }
                _ => stage.traps += 1,
            }
        }
        self.latency.observe(took.as_secs_f64());
    }

    /// The Prometheus text format; `queued` and `in_flight` as they are now.
    /// Each family's samples are one group, after its `HELP` and `TYPE`.
    pub fn render(&self, queued: usize, in_flight: usize) -> String {
        let mut out = String::new();
        let family = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        family(
            &mut out,
            "pipectl_responses_total",
            "counter",
            "HTTP responses by status.",
        );
        for (status, n) in &self.responses {
            let _ = writeln!(out, "pipectl_responses_total{{status=\"{status}\"}} {n}");
        }
        family(
            &mut out,
            "pipectl_stage_invocations_total",
            "counter",
            "Inputs that reached a stage.",
        );
        for (name, c) in &self.stages {
            let _ = writeln!(
                out,
                "pipectl_stage_invocations_total{{stage=\"{}\"}} {}",
                esc(name),
                c.invocations
            );
        }
        family(
            &mut out,
            "pipectl_stage_traps_total",
            "counter",
            "Traps of a stage (and instances that could not be made).",
        );
        for (name, c) in &self.stages {
            let _ = writeln!(
                out,
                "pipectl_stage_traps_total{{stage=\"{}\"}} {}",
                esc(name),
                c.traps
            );
        }
        family(
            &mut out,
            "pipectl_stage_rejected_total",
            "counter",
            "Typed errors a stage returned, by error case.",
        );
        for (name, c) in &self.stages {
            for (case, n) in &c.rejected {
                let _ = writeln!(
                    out,
                    "pipectl_stage_rejected_total{{stage=\"{}\",case=\"{}\"}} {n}",
                    esc(name),
                    esc(case)
                );
            }
        }
        family(
            &mut out,
            "pipectl_stage_limit_hits_total",
            "counter",
            "Limits a stage hit, by limit.",
        );
        for (name, c) in &self.stages {
            for (limit, n) in &c.limit_hits {
                let _ = writeln!(
                    out,
                    "pipectl_stage_limit_hits_total{{stage=\"{}\",limit=\"{}\"}} {n}",
                    esc(name),
                    esc(limit)
                );
            }
        }
        family(
            &mut out,
            "pipectl_stage_duration_seconds",
            "histogram",
            "Time one call of a stage took.",
        );
        for (name, c) in &self.stages {
            if c.latency.count > 0 {
                c.latency.render(
                    &mut out,
                    "pipectl_stage_duration_seconds",
                    &format!("stage=\"{}\",", esc(name)),
                );
            }
        }
        family(
            &mut out,
            "pipectl_request_duration_seconds",
            "histogram",
            "Time an input took through the pipeline.",
        );
        self.latency
            .render(&mut out, "pipectl_request_duration_seconds", "");
        let mut text = out;
        for (name, kind, help, value) in [
            (
                "pipectl_queue_depth",
                "gauge",
                "Requests waiting for a worker.",
                queued as f64,
            ),
            (
                "pipectl_in_flight",
                "gauge",
                "Requests being run.",
                in_flight as f64,
            ),
            (
                "pipectl_generation",
                "gauge",
                "The generation serving (1, then one more per reload).",
                self.generation as f64,
            ),
            (
                "pipectl_reloads_total",
                "counter",
                "Reloads that took over.",
                self.reloads as f64,
            ),
            (
                "reload_failures_total",
                "counter",
                "Reloads refused; the previous generation kept serving.",
                self.reload_failures as f64,
            ),
        ] {
            let _ = writeln!(
                text,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        text
    }
}
