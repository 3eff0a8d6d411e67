//! Where a plugin's stdout and stderr go: to a sink the caller provides,
//! never straight to the terminal. The host does not print; the caller
//! decides how much of what a plugin writes to show, and how to make it
//! safe for a terminal.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi_io::bytes::Bytes;

/// Which of a plugin's output streams bytes were written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StdStream {
    /// Bytes written to the plugin's `wasi:cli/stdout`.
    Stdout,
    /// Bytes written to the plugin's `wasi:cli/stderr`.
    Stderr,
}

/// Receives what plugins with the `stdio` grant write, as they write it.
/// Called from worker threads; must not block for long.
pub trait PluginOutput: Send + Sync {
    /// `stage` wrote `bytes` (raw, untrusted) to `stream`.
    fn write(&self, stage: &str, stream: StdStream, bytes: &[u8]);
}

/// A [`PluginOutput`] shared by every stage and worker that may write.
#[derive(Clone)]
pub struct OutputSink(pub Arc<dyn PluginOutput>);

impl std::fmt::Debug for OutputSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutputSink(..)")
    }
}

/// One stage's stdout or stderr, forwarding to the sink.
#[derive(Clone)]
pub(crate) struct PluginStream {
    stage: Arc<str>,
    stream: StdStream,
    sink: OutputSink,
}

impl PluginStream {
    pub(crate) fn new(stage: &str, stream: StdStream, sink: &OutputSink) -> Self {
        Self {
            stage: stage.into(),
            stream,
            sink: sink.clone(),
        }
    }

    fn send(&self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.sink.0.write(&self.stage, self.stream, bytes);
        }
    }
}

impl IsTerminal for PluginStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for PluginStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for PluginStream {
    async fn ready(&mut self) {}
}

impl OutputStream for PluginStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.send(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for PluginStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.send(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
