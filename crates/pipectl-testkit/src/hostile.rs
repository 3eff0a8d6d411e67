//! A hostile OCI registry for tests: it serves one well-behaved tag, so a
//! client can be seen to work against it, and one tag that misbehaves in a
//! chosen way (a [`Behaviour`]): a huge manifest, a layer longer than its
//! manifest says, a layer declared huge, a body dribbled one byte a second,
//! tag pages without end, a blob redirected to another host that fishes
//! for credentials.
//!
//! It speaks just enough HTTP/1.1 by hand, on a `std::net::TcpListener` on a
//! free loopback port with a thread per connection, because a server that
//! misbehaves at the protocol level (a body longer or slower than it
//! should be, a `Content-Length` of 3 GiB) cannot be built on a
//! well-behaved HTTP framework: it would refuse, or quietly fix, exactly
//! the faults the tests need. It counts requests and the body bytes it
//! managed to send per path, so tests can assert what a client asked for.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

/// The repository the server serves.
pub const REPOSITORY: &str = "plugins/hostile";
/// The tag that is served well: the normalizer plugin as a Wasm artifact.
pub const GOOD_TAG: &str = "0.1.0";
/// The tag that misbehaves: the counter plugin, served per the behaviour.
pub const HOSTILE_TAG: &str = "1.0.0";
/// The size of [`Behaviour::HugeManifest`]'s manifest.
pub const HUGE_MANIFEST_SIZE: u64 = 256 << 20;
/// How many bytes more than declared [`Behaviour::LongerLayer`] sends.
pub const EXTRA_LAYER_BYTES: u64 = 1 << 20;
/// The layer size [`Behaviour::DeclaredHugeLayer`]'s manifest declares.
pub const DECLARED_HUGE_LAYER_SIZE: u64 = 3 << 30;
/// What [`Behaviour::DeclaredHugeLayer`] sends at most before it closes
/// the connection, so a client that downloads it anyway fails in bounded
/// time without taking the test machine's memory with it.
pub const DECLARED_HUGE_LAYER_SENT_AT_MOST: u64 = 256 << 20;
/// Tags per page in [`Behaviour::EndlessTagPages`].
pub const TAGS_PER_PAGE: usize = 100;

/// How the hostile tag misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Its manifest is valid JSON of a valid Wasm artifact manifest, but
    /// [`HUGE_MANIFEST_SIZE`] bytes long (a huge annotation), streamed with
    /// its `Content-Length` set.
    HugeManifest,
    /// Like [`Behaviour::HugeManifest`], without a `Content-Length`: the
    /// body ends when the connection closes, so only counting tells.
    HugeManifestUnframed,
    /// The blob endpoint sends the layer and [`EXTRA_LAYER_BYTES`] more,
    /// with a `Content-Length` saying so.
    LongerLayer,
    /// Like [`Behaviour::LongerLayer`], without a `Content-Length`: the body
    /// ends when the connection closes, so only counting tells.
    LongerLayerUnframed,
    /// The manifest declares a [`DECLARED_HUGE_LAYER_SIZE`] layer; a blob
    /// request gets that `Content-Length` and filler bytes, up to
    /// [`DECLARED_HUGE_LAYER_SENT_AT_MOST`].
    DeclaredHugeLayer,
    /// The manifest's headers come at once, then its body one space (valid
    /// leading JSON whitespace) a second, forever.
    SlowManifest,
    /// The layer's headers come at once, then its body one byte a second.
    SlowBlob,
    /// `/v2/<repo>/tags/list` always answers [`TAGS_PER_PAGE`] new tags
    /// (`1.<page>.<n>`) and a `Link` header to a next page.
    EndlessTagPages,
    /// The layer's blob request is answered with a 307 to the same path on
    /// a second listener, on another loopback address when the system has
    /// one (`127.0.0.2`), else on another port. That host records every
    /// `Authorization` header, answers 401 with a basic-auth challenge to a
    /// request without one, and serves the layer to a request with one.
    RedirectToOtherHost,
}

