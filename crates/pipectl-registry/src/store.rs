//! What publish and fetch need from a place that holds artifacts: an OCI
//! registry ([`crate::remote::RemoteStore`]) or an image layout
//! ([`crate::layout::LayoutStore`]).

use indicatif::{ProgressBar, ProgressStyle};

use crate::artifact::{Artifact, Descriptor};
use crate::error::RegistryError;

/// A place that holds artifacts. Every method verifies what it returns.
pub trait Store {
    /// `host/repo` or `oci-layout:<dir>`, for messages.
    fn describe(&self) -> String;
    /// Every tag.
    fn tags(&mut self) -> Result<Vec<String>, RegistryError>;
    /// The manifest a tag names and its digest; `None` when the tag does not
    /// exist.
    fn manifest_for_tag(&mut self, tag: &str) -> Result<Option<(Vec<u8>, String)>, RegistryError>;
    /// The manifest with this digest, verified.
    fn manifest_by_digest(&mut self, digest: &str) -> Result<Vec<u8>, RegistryError>;
    /// A blob, verified against the descriptor's digest and size.
    fn blob(&mut self, desc: &Descriptor, progress: &Progress) -> Result<Vec<u8>, RegistryError>;
    /// Pushes an artifact under `tag`, provided the tag still points where
    /// the caller saw it: at manifest `expected`, or nowhere (`None`).
    /// Otherwise another publish got there first and nothing is tagged.
    fn push(
        &mut self,
        artifact: &Artifact,
        tag: &str,
        expected: Option<&str>,
        progress: &Progress,
    ) -> Result<(), RegistryError>;
}

/// Progress reporting for transfers: a bar on a terminal, nothing
/// otherwise.
pub struct Progress {
    enabled: bool,
}

impl Progress {
    /// Shows bars only when `enabled` (the caller checks for a terminal).
    pub fn new(enabled: bool) -> Self {
        Self { enabled }
    }

    /// A bar for a transfer of `len` bytes named `what`.
    pub fn bar(&self, what: &str, len: u64) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        bar
    }
}

/// Whether `tag` may be pointed at manifest `ours`, given where it points
/// `now` and where the publisher saw it (`expected`): `Ok(true)` when it
/// already points at `ours` (a concurrent publish of the same bytes),
/// `Ok(false)` when it is still where it was seen, an error when it moved.
pub(crate) fn check_tag(
    reference: &str,
    now: Option<&str>,
    expected: Option<&str>,
    ours: &str,
) -> Result<bool, RegistryError> {
    if now == Some(ours) {
        return Ok(true);
    }
    if now != expected {
        return Err(RegistryError::Refused(format!(
            "`{reference}` changed while publishing (it now points at {}); another publish got \
             there first: check what it holds, then publish again",
            now.unwrap_or("nothing")
        )));
    }
    Ok(false)
}
