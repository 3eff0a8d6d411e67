//! The one parser of qualified WIT names: `namespace:package/item@version`
//! (an interface or a world), as imports, exports and `--world` spell them.
//! Here, in the lowest crate, so that every crate splits names the same
//! way (the diff engine, the host's capability and export lookups, the
//! import policy).

use semver::Version;

/// A qualified WIT name, `namespace:package/item@version`, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualifiedName<'a> {
    /// The namespace, e.g. `wasi` in `wasi:clocks/wall-clock@0.2.0`.
    pub namespace: &'a str,
    /// The package, e.g. `clocks` in `wasi:clocks/wall-clock@0.2.0`.
    pub package: &'a str,
    /// `wall-clock`: the interface or world.
    pub item: &'a str,
    /// The version after the `@`, e.g. `0.2.0`; `None` when the name has none.
    pub version: Option<Version>,
}

/// Why a text is not a qualified name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The text after `@` is not a semver version.
    #[error("version `{text}`: {reason}")]
    Version {
        /// The text after `@`.
        text: String,
        /// The semver parser's reason.
        reason: String,
    },
    /// No `/item`: a plain name (or a bare package).
    #[error("no `/` before the item name")]
    NoItem {
        /// The text before `@`.
        path: String,
        /// The version, when given.
        version: Option<Version>,
    },
    /// No `namespace:` before the package.
    #[error("expected `namespace:package/item`")]
    NoNamespace,
}

impl<'a> QualifiedName<'a> {
    /// Splits `text`: the version first, then `/item`, then `namespace:`.
    pub fn parse(text: &'a str) -> Result<Self, NameError> {
        let (path, version) = match text.split_once('@') {
            Some((path, v)) => (
                path,
                Some(Version::parse(v).map_err(|e| NameError::Version {
                    text: v.to_string(),
                    reason: e.to_string(),
                })?),
            ),
            None => (text, None),
        };
        let Some((package, item)) = path.split_once('/') else {
            return Err(NameError::NoItem {
                path: path.to_string(),
                version,
            });
        };
        let (namespace, package) = package.split_once(':').ok_or(NameError::NoNamespace)?;
        Ok(Self {
            namespace,
            package,
            item,
            version,
        })
    }
}

/// `text` without its `@version`: `wasi:clocks/wall-clock@0.2.0` →
/// `wasi:clocks/wall-clock`.
pub fn unversioned(text: &str) -> &str {
    text.split_once('@').map_or(text, |(name, _)| name)
}

/// The package part of a name, `namespace:package`, with no version:
/// `wasi:clocks/wall-clock@0.2.0` → `wasi:clocks`.
pub fn package_of(text: &str) -> &str {
    let name = unversioned(text);
    name.split_once('/').map_or(name, |(package, _)| package)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_refuses() {
        let q = QualifiedName::parse("wasi:clocks/wall-clock@0.2.0").unwrap();
        assert_eq!(
            (q.namespace, q.package, q.item),
            ("wasi", "clocks", "wall-clock")
        );
        assert_eq!(q.version, Some(Version::new(0, 2, 0)));
        assert!(QualifiedName::parse("a:b/c").unwrap().version.is_none());
        assert!(matches!(
            QualifiedName::parse("a:b/c@x"),
            Err(NameError::Version { .. })
        ));
        assert!(matches!(
            QualifiedName::parse("plain"),
            Err(NameError::NoItem { .. })
        ));
        assert_eq!(QualifiedName::parse("b/c"), Err(NameError::NoNamespace));
        assert_eq!(unversioned("wasi:io/poll@0.2.0"), "wasi:io/poll");
        assert_eq!(unversioned("plain"), "plain");
        assert_eq!(package_of("wasi:io/poll@0.2.0"), "wasi:io");
        assert_eq!(package_of("a:b/c"), "a:b");
    }
}
