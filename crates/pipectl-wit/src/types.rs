//! WIT types across two [`Resolve`]s: printing them in WIT syntax and
//! comparing them structurally.
//!
//! A component's decoded WIT and a world parsed from source live in different
//! `Resolve`s, so `TypeId`s cannot be compared; the shapes can. Names of
//! records, variants and the like do not matter to the canonical ABI and are
//! ignored, except for resources, which are nominal: they match when their
//! names and the interfaces that own them (up to semver compatibility) match.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt::Write as _;

use wit_parser::{
    Function, FunctionKind, Handle, PackageName, Resolve, Type, TypeDefKind, TypeId, TypeOwner,
};

/// Prints `ty` as it would be written in WIT: named types by name, anonymous
/// ones by structure (`list<string>`, `result<string, transform-error>`).
pub fn display_type(resolve: &Resolve, ty: &Type) -> String {
    let mut out = String::new();
    write_type(resolve, ty, &mut out);
    out
}

fn write_type(resolve: &Resolve, ty: &Type, out: &mut String) {
    let id = match ty {
        Type::Bool => return out.push_str("bool"),
        Type::U8 => return out.push_str("u8"),
        Type::U16 => return out.push_str("u16"),
        Type::U32 => return out.push_str("u32"),
        Type::U64 => return out.push_str("u64"),
        Type::S8 => return out.push_str("s8"),
        Type::S16 => return out.push_str("s16"),
        Type::S32 => return out.push_str("s32"),
        Type::S64 => return out.push_str("s64"),
        Type::F32 => return out.push_str("f32"),
        Type::F64 => return out.push_str("f64"),
        Type::Char => return out.push_str("char"),
        Type::String => return out.push_str("string"),
        Type::ErrorContext => return out.push_str("error-context"),
        Type::Id(id) => *id,
    };
    let def = &resolve.types[id];
    if let Some(name) = &def.name {
        out.push_str(name);
        return;
    }
    write_kind(resolve, &def.kind, out);
}

/// Prints a type definition's shape, ignoring its name: `list<u8>` for
/// `type bytes = list<u8>`.
pub fn display_shape(resolve: &Resolve, kind: &TypeDefKind) -> String {
    let mut out = String::new();
    write_kind(resolve, kind, &mut out);
    out
}

fn write_kind(resolve: &Resolve, kind: &TypeDefKind, out: &mut String) {
    match kind {
        TypeDefKind::Handle(Handle::Own(r)) => write_type(resolve, &Type::Id(*r), out),
        TypeDefKind::Handle(Handle::Borrow(r)) => {
            out.push_str("borrow<");
            write_type(resolve, &Type::Id(*r), out);
            out.push('>');
        }
        TypeDefKind::Tuple(t) => {
            out.push_str("tuple<");
            write_list(resolve, &t.types, out);
            out.push('>');
        }
        TypeDefKind::Option(t) => wrap(resolve, "option", t, out),
        TypeDefKind::List(t) => wrap(resolve, "list", t, out),
        TypeDefKind::FixedLengthList(t, n) => {
            out.push_str("list<");
            write_type(resolve, t, out);
            let _ = write!(out, ", {n}>");
        }
        TypeDefKind::Map(k, v) => {
            out.push_str("map<");
            write_type(resolve, k, out);
            out.push_str(", ");
            write_type(resolve, v, out);
            out.push('>');
        }
        TypeDefKind::Result(r) => match (&r.ok, &r.err) {
            (None, None) => out.push_str("result"),
            (Some(ok), None) => wrap(resolve, "result", ok, out),
            (None, Some(err)) => {
                out.push_str("result<_, ");
                write_type(resolve, err, out);
                out.push('>');
            }
            (Some(ok), Some(err)) => {
                out.push_str("result<");
                write_type(resolve, ok, out);
                out.push_str(", ");
                write_type(resolve, err, out);
                out.push('>');
            }
        },
        TypeDefKind::Future(t) => optional_wrap(resolve, "future", t.as_ref(), out),
        TypeDefKind::Stream(t) => optional_wrap(resolve, "stream", t.as_ref(), out),
        TypeDefKind::Type(t) => write_type(resolve, t, out),
        // Anonymous records, variants and the like do not occur in resolved
        // WIT; print their kind rather than nothing.
        other => out.push_str(other.as_str()),
    }
}

