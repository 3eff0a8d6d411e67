//! Values that become one file name: versions, tags, stage names, output
//! names built from what a registry or a lockfile says.

/// Why a value cannot be one file name.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{field} `{value}` cannot be used as a file name: {reason}")]
#[non_exhaustive]
pub struct NameError {
    /// What the value is (`version`, `tag`, `stage name`, ...).
    pub field: String,
    /// The value, cleaned and cut for display.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// The longest name most file systems take, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// Checks that `value` (named `field` in messages) is one safe path
/// component: not empty, not `.` or `..`, no `/`, `\`, NUL or control
/// characters, not starting with `-`, at most 255 bytes.
pub fn check_component(field: &str, value: &str) -> Result<(), NameError> {
    let err = |reason| NameError {
        field: field.to_string(),
        value: crate::text::clean(value, 100),
        reason,
    };
    if value.is_empty() {
        return Err(err("it is empty"));
    }
    if value == "." || value == ".." {
        return Err(err("it names a folder, not a file"));
    }
    if value.contains(['/', '\\']) {
        return Err(err("it contains a path separator"));
    }
    if value.chars().any(char::is_control) {
        return Err(err("it contains control characters"));
    }
    if value.starts_with('-') {
        return Err(err("it starts with `-`"));
    }
    if value.len() > MAX_NAME_BYTES {
        return Err(err("it is longer than 255 bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_could_leave_its_folder() {
        for ok in ["0.1.0", "1.0.0-rc.1+build.5", "normalizer", "v1_x"] {
            check_component("version", ok).unwrap();
        }
        for bad in [
            "",
            ".",
            "..",
            "x/../../f",
            "a\\b",
            "a\0b",
            "a\nb",
            "-rf",
            &"x".repeat(256),
        ] {
            let e = check_component("version", bad).unwrap_err();
            assert!(e.to_string().starts_with("version `"), "{e}");
        }
    }
}
