//! Publishes and fetches components through OCI registries and image-layout stores, with a lockfile.
