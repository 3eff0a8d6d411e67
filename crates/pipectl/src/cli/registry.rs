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