fn wrap(resolve: &Resolve, name: &str, ty: &Type, out: &mut String) {
    out.push_str(name);
    out.push('<');
    write_type(resolve, ty, out);
    out.push('>');
}

fn optional_wrap(resolve: &Resolve, name: &str, ty: Option<&Type>, out: &mut String) {
    match ty {
        Some(ty) => wrap(resolve, name, ty, out),
        None => out.push_str(name),
    }
}

fn write_list(resolve: &Resolve, types: &[Type], out: &mut String) {
    for (i, ty) in types.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_type(resolve, ty, out);
    }
}

/// Prints a function's signature: `func(input: string) -> string`, or
/// `constructor(...)` for constructors, with `async` where it applies.
pub fn display_signature(resolve: &Resolve, func: &Function) -> String {
    let mut out = String::new();
    let is_async = matches!(
        func.kind,
        FunctionKind::AsyncFreestanding
            | FunctionKind::AsyncMethod(_)
            | FunctionKind::AsyncStatic(_)
    );
    if is_async {
        out.push_str("async ");
    }
    let params = match func.kind {
        FunctionKind::Constructor(_) => {
            out.push_str("constructor(");
            &func.params[..]
        }
        // A method's first parameter is the implicit `self`.
        FunctionKind::Method(_) | FunctionKind::AsyncMethod(_) => {
            out.push_str("func(");
            func.params.get(1..).unwrap_or_default()
        }
        _ => {
            out.push_str("func(");
            &func.params[..]
        }
    };
    for (i, param) in params.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&param.name);
        out.push_str(": ");
        write_type(resolve, &param.ty, &mut out);
    }
    out.push(')');
    if let (Some(result), false) = (
        &func.result,
        matches!(func.kind, FunctionKind::Constructor(_)),
    ) {
        out.push_str(" -> ");
        write_type(resolve, result, &mut out);
    }
    out
}

/// Where two types stop matching, and how: `case \`invalid-input\`: expected
/// \`string\`, found \`u32\``.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The path from the compared type down to the difference, e.g.
    /// ``["result err", "case `invalid-input`"]``.
    pub path: Vec<String>,
    /// What the expected side has there.
    pub expected: String,
    /// What the found side has there.
    pub found: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for step in &self.path {
            write!(f, "{step}: ")?;
        }
        write!(f, "expected {}, found {}", self.expected, self.found)
    }
}

/// Compares types structurally across two resolves: `expected` in `a`,
/// `found` in `b`.
///
/// Pairs of type definitions found equal are remembered, so a type reached
/// along many paths (`tuple<t, t>` where `t` is `tuple<u, u>`, ...) is
/// compared once: time is linear in the size of both trees, not in the
/// number of paths through them.
pub struct TypeComparer<'a> {
    a: &'a Resolve,
    b: &'a Resolve,
    equal: RefCell<HashSet<(TypeId, TypeId)>>,
}

impl<'a> TypeComparer<'a> {
    /// A comparer of types in `a` (expected) with types in `b` (found).
    pub fn new(a: &'a Resolve, b: &'a Resolve) -> Self {
        Self {
            a,
            b,
            equal: RefCell::default(),
        }
    }

    /// The resolves of the expected and the found side.
    pub fn resolves(&self) -> (&'a Resolve, &'a Resolve) {
        (self.a, self.b)
    }

