//! The hook contract, and what kind of plugin a component is.

use std::path::Path;

use pipectl_wit::{ComponentBytes, ImportPolicy};

/// The hook contract, `pipectl:hooks@0.1.0`: what `pipectl plugin wit`
/// prints and hook authors build against.
pub const HOOKS_WIT: &str = include_str!("../../../wit/pipectl-hooks/0.1.0/hooks.wit");

/// The world a hook targets.
pub const HOOK_WORLD: &str = "pipectl:hooks/hook-plugin@0.1.0";

/// The interface a hook exports (any `0.1.x`).
pub const HOOK_INTERFACE: &str = "pipectl:hooks/hook";

/// The interface a command exports (any `0.2.x`): `wasi:cli/run`.
pub const COMMAND_INTERFACE: &str = "wasi:cli/run";

/// What a plugin is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A `pipectl:hooks/hook-plugin` component: called around commands.
    Hook,
    /// A `wasi:cli/command` component: a `pipectl <name>` subcommand.
    Command,
}

impl Kind {
    /// `hook` or `command`, as `pipectl.toml` and `plugin list` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Hook => "hook",
            Kind::Command => "command",
        }
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<Kind> {
        match name {
            "hook" => Some(Kind::Hook),
            "command" => Some(Kind::Command),
            _ => None,
        }
    }
}

/// Why a component cannot be a plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContractError {
    /// The bytes are not a valid component.
    #[error("`{file}` is not a valid component: {message}")]
    NotComponent {
        /// The file (or reference) the bytes came from.
        file: String,
        /// The validator's reason.
        message: String,
    },
    /// A component, but neither a hook nor a command.
    #[error(
        "`{file}` is neither a hook nor a command. As a hook: {}. As a command it would export \
         `wasi:cli/run@0.2.x`, which it does not",
        findings.join("; ")
    )]
    Neither {
        /// The file (or reference) the bytes came from.
        file: String,
        /// What it lacks to be a hook, one sentence each.
        findings: Vec<String>,
    },
}

/// Tells a hook from a command: a component exporting `wasi:cli/run@0.2.x`
/// is a command; one that exports `pipectl:hooks/hook@0.1.x` with the
/// contract's types is a hook. Anything else is refused, naming what it
/// lacks. Imports are not looked at here: the host refuses at load time
/// what is not granted.
pub fn classify(file: &str, bytes: &[u8]) -> Result<Kind, ContractError> {
    let not_component = |message: String| ContractError::NotComponent {
        file: file.to_string(),
        message,
    };
    let component = ComponentBytes::from_bytes(Path::new(file), bytes.to_vec())
        .map_err(|e| not_component(e.to_string()))?;
    let decoded = component
        .validate_and_decode()
        .map_err(|e| not_component(e.to_string()))?;
    let exports = decoded.export_names();
    if exports
        .iter()
        .any(|e| pipectl_io::wit_name::unversioned(e) == COMMAND_INTERFACE && e.contains("@0.2."))
    {
        return Ok(Kind::Command);
    }
    let mut resolve = wit_parser::Resolve::new();
    let package = resolve
        .push_str("hooks.wit", HOOKS_WIT)
        .expect("the shipped hook contract parses");
    let world = resolve
        .select_world(&[package], Some("hook-plugin"))
        .expect("the shipped hook contract has its world");
    let findings = pipectl_wit::check::check_world(
        &decoded,
        &resolve,
        world,
        // Imports are the host's to refuse, by grant.
        &ImportPolicy::allow(["*"]).expect("`*` is a valid pattern"),
    );
    if findings.is_empty() {
        Ok(Kind::Hook)
    } else {
        Err(ContractError::Neither {
            file: file.to_string(),
            findings: findings.into_iter().map(|f| f.message).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_parses_and_has_its_world() {
        let mut resolve = wit_parser::Resolve::new();
        let package = resolve.push_str("hooks.wit", HOOKS_WIT).unwrap();
        let world = resolve
            .select_world(&[package], Some("hook-plugin"))
            .unwrap();
        assert_eq!(pipectl_wit::load::world_name(&resolve, world), HOOK_WORLD);
    }

    #[test]
    fn a_component_with_no_exports_is_neither_naming_the_hook_interface() {
        let bytes = wat::parse_str("(component)").unwrap();
        let err = classify("empty.wasm", &bytes).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("`empty.wasm` is neither a hook nor a command"),
            "{text}"
        );
        assert!(text.contains("pipectl:hooks/hook@0.1.0"), "{text}");
        assert!(text.contains("wasi:cli/run"), "{text}");
        let err = classify("junk.wasm", b"not wasm").unwrap_err();
        assert!(matches!(err, ContractError::NotComponent { .. }), "{err}");
    }
}
