//! Fuzz target: arbitrary bytes as an OCI image manifest (parsed and
//! verified against its own digest) or, when the first byte is odd, as an
//! OCI image layout's `index.json` read through the layout store.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pipectl_registry::artifact;
use pipectl_registry::layout::LayoutStore;
use pipectl_registry::store::Store as _;

fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary folder"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    if first % 2 == 0 {
        if artifact::parse_manifest(rest).is_ok() {
            let own = pipectl_io::Digest::sha256(rest);
            artifact::verify("manifest", rest, &own, Some(rest.len() as u64))
                .expect("bytes match their own digest");
            assert!(artifact::verify("manifest", rest, &own, Some(rest.len() as u64 + 1)).is_err());
        }
        return;
    }
    let layout = dir().path().join("layout");
    std::fs::create_dir_all(&layout).expect("a layout folder");
    std::fs::write(layout.join("index.json"), rest).expect("write the index");
    let mut store = LayoutStore::new(&layout);
    if let Ok(tags) = store.tags() {
        for tag in tags.iter().take(4) {
            let _ = store.manifest_for_tag(tag);
        }
    }
});
