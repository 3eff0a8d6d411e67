//! What plugins granted `stdio` write, shown on stderr: untrusted text,
//! cleaned and capped.

use std::collections::BTreeMap;
use std::sync::Mutex;

use pipectl_io::text::clean;
use pipectl_run::{PluginOutput, StdStream};

use crate::cli::output::warn;

/// The most bytes of one line a plugin writes to stdout/stderr shown.
const MAX_PLUGIN_LINE_BYTES: usize = 4096;

/// The most bytes a stage's stdout/stderr may show in one run.
const MAX_PLUGIN_OUTPUT_BYTES: u64 = 1 << 20;

/// Shows what plugins granted `stdio` write, on stderr, line by line: each
/// line's control characters escaped and long lines cut, at most
/// [`MAX_PLUGIN_OUTPUT_BYTES`] per stage, with a count of what was not shown.
#[derive(Default)]
pub struct TerminalSink {
    state: Mutex<SinkState>,
}

#[derive(Default)]
struct SinkState {
    /// Per stage and stream: the line so far, and bytes cut from it.
    partial: BTreeMap<(String, bool), (Vec<u8>, u64)>,
    /// Per stage: bytes shown, and bytes not shown once over the budget.
    shown: BTreeMap<String, (u64, u64)>,
}

impl SinkState {
    fn emit(&mut self, key: &(String, bool)) {
        let Some((line, cut)) = self.partial.remove(key) else {
            return;
        };
        let (shown, hidden) = self.shown.entry(key.0.clone()).or_default();
        if *shown >= MAX_PLUGIN_OUTPUT_BYTES {
            *hidden = hidden.saturating_add(line.len() as u64 + cut + 1);
            return;
        }
        *shown = shown.saturating_add(line.len() as u64 + 1);
        let mut text = clean(&String::from_utf8_lossy(&line), MAX_PLUGIN_LINE_BYTES);
        if cut > 0 {
            text.push_str(&format!("… ({cut} more bytes of this line cut)"));
        }
        warn(&text);
    }
}

impl PluginOutput for TerminalSink {
    fn write(&self, stage: &str, stream: StdStream, bytes: &[u8]) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let key = (stage.to_string(), stream == StdStream::Stdout);
        for chunk in bytes.split_inclusive(|b| *b == b'\n') {
            let (body, complete) = match chunk.strip_suffix(b"\n") {
                Some(body) => (body, true),
                None => (chunk, false),
            };
            let (line, cut) = state.partial.entry(key.clone()).or_default();
            let room = MAX_PLUGIN_LINE_BYTES.saturating_sub(line.len());
            let kept = body.len().min(room);
            line.extend_from_slice(&body[..kept]);
            *cut = cut.saturating_add((body.len() - kept) as u64);
            if complete {
                state.emit(&key);
            }
        }
    }
}

impl TerminalSink {
    /// Shows unfinished lines, and how much each stage wrote that was not
    /// shown.
    pub fn finish(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let keys: Vec<_> = state.partial.keys().cloned().collect();
        for key in keys {
            state.emit(&key);
        }
        for (stage, (_, hidden)) in &state.shown {
            if *hidden > 0 {
                warn(&format!(
                    "pipectl: warning: stage `{stage}` wrote {hidden} more bytes to stdout/stderr \
                     than the {MAX_PLUGIN_OUTPUT_BYTES} shown"
                ));
            }
        }
    }
}
