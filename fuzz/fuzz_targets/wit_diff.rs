//! Fuzz target: arbitrary text loaded as two WIT packages (split at the
//! first NUL byte; the same text twice when there is none) and diffed, with
//! every report format rendered.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipectl_diff::{DiffOptions, FailOn, Side};
use pipectl_wit::source::LoadedWit;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (old, new) = text.split_once('\0').unwrap_or((text, text));
    let (Ok(old), Ok(new)) = (
        LoadedWit::from_text("old.wit", old),
        LoadedWit::from_text("new.wit", new),
    ) else {
        return;
    };
    let opts = DiffOptions {
        all_features: true,
        ..DiffOptions::default()
    };
    let report = pipectl_diff::diff_and_judge(
        &Side::from(&old),
        &Side::from(&new),
        &opts,
        FailOn::Breaking,
    );
    let _ = report.human();
    let _ = report.github();
    let _ = report.markdown();
});