    /// `Ok` when `expected` and `found` have the same shape.
    pub fn compare(&self, expected: &Type, found: &Type) -> Result<(), Mismatch> {
        let mut path = Vec::new();
        self.compare_at(expected, found, &mut path)
    }

    /// Compares two functions' parameters (names, order, types) and results.
    pub fn compare_functions(&self, expected: &Function, found: &Function) -> Result<(), Mismatch> {
        let kind = |f: &Function| match f.kind {
            FunctionKind::Freestanding | FunctionKind::Method(_) | FunctionKind::Static(_) => {
                "sync"
            }
            FunctionKind::Constructor(_) => "constructor",
            _ => "async",
        };
        if kind(expected) != kind(found) {
            return Err(Mismatch {
                path: vec![],
                expected: format!("a {} function", kind(expected)),
                found: format!("a {} function", kind(found)),
            });
        }
        if expected.params.len() != found.params.len() {
            return Err(Mismatch {
                path: vec![],
                expected: format!("{} parameters", expected.params.len()),
                found: format!("{}", found.params.len()),
            });
        }
        for (pe, pf) in expected.params.iter().zip(&found.params) {
            if pe.name != pf.name {
                return Err(Mismatch {
                    path: vec![],
                    expected: format!("parameter `{}`", pe.name),
                    found: format!("`{}`", pf.name),
                });
            }
            let mut path = vec![format!("parameter `{}`", pe.name)];
            self.compare_at(&pe.ty, &pf.ty, &mut path)?;
        }
        match (&expected.result, &found.result) {
            (None, None) => Ok(()),
            (Some(e), Some(f)) => self.compare_at(e, f, &mut vec!["result".to_string()]),
            (e, f) => Err(Mismatch {
                path: vec!["result".to_string()],
                expected: self.opt_display(self.a, e),
                found: self.opt_display(self.b, f),
            }),
        }
    }

    fn opt_display(&self, resolve: &Resolve, ty: &Option<Type>) -> String {
        match ty {
            Some(ty) => format!("`{}`", display_type(resolve, ty)),
            None => "none".to_string(),
        }
    }

    fn mismatch(&self, path: &[String], expected: &Type, found: &Type) -> Mismatch {
        Mismatch {
            path: path.to_vec(),
            expected: format!("`{}`", display_type(self.a, expected)),
            found: format!("`{}`", display_type(self.b, found)),
        }
    }

    fn compare_at(
        &self,
        expected: &Type,
        found: &Type,
        path: &mut Vec<String>,
    ) -> Result<(), Mismatch> {
        let expected = dealias(self.a, *expected);
        let found = dealias(self.b, *found);
        let (ea, fb) = match (expected, found) {
            (Type::Id(e), Type::Id(f)) => (e, f),
            (Type::Id(_), _) | (_, Type::Id(_)) => {
                return Err(self.mismatch(path, &expected, &found));
            }
            (e, f) if e == f => return Ok(()),
            (e, f) => return Err(self.mismatch(path, &e, &f)),
        };
        if self.equal.borrow().contains(&(ea, fb)) {
            return Ok(());
        }
        // WIT types are acyclic (resources, the only way back, compare by
        // name), so this pair is not reached again while it is compared.
        self.compare_defs(ea, fb, expected, found, path)?;
        self.equal.borrow_mut().insert((ea, fb));
        Ok(())
    }