/// Which listener a request reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// The registry itself ([`HostileRegistry::addr`]).
    Registry,
    /// The host blobs are redirected to ([`HostileRegistry::other_addr`]).
    Other,
}

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct Request {
    /// Which listener it reached.
    pub host: Host,
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The request target, query included.
    pub target: String,
    /// Its `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The status answered (0 until the head is written).
    pub status: u16,
    /// Body bytes written to the socket so far (what the kernel accepted;
    /// the client may have read less).
    pub body_bytes_sent: u64,
}

/// An artifact as served: manifest, config and layer, with digests.
#[derive(Debug, Clone)]
pub struct Served {
    /// The manifest's bytes.
    pub manifest: Vec<u8>,
    /// `sha256:` of the manifest.
    pub manifest_digest: String,
    /// The config's bytes.
    pub config: Vec<u8>,
    /// `sha256:` of the config.
    pub config_digest: String,
    /// The layer (a component).
    pub layer: Vec<u8>,
    /// `sha256:` of the layer.
    pub layer_digest: String,
}

struct Shared {
    behaviour: Behaviour,
    /// `Basic <base64>` every registry request must carry, when set.
    expected_authorization: Option<String>,
    good: Served,
    hostile: Served,
    /// `http://<other>`.
    other_base: String,
    log: Mutex<Vec<Request>>,
    tag_pages: AtomicUsize,
    stop: AtomicBool,
}

/// A running hostile registry; stops when dropped.
pub struct HostileRegistry {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// The other host's `host:port` (see [`Behaviour::RedirectToOtherHost`]).
    pub other_addr: String,
    shared: Arc<Shared>,
}

impl HostileRegistry {
    /// Starts a registry without authentication.
    pub fn start(behaviour: Behaviour) -> Self {
        Self::spawn(behaviour, None)
    }

    /// Starts a registry that answers 401 with a basic-auth challenge to
    /// every request not authenticated as `user` with `password`.
    pub fn start_with_credentials(behaviour: Behaviour, user: &str, password: &str) -> Self {
        Self::spawn(behaviour, Some((user, password)))
    }

    fn spawn(behaviour: Behaviour, credentials: Option<(&str, &str)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let other = TcpListener::bind("127.0.0.2:0")
            .or_else(|_| TcpListener::bind("127.0.0.1:0"))
            .expect("a second loopback port");
        let addr = listener.local_addr().unwrap().to_string();
        let other_addr = other.local_addr().unwrap().to_string();
        let good = served(
            std::fs::read(crate::plugin("normalizer")).expect("the normalizer plugin"),
            GOOD_TAG,
            None,
        );
        let hostile_layer = std::fs::read(crate::plugin("counter")).expect("the counter plugin");
        let declared =
            (behaviour == Behaviour::DeclaredHugeLayer).then_some(DECLARED_HUGE_LAYER_SIZE);
        let hostile = served(hostile_layer, HOSTILE_TAG, declared);
        let shared = Arc::new(Shared {
            behaviour,
            expected_authorization: credentials.map(|(u, p)| basic_authorization(u, p)),
            good,
            hostile,
            other_base: format!("http://{other_addr}"),
            log: Mutex::new(Vec::new()),
            tag_pages: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        accept_loop(listener, Host::Registry, shared.clone());
        accept_loop(other, Host::Other, shared.clone());
        HostileRegistry {
            addr,
            other_addr,
            shared,
        }
    }

    /// `<addr>/<REPOSITORY>:<tag>`; `tag` may be a requirement (`^1`).
    pub fn reference(&self, tag: &str) -> String {
        format!("{}/{REPOSITORY}:{tag}", self.addr)
    }

    /// The well-behaved artifact (tag [`GOOD_TAG`]).
    pub fn good(&self) -> &Served {
        &self.shared.good
    }

    /// The hostile artifact (tag [`HOSTILE_TAG`]) as its manifest declares
    /// it (for [`Behaviour::HugeManifest`], the manifest without its huge
    /// annotation).
    pub fn hostile(&self) -> &Served {
        &self.shared.hostile
    }

    /// Every request so far, in the order they arrived.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.log.lock().unwrap().clone()
    }

    /// How many `method` requests reached `host` with `part` in their target.
    pub fn count(&self, host: Host, method: &str, part: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.host == host && r.method == method && r.target.contains(part))
            .count()
    }

