//! `cargo xtask bench serve`: `pipectl serve` against `jco serve` of the
//! same pipeline composed with `--adapter http`, on loopback, driven by a
//! load generator in this process (hyper, keep-alive connections): requests
//! per second and p99 latency at 1 and 32 connections, the two sides
//! measured alternately, 5 rounds after a warm-up, printed as the ratio's
//! min / median / max. Then the time a reload takes (SIGHUP until
//! `/healthz` names the next generation) against what jco can do instead (a
//! restart until the port answers), and resident memory per worker.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;

use crate::bench::{fmt, ratio};
use crate::util::root;

/// The body every request sends: a short text the pipeline accepts.
const BODY: &str = "the  quick brown fox jumps over\tthe lazy dog, and then some more words";
/// Alternating rounds measured after the warm-up.
const ROUNDS: usize = 5;
/// How long one side is loaded per round.
const WINDOW: Duration = Duration::from_millis(1500);

/// What one load window saw.
struct Load {
    requests: usize,
    failed: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Load {
    fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn p99(&mut self) -> Duration {
        self.latencies.sort_unstable();
        let i = (self.latencies.len() * 99 / 100).min(self.latencies.len().saturating_sub(1));
        self.latencies.get(i).copied().unwrap_or_default()
    }
}

/// `conns` keep-alive connections, each POSTing [`BODY`] back to back for
/// `window`.
async fn load(addr: &str, conns: usize, window: Duration) -> anyhow::Result<Load> {
    let deadline = Instant::now() + window;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let addr = addr.to_string();
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(&addr).await?;
            stream.set_nodelay(true)?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .context("HTTP handshake")?;
            tokio::spawn(conn);
            let (mut ok, mut failed, mut latencies) = (0, 0, Vec::new());
            while Instant::now() < deadline {
                let request = hyper::Request::post("/")
                    .header("host", &addr)
                    .header("content-type", "text/plain")
                    .body(Full::new(Bytes::from_static(BODY.as_bytes())))?;
                let sent = Instant::now();
                let response = sender.send_request(request).await?;
                let status = response.status();
                response.into_body().collect().await?;
                latencies.push(sent.elapsed());
                if status == 200 {
                    ok += 1;
                } else {
                    failed += 1;
                }
            }
            anyhow::Ok((ok, failed, latencies))
        }));
    }
    let mut total = Load {
        requests: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for t in tasks {
        let (ok, failed, latencies) = t.await??;
        total.requests += ok;
        total.failed += failed;
        total.latencies.extend(latencies);
    }
    total.elapsed = start.elapsed();
    Ok(total)
}

/// A server under test, killed when dropped.
struct Served {
    child: Child,
    addr: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_listening(addr: &str, within: Duration) -> anyhow::Result<Duration> {
    let start = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        anyhow::ensure!(start.elapsed() < within, "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(start.elapsed())
}

fn free_addr() -> anyhow::Result<String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.to_string())
}

