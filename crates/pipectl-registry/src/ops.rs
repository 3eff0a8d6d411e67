//! Publishing and fetching, over any [`Store`], with the cache and the
//! lockfile.
//!
//! Fetching verifies everything before it is used: a layer is streamed
//! into a temporary file in the cache folder, hashed on the way, and
//! renamed into the cache only once its digest, size and shape are checked
//! and `--locked` allows the result. A failed fetch therefore leaves the
//! cache as it was, and the caller writes the output file and the lockfile
//! only on success. Every operation ends by its deadline
//! ([`Limits::timeout`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use pipectl_io::Digest;
use semver::Version;

use crate::artifact::{self, Artifact, ComponentInfo, annotations, parse_manifest};
use crate::auth::CredentialSources;
use crate::cache::Cache;
use crate::config::RegistryConfig;
use crate::error::RegistryError;
use crate::layout::LayoutStore;
use crate::limits::Limits;
use crate::lock::{LockEntry, Lockfile};
use crate::reference::{Location, Parsed, Reference, Selector, parse};
use crate::remote::{RemoteStore, Transport};
use crate::store::{Progress, Store};

/// Everything publish and fetch need besides their arguments.
pub struct Context {
    /// Maps `namespace:name` packages to registries, and names the embedded store.
    pub config: RegistryConfig,
    /// The cache of verified blobs and of the digests fetched tags pointed to.
    pub cache: Cache,
    /// Where credentials come from.
    pub credentials: CredentialSources,
    /// Plain-HTTP allowances, retries, caps and the deadline.
    pub transport: Transport,
    /// Progress bars and notices.
    pub progress: Progress,
}

/// A reference, resolved: where and which, plus the name the lockfile uses.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The parsed reference, package names resolved to their location.
    pub reference: Reference,
    /// `host/repo`, `oci-layout:<dir>` or `ns:name`.
    pub name: String,
}

impl Context {
    /// Parses `text` and resolves package names to locations.
    pub fn resolve(&self, text: &str, allow_requirement: bool) -> Result<Resolved, RegistryError> {
        Ok(match parse(text, allow_requirement)? {
            Parsed::Direct(reference) => Resolved {
                name: reference.location.display(),
                reference,
            },
            Parsed::Package { name, selector } => Resolved {
                reference: Reference {
                    location: self.config.locate(&name)?,
                    selector,
                    package: Some(name.clone()),
                },
                name,
            },
        })
    }

    /// Makes `reference`'s registry the one command-line and unscoped
    /// environment credentials are for, unless `--registry` or
    /// `PIPECTL_REGISTRY_HOST` names one. Only for a reference the operator
    /// typed, never for one a manifest names.
    pub fn scope_credentials_to(&mut self, reference: &str) {
        if self.credentials.scope.is_some() {
            return;
        }
        if let Ok(resolved) = self.resolve(reference, true)
            && let Location::Registry { registry, .. } = resolved.reference.location
        {
            self.credentials.scope = Some(registry);
        }
    }

    /// The caps on what is read.
    pub fn limits(&self) -> Limits {
        self.transport.limits
    }

    /// Opens the store at `location`, for an operation that must end by
    /// `deadline`.
    pub fn open(
        &self,
        location: &Location,
        deadline: Instant,
    ) -> Result<Box<dyn Store>, RegistryError> {
        Ok(match location {
            Location::Layout { dir } => {
                Box::new(LayoutStore::with_limits(dir.clone(), self.limits()))
            }
            Location::Registry {
                registry,
                repository,
            } => Box::new(RemoteStore::new(
                registry,
                repository,
                self.credentials.for_registry(registry),
                &self.transport,
                deadline,
                self.progress.notices().clone(),
            )?),
        })
    }

    pub(crate) fn deadline(&self) -> Instant {
        Instant::now() + self.limits().timeout
    }
}

/// A component to publish and the reference to publish it under.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    /// The component's bytes; anything but a component is refused.
    pub bytes: Vec<u8>,
    /// Its file name (the layer's title).
    pub file_name: String,
    /// Where: `host/repo:tag`, `oci-layout:<dir>:tag` or `ns:name@version`.
    pub reference: String,
    /// Manifest annotations (`org.opencontainers.image.*`); the version and
    /// creation time are filled in when missing.
    pub annotations: BTreeMap<String, String>,
    /// The world it targets, for the config.
    pub world: Option<String>,
    /// Replace a version that holds different bytes.
    pub force: bool,
}

