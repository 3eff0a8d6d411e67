//! Credentials: `--username` with `--password-stdin`, then
//! `PIPECTL_REGISTRY_USERNAME`/`PIPECTL_REGISTRY_PASSWORD` (or
//! `PIPECTL_REGISTRY_TOKEN`), then docker's `config.json` (credential helpers
//! included), else anonymous. `Debug` never shows a secret.

use oci_client::secrets::RegistryAuth;

/// Credentials for one registry.
#[derive(Clone)]
pub enum Credentials {
    /// User name and password.
    Basic {
        /// The user.
        username: String,
        /// The password.
        password: String,
    },
    /// A bearer token.
    Token(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credentials::Token(_) => write!(f, "Token(<redacted>)"),
        }
    }
}

impl Credentials {
    pub(crate) fn into_auth(self) -> RegistryAuth {
        match self {
            Credentials::Basic { username, password } => RegistryAuth::Basic(username, password),
            Credentials::Token(t) => RegistryAuth::Bearer(t),
        }
    }
}

/// Where credentials come from, in order.
///
/// Command-line and environment credentials belong to one registry: the
/// one `PIPECTL_REGISTRY_HOST` names, else the registry of the command's
/// reference (`scope`). They are never sent to another registry; docker's
/// configuration is keyed by host anyway.
#[derive(Debug, Clone, Default)]
pub struct CredentialSources {
    /// From the command line (`--username` and `--password-stdin`).
    pub explicit: Option<Credentials>,
    /// Read `PIPECTL_REGISTRY_*` from the environment.
    pub env: bool,
    /// Ask docker's `config.json` and its credential helpers.
    pub docker: bool,
    /// The registry (`host[:port]`) explicit and environment credentials
    /// are for.
    pub scope: Option<String>,
}

impl CredentialSources {
    /// Every source: flags, environment, docker.
    pub fn all(explicit: Option<Credentials>) -> Self {
        Self {
            explicit,
            env: true,
            docker: true,
            scope: None,
        }
    }

    /// Whether explicit and environment credentials may go to `registry`.
    fn in_scope(&self, registry: &str) -> bool {
        let scope = std::env::var("PIPECTL_REGISTRY_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| self.scope.clone());
        scope.is_some_and(|s| s == registry)
    }

    /// The credentials for `registry` (`host[:port]`), if any source has
    /// them.
    pub fn for_registry(&self, registry: &str) -> Option<Credentials> {
        let scoped = self.in_scope(registry);
        if let Some(c) = &self.explicit
            && scoped
        {
            return Some(c.clone());
        }
        if self.env && scoped {
            if let Ok(token) = std::env::var("PIPECTL_REGISTRY_TOKEN")
                && !token.is_empty()
            {
                return Some(Credentials::Token(token));
            }
            if let (Ok(username), Ok(password)) = (
                std::env::var("PIPECTL_REGISTRY_USERNAME"),
                std::env::var("PIPECTL_REGISTRY_PASSWORD"),
            ) {
                return Some(Credentials::Basic { username, password });
            }
        }
        if self.docker {
            // Docker keys entries by host, sometimes with a scheme.
            for server in [registry.to_string(), format!("https://{registry}")] {
                match docker_credential::get_credential(&server) {
                    Ok(docker_credential::DockerCredential::UsernamePassword(
                        username,
                        password,
                    )) => {
                        return Some(Credentials::Basic { username, password });
                    }
                    Ok(docker_credential::DockerCredential::IdentityToken(token)) => {
                        return Some(Credentials::Token(token));
                    }
                    Err(_) => {}
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credentials::Basic {
            username: "ci".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{:?}", Credentials::Token("tok".into())).contains("tok"));
    }

    #[test]
    fn docker_config_with_a_static_auth_entry() {
        let dir = tempfile::tempdir().unwrap();
        // base64("alice:s3cret")
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{"registry.example:5000":{"auth":"YWxpY2U6czNjcmV0"}}}"#,
        )
        .unwrap();
        let found = docker_credential::get_credential_from_reader(
            std::fs::File::open(dir.path().join("config.json")).unwrap(),
            "registry.example:5000",
        )
        .unwrap();
        assert!(matches!(
            found,
            docker_credential::DockerCredential::UsernamePassword(u, p) if u == "alice" && p == "s3cret"
        ));
    }
}
