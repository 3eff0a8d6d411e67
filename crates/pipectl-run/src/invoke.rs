//! `pipectl test`'s engine: any exported function called by name with WAVE
//! arguments, results compared with WAVE expectations, every case in a
//! fresh instance under the host's limits and grants.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pipectl_manifest::Limits;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::wasm_wave::untyped::UntypedFuncCall;
use wasmtime::component::{Component, ComponentExportIndex, Instance, Type, Val};
use wasmtime::{Engine, Store, Trap};

use crate::cases::{Case, CaseFile, CaseFileError, Expect};
use crate::expect::Pattern;
use crate::host::{Host, Plugin, StageState};

/// A function found among a component's exports.
pub(crate) struct Found {
    /// The exported interface, or `None` for a function exported by itself.
    pub(crate) interface: Option<String>,
    /// The function's export name, e.g. `[method]running-counter.count`.
    pub(crate) export: String,
    pub(crate) ty: ComponentFunc,
}

/// What a step calls, with its arguments checked and parsed.
pub(crate) struct Call {
    pub(crate) func: Found,
    /// Whether the case's resource is passed first.
    pub(crate) on_resource: bool,
    pub(crate) args: Vec<Val>,
    pub(crate) result: Option<Type>,
    expect: Checked,
}

/// An expectation, checked against the result type.
pub(crate) enum Checked {
    Value(Pattern, String),
    Trap(bool),
    Contains(String),
}

/// A case, resolved against one component.
pub(crate) struct Prepared<'a> {
    pub(crate) case: &'a Case,
    pub(crate) constructor: Option<Found>,
    pub(crate) calls: Vec<Call>,
}

/// How one step went.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    /// The call as written.
    pub invoke: String,
    /// What was expected, as written.
    pub expected: String,
    /// What happened: the result in WAVE, or `trap: …`.
    pub found: String,
    /// Whether it met the expectation.
    pub passed: bool,
}

/// How one case went.
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    /// The case's name, from the case file.
    pub name: String,
    /// Whether every step passed.
    pub passed: bool,
    /// The steps run (a case stops at its first failing step).
    pub steps: Vec<StepOutcome>,
    /// Wall-clock time, instantiation included.
    pub duration: Duration,
}

fn case_error(file: &CaseFile, case: &Case, reason: String) -> CaseFileError {
    CaseFileError::Case {
        path: file.path.clone(),
        case: case.name.clone(),
        reason,
    }
}

