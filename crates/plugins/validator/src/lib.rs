//! The `validator` plugin: refuses empty or short text and forbidden words,
//! otherwise passes the text through unchanged.
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

struct Validator;

impl Guest for Validator {
    fn transform(input: String) -> Result<String, TransformError> {
        text_transforms::validate(&input).map_err(|e| match e {
            text_transforms::TransformError::InvalidInput(m) => TransformError::InvalidInput(m),
            text_transforms::TransformError::ProcessingFailed(m) => {
                TransformError::ProcessingFailed(m)
            }
        })
    }
}

export!(Validator);
