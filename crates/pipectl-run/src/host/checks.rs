//! Load-time checks of a component: its imports and initial memory
//! (scanned before compiling), and the entry point its call names, with
//! its shape rendered for messages.

use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::{ComponentFunc, ComponentItem, Type};

use super::*;

/// What a component's bytes say before it is compiled.
pub(crate) struct Scan {
    /// The names it imports at its top level.
    pub(crate) imports: Vec<String>,
    /// Bytes of linear memory its core modules define at start, together.
    pub(crate) initial_memory: u64,
}

/// Reads a component's top-level imports and its memories' initial sizes
/// without compiling it; `None` when the bytes do not parse (compiling then
/// says why).
pub(crate) fn scan(bytes: &[u8]) -> Option<Scan> {
    use wasmparser::{Parser, Payload};
    let mut scan = Scan {
        imports: Vec::new(),
        initial_memory: 0,
    };
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.ok()? {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(section) if depth == 1 => {
                for import in section {
                    scan.imports.push(import.ok()?.name.name.to_string());
                }
            }
            Payload::MemorySection(section) => {
                for memory in section {
                    let memory = memory.ok()?;
                    let page = 1u64 << memory.page_size_log2.unwrap_or(16);
                    scan.initial_memory = scan
                        .initial_memory
                        .saturating_add(memory.initial.saturating_mul(page));
                }
            }
            _ => {}
        }
    }
    Some(scan)
}

