//! The `counter` plugin: prefixes word, line and character counts, and
//! exports the stateful `running-counter` resource.
//!
//! `no_std` on purpose, with `plugin-rt` as its runtime: std's panic and stdio
//! paths would make the component import WASI interfaces it never uses.
#![no_std]

extern crate alloc;

use plugin_rt as _;

use alloc::string::String;
use core::cell::RefCell;

wit_bindgen::generate!({
    path: "../../../wit/text-transform/0.2.0",
    world: "example:text-transform/counter-plugin@0.2.0",
});

use exports::example::text_transform::counter::{Guest as CounterGuest, GuestRunningCounter};
use exports::example::text_transform::text_transform::{Guest, TransformError};

struct Counter;

impl Guest for Counter {
    fn transform(input: String) -> Result<String, TransformError> {
        Ok(text_transforms::count(&input))
    }
}

impl CounterGuest for Counter {
    type RunningCounter = RunningCounter;
}

/// The `running-counter` resource.
struct RunningCounter(RefCell<text_transforms::RunningCounter>);

impl GuestRunningCounter for RunningCounter {
    fn new() -> Self {
        Self(RefCell::new(text_transforms::RunningCounter::new()))
    }

    fn count(&self, input: String) -> String {
        self.0.borrow_mut().count(&input)
    }

    fn total_words(&self) -> u32 {
        self.0.borrow().total_words()
    }
}

export!(Counter);
