//! Reads: manifests, tag pages, blobs and referrers, every body read
//! against a cap (a declared `Content-Length` over it refused before
//! reading) and verified against its digest and size.

use super::*;

impl RemoteStore {
    /// Reads a body of at most `max` bytes: a larger declared length is
    /// refused before reading, a longer body as soon as it is.
    pub(super) async fn read_capped(
        &self,
        mut response: reqwest::Response,
        max: u64,
        what: &str,
        hint: Option<pipectl_io::Hint>,
    ) -> Result<Vec<u8>, Failed> {
        let too_large = |detail: String| {
            Failed::fatal(RegistryError::TooLarge {
                reference: format!("{}/{}", self.registry, self.repository),
                what: what.to_string(),
                detail,
                max,
                hint,
            })
        };
        if let Some(len) = response.content_length()
            && len > max
        {
            return Err(too_large(format!("declared {len} bytes")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.broke_off(what, &e))?
        {
            if (body.len() + chunk.len()) as u64 > max {
                return Err(too_large(format!(
                    "{} bytes or more arrived",
                    body.len() + chunk.len()
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The error an unsuccessful answer means.
    pub(super) async fn status_error(
        &self,
        response: reqwest::Response,
        reference: &str,
    ) -> Failed {
        let status = response.status();
        let body = self
            .read_capped(response, MAX_SMALL_BODY, "an error answer", None)
            .await
            .unwrap_or_default();
        #[derive(serde::Deserialize)]
        struct Envelope {
            errors: Vec<OciError>,
        }
        #[derive(serde::Deserialize)]
        struct OciError {
            code: String,
            #[serde(default)]
            message: String,
        }
        let envelope = serde_json::from_slice::<Envelope>(&body).ok();
        let codes: Vec<&str> = envelope
            .iter()
            .flat_map(|e| e.errors.iter().map(|e| e.code.as_str()))
            .collect();
        let registry = self.registry.clone();
        let error = match status.as_u16() {
            401 => self.unauthorized(),
            403 => RegistryError::Unauthorized {
                registry,
                status: "403 Forbidden".to_string(),
                detail: "the credentials lack permission for this repository".to_string(),
            },
            404 if codes.contains(&"NAME_UNKNOWN") => RegistryError::NotFound {
                reference: reference.to_string(),
                what: format!("repository `{}` does not exist", self.repository),
            },
            404 => RegistryError::NotFound {
                reference: reference.to_string(),
                what: "the registry does not have it".to_string(),
            },
            code => {
                let message = match &envelope {
                    Some(e) => e
                        .errors
                        .iter()
                        .map(|e| format!("{}: {}", e.code, e.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                    None => String::from_utf8_lossy(&body).into_owned(),
                };
                RegistryError::Registry {
                    registry,
                    message: format!("HTTP {code}: {}", short(&message)),
                }
            }
        };
        Failed {
            error,
            transient: status == StatusCode::TOO_MANY_REQUESTS
                || status.is_server_error()
                || codes.contains(&"TOOMANYREQUESTS"),
        }
    }

    /// GETs a manifest (by tag or digest): its bytes, capped, and their
    /// digest; `None` when the registry does not have it.
    pub(super) async fn get_manifest(
        &self,
        selector: &str,
        shown: &str,
    ) -> Result<Option<(Vec<u8>, Digest)>, Failed> {
        self.get_manifest_as(selector, shown, MANIFEST_MEDIA_TYPE)
            .await
    }

    /// [`Self::get_manifest`], asking for `accept` (an image index for the
    /// referrers tag schema).
    pub(super) async fn get_manifest_as(
        &self,
        selector: &str,
        shown: &str,
        accept: &str,
    ) -> Result<Option<(Vec<u8>, Digest)>, Failed> {
        let url = self.url(&format!("manifests/{selector}"));
        let response = self.get(&self.http, &url, Some(accept)).await?;
        if !response.status().is_success() {
            let failed = self.status_error(response, shown).await;
            if matches!(failed.error, RegistryError::NotFound { .. }) {
                return Ok(None);
            }
            return Err(failed);
        }
        let header = response
            .headers()
            .get("docker-content-digest")
            .and_then(|h| h.to_str().ok())
            .and_then(|h| Digest::parse(h).ok());
        let body = self
            .read_capped(
                response,
                self.limits.max_manifest_size,
                "the manifest",
                Some(pipectl_io::Hint::MaxManifestSize),
            )
            .await?;
        let digest = Digest::sha256(&body);
        if let Some(header) = header
            && header != digest
        {
            return Err(Failed::fatal(RegistryError::Verify {
                reference: shown.to_string(),
                reason: artifact::VerifyError::Digest {
                    what: "manifest".to_string(),
                    expected: header,
                    actual: digest,
                },
            }));
        }
        Ok(Some((body, digest)))
    }

    /// One page of tags after `last`, as the registry wrote them (callers
    /// clean them before showing any).
    pub(super) async fn tag_page(&self, last: Option<&str>) -> Result<Vec<String>, Failed> {
        let mut url = reqwest::Url::parse(&self.url("tags/list")).map_err(|_| {
            Failed::fatal(RegistryError::Refused(format!(
                "`{}` does not make a valid URL",
                self.registry
            )))
        })?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("n", &TAGS_PER_PAGE.to_string());
            if let Some(last) = last {
                query.append_pair("last", last);
            }
        }
        let shown = format!("{}/{}", self.registry, self.repository);
        let response = self.get(&self.http, url.as_str(), None).await?;
        if !response.status().is_success() {
            return Err(self.status_error(response, &shown).await);
        }
        let body = self
            .read_capped(
                response,
                self.limits.max_manifest_size,
                "a page of tags",
                Some(pipectl_io::Hint::MaxManifestSize),
            )
            .await?;
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let page: Page = serde_json::from_slice(&body).map_err(|_| {
            Failed::fatal(RegistryError::Registry {
                registry: self.registry.clone(),
                message: "its tag list is not valid JSON".to_string(),
            })
        })?;
        Ok(page.tags.unwrap_or_default())
    }

    /// Streams a blob into `out`, starting over on a transient failure.
    pub(super) async fn get_blob(
        &self,
        desc: &Descriptor,
        out: &mut BlobWriter<'_>,
        bar: &dyn crate::store::Transfer,
    ) -> Result<(), RegistryError> {
        let url = self.url(&format!("blobs/{}", desc.digest));
        let shown = format!("{}/{}@{}", self.registry, self.repository, desc.digest);
        let mut wait = FIRST_RETRY_WAIT;
        let mut attempt = 0;
        loop {
            out.restart()?;
            bar.set_position(0);
            let result: Result<(), Failed> = async {
                let mut response = self.get(&self.blobs, &url, None).await?;
                if !response.status().is_success() {
                    return Err(self.status_error(response, &shown).await);
                }
                // More than declared: refused before any byte is read.
                if let Some(len) = response.content_length()
                    && len > desc.size
                {
                    return Err(Failed::fatal(RegistryError::Verify {
                        reference: shown.clone(),
                        reason: artifact::VerifyError::TooLong {
                            what: format!("the layer ({len} bytes announced)"),
                            expected: desc.size,
                        },
                    }));
                }
                let what = desc.digest.to_string();
                while let Some(chunk) = response
                    .chunk()
                    .await
                    .map_err(|e| self.broke_off(&what, &e))?
                {
                    out.write(&chunk)?;
                    bar.set_position(out.written());
                }
                Ok(())
            }
            .await;
            match result {
                Ok(()) => return Ok(()),
                Err(f) if f.transient && attempt < self.retries => {
                    attempt += 1;
                    self.notify_retry(&f.error, wait, attempt);
                    tokio::time::sleep(wait).await;
                    wait = wait.saturating_mul(2).min(LONGEST_RETRY_WAIT);
                }
                Err(f) => return Err(f.error),
            }
        }
    }

    /// The referrers API's list for `subject`; `None` when the registry
    /// has no referrers API (it answers 404).
    pub(super) async fn referrers_api(
        &self,
        subject: &Digest,
    ) -> Result<Option<Vec<ReferrerDescriptor>>, Failed> {
        let url = self.url(&format!("referrers/{subject}"));
        let shown = format!("{}/{}@{subject}", self.registry, self.repository);
        let response = self.get(&self.http, &url, Some(INDEX_MEDIA_TYPE)).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(self.status_error(response, &shown).await);
        }
        let body = self
            .read_capped(
                response,
                self.limits.max_manifest_size,
                "the referrers list",
                Some(pipectl_io::Hint::MaxManifestSize),
            )
            .await?;
        let index: ReferrerIndex = serde_json::from_slice(&body).map_err(|_| {
            Failed::fatal(RegistryError::Registry {
                registry: self.registry.clone(),
                message: "its referrers list is not an image index".to_string(),
            })
        })?;
        Ok(Some(index.manifests))
    }

    /// The referrers tag schema's index for `subject`, if the tag exists.
    pub(super) async fn tag_schema_index(
        &self,
        subject: &Digest,
    ) -> Result<Option<ReferrerIndex>, Failed> {
        let tag = referrers::tag_for(subject);
        let shown = format!("{}/{}:{tag}", self.registry, self.repository);
        let Some((bytes, _)) = self.get_manifest_as(&tag, &shown, INDEX_MEDIA_TYPE).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|_| {
            Failed::fatal(RegistryError::Refused(format!(
                "`{shown}` is not an image index; it is not a referrers tag pipectl can update"
            )))
        })
    }
}
