//! Loads WIT worlds and checks components against them.
//!
//! - [`component`]: read a file as a component (binary or WAT), classify what
//!   is not one, validate it and decode its WIT.
//! - [`load`]: load WIT packages from directories, files or encoded packages
//!   and find worlds in them by (versioned) name.
//! - [`check`]: compare a component with worlds; every problem is a
//!   [`check::Finding`], all of them reported at once.
//! - [`policy`]: the deny-by-default import policy.
//! - [`read`]: read files as regular files only, with size caps, and WIT
//!   directories through them.
//! - [`source`]: load one side of a WIT diff (directory, file, `.wasm`,
//!   `git:<rev>:<path>`).
//! - `targets`: the check's fast path, one validation of a
//!   `wit_component::targets`-style wrapper.
//! - [`types`]: print WIT types and compare them across resolves.

pub mod check;
pub mod component;
pub mod load;
pub mod name;
pub mod policy;
pub mod read;
pub mod source;
mod targets;
pub mod types;

pub use check::{CheckReport, Finding, FindingKind, Target};
pub use component::{ComponentBytes, ComponentError, DecodedComponent};
pub use load::{WitError, WitSet};
pub use name::{NameError, QualifiedName};
pub use policy::{ImportPolicy, PolicyError};
pub use read::FileError;
