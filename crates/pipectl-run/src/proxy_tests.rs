//! The `--adapter http` composition on Wasmtime's own `wasi:http`
//! implementation (`wasmtime-wasi-http`'s proxy bindings, async, as
//! `wasmtime serve` drives them), not pipectl's host: same answers as
//! `pipectl serve` gives, byte for byte, for each kind of request.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};

use crate::host::grants::RefuseRequests;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

struct Proxy {
    /// pipectl's hooks: the adapter sends no request, and none could leave.
    refuse: RefuseRequests,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
}

impl WasiView for Proxy {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Proxy {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.refuse,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

/// normalizer -> validator -> counter, adapted for HTTP with a 64-byte
/// body limit.
fn adapted() -> Vec<u8> {
    let root = pipectl_testkit::root();
    let wit = pipectl_wit::WitSet::load(&root.join("wit/text-transform/0.2.0")).unwrap();
    let stages = ["normalizer", "validator", "counter"]
        .iter()
        .map(|name| {
            let path = pipectl_testkit::plugin(name);
            pipectl_compose::StageInput {
                name: name.to_string(),
                bytes: pipectl_io::read_regular(&path, 1 << 20, "a plugin").unwrap(),
                origin: path.display().to_string(),
                allow_imports: Vec::new(),
            }
        })
        .collect();
    pipectl_compose::compose(pipectl_compose::ComposePlan {
        name: "adapted",
        version: &semver::Version::new(0, 1, 0),
        wit: &wit,
        world: "example:text-transform/plugin@0.2.0",
        stages,
        adapter: Some(pipectl_compose::Adapter::Http { max_body: 64 }),
    })
    .unwrap()
    .bytes
}

/// One request through a fresh instance: status, content type, body.
async fn call(pre: &ProxyPre<Proxy>, method: &str, body: &[u8]) -> (u16, String, String) {
    let mut store = Store::new(
        pre.engine(),
        Proxy {
            refuse: RefuseRequests,
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
        },
    );
    let request = hyper::Request::builder()
        .method(method)
        .uri("http://localhost/any/path")
        .header("content-length", body.len())
        .body(
            Full::new(Bytes::copy_from_slice(body))
                .map_err(|never| -> wasmtime_wasi_http::Error { match never {} }),
        )
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let request = store
        .data_mut()
        .http()
        .new_incoming_request(
            wasmtime_wasi_http::p2::bindings::http::types::Scheme::Http,
            request,
        )
        .unwrap();
    let out = store.data_mut().http().new_response_outparam(tx).unwrap();
    let proxy = pre.instantiate_async(&mut store).await.unwrap();
    let handled = tokio::spawn(async move {
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, request, out)
            .await
    });
    let response = rx.await.unwrap().unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    handled.await.unwrap().unwrap();
    (
        status,
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_adapted_pipeline_runs_on_wasmtime_wasi_http() {
    let engine = Engine::new(&Config::new()).unwrap();
    let component = Component::new(&engine, adapted()).unwrap();
    let mut linker = Linker::<Proxy>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap();
    let pre = ProxyPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();

    let text = "the  quick brown\tfox";
    let expected = text_transforms::pipeline(text).unwrap();
    assert_eq!(
        call(&pre, "POST", text.as_bytes()).await,
        (200, "text/plain; charset=utf-8".into(), expected)
    );
    let json = "application/json".to_string();
    assert_eq!(
        call(&pre, "POST", b"two words").await,
        (
            422,
            json.clone(),
            "{\"stage\":\"validator\",\"case\":\"invalid-input\",\"message\":\"expected at least 3 words, found 2\"}\n".into()
        )
    );
    let (status, _, body) = call(&pre, "POST", b"buy spam now").await;
    assert_eq!(status, 422);
    assert!(body.contains("\"case\":\"processing-failed\""), "{body}");
    assert_eq!(
        call(&pre, "POST", &[b'a'; 65]).await,
        (
            413,
            json.clone(),
            "{\"error\":\"the body is over 64 bytes\"}\n".into()
        )
    );
    assert_eq!(
        call(&pre, "POST", &[0xff, 0xfe, b' ']).await,
        (
            400,
            json.clone(),
            "{\"error\":\"the body is not UTF-8 text\"}\n".into()
        )
    );
    assert_eq!(call(&pre, "GET", b"").await.0, 405);
}
