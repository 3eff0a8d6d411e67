//! An OCI registry. Plain HTTP only for loopback registries and hosts named
//! `--insecure`; every manifest and blob is verified against its digest and
//! size before it is returned.
//!
//! Reads (manifests, tag lists, blobs, and the bearer-token exchange) are
//! made here with reqwest, because oci-client 0.18 reads manifest, tag-list
//! and token bodies whole with no cap (`pull_manifest_raw` and `list_tags`
//! call `Response::bytes`): every body is read chunk by chunk against a cap
//! (a declared `Content-Length` over the cap is refused before reading), a
//! blob is streamed into a temporary file while it is hashed, and a body
//! longer than the manifest declares is cut off and refused. Pushes go
//! through oci-client, whose bodies are ours. Every operation runs under one
//! overall deadline ([`Limits::timeout`]), retries and waits included.
//!
//! Redirects: manifest, tag and token requests follow redirects only
//! within the registry (same scheme, host and port); blob requests may be
//! sent to another host (registries hand blobs to a CDN), never from https
//! to http, and reqwest drops the `Authorization` header whenever a
//! redirect leaves the origin, so credentials never travel with it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use pipectl_io::Digest;
use reqwest::StatusCode;

use crate::artifact::{self, Artifact, Descriptor, INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};
use crate::auth::Credentials;
use crate::error::RegistryError;
use crate::limits::Limits;
use crate::notice::{Notice, Notices};
use crate::reference::is_loopback;
use crate::referrers::{self, Referrer, ReferrerDescriptor, ReferrerIndex};
use crate::store::{BlobWriter, Progress, Store};

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct Transport {
    /// Hosts (`host[:port]`) reached over plain HTTP besides loopback.
    pub insecure: Vec<String>,
    /// How many times a request that failed for a transient reason (the
    /// connection failed or broke off, 5xx, 429) is sent again.
    pub retries: u32,
    /// Caps on what a registry sends, and the deadline of an operation.
    pub limits: Limits,
}

impl Default for Transport {
    fn default() -> Self {
        Self {
            insecure: Vec::new(),
            retries: 3,
            limits: Limits::default(),
        }
    }
}

/// The wait before the first retry; it doubles for each next one, up to
/// [`LONGEST_RETRY_WAIT`].
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(250);
/// The longest wait between two tries.
const LONGEST_RETRY_WAIT: Duration = Duration::from_secs(30);
/// The most bytes of an error body or a token response read.
const MAX_SMALL_BODY: u64 = 64 << 10;
/// Redirects followed for one request.
const MAX_REDIRECTS: usize = 5;
/// Tags asked for per page.
const TAGS_PER_PAGE: usize = 100;

/// Whether sending the request again may succeed: the connection failed or
/// broke off, or the registry said it is overloaded or failing. Not for
/// refusals (401, 403, 404) nor for bytes that fail verification.
fn transient(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::RequestError(e) => !e.is_builder() && !e.is_redirect(),
        OciDistributionError::ServerError { code, .. } => {
            *code == 429 || (500..=599).contains(code)
        }
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| matches!(e.code, OciErrorCode::Toomanyrequests)),
        OciDistributionError::IoError(io) => io.kind() != std::io::ErrorKind::InvalidData,
        _ => false,
    }
}

/// A failed try: the error, and whether trying again may help.
struct Failed {
    error: RegistryError,
    transient: bool,
}

impl Failed {
    fn fatal(error: RegistryError) -> Self {
        Self {
            error,
            transient: false,
        }
    }
}

impl From<RegistryError> for Failed {
    fn from(error: RegistryError) -> Self {
        Self::fatal(error)
    }
}

/// How reads are authorized, once the registry asked.
#[derive(Clone)]
enum Authorization {
    Basic(String, String),
    Bearer(String),
}

/// A repository in an OCI registry.
pub struct RemoteStore {
    registry: String,
    repository: String,
    /// `http://host[:port]` or `https://host[:port]`.
    base: String,
    plain: bool,
    client: Client,
    /// Manifests, tags, tokens: redirects within the registry only.
    http: reqwest::Client,
    /// Blobs: redirects to other hosts too (without credentials).
    blobs: reqwest::Client,
    auth: RegistryAuth,
    credentials: Option<Credentials>,
    authorization: Mutex<Option<Authorization>>,
    runtime: tokio::runtime::Runtime,
    retries: u32,
    limits: Limits,
    deadline: Instant,
    notices: Notices,
}

