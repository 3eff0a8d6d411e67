//! Resolving `namespace:name` packages to registries, with wkg's
//! configuration file (`~/.config/wasm-pkg/config.toml`, or `$PIPECTL_CONFIG`,
//! or `--config`), read by wasm-pkg-common:
//!
//! ```toml
//! default_registry = "registry.example.com"
//! [namespace_registries]
//! example = "localhost:5000"
//! ```
//!
//! A package `example:normalizer` lives in repository `example/normalizer`
//! of its namespace's registry. With no registry configured for it, it lives
//! in the embedded store: an OCI layout under `$PIPECTL_STORE` (default
//! `~/.local/share/pipectl/store`), `<store>/<namespace>/<name>`.

use std::path::{Path, PathBuf};

use wasm_pkg_common::config::Config;
use wasm_pkg_common::package::PackageRef;

use crate::error::RegistryError;
use crate::reference::Location;

/// The registry configuration (wkg's TOML): which registry serves each namespace.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    config: Config,
    store: PathBuf,
}

impl RegistryConfig {
    /// Reads `path`, or `$PIPECTL_CONFIG`, or wkg's global configuration
    /// when it exists; none of them is fine (everything goes to the
    /// embedded store).
    pub fn load(path: Option<&Path>) -> Result<Self, RegistryError> {
        let path = path
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("PIPECTL_CONFIG").map(PathBuf::from))
            .or_else(|| Config::global_config_path().filter(|p| p.exists()));
        let config = match path {
            Some(path) => {
                let text = pipectl_io::read_regular_to_string(
                    &path,
                    crate::limits::MAX_FILE_SIZE,
                    "registry configuration",
                )?;
                Config::from_toml(&text).map_err(|e| {
                    RegistryError::Config(invalid(&path.display().to_string(), &text, &e))
                })?
            }
            None => Config::empty(),
        };
        Ok(Self {
            config,
            store: default_store(),
        })
    }

    /// A configuration from TOML text (for tests and embedding).
    pub fn from_toml(text: &str, store: PathBuf) -> Result<Self, RegistryError> {
        Ok(Self {
            config: Config::from_toml(text)
                .map_err(|e| RegistryError::Config(invalid("the text", text, &e)))?,
            store,
        })
    }

    /// Uses `dir` as the embedded store.
    pub fn with_store(mut self, dir: PathBuf) -> Self {
        self.store = dir;
        self
    }

    /// Where package `name` (`namespace:name`) lives.
    pub fn locate(&self, name: &str) -> Result<Location, RegistryError> {
        let package: PackageRef = name
            .parse()
            .map_err(|e| RegistryError::Config(format!("`{name}` is not a package name: {e}")))?;
        let (ns, pkg) = (package.namespace().to_string(), package.name().to_string());
        Ok(match self.config.resolve_registry(&package) {
            Some(registry) => Location::Registry {
                registry: registry.to_string(),
                repository: format!("{ns}/{pkg}"),
            },
            None => Location::Layout {
                dir: self.store.join(ns).join(pkg),
            },
        })
    }
}

/// Why a configuration is invalid, naming the file and line but never
/// quoting it: the line may hold a token.
fn invalid(file: &str, text: &str, e: &wasm_pkg_common::Error) -> String {
    let span = match e {
        wasm_pkg_common::Error::InvalidConfig(inner) => inner
            .downcast_ref::<toml::de::Error>()
            .and_then(toml::de::Error::span),
        _ => None,
    };
    match span {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!(
                "`{file}` line {line} is not valid (its text is not shown: it may hold a token)"
            )
        }
        None => format!(
            "`{file}` is not a valid wkg configuration (its text is not shown: it may hold a token)"
        ),
    }
}

/// `$PIPECTL_STORE`, else `$XDG_DATA_HOME/pipectl/store`, else
/// `~/.local/share/pipectl/store`.
pub fn default_store() -> PathBuf {
    std::env::var_os("PIPECTL_STORE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_DATA_HOME").map(|d| PathBuf::from(d).join("pipectl/store"))
        })
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/pipectl/store"))
        })
        .unwrap_or_else(|| PathBuf::from(".pipectl-store"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_map_to_registries_or_the_store() {
        let c = RegistryConfig::from_toml(
            "[namespace_registries]\nexample = \"localhost:5000\"\n",
            PathBuf::from("/store"),
        )
        .unwrap();
        assert_eq!(
            c.locate("example:normalizer").unwrap(),
            Location::Registry {
                registry: "localhost:5000".into(),
                repository: "example/normalizer".into()
            }
        );
        assert_eq!(
            c.locate("other:thing").unwrap(),
            Location::Layout {
                dir: "/store/other/thing".into()
            }
        );
        assert!(c.locate("NoColon").is_err());
    }

    #[test]
    fn a_broken_configuration_is_named_by_line_never_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "default_registry = \"r.example\"\n[registry.\"r.example\".oci]\nauth = { token = \"s3cr3t-t0ken\" \n",
        )
        .unwrap();
        let e = RegistryConfig::load(Some(&path)).unwrap_err().to_string();
        assert!(!e.contains("s3cr3t"), "{e}");
        assert!(e.contains("config.toml") && e.contains("line 3"), "{e}");
    }
}
