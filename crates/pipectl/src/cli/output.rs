//! Writing results: to stdout, tolerating a closed pipe, as human text or
//! JSON.

use std::io::{self, Write};

use clap::ValueEnum;

/// How a subcommand prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// Text for people.
    #[default]
    Human,
    /// A stable JSON document on stdout.
    Json,
}

/// An error the subcommand has already printed (e.g. one per component):
/// `main` exits 2 without printing anything more.
#[derive(Debug, thiserror::Error)]
#[error("already reported")]
pub struct AlreadyReported;

/// Whether `err` is a write to a closed pipe (`pipectl ... | head`), which
/// ends the program quietly.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Writes `value` as pretty JSON and a newline to stdout.
fn write_json(value: &serde_json::Value) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Prints a command's JSON result in the envelope every command shares:
/// an object whose first field is `ok`, then the command's fields in the
/// order its report declares them.
pub fn print_json<T: serde::Serialize>(ok: bool, value: &T) -> anyhow::Result<()> {
    write_json(&envelope(ok, serde_json::to_value(value)?))
}

/// `value`'s fields after `"ok": ok` (a value that is not an object is
/// put under `result`).
pub fn envelope(ok: bool, value: serde_json::Value) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    object.insert("ok".into(), ok.into());
    match value {
        serde_json::Value::Object(fields) => {
            for (k, v) in fields {
                if k != "ok" {
                    object.insert(k, v);
                }
            }
        }
        other => {
            object.insert("result".into(), other);
        }
    }
    serde_json::Value::Object(object)
}

/// Prints the envelope of a command that could not run or was refused:
/// `{"ok": false, "error": {"kind", "message", "causes", "hint"?}}`.
pub fn print_json_error(kind: &str, err: &anyhow::Error, hint: Option<&str>) -> anyhow::Result<()> {
    let causes: Vec<String> = err.chain().skip(1).map(|c| c.to_string()).collect();
    let mut error = serde_json::json!({
        "kind": kind,
        "message": format!("{err:#}"),
        "causes": causes,
    });
    if let Some(hint) = hint {
        error["hint"] = hint.into();
    }
    write_json(&serde_json::json!({ "ok": false, "error": error }))
}

/// Writes `text` to stdout as it is.
pub fn print_text(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Writes binary output (`-o -`) to stdout.
pub fn print_bytes(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

/// Whether outputs may replace a symbolic link at their path (`--force`).
static REPLACE_LINKS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Lets [`write_atomic`] replace a symbolic link at an output path (the
/// link itself, never its target): what `--force` asks for.
pub fn allow_replacing_links(yes: bool) {
    REPLACE_LINKS.store(yes, std::sync::atomic::Ordering::Relaxed);
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder,
/// renamed into place, so a failure never leaves a half-written file. A new
/// file gets 0666 less the umask, as a shell redirection would; an existing
/// one keeps its mode; a symbolic link is refused unless `--force`.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let options = pipectl_io::WriteOptions {
        replace_symlink: REPLACE_LINKS.load(std::sync::atomic::Ordering::Relaxed),
        mode: None,
        no_sync: false,
    };
    pipectl_io::write_atomic(path, bytes, options)?;
    Ok(())
}

/// [`write_atomic`] of whatever `fill` streams; an error from `fill`
/// leaves nothing behind.
pub fn write_atomic_with(
    path: &std::path::Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> anyhow::Result<()> {
    let options = pipectl_io::WriteOptions {
        replace_symlink: REPLACE_LINKS.load(std::sync::atomic::Ordering::Relaxed),
        mode: None,
        no_sync: false,
    };
    pipectl_io::write_atomic_with(path, options, fill)?;
    Ok(())
}

/// `--quiet`: no warnings, notices or progress on stderr.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// `--verbose`: say more on stderr.
static VERBOSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sets `--quiet` and `--verbose` for the whole run.
pub fn set_verbosity(quiet: bool, verbose: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
    VERBOSE.store(verbose && !quiet, std::sync::atomic::Ordering::Relaxed);
}

/// Whether `--quiet` was given.
pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether `--verbose` was given (and not `--quiet`).
pub fn verbose() -> bool {
    VERBOSE.load(std::sync::atomic::Ordering::Relaxed)
}

/// Writes a warning or notice to stderr, unless `--quiet`; a closed or
/// failing stderr is ignored: a warning must never turn into a panic (what
/// `eprintln!` does on a closed pipe).
pub fn warn(line: &str) {
    if !quiet() {
        error(line);
    }
}

/// Writes an error line to stderr, `--quiet` or not.
pub fn error(line: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{line}");
}
