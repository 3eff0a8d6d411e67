//! The `cli` adapter: exposes a composed pipeline as a `wasi:cli/run`
//! command. The whole of stdin is one input (or, when the pipeline was
//! composed with `--adapter cli-lines`, each line is one), the output goes
//! to stdout, and a typed error goes to stderr as `stage: case: message`
//! with exit code 1. A trap in a stage traps the command (a non-zero exit,
//! from the engine).

wit_bindgen::generate!({
    path: "../../../wit/pipectl-adapter/0.1.0",
    world: "pipectl:adapter/cli@0.1.0",
    generate_all,
});

use exports::wasi::cli::run::Guest;
use pipectl::adapter::chain;
use wasi::cli::{stderr, stdin, stdout};
use wasi::io::streams::{OutputStream, StreamError};

/// The most bytes `blocking-write-and-flush` takes in one call.
const WRITE_CHUNK: usize = 4096;

struct Cli;

fn write_all(stream: &OutputStream, bytes: &[u8]) -> Result<(), ()> {
    for chunk in bytes.chunks(WRITE_CHUNK) {
        stream.blocking_write_and_flush(chunk).map_err(|_| ())?;
    }
    Ok(())
}

fn read_stdin() -> Result<Vec<u8>, ()> {
    let input = stdin::get_stdin();
    let mut bytes = Vec::new();
    loop {
        match input.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok(bytes),
            Err(StreamError::LastOperationFailed(_)) => return Err(()),
        }
    }
}

/// An output on one line, as `pipectl run --lines` prints it: `\`, line
/// feeds and carriage returns escaped.
fn one_line(output: &str) -> String {
    let mut line = String::with_capacity(output.len() + 1);
    for c in output.chars() {
        match c {
            '\\' => line.push_str("\\\\"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            c => line.push(c),
        }
    }
    line
}

fn fail(message: &str) -> Result<(), ()> {
    let _ = write_all(&stderr::get_stderr(), format!("{message}\n").as_bytes());
    Err(())
}

impl Guest for Cli {
    fn run() -> Result<(), ()> {
        let Ok(bytes) = read_stdin() else {
            return fail("pipectl: stdin could not be read");
        };
        let Ok(input) = String::from_utf8(bytes) else {
            return fail("pipectl: stdin is not UTF-8 text");
        };
        let out = stdout::get_stdout();
        let inputs: Vec<&str> = if chain::line_mode() {
            input.lines().collect()
        } else {
            vec![input.as_str()]
        };
        for one in inputs {
            match chain::run(one) {
                Ok(output) => {
                    let written = if chain::line_mode() {
                        write_all(&out, format!("{}\n", one_line(&output)).as_bytes())
                    } else {
                        write_all(&out, output.as_bytes())
                    };
                    if written.is_err() {
                        return Err(());
                    }
                }
                Err(f) => return fail(&format!("{}: {}: {}", f.stage, f.case, f.message)),
            }
        }
        Ok(())
    }
}

export!(Cli);
