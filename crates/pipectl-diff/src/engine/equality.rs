//! Structural equality of types across two resolves, memoized.

use wit_parser::{Handle, Resolve, Type, TypeDefKind, TypeId};

use super::*;

impl Cx<'_> {
    /// Two type references are the same: primitives equal; named types by
    /// their name in their scope; anonymous ones by structure.
    pub(super) fn ty_eq(&self, o: Type, n: Type) -> bool {
        match (o, n) {
            (Type::Id(a), Type::Id(b)) => {
                self.memoized(Compare::Ty, a, b, |cx| cx.ty_eq_uncached(o, n))
            }
            _ => self.ty_eq_uncached(o, n),
        }
    }

    /// Looks `(what, o, n)` up in the memo, or computes and records it.
    pub(super) fn memoized(
        &self,
        what: Compare,
        o: TypeId,
        n: TypeId,
        f: impl FnOnce(&Self) -> bool,
    ) -> bool {
        if let Some(&known) = self.memo.borrow().get(&(what, o, n)) {
            return known;
        }
        // WIT types are acyclic (resources, the only way back, compare by
        // name), so the recursion below never reaches this pair again.
        let eq = f(self);
        self.memo.borrow_mut().insert((what, o, n), eq);
        eq
    }

    pub(super) fn ty_eq_uncached(&self, o: Type, n: Type) -> bool {
        if let (Type::Id(a), Type::Id(b)) = (o, n) {
            let (da, db) = (&self.old.types[a], &self.new.types[b]);
            // The same name in the same scope: the definition's own changes
            // are reported where it is defined.
            if da.name.is_some()
                && da.name == db.name
                && owner_name(self.old, da.owner) == owner_name(self.new, db.owner)
            {
                return true;
            }
        }
        // Aliases are transparent: `type field-name = field-key` is the same
        // type as `field-key`, and as `string` when that is what it names.
        let step = |r: &Resolve, t: Type| match t {
            Type::Id(id) => match r.types[id].kind {
                TypeDefKind::Type(inner) => inner,
                _ => t,
            },
            t => t,
        };
        let (so, sn) = (step(self.old, o), step(self.new, n));
        if so != o || sn != n {
            return self.ty_eq(so, sn);
        }
        match (o, n) {
            (Type::Id(a), Type::Id(b)) => {
                let (da, db) = (&self.old.types[a], &self.new.types[b]);
                match (&da.name, &db.name) {
                    (None, None) => self.anon_eq(&da.kind, &db.kind),
                    // `type bytes = list<u8>` is `list<u8>`.
                    (Some(_), None) | (None, Some(_))
                        if !is_record_like(&da.kind) && !is_record_like(&db.kind) =>
                    {
                        self.anon_eq(&da.kind, &db.kind)
                    }
                    // Two differently named definitions: equal when their
                    // shapes are (resources stay nominal).
                    (Some(_), Some(_)) => {
                        !matches!(da.kind, TypeDefKind::Resource) && self.typedef_eq(a, b)
                    }
                    _ => false,
                }
            }
            (Type::Id(_), _) | (_, Type::Id(_)) => false,
            (a, b) => a == b,
        }
    }

    pub(super) fn opt_eq(&self, a: Option<Type>, b: Option<Type>) -> bool {
        match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => self.ty_eq(a, b),
            _ => false,
        }
    }

    pub(super) fn anon_eq(&self, a: &TypeDefKind, b: &TypeDefKind) -> bool {
        match (a, b) {
            (TypeDefKind::List(x), TypeDefKind::List(y))
            | (TypeDefKind::Option(x), TypeDefKind::Option(y))
            | (TypeDefKind::Type(x), TypeDefKind::Type(y)) => self.ty_eq(*x, *y),
            (TypeDefKind::FixedLengthList(x, m), TypeDefKind::FixedLengthList(y, k)) => {
                m == k && self.ty_eq(*x, *y)
            }
            (TypeDefKind::Map(k1, v1), TypeDefKind::Map(k2, v2)) => {
                self.ty_eq(*k1, *k2) && self.ty_eq(*v1, *v2)
            }
            (TypeDefKind::Tuple(x), TypeDefKind::Tuple(y)) => {
                x.types.len() == y.types.len()
                    && x.types
                        .iter()
                        .zip(&y.types)
                        .all(|(p, q)| self.ty_eq(*p, *q))
            }
            (TypeDefKind::Result(x), TypeDefKind::Result(y)) => {
                self.opt_eq(x.ok, y.ok) && self.opt_eq(x.err, y.err)
            }
            (TypeDefKind::Future(x), TypeDefKind::Future(y))
            | (TypeDefKind::Stream(x), TypeDefKind::Stream(y)) => self.opt_eq(*x, *y),
            (TypeDefKind::Handle(x), TypeDefKind::Handle(y)) => match (x, y) {
                (Handle::Own(p), Handle::Own(q)) | (Handle::Borrow(p), Handle::Borrow(q)) => {
                    self.ty_eq(Type::Id(*p), Type::Id(*q))
                }
                _ => false,
            },
            (TypeDefKind::Resource, TypeDefKind::Resource) => true,
            // Named kinds (records, variants, ...) only occur anonymously
            // in invalid WIT.
            _ => false,
        }
    }

    /// Two type definitions have the same shape (for rename detection).
    pub(super) fn typedef_eq(&self, o: TypeId, n: TypeId) -> bool {
        self.memoized(Compare::Typedef, o, n, |cx| cx.typedef_eq_uncached(o, n))
    }

    pub(super) fn typedef_eq_uncached(&self, o: TypeId, n: TypeId) -> bool {
        let (o, n) = (dealias_named(self.old, o), dealias_named(self.new, n));
        let (a, b) = (&self.old.types[o].kind, &self.new.types[n].kind);
        match (a, b) {
            (TypeDefKind::Record(x), TypeDefKind::Record(y)) => {
                x.fields.len() == y.fields.len()
                    && x.fields
                        .iter()
                        .zip(&y.fields)
                        .all(|(p, q)| p.name == q.name && self.ty_eq(p.ty, q.ty))
            }
            (TypeDefKind::Variant(x), TypeDefKind::Variant(y)) => {
                x.cases.len() == y.cases.len()
                    && x.cases
                        .iter()
                        .zip(&y.cases)
                        .all(|(p, q)| p.name == q.name && self.opt_eq(p.ty, q.ty))
            }
            (TypeDefKind::Enum(x), TypeDefKind::Enum(y)) => x
                .cases
                .iter()
                .map(|c| &c.name)
                .eq(y.cases.iter().map(|c| &c.name)),
            (TypeDefKind::Flags(x), TypeDefKind::Flags(y)) => x
                .flags
                .iter()
                .map(|c| &c.name)
                .eq(y.flags.iter().map(|c| &c.name)),
            (a, b) => self.anon_eq(a, b),
        }
    }
}
