//! The HTTP server: the request contract, the queue, the workers, reloads
//! and graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use pipectl_run::{FailureKind, StageFailure};

use crate::generation::{Generation, Loader};
use crate::metrics::Metrics;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `pipectl serve: …` lines for people.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// How to serve.
#[derive(Clone)]
pub struct ServeConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Threads running inputs, each with live instances of every stage.
    pub workers: usize,
    /// Requests that may wait for a worker; more get `503`.
    pub queue: usize,
    /// Largest body accepted, in bytes; larger gets `413`.
    pub max_body: u64,
    /// Files whose change (debounced) reloads the pipeline; none: no
    /// watching (SIGHUP still reloads).
    pub watch: Vec<PathBuf>,
    /// How log lines look.
    pub log: LogFormat,
    /// Where log lines go.
    pub sink: Arc<dyn Fn(&str) + Send + Sync>,
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The first generation did not load.
    #[error("the pipeline does not load: {0}")]
    Load(String),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The runtime could not start.
    #[error("failed to start the server: {0}")]
    Runtime(std::io::Error),
}

/// What a worker answers.
struct Reply {
    status: StatusCode,
    content_type: &'static str,
    body: String,
}

struct Job {
    input: String,
    reply: tokio::sync::oneshot::Sender<Reply>,
}

struct Shared {
    current: RwLock<Arc<Generation>>,
    metrics: Mutex<Metrics>,
    queue: Mutex<Option<SyncSender<Job>>>,
    queued: AtomicUsize,
    in_flight: AtomicUsize,
    config: ServeConfig,
}

impl Shared {
    fn current(&self) -> Arc<Generation> {
        self.current
            .read()
            .expect("no panic holding the lock")
            .clone()
    }

    fn log(&self, event: &str, fields: serde_json::Value, text: String) {
        let line = match self.config.log {
            LogFormat::Json => {
                let mut obj = serde_json::json!({
                    "time": time::OffsetDateTime::now_utc()
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                    "event": event,
                });
                if let (Some(o), serde_json::Value::Object(f)) = (obj.as_object_mut(), fields) {
                    o.extend(f);
                }
                obj.to_string()
            }
            LogFormat::Text => format!("pipectl serve: {text}"),
        };
        (self.config.sink)(&line);
    }

    fn count(&self, status: StatusCode) {
        let mut m = self.metrics.lock().expect("no panic holding the lock");
        *m.responses.entry(status.as_u16()).or_default() += 1;
    }
}

fn stage_names(g: &Generation) -> Vec<String> {
    match &g.plan.embedded {
        Some(embedded) => embedded.iter().map(|(n, _)| n.clone()).collect(),
        None => g.plan.stages.iter().map(|s| s.name.clone()).collect(),
    }
}

fn failure_reply(f: &StageFailure) -> Reply {
    let (status, body) = match &f.kind {
        FailureKind::Rejected { case, message } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            serde_json::json!({ "stage": f.stage, "case": case, "message": message }),
        ),
        FailureKind::Limit { limit, detail } => (
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({ "stage": f.stage, "error": "limit", "limit": limit.as_str(), "message": detail }),
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({ "stage": f.stage, "error": "trap", "message": f.to_string() }),
        ),
    };
    Reply {
        status,
        content_type: "application/json",
        body: format!("{body}\n"),
    }
}

/// One worker: live instances of the current generation's stages; a new
/// generation gets fresh ones (stateful stages start over), from the next
/// request on.
fn worker(shared: Arc<Shared>, jobs: Arc<Mutex<Receiver<Job>>>) {
    let mut carried: Option<Job> = None;
    loop {
        let generation = shared.current();
        let stages = stage_names(&generation);
        let mut session = generation.pipeline.session();
        loop {
            let job = match carried.take() {
                Some(job) => job,
                None => {
                    let next = jobs.lock().expect("no panic holding the lock").recv();
                    match next {
                        Ok(job) => job,
                        Err(_) => return,
                    }
                }
            };
            if shared.current().id != generation.id {
                carried = Some(job);
                break;
            }
            shared.queued.fetch_sub(1, Ordering::Relaxed);
            shared.in_flight.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let result = session
                .run(&job.input)
                .map_err(|f| generation.attribute(&job.input, f));
            let took = started.elapsed();
            {
                let mut metrics = shared.metrics.lock().expect("no panic holding the lock");
                metrics.ran(&stages, result.as_ref().err(), took);
                session.drain_latencies(|stage, micros| metrics.stage_call(stage, micros));
            }
            let reply = match result {
                Ok(output) => Reply {
                    status: StatusCode::OK,
                    content_type: "text/plain; charset=utf-8",
                    body: output,
                },
                Err(f) => failure_reply(&f),
            };
            shared.in_flight.fetch_sub(1, Ordering::Relaxed);
            let _ = job.reply.send(reply);
        }
    }
}

