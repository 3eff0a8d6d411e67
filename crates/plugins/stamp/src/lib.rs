//! The `stamp` hook: adds `org.opencontainers.image.vendor` to every
//! published artifact, with a value baked in at build time
//! (`STAMP_VENDOR`, default `Example Corp`).
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
use pipectl::hooks::types::Annotation;

const VENDOR: &str = match option_env!("STAMP_VENDOR") {
    Some(v) => v,
    None => "Example Corp",
};

struct Stamp;

impl Guest for Stamp {
    fn events() -> Vec<String> {
        vec!["before-publish".to_string()]
    }

    fn on_event(event: Event) -> Verdict {
        match event {
            Event::BeforePublish(_) => Verdict::ProceedWith(vec![Annotation {
                key: "org.opencontainers.image.vendor".to_string(),
                value: VENDOR.to_string(),
            }]),
            _ => Verdict::Proceed,
        }
    }
}

export!(Stamp);
