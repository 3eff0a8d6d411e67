//! Telemetry: per-stage invocation counts, latency percentiles, trap rate,
//! limit hits.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::stage::LimitKind;

/// One stage's measurements (one worker's, or merged).
#[derive(Debug, Clone, Default)]
pub struct StageStats {
    /// The stage's name: the manifest's, or the component's file stem.
    pub name: String,
    /// Calls made (including ones refused because the stage was stopped).
    pub invocations: u64,
    /// Calls that returned `ok`.
    pub ok: u64,
    /// Calls that returned the typed error.
    pub rejected: u64,
    /// Traps (and failed instantiations).
    pub traps: u64,
    /// Limit hits by kind.
    pub limit_hits: BTreeMap<LimitKind, u64>,
    /// Fresh instances made after a failure.
    pub restarts: u64,
    /// Calls refused because the stage had been stopped.
    pub skipped: u64,
    /// Each call's latency, in microseconds.
    pub latencies_us: Vec<u64>,
}

impl StageStats {
    /// Empty stats for stage `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            ..Self::default()
        }
    }

    /// Adds another worker's measurements of the same stage.
    pub fn merge(&mut self, other: &StageStats) {
        self.invocations += other.invocations;
        self.ok += other.ok;
        self.rejected += other.rejected;
        self.traps += other.traps;
        self.restarts += other.restarts;
        self.skipped += other.skipped;
        for (k, v) in &other.limit_hits {
            *self.limit_hits.entry(*k).or_default() += v;
        }
        self.latencies_us.extend_from_slice(&other.latencies_us);
    }

    /// The summary reported by `--stats`.
    pub fn summary(&self) -> StageSummary {
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        let pct = |p: f64| -> u64 {
            if sorted.is_empty() {
                return 0;
            }
            let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted[rank.clamp(1, sorted.len()) - 1]
        };
        let calls = self.invocations.max(1) as f64;
        StageSummary {
            stage: self.name.clone(),
            invocations: self.invocations,
            succeeded: self.ok,
            rejected: self.rejected,
            traps: self.traps,
            trap_rate: self.traps as f64 / calls,
            limit_hits: self
                .limit_hits
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), *v))
                .collect(),
            restarts: self.restarts,
            skipped: self.skipped,
            p50_us: pct(50.0),
            p95_us: pct(95.0),
        }
    }
}

/// A stage's row in the `--stats` table and JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct StageSummary {
    /// The stage's name, the table's first column.
    pub stage: String,
    /// Calls made, including ones refused because the stage was stopped.
    pub invocations: u64,
    /// Calls that returned `ok`.
    pub succeeded: u64,
    /// Calls that returned the typed error (`rejected` in the table).
    pub rejected: u64,
    /// Traps, counting failed instantiations.
    pub traps: u64,
    /// Traps divided by calls, from 0 to 1.
    pub trap_rate: f64,
    /// Limit hits by kind.
    pub limit_hits: BTreeMap<String, u64>,
    /// Fresh instances after failures.
    pub restarts: u64,
    /// Calls refused after the stage was stopped.
    pub skipped: u64,
    /// Median latency per call, in microseconds.
    pub p50_us: u64,
    /// 95th percentile latency, microseconds.
    pub p95_us: u64,
}

/// Prints summaries as a table.
pub fn table(rows: &[StageSummary]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:>11} {:>9} {:>8} {:>6} {:>9} {:>8} {:>9} {:>9}",
        "stage",
        "invocations",
        "succeeded",
        "rejected",
        "traps",
        "trap rate",
        "limits",
        "p50 µs",
        "p95 µs"
    );
    for r in rows {
        let limits: u64 = r.limit_hits.values().sum();
        let _ = writeln!(
            out,
            "{:<16} {:>11} {:>9} {:>8} {:>6} {:>8.2}% {:>8} {:>9} {:>9}",
            r.stage,
            r.invocations,
            r.succeeded,
            r.rejected,
            r.traps,
            r.trap_rate * 100.0,
            limits,
            r.p50_us,
            r.p95_us
        );
        if !r.limit_hits.is_empty() {
            let detail: Vec<String> = r
                .limit_hits
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            let _ = writeln!(out, "{:<16} limits hit: {}", "", detail.join(", "));
        }
    }
    out
}

/// The process's peak resident set size in bytes (Linux `VmHWM`), if known.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_merge() {
        let mut a = StageStats::new("s");
        a.invocations = 10;
        a.traps = 1;
        a.latencies_us = (1..=10).collect();
        let mut b = StageStats::new("s");
        b.invocations = 10;
        b.latencies_us = (11..=20).collect();
        b.limit_hits.insert(LimitKind::Timeout, 2);
        a.merge(&b);
        let s = a.summary();
        assert_eq!((s.invocations, s.p50_us, s.p95_us), (20, 10, 19));
        assert_eq!(s.limit_hits["timeout"], 2);
        assert!((s.trap_rate - 0.05).abs() < 1e-9);
        assert!(table(&[s]).contains("timeout: 2"));
    }
}
