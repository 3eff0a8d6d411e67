//! Signatures as the binary checks them: every bundle referrer of a
//! manifest against trusted keys (`verify`, and `fetch` under a policy),
//! and the trust policy: `[trust]` in `pipectl.toml` in the working folder.
//!
//! ```toml
//! [trust]
//! require = "signature"          # or "none" (the default)
//! [[trust.key]]
//! path = "keys/pipectl.pub"      # relative to pipectl.toml
//! repositories = ["localhost:5000/plugins/*"]   # default: every one
//! ```

use std::path::Path;

use crate::cli::failure::Gate;
use anyhow::Context as _;
use pipectl_io::Digest;
use pipectl_registry::referrers::{self, ReferrerDescriptor};
use pipectl_registry::referrers::{Referrer, Subject};
use pipectl_registry::store::Store;
use pipectl_registry::{Context, RegistryError};
use pipectl_trust::statement::SIGN_PREDICATE_TYPE;
use pipectl_trust::{BUNDLE_MEDIA_TYPE, Bundle, PublicKey, SigningKey, Statement};
use serde::{Deserialize, Serialize};

/// One signature found, and what came of checking it.
#[derive(Debug, Serialize)]
pub struct Checked {
    /// The referrer manifest's digest.
    pub referrer: String,
    /// Whether a trusted key made it, over exactly this manifest.
    pub verified: bool,
    /// The key that verified it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// `message-signature` or `dsse`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// For a DSSE envelope: the statement's predicate type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate_type: Option<String>,
    /// Why it does not verify.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The bundle's bytes, when they could be read.
    #[serde(skip)]
    pub bundle: Option<Vec<u8>>,
}

/// What signing did.
#[derive(Debug, Serialize)]
pub struct Signed {
    /// The signed reference, as resolved.
    pub reference: String,
    /// The signed manifest's digest.
    pub manifest: String,
    /// `signed`, or `unchanged` when this signature was already there.
    pub status: &'static str,
    /// `message-signature` or `dsse`.
    pub kind: &'static str,
    /// The referrer manifest's digest.
    pub referrer: String,
    /// The bundle's digest (the referrer's one layer).
    pub bundle: String,
    /// The signing key's fingerprint.
    pub fingerprint: String,
}

/// Signs `subject`'s manifest with `key` (its bytes, or with `dsse` an
/// in-toto statement about its digest) and pushes the bundle as its
/// referrer, unless that very referrer is there already (ECDSA signatures
/// here are deterministic, RFC 6979: the same key over the same manifest
/// makes the same referrer).
pub fn sign(
    ctx: &Context,
    subject: &mut Subject,
    key: &SigningKey,
    dsse: bool,
) -> Result<Signed, RegistryError> {
    let (bundle, kind) = if dsse {
        let statement = Statement::about(
            &subject.shown,
            &subject.digest,
            SIGN_PREDICATE_TYPE,
            serde_json::json!({}),
        );
        (Bundle::sign_statement(key, &statement), "dsse")
    } else {
        (
            Bundle::sign_message(key, &subject.manifest),
            "message-signature",
        )
    };
    let referrer = Referrer::build(
        &subject.digest,
        subject.manifest.len() as u64,
        BUNDLE_MEDIA_TYPE,
        BUNDLE_MEDIA_TYPE,
        bundle.to_json(),
    );
    let digest = referrer.digest();
    let present = subject
        .store
        .referrers(&subject.digest)?
        .iter()
        .any(|d| d.digest == digest);
    if !present {
        subject.store.push_referrer(&referrer, &ctx.progress)?;
    }
    Ok(Signed {
        reference: subject.shown.clone(),
        manifest: subject.digest.to_string(),
        status: if present { "unchanged" } else { "signed" },
        kind,
        referrer: digest.to_string(),
        bundle: referrer.parsed.layers[0].digest.to_string(),
        fingerprint: key.public().fingerprint(),
    })
}

