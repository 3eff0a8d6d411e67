//! The case-file model of `pipectl test`: a TOML file of named cases, each a
//! WAVE call and what it must give, or an ordered list of steps over one
//! resource. Parsing only; nothing here runs Wasm.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pipectl_manifest::Limits;
use serde::Deserialize;

/// Largest case file read, in bytes.
const MAX_CASE_FILE: u64 = 4 << 20;

/// A case file: optional contract and the cases.
#[derive(Debug, Clone)]
pub struct CaseFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The `[contract]` table, as written.
    pub contract: Option<Contract>,
    /// The cases, in file order.
    pub cases: Vec<Case>,
}

/// `[contract]`: what the cases are written against.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// A WIT package folder.
    pub wit: Option<String>,
    /// A world, e.g. `example:text-transform/plugin@0.2.0`.
    pub world: Option<String>,
}

/// What a call must give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// A WAVE value, compared structurally; `_` matches anything.
    Value(String),
    /// The call traps (`true`) or returns whatever it returns (`false`).
    Trap(bool),
    /// The result is a string (or `ok` of one) containing this.
    Contains(String),
}

/// One call and its expectation.
#[derive(Debug, Clone)]
pub struct Step {
    /// The WAVE call, e.g. `transform("a b c")`, optionally qualified by
    /// its interface: `example:text-transform/text-transform@0.2.0#transform("x")`.
    pub invoke: String,
    /// What it must give.
    pub expect: Expect,
}

/// A named case: one call, or steps over a resource.
#[derive(Debug, Clone)]
pub struct Case {
    /// The case's `name` in the case file, or `#N` (its position) when it has none.
    pub name: String,
    /// Tags for `--tag` selection.
    pub tags: Vec<String>,
    /// The resource constructed (no arguments) before the steps; its
    /// methods are called by name with the resource implied.
    pub resource: Option<String>,
    /// The calls, in order, all on one instance.
    pub steps: Vec<Step>,
    /// Limits overriding the defaults for this case.
    pub limits: Limits,
}

/// A case file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaseFileError {
    /// The file could not be read.
    #[error(transparent)]
    Read(#[from] pipectl_io::ReadError),
    /// The file is not valid TOML or does not have the case-file shape.
    #[error("{path}: {message}")]
    Syntax {
        /// The case file that does not parse.
        path: PathBuf,
        /// The TOML parser's message.
        message: String,
    },
    /// A case is malformed.
    #[error("{path}: case `{case}`: {reason}")]
    Case {
        /// The case file the malformed case is in.
        path: PathBuf,
        /// The case's name (or `#N` when it has none).
        case: String,
        /// What is wrong with the case, as shown to the user.
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    contract: Option<Contract>,
    #[serde(default)]
    case: Vec<RawCase>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawExpect {
    expect: Option<String>,
    expect_trap: Option<bool>,
    expect_contains: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawStep {
    invoke: String,
    #[serde(flatten)]
    expect: RawExpect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawCase {
    name: Option<String>,
    invoke: Option<String>,
    #[serde(flatten)]
    expect: RawExpect,
    #[serde(default)]
    tags: Vec<String>,
    resource: Option<String>,
    #[serde(default)]
    step: Vec<RawStep>,
    timeout_ms: Option<u64>,
    fuel: Option<u64>,
    max_memory: Option<u64>,
}

impl RawExpect {
    fn into_expect(self) -> Result<Expect, String> {
        match (self.expect, self.expect_trap, self.expect_contains) {
            (Some(v), None, None) => Ok(Expect::Value(v)),
            (None, Some(t), None) => Ok(Expect::Trap(t)),
            (None, None, Some(s)) => Ok(Expect::Contains(s)),
            (None, None, None) => {
                Err("no expectation: give `expect`, `expect-trap` or `expect-contains`".into())
            }
            _ => Err("give only one of `expect`, `expect-trap` and `expect-contains`".into()),
        }
    }
}

impl CaseFile {
    /// Reads and parses the case file at `path`.
    pub fn load(path: &Path) -> Result<Self, CaseFileError> {
        let text = pipectl_io::read_regular_to_string(path, MAX_CASE_FILE, "a case file")?;
        Self::parse(path, &text)
    }

    /// Parses `text`, read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, CaseFileError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| CaseFileError::Syntax {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let mut cases = Vec::with_capacity(raw.case.len());
        for (i, c) in raw.case.into_iter().enumerate() {
            let label = c.name.clone().unwrap_or_else(|| format!("#{}", i + 1));
            let fail = |reason: String| CaseFileError::Case {
                path: path.to_owned(),
                case: label.clone(),
                reason,
            };
            let Some(name) = c.name.filter(|n| !n.trim().is_empty()) else {
                return Err(fail("no `name`".into()));
            };
            if cases.iter().any(|k: &Case| k.name == name) {
                return Err(fail("another case has the same name".into()));
            }
            let steps = match (c.invoke, c.step.is_empty()) {
                (Some(invoke), true) => vec![Step {
                    invoke,
                    expect: c.expect.into_expect().map_err(fail)?,
                }],
                (None, false) => {
                    let e = c.expect;
                    if e.expect.is_some() || e.expect_trap.is_some() || e.expect_contains.is_some()
                    {
                        return Err(fail(
                            "a case with steps puts its expectations in its steps".into(),
                        ));
                    }
                    let mut steps = Vec::new();
                    for (n, s) in c.step.into_iter().enumerate() {
                        let expect = s
                            .expect
                            .into_expect()
                            .map_err(|r| fail(format!("step {}: {r}", n + 1)))?;
                        steps.push(Step {
                            invoke: s.invoke,
                            expect,
                        });
                    }
                    steps
                }
                (Some(_), false) => {
                    return Err(fail(
                        "give either `invoke` or `[[case.step]]`, not both".into(),
                    ));
                }
                (None, true) => return Err(fail("no `invoke` and no `[[case.step]]`".into())),
            };
            cases.push(Case {
                name,
                tags: c.tags,
                resource: c.resource,
                steps,
                limits: Limits {
                    timeout: c.timeout_ms.map(Duration::from_millis),
                    fuel: c.fuel,
                    max_memory: c.max_memory,
                    max_output: None,
                },
            });
        }
        if cases.is_empty() {
            return Err(CaseFileError::Syntax {
                path: path.to_owned(),
                message: "no `[[case]]`".into(),
            });
        }
        Ok(CaseFile {
            path: path.to_owned(),
            contract: raw.contract,
            cases,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_single_calls_parse_and_bad_cases_are_named() {
        let f = CaseFile::parse(
            Path::new("c.toml"),
            r#"
[[case]]
name = "one"
invoke = 'transform("a")'
expect = 'ok("a")'
tags = ["smoke"]
timeout-ms = 500

[[case]]
name = "two"
resource = "running-counter"
[[case.step]]
invoke = 'count("a b")'
expect-contains = "2"
[[case.step]]
invoke = 'total-words()'
expect = '2'
"#,
        )
        .unwrap();
        assert_eq!(f.cases.len(), 2);
        assert_eq!(f.cases[0].limits.timeout, Some(Duration::from_millis(500)));
        assert_eq!(f.cases[1].steps.len(), 2);
        assert_eq!(f.cases[1].steps[1].expect, Expect::Value("2".into()));

        let e = CaseFile::parse(
            Path::new("c.toml"),
            "[[case]]\nname = \"bad\"\ninvoke = 'f()'\nexpect = '1'\nexpect-trap = true\n",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "c.toml: case `bad`: give only one of `expect`, `expect-trap` and `expect-contains`"
        );
    }
}
