//! Running pipelines end to end.
