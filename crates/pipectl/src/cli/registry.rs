//! What `publish`, `fetch`, `compose` and `run` share: the registry
//! context from the command line.

use std::io::{IsTerminal as _, Read as _};

use anyhow::Context as _;
use pipectl_registry::{
    Cache, Context, CredentialSources, Credentials, Limits, Notices, Progress, RegistryConfig,
    Transport,
};

use crate::cli::opts::RegistryArgs;

/// Builds the context: configuration, cache, credentials (reading the
/// password from stdin when asked; scoped to `--registry` when given),
/// plain-HTTP allowances, caps and deadline, progress bars on a terminal
/// only, notices on stderr.
pub fn context(args: &RegistryArgs) -> anyhow::Result<Context> {
    let access = &args.access;
    let explicit = match (&access.username, access.password_stdin) {
        (Some(username), true) => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("failed to read the password from stdin")?;
            Some(Credentials::Basic {
                username: username.clone(),
                password: password.trim_end_matches(['\n', '\r']).to_string(),
            })
        }
        _ => None,
    };
    let mut credentials = CredentialSources::all(explicit);
    credentials.registry = access.registry.clone();
    Ok(Context {
        config: RegistryConfig::load(access.config.as_deref())?,
        cache: Cache::new(
            args.cache_dir
                .clone()
                .unwrap_or_else(crate::cli::paths::registry_cache),
        ),
        credentials,
        transport: Transport {
            insecure: access.insecure.clone(),
            retries: access.retries,
            limits: Limits {
                max_blob_size: access.max_blob_size,
                max_manifest_size: access.max_manifest_size,
                timeout: args.timeout,
                ..Limits::default()
            },
        },
        // The library never prints: its notices (a request sent again, a
        // cache entry ignored) are printed here, as they happen.
        progress: Progress::new(std::io::stderr().is_terminal() && !crate::cli::output::quiet())
            .with_transfers(std::sync::Arc::new(crate::cli::bars::Bars))
            .with_notices(Notices::new(|notice| {
                crate::cli::output::warn(&format!("pipectl: {notice}"))
            })),
    })
}

/// Fetches `reference` as `pipectl fetch` would (the cache, the working
/// folder's trust policy), without touching any lockfile.
pub fn fetch_bytes(
    reference: &str,
    args: &crate::cli::opts::RegistryArgs,
) -> anyhow::Result<Vec<u8>> {
    let mut ctx = crate::cli::registry::context(args)?;
    ctx.scope_credentials_to(reference);
    let lock = pipectl_registry::Lockfile::none();
    let fetched = pipectl_registry::fetch(
        &ctx,
        reference,
        &lock,
        pipectl_registry::FetchOptions {
            offline: false,
            locked: false,
        },
    )?;
    crate::cli::trust::require_policy(&ctx, reference, &fetched.entry, false)?;
    Ok(fetched.read()?)
}

/// A component named on the command line: a file, or else a registry
/// reference, fetched as [`fetch_bytes`] does. Returns a name for reports
/// (the file's stem, the repository's last part) and its bytes.
pub fn component(
    spec: &str,
    access: &crate::cli::opts::RegistryAccessArgs,
    max: u64,
) -> anyhow::Result<(String, Vec<u8>)> {
    let path = std::path::Path::new(spec);
    if std::fs::symlink_metadata(path).is_ok() || crate::cli::hooks::looks_like_path(spec) {
        let bytes = pipectl_io::read_regular(path, max, "component")?;
        let name = path
            .file_stem()
            .map_or_else(|| "component".into(), |s| s.to_string_lossy().into_owned());
        return Ok((name, bytes));
    }
    let bytes = fetch_bytes(spec, &RegistryArgs::from_access(access.clone()))
        .with_context(|| format!("`{spec}` is no file, and fetching it as a reference failed"))?;
    let name = crate::cli::plugins::default_name(spec);
    Ok((name, bytes))
}
