//! `pipectl run` as a plugin host: hostile plugins, limits, recovery,
//! state, capabilities, the precompiled cache, batch inputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use pipectl_testkit::{fixture, plugin, root};

fn pipectl(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pipectl"));
    c.args(args)
        .current_dir(dir)
        .env("PIPECTL_CACHE_DIR", dir.join("cache"))
        .env("PIPECTL_CONFIG_DIR", dir.join("config"));
    c
}

fn with_stdin(mut cmd: Command, stdin: &str) -> Output {
    use std::io::Write as _;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_string();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The cause each hostile input must be reported with.
fn expected_cause(input: &str) -> Option<(&'static str, &'static str)> {
    Some(match input {
        "loop" => ("limit", "timeout"),
        "grow" => ("limit", "memory"),
        "big" => ("limit", "output"),
        "recurse" => ("trap", "call stack exhausted"),
        "trap" => ("trap", "unreachable"),
        _ => return None,
    })
}

/// 10,000 inputs, every 10th hostile (infinite loop, unbounded memory, deep
/// recursion, a trap, a 100 MiB output): the host completes, each failure
/// has the right cause, every other output is correct, the timeout fires
/// within twice its setting, and peak memory stays bounded.
#[test]
fn ten_thousand_mixed_inputs_with_hostile_ones() {
    let dir = tempfile::tempdir().unwrap();
    // Every kind of misbehaviour; the slow ones less often: a loop runs
    // into the timeout, a 100 MiB output takes a few hundred ms to build and
    // copy on a busy machine, so the timeout leaves it room.
    let others = [
        "grow", "recurse", "trap", "big", "trap", "recurse", "trap", "grow", "recurse", "big",
        "trap", "recurse", "grow", "trap", "recurse", "big", "trap", "recurse", "grow",
    ];
    let inputs: Vec<String> = (0..10_000)
        .map(|i| {
            if i % 10 == 5 {
                let k = i / 10;
                if k % 100 == 0 {
                    "loop"
                } else {
                    others[k % others.len()]
                }
                .to_string()
            } else {
                format!("input {i} is fine")
            }
        })
        .collect();
    // Room for a 100 MiB output on two cores shared with the other tests
    // (at 1.5 s one took 2 s in a full run).
    let timeout = Duration::from_millis(2500);
    let stats = dir.path().join("stats.json");
    let cmd = pipectl(
        dir.path(),
        &[
            "run",
            fixture("hostile").to_str().unwrap(),
            "--lines",
            "--keep-going",
            "--format",
            "json",
            "--timeout",
            "2500ms",
            "--max-memory",
            "128MiB",
            "--max-output",
            "16MiB",
            "--max-restarts",
            "1000",
            "--workers",
            "2",
            "--stats-json",
            stats.to_str().unwrap(),
        ],
    );
    let out = with_stdin(cmd, &(inputs.join("\n") + "\n"));
    assert_eq!(
        out.status.code(),
        Some(1),
        "some inputs fail: {}",
        stderr(&out)
    );
    let results = crate::support::run_results(&out.stdout);
    assert_eq!(results.len(), inputs.len(), "every input has a result");
    let mut failures = 0;
    let mut timeouts = Vec::new();
    for (input, r) in inputs.iter().zip(&results) {
        assert_eq!(r["ran"], true, "{input}: {r}");
        match expected_cause(input) {
            None => {
                assert_eq!(r["ok"], true, "{input}: {r}");
                assert_eq!(r["output_text"].as_str(), Some(input.as_str()), "{input}");
            }
            Some((kind, what)) => {
                failures += 1;
                assert_eq!(r["ok"], false, "{input}: {r}");
                let e = &r["error"];
                assert_eq!(e["stage"], "hostile");
                assert_eq!(e["kind"], kind, "{input}: {r}");
                let detail = if kind == "limit" {
                    &e["limit"]
                } else {
                    &e["message"]
                };
                assert!(
                    detail.as_str().unwrap().contains(what),
                    "{input}: expected `{what}`: {r}"
                );
                if input == "loop" {
                    timeouts.push(Duration::from_micros(r["elapsed_us"].as_u64().unwrap()));
                }
            }
        }
    }
    assert_eq!(failures, 1000, "10% of the inputs are hostile");
    // The timeout fires within 2x its setting.
    let slowest = timeouts.iter().max().unwrap();
    assert!(
        *slowest < timeout * 2,
        "a timeout took {slowest:?} (limit {timeout:?})"
    );
    assert!(
        timeouts.iter().all(|t| *t >= timeout),
        "timeouts fire at the limit, not before"
    );
    // Peak RSS stays bounded: two workers with at most 128 MiB of linear
    // memory each, plus one transient copy of a 100 MiB output.
    let stats: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
    let peak = stats["peak_rss_bytes"].as_u64().unwrap();
    eprintln!("peak RSS over 10,000 mixed inputs: {} MiB", peak >> 20);
    assert!(peak < 900 << 20, "peak RSS {} MiB", peak >> 20);
    let stage = &stats["stages"][0];
    assert_eq!(stage["invocations"], 10_000);
    assert_eq!(
        stage["limit_hits"]["timeout"].as_u64(),
        Some(timeouts.len() as u64)
    );
    assert_eq!(timeouts.len(), 10);
}

#[test]
fn a_stage_that_keeps_failing_is_given_up() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = fixture("hostile");
    // `trap` on every line, `--max-restarts 2`: the kind of each result.
    let kinds = |workers: &str, lines: usize| -> Vec<String> {
        let args = [
            "run",
            hostile.to_str().unwrap(),
            "--lines",
            "--keep-going",
            "--format",
            "json",
            "--max-restarts",
            "2",
            "--workers",
            workers,
        ];
        let out = with_stdin(pipectl(dir.path(), &args), &"trap\n".repeat(lines));
        assert_eq!(out.status.code(), Some(1));
        let results = crate::support::run_results(&out.stdout);
        results
            .iter()
            .map(|r| r["error"]["kind"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        kinds("1", 6),
        [
            "trap",
            "trap",
            "trap",
            "stage_failed",
            "stage_failed",
            "stage_failed"
        ]
    );

    // On two workers the count is the stage's, not each worker's: three
    // traps in all (a worker may start its call just before the third
    // failure lands, so at most one more), then the stage is given up.
    let kinds = kinds("2", 40);
    let traps = kinds.iter().filter(|k| *k == "trap").count();
    let given_up = kinds.iter().filter(|k| *k == "stage_failed").count();
    assert!((3..=4).contains(&traps), "{traps} traps");
    assert_eq!(traps + given_up, 40);
}

#[test]
fn a_trap_poisons_only_that_instance() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = pipectl(
        dir.path(),
        &[
            "run",
            fixture("hostile").to_str().unwrap(),
            "--lines",
            "--keep-going",
            "--workers",
            "1",
            "--timeout",
            "100ms",
            "--format",
            "json",
        ],
    );
    let out = with_stdin(cmd, "one\ntrap\ntwo\nloop\nthree\n");
    let results = crate::support::run_results(&out.stdout);
    let outputs: Vec<&str> = results
        .iter()
        .filter_map(|r| r["output_text"].as_str())
        .collect();
    assert_eq!(outputs, ["one", "two", "three"]);
    assert_eq!(results[1]["error"]["kind"], "trap");
    assert_eq!(results[3]["error"]["limit"], "timeout");
    let took = Duration::from_micros(results[3]["elapsed_us"].as_u64().unwrap());
    crate::support::assert_deadline(took, Duration::from_millis(100));
    // The same as text.
    let cmd = pipectl(
        dir.path(),
        &[
            "run",
            fixture("hostile").to_str().unwrap(),
            "--lines",
            "--keep-going",
            "--workers",
            "1",
            "--timeout",
            "100ms",
        ],
    );
    let out = with_stdin(cmd, "one\ntrap\ntwo\nloop\nthree\n");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\ntwo\nthree\n");
    let err = stderr(&out);
    assert!(err.contains("line 2: stage `hostile` trapped"), "{err}");
    assert!(
        err.contains("line 4: stage `hostile` exceeded its timeout limit"),
        "{err}"
    );
    // Without --keep-going the run stops at the first failure.
    let cmd = pipectl(
        dir.path(),
        &[
            "run",
            fixture("hostile").to_str().unwrap(),
            "--lines",
            "--workers",
            "1",
        ],
    );
    let out = with_stdin(cmd, "one\ntrap\ntwo\n");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\n");
    assert!(stderr(&out).contains("not run"), "{}", stderr(&out));
}

fn counter_manifest(dir: &Path) -> PathBuf {
    let path = dir.join("counter.toml");
    std::fs::write(
        &path,
        format!(
            "[pipeline]\nname = \"counting\"\nversion = \"0.1.0\"\nworld = \"example:text-transform/counter-plugin@0.2.0\"\nwit = \"{}\"\n\n[[stage]]\nname = \"counter\"\npath = \"{}\"\ncall = \"running-counter.count\"\n",
            root().join("wit/text-transform/0.2.0").display(),
            plugin("counter").display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn running_counter_counts_across_inputs_unless_stateless() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = counter_manifest(dir.path());
    let inputs = ["one two three", "four five", "six seven eight nine"];
    let cmd = pipectl(
        dir.path(),
        &[
            "run",
            manifest.to_str().unwrap(),
            "--lines",
            "--format",
            "json",
        ],
    );
    let out = with_stdin(cmd, &inputs.join("\n"));
    let results = crate::support::run_results(&out.stdout);
    let totals: Vec<String> = results
        .iter()
        .map(|r| {
            r["output_text"]
                .as_str()
                .unwrap()
                .lines()
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    let sum: usize = inputs.iter().map(|i| i.split_whitespace().count()).sum();
    assert_eq!(
        totals,
        [
            "This: 3, Running total: 3",
            "This: 2, Running total: 5",
            format!("This: 4, Running total: {sum}").as_str()
        ]
    );

    let cmd = pipectl(
        dir.path(),
        &["run", manifest.to_str().unwrap(), "--lines", "--stateless"],
    );
    let out = with_stdin(cmd, &inputs.join("\n"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("This: 4, Running total: 4"), "{text}");
}

#[test]
fn the_precompiled_cache_is_used_and_a_corrupt_entry_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    // Always the composed pipeline (never a file that exists only when
    // the demo ran before).
    let sb = crate::support::Sandbox::new();
    let target = PathBuf::from(crate::support::composed(&sb));
    let cache = dir.path().join("compiled");
    let stats = dir.path().join("stats.json");
    let run = || {
        let cmd = pipectl(
            dir.path(),
            &[
                "run",
                target.to_str().unwrap(),
                "--compiled-cache",
                cache.to_str().unwrap(),
                "--stats-json",
                stats.to_str().unwrap(),
            ],
        );
        let out = with_stdin(cmd, "  one  two three ");
        assert!(out.status.success(), "{}", stderr(&out));
        let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
        (
            s["compiled"][0]["source"].as_str().unwrap().to_string(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (first, out1) = run();
    assert_eq!(first, "compiled");
    let (second, out2) = run();
    assert_eq!(second, "cache", "the second run skips compilation");
    assert_eq!(out1, out2);
    // Corrupt the artifact: its seal fails, it is recompiled, and the
    // run is still right.
    let artifact = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .unwrap();
    let mut bytes = std::fs::read(&artifact).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x5a;
    bytes.truncate(n - 100);
    std::fs::write(&artifact, &bytes).unwrap();
    let (third, out3) = run();
    assert_eq!(third, "recompiled");
    assert_eq!(out3, out1);
    let (fourth, _) = run();
    assert_eq!(fourth, "cache", "the rebuilt entry is trusted again");
}

#[test]
fn capabilities_are_denied_unless_granted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/hello.txt"), "hello from the host\n").unwrap();
    // No grants: refused at load, naming the capability.
    let cmd = pipectl(dir.path(), &["run", fixture("fs-reader").to_str().unwrap()]);
    let out = with_stdin(cmd, "/data/hello.txt");
    // A denied capability is the policy saying no: exit 1, every missing
    // capability named at once with the grant that covers them all.
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("filesystem (`wasi:filesystem/")
            && err.contains("clocks (`wasi:clocks/wall-clock")
            && err.contains("`--grant filesystem,stdio,clocks`")
            && err.contains("`--grant runtime`"),
        "{err}"
    );
    // Granted a read-only directory (and the CLI basics std needs), it reads.
    let manifest = dir.path().join("fs.toml");
    std::fs::write(
        &manifest,
        format!(
            "[pipeline]\nname = \"reader\"\nversion = \"0.1.0\"\nworld = \"example:text-transform/plugin@0.2.0\"\nwit = \"{}\"\n\n[[stage]]\nname = \"reader\"\npath = \"{}\"\ngrants = {{ stdio = true, clocks = true, dirs = [{{ host = \"data\", guest = \"/data\" }}] }}\n",
            root().join("wit/text-transform/0.2.0").display(),
            fixture("fs-reader").display()
        ),
    )
    .unwrap();
    let out = with_stdin(
        pipectl(dir.path(), &["run", manifest.to_str().unwrap()]),
        "/data/hello.txt",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from the host\n"
    );
    // Outside the preopened directory there is nothing.
    let out = with_stdin(
        pipectl(dir.path(), &["run", manifest.to_str().unwrap()]),
        "/etc/hostname",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("processing-failed"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn memory_declared_over_the_limit_is_refused_at_load_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let wat = dir.path().join("bigmem.wat");
    std::fs::write(
        &wat,
        "(component (core module (memory 16000)) (core module (memory 4000)))",
    )
    .unwrap();
    let out = with_stdin(pipectl(dir.path(), &["run", wat.to_str().unwrap()]), "x");
    // A stage refused by the host's rules: the gate's no (1).
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("stage `bigmem` starts with 1250 MiB") && err.contains("limit of 256 MiB"),
        "{err}"
    );
    // Under a larger limit it gets as far as looking for `transform`.
    let out = with_stdin(
        pipectl(
            dir.path(),
            &["run", wat.to_str().unwrap(), "--max-memory", "2GiB"],
        ),
        "x",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("does not export"), "{}", stderr(&out));
}

#[test]
fn a_plugin_sleeping_in_the_host_still_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let sleeper = fixture("sleeper");
    let args = [
        "run",
        sleeper.to_str().unwrap(),
        "--grant",
        "clocks,stdio",
        "--timeout",
        "300ms",
        "--lines",
        "--keep-going",
        "--format",
        "json",
    ];
    // A sleep within the limit is left alone; one past it ends at the
    // deadline and is reported as the timeout, and the next input runs.
    let out = with_stdin(pipectl(dir.path(), &args), "20\n600000\n30\n");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let results = crate::support::run_results(&out.stdout);
    assert_eq!(results.len(), 3, "{results:?}");
    let slept = |r: &serde_json::Value| {
        r["output_text"]
            .as_str()
            .and_then(|o| o.strip_prefix("slept "))
            .and_then(|o| o.strip_suffix(" ms"))
            .and_then(|ms| ms.parse::<u64>().ok())
    };
    assert!(slept(&results[0]).is_some_and(|ms| ms >= 20), "{results:?}");
    assert!(slept(&results[2]).is_some_and(|ms| ms >= 30), "{results:?}");
    assert_eq!(results[1]["ok"], false, "{results:?}");
    assert_eq!(results[1]["error"]["limit"], "timeout", "{results:?}");
    // Interrupted at the deadline, not after the sleep (600 s).
    let waited = Duration::from_micros(results[1]["elapsed_us"].as_u64().unwrap());
    crate::support::assert_deadline(waited, Duration::from_millis(300));
}

#[test]
fn cli_grants_link_interfaces_but_never_the_network() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/hello.txt"), "from --dir\n").unwrap();
    // A server the probe is pointed at: it must never see a connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let probe = fixture("http-probe");
    let probe = probe.to_str().unwrap();

    // Refused before it is compiled, naming `http` and the flag that links it.
    let out = with_stdin(pipectl(dir.path(), &["run", probe]), &address);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("http (`wasi:http/") && err.contains("`--grant http,stdio`"),
        "{err}"
    );
    // Linked, the request itself is refused with wasi:http's own error code.
    let out = with_stdin(
        pipectl(dir.path(), &["run", probe, "--grant", "http,stdio"]),
        &address,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("processing-failed") && err.contains("HttpRequestDenied"),
        "{err}"
    );
    // `runtime` is every inert grant at once: the same refusal.
    let out = with_stdin(
        pipectl(dir.path(), &["run", probe, "--grant", "runtime"]),
        &address,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("HttpRequestDenied"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        listener.accept().map(|_| ()).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "the plugin reached the network"
    );

    // `--grant filesystem` links the interfaces with no directory: the
    // plugin loads and finds nothing; `--dir` preopens one, read-only.
    let reader = fixture("fs-reader");
    let reader = reader.to_str().unwrap();
    let out = with_stdin(
        pipectl(
            dir.path(),
            &["run", reader, "--grant", "filesystem,stdio,clocks"],
        ),
        "/data/hello.txt",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("processing-failed"),
        "{}",
        stderr(&out)
    );
    let out = with_stdin(
        pipectl(
            dir.path(),
            &[
                "run",
                reader,
                "--grant",
                "stdio,clocks",
                "--dir",
                "data::/data",
            ],
        ),
        "/data/hello.txt",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from --dir\n");

    // Malformed flags are errors of their own.
    for bad in [
        ["--env", "=x"],
        ["--dir", "::/data"],
        ["--grant", "network"],
    ] {
        let mut args = vec!["run", reader];
        args.extend(bad);
        let out = with_stdin(pipectl(dir.path(), &args), "x");
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
    }
}

#[test]
fn batch_over_a_directory_writes_one_result_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join("a.txt"), "  alpha  beta   gamma ").unwrap();
    std::fs::write(input.join("b.txt"), "two words").unwrap();
    std::fs::write(input.join("c.txt"), "delta\n\n epsilon zeta").unwrap();
    let manifest = root().join("pipeline.toml");
    let out = pipectl(
        dir.path(),
        &[
            "run",
            manifest.to_str().unwrap(),
            "--input-dir",
            "in",
            "--output-dir",
            "out",
            "--keep-going",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "b.txt is rejected");
    assert!(
        stderr(&out).contains("b.txt: stage `validator` rejected the input"),
        "{}",
        stderr(&out)
    );
    let a = std::fs::read_to_string(dir.path().join("out/a.txt")).unwrap();
    assert_eq!(
        a,
        text_transforms::pipeline("  alpha  beta   gamma ").unwrap()
    );
    assert!(!dir.path().join("out/b.txt").exists());
    assert!(dir.path().join("out/c.txt").exists());
}

#[test]
fn a_plugins_folder_without_a_manifest_runs_only_by_name_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    // Named so that file-name order is the wrong order: the counter before
    // the validator, which then accepts a two-word input.
    for (file, name) in [
        ("a-normalizer.wasm", "normalizer"),
        ("b-counter.wasm", "counter"),
        ("c-validator.wasm", "validator"),
    ] {
        std::fs::copy(plugin(name), plugins.join(file)).unwrap();
    }
    // No manifest: refused (could not run), saying how to write one.
    let out = with_stdin(
        pipectl(dir.path(), &["run", "--plugins", "plugins"]),
        "only two",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("has no pipeline.toml")
            && err.contains("[[stage]]")
            && err.contains("a-normalizer, b-counter, c-validator")
            && err.contains("--order-by-name"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    // Asked for, file-name order is what runs, with a warning.
    let out = with_stdin(
        pipectl(
            dir.path(),
            &["run", "--plugins", "plugins", "--order-by-name"],
        ),
        " x  y z ",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("file-name order"), "{}", stderr(&out));
    let counted = text_transforms::count(&text_transforms::normalize(" x  y z "));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        text_transforms::validate(&counted).unwrap()
    );
}

#[test]
fn a_composed_component_names_the_stage_that_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let composed = dir.path().join("pipeline.wasm");
    let out = Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .args(["compose", "pipeline.toml", "-o"])
        .arg(&composed)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = with_stdin(
        pipectl(dir.path(), &["run", composed.to_str().unwrap()]),
        "only two",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "error: stage `validator` rejected the input: invalid-input: expected at least 3 words, found 2"
    );
}

#[test]
fn limits_come_from_flags_and_from_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    // Fuel, from a flag: the loop runs out.
    let cmd = pipectl(
        dir.path(),
        &[
            "run",
            fixture("hostile").to_str().unwrap(),
            "--fuel",
            "200000",
            "--format",
            "json",
        ],
    );
    let out = with_stdin(cmd, "loop");
    let results = crate::support::run_results(&out.stdout);
    assert_eq!(results[0]["error"]["limit"], "fuel", "{}", results[0]);
    // ... and a normal input has enough.
    let cmd = pipectl(
        dir.path(),
        &[
            "run",
            fixture("hostile").to_str().unwrap(),
            "--fuel",
            "200000",
        ],
    );
    assert!(with_stdin(cmd, "plenty of fuel").status.success());

    // A stage's own timeout and memory limit, from the manifest.
    let manifest = dir.path().join("limited.toml");
    std::fs::write(
        &manifest,
        format!(
            "[pipeline]\nname = \"limited\"\nversion = \"0.1.0\"\nworld = \"example:text-transform/plugin@0.2.0\"\nwit = \"{}\"\n\n[pipeline.limits]\ntimeout = \"5s\"\n\n[[stage]]\nname = \"hostile\"\npath = \"{}\"\nlimits = {{ timeout = \"60ms\", max-memory = \"32MiB\" }}\n",
            root().join("wit/text-transform/0.2.0").display(),
            fixture("hostile").display()
        ),
    )
    .unwrap();
    let cmd = pipectl(
        dir.path(),
        &[
            "run",
            manifest.to_str().unwrap(),
            "--lines",
            "--keep-going",
            "--format",
            "json",
        ],
    );
    let out = with_stdin(cmd, "loop\ngrow\n");
    let results = crate::support::run_results(&out.stdout);
    assert_eq!(results[0]["error"]["limit"], "timeout");
    let took = Duration::from_micros(results[0]["elapsed_us"].as_u64().unwrap());
    crate::support::assert_deadline(took, Duration::from_millis(60));
    assert_eq!(results[1]["error"]["limit"], "memory");
    assert!(
        results[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("33554432"),
        "{}",
        results[1]
    );
}

/// A plugin that opens TCP connections (std's `TcpStream`) is refused
/// unless `sockets` is granted; granted, the interfaces are linked and every
/// address is refused: a listener on loopback never sees a connection.
#[test]
fn sockets_are_denied_unless_granted_and_then_every_address_is_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let probe = fixture("tcp-probe");
    let probe = probe.to_str().unwrap();

    let out = with_stdin(pipectl(dir.path(), &["run", probe]), &addr);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("sockets (`wasi:sockets/") && err.contains("--grant sockets"),
        "{err}"
    );

    let out = with_stdin(
        pipectl(dir.path(), &["run", probe, "--grant", "runtime"]),
        &addr,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("rejected the input") && err.contains(&addr),
        "{err}"
    );
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the listener must never see a connection"
    );
}
