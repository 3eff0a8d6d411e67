//! Semantic diff of WIT packages and the rule catalog that classifies each change.
