//! `pipectl run` at its trust edges: a planted precompiled artifact, a
//! `--plugins` folder's own grants, limits above the operator's, huge
//! `--workers`, hostile text on the terminal, a contract function of the
//! wrong type, a closed stderr.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use pipectl_testkit::{contract, fixture, plugin};

/// `pipectl` in `dir`, with its cache and its seal key in `dir`.
fn pipectl(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pipectl"));
    c.args(args)
        .current_dir(dir)
        .env("PIPECTL_CACHE_DIR", dir.join("cache"))
        .env("PIPECTL_CONFIG_DIR", dir.join("config"));
    c
}

/// Runs `cmd` with `stdin` as its input; stdout and stderr are captured
/// unless `cmd` already says where stderr goes (`capture_stderr` false).
fn feed(mut cmd: Command, stdin: &[u8], capture_stderr: bool) -> Output {
    use std::io::Write as _;
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    if capture_stderr {
        cmd.stderr(Stdio::piped());
    }
    let mut child = cmd.spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn run_with(cmd: Command, stdin: &str) -> Output {
    feed(cmd, stdin.as_bytes(), true)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn hex_sha256(bytes: &[u8]) -> String {
    pipectl_io::Digest::sha256(bytes).hex().to_string()
}

/// The artifact the cache in `cache` holds for `component`.
fn artifact_of(cache: &Path, component: &Path) -> PathBuf {
    let hex = hex_sha256(&std::fs::read(component).unwrap());
    std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.extension().is_some_and(|e| e == "cwasm")
                && p.file_name().unwrap().to_string_lossy().starts_with(&hex)
        })
        .unwrap_or_else(|| {
            panic!(
                "no artifact for {} in {}",
                component.display(),
                cache.display()
            )
        })
}

#[test]
fn a_planted_artifact_is_recompiled_with_a_warning_never_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("compiled");
    let stats = dir.path().join("stats.json");
    let (validator, normalizer) = (plugin("validator"), plugin("normalizer"));
    let input = "  one  two three ";
    let run = |component: &Path| {
        let cmd = pipectl(
            dir.path(),
            &[
                "run",
                component.to_str().unwrap(),
                "--compiled-cache",
                cache.to_str().unwrap(),
                "--stats-json",
                stats.to_str().unwrap(),
            ],
        );
        let out = run_with(cmd, input);
        assert!(out.status.success(), "{}", stderr(&out));
        let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
        (
            s["compiled"][0]["source"].as_str().unwrap().to_string(),
            out,
        )
    };
    // The validator passes the text unchanged; the normalizer would not.
    let validated = text_transforms::validate(input).unwrap();
    assert_ne!(validated, text_transforms::normalize(input));

    let (source, _) = run(&validator);
    assert_eq!(source, "compiled");
    let (source, out) = run(&validator);
    assert_eq!(source, "cache");
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    run(&normalizer);

    // The key lives outside the cache, private to the user.
    let key = dir.path().join("config/cache.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let names: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("key")), "{names:?}");

    // Plant the normalizer's (valid, loadable) artifact under the
    // validator's name, with a matching sha256 beside it, as whoever can
    // write the cache folder could.
    let target = artifact_of(&cache, &validator);
    let planted = std::fs::read(artifact_of(&cache, &normalizer)).unwrap();
    std::fs::write(&target, &planted).unwrap();
    std::fs::write(target.with_extension("cwasm.sha256"), hex_sha256(&planted)).unwrap();
    std::fs::remove_file(target.with_extension("cwasm.seal")).unwrap();
    let (source, out) = run(&validator);
    assert_eq!(source, "recompiled", "{}", stderr(&out));
    assert_eq!(stdout(&out), validated, "the planted component did not run");
    let err = stderr(&out);
    assert!(
        err.contains("warning: stage `validator`")
            && err.contains(&target.display().to_string())
            && err.contains("has no seal")
            && err.contains("not loaded"),
        "{err}"
    );

    // A forged seal beside a planted artifact: the same.
    std::fs::write(&target, &planted).unwrap();
    std::fs::write(target.with_extension("cwasm.seal"), "ab".repeat(32)).unwrap();
    let (source, out) = run(&validator);
    assert_eq!(source, "recompiled");
    assert_eq!(stdout(&out), validated);
    assert!(stderr(&out).contains("an invalid seal"), "{}", stderr(&out));

    // The normalizer's artifact with the normalizer's own (valid) seal,
    // both copied under the validator's name: the seal is bound to the
    // entry, so it fails too.
    let theirs = artifact_of(&cache, &normalizer);
    std::fs::copy(&theirs, &target).unwrap();
    std::fs::copy(
        theirs.with_extension("cwasm.seal"),
        target.with_extension("cwasm.seal"),
    )
    .unwrap();
    let (source, out) = run(&validator);
    assert_eq!(source, "recompiled");
    assert_eq!(stdout(&out), validated);
    assert!(stderr(&out).contains("an invalid seal"), "{}", stderr(&out));

    // The rebuilt entry is sealed and trusted again, silently.
    let (source, out) = run(&validator);
    assert_eq!(source, "cache");
    assert_eq!(stderr(&out), "");
    assert_ne!(std::fs::read(&target).unwrap(), planted);
}

