//! The `require-license` hook: vetoes a publish whose artifact has no
//! `org.opencontainers.image.licenses` annotation (or an empty one).
//!
//! `no_std` with `plugin-rt`, so the component imports nothing: a hook
//! needs no capability to read the event it is given.
#![no_std]

extern crate alloc;

use plugin_rt as _;

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

wit_bindgen::generate!({
    path: "../../../wit/pipectl-hooks/0.1.0",
    world: "pipectl:hooks/hook-plugin@0.1.0",
});

use exports::pipectl::hooks::hook::{Event, Guest, Verdict};

const LICENSES: &str = "org.opencontainers.image.licenses";

struct RequireLicense;

impl Guest for RequireLicense {
    fn events() -> Vec<String> {
        vec!["before-publish".to_string()]
    }

    fn on_event(event: Event) -> Verdict {
        let Event::BeforePublish(artifact) = event else {
            return Verdict::Proceed;
        };
        let licensed = artifact
            .annotations
            .iter()
            .any(|a| a.key == LICENSES && !a.value.trim().is_empty());
        if licensed {
            Verdict::Proceed
        } else {
            Verdict::Veto(alloc::format!(
                "`{}` has no `{LICENSES}` annotation; add one (e.g. `pipectl publish --licenses Apache-2.0`)",
                artifact.reference
            ))
        }
    }
}

export!(RequireLicense);