/// Finds `name` (optionally in `interface`) among `component`'s exports.
pub(crate) fn find(
    engine: &Engine,
    component: &Component,
    interface: Option<&str>,
    name: &str,
) -> Result<Option<Found>, String> {
    let same = |export: &str, wanted: &str| {
        export == wanted || pipectl_io::wit_name::unversioned(export) == wanted
    };
    let mut found = Vec::new();
    for (export, item) in component.component_type().exports(engine) {
        match item.ty {
            ComponentItem::ComponentFunc(ty) if interface.is_none() && export == name => found
                .push(Found {
                    interface: None,
                    export: export.to_string(),
                    ty,
                }),
            ComponentItem::ComponentInstance(inst)
                if interface.is_none_or(|wanted| same(export, wanted)) =>
            {
                for (n, item) in inst.exports(engine) {
                    if let ComponentItem::ComponentFunc(ty) = item.ty
                        && n == name
                    {
                        found.push(Found {
                            interface: Some(export.to_string()),
                            export: n.to_string(),
                            ty,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    if found.len() > 1 {
        let names: Vec<String> = found
            .iter()
            .filter_map(|f| f.interface.as_ref().map(|i| format!("`{i}#{name}`")))
            .collect();
        return Err(format!(
            "`{name}` is exported by several interfaces; qualify it: {}",
            names.join(", ")
        ));
    }
    Ok(found.pop())
}

pub(crate) fn prepare<'a>(
    engine: &Engine,
    component: &Component,
    file: &CaseFile,
    case: &'a Case,
) -> Result<Prepared<'a>, CaseFileError> {
    let err = |reason: String| case_error(file, case, reason);
    let constructor = match &case.resource {
        Some(r) => {
            let ctor = format!("[constructor]{r}");
            let found = find(engine, component, None, &ctor)
                .map_err(&err)?
                .ok_or_else(|| err(format!("the component exports no resource `{r}`")))?;
            if found.ty.params().len() != 0 {
                return Err(err(format!(
                    "the constructor of `{r}` takes arguments; only constructors without \
                     arguments are supported"
                )));
            }
            Some(found)
        }
        None => None,
    };
    let mut calls = Vec::new();
    for (n, step) in case.steps.iter().enumerate() {
        let at = |reason: String| {
            if case.steps.len() > 1 {
                err(format!("step {}: {reason}", n + 1))
            } else {
                err(reason)
            }
        };
        let text = step.invoke.trim();
        let open = text.find('(').unwrap_or(text.len());
        let (interface, call_text) = match text[..open].rsplit_once('#') {
            Some((i, _)) => (Some(i), &text[i.len() + 1..]),
            None => (None, text),
        };
        let call = UntypedFuncCall::parse(call_text)
            .map_err(|e| at(format!("`{text}` is not a WAVE call: {e}")))?;
        let name = call.name();
        let mut on_resource = false;
        let mut func = None;
        if let (Some(r), Some(constructor)) = (&case.resource, &constructor) {
            let method = format!("[method]{r}.{name}");
            let iface = interface.or(constructor.interface.as_deref());
            func = find(engine, component, iface, &method).map_err(&at)?;
            on_resource = func.is_some();
        }
        let func = match func {
            Some(f) => f,
            None => find(engine, component, interface, name)
                .map_err(&at)?
                .ok_or_else(|| at(format!("the component exports no function `{name}`")))?,
        };
        let types: Vec<Type> = func
            .ty
            .params()
            .skip(usize::from(on_resource))
            .map(|(_, t)| t)
            .collect();
        let args = call.to_wasm_params::<Val>(types.iter()).map_err(|e| {
            at(format!(
                "the arguments of `{text}` do not fit `{name}`: {e}"
            ))
        })?;
        let results: Vec<Type> = func.ty.results().collect();
        if results.len() > 1 {
            return Err(at(format!("`{name}` returns several values")));
        }
        let result = results.into_iter().next();
        let expect = match &step.expect {
            Expect::Value(text) => {
                let pattern = Pattern::parse(text).map_err(&at)?;
                let ty = result
                    .as_ref()
                    .ok_or_else(|| at(format!("`{name}` returns nothing to compare with")))?;
                pattern
                    .check(ty)
                    .map_err(|e| at(format!("`expect`: {e}")))?;
                Checked::Value(pattern, text.clone())
            }
            Expect::Trap(t) => Checked::Trap(*t),
            Expect::Contains(s) => {
                let is_text = match &result {
                    Some(Type::String) => true,
                    Some(Type::Result(r)) => matches!(r.ok(), Some(Type::String)),
                    _ => false,
                };
                if !is_text {
                    return Err(at(format!(
                        "`expect-contains` needs a `string` or `result<string, _>` result; \
                         `{name}` does not return one"
                    )));
                }
                Checked::Contains(s.clone())
            }
        };
        calls.push(Call {
            func,
            on_resource,
            args,
            result,
            expect,
        });
    }
    Ok(Prepared {
        case,
        constructor,
        calls,
    })
}

/// Checks every case of `file` against `plugin`'s component: functions,
/// arities, argument and expected types. Nothing runs.
pub fn check_cases(host: &Host, plugin: &Plugin, file: &CaseFile) -> Result<(), CaseFileError> {
    let component = plugin.pre.component();
    for case in &file.cases {
        prepare(host.engine(), component, file, case)?;
    }
    Ok(())
}

/// Runs `cases` of `file` (all when `None`) against `plugin`, each in a
/// fresh instance, on up to `workers` threads, in file order.
pub fn run_cases(
    host: &Host,
    plugin: &Plugin,
    file: &CaseFile,
    selected: &[&Case],
    defaults: Limits,
    workers: usize,
) -> Result<Vec<CaseOutcome>, CaseFileError> {
    let component = plugin.pre.component();
    let prepared = selected
        .iter()
        .map(|c| prepare(host.engine(), component, file, c))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(in_parallel(prepared.len(), workers, |i| {
        run_one(host, plugin, &prepared[i], defaults)
    }))
}

/// `f(i)` for every `i` in `0..n`, on up to `workers` threads, the results
/// in order.
pub(crate) fn in_parallel<T: Send>(
    n: usize,
    workers: usize,
    f: impl Fn(usize) -> T + Sync,
) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers.clamp(1, n.max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let r = f(i);
                    out.lock().expect("no worker panics holding the lock")[i] = Some(r);
                }
            });
        }
    });
    out.into_inner()
        .expect("no worker panics holding the lock")
        .into_iter()
        .flatten()
        .collect()
}

