//! What the libraries' [`Hint`]s say on this command line: the flags,
//! manifest keys and variables that do what a refusal needs.

use pipectl_io::Hint;

/// The hint of the first error in `err`'s chain that has one.
pub fn find(err: &anyhow::Error) -> Option<Hint> {
    err.chain().find_map(|cause| {
        if let Some(e) = cause.downcast_ref::<pipectl_registry::RegistryError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<Box<pipectl_registry::RegistryError>>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<pipectl_run::LoadError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<pipectl_io::WriteError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<crate::cli::failure::Classified>() {
            return e.hint.clone();
        }
        None
    })
}

/// `hint` as text for this command line.
pub fn render(hint: &Hint) -> String {
    match hint {
        Hint::MaxBlobSize => "`--max-blob-size` raises the cap".to_string(),
        Hint::MaxManifestSize => "`--max-manifest-size` raises the cap".to_string(),
        Hint::Timeout => "`--timeout` allows more time".to_string(),
        Hint::MaxMemory => {
            "`--max-memory` (or `max-memory` in the manifest's limits) raises the limit".to_string()
        }
        Hint::Force => "`--force` replaces it".to_string(),
        Hint::Unlock => "run without `--locked` to update the lockfile (and commit it)".to_string(),
        Hint::Credentials { registry } => format!(
            "give credentials with `--username` and `--password-stdin`, \
             `PIPECTL_REGISTRY_{}_USERNAME` and `_PASSWORD`, or `docker login`",
            pipectl_registry::auth::env_key(registry)
        ),
        Hint::Grant {
            grants,
            dir,
            env,
            network,
        } => {
            let keys: Vec<String> = grants.iter().map(|g| format!("{g} = true")).collect();
            let mut how = format!(
                "grant them with `--grant {}` (in a manifest: `grants = {{ {} }}`), or `--grant runtime` \
                 for a language runtime (componentize-py, jco) that imports them all",
                grants.join(","),
                keys.join(", ")
            );
            if *dir {
                how.push_str("; a directory: `--dir HOST::GUEST` (`grants = { dirs = [...] }`)");
            }
            if *env {
                how.push_str("; variables: `--env NAME=VALUE` (`grants = { env = { ... } }`)");
            }
            if *network {
                how.push_str(
                    "; pipectl never gives plugins network access: sockets and http are linked \
                     with every address and request refused",
                );
            }
            how
        }
        other => format!("{other:?}"),
    }
}

/// The hint for a `check` finding of an import no pattern allows.
pub fn allow_import(item: &str) -> String {
    let pattern = match item.split_once('/') {
        Some((package, _)) if item.contains(':') => format!("{package}/*"),
        _ => item.to_string(),
    };
    format!("allow it with `--allow-import '{pattern}'` or `allow-imports` in a `--policy` file")
}
