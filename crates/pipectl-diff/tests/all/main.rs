//! Integration tests for `pipectl-diff`: the rule fixtures, agreement with
//! `wit_component::semver_check`, our own releases and real WASI releases.

mod histories;
mod linear;
mod policy;
mod rules;
mod wasi;
