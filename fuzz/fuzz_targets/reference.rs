//! Fuzz target: arbitrary text parsed as an OCI reference, with and without
//! version requirements; a refused reference never echoes a password.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipectl_registry::reference::{self, Parsed};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for allow_requirement in [false, true] {
        match reference::parse(text, allow_requirement) {
            Ok(Parsed::Direct(r)) => {
                let _ = (
                    r.location.display(),
                    r.location.registry(),
                    r.location.repository(),
                );
            }
            Ok(Parsed::Package { .. }) => {}
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});
