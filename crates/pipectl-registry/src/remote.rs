//! An OCI registry, through oci-client. Plain HTTP only for loopback
//! registries and hosts named `--insecure`; every manifest and blob is
//! verified against its digest and size before it is returned.

use futures_util::StreamExt as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::artifact::{self, Artifact, Descriptor, MANIFEST_MEDIA_TYPE};
use crate::auth::Credentials;
use crate::error::RegistryError;
use crate::reference::is_loopback;
use crate::store::{Progress, Store};

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct Transport {
    /// Hosts (`host[:port]`) reached over plain HTTP besides loopback.
    pub insecure: Vec<String>,
    /// How many times a request that failed for a transient reason (the
    /// connection failed or broke off, 5xx, 429) is sent again.
    pub retries: u32,
}

impl Default for Transport {
    fn default() -> Self {
        Self {
            insecure: Vec::new(),
            retries: 3,
        }
    }
}

/// The wait before the first retry; it doubles for each next one, up to
/// [`LONGEST_RETRY_WAIT`].
const FIRST_RETRY_WAIT: std::time::Duration = std::time::Duration::from_millis(250);
/// The longest wait between two tries.
const LONGEST_RETRY_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

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

/// A repository in an OCI registry.
pub struct RemoteStore {
    registry: String,
    repository: String,
    client: Client,
    auth: RegistryAuth,
    runtime: tokio::runtime::Runtime,
    retries: u32,
}

impl RemoteStore {
    /// Connects (lazily) to `registry/repository`.
    pub fn new(
        registry: &str,
        repository: &str,
        credentials: Option<Credentials>,
        transport: &Transport,
    ) -> Result<Self, RegistryError> {
        let plain = is_loopback(registry) || transport.insecure.iter().any(|h| h == registry);
        let config = ClientConfig {
            protocol: if plain {
                ClientProtocol::HttpsExcept(vec![registry.to_string()])
            } else {
                ClientProtocol::Https
            },
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            read_timeout: Some(std::time::Duration::from_secs(60)),
            user_agent: concat!("pipectl/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        let client = Client::try_from(config).map_err(|e| RegistryError::Network {
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
            client,
            auth: credentials.map_or(RegistryAuth::Anonymous, |c| c.into_auth()),
            runtime,
            retries: transport.retries,
        })
    }

    /// Runs the request `op` makes, and makes it again after a transient
    /// failure, up to `retries` times, waiting 250 ms, then twice as long
    /// each time. Only for reads and idempotent writes (content-addressed
    /// blobs, a manifest under one tag).
    fn retrying<T, F>(&self, mut op: impl FnMut() -> F) -> Result<T, OciDistributionError>
    where
        F: std::future::Future<Output = Result<T, OciDistributionError>>,
    {
        let mut wait = FIRST_RETRY_WAIT;
        let mut attempt = 0;
        loop {
            match self.runtime.block_on(op()) {
                Err(e) if attempt < self.retries && transient(&e) => {
                    attempt += 1;
                    eprintln!(
                        "pipectl: registry `{}`: {}; trying again in {} ms ({attempt}/{})",
                        self.registry,
                        short(&e.to_string()),
                        wait.as_millis(),
                        self.retries
                    );
                    std::thread::sleep(wait);
                    wait = wait.saturating_mul(2).min(LONGEST_RETRY_WAIT);
                }
                other => return other,
            }
        }
    }

    fn tag_ref(&self, tag: &str) -> Reference {
        Reference::with_tag(
            self.registry.clone(),
            self.repository.clone(),
            tag.to_string(),
        )
    }

    fn digest_ref(&self, digest: &str) -> Reference {
        Reference::with_digest(
            self.registry.clone(),
            self.repository.clone(),
            digest.to_string(),
        )
    }

