//! The `normalizer` plugin: collapses whitespace, trims and drops empty lines.
//!
//! `no_std` on purpose, with `plugin-rt` as its runtime: std's panic and stdio
//! paths would make the component import WASI interfaces it never uses.
#![no_std]

extern crate alloc;

use plugin_rt as _;

use alloc::string::String;

wit_bindgen::generate!({
    path: "../../../wit/text-transform/0.2.0",
    world: "example:text-transform/plugin@0.2.0",
});

use exports::example::text_transform::text_transform::{Guest, TransformError};

struct Normalizer;

impl Guest for Normalizer {
    fn transform(input: String) -> Result<String, TransformError> {
        Ok(text_transforms::normalize(&input))
    }
}

export!(Normalizer);
