//! `pipectl test --runtime node`: the same cases, prepared against the
//! component's types exactly as for wasmtime, run through the component
//! transpiled to JavaScript by jco, on Node.js. Each case runs in its own
//! `node` process (a trap or a timeout ends that case only); values cross
//! as JSON in the shapes jco gives component-model types, and come back
//! as component values judged by the same expectations.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pipectl_manifest::Limits;
use serde_json::{Value as Json, json};
use wasmtime::component::{Type, Val};

use crate::cases::{Case, CaseFile, CaseFileError};
use crate::host::{Host, Plugin};
use crate::invoke::{CaseOutcome, Found, Prepared, StepOutcome, in_parallel, judge, prepare};

/// The driver `node` runs: imports the transpiled module, makes the case's
/// resource, calls each step, prints what came back (a value, a typed
/// error, or a trap) as JSON.
pub const DRIVER: &str = r#"import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const revive = (k, v) => {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    if ('$bigint' in v) return BigInt(v.$bigint);
    if ('$typed' in v) return globalThis[v.$typed].from(v.values, x => typeof x === 'string' ? BigInt(x) : x);
    if ('$none' in v) return undefined;
  }
  return v;
};
const plain = (k, v) => {
  if (typeof v === 'bigint') return { $bigint: v.toString() };
  if (ArrayBuffer.isView(v)) return Array.from(v, x => typeof x === 'bigint' ? { $bigint: x.toString() } : x);
  if (v === undefined) return null;
  return v;
};
const request = JSON.parse(readFileSync(0, 'utf8'), revive);
const out = [];
try {
  const m = await import(pathToFileURL(process.argv[2]).href);
  const scope = i => {
    const s = i === null ? m : m[i];
    if (!s) throw new Error(`the module exports no \`${i}\``);
    return s;
  };
  let self;
  if (request.resource) self = new (scope(request.resource.scope)[request.resource.class])();
  for (const step of request.steps) {
    const f = step.method ? self[step.name] : scope(step.scope)[step.name];
    if (typeof f !== 'function') throw new Error(`\`${step.name}\` is not a function of the module`);
    try {
      out.push({ value: f.apply(self, step.args) });
    } catch (e) {
      if (e && typeof e === 'object' && 'payload' in e) out.push({ error: e.payload });
      else { out.push({ trap: String(e && e.message ? e.message : e) }); break; }
    }
  }
} catch (e) {
  out.push({ trap: String(e && e.message ? e.message : e) });
}
process.stdout.write(JSON.stringify(out, plain));
"#;

/// `kebab-case` as jco names functions and fields: `lowerCamelCase`.
fn camel(name: &str) -> String {
    let mut out = String::new();
    for (i, word) in name.split('-').enumerate() {
        let mut chars = word.chars();
        match (i, chars.next()) {
            (0, Some(c)) => out.extend(c.to_lowercase().chain(chars)),
            (_, Some(c)) => out.extend(c.to_uppercase().chain(chars)),
            (_, None) => {}
        }
    }
    out
}

