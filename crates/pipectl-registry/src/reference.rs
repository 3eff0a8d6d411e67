//! What `publish` and `fetch` point at.
//!
//! - `host[:port]/repo[/...]:tag` and `host[:port]/repo@sha256:<hex>`: an OCI
//!   registry (`repo:^0.2` with a semver requirement for `fetch`);
//! - `oci-layout:<dir>:tag` and `oci-layout:<dir>@sha256:<hex>`: an OCI
//!   image-layout directory, the embedded store that needs no server;
//! - `namespace:name@<version or requirement>`: a package, resolved to one of
//!   the above through the registry configuration.

use std::path::PathBuf;

use pipectl_io::Digest;
use semver::{Version, VersionReq};

/// Where artifacts live: a registry repository or an image-layout directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    /// An OCI registry repository.
    Registry {
        /// The registry's host, `host[:port]`, without a scheme.
        registry: String,
        /// The repository path in the registry, `repo[/...]`.
        repository: String,
    },
    /// An OCI image-layout directory.
    Layout {
        /// The image-layout directory, as given after `oci-layout:`.
        dir: PathBuf,
    },
}

impl Location {
    /// `host/repo` or `oci-layout:<dir>`: the name messages and the lockfile use.
    pub fn display(&self) -> String {
        match self {
            Location::Registry {
                registry,
                repository,
            } => format!("{registry}/{repository}"),
            Location::Layout { dir } => format!("oci-layout:{}", dir.display()),
        }
    }

    /// The registry part, for the lockfile (`oci-layout` for layouts).
    pub fn registry(&self) -> String {
        match self {
            Location::Registry { registry, .. } => registry.clone(),
            Location::Layout { .. } => "oci-layout".to_string(),
        }
    }

    /// The repository part, for the lockfile (the directory for layouts).
    pub fn repository(&self) -> String {
        match self {
            Location::Registry { repository, .. } => repository.clone(),
            Location::Layout { dir } => dir.display().to_string(),
        }
    }
}

/// Which artifact in a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// A semver tag, e.g. `0.2.0`: the exact version.
    Tag(Version),
    /// A manifest digest, `sha256:<hex>`.
    Digest(Digest),
    /// The highest tag matching a requirement.
    Requirement(VersionReq),
}

/// A parsed reference: a location and which artifact in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The registry repository or layout directory holding the artifact.
    pub location: Location,
    /// The tag, digest or requirement that picks the artifact.
    pub selector: Selector,
    /// The package name, when given as `namespace:name@...`.
    pub package: Option<String>,
}

/// Why a reference does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid reference `{reference}`: {reason}")]
pub struct ReferenceError {
    /// What was given, made safe to show: credentials (`user:pass@`)
    /// replaced by `***@`, control characters escaped, length bounded.
    pub reference: String,
    /// Why it is invalid.
    pub reason: String,
}

/// A reference before package names are resolved to locations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A registry or layout reference.
    Direct(Reference),
    /// `namespace:name` and what version of it.
    Package {
        /// The package name, `namespace:name` in kebab-case.
        name: String,
        /// The tag, digest or requirement after the `@`.
        selector: Selector,
    },
}

/// Whether `s` is a valid digest: `sha256:` and 64 lowercase hex digits.
pub fn is_digest(s: &str) -> bool {
    Digest::parse(s).is_ok()
}

/// Where a reference's registry part ends, after an optional `scheme://`,
/// and whether it holds user info (`user:pass@host`).
fn userinfo_end(reference: &str) -> Option<(usize, usize)> {
    let start = reference.find("://").map_or(0, |i| i + 3);
    let rest = &reference[start..];
    let authority = &rest[..rest.find('/')?];
    let at = authority.rfind('@')?;
    Some((start, start + at))
}

