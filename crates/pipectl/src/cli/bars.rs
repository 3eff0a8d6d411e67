//! Registry transfers drawn as indicatif bars on stderr.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use pipectl_registry::{Transfer, TransferObserver};

/// Draws a bar per transfer; transfers at once (a pipeline's stages are
/// fetched together) get a line each.
pub struct Bars;

/// Every bar of the process, drawn together.
fn multi() -> &'static MultiProgress {
    static MULTI: std::sync::OnceLock<MultiProgress> = std::sync::OnceLock::new();
    MULTI.get_or_init(MultiProgress::new)
}

/// One bar.
struct Bar(ProgressBar);

impl TransferObserver for Bars {
    fn start(&self, what: &str, len: u64) -> Box<dyn Transfer> {
        let bar = multi().add(ProgressBar::new(len));
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        Box::new(Bar(bar))
    }
}

impl Transfer for Bar {
    fn set_position(&self, bytes: u64) {
        self.0.set_position(bytes);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