fn pipectl_serve(bin: &Path, dir: &Path, target: &str, workers: usize) -> anyhow::Result<Served> {
    let addr = free_addr()?;
    let child = Command::new(bin)
        .args(["serve", target, "--listen", &addr, "--workers"])
        .arg(workers.to_string())
        .current_dir(dir)
        .env("PIPECTL_CACHE_DIR", dir.join("cache"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let served = Served { child, addr };
    wait_listening(&served.addr, Duration::from_secs(60))?;
    Ok(served)
}

fn jco_serve(component: &Path) -> anyhow::Result<(Served, Duration)> {
    let addr = free_addr()?;
    let port = addr.rsplit(':').next().context("a port")?.to_string();
    let start = Instant::now();
    let child = Command::new(pipectl_testkit::jco())
        .args(["serve", "--host", "127.0.0.1", "--port", &port])
        .arg(component)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let served = Served { child, addr };
    wait_listening(&served.addr, Duration::from_secs(60))?;
    Ok((served, start.elapsed()))
}

/// Resident memory of `pid` and its descendants, in bytes.
fn rss_tree(pid: u32) -> u64 {
    let mut total = 0;
    let mut pids = vec![pid];
    while let Some(p) = pids.pop() {
        let status = std::fs::read_to_string(format!("/proc/{p}/status")).unwrap_or_default();
        total += status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024;
        let children =
            std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")).unwrap_or_default();
        pids.extend(
            children
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok()),
        );
    }
    total
}

fn min_median_max(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!("{:.2}/{:.2}/{:.2}x", v[0], v[v.len() / 2], v[v.len() - 1])
}

/// The demo pipeline, composed plain and with `--adapter http`, in `dir`.
fn prepare(bin: &Path, dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let manifest = std::fs::read_to_string(root().join("pipeline.toml"))?
        .replace("\"target/", &format!("\"{}/target/", root().display()))
        .replace("\"wit/", &format!("\"{}/wit/", root().display()))
        .replace("\"tests/", &format!("\"{}/tests/", root().display()));
    std::fs::write(dir.join("pipeline.toml"), manifest)?;
    for args in [
        &["compose", "pipeline.toml", "-o", "pipeline.wasm"][..],
        &[
            "compose",
            "pipeline.toml",
            "--adapter",
            "http",
            "-o",
            "app.wasm",
        ][..],
    ] {
        let out = Command::new(bin).args(args).current_dir(dir).output()?;
        anyhow::ensure!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok((dir.join("pipeline.wasm"), dir.join("app.wasm")))
}

/// Requests per second and p99 of each side at 1 and 32 connections.
fn throughput(rt: &tokio::runtime::Runtime, sides: &[(&str, &Served)]) -> anyhow::Result<()> {
    for conns in [1, 32] {
        println!("\n{conns} connection{}:", if conns == 1 { "" } else { "s" });
        println!(
            "{:<34} {:>10} {:>10} {:>22} {:>22}",
            "", "req/s", "p99", "req/s vs jco", "p99 vs jco"
        );
        let mut rps = vec![Vec::new(); sides.len()];
        let mut p99 = vec![Vec::new(); sides.len()];
        for round in 0..=ROUNDS {
            for (i, (_, s)) in sides.iter().enumerate() {
                let mut l = rt.block_on(load(&s.addr, conns, WINDOW))?;
                anyhow::ensure!(l.failed == 0, "{} requests failed", l.failed);
                if round > 0 {
                    rps[i].push(l.per_second());
                    p99[i].push(l.p99());
                }
            }
        }
        let jco = sides.len() - 1;
        for (i, (what, _)) in sides.iter().enumerate() {
            let mut r = rps[i].clone();
            r.sort_by(f64::total_cmp);
            let mut p = p99[i].clone();
            p.sort();
            let vs = |i: usize| {
                if i == jco {
                    (
                        "1.00x (baseline)".to_string(),
                        "1.00x (baseline)".to_string(),
                    )
                } else {
                    (
                        min_median_max(rps[i].iter().zip(&rps[jco]).map(|(a, b)| a / b).collect()),
                        min_median_max(
                            p99[i]
                                .iter()
                                .zip(&p99[jco])
                                .map(|(a, b)| ratio(*a, *b))
                                .collect(),
                        ),
                    )
                }
            };
            let (rv, pv) = vs(i);
            println!(
                "{what:<34} {:>10.0} {:>10} {rv:>22} {pv:>22}",
                r[r.len() / 2],
                fmt(p[p.len() / 2])
            );
        }
    }
    Ok(())
}

/// Median time from SIGHUP to `/healthz` naming the next generation.
fn reload_time(rt: &tokio::runtime::Runtime, s: &Served) -> anyhow::Result<Duration> {
    let mut times = Vec::new();
    for generation in 2..=6 {
        let start = Instant::now();
        Command::new("kill")
            .args(["-HUP", &s.child.id().to_string()])
            .status()?;
        loop {
            let body = rt.block_on(get(&s.addr, "/healthz"))?;
            if body.contains(&format!("generation {generation}")) {
                break;
            }
            anyhow::ensure!(start.elapsed() < Duration::from_secs(30), "no reload");
            std::thread::sleep(Duration::from_millis(1));
        }
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

async fn get(addr: &str, path: &str) -> anyhow::Result<String> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let request = hyper::Request::get(path)
        .header("host", addr)
        .body(Full::new(Bytes::new()))?;
    let body = sender
        .send_request(request)
        .await?
        .into_body()
        .collect()
        .await?;
    Ok(String::from_utf8_lossy(&body.to_bytes()).into_owned())
}

pub fn serve() -> anyhow::Result<()> {
    println!(
        "\n## serve: pipectl serve vs jco serve of the same pipeline (--adapter http), loopback, \
         keep-alive, {ROUNDS} alternating rounds of {} ms",
        WINDOW.as_millis()
    );
    let bin = crate::demo::build_pipectl()?;
    crate::jco()?;
    let dir = tempfile::tempdir()?;
    let (composed, adapted) = prepare(&bin, dir.path())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let stages = pipectl_serve(&bin, dir.path(), "pipeline.toml", 2)?;
    let single = pipectl_serve(&bin, dir.path(), "pipeline.toml", 1)?;
    let whole = pipectl_serve(&bin, dir.path(), composed.to_str().context("UTF-8")?, 2)?;
    let (jco, jco_start) = jco_serve(&adapted)?;
    throughput(
        &rt,
        &[
            ("pipectl serve, stages (2 workers)", &stages),
            ("pipectl serve, stages (1 worker)", &single),
            ("pipectl serve, composed (2 wkrs)", &whole),
            ("jco serve (Node, 1 event loop)", &jco),
        ],
    )?;
    let reload = reload_time(&rt, &stages)?;
    drop(jco);
    drop(single);
    let (jco, restart) = jco_serve(&adapted)?;
    println!(
        "\nnew version live: pipectl serve reload (SIGHUP to /healthz) {}; jco serve has no reload, a restart takes {} (first start {}): {:.3}x",
        fmt(reload),
        fmt(restart),
        fmt(jco_start),
        ratio(reload, restart)
    );
    // Memory: one worker more costs what a worker costs.
    let one = pipectl_serve(&bin, dir.path(), "pipeline.toml", 1)?;
    let four = pipectl_serve(&bin, dir.path(), "pipeline.toml", 4)?;
    for s in [&one, &four, &jco] {
        rt.block_on(load(&s.addr, 8, Duration::from_millis(500)))?;
    }
    let (m1, m4) = (rss_tree(one.child.id()), rss_tree(four.child.id()));
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    println!(
        "memory (RSS after load): pipectl serve 1 worker {:.1} MiB, 4 workers {:.1} MiB: {:.2} MiB per worker; jco serve {:.1} MiB",
        mib(m1),
        mib(m4),
        mib(m4.saturating_sub(m1)) / 3.0,
        mib(rss_tree(jco.child.id()))
    );
    Ok(())
}
