//! What publish and fetch need from a place that holds artifacts: an OCI
//! registry ([`crate::remote::RemoteStore`]) or an image layout
//! ([`crate::layout::LayoutStore`]).

use std::io::Write as _;
use std::path::Path;

use pipectl_io::Digest;
use sha2::Digest as _;

use crate::artifact::{Artifact, Descriptor, VerifyError};
use crate::error::RegistryError;
use crate::notice::{Notice, Notices};

/// A place that holds artifacts. Every method verifies what it returns.
pub trait Store {
    /// `host/repo` or `oci-layout:<dir>`, for messages.
    fn describe(&self) -> String;
    /// Every tag in the repository or layout (a registry's pages, sorted).
    fn tags(&mut self) -> Result<Vec<String>, RegistryError>;
    /// The manifest a tag names and its digest; `None` when the tag does not
    /// exist.
    fn manifest_for_tag(&mut self, tag: &str) -> Result<Option<(Vec<u8>, Digest)>, RegistryError>;
    /// The manifest with this digest, verified.
    fn manifest_by_digest(&mut self, digest: &Digest) -> Result<Vec<u8>, RegistryError>;
    /// A blob, streamed into a temporary file in `tmp_dir` (hashed while
    /// it arrives, never held whole) and verified against the descriptor's
    /// digest and size; a longer body is cut off and refused.
    fn blob(
        &mut self,
        desc: &Descriptor,
        tmp_dir: &Path,
        progress: &Progress,
    ) -> Result<tempfile::NamedTempFile, RegistryError>;
    /// Pushes an artifact under `tag`, provided the tag still points where
    /// the caller saw it: at manifest `expected`, or nowhere (`None`).
    /// Otherwise another publish got there first and nothing is tagged.
    fn push(
        &mut self,
        artifact: &Artifact,
        tag: &str,
        expected: Option<&Digest>,
        progress: &Progress,
    ) -> Result<(), RegistryError>;
    /// Pushes a referrer (its blobs, then its manifest) and lists it among
    /// its subject's referrers, keeping every other one; a referrer already
    /// there is left as it is.
    fn push_referrer(
        &mut self,
        referrer: &crate::referrers::Referrer,
        progress: &Progress,
    ) -> Result<(), RegistryError>;
    /// The referrers of the manifest `subject` (at most
    /// [`crate::referrers::MAX_REFERRERS`]).
    fn referrers(
        &mut self,
        subject: &Digest,
    ) -> Result<Vec<crate::referrers::ReferrerDescriptor>, RegistryError>;
}

/// A blob being written to a temporary file and hashed as it arrives.
pub(crate) struct BlobWriter<'a> {
    desc: &'a Descriptor,
    reference: String,
    file: tempfile::NamedTempFile,
    hasher: sha2::Sha256,
    written: u64,
}

impl<'a> BlobWriter<'a> {
    /// A writer for `desc` (shown as `reference`) in `tmp_dir`.
    pub(crate) fn new(
        desc: &'a Descriptor,
        reference: String,
        tmp_dir: &Path,
    ) -> Result<Self, RegistryError> {
        let file = tempfile::Builder::new()
            .prefix(".pipectl-download-")
            .tempfile_in(tmp_dir)
            .map_err(RegistryError::io(
                "failed to create a temporary file in",
                tmp_dir,
            ))?;
        Ok(Self {
            desc,
            reference,
            file,
            hasher: sha2::Sha256::new(),
            written: 0,
        })
    }

    /// How many bytes arrived so far.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Appends `chunk`; more than the declared size is refused.
    pub(crate) fn write(&mut self, chunk: &[u8]) -> Result<(), RegistryError> {
        self.written += chunk.len() as u64;
        if self.written > self.desc.size {
            return Err(RegistryError::Verify {
                reference: self.reference.clone(),
                reason: VerifyError::TooLong {
                    what: "the layer".to_string(),
                    expected: self.desc.size,
                },
            });
        }
        self.hasher.update(chunk);
        let path = self.file.path().to_owned();
        self.file
            .write_all(chunk)
            .map_err(RegistryError::io("failed to write", path))
    }

