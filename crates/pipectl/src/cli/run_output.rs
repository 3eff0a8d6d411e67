//! How `pipectl run` prints results: one JSON result per input, and one
//! line per result with `--lines`.

use pipectl_io::text::clean;
use pipectl_run::StageFailure;

/// The most characters of a failure's summary in the JSON report.
const MAX_MESSAGE_CHARS: usize = 2000;

/// One input's result in the JSON report: `output_text`, or an `error`
/// whose `kind`, `stage` and `message` are always there.
pub fn json_result(
    label: &str,
    result: Option<&Result<String, StageFailure>>,
    elapsed: std::time::Duration,
) -> serde_json::Value {
    let elapsed_us = elapsed.as_micros() as u64;
    match result {
        None => serde_json::json!({"input": label, "ran": false, "ok": false}),
        Some(Ok(output)) => serde_json::json!({
            "input": label, "ran": true, "ok": true,
            "output_text": output, "elapsed_us": elapsed_us,
        }),
        Some(Err(failure)) => {
            let summary = clean(&failure.to_string(), MAX_MESSAGE_CHARS);
            let error = crate::cli::json::StageFailure::new(failure, summary);
            serde_json::json!({
                "input": label, "ran": true, "ok": false,
                "error": error, "elapsed_us": elapsed_us,
            })
        }
    }
}

/// A result on one line (`--lines`): backslash, line feed and carriage
/// return escaped, so that one line is always one result.
pub fn one_line(output: &str) -> std::borrow::Cow<'_, str> {
    if !output.contains(['\\', '\n', '\r']) {
        return output.into();
    }
    let mut line = String::with_capacity(output.len() + 8);
    for c in output.chars() {
        match c {
            '\\' => line.push_str("\\\\"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            c => line.push(c),
        }
    }
    line.into()
}
