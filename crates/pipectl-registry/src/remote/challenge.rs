//! Authorization: the header a request carries (a token given, or one a
//! challenge earned), and answering a registry's `WWW-Authenticate`
//! challenge with basic credentials or a token from its token service.

use super::*;

/// How reads are authorized, once the registry asked.
#[derive(Clone)]
pub(super) enum Authorization {
    Basic(String, String),
    Bearer(String),
}

impl RemoteStore {
    /// Sends a GET with the authorization the registry asked for, answering
    /// one 401 challenge.
    pub(super) async fn get(
        &self,
        client: &reqwest::Client,
        url: &str,
        accept: Option<&str>,
    ) -> Result<reqwest::Response, Failed> {
        let send = |authorization: Option<Authorization>| {
            let mut request = client.get(url);
            if let Some(accept) = accept {
                request = request.header(reqwest::header::ACCEPT, accept);
            }
            request = match authorization {
                Some(Authorization::Basic(user, password)) => {
                    request.basic_auth(user, Some(password))
                }
                Some(Authorization::Bearer(token)) => request.bearer_auth(token),
                None => request,
            };
            request.send()
        };
        let current = self.current_authorization();
        let response = send(current.clone()).await.map_err(|e| self.network(&e))?;
        // Answer a challenge only from the registry itself (not from a host
        // a redirect led to), and only when trying again can change
        // something: no authorization yet, or a token that may have
        // expired.
        let asked = reqwest::Url::parse(url).ok();
        let from_registry = asked.as_ref().is_some_and(|asked| {
            let answered = response.url();
            answered.scheme() == asked.scheme()
                && answered.host_str() == asked.host_str()
                && answered.port_or_known_default() == asked.port_or_known_default()
        });
        let renewable = match &current {
            None => true,
            Some(Authorization::Bearer(_)) => {
                !matches!(self.credentials, Some(Credentials::Token(_)))
            }
            Some(Authorization::Basic(..)) => false,
        };
        // The registry served a read without asking: it needs no
        // authentication, and oci-client need not probe for it either.
        if current.is_none() && from_registry && response.status() != StatusCode::UNAUTHORIZED {
            let _ = self.needs_auth.set(false);
        }
        if response.status() != StatusCode::UNAUTHORIZED || !from_registry || !renewable {
            return Ok(response);
        }
        let Some(challenge) = response
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
        else {
            return Ok(response);
        };
        let Some(fresh) = self.authorize(&challenge).await? else {
            return Ok(response);
        };
        let _ = self.needs_auth.set(true);
        *self.authorization.lock().expect("not poisoned") = Some(fresh.clone());
        send(Some(fresh)).await.map_err(|e| self.network(&e))
    }

    pub(super) fn current_authorization(&self) -> Option<Authorization> {
        if let Some(Credentials::Token(token)) = &self.credentials {
            return Some(Authorization::Bearer(token.clone()));
        }
        self.authorization.lock().expect("not poisoned").clone()
    }

    /// Answers a `WWW-Authenticate` challenge: basic credentials as they
    /// are, or a bearer token from the registry's token service.
    pub(super) async fn authorize(&self, challenge: &str) -> Result<Option<Authorization>, Failed> {
        let (scheme, params) = parse_challenge(challenge);
        let basic = match &self.credentials {
            Some(Credentials::Basic { username, password }) => {
                Some((username.clone(), password.clone()))
            }
            _ => None,
        };
        if scheme.eq_ignore_ascii_case("basic") {
            return Ok(basic.map(|(u, p)| Authorization::Basic(u, p)));
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Ok(None);
        }
        let Some(realm) = params.iter().find(|(k, _)| k == "realm").map(|(_, v)| v) else {
            return Ok(None);
        };
        let mut url = reqwest::Url::parse(realm).map_err(|_| {
            Failed::fatal(RegistryError::Registry {
                registry: self.registry.clone(),
                message: "its token service address is not a URL".to_string(),
            })
        })?;
        if url.scheme() != "https" && !(self.plain && url.scheme() == "http") {
            return Err(Failed::fatal(RegistryError::Refused(format!(
                "registry `{}`: its token service is not https; no credentials are sent to it",
                self.registry
            ))));
        }
        {
            let mut query = url.query_pairs_mut();
            if let Some((_, service)) = params.iter().find(|(k, _)| k == "service") {
                query.append_pair("service", service);
            }
            query.append_pair("scope", &format!("repository:{}:pull", self.repository));
        }
        let mut request = self.http.get(url);
        if let Some((user, password)) = basic {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.map_err(|e| self.network(&e))?;
        if !response.status().is_success() {
            return Err(self.status_error(response, "the token").await);
        }
        let body = self
            .read_capped(response, MAX_SMALL_BODY, "the token response", None)
            .await?;
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let token: Token = serde_json::from_slice(&body).map_err(|_| {
            Failed::fatal(RegistryError::Registry {
                registry: self.registry.clone(),
                message: "its token service answered something else than a token".to_string(),
            })
        })?;
        Ok(token
            .token
            .or(token.access_token)
            .map(Authorization::Bearer))
    }
}

/// Splits a `WWW-Authenticate` value into its scheme and parameters.
pub(super) fn parse_challenge(header: &str) -> (String, Vec<(String, String)>) {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        params.push((key.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    (scheme.to_string(), params)
}
