//! Content digests: `sha256:` and 64 lowercase hex digits, nothing else.
//!
//! A digest read from a lockfile, an OCI index, a manifest or a cache
//! becomes a file name; parsing it here is what keeps
//! `sha256:../../etc/passwd` from ever reaching a path.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::text;

/// A sha256 content digest, `sha256:<64 lowercase hex>`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

/// Why a string is not a digest.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("`{value}` is not a digest: {reason}")]
#[non_exhaustive]
pub struct DigestError {
    /// The offending value, cleaned and cut for display.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Digest {
    /// The digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Self {
        Self {
            hex: hex::encode(Sha256::digest(bytes)),
        }
    }

    /// A digest from a finished hasher.
    pub fn from_hasher(hasher: Sha256) -> Self {
        Self {
            hex: hex::encode(hasher.finalize()),
        }
    }

    /// The digest and length of everything `reader` yields, read in
    /// chunks (memory stays flat whatever the size).
    pub fn sha256_reader(mut reader: impl std::io::Read) -> std::io::Result<(Self, u64)> {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 << 10];
        let mut len = 0u64;
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            len += n as u64;
        }
        Ok((Self::from_hasher(hasher), len))
    }

    /// Parses `sha256:<64 lowercase hex>`.
    pub fn parse(value: &str) -> Result<Self, DigestError> {
        let err = |reason| DigestError {
            value: text::clean(value, 100),
            reason,
        };
        let Some((algorithm, hex)) = value.split_once(':') else {
            return Err(err("expected `sha256:` followed by 64 hex digits"));
        };
        if algorithm != "sha256" {
            return Err(err("only sha256 digests are supported"));
        }
        if hex.len() != 64 {
            return Err(err("a sha256 digest has 64 hex digits"));
        }
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(err("a digest's hex digits are 0-9 and a-f, lowercase"));
        }
        Ok(Self {
            hex: hex.to_string(),
        })
    }

    /// The algorithm's name, always `sha256`: the part before the colon.
    pub fn algorithm(&self) -> &'static str {
        "sha256"
    }

    /// The 64 lowercase hex digits: safe as a file name.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// Whether `bytes` hash to this digest.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        *self == Self::sha256(bytes)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest(sha256:{})", self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_sha256_with_64_lowercase_hex() {
        let good = format!("sha256:{}", "a1".repeat(32));
        assert_eq!(Digest::parse(&good).unwrap().to_string(), good);
        for bad in [
            "sha256:../../etc/passwd",
            "sha256:",
            "",
            "sha512:00",
            &format!("sha256:{}", "A1".repeat(32)),
            &format!("sha256:{}", "a1".repeat(33)),
            &format!("sha256:{}/", "a1".repeat(32)),
            &format!("SHA256:{}", "a1".repeat(32)),
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hashes_a_stream_like_the_bytes() {
        let data = vec![7u8; 200_000];
        let (d, len) = Digest::sha256_reader(&data[..]).unwrap();
        assert_eq!((d, len), (Digest::sha256(&data), 200_000));
    }

    #[test]
    fn hashes_and_round_trips_through_serde() {
        let d = Digest::sha256(b"abc");
        assert_eq!(
            d.hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(d.matches(b"abc"));
        assert!(!d.matches(b"abd"));
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        let err = serde_json::from_str::<Digest>("\"sha256:../x\"").unwrap_err();
        assert!(err.to_string().contains("not a digest"), "{err}");
    }

    #[test]
    fn the_error_never_echoes_control_characters() {
        let err = Digest::parse("sha256:\x1b[2J").unwrap_err();
        assert!(!err.to_string().contains('\x1b'), "{err}");
    }
}