fn response(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    response(
        status,
        "application/json",
        format!("{}\n", serde_json::json!({ "error": message })),
    )
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let r = route(&shared, req).await;
    shared.count(r.status());
    r
}

async fn route(shared: &Arc<Shared>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => {
            let id = shared.current().id;
            return response(
                StatusCode::OK,
                "text/plain",
                format!("ok generation {id}\n"),
            );
        }
        (&Method::GET, "/metrics") => {
            let m = shared.metrics.lock().expect("no panic holding the lock");
            let text = m.render(
                shared.queued.load(Ordering::Relaxed),
                shared.in_flight.load(Ordering::Relaxed),
            );
            return response(StatusCode::OK, "text/plain; version=0.0.4", text);
        }
        (&Method::POST, _) => {}
        _ => {
            let mut r = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "POST a text; GET /healthz or /metrics",
            );
            r.headers_mut().insert(
                hyper::header::ALLOW,
                hyper::header::HeaderValue::from_static("POST"),
            );
            return r;
        }
    }
    let max = shared.config.max_body;
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the body is over {max} bytes"),
        );
    }
    let body = match Limited::new(req.into_body(), max as usize).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the body is over {max} bytes"),
            );
        }
        Err(_) => return error(StatusCode::BAD_REQUEST, "the body could not be read"),
    };
    let Ok(input) = String::from_utf8(body.to_vec()) else {
        return error(StatusCode::BAD_REQUEST, "the body is not UTF-8 text");
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let sender = shared
        .queue
        .lock()
        .expect("no panic holding the lock")
        .clone();
    let Some(sender) = sender else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    };
    shared.queued.fetch_add(1, Ordering::Relaxed);
    match sender.try_send(Job { input, reply: tx }) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
            shared.queued.fetch_sub(1, Ordering::Relaxed);
            let mut r = error(StatusCode::SERVICE_UNAVAILABLE, "the queue is full; retry");
            r.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                hyper::header::HeaderValue::from_static("1"),
            );
            return r;
        }
    }
    match rx.await {
        Ok(reply) => response(reply.status, reply.content_type, reply.body),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "the worker went away"),
    }
}

/// Loads a new generation and swaps it in, or keeps the old one and says
/// why.
fn reload(shared: &Shared, loader: &Loader, why: &str) {
    let started = Instant::now();
    let next_id = shared.current().id + 1;
    match loader() {
        Ok((plan, host, pipeline)) => {
            let generation = Arc::new(Generation {
                id: next_id,
                plan,
                host,
                pipeline,
            });
            let stages = stage_names(&generation);
            *shared.current.write().expect("no panic holding the lock") = generation;
            let mut m = shared.metrics.lock().expect("no panic holding the lock");
            m.start_generation(next_id, &stages);
            m.reloads += 1;
            drop(m);
            let ms = started.elapsed().as_millis();
            shared.log(
                "reload",
                serde_json::json!({ "ok": true, "generation": next_id, "trigger": why, "ms": ms }),
                format!("reloaded ({why}): generation {next_id} serving, loaded in {ms} ms"),
            );
        }
        Err(e) => {
            let e = pipectl_io::text::clean(&e, 2000);
            shared
                .metrics
                .lock()
                .expect("no panic holding the lock")
                .reload_failures += 1;
            let kept = shared.current().id;
            shared.log(
                "reload",
                serde_json::json!({ "ok": false, "generation": kept, "trigger": why, "error": e }),
                format!("reload ({why}) refused, generation {kept} keeps serving: {e}"),
            );
        }
    }
}

