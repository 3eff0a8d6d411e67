//! Validated types and careful file IO at pipectl's edges.
//!
//! Everything pipectl reads from a registry, a lockfile, a manifest, a
//! cache folder or a plugin passes through here before it becomes a path,
//! a file or terminal text:
//!
//! - [`Digest`]: `sha256:<64 lowercase hex>`, parsed, never a raw string.
//! - [`name::check_component`]: a value that becomes one file name.
//! - [`file::read_regular`]: regular files only, with a size cap (no FIFO,
//!   device or directory is ever opened for reading).
//! - [`file::write_atomic`]: atomic writes that honour the umask, keep an
//!   existing file's mode and refuse to replace a symlink.
//! - [`seal::SealKey`]: an HMAC key kept outside any cache, authenticating
//!   what pipectl itself wrote into a cache.
//! - [`text::clean`]: untrusted text made safe for a terminal.

pub mod digest;
pub mod file;
pub mod hint;
pub mod name;
pub mod seal;
pub mod text;
pub mod wit_name;

pub use digest::{Digest, DigestError};
pub use file::{
    ReadError, WriteError, WriteOptions, read_regular, read_regular_to_string, write_atomic,
    write_atomic_with,
};
pub use hint::Hint;
pub use name::NameError;
pub use seal::{SealKey, config_dir};
