//! The `http` adapter: exposes a composed pipeline as a
//! `wasi:http/incoming-handler`, with `pipectl serve`'s request and response
//! contract, so clients cannot tell which of the two answers them:
//!
//! - `POST` to any path with a UTF-8 body: `200 text/plain; charset=utf-8`
//!   with the pipeline's output;
//! - a typed error: `422 application/json`,
//!   `{"stage":…,"case":…,"message":…}`;
//! - a body over the limit baked in at compose time: `413`; a body that is
//!   not UTF-8: `400`; another method: `405` with `allow: POST`.
//!
//! A trap in a stage traps the whole component: the engine answers it (an
//! adapter cannot catch it).

wit_bindgen::generate!({
    path: "../../../wit/pipectl-adapter/0.1.0",
    world: "pipectl:adapter/http@0.1.0",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use pipectl::adapter::chain;
use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasi::io::streams::StreamError;

/// The most bytes `blocking-write-and-flush` takes in one call.
const WRITE_CHUNK: usize = 4096;

struct Http;

/// A response: status, content type, body, and whether it says `allow: POST`.
struct Answer {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    allow_post: bool,
}

impl Answer {
    fn error(status: u16, message: &str) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: format!("{{\"error\":{}}}\n", json_string(message)).into_bytes(),
            allow_post: false,
        }
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Why the body was not read.
enum BodyError {
    TooLarge,
    Unreadable,
}

/// Reads the whole body, refusing more than `max` bytes as soon as it is
/// declared or seen.
fn read_body(request: IncomingRequest, max: u64) -> Result<Vec<u8>, BodyError> {
    let declared = request
        .headers()
        .get("content-length")
        .first()
        .and_then(|v| core::str::from_utf8(v).ok()?.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(BodyError::TooLarge);
    }
    let body = request.consume().map_err(|()| BodyError::Unreadable)?;
    let mut bytes = Vec::new();
    {
        let stream = body.stream().map_err(|()| BodyError::Unreadable)?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => {
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() as u64 > max {
                        return Err(BodyError::TooLarge);
                    }
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(_)) => return Err(BodyError::Unreadable),
            }
        }
    }
    drop(body);
    Ok(bytes)
}

fn answer(request: IncomingRequest) -> Answer {
    if !matches!(request.method(), Method::Post) {
        let mut a = Answer::error(405, "POST a text");
        a.allow_post = true;
        return a;
    }
    let max = chain::max_body();
    let bytes = match read_body(request, max) {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            return Answer::error(413, &format!("the body is over {max} bytes"));
        }
        Err(BodyError::Unreadable) => return Answer::error(400, "the body could not be read"),
    };
    let Ok(input) = String::from_utf8(bytes) else {
        return Answer::error(400, "the body is not UTF-8 text");
    };
    match chain::run(&input) {
        Ok(output) => Answer {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: output.into_bytes(),
            allow_post: false,
        },
        Err(f) => Answer {
            status: 422,
            content_type: "application/json",
            body: format!(
                "{{\"stage\":{},\"case\":{},\"message\":{}}}\n",
                json_string(&f.stage),
                json_string(&f.case),
                json_string(&f.message)
            )
            .into_bytes(),
            allow_post: false,
        },
    }
}

fn respond(out: ResponseOutparam, a: Answer) {
    let mut headers: Vec<(String, Vec<u8>)> = vec![
        ("content-type".into(), a.content_type.as_bytes().to_vec()),
        (
            "content-length".into(),
            a.body.len().to_string().into_bytes(),
        ),
    ];
    if a.allow_post {
        headers.push(("allow".into(), b"POST".to_vec()));
    }
    let Ok(fields) = Fields::from_list(&headers) else {
        return;
    };
    let response = OutgoingResponse::new(fields);
    if response.set_status_code(a.status).is_err() {
        return;
    }
    let Ok(body) = response.body() else { return };
    ResponseOutparam::set(out, Ok(response));
    {
        let Ok(stream) = body.write() else { return };
        for chunk in a.body.chunks(WRITE_CHUNK) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                // The client went away; nothing more to do.
                return;
            }
        }
    }
    let _ = OutgoingBody::finish(body, None);
}

impl Guest for Http {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        respond(out, answer(request));
    }
}

export!(Http);