    fn compare_defs(
        &self,
        ea: TypeId,
        fb: TypeId,
        expected: Type,
        found: Type,
        path: &mut Vec<String>,
    ) -> Result<(), Mismatch> {
        let (ek, fk) = (&self.a.types[ea].kind, &self.b.types[fb].kind);
        let shape = || self.mismatch(path, &expected, &found);
        match (ek, fk) {
            (TypeDefKind::Record(e), TypeDefKind::Record(f)) => {
                let names = |fields: &[wit_parser::Field]| {
                    fields.iter().map(|f| f.name.clone()).collect::<Vec<_>>()
                };
                if names(&e.fields) != names(&f.fields) {
                    return Err(Mismatch {
                        path: path.clone(),
                        expected: format!("record fields {:?}", names(&e.fields)),
                        found: format!("{:?}", names(&f.fields)),
                    });
                }
                for (fe, ff) in e.fields.iter().zip(&f.fields) {
                    path.push(format!("field `{}`", fe.name));
                    self.compare_at(&fe.ty, &ff.ty, path)?;
                    path.pop();
                }
                Ok(())
            }
            (TypeDefKind::Variant(e), TypeDefKind::Variant(f)) => {
                let names = |cases: &[wit_parser::Case]| {
                    cases.iter().map(|c| c.name.clone()).collect::<Vec<_>>()
                };
                if names(&e.cases) != names(&f.cases) {
                    return Err(Mismatch {
                        path: path.clone(),
                        expected: format!("variant cases {:?}", names(&e.cases)),
                        found: format!("{:?}", names(&f.cases)),
                    });
                }
                for (ce, cf) in e.cases.iter().zip(&f.cases) {
                    path.push(format!("case `{}`", ce.name));
                    self.compare_optional(ce.ty.as_ref(), cf.ty.as_ref(), path)?;
                    path.pop();
                }
                Ok(())
            }
            (TypeDefKind::Enum(e), TypeDefKind::Enum(f)) => {
                let ec: Vec<_> = e.cases.iter().map(|c| &c.name).collect();
                let fc: Vec<_> = f.cases.iter().map(|c| &c.name).collect();
                if ec != fc {
                    return Err(Mismatch {
                        path: path.clone(),
                        expected: format!("enum cases {ec:?}"),
                        found: format!("{fc:?}"),
                    });
                }
                Ok(())
            }
            (TypeDefKind::Flags(e), TypeDefKind::Flags(f)) => {
                let ec: Vec<_> = e.flags.iter().map(|c| &c.name).collect();
                let fc: Vec<_> = f.flags.iter().map(|c| &c.name).collect();
                if ec != fc {
                    return Err(Mismatch {
                        path: path.clone(),
                        expected: format!("flags {ec:?}"),
                        found: format!("{fc:?}"),
                    });
                }
                Ok(())
            }
            (TypeDefKind::Tuple(e), TypeDefKind::Tuple(f)) => {
                if e.types.len() != f.types.len() {
                    return Err(shape());
                }
                for (i, (te, tf)) in e.types.iter().zip(&f.types).enumerate() {
                    path.push(format!("tuple element {i}"));
                    self.compare_at(te, tf, path)?;
                    path.pop();
                }
                Ok(())
            }
            (TypeDefKind::Option(e), TypeDefKind::Option(f))
            | (TypeDefKind::List(e), TypeDefKind::List(f)) => self.nested(e, f, path, ek.as_str()),
            (TypeDefKind::FixedLengthList(e, n), TypeDefKind::FixedLengthList(f, m)) => {
                if n != m {
                    return Err(shape());
                }
                self.nested(e, f, path, "list")
            }
            (TypeDefKind::Map(ek2, ev), TypeDefKind::Map(fk2, fv)) => {
                self.nested(ek2, fk2, path, "map key")?;
                self.nested(ev, fv, path, "map value")
            }
            (TypeDefKind::Result(e), TypeDefKind::Result(f)) => {
                path.push("result ok".to_string());
                self.compare_optional(e.ok.as_ref(), f.ok.as_ref(), path)?;
                path.pop();
                path.push("result err".to_string());
                self.compare_optional(e.err.as_ref(), f.err.as_ref(), path)?;
                path.pop();
                Ok(())
            }
            (TypeDefKind::Future(e), TypeDefKind::Future(f))
            | (TypeDefKind::Stream(e), TypeDefKind::Stream(f)) => {
                path.push(ek.as_str().to_string());
                self.compare_optional(e.as_ref(), f.as_ref(), path)?;
                path.pop();
                Ok(())
            }
            (TypeDefKind::Handle(e), TypeDefKind::Handle(f)) => {
                let (er, fr) = match (e, f) {
                    (Handle::Own(e), Handle::Own(f)) | (Handle::Borrow(e), Handle::Borrow(f)) => {
                        (*e, *f)
                    }
                    _ => return Err(shape()),
                };
                if self.same_resource(er, fr) {
                    Ok(())
                } else {
                    Err(shape())
                }
            }
            (TypeDefKind::Resource, TypeDefKind::Resource) => {
                if self.same_resource(ea, fb) {
                    Ok(())
                } else {
                    Err(shape())
                }
            }
            _ => Err(shape()),
        }
    }

