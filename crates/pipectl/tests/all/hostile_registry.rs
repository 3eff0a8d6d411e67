//! `pipectl fetch` against a hostile registry (pipectl-testkit's
//! `HostileRegistry`, a hand-written server on a free loopback port): a huge
//! manifest, a layer longer than declared, a layer declared huge, a
//! slow-loris body, endless tag pages, a blob redirected to a host that
//! fishes for credentials. Each must end in exit 2 with a message naming the
//! registry and the reason, within a bound, with the child's peak RSS under
//! 200 MiB, and with the cache, the lockfile and the output as they were.
//!
//! Every test first fetches the server's well-behaved tag, so a failure is
//! the hostile behaviour's and not the server's HTTP.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pipectl_testkit::hostile::{
    Behaviour, DECLARED_HUGE_LAYER_SIZE, GOOD_TAG, HOSTILE_TAG, HUGE_MANIFEST_SIZE, Host,
    HostileRegistry, basic_authorization,
};

/// The peak resident set size the child may reach.
const RSS_LIMIT_KIB: u64 = 200 * 1024;
/// GNU time, for the child's peak RSS (Debian package `time`).
const GNU_TIME: &str = "/usr/bin/time";

/// A scratch home (cache, lockfile, outputs) and, beside it, the files the
/// harness itself writes.
struct Sandbox {
    dir: tempfile::TempDir,
}

/// How a bounded run ended.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    /// Killed for running past the bound.
    killed: bool,
    peak_rss_kib: u64,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        Sandbox { dir }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.home().join(rel)
    }

    /// `pipectl args`, in the sandbox, with no credentials of the
    /// environment, stdin `stdin`, killed after `bound`.
    fn run(&self, args: &[&str], env: &[(&str, &str)], stdin: &str, bound: Duration) -> Run {
        let rss_file = self.dir.path().join("time.txt");
        let _ = std::fs::remove_file(&rss_file);
        let gnu_time = Path::new(GNU_TIME).exists();
        let mut cmd = if gnu_time {
            let mut c = Command::new(GNU_TIME);
            c.arg("-v")
                .arg("-o")
                .arg(&rss_file)
                .arg(env!("CARGO_BIN_EXE_pipectl"));
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_pipectl"))
        };
        crate::support::isolate(&mut cmd, &self.home());
        cmd.args(args)
            .current_dir(self.home())
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let start = Instant::now();
        let mut child = cmd.spawn().expect("pipectl starts");
        {
            use std::io::Write as _;
            let mut input = child.stdin.take().unwrap();
            let _ = input.write_all(stdin.as_bytes());
        }
        let drain = |mut r: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || {
                let mut s = Vec::new();
                let _ = r.read_to_end(&mut s);
                String::from_utf8_lossy(&s).into_owned()
            })
        };
        let out = drain(Box::new(child.stdout.take().unwrap()));
        let err = drain(Box::new(child.stderr.take().unwrap()));
        let mut killed = false;
        let mut hwm = 0;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if !gnu_time {
                hwm = hwm.max(vm_hwm_kib(child.id()));
            }
            if start.elapsed() > bound {
                killed = true;
                // GNU time does not pass a kill on: end pipectl itself.
                for pid in children(child.id()) {
                    let _ = Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .status();
                }
                let _ = child.kill();
                break child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let elapsed = start.elapsed();
        let peak_rss_kib = if gnu_time {
            std::fs::read_to_string(&rss_file)
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        } else {
            hwm
        };
        Run {
            code: if killed { None } else { status.code() },
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
            elapsed,
            killed,
            peak_rss_kib,
        }
    }

    /// Every file under the home, with its bytes: cache, lockfile, outputs,
    /// and anything half-written.
    fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        crate::support::snapshot(&self.home())
    }
}

/// The peak RSS so far of a running process (`VmHWM`), 0 once it is gone.
fn vm_hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The direct children of `pid`.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// A sandbox that has fetched the registry's good tag: the cache, the
/// lockfile and `good.wasm` are in place. `auth` are flags and stdin for a
/// registry that wants credentials.
fn warmed(registry: &HostileRegistry, auth: (&[&str], &str)) -> Sandbox {
    let sb = Sandbox::new();
    let reference = registry.reference(GOOD_TAG);
    let mut args = vec!["fetch", &reference, "-o", "good.wasm"];
    args.extend_from_slice(auth.0);
    let run = sb.run(&args, &[], auth.1, Duration::from_secs(60));
    assert_eq!(
        run.code,
        Some(0),
        "the well-behaved tag fetches from the hostile server: {run:#?}"
    );
    assert_eq!(
        std::fs::read(sb.path("good.wasm")).unwrap(),
        registry.good().layer
    );
    assert!(sb.path("pipectl.lock").exists());
    sb
}

