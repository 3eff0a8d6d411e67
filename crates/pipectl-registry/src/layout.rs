//! The embedded store: an OCI image-layout directory (`oci-layout`,
//! `index.json`, `blobs/sha256/<hex>`), readable by other OCI-layout tools.
//! Tags are the index entries' `org.opencontainers.image.ref.name`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::artifact::{
    self, Artifact, Descriptor, INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, annotations,
};
use crate::error::RegistryError;
use crate::fsutil::{DirLock, write_atomic};
use crate::store::{Progress, Store};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// An OCI image layout on disk.
pub struct LayoutStore {
    dir: PathBuf,
}

impl LayoutStore {
    /// The layout at `dir` (created on first push).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    fn read_index(&self) -> Result<Option<Index>, RegistryError> {
        let path = self.dir.join("index.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                RegistryError::Refused(format!(
                    "`{}` is not a valid OCI index: {e}",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(RegistryError::io("failed to read", &path)(e)),
        }
    }

    fn read_blob(&self, digest: &str) -> Result<Vec<u8>, RegistryError> {
        let path = self.blob_path(digest);
        std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                RegistryError::NotFound {
                    reference: format!("oci-layout:{}@{digest}", self.dir.display()),
                    what: "the blob is missing from the layout".to_string(),
                }
            } else {
                RegistryError::io("failed to read", &path)(e)
            }
        })
    }

    fn write_blob(&self, digest: &str, bytes: &[u8]) -> Result<(), RegistryError> {
        let path = self.blob_path(digest);
        // Content-addressed: an existing, intact blob is the same bytes.
        if let Ok(existing) = std::fs::read(&path)
            && artifact::digest(&existing) == digest
        {
            return Ok(());
        }
        write_atomic(&path, bytes).map_err(RegistryError::io("failed to write", &path))
    }

    fn reference(&self) -> String {
        format!("oci-layout:{}", self.dir.display())
    }
}

impl Store for LayoutStore {
    fn describe(&self) -> String {
        self.reference()
    }

    fn tags(&mut self) -> Result<Vec<String>, RegistryError> {
        Ok(self
            .read_index()?
            .map(|i| {
                i.manifests
                    .iter()
                    .filter_map(|m| m.annotations.get(annotations::REF_NAME).cloned())
                    .collect()
            })
            .unwrap_or_default())
    }

    fn manifest_for_tag(&mut self, tag: &str) -> Result<Option<(Vec<u8>, String)>, RegistryError> {
        let Some(index) = self.read_index()? else {
            return Ok(None);
        };
        let Some(desc) = index
            .manifests
            .iter()
            .find(|m| m.annotations.get(annotations::REF_NAME).map(String::as_str) == Some(tag))
        else {
            return Ok(None);
        };
        let bytes = self.read_blob(&desc.digest)?;
        artifact::verify("manifest", &bytes, &desc.digest, Some(desc.size)).map_err(|source| {
            RegistryError::Verify {
                reference: format!("{}:{tag}", self.reference()),
                reason: source,
            }
        })?;
        Ok(Some((bytes, desc.digest.clone())))
    }

    fn manifest_by_digest(&mut self, digest: &str) -> Result<Vec<u8>, RegistryError> {
        let bytes = self.read_blob(digest)?;
        artifact::verify("manifest", &bytes, digest, None).map_err(|source| {
            RegistryError::Verify {
                reference: format!("{}@{digest}", self.reference()),
                reason: source,
            }
        })?;
        Ok(bytes)
    }

    fn blob(&mut self, desc: &Descriptor, _progress: &Progress) -> Result<Vec<u8>, RegistryError> {
        let bytes = self.read_blob(&desc.digest)?;
        artifact::verify("layer", &bytes, &desc.digest, Some(desc.size)).map_err(|source| {
            RegistryError::Verify {
                reference: format!("{}@{}", self.reference(), desc.digest),
                reason: source,
            }
        })?;
        Ok(bytes)
    }