    /// Starts over (a retried download).
    pub(crate) fn restart(&mut self) -> Result<(), RegistryError> {
        use std::io::Seek as _;
        let path = self.file.path().to_owned();
        self.file
            .as_file_mut()
            .set_len(0)
            .and_then(|()| self.file.rewind())
            .map_err(RegistryError::io("failed to write", path))?;
        self.hasher = sha2::Sha256::new();
        self.written = 0;
        Ok(())
    }

    /// The verified file: exactly the declared size, and the declared
    /// digest.
    pub(crate) fn finish(self) -> Result<tempfile::NamedTempFile, RegistryError> {
        let verify = |reason| RegistryError::Verify {
            reference: self.reference.clone(),
            reason,
        };
        if self.written != self.desc.size {
            return Err(verify(VerifyError::Size {
                what: "layer".to_string(),
                expected: self.desc.size,
                actual: self.written,
            }));
        }
        let actual = Digest::from_hasher(self.hasher.clone());
        if actual != self.desc.digest {
            return Err(verify(VerifyError::Digest {
                what: "layer".to_string(),
                expected: self.desc.digest.clone(),
                actual,
            }));
        }
        Ok(self.file)
    }
}

/// Someone shown transfers as they go (the binary draws bars); the
/// library never draws.
pub trait TransferObserver: Send + Sync {
    /// A transfer of `len` bytes named `what` (`fetch`, `config`, `layer`,
    /// `manifest`) starts.
    fn start(&self, what: &str, len: u64) -> Box<dyn Transfer>;
}

/// One transfer as it goes.
pub trait Transfer: Send + Sync {
    /// `bytes` have gone so far (back to 0 when a retry starts over).
    fn set_position(&self, bytes: u64);
    /// It ended, either way.
    fn finish(&self);
}

/// A transfer nobody watches.
struct Unwatched;

impl Transfer for Unwatched {
    fn set_position(&self, _: u64) {}
    fn finish(&self) {}
}

/// What the caller is told while an operation runs: transfers, to its
/// [`TransferObserver`], and [`Notice`]s, to its sink, as they happen.
pub struct Progress {
    enabled: bool,
    observer: Option<std::sync::Arc<dyn TransferObserver>>,
    notices: Notices,
}

impl Progress {
    /// Reports transfers only when `enabled` (the caller checks for a
    /// terminal) and an observer is given ([`Self::with_transfers`]);
    /// notices are dropped until [`Self::with_notices`].
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            observer: None,
            notices: Notices::none(),
        }
    }

    /// Shows transfers to `observer`.
    pub fn with_transfers(mut self, observer: std::sync::Arc<dyn TransferObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Hands notices to `notices`.
    pub fn with_notices(mut self, notices: Notices) -> Self {
        self.notices = notices;
        self
    }

    /// Where notices go: the sink given to [`Self::with_notices`], or nowhere.
    pub fn notices(&self) -> &Notices {
        &self.notices
    }

    /// Tells the user `notice`.
    pub fn notify(&self, notice: Notice) {
        self.notices.emit(notice);
    }

    /// A transfer of `len` bytes named `what` starts.
    pub fn bar(&self, what: &str, len: u64) -> Box<dyn Transfer> {
        match &self.observer {
            Some(observer) if self.enabled => observer.start(what, len),
            _ => Box::new(Unwatched),
        }
    }
}

/// Whether `tag` may be pointed at manifest `ours`, given where it points
/// `now` and where the publisher saw it (`expected`): `Ok(true)` when it
/// already points at `ours` (a concurrent publish of the same bytes),
/// `Ok(false)` when it is still where it was seen, an error when it moved.
pub(crate) fn check_tag(
    reference: &str,
    now: Option<&Digest>,
    expected: Option<&Digest>,
    ours: &Digest,
) -> Result<bool, RegistryError> {
    if now == Some(ours) {
        return Ok(true);
    }
    if now != expected {
        return Err(RegistryError::Refused(format!(
            "`{reference}` changed while publishing (it now points at {}); another publish got \
             there first: check what it holds, then publish again",
            now.map_or_else(|| "nothing".to_string(), Digest::to_string)
        )));
    }
    Ok(false)
}
