//! Fuzz target: arbitrary bytes loaded as `pipectl.lock` (through a file:
//! the lockfile is read from a path), rendered, and loaded again: what
//! pipectl writes it must read back the same.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pipectl_registry::Lockfile;

fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary folder"))
}

fuzz_target!(|data: &[u8]| {
    let path = dir().path().join("pipectl.lock");
    std::fs::write(&path, data).expect("write the input");
    let Ok(lock) = Lockfile::load(&path) else {
        return;
    };
    let rendered = lock.render();
    std::fs::write(&path, &rendered).expect("write the rendering");
    let again = Lockfile::load(&path).expect("a rendered lockfile loads");
    let sorted = |l: &Lockfile| {
        let mut e = l.entries().to_vec();
        e.sort();
        e
    };
    assert_eq!(sorted(&lock), sorted(&again), "{rendered}");
});