/// `reference` made safe to show: user info (`user:pass@`) before the
/// registry replaced by `***@`, control characters escaped, at most 300
/// characters.
pub fn redact(reference: &str) -> String {
    let shown = match userinfo_end(reference) {
        Some((start, at)) => format!("{}***{}", &reference[..start], &reference[at..]),
        None => reference.to_string(),
    };
    pipectl_io::text::clean(&shown, 300)
}

fn selector(
    reference: &str,
    text: &str,
    allow_requirement: bool,
) -> Result<Selector, ReferenceError> {
    let err = |reason: String| ReferenceError {
        reference: redact(reference),
        reason,
    };
    if text.starts_with("sha256:") {
        return match Digest::parse(text) {
            Ok(d) => Ok(Selector::Digest(d)),
            Err(_) => Err(err(format!(
                "`{}` is not a sha256 digest (64 lowercase hex digits)",
                pipectl_io::text::clean(text, 100)
            ))),
        };
    }
    if let Ok(v) = Version::parse(text) {
        return Ok(Selector::Tag(v));
    }
    if allow_requirement && let Ok(req) = VersionReq::parse(text) {
        return Ok(Selector::Requirement(req));
    }
    Err(err(format!(
        "`{}` is not a semver version{}; tags must be semver (e.g. `0.2.0`)",
        pipectl_io::text::clean(text, 100),
        if allow_requirement {
            " or requirement"
        } else {
            ""
        }
    )))
}

/// Parses a reference. `allow_requirement` lets the selector be a semver
/// requirement (`fetch`); `publish` needs an exact version.
pub fn parse(reference: &str, allow_requirement: bool) -> Result<Parsed, ReferenceError> {
    let err = |reason: &str| ReferenceError {
        reference: redact(reference),
        reason: reason.to_string(),
    };
    // Credentials never belong in a reference: refused, and never shown.
    if userinfo_end(reference).is_some() {
        return Err(err(
            "a reference cannot hold credentials (`user:password@`); give them separately",
        ));
    }
    if reference.contains("://") {
        return Err(err(
            "a reference has no scheme: write `host[:port]/repository:tag`",
        ));
    }
    if let Some(rest) = reference.strip_prefix("oci-layout:") {
        // oci-layout:<dir>@sha256:... or oci-layout:<dir>:<tag>
        let (dir, sel) = if let Some((dir, digest)) = rest.rsplit_once('@') {
            (dir, digest)
        } else {
            rest.rsplit_once(':').ok_or_else(|| {
                err("expected `oci-layout:<dir>:<tag>` or `oci-layout:<dir>@sha256:<digest>`")
            })?
        };
        if dir.is_empty() {
            return Err(err("the layout directory is empty"));
        }
        return Ok(Parsed::Direct(Reference {
            location: Location::Layout {
                dir: PathBuf::from(dir),
            },
            selector: selector(reference, sel, allow_requirement)?,
            package: None,
        }));
    }
    // A package: `ns:name@sel`, no `/`.
    if !reference.contains('/') {
        let (name, sel) = reference.split_once('@').ok_or_else(|| {
            err("expected `host/repo:tag`, `oci-layout:<dir>:<tag>` or `namespace:name@version`")
        })?;
        let valid = name
            .split_once(':')
            .is_some_and(|(ns, n)| label(ns) && label(n));
        if !valid {
            return Err(err("a package name is `namespace:name` in kebab-case"));
        }
        return Ok(Parsed::Package {
            name: name.to_string(),
            selector: selector(reference, sel, allow_requirement)?,
        });
    }
    // host[:port]/repo(:tag|@digest)
    let (host, rest) = reference
        .split_once('/')
        .ok_or_else(|| err("expected `host[:port]/repository:tag`"))?;
    if host.is_empty() || rest.is_empty() {
        return Err(err("expected `host[:port]/repository:tag`"));
    }
    // A host name, an IPv4 address or a bracketed IPv6 one, and a port:
    // nothing else (no `user:password@`), so nothing secret is ever stored
    // or shown as part of a registry name.
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    {
        return Err(err(
            "the registry must be `host[:port]` (credentials are given separately)",
        ));
    }
    let (repo, sel) = if let Some((repo, digest)) = rest.split_once('@') {
        (repo, digest)
    } else {
        rest.rsplit_once(':')
            .ok_or_else(|| err("the tag is missing: `host/repository:<semver tag>`"))?
    };
    let valid_repo = !repo.is_empty()
        && repo.split('/').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        });
    if !valid_repo {
        return Err(err(
            "repository names are lowercase letters, digits, `.`, `_`, `-`, separated by `/`",
        ));
    }
    Ok(Parsed::Direct(Reference {
        location: Location::Registry {
            registry: host.to_string(),
            repository: repo.to_string(),
        },
        selector: selector(reference, sel, allow_requirement)?,
        package: None,
    }))
}