/// What a refusal must look like: exit 2 within `bound`, stderr naming the
/// registry and containing one of `reasons` (case-insensitively), short and
/// without a panic, peak RSS under the limit, and the sandbox's files as
/// `before` (so no `out.wasm`, nothing half-written, cache and lockfile as
/// they were).
fn assert_refused(
    sb: &Sandbox,
    registry: &HostileRegistry,
    run: &Run,
    bound: Duration,
    reasons: &[&str],
    before: &[(PathBuf, Vec<u8>)],
) {
    assert!(
        !run.killed && run.elapsed < bound,
        "pipectl ran past {bound:?} ({:?}); stderr so far: {}",
        run.elapsed,
        run.stderr
    );
    assert_eq!(run.code, Some(2), "exit 2: {run:#?}");
    let stderr = run.stderr.to_lowercase();
    assert!(
        run.stderr.contains(&registry.addr),
        "stderr names the registry `{}`: {}",
        registry.addr,
        run.stderr
    );
    assert!(
        reasons.iter().any(|r| stderr.contains(&r.to_lowercase())),
        "stderr gives the reason (one of {reasons:?}): {}",
        run.stderr
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("unexpected argument"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.len() < 4096,
        "a clear error, not {} bytes of it: {}",
        run.stderr.len(),
        run.stderr.chars().take(4096).collect::<String>()
    );
    assert!(
        run.peak_rss_kib > 0 && run.peak_rss_kib < RSS_LIMIT_KIB,
        "peak RSS {} KiB (limit {RSS_LIMIT_KIB} KiB)",
        run.peak_rss_kib
    );
    assert!(!sb.path("out.wasm").exists(), "no output written");
    let after = sb.snapshot();
    let names = |s: &[(PathBuf, Vec<u8>)]| s.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&after),
        names(before),
        "no file added or removed (cache, lockfile, output, temp files)"
    );
    assert!(after == before, "cache and lockfile unchanged");
}

/// Fetches the hostile tag with `extra` flags into `out.wasm` and asserts a
/// refusal; returns the run.
fn fetch_refused(
    behaviour: Behaviour,
    extra: &[&str],
    bound: Duration,
    reasons: &[&str],
) -> (HostileRegistry, Run) {
    let registry = HostileRegistry::start(behaviour);
    let sb = warmed(&registry, (&[], ""));
    let before = sb.snapshot();
    let reference = registry.reference(HOSTILE_TAG);
    let mut args = vec!["fetch", &reference, "-o", "out.wasm"];
    args.extend_from_slice(extra);
    let run = sb.run(&args, &[], "", bound + Duration::from_secs(5));
    assert_refused(&sb, &registry, &run, bound, reasons, &before);
    (registry, run)
}

#[test]
fn a_huge_manifest_is_refused_without_reading_it_whole() {
    for behaviour in [Behaviour::HugeManifest, Behaviour::HugeManifestUnframed] {
        let (registry, run) = fetch_refused(
            behaviour,
            &[],
            Duration::from_secs(60),
            &[
                "too large",
                "too big",
                "larger than",
                "exceeds",
                "limit",
                "more than",
            ],
        );
        assert!(run.stderr.contains("manifest"), "{}", run.stderr);
        let manifest = format!("/manifests/{HOSTILE_TAG}");
        assert!(registry.count(Host::Registry, "GET", &manifest) >= 1);
        // Not read whole: what the socket buffers took beyond the cap is all
        // that was sent, on each try.
        let sent = registry.bytes_sent(Host::Registry, &manifest);
        assert!(
            sent < 64 << 20,
            "{behaviour:?}: {sent} of the manifest's {HUGE_MANIFEST_SIZE} bytes were sent"
        );
        assert_eq!(
            registry.count(Host::Registry, "GET", &registry.hostile().layer_digest),
            0,
            "{behaviour:?}: no layer request after a refused manifest"
        );
    }
}