/// How publish ended for the tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishStatus {
    /// The tag did not exist and now holds the component.
    Published,
    /// The version already held these bytes: nothing was pushed.
    Unchanged,
    /// The version held other bytes and `--force` replaced them.
    Replaced,
}

/// The result of a publish.
#[derive(Debug, Clone)]
pub struct PublishReport {
    /// Where it was published: `host/repo:tag` or `oci-layout:<dir>:tag`.
    pub reference: String,
    /// The tag published to: the semver version in the reference.
    pub version: String,
    /// Whether the tag was new, already held these bytes, or was replaced.
    pub status: PublishStatus,
    /// The manifest digest now under the tag.
    pub manifest: Digest,
    /// The digest of the component layer, `sha256:<hex>`.
    pub layer: Digest,
    /// The component layer's size in bytes.
    pub size: u64,
}

/// Publishes a component under a semver tag; a tag with other bytes needs `force`.
pub fn publish(ctx: &Context, req: PublishRequest) -> Result<PublishReport, RegistryError> {
    let resolved = ctx.resolve(&req.reference, false)?;
    let version = match &resolved.reference.selector {
        Selector::Tag(v) => v.clone(),
        Selector::Digest(_) | Selector::Requirement(_) => {
            return Err(RegistryError::Refused(format!(
                "`{}`: publish needs a semver tag, e.g. `{}:0.1.0`",
                req.reference, resolved.name
            )));
        }
    };
    // Only components: describe their imports and exports in the config.
    let component =
        pipectl_wit::ComponentBytes::from_bytes(std::path::Path::new(&req.file_name), req.bytes)?;
    let decoded = component.decode()?;
    let info = ComponentInfo {
        exports: decoded.export_names(),
        imports: decoded.import_names(),
        target: req.world.clone(),
    };
    let mut ann = req.annotations.clone();
    ann.insert(annotations::VERSION.to_string(), version.to_string());
    let created = ann
        .entry(annotations::CREATED.to_string())
        .or_insert_with(artifact::now_rfc3339)
        .clone();
    let artifact = Artifact::build(component.bytes, &req.file_name, info, &created, ann);

    let mut store = ctx.open(&resolved.reference.location, ctx.deadline())?;
    let tag = version.to_string();
    let mut status = PublishStatus::Published;
    let mut expected = None;
    if let Some((bytes, digest)) = store.manifest_for_tag(&tag)? {
        let existing = parse_manifest(&bytes).map_err(|source| RegistryError::Verify {
            reference: format!("{}:{tag}", store.describe()),
            reason: source,
        })?;
        if existing.layers[0].digest == *artifact.layer_digest() {
            return Ok(PublishReport {
                reference: format!("{}:{tag}", store.describe()),
                version: tag,
                status: PublishStatus::Unchanged,
                manifest: digest,
                layer: existing.layers[0].digest.clone(),
                size: existing.layers[0].size,
            });
        }
        if !req.force {
            return Err(RegistryError::Exists {
                reference: format!("{}:{tag}", store.describe()),
                layer: existing.layers[0].digest.clone(),
            });
        }
        status = PublishStatus::Replaced;
        expected = Some(digest);
    }
    store.push(&artifact, &tag, expected.as_ref(), &ctx.progress)?;
    Ok(PublishReport {
        reference: format!("{}:{tag}", store.describe()),
        version: tag,
        status,
        manifest: artifact.manifest_digest.clone(),
        layer: artifact.layer_digest().clone(),
        size: artifact.layer.len() as u64,
    })
}

/// The fetch modes: cache only (`--offline`), lockfile unchanged (`--locked`).
#[derive(Debug, Clone, Copy, Default)]
pub struct FetchOptions {
    /// Use only the cache (and the lockfile); no network.
    pub offline: bool,
    /// Fail when the lockfile would change.
    pub locked: bool,
}

/// A fetched, verified component, kept in the cache: [`Fetched::read`]
/// takes it into memory, [`Fetched::copy_to`] streams it to a file.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The verified layer in the cache.
    pub blob: PathBuf,
    /// The entry that pins it in the lockfile: name, requirement, digests, size.
    pub entry: LockEntry,
    /// Whether the layer came from the cache.
    pub from_cache: bool,
    /// Whether the lockfile gains or changes an entry.
    pub lock_changed: bool,
    /// The layer file's identity when it was verified: a reader that finds
    /// the same identity reads the verified bytes, and need not hash them.
    identity: Option<Vec<u8>>,
}