#[cfg(unix)]
#[test]
fn a_cache_folder_others_can_write_or_no_key_means_no_cache() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("compiled");
    let stats = dir.path().join("stats.json");
    let normalizer = plugin("normalizer");
    let run = |cmd: Command| {
        let out = run_with(cmd, " a  b ");
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out), "a b");
        let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
        (
            s["compiled"][0]["source"].as_str().unwrap().to_string(),
            stderr(&out),
        )
    };
    let args = [
        "run",
        normalizer.to_str().unwrap(),
        "--compiled-cache",
        cache.to_str().unwrap(),
        "--stats-json",
        stats.to_str().unwrap(),
    ];
    run(pipectl(dir.path(), &args));
    assert_eq!(run(pipectl(dir.path(), &args)).0, "cache");
    // Writable by group and others: nothing in it is loaded.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (source, err) = run(pipectl(dir.path(), &args));
    assert_eq!(source, "recompiled");
    assert!(
        err.contains("is not trusted") && err.contains("777"),
        "{err}"
    );
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(run(pipectl(dir.path(), &args)).0, "cache");

    // No usable key (its folder is a file): the run compiles, and says so.
    std::fs::write(dir.path().join("not-a-folder"), "").unwrap();
    let mut cmd = pipectl(dir.path(), &args);
    cmd.env("PIPECTL_CONFIG_DIR", dir.path().join("not-a-folder"));
    let (source, err) = run(cmd);
    assert_eq!(source, "compiled");
    assert!(err.contains("not using the precompiled cache"), "{err}");
}

/// A folder with fs-reader and a `pipeline.toml` granting it a read-write
/// directory and stdio.
fn reader_folder(dir: &Path) -> PathBuf {
    let folder = dir.join("plugins");
    std::fs::create_dir_all(folder.join("data")).unwrap();
    std::fs::write(folder.join("data/hello.txt"), "hello from the folder\n").unwrap();
    std::fs::copy(fixture("fs-reader"), folder.join("fs-reader.wasm")).unwrap();
    std::fs::write(
        folder.join("pipeline.toml"),
        format!(
            "[pipeline]\nname = \"reader\"\nversion = \"0.1.0\"\nworld = \"example:text-transform/plugin@0.2.0\"\nwit = \"{}\"\n\n[[stage]]\nname = \"reader\"\npath = \"fs-reader.wasm\"\ngrants = {{ stdio = true, clocks = true, dirs = [{{ host = \"data\", guest = \"/data\", mode = \"rw\" }}] }}\n",
            contract("0.2.0").display()
        ),
    )
    .unwrap();
    folder
}

#[test]
fn a_plugins_folder_grants_nothing_unless_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let folder = reader_folder(dir.path());
    let manifest = folder.join("pipeline.toml");
    let manifest = manifest.to_str().unwrap();

    // The folder's own manifest grants nothing: the reader is refused at
    // load, and the warning says what was ignored and how to accept it.
    let out = run_with(
        pipectl(
            dir.path(),
            &["run", "--plugins", "plugins", "--no-compiled-cache"],
        ),
        "/data/hello.txt",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "pipectl: warning: plugins/pipeline.toml grants capabilities that were not applied"
        ) && err.contains("stage `reader` (clocks, stdio, read-write directory")
            && err.contains("--trust-manifest")
            && err.contains("pipectl run plugins/pipeline.toml"),
        "{err}"
    );
    assert!(err.contains("filesystem (`wasi:filesystem/"), "{err}");
    assert_eq!(stdout(&out), "");

    // `--trust-manifest`, or naming the manifest, applies them.
    for args in [
        &[
            "run",
            "--plugins",
            "plugins",
            "--trust-manifest",
            "--no-compiled-cache",
        ][..],
        &["run", manifest, "--no-compiled-cache"][..],
    ] {
        let out = run_with(pipectl(dir.path(), args), "/data/hello.txt");
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "hello from the folder\n");
        assert!(!stderr(&out).contains("not applied"), "{}", stderr(&out));
    }
}