/// What the watched files look like: size and modification time of each.
fn snapshot(files: &[PathBuf]) -> Vec<Option<(u64, SystemTime)>> {
    files
        .iter()
        .map(|f| {
            let m = std::fs::metadata(f).ok()?;
            Some((m.len(), m.modified().ok()?))
        })
        .collect()
}

/// Polls the watched files; a change reloads once they have been still
/// for the debounce time.
fn watch(shared: Arc<Shared>, loader: Loader, hup: Receiver<()>) {
    const POLL: Duration = Duration::from_millis(100);
    const QUIET: Duration = Duration::from_millis(300);
    let files = shared.config.watch.clone();
    let mut seen = snapshot(&files);
    let mut changed_at: Option<Instant> = None;
    loop {
        match hup.recv_timeout(POLL) {
            Ok(()) => reload(&shared, &loader, "SIGHUP"),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if files.is_empty() {
            continue;
        }
        let now = snapshot(&files);
        if now != seen {
            seen = now;
            changed_at = Some(Instant::now());
        } else if changed_at.is_some_and(|t| t.elapsed() >= QUIET) {
            changed_at = None;
            reload(&shared, &loader, "files changed");
        }
    }
}

/// Loads the pipeline and serves it until SIGTERM or SIGINT; then stops
/// accepting, lets in-flight requests finish and returns.
pub fn serve(config: ServeConfig, loader: Loader) -> Result<(), ServeError> {
    let (plan, host, pipeline) = loader().map_err(ServeError::Load)?;
    let first = Arc::new(Generation {
        id: 1,
        plan,
        host,
        pipeline,
    });
    let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(config.queue.max(1));
    let mut metrics = Metrics::default();
    metrics.start_generation(1, &stage_names(&first));
    let shared = Arc::new(Shared {
        current: RwLock::new(first),
        metrics: Mutex::new(metrics),
        queue: Mutex::new(Some(tx)),
        queued: AtomicUsize::new(0),
        in_flight: AtomicUsize::new(0),
        config: config.clone(),
    });
    let jobs = Arc::new(Mutex::new(rx));
    let workers: Vec<_> = (0..config.workers.max(1))
        .map(|_| {
            let (s, j) = (shared.clone(), jobs.clone());
            std::thread::spawn(move || worker(s, j))
        })
        .collect();
    let (hup_tx, hup_rx) = std::sync::mpsc::channel();
    {
        let (s, l) = (shared.clone(), loader.clone());
        std::thread::spawn(move || watch(s, l, hup_rx));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(accept(shared.clone(), hup_tx))?;
    // No new work; the workers finish what is queued and end.
    shared
        .queue
        .lock()
        .expect("no panic holding the lock")
        .take();
    for w in workers {
        let _ = w.join();
    }
    shared.log(
        "shutdown",
        serde_json::json!({}),
        "stopped: every request answered".into(),
    );
    Ok(())
}

async fn accept(shared: Arc<Shared>, hup: std::sync::mpsc::Sender<()>) -> Result<(), ServeError> {
    use tokio::signal::unix::{SignalKind, signal};
    let addr = shared.config.listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let bound = listener.local_addr().unwrap_or(addr);
    shared.log(
        "listening",
        serde_json::json!({ "address": bound.to_string(), "generation": 1 }),
        format!("listening on http://{bound}"),
    );
    let mut term = signal(SignalKind::terminate()).map_err(ServeError::Runtime)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ServeError::Runtime)?;
    let mut hangup = signal(SignalKind::hangup()).map_err(ServeError::Runtime)?;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        tokio::select! {
            conn = listener.accept() => {
                let Ok((stream, _)) = conn else { continue };
                let io = hyper_util::rt::TokioIo::new(stream);
                let s = shared.clone();
                let service = hyper::service::service_fn(move |req| {
                    let s = s.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(s, req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
                let watched = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = watched.await;
                });
            }
            _ = hangup.recv() => {
                let _ = hup.send(());
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    drop(listener);
    shared.log(
        "draining",
        serde_json::json!({ "in_flight": shared.in_flight.load(Ordering::Relaxed) }),
        "stopping: no new connections; finishing the requests in flight".into(),
    );
    graceful.shutdown().await;
    Ok(())
}