    /// Body bytes sent by `host` for targets containing `part`.
    pub fn bytes_sent(&self, host: Host, part: &str) -> u64 {
        self.requests()
            .iter()
            .filter(|r| r.host == host && r.target.contains(part))
            .map(|r| r.body_bytes_sent)
            .sum()
    }

    /// The `Authorization` headers `host` saw.
    pub fn authorizations(&self, host: Host) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.host == host)
            .filter_map(|r| r.authorization)
            .collect()
    }
}

impl Drop for HostileRegistry {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

/// `sha256:<hex>`.
fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The CNCF Wasm artifact for `layer`, tagged `version`; `declared` replaces
/// the layer's size in the manifest.
fn served(layer: Vec<u8>, version: &str, declared: Option<u64>) -> Served {
    let layer_digest = digest(&layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "created": "2026-01-01T00:00:00Z",
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [layer_digest],
        "component": { "exports": [], "imports": [], "target": null },
    }))
    .unwrap();
    let config_digest = digest(&config);
    let manifest = serde_json::to_vec(&manifest_json(
        &config_digest,
        config.len() as u64,
        &layer_digest,
        declared.unwrap_or(layer.len() as u64),
        version,
        None,
    ))
    .unwrap();
    Served {
        manifest_digest: digest(&manifest),
        manifest,
        config_digest,
        config,
        layer_digest,
        layer,
    }
}

fn manifest_json(
    config_digest: &str,
    config_size: u64,
    layer_digest: &str,
    layer_size: u64,
    version: &str,
    description: Option<&str>,
) -> serde_json::Value {
    let mut annotations = serde_json::json!({ "org.opencontainers.image.version": version });
    if let Some(d) = description {
        annotations["org.opencontainers.image.description"] = d.into();
    }
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.wasm.config.v0+json",
            "digest": config_digest,
            "size": config_size,
        },
        "layers": [{
            "mediaType": "application/wasm",
            "digest": layer_digest,
            "size": layer_size,
            "annotations": { "org.opencontainers.image.title": "counter.wasm" },
        }],
        "annotations": annotations,
    })
}

