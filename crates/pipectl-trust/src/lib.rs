//! Trust material for pipectl's artifacts, in the formats other tools read:
//!
//! - [`keys`]: ECDSA P-256 keys as PKCS#8 / SubjectPublicKeyInfo PEM (what
//!   `openssl` and `cosign verify --key` read), fingerprints, signatures in
//!   ASN.1 DER.
//! - [`dsse`]: DSSE envelopes and their pre-authentication encoding.
//! - [`statement`]: in-toto v1 statements naming an artifact by digest.
//! - [`sbom`]: a composition as a CycloneDX 1.5 SBOM and a SLSA v1
//!   provenance statement, and the check that an SBOM agrees with a
//!   component.
//! - [`bundle`]: Sigstore bundles (v0.3) holding a message signature or a
//!   DSSE envelope, and their verification against trusted keys.
//!
//! No IO, no network, no printing: bytes in, bytes and reports out. The
//! cryptography is RustCrypto's (`p256`, `ecdsa`, `sha2`).

pub mod bundle;
pub mod dsse;
pub mod keys;
pub mod sbom;
pub mod statement;

pub use bundle::{BUNDLE_MEDIA_TYPE, Bundle, Verified, VerifyError};
pub use keys::{KeyError, PublicKey, SigningKey};
pub use statement::Statement;
