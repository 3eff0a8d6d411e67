//! A wasmtime host that runs plugin pipelines with isolation, limits and recovery.
