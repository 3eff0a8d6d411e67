//! in-toto v1 statements: "this predicate is about the artifact with this
//! digest".

use pipectl_io::Digest;

/// The statement type of in-toto v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// What cosign's signing statements say: the subject is signed, nothing
/// more.
pub const SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";
/// The predicate type of SLSA provenance v1, for composition provenance.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";

/// An in-toto v1 statement.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    /// The statement type: always [`STATEMENT_TYPE`], as `_type` in the JSON.
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// What it is about.
    pub subject: Vec<Subject>,
    /// What kind of claim.
    pub predicate_type: String,
    /// The claim itself, shaped by `predicate_type`; may be empty.
    #[serde(default)]
    pub predicate: serde_json::Value,
}

/// One artifact a statement is about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Subject {
    /// A name (the reference, or the file name).
    pub name: String,
    /// Its digests by algorithm (`sha256` → hex).
    pub digest: std::collections::BTreeMap<String, String>,
}

impl Statement {
    /// A statement about `digest` (named `name`).
    pub fn about(
        name: &str,
        digest: &Digest,
        predicate_type: &str,
        predicate: serde_json::Value,
    ) -> Self {
        Self {
            statement_type: STATEMENT_TYPE.to_string(),
            subject: vec![Subject {
                name: name.to_string(),
                digest: [("sha256".to_string(), digest.hex().to_string())].into(),
            }],
            predicate_type: predicate_type.to_string(),
            predicate,
        }
    }

    /// Whether one of the subjects is exactly `digest`.
    pub fn covers(&self, digest: &Digest) -> bool {
        self.statement_type == STATEMENT_TYPE
            && self
                .subject
                .iter()
                .any(|s| s.digest.get("sha256").map(String::as_str) == Some(digest.hex()))
    }
}
