//! The import policy: what a plugin may import beyond its world. Deny by
//! default; allowances are globs on interface names.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::read::{FileError, MAX_POLICY_BYTES, read_text};

/// Why a policy could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A glob does not parse.
    #[error("invalid import pattern `{pattern}`: {reason}")]
    BadPattern {
        /// The import glob as written, e.g. `wasi:filesystem/*`.
        pattern: String,
        /// Why the glob does not parse, as the glob parser says.
        reason: String,
    },
    /// The policy file could not be read (missing, not a regular file,
    /// too large, not UTF-8).
    #[error(transparent)]
    File(#[from] FileError),
    /// The policy file is not valid TOML of the expected shape.
    #[error("invalid policy file `{path}`: {message}")]
    BadFile {
        /// The policy file that is not valid TOML of the policy's shape.
        path: PathBuf,
        /// The TOML parser's message, with its location.
        message: String,
    },
}

/// The policy file's shape:
///
/// ```toml
/// allow-imports = ["wasi:clocks/*", "wasi:random/random@0.2.*"]
/// ```
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct PolicyFile {
    #[serde(default)]
    allow_imports: Vec<String>,
}

/// Which imports a component may have beyond those its world provides.
#[derive(Debug, Clone)]
pub struct ImportPolicy {
    patterns: Vec<String>,
    set: GlobSet,
}

impl Default for ImportPolicy {
    fn default() -> Self {
        Self::deny_all()
    }
}

impl ImportPolicy {
    /// Allows nothing beyond the world.
    pub fn deny_all() -> Self {
        Self {
            patterns: Vec::new(),
            set: GlobSet::empty(),
        }
    }

    /// Allows imports whose names match any of `patterns`.
    ///
    /// A pattern is matched against the full import name
    /// (`wasi:clocks/monotonic-clock@0.2.0`) and the name without its version
    /// (`wasi:clocks/monotonic-clock`); `*` matches any run of characters,
    /// `/` included.
    pub fn allow<I, S>(patterns: I) -> Result<Self, PolicyError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let patterns: Vec<String> = patterns.into_iter().map(Into::into).collect();
        let mut builder = GlobSetBuilder::new();
        for pattern in &patterns {
            let glob = Glob::new(pattern).map_err(|e| PolicyError::BadPattern {
                pattern: pattern.clone(),
                reason: e.kind().to_string(),
            })?;
            builder.add(glob);
        }
        let set = builder.build().map_err(|e| PolicyError::BadPattern {
            pattern: patterns.join(", "),
            reason: e.to_string(),
        })?;
        Ok(Self { patterns, set })
    }

    /// Reads a policy file (`allow-imports = [...]`) and adds `extra`.
    pub fn from_file(path: &Path, extra: &[String]) -> Result<Self, PolicyError> {
        let text = read_text(path, MAX_POLICY_BYTES, "an import policy")?;
        let file: PolicyFile = toml::from_str(&text).map_err(|e| PolicyError::BadFile {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Self::allow(file.allow_imports.into_iter().chain(extra.iter().cloned()))
    }

    /// The patterns this policy allows.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether an import named `name` is allowed.
    pub fn allows(&self, name: &str) -> bool {
        if self.set.is_match(name) {
            return true;
        }
        let unversioned = crate::name::unversioned(name);
        unversioned != name && self.set.is_match(unversioned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denies_by_default_and_matches_globs() {
        assert!(!ImportPolicy::deny_all().allows("wasi:clocks/wall-clock@0.2.0"));
        let p = ImportPolicy::allow(["wasi:clocks/*", "wasi:random/random@0.2.*"]).unwrap();
        assert!(p.allows("wasi:clocks/wall-clock@0.2.0"));
        assert!(p.allows("wasi:clocks/monotonic-clock"));
        assert!(p.allows("wasi:random/random@0.2.6"));
        assert!(!p.allows("wasi:random/random@0.3.0"));
        assert!(!p.allows("wasi:filesystem/types@0.2.0"));
        assert!(ImportPolicy::allow(["wasi:{"]).is_err());
    }
}