fn label(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|w| {
            w.starts_with(|c: char| c.is_ascii_lowercase())
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// Whether `registry` (`host[:port]`) is a loopback address, where plain
/// HTTP is allowed without `--insecure`.
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(s: &str, req: bool) -> Reference {
        match parse(s, req).unwrap() {
            Parsed::Direct(r) => r,
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn parses_every_form() {
        let r = direct("localhost:5000/plugins/normalizer:0.2.0", false);
        assert_eq!(
            r.location,
            Location::Registry {
                registry: "localhost:5000".into(),
                repository: "plugins/normalizer".into()
            }
        );
        assert_eq!(r.selector, Selector::Tag(Version::new(0, 2, 0)));
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            direct(&format!("ghcr.io/x/y@{d}"), false).selector,
            Selector::Digest(Digest::parse(&d).unwrap())
        );
        assert!(matches!(
            direct("r.io/x:^0.2", true).selector,
            Selector::Requirement(_)
        ));
        let l = direct("oci-layout:target/store:0.1.0", false);
        assert_eq!(
            l.location,
            Location::Layout {
                dir: "target/store".into()
            }
        );
        assert_eq!(
            parse("example:normalizer@^0.2", true).unwrap(),
            Parsed::Package {
                name: "example:normalizer".into(),
                selector: Selector::Requirement(VersionReq::parse("^0.2").unwrap())
            }
        );
    }

    #[test]
    fn rejects_what_is_not_a_reference() {
        for bad in [
            "localhost:5000/x:latest",
            "localhost:5000/x",
            "localhost:5000/X:1.0.0",
            "r.io/x:^0.2",
            "oci-layout::1.0.0",
            "r.io/x@sha256:abc",
            "Example:x@1.0.0",
            "just-a-word",
            "user:secret@registry.example/x:1.0.0",
        ] {
            assert!(parse(bad, false).is_err(), "{bad}");
        }
        let e = parse("localhost:5000/x:latest", false).unwrap_err();
        assert!(e.reason.contains("tags must be semver"), "{e}");
    }

    #[test]
    fn references_with_credentials_are_refused_without_showing_them() {
        for bad in [
            "user:hunter2@registry.example/x:1.0.0",
            "https://user:hunter2@registry.example/x:1.0.0",
            "user:hunter2@registry.example/x:not-semver",
            "oci-layout:user:hunter2@host/dir:1.0.0",
        ] {
            let e = parse(bad, true).unwrap_err().to_string();
            assert!(!e.contains("hunter2"), "{e}");
            assert!(
                e.contains("***@registry.example") || e.contains("***@host"),
                "{e}"
            );
        }
        assert_eq!(redact("a\x1b[2Jb/c:1"), "a\\u{1b}[2Jb/c:1");
        // `@` after the registry is a digest or a package version.
        assert!(parse("example:x@1.0.0", false).is_ok());
    }

    #[test]
    fn loopback() {
        assert!(
            is_loopback("localhost:5000")
                && is_loopback("127.0.0.1:1")
                && is_loopback("[::1]:5000")
        );
        assert!(!is_loopback("registry.example.com") && !is_loopback("10.0.0.1:5000"));
    }
}