/// `kebab-case` as jco names classes: `UpperCamelCase`.
fn class(name: &str) -> String {
    let c = camel(name);
    let mut chars = c.chars();
    chars
        .next()
        .map(|f| f.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn typed_array(ty: &Type) -> Option<&'static str> {
    Some(match ty {
        Type::U8 => "Uint8Array",
        Type::S8 => "Int8Array",
        Type::U16 => "Uint16Array",
        Type::S16 => "Int16Array",
        Type::U32 => "Uint32Array",
        Type::S32 => "Int32Array",
        Type::U64 => "BigUint64Array",
        Type::S64 => "BigInt64Array",
        Type::Float32 => "Float32Array",
        Type::Float64 => "Float64Array",
        _ => return None,
    })
}

/// A component value as jco takes it, in JSON (`$bigint`, `$typed` and
/// `$none` are revived by the driver).
pub fn to_json(ty: &Type, v: &Val) -> Result<Json, String> {
    Ok(match (ty, v) {
        (_, Val::Bool(b)) => json!(b),
        (_, Val::S8(n)) => json!(n),
        (_, Val::U8(n)) => json!(n),
        (_, Val::S16(n)) => json!(n),
        (_, Val::U16(n)) => json!(n),
        (_, Val::S32(n)) => json!(n),
        (_, Val::U32(n)) => json!(n),
        (_, Val::S64(n)) => json!({ "$bigint": n.to_string() }),
        (_, Val::U64(n)) => json!({ "$bigint": n.to_string() }),
        (_, Val::Float32(n)) => json!(n),
        (_, Val::Float64(n)) => json!(n),
        (_, Val::Char(c)) => json!(c.to_string()),
        (_, Val::String(s)) => json!(s),
        (Type::List(l), Val::List(items)) => {
            let elem = l.ty();
            let values = items
                .iter()
                .map(|i| to_json(&elem, i))
                .collect::<Result<Vec<_>, _>>()?;
            match typed_array(&elem) {
                Some(kind) => {
                    json!({ "$typed": kind, "values": values.iter().map(|v| v.get("$bigint").cloned().unwrap_or_else(|| v.clone())).collect::<Vec<_>>() })
                }
                None => Json::Array(values),
            }
        }
        (Type::Record(r), Val::Record(fields)) => {
            let mut obj = serde_json::Map::new();
            for (field, (name, v)) in r.fields().zip(fields) {
                obj.insert(camel(name), to_json(&field.ty, v)?);
            }
            Json::Object(obj)
        }
        (Type::Tuple(t), Val::Tuple(items)) => Json::Array(
            t.types()
                .zip(items)
                .map(|(ty, v)| to_json(&ty, v))
                .collect::<Result<_, _>>()?,
        ),
        (Type::Variant(var), Val::Variant(case, payload)) => {
            let ty = var.cases().find(|c| c.name == case).and_then(|c| c.ty);
            match (ty, payload) {
                (Some(ty), Some(p)) => json!({ "tag": case, "val": to_json(&ty, p)? }),
                _ => json!({ "tag": case }),
            }
        }
        (_, Val::Enum(case)) => json!(case),
        (Type::Option(o), Val::Option(inner)) => match inner {
            None => json!({ "$none": true }),
            Some(_) if matches!(o.ty(), Type::Option(_)) => {
                return Err("an `option<option<_>>` does not cross to JavaScript".into());
            }
            Some(v) => to_json(&o.ty(), v)?,
        },
        (Type::Result(r), Val::Result(res)) => match res {
            Ok(v) => {
                json!({ "tag": "ok", "val": match (r.ok(), v) { (Some(t), Some(v)) => to_json(&t, v)?, _ => Json::Null } })
            }
            Err(v) => {
                json!({ "tag": "err", "val": match (r.err(), v) { (Some(t), Some(v)) => to_json(&t, v)?, _ => Json::Null } })
            }
        },
        (_, Val::Flags(set)) => {
            let Type::Flags(f) = ty else {
                return Err("flags of another type".into());
            };
            Json::Object(
                f.names()
                    .map(|n| (camel(n), json!(set.iter().any(|s| s == n))))
                    .collect(),
            )
        }
        (_, other) => return Err(format!("{other:?} does not cross to JavaScript")),
    })
}

fn number<T: TryFrom<i64> + TryFrom<u64>>(j: &Json) -> Option<T> {
    if let Some(s) = j.get("$bigint").and_then(Json::as_str) {
        return s
            .parse::<i64>()
            .ok()
            .and_then(|n| T::try_from(n).ok())
            .or_else(|| s.parse::<u64>().ok().and_then(|n| T::try_from(n).ok()));
    }
    j.as_i64()
        .and_then(|n| T::try_from(n).ok())
        .or_else(|| j.as_u64().and_then(|n| T::try_from(n).ok()))
}

/// What jco returned, as a component value of `ty`.
pub fn from_json(ty: &Type, j: &Json) -> Result<Val, String> {
    let bad = || format!("JavaScript returned {j} where `{ty:?}` was due");
    Ok(match ty {
        Type::Bool => Val::Bool(j.as_bool().ok_or_else(bad)?),
        Type::S8 => Val::S8(number(j).ok_or_else(bad)?),
        Type::U8 => Val::U8(number(j).ok_or_else(bad)?),
        Type::S16 => Val::S16(number(j).ok_or_else(bad)?),
        Type::U16 => Val::U16(number(j).ok_or_else(bad)?),
        Type::S32 => Val::S32(number(j).ok_or_else(bad)?),
        Type::U32 => Val::U32(number(j).ok_or_else(bad)?),
        Type::S64 => Val::S64(number(j).ok_or_else(bad)?),
        Type::U64 => Val::U64(number(j).ok_or_else(bad)?),
        Type::Float32 => Val::Float32(j.as_f64().ok_or_else(bad)? as f32),
        Type::Float64 => Val::Float64(j.as_f64().ok_or_else(bad)?),
        Type::Char => Val::Char(j.as_str().and_then(|s| s.chars().next()).ok_or_else(bad)?),
        Type::String => Val::String(j.as_str().ok_or_else(bad)?.to_string()),
        Type::List(l) => Val::List(
            j.as_array()
                .ok_or_else(bad)?
                .iter()
                .map(|i| from_json(&l.ty(), i))
                .collect::<Result<_, _>>()?,
        ),
        Type::Record(r) => Val::Record(
            r.fields()
                .map(|f| {
                    let v = j.get(camel(f.name)).unwrap_or(&Json::Null);
                    Ok((f.name.to_string(), from_json(&f.ty, v)?))
                })
                .collect::<Result<_, String>>()?,
        ),
        Type::Tuple(t) => {
            let items = j.as_array().ok_or_else(bad)?;
            Val::Tuple(
                t.types()
                    .zip(items)
                    .map(|(ty, v)| from_json(&ty, v))
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Variant(v) => {
            let tag = j.get("tag").and_then(Json::as_str).ok_or_else(bad)?;
            let case = v.cases().find(|c| c.name == tag).ok_or_else(bad)?;
            let payload = match case.ty {
                Some(ty) => Some(Box::new(from_json(
                    &ty,
                    j.get("val").unwrap_or(&Json::Null),
                )?)),
                None => None,
            };
            Val::Variant(tag.to_string(), payload)
        }
        Type::Enum(_) => Val::Enum(j.as_str().ok_or_else(bad)?.to_string()),
        Type::Option(o) => match j {
            Json::Null => Val::Option(None),
            v => Val::Option(Some(Box::new(from_json(&o.ty(), v)?))),
        },
        Type::Result(r) => {
            let tag = j.get("tag").and_then(Json::as_str).ok_or_else(bad)?;
            let val = j.get("val").unwrap_or(&Json::Null);
            let side = |t: Option<Type>| -> Result<Option<Box<Val>>, String> {
                t.map(|t| from_json(&t, val).map(Box::new)).transpose()
            };
            Val::Result(match tag {
                "ok" => Ok(side(r.ok())?),
                "err" => Err(side(r.err())?),
                _ => return Err(bad()),
            })
        }
        Type::Flags(f) => Val::Flags(
            f.names()
                .filter(|n| j.get(camel(n)).and_then(Json::as_bool) == Some(true))
                .map(str::to_string)
                .collect(),
        ),
        _ => return Err(format!("`{ty:?}` does not cross from JavaScript")),
    })
}

/// Where a function is in the module jco writes: the interface's export
/// (by its full name), or the module itself, and its JavaScript name.
fn scope_and_name(f: &Found) -> (Json, String) {
    let name = f.export.rsplit(['.', ']']).next().unwrap_or(&f.export);
    (json!(f.interface), camel(name))
}

/// The JSON request of one prepared case.
fn request(p: &Prepared<'_>) -> Result<Json, String> {
    let resource = match &p.constructor {
        Some(ctor) => {
            let resource = ctor.export.trim_start_matches("[constructor]");
            json!({ "scope": ctor.interface, "class": class(resource) })
        }
        None => Json::Null,
    };
    let steps = p
        .calls
        .iter()
        .map(|c| {
            let params: Vec<Type> = c
                .func
                .ty
                .params()
                .skip(usize::from(c.on_resource))
                .map(|(_, t)| t)
                .collect();
            let args = params
                .iter()
                .zip(&c.args)
                .map(|(t, v)| to_json(t, v))
                .collect::<Result<Vec<_>, _>>()?;
            let (scope, name) = scope_and_name(&c.func);
            Ok(json!({ "scope": scope, "name": name, "method": c.on_resource, "args": args }))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(json!({ "resource": resource, "steps": steps }))
}

/// Runs `node DRIVER module` with `input`, killing it at `deadline`.
fn node(
    node: &Path,
    driver: &Path,
    module: &Path,
    input: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let mut child = Command::new(node)
        .arg(driver)
        .arg(module)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("failed to start `{}`: {e}", node.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(out)) if out.status.success() => Ok(out.stdout),
        Ok(Ok(out)) => Err(format!(
            "trap: node exited with {}: {}",
            out.status,
            pipectl_io::text::clean(String::from_utf8_lossy(&out.stderr).trim(), 300)
        )),
        Ok(Err(e)) => Err(format!("trap: node failed: {e}")),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
            Err(format!(
                "trap: timeout: interrupted; the limit is {timeout:?}"
            ))
        }
    }
}

/// One case on Node.js.
fn run_one(
    p: &Prepared<'_>,
    nodejs: &Path,
    driver: &Path,
    module: &Path,
    defaults: Limits,
) -> CaseOutcome {
    let started = Instant::now();
    let limits = p.case.limits.or(defaults);
    // The case's steps in one process: the limit covers them all.
    let timeout = limits.timeout.unwrap_or(Duration::from_secs(30)) * (p.calls.len() as u32).max(1);
    let fail = |found: String| CaseOutcome {
        name: p.case.name.clone(),
        passed: false,
        steps: vec![StepOutcome {
            invoke: "(node)".into(),
            expected: "the case to run".into(),
            found,
            passed: false,
        }],
        duration: started.elapsed(),
    };
    let input = match request(p) {
        Ok(r) => r.to_string(),
        Err(e) => return fail(e),
    };
    let answers: Vec<Json> =
        match node(nodejs, driver, module, input.as_bytes(), timeout).and_then(|out| {
            serde_json::from_slice(&out)
                .map_err(|e| format!("the driver's answer is not JSON: {e}"))
        }) {
            Ok(a) => a,
            Err(e) => return fail(e),
        };
    let mut steps = Vec::new();
    let mut passed = true;
    for (i, (c, step)) in p.calls.iter().zip(&p.case.steps).enumerate() {
        let result: Result<Vec<Val>, String> = match answers.get(i) {
            None => Err("not run: an earlier step trapped; a trap ends a case".into()),
            Some(a) if a.get("trap").is_some() => {
                Err(format!("trap: {}", a["trap"].as_str().unwrap_or_default()))
            }
            Some(a) => {
                let value = |t: &Type| -> Result<Val, String> {
                    match (t, a.get("error")) {
                        // jco throws a `result`'s `err` and returns its `ok`.
                        (Type::Result(r), Some(e)) => Ok(Val::Result(Err(r
                            .err()
                            .map(|t| from_json(&t, e).map(Box::new))
                            .transpose()?))),
                        (Type::Result(r), None) => Ok(Val::Result(Ok(r
                            .ok()
                            .map(|t| from_json(&t, &a["value"]).map(Box::new))
                            .transpose()?))),
                        (_, Some(e)) => Err(format!("trap: threw {e}")),
                        (t, None) => from_json(t, &a["value"]),
                    }
                };
                match &c.result {
                    None => Ok(Vec::new()),
                    Some(t) => value(t).map(|v| vec![v]),
                }
            }
        };
        let outcome = judge(c, step, result.as_deref().map_err(Clone::clone));
        let ok = outcome.passed;
        steps.push(outcome);
        if !ok {
            passed = false;
            break;
        }
    }
    CaseOutcome {
        name: p.case.name.clone(),
        passed,
        steps,
        duration: started.elapsed(),
    }
}

/// Runs `selected` cases of `file` (prepared against `plugin`'s types)
/// through `module`, the component transpiled by jco, with `nodejs`, on up
/// to `workers` processes at once, in file order. `scratch` receives the
/// driver.
#[allow(clippy::too_many_arguments)]
pub fn run_cases_node(
    host: &Host,
    plugin: &Plugin,
    file: &CaseFile,
    selected: &[&Case],
    module: &Path,
    nodejs: &Path,
    scratch: &Path,
    defaults: Limits,
    workers: usize,
) -> Result<Vec<CaseOutcome>, CaseFileError> {
    let component = plugin.pre.component();
    let prepared = selected
        .iter()
        .map(|c| prepare(host.engine(), component, file, c))
        .collect::<Result<Vec<_>, _>>()?;
    let driver = scratch.join("pipectl-driver.mjs");
    std::fs::write(&driver, DRIVER).map_err(|e| CaseFileError::Case {
        path: file.path.clone(),
        case: "(node)".into(),
        reason: format!("failed to write the driver: {e}"),
    })?;
    Ok(in_parallel(prepared.len(), workers, |i| {
        run_one(&prepared[i], nodejs, &driver, module, defaults)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_jco_s() {
        assert_eq!(camel("total-words"), "totalWords");
        assert_eq!(camel("transform"), "transform");
        assert_eq!(class("running-counter"), "RunningCounter");
    }
}