    /// Turns oci-client's error into ours: no credentials, no response
    /// bodies beyond a line.
    fn error(&self, reference: &str, e: OciDistributionError) -> RegistryError {
        let registry = self.registry.clone();
        let unauthorized = || RegistryError::Unauthorized {
            registry: registry.clone(),
            status: "401 Unauthorized".to_string(),
            hint: "give credentials with `--username` and `--password-stdin`, \
                   PIPECTL_REGISTRY_USERNAME and PIPECTL_REGISTRY_PASSWORD, or `docker login`"
                .to_string(),
        };
        match e {
            OciDistributionError::UnauthorizedError { .. } => unauthorized(),
            OciDistributionError::AuthenticationFailure(_) => unauthorized(),
            OciDistributionError::ServerError { code: 401, .. } => unauthorized(),
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
                    return unauthorized();
                }
                if codes.iter().any(|c| matches!(c, OciErrorCode::NameUnknown)) {
                    return RegistryError::NotFound {
                        reference: reference.to_string(),
                        what: format!("repository `{}` does not exist", self.repository),
                    };
                }
                if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::ManifestUnknown | OciErrorCode::BlobUnknown))
                {
                    return RegistryError::NotFound {
                        reference: reference.to_string(),
                        what: "the registry does not have it".to_string(),
                    };
                }
                let message: Vec<String> =
                    envelope.errors.iter().map(|e| e.message.clone()).collect();
                RegistryError::Registry {
                    registry,
                    message: short(&message.join("; ")),
                }
            }
            OciDistributionError::ServerError { code: 404, .. } => RegistryError::NotFound {
                reference: reference.to_string(),
                what: "the registry does not have it".to_string(),
            },
            OciDistributionError::ServerError { code, message, .. } => RegistryError::Registry {
                registry,
                message: format!("HTTP {code}: {}", short(&message)),
            },
            OciDistributionError::DigestError(e) => RegistryError::Verify {
                reference: reference.to_string(),
                reason: artifact::VerifyError::Shape(format!("digest check failed: {e}")),
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
}

/// One line, at most 200 characters: registries send whole HTML pages.
fn short(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default().trim();
    let mut out: String = line.chars().take(200).collect();
    if line.chars().count() > 200 {
        out.push('…');
    }
    out
}

