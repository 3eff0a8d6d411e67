//! A pipeline's registry stages, fetched through the `pipectl.lock` next to
//! its manifest: the one sequence `compose` and `run` share.

use std::path::Path;

use crate::{Context, FetchOptions, Lockfile, RegistryError};

/// One registry stage to fetch.
#[derive(Debug, Clone)]
pub struct PinRequest {
    /// The stage's name, for messages.
    pub stage: String,
    /// The reference text [`crate::fetch`] takes (`host/repo:tag`,
    /// `ns:name@req`).
    pub reference: String,
}

/// A registry stage, fetched and verified.
#[derive(Debug, Clone)]
pub struct PinnedStage {
    /// The component's bytes, verified against the lockfile's digests.
    pub bytes: Vec<u8>,
    /// `name@manifest-digest` (`name` as the lockfile records it), for reports.
    pub origin: String,
    /// Its lockfile entry (what [`Pinned::record`] may update, e.g. with
    /// the signature a trust policy accepted).
    pub entry: crate::LockEntry,
}

/// The stages of [`fetch_pinned`], and the lockfile with their pins.
#[derive(Debug)]
pub struct Pinned {
    /// The stages, in the order asked.
    pub stages: Vec<PinnedStage>,
    lock: Lockfile,
    before: String,
}

impl Pinned {
    /// Records `entry` (a stage's, updated) in the lockfile to save.
    pub fn record(&mut self, entry: crate::LockEntry) {
        self.lock.upsert(entry);
    }

    /// Saves the lockfile when it gained or changed an entry; call it once
    /// the stages served their purpose (a composition was written).
    pub fn save_lock(mut self) -> Result<(), RegistryError> {
        if self.lock.render() != self.before {
            self.lock.save()?;
        }
        Ok(())
    }
}

/// Why a registry stage could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// The lockfile could not be read.
    #[error(transparent)]
    Lock(Box<RegistryError>),
    /// A stage names a registry, and no registry context was given.
    #[error("stage `{stage}`: registry stages need a registry context")]
    NoContext {
        /// The stage that names a registry, as the manifest names it.
        stage: String,
    },
    /// A stage's fetch failed.
    #[error("stage `{stage}`: failed to fetch `{reference}`")]
    Fetch {
        /// The stage whose component could not be fetched, as the manifest names it.
        stage: String,
        /// The reference, credentials redacted.
        reference: String,
        /// Why the fetch or the read from the cache failed.
        #[source]
        source: Box<RegistryError>,
    },
}

/// Loads the lockfile at `lock_path` (absent: empty) and fetches each
/// request through it, verified; the lockfile gains an entry for every
/// stage it did not pin yet, saved by [`Pinned::save_lock`].
pub fn fetch_pinned(
    ctx: Option<&Context>,
    lock_path: &Path,
    requests: &[PinRequest],
    opts: FetchOptions,
) -> Result<Pinned, PinError> {
    let mut lock = Lockfile::load(lock_path).map_err(|e| PinError::Lock(Box::new(e)))?;
    let before = lock.render();
    let mut stages = Vec::with_capacity(requests.len());
    for req in requests {
        let Some(ctx) = ctx else {
            return Err(PinError::NoContext {
                stage: req.stage.clone(),
            });
        };
        let fetched =
            crate::fetch(ctx, &req.reference, &lock, opts).map_err(|source| PinError::Fetch {
                stage: req.stage.clone(),
                reference: crate::reference::redact(&req.reference),
                source: Box::new(source),
            })?;
        let origin = format!("{}@{}", fetched.entry.name, fetched.entry.manifest);
        let bytes = fetched.read().map_err(|source| PinError::Fetch {
            stage: req.stage.clone(),
            reference: crate::reference::redact(&req.reference),
            source: Box::new(source),
        })?;
        lock.upsert(fetched.entry.clone());
        stages.push(PinnedStage {
            bytes,
            origin,
            entry: fetched.entry,
        });
    }
    Ok(Pinned {
        stages,
        lock,
        before,
    })
}
