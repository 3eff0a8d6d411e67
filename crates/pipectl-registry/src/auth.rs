//! Credentials: `--username` with `--password-stdin`, then
//! `PIPECTL_REGISTRY_<HOST>_USERNAME`/`_PASSWORD` (or `_TOKEN`), then
//! `PIPECTL_REGISTRY_USERNAME`/`PIPECTL_REGISTRY_PASSWORD` (or
//! `PIPECTL_REGISTRY_TOKEN`), then docker's `config.json` (credential helpers
//! included), else anonymous; each scoped to the registry it is for (see
//! [`CredentialSources`]). `Debug` never shows a secret.

use oci_client::secrets::RegistryAuth;

/// Credentials for one registry.
#[derive(Clone)]
pub enum Credentials {
    /// User name and password.
    Basic {
        /// The user name: from `--username`, the environment or docker's config.
        username: String,
        /// The password or access token; `Debug` never shows it.
        password: String,
    },
    /// A bearer token: a `..._TOKEN` variable or a docker identity token.
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

/// The part of an environment variable's name that stands for `registry`
/// (`host[:port]`): upper-cased, every other character than a letter or
/// digit as `_`. `localhost:5000` → `LOCALHOST_5000`, so its user name is
/// in `PIPECTL_REGISTRY_LOCALHOST_5000_USERNAME`.
pub fn env_key(registry: &str) -> String {
    registry
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Where credentials come from, in this order:
///
/// 1. `--username` with `--password-stdin` ([`Self::explicit`]);
/// 2. `PIPECTL_REGISTRY_<HOST>_USERNAME`/`_PASSWORD` (or `_TOKEN`), with
///    `<HOST>` as [`env_key`] spells it: only ever for that registry;
/// 3. `PIPECTL_REGISTRY_USERNAME`/`_PASSWORD` (or `_TOKEN`);
/// 4. docker's configuration, keyed by host anyway.
///
/// Command-line credentials (1) and the unscoped variables (3) belong to
/// one registry: `--registry` ([`Self::registry`]), else
/// `PIPECTL_REGISTRY_HOST`, else the registry of the reference typed on the
/// command line ([`Self::scope`], set by `publish` and `fetch`); never the
/// one a manifest names.
#[derive(Debug, Clone, Default)]
pub struct CredentialSources {
    /// From the command line (`--username` and `--password-stdin`).
    pub explicit: Option<Credentials>,
    /// Read `PIPECTL_REGISTRY_*` from the environment.
    pub env: bool,
    /// Ask docker's `config.json` and its credential helpers.
    pub docker: bool,
    /// The registry (`host[:port]`) the operator named with `--registry`:
    /// explicit and unscoped environment credentials are for it.
    pub registry: Option<String>,
    /// The registry of the command line's own reference, used when neither
    /// `--registry` nor `PIPECTL_REGISTRY_HOST` names one.
    pub scope: Option<String>,
}

impl CredentialSources {
    /// Every source: flags, environment, docker.
    pub fn all(explicit: Option<Credentials>) -> Self {
        Self {
            explicit,
            env: true,
            docker: true,
            registry: None,
            scope: None,
        }
    }

    /// The registry explicit and unscoped environment credentials belong
    /// to, if any.
    fn owner(&self, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        self.registry
            .clone()
            .or_else(|| env("PIPECTL_REGISTRY_HOST"))
            .or_else(|| self.scope.clone())
    }

    /// The credentials for `registry` (`host[:port]`), if any source has
    /// them.
    pub fn for_registry(&self, registry: &str) -> Option<Credentials> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(found) = self.flags_and_env(registry, &env) {
            return Some(found);
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

    /// Steps 1 to 3, with the environment read through `env`.
    fn flags_and_env(
        &self,
        registry: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<Credentials> {
        let owned = self.owner(env).is_some_and(|owner| owner == registry);
        if owned && let Some(c) = &self.explicit {
            return Some(c.clone());
        }
        if !self.env {
            return None;
        }
        let from = |prefix: &str| {
            if let Some(token) = env(&format!("{prefix}_TOKEN")) {
                return Some(Credentials::Token(token));
            }
            match (
                env(&format!("{prefix}_USERNAME")),
                env(&format!("{prefix}_PASSWORD")),
            ) {
                (Some(username), Some(password)) => Some(Credentials::Basic { username, password }),
                _ => None,
            }
        };
        if let Some(c) = from(&format!("PIPECTL_REGISTRY_{}", env_key(registry))) {
            return Some(c);
        }
        if owned {
            return from("PIPECTL_REGISTRY");
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
    fn environment_credentials_go_only_to_the_registry_they_name() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let user = |c: Option<Credentials>| match c {
            Some(Credentials::Basic { username, .. }) => Some(username),
            Some(Credentials::Token(_)) => Some("<token>".to_string()),
            None => None,
        };
        let env_only = CredentialSources {
            env: true,
            ..CredentialSources::default()
        };
        // Unscoped variables with no owner go nowhere: a manifest cannot
        // draw them to its registry.
        let unscoped = vars(&[
            ("PIPECTL_REGISTRY_USERNAME", "ci"),
            ("PIPECTL_REGISTRY_PASSWORD", "pw"),
        ]);
        assert_eq!(
            user(env_only.flags_and_env("evil.example", &unscoped)),
            None
        );
        // Owned by PIPECTL_REGISTRY_HOST, `--registry`, or the command
        // line's reference.
        let hosted = vars(&[
            ("PIPECTL_REGISTRY_HOST", "ours.example"),
            ("PIPECTL_REGISTRY_USERNAME", "ci"),
            ("PIPECTL_REGISTRY_PASSWORD", "pw"),
        ]);
        assert_eq!(
            user(env_only.flags_and_env("ours.example", &hosted)),
            Some("ci".into())
        );
        assert_eq!(user(env_only.flags_and_env("evil.example", &hosted)), None);
        let flagged = CredentialSources {
            registry: Some("flag.example".into()),
            scope: Some("typed.example".into()),
            ..env_only.clone()
        };
        assert_eq!(
            user(flagged.flags_and_env("flag.example", &hosted)),
            Some("ci".into()),
            "--registry wins over PIPECTL_REGISTRY_HOST"
        );
        assert_eq!(user(flagged.flags_and_env("ours.example", &hosted)), None);
        let typed = CredentialSources {
            scope: Some("typed.example".into()),
            ..env_only.clone()
        };
        assert_eq!(
            user(typed.flags_and_env("typed.example", &unscoped)),
            Some("ci".into())
        );
        // Host-scoped variables go to their host only.
        let scoped = vars(&[
            ("PIPECTL_REGISTRY_127_0_0_1_5000_USERNAME", "a"),
            ("PIPECTL_REGISTRY_127_0_0_1_5000_PASSWORD", "pa"),
            ("PIPECTL_REGISTRY_LOCALHOST_5001_TOKEN", "t"),
        ]);
        assert_eq!(
            user(env_only.flags_and_env("127.0.0.1:5000", &scoped)),
            Some("a".into())
        );
        assert_eq!(
            user(env_only.flags_and_env("localhost:5001", &scoped)),
            Some("<token>".into())
        );
        assert_eq!(
            user(env_only.flags_and_env("127.0.0.1:5001", &scoped)),
            None
        );
        assert_eq!(
            env_key("my-registry.example:443"),
            "MY_REGISTRY_EXAMPLE_443"
        );
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