/// The requirement text a lockfile records for a selector.
fn requirement(selector: &Selector) -> String {
    match selector {
        Selector::Tag(v) => format!("={v}"),
        Selector::Digest(d) => d.to_string(),
        Selector::Requirement(r) => r.to_string(),
    }
}

/// Fetches `reference`, through `lock` when it pins it.
pub fn fetch(
    ctx: &Context,
    reference: &str,
    lock: &Lockfile,
    opts: FetchOptions,
) -> Result<Fetched, RegistryError> {
    let resolved = ctx.resolve(reference, true)?;
    fetch_resolved(ctx, &resolved, lock, opts)
}

/// The manifest's layer, refused before any byte of it moves when it is
/// larger than allowed or is not the layer the lockfile pinned.
fn checked_layer(
    manifest: &artifact::Manifest,
    locked: Option<&LockEntry>,
    lock: &Lockfile,
    max_blob_size: u64,
    shown: &str,
) -> Result<artifact::Descriptor, RegistryError> {
    let layer = manifest.layers[0].clone();
    if layer.size > max_blob_size {
        return Err(RegistryError::TooLarge {
            reference: shown.to_string(),
            what: "the layer".to_string(),
            detail: format!("the manifest declares {} bytes", layer.size),
            max: max_blob_size,
            hint: Some(pipectl_io::Hint::MaxBlobSize),
        });
    }
    if let Some(entry) = locked
        && entry.layer != layer.digest
    {
        return Err(RegistryError::Lock {
            path: lock.path().to_owned(),
            message: format!(
                "{shown}: the manifest {} names layer {}, the lockfile says {}",
                entry.manifest, layer.digest, entry.layer
            ),
        });
    }
    Ok(layer)
}

/// `--locked`, and the lockfile would gain or change `entry`.
fn locked_drift(lock: &Lockfile, locked: Option<&LockEntry>, entry: &LockEntry) -> RegistryError {
    RegistryError::LockedDrift {
        path: lock.path().to_owned(),
        message: format!(
            "{}: the lockfile would change ({}), and it is locked",
            entry.name,
            match locked {
                None => "a new entry".to_string(),
                Some(old) => format!("{} -> {}", old.manifest, entry.manifest),
            }
        ),
    }
}

/// [`fetch`], for a reference already resolved.
pub fn fetch_resolved(
    ctx: &Context,
    resolved: &Resolved,
    lock: &Lockfile,
    opts: FetchOptions,
) -> Result<Fetched, RegistryError> {
    let limits = ctx.limits();
    let notices = ctx.progress.notices();
    let location = &resolved.reference.location;
    let req_text = requirement(&resolved.reference.selector);
    let locked = lock.find(&resolved.name, &req_text).cloned();
    let shown = format!("{} ({req_text})", resolved.name);
    let mut store = LazyStore {
        store: None,
        offline: opts.offline,
        shown: shown.clone(),
        deadline: ctx.deadline(),
    };

    // 1. The manifest: pinned by the lockfile, or resolved now.
    let (manifest_bytes, manifest_digest, resolved_tag) = fetch_manifest(
        ctx,
        &mut store,
        resolved,
        locked.as_ref(),
        lock,
        opts,
        &shown,
    )?;
    let manifest = parse_manifest(&manifest_bytes).map_err(|source| RegistryError::Verify {
        reference: shown.clone(),
        reason: source,
    })?;
    let layer = checked_layer(
        &manifest,
        locked.as_ref(),
        lock,
        limits.max_blob_size,
        &shown,
    )?;
    let version = entry_version(resolved_tag.as_ref(), locked.as_ref(), &manifest, &shown)?;

    // 2. The layer: from the cache, else streamed from the store into a
    // temporary file in the cache folder; verified either way.
    let download = fetch_layer(ctx, &mut store, location, &layer, &shown)?;
    let from_cache = matches!(download, Layer::Cached(..));

    // 3. The lockfile entry; with --locked it must not change. The
    // signature a policy accepted for this manifest stays recorded (the
    // caller, which checks signatures, updates it).
    let same = locked.as_ref().filter(|l| l.manifest == manifest_digest);
    let entry = LockEntry {
        signature: same.and_then(|l| l.signature.clone()),
        signer: same.and_then(|l| l.signer.clone()),
        name: resolved.name.clone(),
        registry: location.registry(),
        repository: location.repository(),
        requirement: req_text,
        version: version.clone(),
        manifest: manifest_digest.clone(),
        layer: layer.digest.clone(),
        size: layer.size,
    };
    let lock_changed = locked.as_ref() != Some(&entry);
    if opts.locked && lock_changed {
        return Err(locked_drift(lock, locked.as_ref(), &entry));
    }

    // 4. Everything verified: now the cache. The layer is not hashed
    // again: it was hashed as it was written (then renamed into place and
    // sealed), or its seal verified just now; every reader of it
    // (`Fetched::read`, `copy_to`) checks its file identity, and hashes it
    // when that changed.
    ctx.cache.put_blob(&manifest_digest, &manifest_bytes)?;
    let (blob, identity) = match download {
        Layer::Cached(path, identity) => (path, Some(identity)),
        Layer::Downloaded(file) => ctx.cache.put_blob_file(&layer.digest, file)?,
    };
    // Only a tag this fetch resolved is recorded as pointing here.
    if let Some(tag) = &resolved_tag {
        ctx.cache
            .put_ref(location, tag, &manifest_digest, notices)?;
    }
    Ok(Fetched {
        blob,
        entry,
        from_cache,
        lock_changed,
        identity,
    })
}

