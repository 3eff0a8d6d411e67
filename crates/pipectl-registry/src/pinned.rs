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

/// The most registry stages fetched at once.
const PARALLEL_FETCHES: usize = 4;

type Fetch = Result<(crate::Fetched, Vec<u8>), RegistryError>;

/// Fetches `req` through `lock` and reads its bytes.
fn fetch_one(ctx: &Context, req: &PinRequest, lock: &Lockfile, opts: FetchOptions) -> Fetch {
    let fetched = crate::fetch(ctx, &req.reference, lock, opts)?;
    let bytes = fetched.read()?;
    Ok((fetched, bytes))
}

/// Fetches and reads the first request for each reference, up to
/// [`PARALLEL_FETCHES`] at a time, through `lock` as it is; the results in
/// the requests' order. `None` for a request left to fetch in order: a
/// reference already requested (it goes through the lockfile entry its
/// first request pins, as if fetched one after the other), or one after
/// a request that failed (the first failure stops the rest).
fn fetch_all(
    ctx: &Context,
    requests: &[PinRequest],
    lock: &Lockfile,
    opts: FetchOptions,
) -> Vec<Option<Fetch>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let first: Vec<bool> = requests
        .iter()
        .enumerate()
        .map(|(i, r)| !requests[..i].iter().any(|e| e.reference == r.reference))
        .collect();
    let next = AtomicUsize::new(0);
    let failed_at = AtomicUsize::new(usize::MAX);
    let slots: Vec<std::sync::OnceLock<Fetch>> = requests
        .iter()
        .map(|_| std::sync::OnceLock::new())
        .collect();
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(req) = requests.get(i) else { break };
            if !first[i] || i > failed_at.load(Ordering::Relaxed) {
                continue;
            }
            let result = fetch_one(ctx, req, lock, opts);
            if result.is_err() {
                failed_at.fetch_min(i, Ordering::Relaxed);
            }
            let _ = slots[i].set(result);
        }
    };
    let workers = first.iter().filter(|f| **f).count().min(PARALLEL_FETCHES);
    if workers <= 1 {
        work();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(work);
            }
        });
    }
    slots
        .into_iter()
        .map(std::sync::OnceLock::into_inner)
        .collect()
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
    let Some(ctx) = ctx else {
        return match requests.first() {
            Some(req) => Err(PinError::NoContext {
                stage: req.stage.clone(),
            }),
            None => Ok(Pinned {
                stages: Vec::new(),
                lock,
                before,
            }),
        };
    };
    // The stages are fetched at once (a few at a time), each through the
    // lockfile as it was; the first failure in the manifest's order wins.
    let results = fetch_all(ctx, requests, &lock, opts);
    let mut stages = Vec::with_capacity(requests.len());
    for (req, result) in requests.iter().zip(results) {
        let fetch_error = |source| PinError::Fetch {
            stage: req.stage.clone(),
            reference: crate::reference::redact(&req.reference),
            source: Box::new(source),
        };
        let result = result.unwrap_or_else(|| fetch_one(ctx, req, &lock, opts));
        let (fetched, bytes) = result.map_err(fetch_error)?;
        let origin = format!("{}@{}", fetched.entry.name, fetched.entry.manifest);
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
