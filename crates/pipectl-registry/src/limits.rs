//! How much a registry, a layout or a cache can make pipectl read, and for
//! how long: everything they send is read against these caps.

use std::time::Duration;

/// One mebibyte (2^20 = 1,048,576 bytes), the unit the caps are given in.
pub const MIB: u64 = 1 << 20;

/// The most pipectl reads of a lockfile or a registry configuration file.
pub const MAX_FILE_SIZE: u64 = 4 * MIB;

/// Caps on what publish and fetch read, and an overall deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest manifest, image index (`index.json`), config or page of
    /// tags accepted, from a registry, a layout or the cache.
    pub max_manifest_size: u64,
    /// The largest layer accepted: a manifest declaring more is refused
    /// before any byte of the layer is downloaded.
    pub max_blob_size: u64,
    /// How long one publish or fetch may take, retries included.
    pub timeout: Duration,
    /// The most pages of tags read from a registry.
    pub max_tag_pages: u32,
    /// The most tags read from a registry.
    pub max_tags: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_manifest_size: 4 * MIB,
            max_blob_size: 1024 * MIB,
            timeout: Duration::from_secs(300),
            max_tag_pages: 100,
            max_tags: 100_000,
        }
    }
}
