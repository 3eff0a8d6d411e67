//! What publish and fetch want the user to know without failing: a request
//! sent again, a cache entry ignored. The library never prints; it hands
//! each notice, as it happens, to the caller's sink.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Something worth telling the user.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// A request failed for a transient reason and is sent again.
    Retry {
        /// The registry the request went to, `host[:port]`.
        registry: String,
        /// What went wrong (cleaned, one line).
        reason: String,
        /// The wait before the next try.
        wait: Duration,
        /// Which retry this is, counting from 1.
        attempt: u32,
        /// How many retries are allowed.
        retries: u32,
    },
    /// A cache entry was not trusted and is treated as missing.
    CacheEntryIgnored {
        /// The cache file or folder that was not trusted.
        path: PathBuf,
        /// Why it was not trusted: a bad seal, an unsafe folder, an unreadable key.
        reason: String,
    },
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notice::Retry {
                registry,
                reason,
                wait,
                attempt,
                retries,
            } => write!(
                f,
                "registry `{registry}`: {reason}; trying again in {} ms ({attempt}/{retries})",
                wait.as_millis()
            ),
            Notice::CacheEntryIgnored { path, reason } => {
                write!(f, "cache entry {} ignored: {reason}", path.display())
            }
        }
    }
}

/// A function notices are handed to.
type Sink = Arc<dyn Fn(&Notice) + Send + Sync>;

/// Where notices go: a function the caller gives (the CLI prints them to
/// stderr), or nowhere.
#[derive(Clone, Default)]
pub struct Notices {
    sink: Option<Sink>,
}

impl std::fmt::Debug for Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.sink.is_some() {
            "Notices(sink)"
        } else {
            "Notices(none)"
        })
    }
}

impl Notices {
    /// Notices handed to `sink`.
    pub fn new(sink: impl Fn(&Notice) + Send + Sync + 'static) -> Self {
        Self {
            sink: Some(Arc::new(sink)),
        }
    }

    /// No sink: notices are dropped, nothing is shown.
    pub fn none() -> Self {
        Self::default()
    }

    /// Hands `notice` to the sink.
    pub fn emit(&self, notice: Notice) {
        if let Some(sink) = &self.sink {
            sink(&notice);
        }
    }
}