fn run_one(host: &Host, plugin: &Plugin, p: &Prepared<'_>, defaults: Limits) -> CaseOutcome {
    let started = Instant::now();
    let limits = p.case.limits.or(defaults);
    let mut steps = Vec::new();
    let fail = |steps: Vec<StepOutcome>, found: String| {
        let mut steps = steps;
        steps.push(StepOutcome {
            invoke: "(instantiate)".into(),
            expected: "a live instance".into(),
            found,
            passed: false,
        });
        CaseOutcome {
            name: p.case.name.clone(),
            passed: false,
            steps,
            duration: started.elapsed(),
        }
    };
    let state = match StageState::new(
        &plugin.name,
        &plugin.grants,
        limits.max_memory,
        host.plugin_output(),
    ) {
        Ok(s) => s,
        Err(e) => return fail(steps, e),
    };
    let mut store = Store::new(host.engine(), state);
    store.limiter(|s| &mut s.limiter);
    arm(&mut store, host, limits);
    let instance = match plugin.pre.instantiate(&mut store) {
        Ok(i) => i,
        Err(e) => return fail(steps, describe(&e, &store, limits)),
    };
    let mut resource = None;
    if let Some(ctor) = &p.constructor {
        arm(&mut store, host, limits);
        let mut out = [Val::Bool(false)];
        match call(&mut store, &instance, ctor, &[], &mut out) {
            Ok(()) => resource = Some(out[0].clone()),
            Err(e) => return fail(steps, describe(&e, &store, limits)),
        }
    }
    let mut passed = true;
    for (c, step) in p.calls.iter().zip(&p.case.steps) {
        arm(&mut store, host, limits);
        let mut args = Vec::with_capacity(c.args.len() + 1);
        if c.on_resource
            && let Some(r) = &resource
        {
            args.push(r.clone());
        }
        args.extend(c.args.iter().cloned());
        let mut out = vec![Val::Bool(false); usize::from(c.result.is_some())];
        let result = call(&mut store, &instance, &c.func, &args, &mut out);
        let outcome = judge(
            c,
            step,
            result
                .as_ref()
                .map(|()| out.as_slice())
                .map_err(|e| describe(e, &store, limits)),
        );
        let ok = outcome.passed;
        steps.push(outcome);
        if !ok {
            passed = false;
            break;
        }
        if result.is_err() && steps.len() < p.calls.len() {
            // A trapped instance cannot be entered again.
            steps.push(StepOutcome {
                invoke: p.case.steps[steps.len()].invoke.clone(),
                expected: "to run".into(),
                found: "not run: an earlier step trapped; a trap ends a case".into(),
                passed: false,
            });
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

/// A step's outcome: whether `result` (the values returned, or a trap or
/// limit in words) meets the call's expectation, and what was found.
pub(crate) fn judge(
    c: &Call,
    step: &crate::cases::Step,
    result: Result<&[Val], String>,
) -> StepOutcome {
    let (passed, found) = match (&c.expect, result) {
        (Checked::Trap(true), Err(e)) => (true, e),
        (_, Err(e)) => (false, e),
        (Checked::Trap(t), Ok(out)) => (!t, wave(out)),
        (Checked::Value(pattern, _), Ok(out)) => {
            let ty = c.result.as_ref().expect("checked in prepare");
            let matched = out
                .first()
                .is_some_and(|v| pattern.matches(ty, v).unwrap_or(false));
            (matched, wave(out))
        }
        (Checked::Contains(s), Ok(out)) => {
            let text = match out.first() {
                Some(Val::String(t)) => Some(t),
                Some(Val::Result(Ok(Some(v)))) => match &**v {
                    Val::String(t) => Some(t),
                    _ => None,
                },
                _ => None,
            };
            (text.is_some_and(|t| t.contains(s.as_str())), wave(out))
        }
    };
    StepOutcome {
        invoke: step.invoke.clone(),
        expected: match &c.expect {
            Checked::Value(_, text) => text.clone(),
            Checked::Trap(true) => "a trap".into(),
            Checked::Trap(false) => "no trap".into(),
            Checked::Contains(s) => format!("a string containing {s:?}"),
        },
        found,
        passed,
    }
}

pub(crate) fn call(
    store: &mut Store<StageState>,
    instance: &Instance,
    f: &Found,
    args: &[Val],
    out: &mut [Val],
) -> wasmtime::Result<()> {
    let idx = export_index(instance, store, f)
        .ok_or_else(|| wasmtime::format_err!("`{}` is not exported", f.export))?;
    let func = instance
        .get_func(&mut *store, idx)
        .ok_or_else(|| wasmtime::format_err!("`{}` is not a function", f.export))?;
    store.data_mut().limiter.hit = false;
    func.call(&mut *store, args, out)
}

fn export_index(
    instance: &Instance,
    store: &mut Store<StageState>,
    f: &Found,
) -> Option<ComponentExportIndex> {
    match &f.interface {
        Some(i) => {
            let parent = instance.get_export_index(&mut *store, None, i)?;
            instance.get_export_index(&mut *store, Some(&parent), &f.export)
        }
        None => instance.get_export_index(&mut *store, None, &f.export),
    }
}

/// Arms the call's timeout and fuel.
pub(crate) fn arm(store: &mut Store<StageState>, host: &Host, limits: Limits) {
    match limits.timeout {
        Some(t) => {
            store.set_epoch_deadline(host.epoch_deadline(t));
            store.data_mut().deadline = Instant::now().checked_add(t);
        }
        None => {
            store.set_epoch_deadline(u64::MAX / 2);
            store.data_mut().deadline = None;
        }
    }
    if host.fuel() {
        // Fuel is on for this engine, so this cannot fail.
        let _ = store.set_fuel(limits.fuel.unwrap_or(u64::MAX));
    }
}

/// A trap or limit hit, in words.
pub(crate) fn describe(e: &wasmtime::Error, store: &Store<StageState>, limits: Limits) -> String {
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => format!(
            "trap: timeout: interrupted; the limit is {:?}",
            limits.timeout.unwrap_or_default()
        ),
        Some(Trap::OutOfFuel) => format!(
            "trap: fuel: ran out; the limit is {}",
            limits.fuel.unwrap_or_default()
        ),
        _ if store.data().limiter.hit => format!(
            "trap: memory: tried to grow past {} bytes",
            limits.max_memory.unwrap_or_default()
        ),
        Some(trap) => format!("trap: {trap}"),
        None => format!("trap: {e:#}"),
    }
}

/// The results in WAVE.
fn wave(out: &[Val]) -> String {
    match out {
        [] => "()".into(),
        [v] => v
            .to_wave()
            .unwrap_or_else(|e| format!("(not printable: {e})")),
        _ => "(several values)".into(),
    }
}