/// The `Authorization` header value of HTTP basic authentication.
pub fn basic_authorization(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

/// Standard base64 with padding (for a basic-auth header).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn accept_loop(listener: TcpListener, host: Host, shared: Arc<Shared>) {
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        while !shared.stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((stream, _)) => {
                    let shared = shared.clone();
                    std::thread::spawn(move || serve_connection(stream, host, &shared));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
}

/// A request's head.
struct Head {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request head (and discards its body); `None` at EOF or on
/// anything that is not HTTP/1.1.
fn read_head(reader: &mut BufReader<TcpStream>) -> Option<Head> {
    let mut line = String::new();
    let mut read_line = |line: &mut String| -> Option<()> {
        line.clear();
        let n = reader.by_ref().take(16 * 1024).read_line(line).ok()?;
        (n > 0).then_some(())
    };
    loop {
        read_line(&mut line)?;
        if !line.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (name, value) = l.split_once(':')?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
        if headers.len() > 200 {
            return None;
        }
    }
    let head = Head {
        method,
        target,
        headers,
    };
    if let Some(len) = head.header("content-length") {
        let len: u64 = len.parse().ok()?;
        std::io::copy(&mut reader.by_ref().take(len), &mut std::io::sink()).ok()?;
    }
    Some(head)
}

fn serve_connection(stream: TcpStream, host: Host, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(write) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut conn = Conn {
        stream: write,
        shared,
        entry: 0,
    };
    while let Some(head) = read_head(&mut reader) {
        let mut log = shared.log.lock().unwrap();
        conn.entry = log.len();
        log.push(Request {
            host,
            method: head.method.clone(),
            target: head.target.clone(),
            authorization: head.header("authorization").map(str::to_string),
            status: 0,
            body_bytes_sent: 0,
        });
        drop(log);
        let keep_alive = match host {
            Host::Registry => conn.registry(&head),
            Host::Other => conn.other(&head),
        };
        if !matches!(keep_alive, Ok(true)) || shared.stop.load(Ordering::Relaxed) {
            break;
        }
    }
    let _ = conn.stream.shutdown(std::net::Shutdown::Both);
}

/// A body to send.
enum Body<'a> {
    Bytes(&'a [u8]),
    /// The huge manifest: a prefix, this many `a`s, a suffix.
    Padded(&'a [u8], u64, &'a [u8]),
    /// Filler bytes, this many.
    Filler(u64),
    /// These bytes, one a second, then spaces; the head says this length.
    Dribble(&'a [u8], u64),
}

/// One connection's writer.
struct Conn<'a> {
    stream: TcpStream,
    shared: &'a Shared,
    /// The log entry of the request being answered.
    entry: usize,
}

/// `Ok(true)`: the connection may carry another request.
type Answer = std::io::Result<bool>;

impl Conn<'_> {
    fn registry(&mut self, head: &Head) -> Answer {
        let shared = self.shared;
        if let Some(expected) = &shared.expected_authorization
            && head.header("authorization") != Some(expected.as_str())
        {
            return self.unauthorized("pipectl-hostile");
        }
        let path = head.target.split('?').next().unwrap_or_default();
        if path == "/v2/" || path == "/v2" {
            return self.json("200 OK", b"{}");
        }
        let Some(rest) = path
            .strip_prefix("/v2/")
            .and_then(|p| p.strip_prefix(REPOSITORY))
            .and_then(|p| p.strip_prefix('/'))
        else {
            return self.not_found("NAME_UNKNOWN", "repository name not known to registry");
        };
        let head_only = head.method == "HEAD";
        if rest == "tags/list" {
            return self.tags(&head.target);
        }
        if let Some(reference) = rest.strip_prefix("manifests/") {
            return self.manifest(reference, head_only);
        }
        if let Some(digest) = rest.strip_prefix("blobs/") {
            return self.blob(digest, head_only);
        }
        self.not_found("UNSUPPORTED", "the operation is unsupported")
    }

    fn other(&mut self, head: &Head) -> Answer {
        let path = head.target.split('?').next().unwrap_or_default();
        let hostile = &self.shared.hostile;
        if head.header("authorization").is_none() {
            return self.unauthorized("elsewhere");
        }
        if path.ends_with(&format!("/blobs/{}", hostile.layer_digest)) {
            return self.send("200 OK", &[], Body::Bytes(&hostile.layer), false);
        }
        self.not_found("BLOB_UNKNOWN", "blob unknown to registry")
    }

    fn manifest(&mut self, reference: &str, head_only: bool) -> Answer {
        let shared = self.shared;
        let (good, hostile) = (&shared.good, &shared.hostile);
        let content_type = (
            "Content-Type",
            "application/vnd.oci.image.manifest.v1+json".to_string(),
        );
        if reference == GOOD_TAG || reference == good.manifest_digest {
            let digest = ("Docker-Content-Digest", good.manifest_digest.clone());
            return self.maybe_head(head_only, "200 OK", &[content_type, digest], &good.manifest);
        }
        let is_hostile = reference == HOSTILE_TAG
            || (reference == hostile.manifest_digest
                && !matches!(
                    shared.behaviour,
                    Behaviour::HugeManifest | Behaviour::HugeManifestUnframed
                ));
        if !is_hostile {
            return self.not_found("MANIFEST_UNKNOWN", "manifest unknown");
        }
        match shared.behaviour {
            Behaviour::HugeManifest | Behaviour::HugeManifestUnframed => {
                const MARK: &str = "@@FILL@@";
                let text = serde_json::to_string(&manifest_json(
                    &hostile.config_digest,
                    hostile.config.len() as u64,
                    &hostile.layer_digest,
                    hostile.layer.len() as u64,
                    HOSTILE_TAG,
                    Some(MARK),
                ))
                .unwrap();
                let (prefix, suffix) = text.split_once(MARK).unwrap();
                let fill = HUGE_MANIFEST_SIZE - (prefix.len() + suffix.len()) as u64;
                let body = Body::Padded(prefix.as_bytes(), fill, suffix.as_bytes());
                if shared.behaviour == Behaviour::HugeManifest || head_only {
                    self.send("200 OK", &[content_type], body, head_only)
                } else {
                    self.unframed(&[content_type], body)
                }
            }
            Behaviour::SlowManifest => {
                // A MiB of leading whitespace: 12 days at this pace.
                let body = Body::Dribble(b"", 1 << 20);
                self.send("200 OK", &[content_type], body, head_only)
            }
            _ => {
                let digest = ("Docker-Content-Digest", hostile.manifest_digest.clone());
                self.maybe_head(
                    head_only,
                    "200 OK",
                    &[content_type, digest],
                    &hostile.manifest,
                )
            }
        }
    }

    fn blob(&mut self, digest: &str, head_only: bool) -> Answer {
        let shared = self.shared;
        let (good, hostile) = (&shared.good, &shared.hostile);
        let known = [
            (&good.config_digest, &good.config),
            (&good.layer_digest, &good.layer),
            (&hostile.config_digest, &hostile.config),
        ];
        if let Some((_, bytes)) = known.iter().find(|(d, _)| d.as_str() == digest) {
            return self.maybe_head(head_only, "200 OK", &[], bytes);
        }
        if digest != hostile.layer_digest {
            return self.not_found("BLOB_UNKNOWN", "blob unknown to registry");
        }
        let layer = hostile.layer.as_slice();
        match shared.behaviour {
            Behaviour::LongerLayer | Behaviour::LongerLayerUnframed => {
                let mut longer = layer.to_vec();
                longer.extend((0..EXTRA_LAYER_BYTES).map(|i| (i % 251) as u8));
                if shared.behaviour == Behaviour::LongerLayer {
                    self.send("200 OK", &[], Body::Bytes(&longer), head_only)
                } else {
                    self.unframed(&[], Body::Bytes(&longer))
                }
            }
            Behaviour::DeclaredHugeLayer => {
                self.head("200 OK", &[], Some(DECLARED_HUGE_LAYER_SIZE), true)?;
                if !head_only {
                    self.body(Body::Filler(DECLARED_HUGE_LAYER_SENT_AT_MOST))?;
                }
                Ok(false)
            }
            Behaviour::SlowBlob => {
                // Exactly the declared length, so only the pace is wrong.
                let body = Body::Dribble(layer, layer.len() as u64);
                self.send("200 OK", &[], body, head_only)
            }
            Behaviour::RedirectToOtherHost => {
                let location = format!(
                    "{}/v2/{REPOSITORY}/blobs/{}",
                    shared.other_base, hostile.layer_digest
                );
                self.send(
                    "307 Temporary Redirect",
                    &[("Location", location)],
                    Body::Bytes(b""),
                    false,
                )
            }
            _ => self.maybe_head(head_only, "200 OK", &[], layer),
        }
    }

    fn tags(&mut self, target: &str) -> Answer {
        let shared = self.shared;
        if shared.behaviour == Behaviour::EndlessTagPages {
            let page = shared.tag_pages.fetch_add(1, Ordering::Relaxed);
            let tags: Vec<String> = (0..TAGS_PER_PAGE)
                .map(|n| format!("1.{page}.{n}"))
                .collect();
            let link = format!(
                "</v2/{REPOSITORY}/tags/list?n={TAGS_PER_PAGE}&last={}>; rel=\"next\"",
                tags[TAGS_PER_PAGE - 1]
            );
            let body = serde_json::to_vec(&serde_json::json!({ "name": REPOSITORY, "tags": tags }))
                .unwrap();
            let headers = [
                ("Content-Type", "application/json".to_string()),
                ("Link", link),
            ];
            return self.send("200 OK", &headers, Body::Bytes(&body), false);
        }
        // A well-behaved, paginated list: the tags after `last`.
        let last = target
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or_default()
            .split('&')
            .find_map(|kv| kv.strip_prefix("last="))
            .unwrap_or_default();
        let tags: Vec<&str> = [GOOD_TAG, HOSTILE_TAG]
            .into_iter()
            .filter(|t| *t > last)
            .collect();
        let body =
            serde_json::to_vec(&serde_json::json!({ "name": REPOSITORY, "tags": tags })).unwrap();
        self.json("200 OK", &body)
    }

    fn unauthorized(&mut self, realm: &str) -> Answer {
        let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#;
        let headers = [
            ("Content-Type", "application/json".to_string()),
            ("WWW-Authenticate", format!("Basic realm=\"{realm}\"")),
        ];
        self.send("401 Unauthorized", &headers, Body::Bytes(body), false)
    }

    fn not_found(&mut self, code: &str, message: &str) -> Answer {
        let body = serde_json::to_vec(&serde_json::json!({
            "errors": [{ "code": code, "message": message, "detail": null }]
        }))
        .unwrap();
        self.json("404 Not Found", &body)
    }

    fn json(&mut self, status: &str, body: &[u8]) -> Answer {
        let ct = [("Content-Type", "application/json".to_string())];
        self.send(status, &ct, Body::Bytes(body), false)
    }

    fn maybe_head(
        &mut self,
        head_only: bool,
        status: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Answer {
        self.send(status, headers, Body::Bytes(body), head_only)
    }

    /// A head with a `Content-Length` for `body`, then `body` unless
    /// `head_only`. Keeps the connection unless the body is endless.
    fn send(
        &mut self,
        status: &str,
        headers: &[(&str, String)],
        body: Body<'_>,
        head_only: bool,
    ) -> Answer {
        let (length, keep) = match &body {
            Body::Bytes(b) => (b.len() as u64, true),
            Body::Padded(p, n, s) => (p.len() as u64 + n + s.len() as u64, true),
            Body::Filler(n) => (*n, true),
            Body::Dribble(_, n) => (*n, false),
        };
        self.head(status, headers, Some(length), !keep)?;
        if !head_only {
            self.body(body)?;
        }
        Ok(keep)
    }

    /// `body` with no `Content-Length`: it ends when the connection closes.
    fn unframed(&mut self, headers: &[(&str, String)], body: Body<'_>) -> Answer {
        self.head("200 OK", headers, None, true)?;
        self.body(body)?;
        Ok(false)
    }

    fn head(
        &mut self,
        status: &str,
        headers: &[(&str, String)],
        length: Option<u64>,
        close: bool,
    ) -> std::io::Result<()> {
        self.shared.log.lock().unwrap()[self.entry].status =
            status[..3].parse().unwrap_or_default();
        let mut text = format!("HTTP/1.1 {status}\r\n");
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(length) = length {
            text.push_str(&format!("Content-Length: {length}\r\n"));
        }
        text.push_str(if close {
            "Connection: close\r\n\r\n"
        } else {
            "Connection: keep-alive\r\n\r\n"
        });
        self.stream.write_all(text.as_bytes())
    }

    /// Writes `body` in chunks, counting what the socket took.
    fn body(&mut self, body: Body<'_>) -> std::io::Result<()> {
        const CHUNK: usize = 64 * 1024;
        let filler = [b'a'; CHUNK];
        match body {
            Body::Bytes(bytes) => {
                for chunk in bytes.chunks(CHUNK) {
                    self.write(chunk)?;
                }
            }
            Body::Padded(prefix, n, suffix) => {
                self.write(prefix)?;
                self.filler(&filler, n)?;
                self.write(suffix)?;
            }
            Body::Filler(n) => self.filler(&filler, n)?,
            Body::Dribble(bytes, n) => {
                for byte in bytes
                    .iter()
                    .chain(std::iter::repeat(&b' '))
                    .take(n as usize)
                {
                    std::thread::sleep(Duration::from_secs(1));
                    self.write(std::slice::from_ref(byte))?;
                }
            }
        }
        self.stream.flush()
    }

    fn filler(&mut self, filler: &[u8], mut n: u64) -> std::io::Result<()> {
        while n > 0 {
            let k = n.min(filler.len() as u64) as usize;
            self.write(&filler[..k])?;
            n -= k as u64;
        }
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.shared.stop.load(Ordering::Relaxed) {
            return Err(std::io::ErrorKind::ConnectionAborted.into());
        }
        self.stream.write_all(bytes)?;
        self.shared.log.lock().unwrap()[self.entry].body_bytes_sent += bytes.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b""), "");
    }
}