fn network_message(e: &reqwest::Error) -> String {
    let mut message = if e.is_connect() {
        "cannot connect (is the registry running, and is the address right?)".to_string()
    } else if e.is_timeout() {
        "the connection timed out".to_string()
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
        let reference = self.tag_ref("latest");
        let mut tags: Vec<String> = Vec::new();
        let mut last: Option<String> = None;
        // Registries may return short pages before the end: page until an
        // empty one, or until the cursor stops moving.
        for _ in 0..10_000 {
            let page = self
                .retrying(|| {
                    self.client
                        .list_tags(&reference, &self.auth, Some(100), last.as_deref())
                })
                .map_err(|e| self.error(&self.describe(), e))?;
            let next = page.tags.last().cloned();
            if page.tags.is_empty() || next == last {
                break;
            }
            last = next;
            tags.extend(page.tags);
        }
        tags.sort();
        tags.dedup();
        Ok(tags)
    }

    fn manifest_for_tag(&mut self, tag: &str) -> Result<Option<(Vec<u8>, String)>, RegistryError> {
        let reference = self.tag_ref(tag);
        let shown = format!("{}:{tag}", self.describe());
        match self.retrying(|| {
            self.client
                .pull_manifest_raw(&reference, &self.auth, &[MANIFEST_MEDIA_TYPE])
        }) {
            Ok((bytes, digest)) => {
                // oci-client hashed the body; check it ourselves too.
                artifact::verify("manifest", &bytes, &digest, None).map_err(|source| {
                    RegistryError::Verify {
                        reference: shown.clone(),
                        reason: source,
                    }
                })?;
                Ok(Some((bytes.to_vec(), digest)))
            }
            // A new repository is as good as a missing tag: some registries
            // answer NAME_UNKNOWN for it.
            Err(e) => match self.error(&shown, e) {
                RegistryError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    fn manifest_by_digest(&mut self, digest: &str) -> Result<Vec<u8>, RegistryError> {
        let reference = self.digest_ref(digest);
        let shown = format!("{}@{digest}", self.describe());
        let (bytes, _) = self
            .retrying(|| {
                self.client
                    .pull_manifest_raw(&reference, &self.auth, &[MANIFEST_MEDIA_TYPE])
            })
            .map_err(|e| self.error(&shown, e))?;
        artifact::verify("manifest", &bytes, digest, None).map_err(|source| {
            RegistryError::Verify {
                reference: shown,
                reason: source,
            }
        })?;
        Ok(bytes.to_vec())
    }

    fn blob(&mut self, desc: &Descriptor, progress: &Progress) -> Result<Vec<u8>, RegistryError> {
        let reference = self.digest_ref(&desc.digest);
        let shown = format!("{}@{}", self.describe(), desc.digest);
        let bar = progress.bar("fetch", desc.size);
        let client = &self.client;
        let auth = &self.auth;
        let registry = self.registry.as_str();
        let (reference, bar) = (&reference, &bar);
        let result: Result<Vec<u8>, RegistryError> = self
            .retrying(|| async move {
                bar.set_position(0);
                client.store_auth_if_needed(registry, auth).await;
                let mut stream = client
                    .pull_blob_stream(reference, desc.digest.as_str())
                    .await?
                    .stream;
                let mut out =
                    Vec::with_capacity(usize::try_from(desc.size).unwrap_or(0).min(64 << 20));
                while let Some(chunk) = stream.next().await {
                    let chunk = match chunk {
                        Ok(chunk) => chunk,
                        // oci-client checks the digest at the end of the stream;
                        // so do we, below, with the bytes in hand.
                        Err(e) if e.to_string().to_lowercase().contains("digest") => break,
                        Err(e) => return Err(OciDistributionError::IoError(e)),
                    };
                    out.extend_from_slice(&chunk);
                    bar.set_position(out.len() as u64);
                    // A registry that sends more than the manifest says is not
                    // read to the end.
                    if out.len() as u64 > desc.size {
                        break;
                    }
                }
                Ok::<_, OciDistributionError>(out)
            })
            .map_err(|e| match e {
                OciDistributionError::IoError(io)
                    if io.kind() == std::io::ErrorKind::InvalidData =>
                {
                    RegistryError::Verify {
                        reference: shown.clone(),
                        reason: artifact::VerifyError::Shape(format!("{io}")),
                    }
                }
                OciDistributionError::IoError(io) => RegistryError::Network {
                    registry: self.registry.clone(),
                    message: format!(
                        "the transfer of {} broke off: {}",
                        desc.digest,
                        short(&io.to_string())
                    ),
                },
                other => self.error(&shown, other),
            });
        bar.finish_and_clear();
        let bytes = result?;
        artifact::verify("layer", &bytes, &desc.digest, Some(desc.size)).map_err(|source| {
            RegistryError::Verify {
                reference: shown,
                reason: source,
            }
        })?;
        Ok(bytes)
    }

    fn push(
        &mut self,
        artifact: &Artifact,
        tag: &str,
        expected: Option<&str>,
        progress: &Progress,
    ) -> Result<(), RegistryError> {
        let reference = self.tag_ref(tag);
        let shown = format!("{}:{tag}", self.describe());
        let blobs = [
            (&artifact.config, &artifact.parsed.config.digest, "config"),
            (&artifact.layer, &artifact.parsed.layers[0].digest, "layer"),
        ];
        for (bytes, digest, what) in blobs {
            let exists = self
                .runtime
                .block_on(async {
                    self.client
                        .store_auth_if_needed(&self.registry, &self.auth)
                        .await;
                    self.client.blob_exists(&reference, digest).await
                })
                .unwrap_or(false);
            if exists {
                continue;
            }
            let bar = progress.bar(what, bytes.len() as u64);
            let pushed = self.retrying(|| {
                bar.set_position(0);
                self.client.push_blob(&reference, bytes.clone(), digest)
            });
            bar.finish_and_clear();
            pushed.map_err(|e| self.error(&shown, e))?;
        }
        // Registries have no compare-and-swap: look again just before
        // tagging, which narrows the window to one request.
        let now = self.manifest_for_tag(tag)?.map(|(_, digest)| digest);
        if crate::store::check_tag(&shown, now.as_deref(), expected, &artifact.manifest_digest)? {
            return Ok(());
        }
        let content_type = http::HeaderValue::from_static(MANIFEST_MEDIA_TYPE);
        self.retrying(|| {
            self.client.push_manifest_raw(
                &reference,
                artifact.manifest.clone(),
                content_type.clone(),
            )
        })
        .map_err(|e| self.error(&shown, e))?;
        Ok(())
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
}