fn hostile_manifest(dir: &Path, stage_limits: &str) -> PathBuf {
    let manifest = dir.join("limited.toml");
    std::fs::write(
        &manifest,
        format!(
            "[pipeline]\nname = \"limited\"\nversion = \"0.1.0\"\nworld = \"example:text-transform/plugin@0.2.0\"\nwit = \"{}\"\n\n[pipeline.limits]\ntimeout = \"30s\"\n\n[[stage]]\nname = \"hostile\"\npath = \"{}\"\nlimits = {{ {stage_limits} }}\n",
            contract("0.2.0").display(),
            fixture("hostile").display()
        ),
    )
    .unwrap();
    manifest
}

#[test]
fn command_line_limits_are_ceilings_a_manifest_lowers_but_never_raises() {
    let dir = tempfile::tempdir().unwrap();
    // The manifest asks for 20 s and 1 GiB; the operator said 200 ms and
    // 32 MiB.
    let manifest = hostile_manifest(dir.path(), "timeout = \"20s\", max-memory = \"1GiB\"");
    let started = Instant::now();
    let out = run_with(
        pipectl(
            dir.path(),
            &[
                "run",
                manifest.to_str().unwrap(),
                "--timeout",
                "200ms",
                "--max-memory",
                "32MiB",
                "--lines",
                "--keep-going",
                "--format",
                "json",
                "--no-compiled-cache",
            ],
        ),
        "loop\ngrow\n",
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let results = crate::support::run_results(&out.stdout);
    assert_eq!(results[0]["error"]["limit"], "timeout", "{}", results[0]);
    // The operator's 200 ms, not the manifest's 20 s.
    let took = Duration::from_micros(results[0]["elapsed_us"].as_u64().unwrap());
    crate::support::assert_deadline(took, Duration::from_millis(200));
    assert_eq!(results[1]["error"]["limit"], "memory", "{}", results[1]);
    assert!(
        results[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("33554432"),
        "{}",
        results[1]
    );
    let err = stderr(&out);
    assert!(
        err.contains("stage `hostile` asks for a timeout of 20s (the ceiling is 200ms)")
            && err.contains("1073741824 bytes of memory (the ceiling is 33554432)"),
        "{err}"
    );

    // Lower than the ceiling: the manifest's own limit applies.
    let manifest = hostile_manifest(dir.path(), "timeout = \"60ms\"");
    let out = run_with(
        pipectl(
            dir.path(),
            &[
                "run",
                manifest.to_str().unwrap(),
                "--timeout",
                "5s",
                "--format",
                "json",
                "--no-compiled-cache",
            ],
        ),
        "loop",
    );
    let results = crate::support::run_results(&out.stdout);
    assert_eq!(results[0]["error"]["limit"], "timeout");
    // The manifest's 60 ms, under the 5 s ceiling.
    let took = Duration::from_micros(results[0]["elapsed_us"].as_u64().unwrap());
    crate::support::assert_deadline(took, Duration::from_millis(60));
    assert!(!stderr(&out).contains("ceiling"), "{}", stderr(&out));
}

#[test]
fn huge_worker_counts_are_capped_and_never_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let stats = dir.path().join("stats.json");
    let normalizer = plugin("normalizer");
    for (workers, inputs, expected) in [
        ("5000", 3, 3),
        ("18446744073709551615", 3, 3),
        ("5000", 300, 256),
    ] {
        let lines: Vec<String> = (0..inputs).map(|i| format!(" input   {i} ")).collect();
        let out = run_with(
            pipectl(
                dir.path(),
                &[
                    "run",
                    normalizer.to_str().unwrap(),
                    "--workers",
                    workers,
                    "--lines",
                    "--no-compiled-cache",
                    "--stats-json",
                    stats.to_str().unwrap(),
                ],
            ),
            &lines.join("\n"),
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "--workers {workers}: {}",
            stderr(&out)
        );
        let expected_out: String = lines
            .iter()
            .map(|l| text_transforms::normalize(l) + "\n")
            .collect();
        assert_eq!(stdout(&out), expected_out);
        assert!(
            stderr(&out).contains(&format!(
                "--workers {workers} is more than the 256 pipectl runs; using 256"
            )),
            "{}",
            stderr(&out)
        );
        let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
        assert_eq!(
            s["workers"], expected,
            "--workers {workers}, {inputs} inputs"
        );
    }
}

#[test]
fn many_stages_on_many_workers_still_start() {
    let dir = tempfile::tempdir().unwrap();
    // Six stages on 256 workers: more live instances than a pool can
    // reserve address space for.
    let mut manifest = format!(
        "[pipeline]\nname = \"six\"\nversion = \"0.1.0\"\nworld = \"example:text-transform/plugin@0.2.0\"\nwit = \"{}\"\n",
        contract("0.2.0").display()
    );
    for name in ["a", "b", "c", "d", "e", "f"] {
        manifest.push_str(&format!(
            "\n[[stage]]\nname = \"{name}\"\npath = \"{}\"\n",
            plugin("normalizer").display()
        ));
    }
    std::fs::write(dir.path().join("six.toml"), manifest).unwrap();
    let lines: Vec<String> = (0..300).map(|i| format!(" input   {i} ")).collect();
    let stats = dir.path().join("stats.json");
    let out = run_with(
        pipectl(
            dir.path(),
            &[
                "run",
                "six.toml",
                "--workers",
                "5000",
                "--lines",
                "--stats-json",
                stats.to_str().unwrap(),
            ],
        ),
        &lines.join("\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 300);
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
    assert_eq!(s["workers"], 256);
}

#[test]
fn a_plugins_rejection_reaches_the_terminal_escaped_and_cut() {
    let dir = tempfile::tempdir().unwrap();
    // The sleeper rejects what is not a number, quoting it.
    let hostile = format!("\x1b[2J\x1b]0;owned\x07\u{9b}31m{}", "x".repeat(100_000));
    let out = run_with(
        pipectl(
            dir.path(),
            &[
                "run",
                fixture("sleeper").to_str().unwrap(),
                "--grant",
                "clocks,stdio",
                "--no-compiled-cache",
            ],
        ),
        &hostile,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        !err.contains('\x1b') && !err.contains('\x07') && !err.contains('\u{9b}'),
        "{err:?}"
    );
    assert!(err.len() < 5_000, "{} bytes", err.len());
    assert!(
        err.starts_with("error: stage `sleeper` rejected the input: invalid-input: `\\u{1b}[2J\\u{1b}]0;owned\\u{7}\\u{9b}31mxxx"),
        "{err}"
    );
    assert!(err.contains("more characters cut)"), "{err}");
}

#[test]
fn a_plugins_stdout_and_stderr_reach_the_terminal_escaped_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let sleeper = fixture("sleeper");
    let args = [
        "run",
        sleeper.to_str().unwrap(),
        "--grant",
        "clocks,stdio",
        "--no-compiled-cache",
        "--input",
        "input.txt",
    ];
    std::fs::write(
        dir.path().join("input.txt"),
        "say:\x1b[31mred\x1b[0m and \x1b]8;;http://x\x07link\nsecond line\n",
    )
    .unwrap();
    let out = run_with(pipectl(dir.path(), &args), "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "said",
        "a plugin's stdout never mixes with the output"
    );
    let err = stderr(&out);
    assert!(!err.contains('\x1b') && !err.contains('\x07'), "{err:?}");
    // Once from its stdout, once from its stderr, line by line.
    assert_eq!(
        err.matches("\\u{1b}[31mred\\u{1b}[0m and \\u{1b}]8;;http://x\\u{7}link\n")
            .count(),
        2,
        "{err}"
    );
    assert_eq!(err.matches("second line\n").count(), 2, "{err}");

    // 8 MiB of output, in long lines and many short ones: bounded, with a
    // count of what was not shown.
    let mut flood = String::from("say:");
    flood.push_str(&"y".repeat(3 << 20));
    flood.push('\n');
    for i in 0..100_000 {
        flood.push_str(&format!("line {i}\n"));
    }
    std::fs::write(dir.path().join("input.txt"), &flood).unwrap();
    let out = run_with(pipectl(dir.path(), &args), "");
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.len() < (1 << 20) + 64 * 1024, "{} bytes", err.len());
    assert!(
        err.contains("more bytes of this line cut"),
        "{}",
        &err[..500]
    );
    assert!(
        err.contains("pipectl: warning: stage `sleeper` wrote ")
            && err.contains("more bytes to stdout/stderr than the 1048576 shown"),
        "{}",
        &err[err.len().saturating_sub(500)..]
    );
}

#[test]
fn a_contract_function_of_the_wrong_type_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    // A real component whose `transform` takes and returns a u32.
    std::fs::write(
        dir.path().join("wrong.wat"),
        r#"(component
            (core module $m (func (export "t") (param i32) (result i32) local.get 0))
            (core instance $i (instantiate $m))
            (func $t (param "input" u32) (result u32) (canon lift (core func $i "t")))
            (instance $iface (export "transform" (func $t)))
            (export "example:text-transform/text-transform@0.2.0" (instance $iface))
        )"#,
    )
    .unwrap();
    let out = run_with(
        pipectl(dir.path(), &["run", "wrong.wat", "--lines", "--keep-going"]),
        "one\ntwo\n",
    );
    // A stage refused by the contract: the gate's no (1), before any input.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(
        err.contains(
            "stage `wrong`: `transform` has the wrong signature: expected \
             `func(input: string) -> result<string, transform-error>`, found \
             `func(input: u32) -> u32`"
        ),
        "{err}"
    );
    assert!(
        !err.contains("rejected") && !err.contains("trapped"),
        "{err}"
    );
}

