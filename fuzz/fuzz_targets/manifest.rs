//! Fuzz target: arbitrary text parsed and validated as `pipeline.toml`.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = pipectl_manifest::Manifest::parse(Path::new("fuzz/pipeline.toml"), text);
});
