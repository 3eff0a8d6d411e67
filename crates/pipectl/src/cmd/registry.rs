//! What `publish`, `fetch` and `compose` share: the registry context from
//! the command line.

use std::io::{IsTerminal as _, Read as _};

use anyhow::Context as _;
use pipectl_registry::{
    Cache, Context, CredentialSources, Credentials, Progress, RegistryConfig, Transport,
};

use crate::cli::opts::RegistryArgs;

/// Builds the context: configuration, cache, credentials (reading the
/// password from stdin when asked), plain-HTTP allowances, progress bars on
/// a terminal only.
pub fn context(args: &RegistryArgs) -> anyhow::Result<Context> {
    let explicit = match (&args.username, args.password_stdin) {
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
    Ok(Context {
        config: RegistryConfig::load(args.config.as_deref())?,
        cache: Cache::new(args.cache_dir.clone().unwrap_or_else(Cache::default_dir)),
        credentials: CredentialSources::all(explicit),
        transport: Transport {
            insecure: args.insecure.clone(),
            retries: args.retries,
        },
        progress: Progress::new(std::io::stderr().is_terminal()),
    })
}