fn redirect_policy(cross_host: bool) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        let Some(first) = attempt.previous().first().cloned() else {
            return attempt.follow();
        };
        let last = attempt.previous().last().cloned().unwrap_or(first.clone());
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
        }
        let next = attempt.url();
        if last.scheme() == "https" && next.scheme() != "https" {
            return attempt.error("a redirect from https to plain http is not followed");
        }
        let same_origin = next.scheme() == first.scheme()
            && next.host_str() == first.host_str()
            && next.port_or_known_default() == first.port_or_known_default();
        if !cross_host && !same_origin {
            let host = pipectl_io::text::clean(next.host_str().unwrap_or("?"), 100);
            return attempt.error(format!(
                "the registry redirected to another host (`{host}`); pipectl follows redirects \
                 to other hosts only for blobs, and never with credentials"
            ));
        }
        attempt.follow()
    })
}

impl RemoteStore {
    /// Connects (lazily) to `registry/repository`; everything it does must
    /// end by `deadline`; retries are told to `notices`.
    pub fn new(
        registry: &str,
        repository: &str,
        credentials: Option<Credentials>,
        transport: &Transport,
        deadline: Instant,
        notices: Notices,
    ) -> Result<Self, RegistryError> {
        let plain = is_loopback(registry) || transport.insecure.iter().any(|h| h == registry);
        let config = ClientConfig {
            protocol: if plain {
                ClientProtocol::HttpsExcept(vec![registry.to_string()])
            } else {
                ClientProtocol::Https
            },
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(60)),
            user_agent: concat!("pipectl/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        let setup = |e: &dyn std::fmt::Display| RegistryError::Network {
            registry: registry.to_string(),
            message: format!("failed to set up the HTTP client: {e}"),
        };
        let client = Client::try_from(config).map_err(|e| setup(&e))?;
        let build = |cross_host| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(Duration::from_secs(60))
                .user_agent(concat!("pipectl/", env!("CARGO_PKG_VERSION")))
                .redirect(redirect_policy(cross_host))
                .build()
                .map_err(|e| setup(&e))
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(RegistryError::io(
                "failed to start the network runtime",
                ".",
            ))?;
        Ok(Self {
            registry: registry.to_string(),
            repository: repository.to_string(),
            base: format!("{}://{registry}", if plain { "http" } else { "https" }),
            plain,
            client,
            http: build(false)?,
            blobs: build(true)?,
            auth: credentials
                .clone()
                .map_or(RegistryAuth::Anonymous, |c| c.into_auth()),
            credentials,
            authorization: Mutex::new(None),
            runtime,
            retries: transport.retries,
            limits: transport.limits,
            deadline,
            notices,
        })
    }

