//! The embedded store: an OCI image-layout directory (`oci-layout`,
//! `index.json`, `blobs/sha256/<hex>`), readable by other OCI-layout tools.
//! Tags are the index entries' `org.opencontainers.image.ref.name`.

use std::path::{Path, PathBuf};

use pipectl_io::Digest;
use serde::{Deserialize, Serialize};

use crate::artifact::{
    self, Artifact, Descriptor, INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, annotations,
};
use crate::error::RegistryError;
use crate::fsutil::DirLock;
use crate::limits::Limits;
use crate::referrers::{self, Referrer, ReferrerDescriptor};
use crate::store::{BlobWriter, Progress, Store};

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
    limits: Limits,
}

impl LayoutStore {
    /// The layout at `dir` (created on first push).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::with_limits(dir, Limits::default())
    }

    /// The layout at `dir`, reading no more than `limits` allow.
    pub fn with_limits(dir: impl Into<PathBuf>, limits: Limits) -> Self {
        Self {
            dir: dir.into(),
            limits,
        }
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest.hex())
    }

    fn read_index(&self) -> Result<Option<Index>, RegistryError> {
        let path = self.dir.join("index.json");
        match pipectl_io::read_regular(&path, self.limits.max_manifest_size, "OCI index") {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                RegistryError::Refused(format!(
                    "`{}` is not a valid OCI index: {}",
                    path.display(),
                    pipectl_io::text::clean(&e.to_string(), 300)
                ))
            }),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A blob of at most `max` bytes.
    fn read_blob(&self, digest: &Digest, max: u64, what: &str) -> Result<Vec<u8>, RegistryError> {
        let path = self.blob_path(digest);
        pipectl_io::read_regular(&path, max, what).map_err(|e| {
            if e.is_not_found() {
                RegistryError::NotFound {
                    reference: format!("oci-layout:{}@{digest}", self.dir.display()),
                    what: "the blob is missing from the layout".to_string(),
                }
            } else {
                e.into()
            }
        })
    }

    fn write_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<(), RegistryError> {
        let path = self.blob_path(digest);
        // Content-addressed: an existing, intact blob is the same bytes.
        if let Ok(existing) = pipectl_io::read_regular(&path, bytes.len() as u64, "blob")
            && digest.matches(&existing)
        {
            return Ok(());
        }
        pipectl_io::write_atomic(&path, bytes, pipectl_io::WriteOptions::default())?;
        Ok(())
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

    fn manifest_for_tag(&mut self, tag: &str) -> Result<Option<(Vec<u8>, Digest)>, RegistryError> {
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
        let max = desc.size.min(self.limits.max_manifest_size);
        let bytes = self.read_blob(&desc.digest, max, "manifest")?;
        artifact::verify("manifest", &bytes, &desc.digest, Some(desc.size)).map_err(|source| {
            RegistryError::Verify {
                reference: format!("{}:{tag}", self.reference()),
                reason: source,
            }
        })?;
        Ok(Some((bytes, desc.digest.clone())))
    }

    fn manifest_by_digest(&mut self, digest: &Digest) -> Result<Vec<u8>, RegistryError> {
        let bytes = self.read_blob(digest, self.limits.max_manifest_size, "manifest")?;
        artifact::verify("manifest", &bytes, digest, None).map_err(|source| {
            RegistryError::Verify {
                reference: format!("{}@{digest}", self.reference()),
                reason: source,
            }
        })?;
        Ok(bytes)
    }

    fn blob(
        &mut self,
        desc: &Descriptor,
        tmp_dir: &Path,
        _progress: &Progress,
    ) -> Result<tempfile::NamedTempFile, RegistryError> {
        use std::io::Read as _;
        let path = self.blob_path(&desc.digest);
        let (file, _) = pipectl_io::file::open_regular(&path, "layer").map_err(|e| {
            if e.is_not_found() {
                RegistryError::NotFound {
                    reference: format!("{}@{}", self.reference(), desc.digest),
                    what: "the blob is missing from the layout".to_string(),
                }
            } else {
                e.into()
            }
        })?;
        let mut out = BlobWriter::new(
            desc,
            format!("{}@{}", self.reference(), desc.digest),
            tmp_dir,
        )?;
        // One byte past the declared size is enough to know it is longer.
        let mut reader = file.take(desc.size.saturating_add(1));
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(RegistryError::io("failed to read", &path))?;
            if n == 0 {
                break;
            }
            out.write(&buf[..n])?;
        }
        out.finish()
    }

    fn push(
        &mut self,
        artifact: &Artifact,
        tag: &str,
        expected: Option<&Digest>,
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
            now.as_ref(),
            expected,
            &artifact.manifest_digest,
        )? {
            return Ok(());
        }
        let layout = self.dir.join("oci-layout");
        if !layout.exists() {
            pipectl_io::write_atomic(
                &layout,
                br#"{"imageLayoutVersion":"1.0.0"}"#,
                pipectl_io::WriteOptions::default(),
            )?;
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
            artifact_type: None,
            annotations: [(annotations::REF_NAME.to_string(), tag.to_string())].into(),
        });
        let path = self.dir.join("index.json");
        let bytes = serde_json::to_vec_pretty(&index).expect("index serializes");
        pipectl_io::write_atomic(&path, &bytes, pipectl_io::WriteOptions::default())?;
        Ok(())
    }

    fn push_referrer(
        &mut self,
        referrer: &Referrer,
        _progress: &Progress,
    ) -> Result<(), RegistryError> {
        let _lock =
            DirLock::acquire(&self.dir).map_err(RegistryError::io("failed to lock", &self.dir))?;
        let layout = self.dir.join("oci-layout");
        if !layout.exists() {
            pipectl_io::write_atomic(
                &layout,
                br#"{"imageLayoutVersion":"1.0.0"}"#,
                pipectl_io::WriteOptions::default(),
            )?;
        }
        let digest = referrer.digest();
        self.write_blob(&referrer.parsed.config.digest, referrers::EMPTY_JSON)?;
        self.write_blob(&referrer.parsed.layers[0].digest, &referrer.payload)?;
        self.write_blob(&digest, &referrer.manifest)?;
        // The index as JSON values: every field of every other entry kept.
        let path = self.dir.join("index.json");
        let mut index: serde_json::Value = match self.read_index()? {
            None => {
                serde_json::json!({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": []})
            }
            Some(_) => {
                let bytes =
                    pipectl_io::read_regular(&path, self.limits.max_manifest_size, "OCI index")?;
                serde_json::from_slice(&bytes).map_err(|e| {
                    RegistryError::Refused(format!(
                        "`{}` is not a valid OCI index: {e}",
                        path.display()
                    ))
                })?
            }
        };
        let Some(entries) = index.get_mut("manifests").and_then(|m| m.as_array_mut()) else {
            return Err(RegistryError::Refused(format!(
                "`{}` has no `manifests` list",
                path.display()
            )));
        };
        let here = digest.to_string();
        if entries
            .iter()
            .any(|e| e.get("digest").and_then(|d| d.as_str()) == Some(here.as_str()))
        {
            return Ok(());
        }
        entries.push(serde_json::to_value(referrer.descriptor()).expect("a descriptor serializes"));
        let bytes = serde_json::to_vec_pretty(&index).expect("index serializes");
        pipectl_io::write_atomic(&path, &bytes, pipectl_io::WriteOptions::default())?;
        Ok(())
    }

    fn referrers(&mut self, subject: &Digest) -> Result<Vec<ReferrerDescriptor>, RegistryError> {
        let Some(index) = self.read_index()? else {
            return Ok(Vec::new());
        };
        // Untagged manifests whose `subject` is this one; the digests are
        // checked when a referrer is read.
        let mut found = Vec::new();
        for entry in index.manifests.iter().filter(|m| {
            m.media_type == MANIFEST_MEDIA_TYPE
                && !m.annotations.contains_key(annotations::REF_NAME)
        }) {
            let max = entry.size.min(self.limits.max_manifest_size);
            let Ok(bytes) = self.read_blob(&entry.digest, max, "manifest") else {
                continue;
            };
            let Ok(manifest) = serde_json::from_slice::<referrers::ReferrerManifest>(&bytes) else {
                continue;
            };
            if manifest.subject.digest != *subject {
                continue;
            }
            if found.len() == referrers::MAX_REFERRERS {
                return Err(RegistryError::Refused(format!(
                    "`{}@{subject}` has more than {} referrers; pipectl reads no more",
                    self.reference(),
                    referrers::MAX_REFERRERS
                )));
            }
            found.push(ReferrerDescriptor {
                media_type: MANIFEST_MEDIA_TYPE.to_string(),
                digest: entry.digest.clone(),
                size: entry.size,
                artifact_type: Some(manifest.artifact_type),
                annotations: manifest.annotations,
            });
        }
        Ok(found)
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

    #[test]
    fn an_index_naming_a_path_as_digest_reads_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let progress = Progress::new(false);
        let mut store = LayoutStore::new(dir.path().join("layout"));
        store.push(&artifact(1), "1.0.0", None, &progress).unwrap();
        let index = dir.path().join("layout/index.json");
        let text = std::fs::read_to_string(&index).unwrap();
        let digest = artifact(1).manifest_digest.to_string();
        std::fs::write(
            &index,
            text.replace(&digest, "sha256:../../../../etc/passwd"),
        )
        .unwrap();
        let e = store.manifest_for_tag("1.0.0").unwrap_err().to_string();
        assert!(
            e.contains("index.json") && e.contains("not a digest"),
            "{e}"
        );
        assert!(!e.contains("root:"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn blobs_that_are_fifos_or_too_large_are_refused_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let progress = Progress::new(false);
        let a = artifact(1);
        let mut store = LayoutStore::new(dir.path().join("layout"));
        store.push(&a, "1.0.0", None, &progress).unwrap();
        let layer = dir
            .path()
            .join("layout/blobs/sha256")
            .join(a.layer_digest().hex());
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        // Longer than declared: cut and refused.
        std::fs::write(&layer, [a.layer.as_slice(), &[0u8; 4096]].concat()).unwrap();
        let e = store
            .blob(&a.parsed.layers[0], &tmp, &progress)
            .unwrap_err()
            .to_string();
        assert!(e.contains("longer than the 9 bytes declared"), "{e}");
        std::fs::remove_file(&layer).unwrap();
        let ok = std::process::Command::new("mkfifo")
            .arg(&layer)
            .status()
            .unwrap();
        assert!(ok.success());
        let e = store
            .blob(&a.parsed.layers[0], &tmp, &progress)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file (it is a FIFO)"), "{e}");
        assert_eq!(
            std::fs::read_dir(&tmp).unwrap().count(),
            0,
            "no temp file left"
        );
    }
}