#[test]
fn a_layer_longer_than_declared_is_refused() {
    for behaviour in [Behaviour::LongerLayer, Behaviour::LongerLayerUnframed] {
        let (registry, run) = fetch_refused(
            behaviour,
            &[],
            Duration::from_secs(60),
            &[
                "longer",
                "larger",
                "more than",
                "size",
                "declared",
                "exceeds",
            ],
        );
        // Asked for once: bytes that fail verification are not sent for
        // again.
        let layer = &registry.hostile().layer_digest;
        assert_eq!(
            registry.count(Host::Registry, "GET", layer),
            1,
            "{behaviour:?}: {run:#?}"
        );
    }
}

#[test]
fn a_declared_huge_layer_is_refused_before_downloading() {
    let (registry, run) = fetch_refused(
        Behaviour::DeclaredHugeLayer,
        &[],
        Duration::from_secs(60),
        &["max-blob-size"],
    );
    let layer = &registry.hostile().layer_digest;
    assert!(
        run.stderr.contains(&DECLARED_HUGE_LAYER_SIZE.to_string())
            || run.stderr.contains("3 GiB")
            || run.stderr.contains("3.0 GiB"),
        "the message gives the declared size: {}",
        run.stderr
    );
    // Refused on the manifest's word: no blob request, or one hung up on
    // after its head (what the socket buffers took is all that was sent).
    let sent = registry.bytes_sent(Host::Registry, layer);
    assert!(
        sent < 32 << 20,
        "{sent} bytes of the layer were sent before the client hung up"
    );
}

#[test]
fn a_slow_loris_manifest_ends_at_the_deadline() {
    let (registry, run) = fetch_refused(
        Behaviour::SlowManifest,
        &["--timeout", "5s"],
        Duration::from_secs(30),
        &["deadline", "timed out", "timeout", "took longer", "gave up"],
    );
    let manifest = format!("/manifests/{HOSTILE_TAG}");
    assert!(
        registry.count(Host::Registry, "GET", &manifest) >= 1,
        "the manifest was requested"
    );
    assert!(
        run.elapsed >= Duration::from_secs(4),
        "ended by the 5 s deadline, not before it: {run:#?}"
    );
}

#[test]
fn a_slow_loris_layer_ends_at_the_deadline() {
    let (registry, run) = fetch_refused(
        Behaviour::SlowBlob,
        &["--timeout", "5s"],
        Duration::from_secs(30),
        &["deadline", "timed out", "timeout", "took longer", "gave up"],
    );
    let layer = &registry.hostile().layer_digest;
    assert!(
        registry.bytes_sent(Host::Registry, layer) >= 1,
        "the layer was being sent: {run:#?}"
    );
    assert!(
        run.elapsed >= Duration::from_secs(4),
        "ended by the 5 s deadline, not before it: {run:#?}"
    );
}

#[test]
fn endless_tag_pages_end_in_a_clear_error() {
    let registry = HostileRegistry::start(Behaviour::EndlessTagPages);
    let sb = warmed(&registry, (&[], ""));
    let before = sb.snapshot();
    let reference = registry.reference("^1");
    let bound = Duration::from_secs(60);
    let run = sb.run(
        &["fetch", &reference, "-o", "out.wasm"],
        &[],
        "",
        bound + Duration::from_secs(5),
    );
    assert_refused(
        &sb,
        &registry,
        &run,
        bound,
        &["page", "too many", "more than", "larger than", "limit"],
        &before,
    );
    assert!(run.stderr.contains("tag"), "{}", run.stderr);
    let pages = registry.count(Host::Registry, "GET", "/tags/list");
    assert!(
        (2..1000).contains(&pages),
        "followed the pages, then stopped: {pages} pages"
    );
    assert_eq!(
        registry.count(Host::Registry, "GET", "/manifests/1."),
        0,
        "no version picked from a truncated list"
    );
}