    fn push(
        &mut self,
        artifact: &Artifact,
        tag: &str,
        expected: Option<&str>,
        _progress: &Progress,
    ) -> Result<(), RegistryError> {
        let _lock =
            DirLock::acquire(&self.dir).map_err(RegistryError::io("failed to lock", &self.dir))?;
        // Under the lock: the tag must still be where the caller saw it.
        let now = self.read_index()?.and_then(|index| {
            index
                .manifests
                .into_iter()
                .find(|m| m.annotations.get(annotations::REF_NAME).map(String::as_str) == Some(tag))
                .map(|m| m.digest)
        });
        if crate::store::check_tag(
            &format!("{}:{tag}", self.reference()),
            now.as_deref(),
            expected,
            &artifact.manifest_digest,
        )? {
            return Ok(());
        }
        let layout = self.dir.join("oci-layout");
        if !layout.exists() {
            write_atomic(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)
                .map_err(RegistryError::io("failed to write", &layout))?;
        }
        // Blobs first, the index last: a crash leaves unreferenced blobs,
        // never an index entry without its blobs.
        self.write_blob(&artifact.parsed.config.digest, &artifact.config)?;
        self.write_blob(artifact.layer_digest(), &artifact.layer)?;
        self.write_blob(&artifact.manifest_digest, &artifact.manifest)?;
        let mut index = self.read_index()?.unwrap_or(Index {
            schema_version: 2,
            media_type: Some(INDEX_MEDIA_TYPE.to_string()),
            manifests: Vec::new(),
        });
        index
            .manifests
            .retain(|m| m.annotations.get(annotations::REF_NAME).map(String::as_str) != Some(tag));
        index.manifests.push(Descriptor {
            media_type: MANIFEST_MEDIA_TYPE.to_string(),
            digest: artifact.manifest_digest.clone(),
            size: artifact.manifest.len() as u64,
            annotations: [(annotations::REF_NAME.to_string(), tag.to_string())].into(),
        });
        let path = self.dir.join("index.json");
        let bytes = serde_json::to_vec_pretty(&index).expect("index serializes");
        write_atomic(&path, &bytes).map_err(RegistryError::io("failed to write", &path))
    }
}

/// Whether `dir` looks like an OCI image layout.
pub fn is_layout(dir: &Path) -> bool {
    dir.join("oci-layout").is_file()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::ComponentInfo;

    fn artifact(body: u8) -> Artifact {
        Artifact::build(
            vec![0, b'a', b's', b'm', 0x0d, 0, 1, 0, body],
            "x.wasm",
            ComponentInfo {
                exports: vec![],
                imports: vec![],
                target: None,
            },
            "2026-01-01T00:00:00Z",
            std::collections::BTreeMap::new(),
        )
    }

    #[test]
    fn a_push_refuses_a_tag_that_moved_since_it_was_checked() {
        let dir = tempfile::tempdir().unwrap();
        let progress = Progress::new(false);
        let (a, b) = (artifact(1), artifact(2));
        let mut store = LayoutStore::new(dir.path());
        // Two publishers both saw no `1.0.0`; the first wins.
        store.push(&a, "1.0.0", None, &progress).unwrap();
        let err = store.push(&b, "1.0.0", None, &progress).unwrap_err();
        assert!(
            err.to_string().contains("changed while publishing"),
            "{err}"
        );
        let (_, now) = store.manifest_for_tag("1.0.0").unwrap().unwrap();
        assert_eq!(now, a.manifest_digest);
        // The same bytes again, though the caller saw nothing: done.
        store.push(&a, "1.0.0", None, &progress).unwrap();
        // Replacing what was seen works (`--force`).
        store
            .push(&b, "1.0.0", Some(&a.manifest_digest), &progress)
            .unwrap();
        let (_, now) = store.manifest_for_tag("1.0.0").unwrap().unwrap();
        assert_eq!(now, b.manifest_digest);
    }
}
