//! The registry baseline for `cargo xtask bench registry`: the same
//! transfer as `pipectl publish` / `fetch`, done with a plain HTTP client in
//! the fewest requests CNCF distribution allows (per blob a `POST` to open
//! an upload and one `PUT` with the bytes; then the manifest `PUT`; a fetch
//! is the manifest and the layer, digest checked), so MB/s becomes a ratio.

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// One keep-alive connection to the registry at `addr`.
pub struct Plain {
    addr: String,
    sender: SendRequest<Full<Bytes>>,
}

/// A response: status, `Location`, body.
type Answer = (u16, Option<String>, Bytes);

impl Plain {
    pub async fn connect(addr: &str) -> anyhow::Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Self {
            addr: addr.to_string(),
            sender,
        })
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> anyhow::Result<Answer> {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.addr)
            .header("content-length", body.len());
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = self
            .sender
            .send_request(request.body(Full::new(body))?)
            .await?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, location, body))
    }

    /// Uploads `blob` in two requests; returns its digest.
    async fn blob(&mut self, repo: &str, blob: &[u8]) -> anyhow::Result<String> {
        let digest = format!("sha256:{}", pipectl_io::Digest::sha256(blob).hex());
        let (status, location, _) = self
            .send(
                "POST",
                &format!("/v2/{repo}/blobs/uploads/"),
                &[],
                Bytes::new(),
            )
            .await?;
        anyhow::ensure!(status == 202, "upload not opened: {status}");
        let location = location.context("no upload location")?;
        // Absolute or not, the path and query are what matter.
        let path = match location.find("://") {
            Some(i) => location[i + 3..]
                .find('/')
                .map_or("/".to_string(), |j| location[i + 3 + j..].to_string()),
            None => location,
        };
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, _, _) = self
            .send(
                "PUT",
                &format!("{path}{sep}digest={digest}"),
                &[("content-type", "application/octet-stream")],
                Bytes::copy_from_slice(blob),
            )
            .await?;
        anyhow::ensure!(status == 201, "blob not stored: {status}");
        Ok(digest)
    }

    /// Publishes `layer` as a Wasm OCI artifact under `repo:tag`: 5
    /// requests.
    pub async fn publish(&mut self, repo: &str, tag: &str, layer: &[u8]) -> anyhow::Result<()> {
        let config = br#"{"architecture":"wasm","os":"wasip2"}"#;
        let config_digest = self.blob(repo, config).await?;
        let layer_digest = self.blob(repo, layer).await?;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.wasm.config.v0+json",
                "digest": config_digest,
                "size": config.len(),
            },
            "layers": [{
                "mediaType": "application/wasm",
                "digest": layer_digest,
                "size": layer.len(),
            }],
        })
        .to_string();
        let (status, _, _) = self
            .send(
                "PUT",
                &format!("/v2/{repo}/manifests/{tag}"),
                &[("content-type", "application/vnd.oci.image.manifest.v1+json")],
                Bytes::from(manifest),
            )
            .await?;
        anyhow::ensure!(status == 201, "manifest not stored: {status}");
        Ok(())
    }

    /// Fetches `repo:tag`'s layer and checks its digest: 2 requests.
    pub async fn fetch(&mut self, repo: &str, tag: &str) -> anyhow::Result<Bytes> {
        let (status, _, manifest) = self
            .send(
                "GET",
                &format!("/v2/{repo}/manifests/{tag}"),
                &[("accept", "application/vnd.oci.image.manifest.v1+json")],
                Bytes::new(),
            )
            .await?;
        anyhow::ensure!(status == 200, "no manifest: {status}");
        let manifest: serde_json::Value = serde_json::from_slice(&manifest)?;
        let digest = manifest["layers"][0]["digest"]
            .as_str()
            .context("no layer")?
            .to_string();
        let (status, _, layer) = self
            .send(
                "GET",
                &format!("/v2/{repo}/blobs/{digest}"),
                &[],
                Bytes::new(),
            )
            .await?;
        anyhow::ensure!(status == 200, "no layer: {status}");
        anyhow::ensure!(
            format!("sha256:{}", pipectl_io::Digest::sha256(&layer).hex()) == digest,
            "the layer's digest differs"
        );
        Ok(layer)
    }
}