impl Fetched {
    fn changed(&self) -> RegistryError {
        RegistryError::Verify {
            reference: self.entry.name.clone(),
            reason: artifact::VerifyError::Shape(format!(
                "the cached layer {} changed after it was verified",
                self.blob.display()
            )),
        }
    }

    /// Opens the cached layer: the file, and whether it is still the file
    /// verified by the fetch (same identity), so reading it needs no hash.
    fn open(&self) -> Result<(std::fs::File, bool), pipectl_io::file::ReadError> {
        let (file, _) = pipectl_io::file::open_regular(&self.blob, "cache entry")?;
        let same = self.unchanged(&file);
        Ok((file, same))
    }

    /// Whether `file` has the identity the fetch verified.
    fn unchanged(&self, file: &std::fs::File) -> bool {
        match (&self.identity, file.metadata()) {
            (Some(identity), Ok(meta)) => crate::cache::blob_identity(&meta) == *identity,
            _ => false,
        }
    }

    /// The component's bytes, read from the cache: the file the fetch
    /// verified (same identity before and after reading), else checked
    /// against the layer digest again.
    pub fn read(&self) -> Result<Vec<u8>, RegistryError> {
        let (mut file, same) = self.open()?;
        let mut bytes = Vec::with_capacity(usize::try_from(self.entry.size).unwrap_or(0));
        std::io::Read::read_to_end(
            &mut std::io::Read::take(&mut file, self.entry.size + 1),
            &mut bytes,
        )
        .map_err(RegistryError::io(
            "failed to read the cache entry",
            &self.blob,
        ))?;
        let same = same && self.unchanged(&file);
        let intact =
            bytes.len() as u64 == self.entry.size && (same || self.entry.layer.matches(&bytes));
        if !intact {
            return Err(self.changed());
        }
        Ok(bytes)
    }

    /// Streams the component into `out` (memory stays flat), failing if
    /// what was read does not hash to the layer digest: a caller writing a
    /// file through [`pipectl_io::write_atomic_with`] then keeps nothing.
    pub fn copy_to(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        struct Hashing<'a, W: ?Sized> {
            out: &'a mut W,
            hasher: sha2::Sha256,
            len: u64,
        }
        impl<W: std::io::Write + ?Sized> std::io::Write for Hashing<'_, W> {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                let n = self.out.write(buf)?;
                sha2::Digest::update(&mut self.hasher, &buf[..n]);
                self.len += n as u64;
                Ok(n)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                self.out.flush()
            }
        }
        let (mut file, same) = self
            .open()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        if same {
            let copied = std::io::copy(&mut std::io::Read::take(&mut file, self.entry.size), out)?;
            if copied != self.entry.size || !self.unchanged(&file) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    self.changed().to_string(),
                ));
            }
            return Ok(());
        }
        let mut hashing = Hashing {
            out,
            hasher: <sha2::Sha256 as sha2::Digest>::new(),
            len: 0,
        };
        std::io::copy(
            &mut std::io::Read::take(file, self.entry.size),
            &mut hashing,
        )?;
        let (len, hasher) = (hashing.len, hashing.hasher);
        if len != self.entry.size || Digest::from_hasher(hasher) != self.entry.layer {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                self.changed().to_string(),
            ));
        }
        Ok(())
    }
}

