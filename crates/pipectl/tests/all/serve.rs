//! `pipectl serve`: the HTTP contract (200, 422 naming the stage and case,
//! 400, 405, 413, health and metrics), hot reload under load (broken and
//! unfit components refused, a good one live within 2 s, no request failed
//! or mixed; a stage failing its own conformance cases refused), overload
//! (503 fast, health answering), graceful shutdown (the request in flight
//! answered, exit 0). Requests go through curl.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pipectl_testkit::{extension, fixture, plugin};

use crate::support::{Sandbox, composed};

/// A running `pipectl serve`, killed when dropped.
pub(crate) struct Server {
    child: Child,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `pipectl serve ARGS --listen 127.0.0.1:0` and waits for its
    /// address.
    pub(crate) fn start(sb: &Sandbox, args: &[&str]) -> Server {
        let mut all = vec!["serve"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--listen", "127.0.0.1:0"]);
        let mut child = sb
            .cmd(&all)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(addr.trim().to_string());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("serve did not start: {:?}", log.lock().unwrap()));
        Server { child, addr, log }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn logged(&self, text: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(text))
    }

    fn wait_logged(&self, text: &str, within: Duration) {
        let start = Instant::now();
        while !self.logged(text) {
            assert!(
                start.elapsed() < within,
                "no `{text}` in the log: {:?}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `curl` of `url` with `body` (POST) or none (GET, or `method`): status and body.
pub(crate) fn request(url: &str, method: &str, body: Option<&[u8]>) -> (u16, String) {
    let (status, _, body) = exchange(url, method, body);
    (status, body)
}

/// `curl` of `url` with `body` (POST) or none: status (0 when no HTTP
/// answer came), content type and body.
pub(crate) fn exchange(url: &str, method: &str, body: Option<&[u8]>) -> (u16, String, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "-o",
        "-",
        "-w",
        "\n%{content_type}\n%{http_code}",
        "-X",
        method,
        "--max-time",
        "30",
    ])
    .arg(url)
    .stdout(Stdio::piped())
    .stdin(Stdio::piped());
    if body.is_some() {
        cmd.args(["--data-binary", "@-", "-H", "Content-Type: text/plain"]);
    }
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        if let Some(b) = body {
            stdin.write_all(b).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (rest, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    let (body, content_type) = rest.rsplit_once('\n').unwrap_or(("", ""));
    (
        status.trim().parse().unwrap_or(0),
        content_type.to_string(),
        body.to_string(),
    )
}

fn post(s: &Server, body: &str) -> (u16, String) {
    request(&s.url("/"), "POST", Some(body.as_bytes()))
}

#[test]
fn serve_answers_the_http_contract_and_reports_metrics() {
    let sb = Sandbox::new();
    let pipeline = composed(&sb);
    let s = Server::start(
        &sb,
        &["pipeline.toml", "--max-body", "1KiB", "--workers", "2"],
    );
    let input = "the  quick brown\tfox";
    let run = sb.run_stdin(&["run", "pipeline.toml"], input);
    let (status, body) = post(&s, input);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, String::from_utf8_lossy(&run.stdout));
    // A typed error: 422 naming the stage and the case.
    let (status, body) = post(&s, "two words");
    assert_eq!(status, 422, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["stage"], "validator");
    assert_eq!(v["case"], "invalid-input");
    assert!(v["message"].as_str().unwrap().contains("3 words"), "{v}");
    // Any path; not UTF-8; too large; not POST.
    assert_eq!(
        request(&s.url("/any/path"), "POST", Some(b"a b c d")).0,
        200
    );
    assert_eq!(
        request(&s.url("/"), "POST", Some(&[0xff, 0xfe, 0x20])).0,
        400
    );
    assert_eq!(request(&s.url("/"), "POST", Some(&[b'a'; 2048])).0, 413);
    assert_eq!(request(&s.url("/"), "GET", None).0, 405);
    assert_eq!(request(&s.url("/"), "DELETE", None).0, 405);
    let (status, health) = request(&s.url("/healthz"), "GET", None);
    assert_eq!((status, health.as_str()), (200, "ok generation 1\n"));
    let (_, metrics) = request(&s.url("/metrics"), "GET", None);
    for line in [
        "pipectl_stage_invocations_total{stage=\"normalizer\"} 3",
        "pipectl_stage_invocations_total{stage=\"counter\"} 2",
        "pipectl_stage_rejected_total{stage=\"validator\",case=\"invalid-input\"} 1",
        "pipectl_responses_total{status=\"413\"} 1",
        "pipectl_request_duration_seconds_count 3",
        "pipectl_stage_duration_seconds_count{stage=\"normalizer\"} 3",
        "pipectl_stage_duration_seconds_count{stage=\"counter\"} 2",
        "pipectl_stage_duration_seconds_bucket{stage=\"validator\",le=\"+Inf\"} 3",
        "reload_failures_total 0",
        "pipectl_generation 1",
    ] {
        assert!(metrics.contains(line), "no `{line}` in\n{metrics}");
    }
    // Each family's samples form one group, right after its TYPE line.
    let mut seen = Vec::new();
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap();
        let family = name
            .trim_end_matches("_bucket")
            .trim_end_matches("_sum")
            .trim_end_matches("_count");
        if seen.last() != Some(&family) {
            assert!(!seen.contains(&family), "`{family}` is split in\n{metrics}");
            seen.push(family);
        }
    }
    drop(s);
    // A composed component: the stage is named all the same.
    let s = Server::start(&sb, &[&pipeline]);
    let (status, body) = post(&s, "spam and eggs");
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("\"stage\":\"validator\""), "{body}");
    assert!(body.contains("\"case\":\"processing-failed\""), "{body}");
    // Beyond loopback only when asked.
    let out = sb.run(&["serve", "pipeline.toml", "--listen", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-remote"));
}

#[test]
fn hot_reload_under_load_refuses_what_is_broken_and_never_mixes_generations() {
    let sb = Sandbox::new();
    for name in ["normalizer", "validator", "counter"] {
        std::fs::copy(plugin(name), sb.path(&format!("{name}.wasm"))).unwrap();
    }
    std::fs::write(
        sb.path("pipeline.toml"),
        format!(
            "[pipeline]\nname = \"live\"\nversion = \"0.1.0\"\n\
             world = \"example:text-transform/plugin@0.2.0\"\nwit = \"{}\"\n\n\
             [[stage]]\nname = \"normalizer\"\npath = \"normalizer.wasm\"\n\n\
             [[stage]]\nname = \"validator\"\npath = \"validator.wasm\"\n\n\
             [[stage]]\nname = \"last\"\npath = \"counter.wasm\"\n",
            pipectl_testkit::root()
                .join("wit/text-transform/0.2.0")
                .display()
        ),
    )
    .unwrap();
    let s = Server::start(&sb, &["pipeline.toml", "--watch", "--workers", "2"]);
    let input = "one  two three";
    let old = "Words: 3, Lines: 1, Chars: 13\n\none two three";
    let new = "one two three";
    assert_eq!(post(&s, input), (200, old.to_string()));
    // 16 clients, all the time.
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let (stop, answers, url) = (stop.clone(), answers.clone(), s.url("/"));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let a = request(&url, "POST", Some(input.as_bytes()));
                    answers.lock().unwrap().push(a);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // A broken file: refused, the old generation serves on.
    std::fs::write(sb.path("counter.wasm"), b"\0asm broken").unwrap();
    s.wait_logged("refused", Duration::from_secs(10));
    // A component that is not a stage (a hook exports no transform).
    std::fs::copy(extension("stamp"), sb.path("counter.wasm")).unwrap();
    let start = Instant::now();
    while s
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("refused"))
        .count()
        < 2
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            s.log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A good new version: live within 2 s of the change.
    std::fs::copy(plugin("normalizer"), sb.path("counter.wasm")).unwrap();
    let changed = Instant::now();
    loop {
        if post(&s, input).1 == new {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(2),
            "not live after 2 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let answers = answers.lock().unwrap();
    assert!(answers.len() > 32, "too few requests: {}", answers.len());
    for (status, body) in answers.iter() {
        assert_eq!(*status, 200, "{body}");
        assert!(body == old || body == new, "a mixed answer: {body:?}");
    }
    assert!(answers.iter().any(|(_, b)| b == old) && answers.iter().any(|(_, b)| b == new));
    let (_, metrics) = request(&s.url("/metrics"), "GET", None);
    assert!(metrics.contains("reload_failures_total 2"), "{metrics}");
    assert!(metrics.contains("pipectl_generation 2"), "{metrics}");
    assert!(s.logged("generation 2 serving"));
}

#[test]
fn overload_is_answered_503_fast_and_health_stays_responsive() {
    let sb = Sandbox::new();
    let sleeper = fixture("sleeper");
    let s = Server::start(
        &sb,
        &[
            sleeper.to_str().unwrap(),
            "--grant",
            "clocks,stdio",
            "--workers",
            "1",
            "--queue",
            "8",
        ],
    );
    let results = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..64)
        .map(|_| {
            let (results, url) = (results.clone(), s.url("/"));
            std::thread::spawn(move || {
                let start = Instant::now();
                let (status, _) = request(&url, "POST", Some(b"150"));
                results.lock().unwrap().push((status, start.elapsed()));
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let (status, _) = request(&s.url("/healthz"), "GET", None);
    assert_eq!(status, 200);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "health took {:?}",
        start.elapsed()
    );
    for c in clients {
        c.join().unwrap();
    }
    let results = results.lock().unwrap();
    let refused: Vec<&(u16, Duration)> = results.iter().filter(|(s, _)| *s == 503).collect();
    let served = results.iter().filter(|(s, _)| *s == 200).count();
    assert!(!refused.is_empty() && served > 0, "{results:?}");
    assert_eq!(refused.len() + served, 64, "{results:?}");
    assert!(
        refused.iter().all(|(_, t)| *t < Duration::from_secs(1)),
        "{refused:?}"
    );
}

#[test]
fn sigterm_finishes_the_request_in_flight_and_exits_0() {
    let sb = Sandbox::new();
    let sleeper = fixture("sleeper");
    let mut s = Server::start(&sb, &[sleeper.to_str().unwrap(), "--grant", "clocks,stdio"]);
    let url = s.url("/");
    let inflight = std::thread::spawn(move || request(&url, "POST", Some(b"600")));
    std::thread::sleep(Duration::from_millis(200));
    let pid = s.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let (status, body) = inflight.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("slept"), "{body}");
    let start = Instant::now();
    let code = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st.code();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "serve did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0));
    assert!(s.logged("stopped"), "{:?}", s.log.lock().unwrap());
}

/// A reload whose stage fails its own conformance cases is refused: the
/// stage fits the world (it is a transform), but not its cases.
#[test]
fn a_reload_that_fails_its_stage_cases_keeps_the_old_generation() {
    let sb = Sandbox::new();
    for name in ["normalizer", "validator"] {
        std::fs::copy(plugin(name), sb.path(&format!("{name}.wasm"))).unwrap();
    }
    let root = pipectl_testkit::root();
    std::fs::write(
        sb.path("pipeline.toml"),
        format!(
            "[pipeline]\nname = \"gated\"\nversion = \"0.1.0\"\n\
             world = \"example:text-transform/plugin@0.2.0\"\nwit = \"{}\"\n\n\
             [[stage]]\nname = \"normalizer\"\npath = \"normalizer.wasm\"\n\n\
             [[stage]]\nname = \"validator\"\npath = \"validator.wasm\"\ncases = [\"{}\"]\n",
            root.join("wit/text-transform/0.2.0").display(),
            root.join("tests/conformance/validator.toml").display(),
        ),
    )
    .unwrap();
    let s = Server::start(&sb, &["pipeline.toml", "--watch"]);
    assert_eq!(post(&s, "two words").0, 422);
    // The normalizer passes "two words" through: not a validator.
    std::fs::copy(plugin("normalizer"), sb.path("validator.wasm")).unwrap();
    s.wait_logged("conformance cases failed", Duration::from_secs(20));
    assert!(
        s.logged("`refuses two words` failed"),
        "{:?}",
        s.log.lock().unwrap()
    );
    assert_eq!(post(&s, "two words").0, 422);
    let (_, metrics) = request(&s.url("/metrics"), "GET", None);
    assert!(metrics.contains("reload_failures_total 1"), "{metrics}");
    assert!(metrics.contains("pipectl_generation 1"), "{metrics}");
    // Back to a validator: it passes and takes over.
    std::fs::copy(plugin("validator"), sb.path("validator.wasm")).unwrap();
    s.wait_logged("generation 2 serving", Duration::from_secs(20));
}
