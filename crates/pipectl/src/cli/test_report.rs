//! `pipectl test`'s reports: human (✓/✗ with expected vs found), JSON and
//! JUnit XML.

use std::fmt::Write as _;

use pipectl_run::CaseOutcome;
use serde::Serialize;

/// The cases of one file run against one component.
#[derive(Debug)]
pub struct SuiteReport {
    /// The component, as given.
    pub component: String,
    /// Where it ran: `wasmtime` (pipectl's host) or `node` (jco).
    pub runtime: &'static str,
    /// The case file, as given.
    pub file: String,
    /// One outcome per selected case, in file order.
    pub cases: Vec<CaseOutcome>,
}

impl SuiteReport {
    fn failures(&self) -> usize {
        self.cases.iter().filter(|c| !c.passed).count()
    }

    fn seconds(&self) -> f64 {
        self.cases.iter().map(|c| c.duration.as_secs_f64()).sum()
    }
}

/// Whether any case failed.
pub fn any_failed(suites: &[SuiteReport]) -> bool {
    suites.iter().any(|s| s.failures() > 0)
}

/// The human report.
pub fn human(suites: &[SuiteReport]) -> String {
    let mut out = String::new();
    let (mut passed, mut failed) = (0, 0);
    for s in suites {
        let _ = match s.runtime {
            "wasmtime" => writeln!(out, "{} · {}", s.component, s.file),
            runtime => writeln!(out, "{} · {} · {runtime}", s.component, s.file),
        };
        for c in &s.cases {
            if c.passed {
                passed += 1;
                let _ = writeln!(out, "  ✓ {}", c.name);
                continue;
            }
            failed += 1;
            let _ = writeln!(out, "  ✗ {}", c.name);
            if let Some(step) = c.steps.iter().find(|s| !s.passed) {
                let at = c.steps.len();
                if at > 1 {
                    let _ = writeln!(out, "      step {at}: {}", step.invoke);
                } else {
                    let _ = writeln!(out, "      call:     {}", step.invoke);
                }
                let _ = writeln!(out, "      expected: {}", step.expected);
                let _ = writeln!(out, "      found:    {}", step.found);
                if let Some(hint) = first_difference(&step.expected, &step.found) {
                    let _ = writeln!(out, "      {hint}");
                }
            }
        }
    }
    let _ = writeln!(out, "{passed} passed, {failed} failed");
    out
}

/// For long values, where the expected and the found text first differ,
/// with a little context on each side.
fn first_difference(expected: &str, found: &str) -> Option<String> {
    const LONG: usize = 60;
    const CONTEXT: usize = 20;
    if expected.chars().count() < LONG && found.chars().count() < LONG {
        return None;
    }
    let e: Vec<char> = expected.chars().collect();
    let f: Vec<char> = found.chars().collect();
    let at = e.iter().zip(&f).take_while(|(a, b)| a == b).count();
    if at == e.len() && at == f.len() {
        return None;
    }
    let around = |v: &[char]| -> String {
        let start = at.saturating_sub(CONTEXT);
        let end = (at + CONTEXT).min(v.len());
        let mut s: String = v[start..end].iter().collect();
        if start > 0 {
            s.insert(0, '…');
        }
        if end < v.len() {
            s.push('…');
        }
        s
    };
    Some(format!(
        "first difference at character {}: expected `{}`, found `{}`",
        at + 1,
        around(&e),
        around(&f)
    ))
}

/// The JSON report.
#[derive(Serialize)]
pub struct JsonReport<'a> {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed.
    pub failed: usize,
    /// Per component and case file.
    pub suites: Vec<JsonSuite<'a>>,
}

/// One suite in the JSON report.
#[derive(Serialize)]
pub struct JsonSuite<'a> {
    component: &'a str,
    runtime: &'a str,
    file: &'a str,
    cases: Vec<crate::cli::json::Case<'a>>,
}

/// The JSON report of `suites`.
pub fn json(suites: &[SuiteReport]) -> JsonReport<'_> {
    let failed = suites.iter().map(SuiteReport::failures).sum();
    let total: usize = suites.iter().map(|s| s.cases.len()).sum();
    JsonReport {
        passed: total - failed,
        failed,
        suites: suites
            .iter()
            .map(|s| JsonSuite {
                component: &s.component,
                runtime: s.runtime,
                file: &s.file,
                cases: s.cases.iter().map(Into::into).collect(),
            })
            .collect(),
    }
}

fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters, even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The JUnit XML report (one `testsuite` per component and case file).
pub fn junit(suites: &[SuiteReport]) -> String {
    let tests: usize = suites.iter().map(|s| s.cases.len()).sum();
    let failures: usize = suites.iter().map(SuiteReport::failures).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"pipectl test\" tests=\"{tests}\" failures=\"{failures}\">"
    );
    for s in suites {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{:.3}\">",
            xml(&format!("{} · {}", s.component, s.file)),
            s.cases.len(),
            s.failures(),
            s.seconds()
        );
        for c in &s.cases {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
                xml(&c.name),
                xml(&s.component),
                c.duration.as_secs_f64()
            );
            match c.steps.iter().find(|s| !s.passed) {
                None => out.push_str("/>\n"),
                Some(step) => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"expected {}, found {}\">call: {}\nexpected: {}\nfound: {}</failure>\n    </testcase>",
                        xml(&step.expected),
                        xml(&step.found),
                        xml(&step.invoke),
                        xml(&step.expected),
                        xml(&step.found)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
