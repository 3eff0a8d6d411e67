//! Expected values in WAVE with `_` wildcards, type-checked against a
//! function's result type and compared structurally with what it returned.

use wasmtime::component::wasm_wave::ast::Node;
use wasmtime::component::wasm_wave::lex::{Lexer, Span};
use wasmtime::component::wasm_wave::untyped::UntypedValue;
use wasmtime::component::{Type, Val};

/// The label a `_` becomes before WAVE parses the text (`_` is not a WAVE
/// token; a label is, and the matcher treats this one as "anything").
const WILDCARD: &str = "pipectl-any-value";

/// An expected value: WAVE text with `_` wildcards, parsed.
pub struct Pattern {
    value: UntypedValue<'static>,
    wildcards: Vec<Span>,
}

impl Pattern {
    /// Parses `text`; every `_` outside a string is a wildcard.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut source = String::with_capacity(text.len());
        let mut wildcards = Vec::new();
        let mut last = 0;
        let mut lexer = Lexer::new(text);
        while let Some(token) = lexer.next() {
            let span = lexer.span();
            if token.is_err() && lexer.slice() == "_" {
                source.push_str(&text[last..span.start]);
                let start = source.len();
                source.push_str(WILDCARD);
                wildcards.push(start..source.len());
                last = span.end;
            }
        }
        source.push_str(&text[last..]);
        let value = UntypedValue::parse(&source)
            .map_err(|e| format!("`{text}` is not a WAVE value: {e}"))?
            .into_owned();
        Ok(Self { value, wildcards })
    }

    /// Checks the pattern against `ty` without a value.
    pub fn check(&self, ty: &Type) -> Result<(), String> {
        self.walk(self.value.node(), ty, None).map(|_| ())
    }

    /// Whether `actual` (of type `ty`) matches.
    pub fn matches(&self, ty: &Type, actual: &Val) -> Result<bool, String> {
        self.walk(self.value.node(), ty, Some(actual))
    }

    fn src(&self) -> &str {
        self.value.source()
    }

    fn is_wildcard(&self, node: &Node) -> bool {
        self.wildcards.contains(&node.span())
    }

    fn has_wildcard(&self, node: &Node) -> bool {
        let s = node.span();
        self.wildcards
            .iter()
            .any(|w| w.start >= s.start && w.end <= s.end)
    }

    /// Type-checks `node` against `ty` and, given `actual`, compares.
    fn walk(&self, node: &Node, ty: &Type, actual: Option<&Val>) -> Result<bool, String> {
        if self.is_wildcard(node) {
            return Ok(true);
        }
        let src = self.src();
        let text = || src[node.span()].replace(WILDCARD, "_");
        let bad = |e: &dyn std::fmt::Display| format!("`{}` does not fit the type: {e}", text());
        if !self.has_wildcard(node) {
            let expected: Val = node.to_wasm_value(ty, src).map_err(|e| bad(&e))?;
            return Ok(actual.is_none_or(|a| *a == expected));
        }
        let all = |pairs: Vec<(&Node, Type, Option<&Val>)>| -> Result<bool, String> {
            let mut ok = true;
            for (n, t, a) in pairs {
                ok &= self.walk(n, &t, a)?;
            }
            Ok(ok)
        };
        match ty {
            Type::List(l) => {
                let items: Vec<&Node> = node.as_list().map_err(|e| bad(&e))?.collect();
                let vals = match actual {
                    Some(Val::List(v)) if v.len() == items.len() => Some(v),
                    Some(_) => return all_unmatched(self, items, l.ty()),
                    None => None,
                };
                all(items
                    .into_iter()
                    .enumerate()
                    .map(|(i, n)| (n, l.ty(), vals.map(|v| &v[i])))
                    .collect())
            }
            Type::Tuple(t) => {
                let items: Vec<&Node> = node.as_tuple().map_err(|e| bad(&e))?.collect();
                let types: Vec<Type> = t.types().collect();
                if items.len() != types.len() {
                    return Err(bad(&format!("expected {} values", types.len())));
                }
                let vals = match actual {
                    Some(Val::Tuple(v)) => Some(v),
                    _ => None,
                };
                all(items
                    .into_iter()
                    .zip(types)
                    .enumerate()
                    .map(|(i, (n, t))| (n, t, vals.and_then(|v| v.get(i))))
                    .collect())
            }
            Type::Record(r) => {
                let fields: Vec<(&str, &Node)> =
                    node.as_record(src).map_err(|e| bad(&e))?.collect();
                let mut pairs = Vec::new();
                for (name, n) in fields {
                    let Some(field) = r.fields().find(|f| f.name == name) else {
                        return Err(bad(&format!("no field `{name}`")));
                    };
                    let val = match actual {
                        Some(Val::Record(v)) => v.iter().find(|(k, _)| k == name).map(|(_, v)| v),
                        _ => None,
                    };
                    pairs.push((n, field.ty, val));
                }
                all(pairs)
            }
            Type::Variant(v) => {
                let (label, payload) = node.as_variant(src).map_err(|e| bad(&e))?;
                let Some(case) = v.cases().find(|c| c.name == label) else {
                    return Err(bad(&format!("no case `{label}`")));
                };
                let (Some(p), Some(t)) = (payload, case.ty) else {
                    return Err(bad(&"payload does not fit the case"));
                };
                let (same, inner) = match actual {
                    Some(Val::Variant(name, inner)) => (name == label, inner.as_deref()),
                    _ => (false, None),
                };
                let ok = self.walk(p, &t, inner.filter(|_| same))?;
                Ok(actual.is_none() || (same && ok))
            }
            Type::Option(o) => {
                let inner = node.as_option().map_err(|e| bad(&e))?;
                let Some(p) = inner else {
                    return Ok(actual.is_none_or(|a| matches!(a, Val::Option(None))));
                };
                let val = match actual {
                    Some(Val::Option(Some(v))) => Some(&**v),
                    _ => None,
                };
                let ok = self.walk(p, &o.ty(), val)?;
                Ok(actual.is_none() || (val.is_some() && ok))
            }
            Type::Result(r) => {
                let (is_ok, p, t) = match node.as_result().map_err(|e| bad(&e))? {
                    Ok(p) => (true, p, r.ok()),
                    Err(p) => (false, p, r.err()),
                };
                let (Some(p), Some(t)) = (p, t) else {
                    return Err(bad(&"payload does not fit the result"));
                };
                let val = match actual {
                    Some(Val::Result(Ok(v))) if is_ok => v.as_deref(),
                    Some(Val::Result(Err(v))) if !is_ok => v.as_deref(),
                    _ => None,
                };
                let ok = self.walk(p, &t, val)?;
                Ok(actual.is_none() || (val.is_some() && ok))
            }
            _ => Err(bad(&"`_` cannot stand inside this value")),
        }
    }
}

/// Type-checks list items when the actual list has another length.
fn all_unmatched(p: &Pattern, items: Vec<&Node>, ty: Type) -> Result<bool, String> {
    for n in items {
        p.walk(n, &ty, None)?;
    }
    Ok(false)
}