/// Checks every bundle referrer of `subject` in `store` against `keys`.
/// Listing the referrers failing is an error; a referrer that cannot be
/// read or does not verify is a finding.
pub fn check_all(
    ctx: &Context,
    store: &mut dyn Store,
    subject: &Digest,
    keys: &[PublicKey],
) -> Result<Vec<Checked>, RegistryError> {
    let found = store.referrers(subject)?;
    Ok(found
        .iter()
        .filter(|d| d.artifact_type.as_deref() == Some(BUNDLE_MEDIA_TYPE))
        .map(|desc| check(ctx, store, subject, desc, keys))
        .collect())
}

fn check(
    ctx: &Context,
    store: &mut dyn Store,
    subject: &Digest,
    desc: &ReferrerDescriptor,
    keys: &[PublicKey],
) -> Checked {
    let mut sig = Checked {
        referrer: desc.digest.to_string(),
        verified: false,
        signer: None,
        kind: None,
        predicate_type: None,
        error: None,
        bundle: None,
    };
    let bundle = referrers::read_payload(store, ctx, subject, desc)
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            let parsed = Bundle::from_json(&bytes).map_err(|e| e.to_string());
            sig.bundle = Some(bytes);
            parsed
        });
    let bundle = match bundle {
        Ok(b) => b,
        Err(e) => {
            sig.error = Some(e);
            return sig;
        }
    };
    sig.kind = Some(if bundle.dsse_envelope.is_some() {
        "dsse"
    } else {
        "message-signature"
    });
    match bundle.verify(subject, keys) {
        Ok(v) => {
            sig.verified = true;
            sig.signer = Some(v.key);
            sig.predicate_type = v.predicate_type;
        }
        Err(e) => sig.error = Some(e.to_string()),
    }
    sig
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    trust: Option<TrustTable>,
    /// The plugins' part of `pipectl.toml`, read by `pipectl-hooks`.
    #[serde(default, rename = "plugin")]
    _plugin: Option<toml::Value>,
    #[serde(default, rename = "audit")]
    _audit: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustTable {
    #[serde(default)]
    require: Require,
    #[serde(default)]
    key: Vec<KeyEntry>,
}

#[derive(Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Require {
    #[default]
    None,
    Signature,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    path: String,
    #[serde(default)]
    repositories: Vec<String>,
}

/// The trust policy.
pub struct Policy {
    file: String,
    keys: Vec<(Vec<String>, PublicKey)>,
}

/// The policy file's name, in the working folder.
pub const POLICY_FILE: &str = "pipectl.toml";