/// Finds the function(s) the host calls: `transform` in an exported
/// interface (the one named `*/text-transform@*` when several have one), or
/// the resource constructor and method; and checks their signatures, so a
/// component the host cannot call is refused before any input runs.
/// `Ok(None)` when there is no such export; a signature error names no
/// stage (the caller fills it in).
pub(crate) fn find_entry(
    engine: &Engine,
    component: &Component,
    call: &CallSpec,
) -> Result<Option<Entry>, LoadError> {
    let ty = component.component_type();
    // Each candidate: the export's name, the entry, and the functions to
    // check with their expected shapes.
    type Checks = Vec<(String, ComponentFunc, Shape)>;
    let mut found: Vec<(String, Entry, Checks)> = Vec::new();
    for (name, item) in ty.exports(engine) {
        match (item.ty, call) {
            (ComponentItem::ComponentFunc(func), CallSpec::Transform) if name == "transform" => {
                let Some(idx) = component.get_export_index(None, name) else {
                    continue;
                };
                found.push((
                    name.to_string(),
                    Entry::Transform(idx),
                    vec![(name.to_string(), func, Shape::Transform)],
                ));
            }
            (ComponentItem::ComponentInstance(inst), _) => {
                let Some(iface) = component.get_export_index(None, name) else {
                    continue;
                };
                let func = |n: &str| match inst.get_export(engine, n).map(|e| e.ty) {
                    Some(ComponentItem::ComponentFunc(f)) => Some(f),
                    _ => None,
                };
                match call {
                    CallSpec::Transform => {
                        if let (Some(f), Some(idx)) = (
                            func("transform"),
                            component.get_export_index(Some(&iface), "transform"),
                        ) {
                            found.push((
                                name.to_string(),
                                Entry::Transform(idx),
                                vec![("transform".to_string(), f, Shape::Transform)],
                            ));
                        }
                    }
                    CallSpec::Method { resource, method } => {
                        let ctor = format!("[constructor]{resource}");
                        let meth = format!("[method]{resource}.{method}");
                        if let (Some(cf), Some(mf), Some(ci), Some(mi)) = (
                            func(&ctor),
                            func(&meth),
                            component.get_export_index(Some(&iface), &ctor),
                            component.get_export_index(Some(&iface), &meth),
                        ) {
                            found.push((
                                name.to_string(),
                                Entry::Method {
                                    constructor: ci,
                                    method: mi,
                                },
                                vec![
                                    (ctor, cf, Shape::Constructor(resource.clone())),
                                    (meth, mf, Shape::Method(resource.clone())),
                                ],
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let preferred = found
        .iter()
        .position(|(n, _, _)| n.contains("/text-transform@") || n.ends_with("/text-transform"));
    let chosen = match preferred {
        Some(i) => Some(found.swap_remove(i)),
        None => found.into_iter().next(),
    };
    let Some((_, entry, funcs)) = chosen else {
        return Ok(None);
    };
    for (function, func, shape) in funcs {
        if !shape.matches(&func) {
            return Err(LoadError::Signature {
                stage: String::new(),
                function,
                expected: shape.expected(),
                found: render_func(&func),
            });
        }
    }
    Ok(Some(entry))
}

/// The signatures the host calls.
pub(crate) enum Shape {
    /// `func(input: string) -> result<string, transform-error>`.
    Transform,
    /// `constructor()` of the resource.
    Constructor(String),
    /// `func(self: borrow<resource>, input: string) -> string`.
    Method(String),
}

impl Shape {
    pub(crate) fn matches(&self, func: &ComponentFunc) -> bool {
        let params: Vec<Type> = func.params().map(|(_, t)| t).collect();
        let results: Vec<Type> = func.results().collect();
        match self {
            Shape::Transform => {
                matches!(params.as_slice(), [Type::String])
                    && matches!(results.as_slice(), [Type::Result(r)]
                        if matches!(r.ok(), Some(Type::String))
                            && r.err().is_some_and(|e| is_transform_error(&e)))
            }
            Shape::Constructor(_) => {
                params.is_empty() && matches!(results.as_slice(), [Type::Own(_)])
            }
            Shape::Method(_) => {
                matches!(params.as_slice(), [Type::Borrow(_), Type::String])
                    && matches!(results.as_slice(), [Type::String])
            }
        }
    }

    pub(crate) fn expected(&self) -> String {
        match self {
            Shape::Transform => "func(input: string) -> result<string, transform-error>".into(),
            Shape::Constructor(r) => format!("constructor() -> own<{r}>"),
            Shape::Method(r) => format!("func(self: borrow<{r}>, input: string) -> string"),
        }
    }
}

/// Whether `ty` is the contract's `transform-error` variant, as
/// [`crate::TransformError`] lifts it: these cases, in this order.
pub(crate) fn is_transform_error(ty: &Type) -> bool {
    let Type::Variant(v) = ty else { return false };
    let cases: Vec<(&str, Option<Type>)> = v.cases().map(|c| (c.name, c.ty)).collect();
    matches!(
        cases.as_slice(),
        [
            ("invalid-input", Some(Type::String)),
            ("processing-failed", Some(Type::String))
        ]
    )
}

/// A function's type in WIT-like text, e.g. `func(input: u32) -> string`.
pub(crate) fn render_func(func: &ComponentFunc) -> String {
    let params: Vec<String> = func
        .params()
        .map(|(n, t)| format!("{n}: {}", render_type(&t, 0)))
        .collect();
    let results: Vec<String> = func.results().map(|t| render_type(&t, 0)).collect();
    let mut out = format!("func({})", params.join(", "));
    match results.as_slice() {
        [] => {}
        [one] => out.push_str(&format!(" -> {one}")),
        many => out.push_str(&format!(" -> ({})", many.join(", "))),
    }
    out
}

/// A type in WIT-like text, structurally (component types carry no names);
/// the contract's error variant is shown as `transform-error`. Deeply
/// nested types are cut short.
pub(crate) fn render_type(ty: &Type, depth: usize) -> String {
    if depth > 4 {
        return "...".to_string();
    }
    let r = |t: &Type| render_type(t, depth + 1);
    let opt = |t: Option<Type>| t.map_or_else(|| "_".to_string(), |t| r(&t));
    match ty {
        Type::List(l) => format!("list<{}>", r(&l.ty())),
        Type::FixedLengthList(l) => format!("list<{}, {}>", r(&l.ty()), l.len()),
        Type::Map(m) => format!("map<{}, {}>", r(&m.key()), r(&m.value())),
        Type::Option(o) => format!("option<{}>", r(&o.ty())),
        Type::Result(res) => format!("result<{}, {}>", opt(res.ok()), opt(res.err())),
        Type::Tuple(t) => format!(
            "tuple<{}>",
            t.types().map(|t| r(&t)).collect::<Vec<_>>().join(", ")
        ),
        Type::Record(rec) => format!(
            "record {{ {} }}",
            rec.fields()
                .map(|f| format!("{}: {}", f.name, r(&f.ty)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Type::Variant(_) if is_transform_error(ty) => "transform-error".to_string(),
        Type::Variant(v) => format!(
            "variant {{ {} }}",
            v.cases()
                .map(|c| match c.ty {
                    Some(t) => format!("{}({})", c.name, r(&t)),
                    None => c.name.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Type::Enum(e) => format!("enum {{ {} }}", e.names().collect::<Vec<_>>().join(", ")),
        Type::Flags(f) => format!("flags {{ {} }}", f.names().collect::<Vec<_>>().join(", ")),
        Type::Own(_) => "own<_>".to_string(),
        Type::Borrow(_) => "borrow<_>".to_string(),
        Type::Future(f) => format!("future<{}>", opt(f.ty())),
        Type::Stream(st) => format!("stream<{}>", opt(st.ty())),
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::ErrorContext => "error-context".into(),
    }
}