/// A fetch's arguments, environment and stdin.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn credentials_never_follow_a_redirect_to_another_host() {
    const USER: &str = "ci-bot";
    const PASSWORD: &str = "hunter2-correct-horse";
    let registry =
        HostileRegistry::start_with_credentials(Behaviour::RedirectToOtherHost, USER, PASSWORD);
    let flags: &[&str] = &["--username", USER, "--password-stdin"];
    let sb = warmed(&registry, (flags, PASSWORD));
    let before = sb.snapshot();
    let reference = registry.reference(HOSTILE_TAG);
    let bound = Duration::from_secs(60);
    let fetch = ["fetch", reference.as_str(), "-o", "out.wasm"];
    // From the flags, then from the environment, unscoped and scoped to the
    // registry's host.
    let with_flags = [&fetch[..], flags].concat();
    let host_env: String = registry
        .addr
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    let (scoped_user, scoped_password) = (
        format!("PIPECTL_REGISTRY_{host_env}_USERNAME"),
        format!("PIPECTL_REGISTRY_{host_env}_PASSWORD"),
    );
    let unscoped = [
        ("PIPECTL_REGISTRY_USERNAME", USER),
        ("PIPECTL_REGISTRY_PASSWORD", PASSWORD),
    ];
    let scoped = [
        (scoped_user.as_str(), USER),
        (scoped_password.as_str(), PASSWORD),
    ];
    let cases: [Case<'_>; 3] = [
        (&with_flags, &[], PASSWORD),
        (&fetch, &unscoped, ""),
        (&fetch, &scoped, ""),
    ];
    let layer = &registry.hostile().layer_digest;
    let expected = basic_authorization(USER, PASSWORD);
    for (args, env, stdin) in cases {
        let (asked, authorized, redirected) = (
            registry.count(Host::Registry, "GET", layer),
            registry.authorizations(Host::Registry).len(),
            registry.count(Host::Other, "GET", layer),
        );
        let run = sb.run(args, env, stdin, bound);
        assert_refused(
            &sb,
            &registry,
            &run,
            bound,
            &["401", "unauthorized", "redirect"],
            &before,
        );
        assert!(!run.stderr.contains(PASSWORD), "{}", run.stderr);
        assert!(!run.stdout.contains(PASSWORD), "{}", run.stdout);
        // The credentials were in use: the registry got them and served
        // the manifest, then answered the layer with its redirect, which
        // was followed.
        assert!(
            registry.authorizations(Host::Registry)[authorized..]
                .iter()
                .all(|a| *a == expected)
                && registry.authorizations(Host::Registry).len() > authorized,
            "{env:?}: the registry got the credentials"
        );
        assert!(
            registry.count(Host::Registry, "GET", layer) > asked,
            "{env:?}: the registry was asked for the layer"
        );
        assert!(
            registry.count(Host::Other, "GET", layer) > redirected,
            "{env:?}: the redirect to {} was followed",
            registry.other_addr
        );
        assert_eq!(
            registry.authorizations(Host::Other),
            Vec::<String>::new(),
            "{env:?}: no credentials reached {}",
            registry.other_addr
        );
    }
}

/// `PIPECTL_REGISTRY_TOKEN` is sent as a Bearer token to the registry it is
/// scoped to (REF's registry, or `PIPECTL_REGISTRY_HOST`), never to a host
/// a redirect leads to, and never to a registry `PIPECTL_REGISTRY_HOST`
/// does not name.
#[test]
fn the_token_variable_goes_only_where_it_is_scoped() {
    const TOKEN: &str = "tok-3f9a-never-elsewhere";
    let registry = HostileRegistry::start(Behaviour::RedirectToOtherHost);
    let sb = warmed(&registry, (&[], ""));
    let reference = registry.reference(HOSTILE_TAG);
    let fetch = ["fetch", reference.as_str(), "-o", "out.wasm"];
    let bound = Duration::from_secs(60);

    // Scoped by REF: the registry gets `Bearer <token>`, the redirect's
    // host gets nothing.
    let run = sb.run(&fetch, &[("PIPECTL_REGISTRY_TOKEN", TOKEN)], "", bound);
    assert!(!run.stderr.contains(TOKEN) && !run.stdout.contains(TOKEN));
    let bearer = format!("Bearer {TOKEN}");
    let sent = registry.authorizations(Host::Registry);
    assert!(
        !sent.is_empty() && sent.iter().all(|a| *a == bearer),
        "the registry got the token: {sent:?}"
    );
    assert!(
        registry.count(Host::Other, "GET", &registry.hostile().layer_digest) > 0,
        "the redirect was followed"
    );
    assert_eq!(registry.authorizations(Host::Other), Vec::<String>::new());

    // `PIPECTL_REGISTRY_HOST` names another registry: this one gets nothing.
    let before = registry.authorizations(Host::Registry).len();
    sb.run(
        &fetch,
        &[
            ("PIPECTL_REGISTRY_TOKEN", TOKEN),
            ("PIPECTL_REGISTRY_HOST", "registry.elsewhere.example"),
        ],
        "",
        bound,
    );
    assert_eq!(
        registry.authorizations(Host::Registry).len(),
        before,
        "a token scoped to another registry is not sent here"
    );
}
