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

mod challenge;
mod reads;

use challenge::Authorization;
#[cfg(test)]
use challenge::parse_challenge;

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

/// A repository in an OCI registry.
pub struct RemoteStore {
    registry: String,
    repository: String,
    /// The URL the registry's API is under: `http://host[:port]` or `https://host[:port]`.
    base: String,
    plain: bool,
    /// oci-client's client, for pushes: built on first use ([`Self::oci`]),
    /// since building one loads the platform's root certificates and a
    /// fetch never needs it.
    oci: std::sync::OnceLock<Client>,
    /// Manifests, tags, tokens: redirects within the registry only.
    http: reqwest::Client,
    /// Blobs: redirects to other hosts too (without credentials).
    blobs: reqwest::Client,
    auth: RegistryAuth,
    credentials: Option<Credentials>,
    authorization: Mutex<Option<Authorization>>,
    /// Whether the registry asks for authentication at all (probed once).
    needs_auth: tokio::sync::OnceCell<bool>,
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

/// Makes ring's cryptography rustls's process default, before any HTTP
/// client is built (reqwest, built without a provider of its own, needs
/// one). A provider some other part of the process installed first stays.
fn tls_provider() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The two HTTP clients every store shares: `(http, blobs)`, built once per
/// process (each build loads the platform's root certificates), their
/// connection pools shared too.
fn http_clients() -> Result<&'static (reqwest::Client, reqwest::Client), String> {
    static CLIENTS: std::sync::OnceLock<Result<(reqwest::Client, reqwest::Client), String>> =
        std::sync::OnceLock::new();
    let build = |cross_host| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("pipectl/", env!("CARGO_PKG_VERSION")))
            .redirect(redirect_policy(cross_host))
            .build()
            .map_err(|e| e.to_string())
    };
    CLIENTS
        .get_or_init(|| Ok((build(false)?, build(true)?)))
        .as_ref()
        .map_err(Clone::clone)
}

/// oci-client's configuration for `registry` (plain HTTP when `plain`).
fn oci_config(registry: &str, plain: bool) -> ClientConfig {
    ClientConfig {
        protocol: if plain {
            ClientProtocol::HttpsExcept(vec![registry.to_string()])
        } else {
            ClientProtocol::Https
        },
        connect_timeout: Some(Duration::from_secs(10)),
        read_timeout: Some(Duration::from_secs(60)),
        user_agent: concat!("pipectl/", env!("CARGO_PKG_VERSION")),
        // A blob goes up in two requests (open the upload, PUT the
        // bytes), not a PATCH per chunk with a round trip each.
        use_monolithic_push: true,
        ..ClientConfig::default()
    }
}

impl RemoteStore {
    /// oci-client's client, built on first use.
    fn oci(&self) -> Result<&Client, RegistryError> {
        if let Some(client) = self.oci.get() {
            return Ok(client);
        }
        let client = Client::try_from(oci_config(&self.registry, self.plain)).map_err(|e| {
            RegistryError::Network {
                registry: self.registry.clone(),
                message: format!("failed to set up the HTTP client: {e}"),
            }
        })?;
        Ok(self.oci.get_or_init(|| client))
    }

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
        tls_provider();
        let plain = is_loopback(registry) || transport.insecure.iter().any(|h| h == registry);
        let clients = http_clients().map_err(|e| RegistryError::Network {
            registry: registry.to_string(),
            message: format!("failed to set up the HTTP client: {e}"),
        })?;
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
            oci: std::sync::OnceLock::new(),
            http: clients.0.clone(),
            blobs: clients.1.clone(),
            auth: credentials
                .clone()
                .map_or(RegistryAuth::Anonymous, |c| c.into_auth()),
            credentials,
            authorization: Mutex::new(None),
            needs_auth: tokio::sync::OnceCell::new(),
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
            detail: "it wants credentials, and none were given or they were wrong".to_string(),
        }
    }

    /// Hands oci-client the credentials when the registry asks for
    /// authentication (known from the reads before, else probed once per
    /// store). oci-client holding none
    /// makes no request of its own: holding anonymous ones and getting no
    /// token back, it would probe `GET /v2/` before every request.
    async fn authorize_client(&self) {
        let needs = *self
            .needs_auth
            .get_or_init(|| async {
                match self.http.get(format!("{}/v2/", self.base)).send().await {
                    Ok(r) => {
                        r.status() == reqwest::StatusCode::UNAUTHORIZED
                            || r.headers().contains_key(reqwest::header::WWW_AUTHENTICATE)
                    }
                    // Unreachable: oci-client will say so with the credentials.
                    Err(_) => true,
                }
            })
            .await;
        // A client that cannot be built fails the push that needs it.
        if needs && let Ok(client) = self.oci() {
            client
                .store_auth_if_needed(&self.registry, &self.auth)
                .await;
        }
    }

    /// Pushes `bytes` as a blob unless the registry has it.
    fn push_blob_once(
        &self,
        reference: &Reference,
        bytes: &[u8],
        digest: &Digest,
        shown: &str,
    ) -> Result<(), RegistryError> {
        let client = self.oci()?;
        let digest = digest.to_string();
        let exists = self
            .block(async {
                self.authorize_client().await;
                Ok(client
                    .blob_exists(reference, &digest)
                    .await
                    .unwrap_or(false))
            })
            .unwrap_or(false);
        if exists {
            return Ok(());
        }
        self.block(self.retry(|| {
            let fut = client.push_blob(reference, bytes.to_vec(), &digest);
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
        let client = self.oci()?;
        let content_type = http::HeaderValue::from_static(media_type);
        self.block(self.retry(|| {
            let fut = client.push_manifest_raw(reference, body.to_vec(), content_type.clone());
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
                detail: "the credentials lack permission for this repository".to_string(),
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
        let client = this.oci()?;
        for (bytes, digest, what) in blobs {
            let digest = digest.to_string();
            // A config is a few bytes: uploading it costs no more than
            // asking whether it is there.
            let small = bytes.len() <= 4096;
            let exists = this
                .block(async {
                    this.authorize_client().await;
                    Ok(!small
                        && client
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
                let fut = client.push_blob(&reference, bytes.clone(), &digest);
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
        let client = this.oci()?;
        this.block(this.retry(|| {
            let fut = client.push_manifest_raw(
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