impl Policy {
    /// The policy of `dir/pipectl.toml`, when it requires signatures.
    pub fn load(dir: &Path) -> anyhow::Result<Option<Policy>> {
        let path = dir.join(POLICY_FILE);
        let text = match pipectl_io::read_regular_to_string(&path, 1 << 20, "trust policy") {
            Ok(text) => text,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let file: File = toml::from_str(&text)
            .with_context(|| format!("`{}` is not a valid trust policy", path.display()))?;
        match file.trust {
            Some(trust) => Self::from_table(&path, dir, trust),
            None => Ok(None),
        }
    }

    /// The policy for a pipeline's registry stages: its own `[trust]`
    /// table and a `pipectl.toml` next to it, together (signatures are
    /// required when either requires them; every key either trusts).
    pub fn for_manifest(manifest: &pipectl_manifest::Manifest) -> anyhow::Result<Option<Policy>> {
        let dir = manifest.base_dir();
        let beside = Self::load(dir)?;
        let own = match &manifest.trust {
            None => None,
            Some(table) => {
                let trust: TrustTable =
                    toml::Value::Table(table.clone())
                        .try_into()
                        .with_context(|| {
                            format!(
                                "`{}`: `[trust]` is not a valid trust policy",
                                manifest.path.display()
                            )
                        })?;
                Self::from_table(&manifest.path, dir, trust)?
            }
        };
        Ok(match (beside, own) {
            (None, p) | (p, None) => p,
            (Some(mut a), Some(b)) => {
                a.file = format!("{} and {}", a.file, b.file);
                a.keys.extend(b.keys);
                Some(a)
            }
        })
    }

    /// A policy from a `[trust]` table read from `file` (keys relative to
    /// `dir`), when it requires signatures.
    fn from_table(file: &Path, dir: &Path, trust: TrustTable) -> anyhow::Result<Option<Policy>> {
        if trust.require != Require::Signature {
            return Ok(None);
        }
        let mut keys = Vec::new();
        for entry in trust.key {
            let spec = dir.join(&entry.path);
            let key = super::keys::load_key(&spec.display().to_string())
                .with_context(|| format!("`{}`: `[[trust.key]]`", file.display()))?;
            keys.push((entry.repositories, key));
        }
        Ok(Some(Policy {
            file: file.display().to_string(),
            keys,
        }))
    }

    /// The keys trusted for the repository `name` (`host/repo`,
    /// `oci-layout:<dir>`, or a package name).
    pub fn keys_for(&self, name: &str) -> Vec<PublicKey> {
        self.keys
            .iter()
            .filter(|(globs, _)| globs.is_empty() || globs.iter().any(|g| glob(g, name)))
            .map(|(_, k)| k.clone())
            .collect()
    }

    /// Refuses (exit 1) unless a key trusted for `name` signed `digest`;
    /// among several good signatures, the bundle `prefer` names wins.
    pub fn require(
        &self,
        ctx: &Context,
        store: &mut dyn Store,
        name: &str,
        digest: &Digest,
        prefer: Option<&Digest>,
    ) -> anyhow::Result<Accepted> {
        let keys = self.keys_for(name);
        if keys.is_empty() {
            return Err(Gate::new(
                "signature_required",
                format!(
                    "`{name}`: {} requires a signature, and trusts no key for this repository",
                    self.file
                ),
            )
            .into());
        }
        let checked = check_all(ctx, store, digest, &keys)?;
        let good = |c: &&Checked| c.verified && c.bundle.is_some();
        let preferred = checked.iter().filter(good).find(|c| {
            prefer.is_some_and(|p| c.bundle.as_deref().map(Digest::sha256).as_ref() == Some(p))
        });
        if let Some(ok) = preferred.or_else(|| checked.iter().find(good)) {
            return Ok(Accepted {
                signer: ok.signer.clone().unwrap_or_default(),
                bundle: ok.bundle.clone().unwrap_or_default(),
            });
        }
        let why = if checked.is_empty() {
            "it has no signature".to_string()
        } else {
            checked
                .iter()
                .map(|c| format!("{}: {}", c.referrer, c.error.as_deref().unwrap_or("?")))
                .collect::<Vec<_>>()
                .join("; ")
        };
        Err(Gate::new(
            "signature_required",
            format!(
                "`{name}` ({digest}) is not signed by a key {} trusts: {why}",
                self.file
            ),
        )
        .into())
    }

    /// Verifies a bundle kept from an earlier fetch, with no network: made
    /// by the key `signer`, trusted for `name`, over exactly `digest`.
    pub fn verify_kept(
        &self,
        name: &str,
        digest: &Digest,
        bundle: &[u8],
        signer: &str,
    ) -> Result<(), String> {
        let keys: Vec<PublicKey> = self
            .keys_for(name)
            .into_iter()
            .filter(|k| k.fingerprint() == signer)
            .collect();
        if keys.is_empty() {
            return Err(format!("the key {signer} is not trusted for `{name}`"));
        }
        let bundle = Bundle::from_json(bundle).map_err(|e| e.to_string())?;
        bundle
            .verify(digest, &keys)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// A signature a policy accepted.
pub struct Accepted {
    /// The fingerprint of the key that made it.
    pub signer: String,
    /// The Sigstore bundle's bytes.
    pub bundle: Vec<u8>,
}

/// `*` matches any run of characters (`/` included); everything else is
/// itself.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Refuses (exit 1) a fetched artifact that the working folder's trust
/// policy requires a signature for, when no trusted key signed it.
pub fn require_policy(
    ctx: &pipectl_registry::Context,
    reference: &str,
    entry: &pipectl_registry::LockEntry,
    offline: bool,
) -> anyhow::Result<()> {
    match Policy::load(std::path::Path::new("."))? {
        Some(policy) => prove(&policy, ctx, reference, &mut entry.clone(), offline, false),
        None => Ok(()),
    }
}

/// The largest Sigstore bundle read back from the cache.
const MAX_BUNDLE: u64 = 1 << 20;

/// Proves `entry` (just fetched) signed as `policy` requires and records
/// the proof in it: the bundle the lockfile names, kept in the cache,
/// verified again with no network; else the registry's signatures (the
/// accepted bundle then kept). With `locked`, a signature or signer that
/// would change is drift (exit 1).
pub fn prove(
    policy: &Policy,
    ctx: &pipectl_registry::Context,
    reference: &str,
    entry: &mut pipectl_registry::LockEntry,
    offline: bool,
    locked: bool,
) -> anyhow::Result<()> {
    let mut kept_error = None;
    if let (Some(signature), Some(signer)) = (&entry.signature, &entry.signer) {
        match ctx.cache.blob(signature, MAX_BUNDLE) {
            Some(bundle) => {
                match policy.verify_kept(&entry.name, &entry.manifest, &bundle, signer) {
                    Ok(()) => return Ok(()),
                    Err(e) => kept_error = Some(format!("the signature pipectl.lock names: {e}")),
                }
            }
            None => {
                kept_error = Some("the signature pipectl.lock names is not in the cache".into())
            }
        }
    }
    if offline {
        let why = kept_error.unwrap_or_else(|| "pipectl.lock records no signature".into());
        return Err(Gate::new(
            "signature_required",
            format!(
                "`{}`: {} requires a signature, and --offline cannot look for one ({why})",
                entry.name, policy.file
            ),
        )
        .into());
    }
    let location = ctx.resolve(reference, true)?.reference.location;
    let deadline = std::time::Instant::now() + ctx.limits().timeout;
    let mut store = ctx.open(&location, deadline)?;
    let accepted = policy.require(
        ctx,
        store.as_mut(),
        &entry.name,
        &entry.manifest,
        entry.signature.as_ref(),
    )?;
    let digest = Digest::sha256(&accepted.bundle);
    let changed = entry.signature.as_ref() != Some(&digest)
        || entry.signer.as_deref() != Some(&accepted.signer);
    if locked && changed {
        return Err(Gate::new(
            "locked_drift",
            format!(
                "{}: the lockfile's signature would change ({} by {} -> {digest} by {}), and it is locked",
                entry.name,
                entry.signature.as_ref().map_or("none".to_string(), |d| d.to_string()),
                entry.signer.as_deref().unwrap_or("nobody"),
                accepted.signer
            ),
        )
        .into());
    }
    ctx.cache.put_blob(&digest, &accepted.bundle)?;
    entry.signature = Some(digest);
    entry.signer = Some(accepted.signer);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn globs_match_repositories() {
        use super::glob;
        assert!(glob("*", "localhost:5000/a/b"));
        assert!(glob("localhost:5000/plugins/*", "localhost:5000/plugins/x"));
        assert!(!glob("localhost:5000/plugins/*", "localhost:5000/other/x"));
        assert!(glob("oci-layout:*", "oci-layout:store"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxc"));
        assert!(!glob("ab*ba", "aba"));
        assert!(glob("exact", "exact") && !glob("exact", "exactly"));
    }
}
