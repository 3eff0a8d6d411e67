//! Publishes and fetches components through OCI registries and image-layout
//! stores, with a content-addressed cache and `pipectl.lock`.
//!
//! - [`reference`](mod@reference): `host/repo:tag`, `oci-layout:<dir>:tag`, `ns:name@req`.
//! - [`artifact`]: the CNCF Wasm OCI artifact (config, one layer, manifest)
//!   and verification of fetched bytes.
//! - [`store`]: what a place that holds artifacts offers;
//!   [`remote`] (OCI registries, via oci-client) and [`layout`] (the
//!   embedded store) implement it.
//! - [`cache`], [`lock`], [`auth`], [`config`]: the cache, the lockfile,
//!   credentials, namespace → registry mapping.
//! - [`limits`], [`notice`]: caps and deadline on what a registry sends;
//!   what the caller is told without failing (the library never prints).
//! - [`ops`]: publish and fetch; [`pinned`]: a pipeline's registry stages
//!   through its lockfile.
//! - [`referrers`]: OCI 1.1 referrers (signatures as artifacts about a
//!   manifest), through the referrers API or the tag schema; [`mirror`](mod@mirror):
//!   an artifact and its referrers copied into a layout (an offline mirror).
//!
//! Only this crate touches the network.

pub mod artifact;
pub mod auth;
pub mod cache;
pub mod config;
pub mod error;
mod fsutil;
pub mod layout;
pub mod limits;
pub mod lock;
pub mod mirror;
pub mod notice;
pub mod ops;
pub mod pinned;
pub mod reference;
pub mod referrers;
pub mod remote;
pub mod store;

pub use auth::{CredentialSources, Credentials};
pub use cache::Cache;
pub use config::RegistryConfig;
pub use error::RegistryError;
pub use limits::Limits;
pub use lock::{LockEntry, Lockfile};
pub use mirror::{Mirrored, mirror};
pub use notice::{Notice, Notices};
pub use ops::{
    Context, FetchOptions, Fetched, PublishReport, PublishRequest, PublishStatus, fetch, publish,
};
pub use pinned::{PinError, PinRequest, Pinned, PinnedStage, fetch_pinned};
pub use remote::Transport;
pub use store::{Progress, Transfer, TransferObserver};
