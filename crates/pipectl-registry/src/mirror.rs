//! An artifact and its referrers (signatures, SBOM, provenance) copied into
//! an OCI image layout, as `oras backup --include-referrers` does, so a
//! machine without the registry can fetch and verify it.

use pipectl_io::Digest;

use crate::artifact::{Artifact, parse_manifest};
use crate::error::RegistryError;
use crate::ops::{Context, Fetched};
use crate::reference::Location;
use crate::referrers::{Referrer, parse_referrer, read_payload};

/// What a mirror copied.
#[derive(Debug, Clone)]
pub struct Mirrored {
    /// The copy: `oci-layout:<dir>:<version>`.
    pub reference: String,
    /// Its manifest's digest: the source's, byte for byte.
    pub manifest: Digest,
    /// Whether the layout already held it under that tag.
    pub already_there: bool,
    /// Referrers copied (or already there).
    pub referrers: usize,
    /// Referrers not copied, with why (not in the one-payload shape
    /// pipectl reads).
    pub skipped: Vec<String>,
}

/// Copies what `fetched` fetched from `from` (the artifact, exactly: its
/// manifest, config and layer) into the layout `to` (`oci-layout:<dir>`)
/// under its version as the tag and, with `with_referrers`, every referrer
/// of its manifest. A tag there that names another manifest is refused.
pub fn mirror(
    ctx: &Context,
    fetched: &Fetched,
    from: &str,
    to: &str,
    with_referrers: bool,
) -> Result<Mirrored, RegistryError> {
    let tag = &fetched.entry.version;
    let shown = format!("{to}:{tag}");
    let dest = ctx.resolve(&shown, false)?;
    if !matches!(dest.reference.location, Location::Layout { .. }) {
        return Err(RegistryError::Refused(format!(
            "`{to}` is not an OCI layout: a mirror is written to `oci-layout:<dir>`"
        )));
    }
    let deadline = ctx.deadline();
    let mut dst = ctx.open(&dest.reference.location, deadline)?;
    let source = ctx.resolve(from, true)?.reference.location;
    let mut src = ctx.open(&source, deadline)?;
    let digest = &fetched.entry.manifest;
    let manifest = match ctx.cache.blob(digest, ctx.limits().max_manifest_size) {
        Some(bytes) => bytes,
        None => src.manifest_by_digest(digest)?,
    };
    let parsed = parse_manifest(&manifest).map_err(|reason| RegistryError::Verify {
        reference: format!("{from}@{digest}"),
        reason,
    })?;
    let already_there = match dst.manifest_for_tag(tag)? {
        Some((_, there)) if there == *digest => true,
        Some((_, there)) => {
            return Err(RegistryError::Refused(format!(
                "`{shown}` already names another manifest ({there}); mirror into another folder"
            )));
        }
        None => false,
    };
    if !already_there {
        let config_file = src.blob(&parsed.config, &ctx.cache.tmp_dir()?, &ctx.progress)?;
        // Verified against the descriptor while it arrived.
        let config =
            pipectl_io::read_regular(config_file.path(), parsed.config.size, "config blob")?;
        let artifact = Artifact {
            manifest,
            manifest_digest: digest.clone(),
            config,
            layer: fetched.read()?,
            parsed,
        };
        dst.push(&artifact, tag, None, &ctx.progress)?;
    }
    let mut copied = 0;
    let mut skipped = Vec::new();
    if with_referrers {
        for desc in src.referrers(digest)? {
            let referrer_shown = format!("{}@{}", src.describe(), desc.digest);
            let bytes = src.manifest_by_digest(&desc.digest)?;
            let parsed = match parse_referrer(&bytes, digest, &referrer_shown) {
                Ok(p) => p,
                Err(e) => {
                    skipped.push(format!("{}: {e}", desc.digest));
                    continue;
                }
            };
            let payload = read_payload(src.as_mut(), ctx, digest, &desc)?;
            dst.push_referrer(
                &Referrer {
                    manifest: bytes,
                    parsed,
                    payload,
                },
                &ctx.progress,
            )?;
            copied += 1;
        }
    }
    Ok(Mirrored {
        reference: format!("{}:{tag}", dest.reference.location.display()),
        manifest: digest.clone(),
        already_there,
        referrers: copied,
        skipped,
    })
}