    /// Runs `fut` to its end or to the operation's deadline.
    fn block<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, RegistryError>>,
    ) -> Result<T, RegistryError> {
        let deadline = tokio::time::Instant::from_std(self.deadline);
        self.runtime.block_on(async move {
            tokio::time::timeout_at(deadline, fut)
                .await
                .unwrap_or_else(|_| Err(self.timeout()))
        })
    }

    fn timeout(&self) -> RegistryError {
        RegistryError::Timeout {
            registry: self.registry.clone(),
            timeout: self.limits.timeout,
        }
    }

    /// Tries `op` again after a transient failure, up to `retries` times,
    /// waiting 250 ms, then twice as long each time; each retry is a
    /// notice. Only for reads and idempotent writes.
    async fn retry<T, F, Fut>(&self, mut op: F) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Failed>>,
    {
        let mut wait = FIRST_RETRY_WAIT;
        let mut attempt = 0;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(f) if f.transient && attempt < self.retries => {
                    attempt += 1;
                    self.notify_retry(&f.error, wait, attempt);
                    tokio::time::sleep(wait).await;
                    wait = wait.saturating_mul(2).min(LONGEST_RETRY_WAIT);
                }
                Err(f) => return Err(f.error),
            }
        }
    }

    fn notify_retry(&self, error: &RegistryError, wait: Duration, attempt: u32) {
        self.notices.emit(Notice::Retry {
            registry: self.registry.clone(),
            reason: short(&error.to_string()),
            wait,
            attempt,
            retries: self.retries,
        });
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.base, self.repository)
    }

    fn network(&self, e: &reqwest::Error) -> Failed {
        Failed {
            error: RegistryError::Network {
                registry: self.registry.clone(),
                message: network_message(e),
            },
            transient: !e.is_builder() && !e.is_redirect(),
        }
    }

    fn broke_off(&self, what: &str, e: &reqwest::Error) -> Failed {
        Failed {
            error: RegistryError::Network {
                registry: self.registry.clone(),
                message: format!("the transfer of {what} broke off: {}", network_message(e)),
            },
            transient: true,
        }
    }

    fn unauthorized(&self) -> RegistryError {
        RegistryError::Unauthorized {
            registry: self.registry.clone(),
            status: "401 Unauthorized".to_string(),
            hint: format!(
                "give credentials with `--username` and `--password-stdin`, \
                 PIPECTL_REGISTRY_{host}_USERNAME and _PASSWORD, or `docker login`",
                host = crate::auth::env_key(&self.registry)
            ),
        }
    }

    /// Sends a GET with the authorization the registry asked for, answering
    /// one 401 challenge.
    async fn get(
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
        *self.authorization.lock().expect("not poisoned") = Some(fresh.clone());
        send(Some(fresh)).await.map_err(|e| self.network(&e))
    }

    fn current_authorization(&self) -> Option<Authorization> {
        if let Some(Credentials::Token(token)) = &self.credentials {
            return Some(Authorization::Bearer(token.clone()));
        }
        self.authorization.lock().expect("not poisoned").clone()
    }

    /// Answers a `WWW-Authenticate` challenge: basic credentials as they
    /// are, or a bearer token from the registry's token service.
    async fn authorize(&self, challenge: &str) -> Result<Option<Authorization>, Failed> {
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
            .read_capped(
                response,
                MAX_SMALL_BODY,
                "the token response",
                "a token is never that large",
            )
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

    /// Reads a body of at most `max` bytes: a larger declared length is
    /// refused before reading, a longer body as soon as it is.
    async fn read_capped(
        &self,
        mut response: reqwest::Response,
        max: u64,
        what: &str,
        hint: &str,
    ) -> Result<Vec<u8>, Failed> {
        let too_large = |detail: String| {
            Failed::fatal(RegistryError::TooLarge {
                reference: format!("{}/{}", self.registry, self.repository),
                what: what.to_string(),
                detail,
                max,
                hint: hint.to_string(),
            })
        };
        if let Some(len) = response.content_length()
            && len > max
        {
            return Err(too_large(format!("declared {len} bytes")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.broke_off(what, &e))?
        {
            if (body.len() + chunk.len()) as u64 > max {
                return Err(too_large(format!(
                    "{} bytes or more arrived",
                    body.len() + chunk.len()
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The error an unsuccessful answer means.
    async fn status_error(&self, response: reqwest::Response, reference: &str) -> Failed {
        let status = response.status();
        let body = self
            .read_capped(response, MAX_SMALL_BODY, "an error answer", "it is ignored")
            .await
            .unwrap_or_default();
        #[derive(serde::Deserialize)]
        struct Envelope {
            errors: Vec<OciError>,
        }
        #[derive(serde::Deserialize)]
        struct OciError {
            code: String,
            #[serde(default)]
            message: String,
        }
        let envelope = serde_json::from_slice::<Envelope>(&body).ok();
        let codes: Vec<&str> = envelope
            .iter()
            .flat_map(|e| e.errors.iter().map(|e| e.code.as_str()))
            .collect();
        let registry = self.registry.clone();
        let error = match status.as_u16() {
            401 => self.unauthorized(),
            403 => RegistryError::Unauthorized {
                registry,
                status: "403 Forbidden".to_string(),
                hint: "the credentials lack permission for this repository".to_string(),
            },
            404 if codes.contains(&"NAME_UNKNOWN") => RegistryError::NotFound {
                reference: reference.to_string(),
                what: format!("repository `{}` does not exist", self.repository),
            },
            404 => RegistryError::NotFound {
                reference: reference.to_string(),
                what: "the registry does not have it".to_string(),
            },
            code => {
                let message = match &envelope {
                    Some(e) => e
                        .errors
                        .iter()
                        .map(|e| format!("{}: {}", e.code, e.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                    None => String::from_utf8_lossy(&body).into_owned(),
                };
                RegistryError::Registry {
                    registry,
                    message: format!("HTTP {code}: {}", short(&message)),
                }
            }
        };
        Failed {
            error,
            transient: status == StatusCode::TOO_MANY_REQUESTS
                || status.is_server_error()
                || codes.contains(&"TOOMANYREQUESTS"),
        }
    }

    /// GETs a manifest (by tag or digest): its bytes, capped, and their
    /// digest; `None` when the registry does not have it.
    async fn get_manifest(
        &self,
        selector: &str,
        shown: &str,
    ) -> Result<Option<(Vec<u8>, Digest)>, Failed> {
        self.get_manifest_as(selector, shown, MANIFEST_MEDIA_TYPE)
            .await
    }

    /// [`Self::get_manifest`], asking for `accept` (an image index for the
    /// referrers tag schema).
    async fn get_manifest_as(
        &self,
        selector: &str,
        shown: &str,
        accept: &str,
    ) -> Result<Option<(Vec<u8>, Digest)>, Failed> {
        let url = self.url(&format!("manifests/{selector}"));
        let response = self.get(&self.http, &url, Some(accept)).await?;
        if !response.status().is_success() {
            let failed = self.status_error(response, shown).await;
            if matches!(failed.error, RegistryError::NotFound { .. }) {
                return Ok(None);
            }
            return Err(failed);
        }
        let header = response
            .headers()
            .get("docker-content-digest")
            .and_then(|h| h.to_str().ok())
            .and_then(|h| Digest::parse(h).ok());
        let body = self
            .read_capped(
                response,
                self.limits.max_manifest_size,
                "the manifest",
                "`--max-manifest-size` raises the cap",
            )
            .await?;
        let digest = Digest::sha256(&body);
        if let Some(header) = header
            && header != digest
        {
            return Err(Failed::fatal(RegistryError::Verify {
                reference: shown.to_string(),
                reason: artifact::VerifyError::Digest {
                    what: "manifest".to_string(),
                    expected: header,
                    actual: digest,
                },
            }));
        }
        Ok(Some((body, digest)))
    }

    /// One page of tags after `last`, as the registry wrote them (callers
    /// clean them before showing any).
    async fn tag_page(&self, last: Option<&str>) -> Result<Vec<String>, Failed> {
        let mut url = reqwest::Url::parse(&self.url("tags/list")).map_err(|_| {
            Failed::fatal(RegistryError::Refused(format!(
                "`{}` does not make a valid URL",
                self.registry
            )))
        })?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("n", &TAGS_PER_PAGE.to_string());
            if let Some(last) = last {
                query.append_pair("last", last);
            }
        }
        let shown = format!("{}/{}", self.registry, self.repository);
        let response = self.get(&self.http, url.as_str(), None).await?;
        if !response.status().is_success() {
            return Err(self.status_error(response, &shown).await);
        }
        let body = self
            .read_capped(
                response,
                self.limits.max_manifest_size,
                "a page of tags",
                "`--max-manifest-size` raises the cap",
            )
            .await?;
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let page: Page = serde_json::from_slice(&body).map_err(|_| {
            Failed::fatal(RegistryError::Registry {
                registry: self.registry.clone(),
                message: "its tag list is not valid JSON".to_string(),
            })
        })?;
        Ok(page.tags.unwrap_or_default())
    }

    /// Streams a blob into `out`, starting over on a transient failure.
    async fn get_blob(
        &self,
        desc: &Descriptor,
        out: &mut BlobWriter<'_>,
        bar: &dyn crate::store::Transfer,
    ) -> Result<(), RegistryError> {
        let url = self.url(&format!("blobs/{}", desc.digest));
        let shown = format!("{}/{}@{}", self.registry, self.repository, desc.digest);
        let mut wait = FIRST_RETRY_WAIT;
        let mut attempt = 0;
        loop {
            out.restart()?;
            bar.set_position(0);
            let result: Result<(), Failed> = async {
                let mut response = self.get(&self.blobs, &url, None).await?;
                if !response.status().is_success() {
                    return Err(self.status_error(response, &shown).await);
                }
                // More than declared: refused before any byte is read.
                if let Some(len) = response.content_length()
                    && len > desc.size
                {
                    return Err(Failed::fatal(RegistryError::Verify {
                        reference: shown.clone(),
                        reason: artifact::VerifyError::TooLong {
                            what: format!("the layer ({len} bytes announced)"),
                            expected: desc.size,
                        },
                    }));
                }
                let what = desc.digest.to_string();
                while let Some(chunk) = response
                    .chunk()
                    .await
                    .map_err(|e| self.broke_off(&what, &e))?
                {
                    out.write(&chunk)?;
                    bar.set_position(out.written());
                }
                Ok(())
            }
            .await;
            match result {
                Ok(()) => return Ok(()),
                Err(f) if f.transient && attempt < self.retries => {
                    attempt += 1;
                    self.notify_retry(&f.error, wait, attempt);
                    tokio::time::sleep(wait).await;
                    wait = wait.saturating_mul(2).min(LONGEST_RETRY_WAIT);
                }
                Err(f) => return Err(f.error),
            }
        }
    }

    /// The referrers API's list for `subject`; `None` when the registry
    /// has no referrers API (it answers 404).
    async fn referrers_api(
        &self,
        subject: &Digest,
    ) -> Result<Option<Vec<ReferrerDescriptor>>, Failed> {
        let url = self.url(&format!("referrers/{subject}"));
        let shown = format!("{}/{}@{subject}", self.registry, self.repository);
        let response = self.get(&self.http, &url, Some(INDEX_MEDIA_TYPE)).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(self.status_error(response, &shown).await);
        }
        let body = self
            .read_capped(
                response,
                self.limits.max_manifest_size,
                "the referrers list",
                "`--max-manifest-size` raises the cap",
            )
            .await?;
        let index: ReferrerIndex = serde_json::from_slice(&body).map_err(|_| {
            Failed::fatal(RegistryError::Registry {
                registry: self.registry.clone(),
                message: "its referrers list is not an image index".to_string(),
            })
        })?;
        Ok(Some(index.manifests))
    }

    /// The referrers tag schema's index for `subject`, if the tag exists.
    async fn tag_schema_index(&self, subject: &Digest) -> Result<Option<ReferrerIndex>, Failed> {
        let tag = referrers::tag_for(subject);
        let shown = format!("{}/{}:{tag}", self.registry, self.repository);
        let Some((bytes, _)) = self.get_manifest_as(&tag, &shown, INDEX_MEDIA_TYPE).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|_| {
            Failed::fatal(RegistryError::Refused(format!(
                "`{shown}` is not an image index; it is not a referrers tag pipectl can update"
            )))
        })
    }

    /// Pushes `bytes` as a blob unless the registry has it.
    fn push_blob_once(
        &self,
        reference: &Reference,
        bytes: &[u8],
        digest: &Digest,
        shown: &str,
    ) -> Result<(), RegistryError> {
        let digest = digest.to_string();
        let exists = self
            .block(async {
                self.client
                    .store_auth_if_needed(&self.registry, &self.auth)
                    .await;
                Ok(self
                    .client
                    .blob_exists(reference, &digest)
                    .await
                    .unwrap_or(false))
            })
            .unwrap_or(false);
        if exists {
            return Ok(());
        }
        self.block(self.retry(|| {
            let fut = self.client.push_blob(reference, bytes.to_vec(), &digest);
            async { fut.await.map(|_| ()).map_err(|e| self.oci_failed(shown, e)) }
        }))
    }

    /// PUTs `body` as a manifest of `media_type` under `reference`.
    fn put_manifest(
        &self,
        reference: &Reference,
        body: &[u8],
        media_type: &'static str,
        shown: &str,
    ) -> Result<(), RegistryError> {
        let content_type = http::HeaderValue::from_static(media_type);
        self.block(self.retry(|| {
            let fut = self
                .client
                .push_manifest_raw(reference, body.to_vec(), content_type.clone());
            async { fut.await.map(|_| ()).map_err(|e| self.oci_failed(shown, e)) }
        }))
    }

    fn tag_ref(&self, tag: &str) -> Reference {
        Reference::with_tag(
            self.registry.clone(),
            self.repository.clone(),
            tag.to_string(),
        )
    }

    /// Turns oci-client's error (from a push) into ours: no credentials,
    /// no response bodies beyond a line.
    fn error(&self, reference: &str, e: OciDistributionError) -> RegistryError {
        let registry = self.registry.clone();
        match e {
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_)
            | OciDistributionError::ServerError { code: 401, .. } => self.unauthorized(),
            OciDistributionError::ServerError { code: 403, .. } => RegistryError::Unauthorized {
                registry,
                status: "403 Forbidden".to_string(),
                hint: "the credentials lack permission for this repository".to_string(),
            },
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
                {
                    return self.unauthorized();
                }
                if codes.iter().any(|c| matches!(c, OciErrorCode::NameUnknown)) {
                    return RegistryError::NotFound {
                        reference: reference.to_string(),
                        what: format!("repository `{}` does not exist", self.repository),
                    };
                }
                let message: Vec<String> =
                    envelope.errors.iter().map(|e| e.message.clone()).collect();
                RegistryError::Registry {
                    registry,
                    message: short(&message.join("; ")),
                }
            }
            OciDistributionError::ServerError { code, message, .. } => RegistryError::Registry {
                registry,
                message: format!("HTTP {code}: {}", short(&message)),
            },
            OciDistributionError::RequestError(e) => RegistryError::Network {
                registry,
                message: network_message(&e),
            },
            other => RegistryError::Network {
                registry,
                message: short(&other.to_string()),
            },
        }
    }

    fn oci_failed(&self, reference: &str, e: OciDistributionError) -> Failed {
        Failed {
            transient: transient(&e),
            error: self.error(reference, e),
        }
    }
}

/// Splits a `WWW-Authenticate` value into its scheme and parameters.
fn parse_challenge(header: &str) -> (String, Vec<(String, String)>) {
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

/// One line, at most 200 characters, control characters escaped:
/// registries send whole HTML pages, and anything.
fn short(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default().trim();
    pipectl_io::text::clean(line, 200)
}

fn network_message(e: &reqwest::Error) -> String {
    let mut message = if e.is_connect() {
        "cannot connect (is the registry running, and is the address right?)".to_string()
    } else if e.is_timeout() {
        "the connection timed out".to_string()
    } else if e.is_redirect() {
        "a redirect was refused".to_string()
    } else {
        "the connection failed".to_string()
    };
    // The innermost cause says what happened (refused, reset, TLS).
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    if let Some(last) = last {
        message.push_str(": ");
        message.push_str(&short(&last));
    }
    message
}

impl Store for RemoteStore {
    fn describe(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    fn tags(&mut self) -> Result<Vec<String>, RegistryError> {
        let this = &*self;
        this.block(async {
            let mut tags: Vec<String> = Vec::new();
            let mut last: Option<String> = None;
            // Registries may return short pages before the end: page until
            // an empty one, or until the cursor stops moving; but no more
            // than the limits allow.
            for _ in 0..this.limits.max_tag_pages {
                let page = this.retry(|| this.tag_page(last.as_deref())).await?;
                let next = page.last().cloned();
                if page.is_empty() || next == last {
                    tags.sort();
                    tags.dedup();
                    return Ok(tags);
                }
                last = next;
                tags.extend(page);
                if tags.len() > this.limits.max_tags {
                    return Err(RegistryError::Refused(format!(
                        "`{}` lists more than {} tags; pipectl reads no more",
                        this.describe(),
                        this.limits.max_tags
                    )));
                }
            }
            Err(RegistryError::Refused(format!(
                "`{}` lists more than {} pages of tags; pipectl reads no more",
                this.describe(),
                this.limits.max_tag_pages
            )))
        })
    }

    fn manifest_for_tag(&mut self, tag: &str) -> Result<Option<(Vec<u8>, Digest)>, RegistryError> {
        let shown = format!("{}:{tag}", self.describe());
        let this = &*self;
        this.block(this.retry(|| this.get_manifest(tag, &shown)))
    }

    fn manifest_by_digest(&mut self, digest: &Digest) -> Result<Vec<u8>, RegistryError> {
        let shown = format!("{}@{digest}", self.describe());
        let this = &*self;
        let selector = digest.to_string();
        let found = this.block(this.retry(|| this.get_manifest(&selector, &shown)))?;
        let Some((bytes, actual)) = found else {
            return Err(RegistryError::NotFound {
                reference: shown,
                what: "the registry does not have it".to_string(),
            });
        };
        if actual != *digest {
            return Err(RegistryError::Verify {
                reference: shown,
                reason: artifact::VerifyError::Digest {
                    what: "manifest".to_string(),
                    expected: digest.clone(),
                    actual,
                },
            });
        }
        Ok(bytes)
    }

    fn blob(
        &mut self,
        desc: &Descriptor,
        tmp_dir: &std::path::Path,
        progress: &Progress,
    ) -> Result<tempfile::NamedTempFile, RegistryError> {
        let shown = format!("{}@{}", self.describe(), desc.digest);
        let mut out = BlobWriter::new(desc, shown, tmp_dir)?;
        let bar = progress.bar("fetch", desc.size);
        let this = &*self;
        let result = this.block(this.get_blob(desc, &mut out, &*bar));
        bar.finish();
        result?;
        out.finish()
    }

    fn push(
        &mut self,
        artifact: &Artifact,
        tag: &str,
        expected: Option<&Digest>,
        progress: &Progress,
    ) -> Result<(), RegistryError> {
        let reference = self.tag_ref(tag);
        let shown = format!("{}:{tag}", self.describe());
        let blobs = [
            (&artifact.config, &artifact.parsed.config.digest, "config"),
            (&artifact.layer, &artifact.parsed.layers[0].digest, "layer"),
        ];
        let this = &*self;
        for (bytes, digest, what) in blobs {
            let digest = digest.to_string();
            let exists = this
                .block(async {
                    this.client
                        .store_auth_if_needed(&this.registry, &this.auth)
                        .await;
                    Ok(this
                        .client
                        .blob_exists(&reference, &digest)
                        .await
                        .unwrap_or(false))
                })
                .unwrap_or(false);
            if exists {
                continue;
            }
            let bar = progress.bar(what, bytes.len() as u64);
            let pushed = this.block(this.retry(|| {
                bar.set_position(0);
                let fut = this.client.push_blob(&reference, bytes.clone(), &digest);
                async { fut.await.map_err(|e| this.oci_failed(&shown, e)) }
            }));
            bar.finish();
            pushed?;
        }
        // Registries have no compare-and-swap: look again just before
        // tagging, which narrows the window to one request.
        let now = self.manifest_for_tag(tag)?.map(|(_, digest)| digest);
        if crate::store::check_tag(&shown, now.as_ref(), expected, &artifact.manifest_digest)? {
            return Ok(());
        }
        let content_type = http::HeaderValue::from_static(MANIFEST_MEDIA_TYPE);
        let this = &*self;
        this.block(this.retry(|| {
            let fut = this.client.push_manifest_raw(
                &reference,
                artifact.manifest.clone(),
                content_type.clone(),
            );
            async {
                fut.await
                    .map(|_| ())
                    .map_err(|e| this.oci_failed(&shown, e))
            }
        }))
    }

    fn push_referrer(
        &mut self,
        referrer: &Referrer,
        _progress: &Progress,
    ) -> Result<(), RegistryError> {
        let digest = referrer.digest();
        let subject = referrer.parsed.subject.digest.clone();
        let shown = format!("{}@{digest}", self.describe());
        let by_digest = Reference::with_digest(
            self.registry.clone(),
            self.repository.clone(),
            digest.to_string(),
        );
        let this = &*self;
        this.push_blob_once(
            &by_digest,
            referrers::EMPTY_JSON,
            &referrer.parsed.config.digest,
            &shown,
        )?;
        this.push_blob_once(
            &by_digest,
            &referrer.payload,
            &referrer.parsed.layers[0].digest,
            &shown,
        )?;
        this.put_manifest(&by_digest, &referrer.manifest, MANIFEST_MEDIA_TYPE, &shown)?;
        // A registry with the referrers API lists it by its subject.
        if this
            .block(this.retry(|| this.referrers_api(&subject)))?
            .is_some()
        {
            return Ok(());
        }
        // The tag schema: read, add ours, write; read again, since another
        // client may have written in between (then add ours again).
        let tag = referrers::tag_for(&subject);
        let tag_ref = this.tag_ref(&tag);
        let tag_shown = format!("{}:{tag}", this.describe());
        for _ in 0..4 {
            let mut index = this
                .block(this.retry(|| this.tag_schema_index(&subject)))?
                .unwrap_or_else(ReferrerIndex::empty);
            if !index.add(&referrer.descriptor()) {
                return Ok(());
            }
            this.put_manifest(&tag_ref, &index.to_json(), INDEX_MEDIA_TYPE, &tag_shown)?;
        }
        Err(RegistryError::Refused(format!(
            "`{tag_shown}` kept changing while pipectl added a referrer to it; try again"
        )))
    }

    fn referrers(&mut self, subject: &Digest) -> Result<Vec<ReferrerDescriptor>, RegistryError> {
        let this = &*self;
        let found = this.block(async {
            if let Some(found) = this.retry(|| this.referrers_api(subject)).await? {
                return Ok(found);
            }
            Ok(this
                .retry(|| this.tag_schema_index(subject))
                .await?
                .map(|index| index.manifests)
                .unwrap_or_default())
        })?;
        if found.len() > referrers::MAX_REFERRERS {
            return Err(RegistryError::Refused(format!(
                "`{}@{subject}` has more than {} referrers; pipectl reads no more",
                self.describe(),
                referrers::MAX_REFERRERS
            )));
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_failures_are_retried() {
        let server = |code| OciDistributionError::ServerError {
            code,
            url: "http://r/v2/".into(),
            message: String::new(),
        };
        for code in [429, 500, 502, 503, 504] {
            assert!(transient(&server(code)), "{code}");
        }
        for code in [400, 401, 403, 404, 409] {
            assert!(!transient(&server(code)), "{code}");
        }
        let envelope = |code| OciDistributionError::RegistryError {
            envelope: oci_client::errors::OciEnvelope {
                errors: vec![oci_client::errors::OciError {
                    code,
                    message: String::new(),
                    detail: serde_json::Value::Null,
                }],
            },
            url: "http://r/v2/".into(),
        };
        assert!(transient(&envelope(OciErrorCode::Toomanyrequests)));
        assert!(!transient(&envelope(OciErrorCode::Denied)));
        assert!(!transient(&envelope(OciErrorCode::ManifestUnknown)));
        let io = |kind| OciDistributionError::IoError(std::io::Error::new(kind, "x"));
        assert!(transient(&io(std::io::ErrorKind::ConnectionReset)));
        assert!(!transient(&io(std::io::ErrorKind::InvalidData)));
        assert!(!transient(
            &OciDistributionError::ImageManifestNotFoundError("x".into())
        ));
    }

    #[test]
    fn challenges_parse() {
        let (scheme, params) = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#,
        );
        assert_eq!(scheme, "Bearer");
        assert_eq!(
            params,
            vec![
                ("realm".into(), "https://auth.example/token".into()),
                ("service".into(), "registry.example".into()),
                ("scope".into(), "repository:a/b:pull".into()),
            ]
        );
        let (scheme, params) = parse_challenge(r#"Basic realm="pipectl-test""#);
        assert_eq!(scheme, "Basic");
        assert_eq!(params, vec![("realm".into(), "pipectl-test".into())]);
    }

    #[test]
    fn registry_text_is_one_clean_line() {
        assert_eq!(short("a\x1b[2Jb\nsecond line"), "a\\u{1b}[2Jb");
        assert!(short(&"x".repeat(1000)).contains("800 more characters cut"));
    }
}