/// The version a lockfile entry records: the tag resolved here, or the
/// locked one; the manifest's own annotation only as a fallback (fetches by
/// digest), checked as a file-name component.
fn entry_version(
    resolved_tag: Option<&String>,
    locked: Option<&LockEntry>,
    manifest: &artifact::Manifest,
    shown: &str,
) -> Result<String, RegistryError> {
    Ok(match (resolved_tag, locked) {
        (Some(tag), _) => tag.clone(),
        (None, Some(entry)) => entry.version.clone(),
        (None, None) => match manifest.annotations.get(annotations::VERSION) {
            Some(v) => {
                // The registry's word: it names `pipectl fetch`'s output.
                pipectl_io::name::check_component("version", v).map_err(|error| {
                    RegistryError::UnsafeName {
                        origin: format!(
                            "`{shown}`: the manifest's `{}` annotation",
                            annotations::VERSION
                        ),
                        error,
                    }
                })?;
                v.clone()
            }
            None => "unversioned".to_string(),
        },
    })
}

/// Step 2 of [`fetch_resolved`]: the layer from the cache (`None`), else
/// streamed from the store into a temporary file in the cache folder; it
/// must be WebAssembly either way.
fn fetch_layer(
    ctx: &Context,
    store: &mut LazyStore,
    location: &Location,
    layer: &artifact::Descriptor,
    shown: &str,
) -> Result<Layer, RegistryError> {
    let not_wasm = || RegistryError::Verify {
        reference: shown.to_string(),
        reason: artifact::VerifyError::Shape("the layer is not WebAssembly".to_string()),
    };
    let starts_as_wasm = |path: &std::path::Path| {
        let mut magic = [0u8; 4];
        pipectl_io::file::open_regular(path, "cache entry")
            .ok()
            .and_then(|(mut f, _)| std::io::Read::read_exact(&mut f, &mut magic).ok())
            .is_some()
            && &magic == b"\0asm"
    };
    Ok(match ctx.cache.blob_file(&layer.digest, layer.size) {
        Some((path, _)) if !starts_as_wasm(&path) => return Err(not_wasm()),
        Some((path, identity)) => Layer::Cached(path, identity),
        None => {
            let tmp_dir = ctx.cache.tmp_dir()?;
            let file = store
                .get(ctx, location)?
                .blob(layer, &tmp_dir, &ctx.progress)?;
            let mut magic = [0u8; 4];
            let read = file
                .reopen()
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic));
            if read.is_err() || &magic != b"\0asm" {
                return Err(not_wasm());
            }
            Layer::Downloaded(file)
        }
    })
}

/// Where a fetch's layer came from, verified either way.
enum Layer {
    /// The cache entry, hashed or its seal checked just now, and its file
    /// identity.
    Cached(std::path::PathBuf, Vec<u8>),
    /// A temporary file in the cache folder, hashed as it was written.
    Downloaded(tempfile::NamedTempFile),
}