#[test]
fn a_closed_stderr_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let validator = plugin("validator");
    for (args, code) in [
        // Warnings (workers, the run's own), then a rejection to report.
        (
            vec![
                "run",
                validator.to_str().unwrap(),
                "--workers",
                "5000",
                "--no-compiled-cache",
                "--stats",
            ],
            1,
        ),
        // An error that stops the run.
        (vec!["run", "missing.wasm", "--no-compiled-cache"], 2),
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut cmd = pipectl(dir.path(), &args);
        cmd.stderr(writer);
        let out = feed(cmd, b"only two", false);
        assert_eq!(out.status.code(), Some(code), "{args:?}");
    }
}

/// `--dir HOST::GUEST` is read-only: a write is refused by WASI and the
/// host file stays as it was; a manifest's `mode = "rw"` directory takes
/// the write. `--env NAME=VALUE` is what the plugin reads, and nothing of
/// the host's environment is.
#[test]
fn directories_are_read_only_unless_rw_and_env_is_only_what_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("note.txt"), "original").unwrap();
    let reader = fixture("fs-reader");
    let reader = reader.to_str().unwrap();
    let base = [
        "run",
        reader,
        "--grant",
        "stdio,clocks",
        "--no-compiled-cache",
        "--format",
        "json",
    ];
    let run = |extra: &[&str], input: &str| {
        let out = run_with(pipectl(dir.path(), &[&base[..], extra].concat()), input);
        (out.status.code(), crate::support::run_results(&out.stdout))
    };

    // Read-only (the command line's only mode): reads work, writes fail.
    let (_, results) = run(&["--dir", "data::/data"], "/data/note.txt");
    assert_eq!(results[0]["output_text"], "original");
    let (code, results) = run(&["--dir", "data::/data"], "write:/data/note.txt:changed");
    assert_eq!(code, Some(1));
    assert_eq!(results[0]["error"]["kind"], "rejected", "{}", results[0]);
    assert_eq!(
        std::fs::read_to_string(data.join("note.txt")).unwrap(),
        "original"
    );
    // A path outside the preopened directory: refused as well.
    let (code, _) = run(&["--dir", "data::/data"], "write:/elsewhere.txt:x");
    assert_eq!(code, Some(1));

    // `mode = "rw"` in a manifest the operator names: the write lands.
    let manifest = dir.path().join("rw.toml");
    std::fs::write(
        &manifest,
        format!(
            "[pipeline]\nname = \"rw\"\nversion = \"0.1.0\"\nworld = \"example:text-transform/plugin@0.2.0\"\nwit = \"{}\"\n\n[[stage]]\nname = \"writer\"\npath = \"{reader}\"\ngrants = {{ stdio = true, clocks = true, dirs = [{{ host = \"data\", guest = \"/data\", mode = \"rw\" }}] }}\n",
            contract("0.2.0").display()
        ),
    )
    .unwrap();
    let out = run_with(
        pipectl(
            dir.path(),
            &["run", manifest.to_str().unwrap(), "--no-compiled-cache"],
        ),
        "write:/data/note.txt:changed",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(data.join("note.txt")).unwrap(),
        "changed"
    );

    // `--env`: what is given is there; the host's own variables are not.
    let env = |value: &str, input: &str| {
        let var = format!("GREETING={value}");
        run(&["--grant", "filesystem", "--env", &var], input)
    };
    let (_, results) = env("hi there", "env:GREETING");
    assert_eq!(results[0]["output_text"], "hi there", "{}", results[0]);
    let (code, results) = env("hi", "env:HOME");
    assert_eq!(code, Some(1), "{results:?}");
    assert_eq!(results[0]["error"]["kind"], "rejected");
}