    fn nested(
        &self,
        e: &Type,
        f: &Type,
        path: &mut Vec<String>,
        what: &str,
    ) -> Result<(), Mismatch> {
        path.push(what.to_string());
        self.compare_at(e, f, path)?;
        path.pop();
        Ok(())
    }

    fn compare_optional(
        &self,
        e: Option<&Type>,
        f: Option<&Type>,
        path: &mut Vec<String>,
    ) -> Result<(), Mismatch> {
        match (e, f) {
            (None, None) => Ok(()),
            (Some(e), Some(f)) => self.compare_at(e, f, path),
            (e, f) => Err(Mismatch {
                path: path.clone(),
                expected: self.opt_display(self.a, &e.copied()),
                found: self.opt_display(self.b, &f.copied()),
            }),
        }
    }

    /// Resources are nominal: same name, owned by interfaces of the same
    /// name in semver-compatible packages (or both by worlds).
    fn same_resource(&self, e: TypeId, f: TypeId) -> bool {
        let e = dealias_id(self.a, e);
        let f = dealias_id(self.b, f);
        let (de, df) = (&self.a.types[e], &self.b.types[f]);
        de.name == df.name && owner_track(self.a, de.owner) == owner_track(self.b, df.owner)
    }
}

/// Follows `type a = b` aliases (including `use`) to the defining type.
pub fn dealias(resolve: &Resolve, ty: Type) -> Type {
    match ty {
        Type::Id(id) => match &resolve.types[id].kind {
            TypeDefKind::Type(inner) => dealias(resolve, *inner),
            _ => ty,
        },
        ty => ty,
    }
}

/// The kind of the type `id` names, through aliases.
pub fn dealias_kind(resolve: &Resolve, id: wit_parser::TypeId) -> &TypeDefKind {
    &resolve.types[dealias_id(resolve, id)].kind
}

fn dealias_id(resolve: &Resolve, id: wit_parser::TypeId) -> wit_parser::TypeId {
    match dealias(resolve, Type::Id(id)) {
        Type::Id(id) => id,
        _ => id,
    }
}