/// Step 1 of [`fetch_resolved`]: the manifest, pinned by the lockfile or
/// resolved now, its digest, and the tag resolved here (if any).
fn fetch_manifest(
    ctx: &Context,
    store: &mut LazyStore,
    resolved: &Resolved,
    locked: Option<&LockEntry>,
    lock: &Lockfile,
    opts: FetchOptions,
    shown: &str,
) -> Result<(Vec<u8>, Digest, Option<String>), RegistryError> {
    let limits = ctx.limits();
    let notices = ctx.progress.notices();
    let location = &resolved.reference.location;
    // 1. The manifest: pinned by the lockfile, or resolved now.
    // The version: the tag resolved here, or the locked one; a manifest's
    // own annotation is only a fallback (fetches by digest).
    let mut resolved_tag: Option<String> = None;
    let (bytes, digest) = match locked {
        Some(entry) => {
            let bytes = match ctx.cache.blob(&entry.manifest, limits.max_manifest_size) {
                Some(b) => b,
                None => {
                    let s = store.get(ctx, location)?;
                    s.manifest_by_digest(&entry.manifest).map_err(|e| match e {
                        RegistryError::NotFound { reference, .. } => RegistryError::Lock {
                            path: lock.path().to_owned(),
                            message: format!(
                                "{reference}: the locked manifest {} is no longer served; the lockfile is not updated silently",
                                entry.manifest
                            ),
                        },
                        other => other,
                    })?
                }
            };
            (bytes, entry.manifest.clone())
        }
        None => match &resolved.reference.selector {
            Selector::Digest(d) => match ctx.cache.blob(d, limits.max_manifest_size) {
                Some(b) => (b, d.clone()),
                None => (store.get(ctx, location)?.manifest_by_digest(d)?, d.clone()),
            },
            Selector::Tag(v) => {
                resolved_tag = Some(v.to_string());
                tag_manifest(ctx, store, location, &v.to_string())?
            }
            Selector::Requirement(req) => {
                let tags: Vec<String> = if opts.offline {
                    ctx.cache
                        .refs(location, notices)
                        .into_iter()
                        .map(|(t, _)| t)
                        .collect()
                } else {
                    store.get(ctx, location)?.tags()?
                };
                let best = tags
                    .iter()
                    .filter_map(|t| Version::parse(t).ok())
                    .filter(|v| req.matches(v))
                    .max()
                    .ok_or_else(|| RegistryError::NotFound {
                        reference: shown.to_string(),
                        what: if opts.offline {
                            format!(
                                "offline: no version matching `{req}` is in the lockfile or the cache (cached: {}); \
                                 fetch it once online, which records it in the lockfile",
                                list(&tags)
                            )
                        } else {
                            format!("no version matches `{req}` (versions: {})", list(&tags))
                        },
                    })?;
                resolved_tag = Some(best.to_string());
                tag_manifest(ctx, store, location, &best.to_string())?
            }
        },
    };
    Ok((bytes, digest, resolved_tag))
}

/// Tags for a message: cleaned, at most 20, and how many more.
fn list(tags: &[String]) -> String {
    if tags.is_empty() {
        return "none".to_string();
    }
    let mut shown: Vec<String> = tags
        .iter()
        .take(20)
        .map(|t| pipectl_io::text::clean(t, 64))
        .collect();
    if tags.len() > 20 {
        shown.push(format!("and {} more", tags.len() - 20));
    }
    shown.join(", ")
}

/// A store opened on first use: a fetch served by the cache never connects.
struct LazyStore {
    store: Option<Box<dyn Store>>,
    offline: bool,
    shown: String,
    deadline: Instant,
}

impl LazyStore {
    fn get(&mut self, ctx: &Context, location: &Location) -> Result<&mut dyn Store, RegistryError> {
        if self.store.is_none() {
            if self.offline {
                return Err(RegistryError::NotFound {
                    reference: self.shown.clone(),
                    what: "not in the cache, and offline means no network".to_string(),
                });
            }
            self.store = Some(ctx.open(location, self.deadline)?);
        }
        Ok(self.store.as_deref_mut().expect("opened above"))
    }
}

/// The manifest a tag names: from the cache's sealed refs when offline,
/// else the store.
fn tag_manifest(
    ctx: &Context,
    store: &mut LazyStore,
    location: &Location,
    tag: &str,
) -> Result<(Vec<u8>, Digest), RegistryError> {
    if store.offline {
        let digest = ctx
            .cache
            .refs(location, ctx.progress.notices())
            .into_iter()
            .find(|(t, _)| t == tag)
            .map(|(_, d)| d)
            .ok_or_else(|| RegistryError::NotFound {
                reference: store.shown.clone(),
                what: format!("version {tag} is not in the cache (offline)"),
            })?;
        let bytes = ctx
            .cache
            .blob(&digest, ctx.limits().max_manifest_size)
            .ok_or_else(|| RegistryError::NotFound {
                reference: store.shown.clone(),
                what: format!("the manifest of {tag} is not in the cache (offline)"),
            })?;
        return Ok((bytes, digest));
    }
    let shown = store.shown.clone();
    store
        .get(ctx, location)?
        .manifest_for_tag(tag)?
        .ok_or_else(|| RegistryError::NotFound {
            reference: shown,
            what: format!("version {tag} does not exist"),
        })
}