/// The owner of a type as `namespace:package/interface@track`, where `track`
/// is the semver-compatibility track (`0.2` for `0.2.3`); `None` for types
/// owned by worlds or by nothing.
fn owner_track(resolve: &Resolve, owner: TypeOwner) -> Option<String> {
    match owner {
        TypeOwner::Interface(id) => {
            let iface = &resolve.interfaces[id];
            let name = iface.name.as_deref().unwrap_or("<inline>");
            Some(match iface.package.map(|p| &resolve.packages[p].name) {
                Some(pkg) => format!(
                    "{}:{}/{name}@{}",
                    pkg.namespace,
                    pkg.name,
                    pkg.version
                        .as_ref()
                        .map(PackageName::version_compat_track_string)
                        .unwrap_or_default()
                ),
                None => name.to_string(),
            })
        }
        TypeOwner::World(_) | TypeOwner::None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(src: &str) -> (Resolve, wit_parser::InterfaceId) {
        let mut r = Resolve::default();
        let pkg = r.push_str("test.wit", src).unwrap();
        let iface = r.packages[pkg].interfaces["i"];
        (r, iface)
    }

    #[test]
    fn prints_signatures_in_wit_syntax() {
        let (r, i) = resolve(
            "package a:b@0.1.0; interface i {
                variant e { x(string), y }
                f: func(input: string, n: option<list<u8>>) -> result<string, e>;
                g: func(r: borrow<res>) -> tuple<u32, string>;
                resource res { constructor(a: u32); m: func() -> result<_, e>; }
            }",
        );
        let funcs = &r.interfaces[i].functions;
        let sig = |name: &str| display_signature(&r, &funcs[name]);
        assert_eq!(
            sig("f"),
            "func(input: string, n: option<list<u8>>) -> result<string, e>"
        );
        assert_eq!(sig("g"), "func(r: borrow<res>) -> tuple<u32, string>");
        assert_eq!(sig("[constructor]res"), "constructor(a: u32)");
        assert_eq!(sig("[method]res.m"), "func() -> result<_, e>");
    }

    #[test]
    fn compares_structurally_and_locates_the_difference() {
        let (a, ia) = resolve(
            "package a:b@0.1.0; interface i {
                variant e { x(string), y }
                record r { n: u32, e: e }
                f: func(r: r) -> result<string, e>;
            }",
        );
        let (b, ib) = resolve(
            "package a:b@0.1.1; interface i {
                variant err { x(u32), y }
                record r2 { n: u32, e: err }
                f: func(r: r2) -> result<string, err>;
            }",
        );
        let cmp = TypeComparer::new(&a, &b);
        let m = cmp
            .compare_functions(
                &a.interfaces[ia].functions["f"],
                &b.interfaces[ib].functions["f"],
            )
            .unwrap_err();
        assert_eq!(
            m.to_string(),
            "parameter `r`: field `e`: case `x`: expected `string`, found `u32`"
        );
        // Same shapes under other names are equal.
        let (c, ic) = resolve(
            "package a:b@0.1.0; interface i {
                variant e2 { x(string), y }
                record q { n: u32, e: e2 }
                type alias = q;
                f: func(r: alias) -> result<string, e2>;
            }",
        );
        let cmp = TypeComparer::new(&a, &c);
        cmp.compare_functions(
            &a.interfaces[ia].functions["f"],
            &c.interfaces[ic].functions["f"],
        )
        .unwrap();
    }

    /// `type p0 = tuple<u8, u8>; type p1 = tuple<p0, p0>; ...`: 2^n paths,
    /// n + 1 definitions.
    fn chain(prefix: &str, n: usize, last: &str) -> String {
        let mut src =
            format!("package a:b@0.1.0; interface i {{ type {prefix}0 = tuple<u8, u8>;\n");
        for k in 1..=n {
            let p = k - 1;
            src.push_str(&format!(
                "type {prefix}{k} = tuple<{prefix}{p}, {prefix}{p}>;\n"
            ));
        }
        src.push_str(&format!("f: func(x: {prefix}{n}) -> {last}; }}"));
        src
    }

    #[test]
    fn comparing_shared_subtrees_is_linear() {
        let (a, ia) = resolve(&chain("a", 60, "u8"));
        let (b, ib) = resolve(&chain("b", 60, "u8"));
        let (c, ic) = resolve(&chain("c", 60, "u16"));
        let started = std::time::Instant::now();
        let cmp = TypeComparer::new(&a, &b);
        let f = |r: &Resolve, i| r.interfaces[i].functions["f"].clone();
        cmp.compare_functions(&f(&a, ia), &f(&b, ib)).unwrap();
        let m = TypeComparer::new(&a, &c)
            .compare_functions(&f(&a, ia), &f(&c, ic))
            .unwrap_err();
        assert_eq!(m.to_string(), "result: expected `u8`, found `u16`");
        // 2^60 paths: without the memo this would not end.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
