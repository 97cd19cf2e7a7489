//! The Open Inference Protocol over HTTP/REST, with Triton's binary tensor
//! data extension (which `tritonclient` uses by default): a request body is
//! a JSON header of `Inference-Header-Content-Length` bytes followed by the
//! raw data of the inputs that say `"binary_data_size"`, and outputs asked
//! for with `"binary_data": true` (or all, with the request parameter
//! `"binary_data_output": true`) come back the same way.
//!
//! In JSON, FP32 data is a flat or nested array of numbers and BYTES data an
//! array of base64 strings (encoded image files are not text).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use crate::connections::{self, Connections};
use crate::error::{Kind, ServeError};
use crate::metrics::{log_request, RequestLog};
use crate::model::Model;
use crate::repository::Repository;
use crate::tensor::{Data, InferRequest, InferResponse, RequestInput, BYTES, FP32, VERSION};

/// The header that splits a body into its JSON and binary parts.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

#[derive(Debug, Clone)]
struct AppState {
    repo: Arc<Repository>,
    connections: Arc<Connections>,
    max_body: usize,
}

/// Every route of the protocol, and `/metrics`.
pub fn router(repo: Arc<Repository>, connections: Arc<Connections>, max_body: usize) -> Router {
    Router::new()
        .route("/v2/health/live", get(|| async { Json(json!({ "live": true })) }))
        .route("/v2/health/ready", get(server_ready))
        .route("/v2", get(server_metadata))
        .route("/v2/models/{name}", get(|s: State<AppState>, Path(name): Path<String>| model_metadata(s, name, String::new())))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(|s: State<AppState>, Path((n, v)): Path<(String, String)>| model_metadata(s, n, v)),
        )
        .route("/v2/models/{name}/ready", get(|s: State<AppState>, Path(name): Path<String>| model_ready(s, name, String::new())))
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(|s: State<AppState>, Path((n, v)): Path<(String, String)>| model_ready(s, n, v)),
        )
        .route("/v2/models/{name}/infer", post(|s: State<AppState>, Path(name): Path<String>, r: Request| infer(s, name, String::new(), r)))
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(|s: State<AppState>, Path((n, v)): Path<(String, String)>, r: Request| infer(s, n, v, r)),
        )
        .route("/metrics", get(metrics))
        .fallback(|| async { error(ServeError::not_found("no such endpoint (the Open Inference Protocol's are under /v2)")) })
        .with_state(AppState { repo, connections, max_body })
}

/// A JSON body with status 200.
struct Json(Value);

impl IntoResponse for Json {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "application/json")], self.0.to_string()).into_response()
    }
}

/// The protocol's error body, `{"error": "..."}`, with the kind's status.
fn error(e: ServeError) -> Response {
    (StatusCode::from(e.kind), [(header::CONTENT_TYPE, "application/json")], json!({ "error": e.message }).to_string()).into_response()
}

async fn server_metadata() -> Json {
    let (name, version, extensions) = Repository::server_metadata();
    Json(json!({ "name": name, "version": version, "extensions": extensions }))
}

async fn model_metadata(State(s): State<AppState>, name: String, version: String) -> Response {
    match s.repo.model(&name, &version) {
        Ok(m) => Json(json!({
            "name": m.name,
            "versions": [VERSION],
            "platform": m.platform(),
            "inputs": m.inputs(),
            "outputs": m.outputs(),
        }))
        .into_response(),
        Err(e) => error(e),
    }
}

/// Ready when every model can answer: 200, or 503 naming those that cannot.
async fn server_ready(State(s): State<AppState>) -> Response {
    let down: Vec<&str> = s.repo.models().filter(|m| !m.ready()).map(|m| m.name.as_str()).collect();
    if down.is_empty() {
        return Json(json!({ "ready": true })).into_response();
    }
    let body = json!({ "ready": false, "error": format!("model(s) {} cannot answer: their batching thread has stopped", down.join(", ")) });
    (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn model_ready(State(s): State<AppState>, name: String, version: String) -> Response {
    match s.repo.model(&name, &version) {
        Ok(m) if m.ready() => Json(json!({ "name": name, "ready": true })).into_response(),
        Ok(m) => error(ServeError::unavailable(format!("model '{}' cannot answer: its batching thread has stopped", m.name))),
        Err(e) => error(e),
    }
}

async fn metrics(State(s): State<AppState>) -> Response {
    let text = s.repo.render_metrics() + &s.connections.render_metrics();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn infer(State(s): State<AppState>, name: String, version: String, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let start = Instant::now();
    let model = match s.repo.model_for_infer(&name, &version) {
        Ok(m) => m,
        Err(e) => {
            log(&name, "", &Err(e.clone()), 0, start);
            return error(e);
        }
    };
    let (id, rows, result) = run(model, headers, &parts.extensions, body, s.max_body).await;
    model.metrics.request("http", result.as_ref().err().map(|e| e.kind));
    log(&name, &id, &result.as_ref().map(|_| ()).map_err(Clone::clone), rows, start);
    match result {
        Ok((response, binary)) => respond(response, &binary),
        Err(e) => error(e),
    }
}

fn log(model: &str, id: &str, result: &Result<(), ServeError>, rows: usize, start: Instant) {
    log_request(&RequestLog {
        protocol: "http",
        model,
        id,
        status: result.as_ref().err().map_or(200, |e| e.kind.http_status()),
        rows,
        elapsed: start.elapsed(),
        error: result.as_ref().err().map(|e| e.message.as_str()),
    });
}

/// Reads, parses and runs one request: its id, its rows, and the response
/// with which outputs go back as binary data.
async fn run(
    model: &Model,
    headers: &HeaderMap,
    extensions: &Extensions,
    body: Body,
    max_body: usize,
) -> (String, usize, Result<(InferResponse, Vec<bool>), ServeError>) {
    let arrival = model.arrival();
    let bytes = match read_body(headers, body, max_body).await {
        Ok(bytes) => bytes,
        Err(e) => return (String::new(), 0, Err(e)),
    };
    // The request is whole: from here the connection waits for its answer.
    let _answering = connections::answering(extensions);
    let parsed = parse(headers, &bytes);
    drop(bytes);
    let (request, binary) = match parsed {
        Ok(p) => p,
        Err(e) => return (String::new(), 0, Err(e)),
    };
    let id = request.id.clone();
    let (rows, result) = model.infer(request, arrival).await;
    let result = result.map(|response| {
        let binary = response.outputs.iter().map(|o| binary.wants(o.name)).collect();
        (response, binary)
    });
    (id, rows, result)
}

/// The body, refused (413) over `max_body` bytes before it is read where
/// Content-Length says so, and while it is read otherwise.
async fn read_body(headers: &HeaderMap, body: Body, max_body: usize) -> Result<axum::body::Bytes, ServeError> {
    let too_large =
        || ServeError::too_large(format!("the request body is over the server's limit of {max_body} bytes (--max-request-bytes)"));
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max_body) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, max_body).await.map_err(|_| too_large())
}

/// Which outputs a request wants as binary data.
#[derive(Debug, Default)]
struct BinaryOutputs {
    all: bool,
    named: Vec<(String, bool)>,
}

impl BinaryOutputs {
    fn wants(&self, output: &str) -> bool {
        self.named.iter().find(|(n, _)| n == output).map_or(self.all, |&(_, b)| b)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRequest<'a> {
    #[serde(default)]
    id: String,
    #[serde(default)]
    parameters: Map<String, Value>,
    #[serde(borrow)]
    inputs: Vec<JsonInput<'a>>,
    #[serde(default)]
    outputs: Vec<JsonOutput>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonInput<'a> {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Map<String, Value>,
    /// Kept as text until the shape is known (it may come after the data):
    /// then parsed straight into elements, no more than the shape holds.
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonOutput {
    name: String,
    #[serde(default)]
    parameters: Map<String, Value>,
}

/// A request body as the protocol's request, and which outputs go back binary.
fn parse(headers: &HeaderMap, body: &[u8]) -> Result<(InferRequest, BinaryOutputs), ServeError> {
    let (json_part, mut binary) = match headers.get(HEADER_LENGTH) {
        None => (body, &[][..]),
        Some(v) => {
            let n = v
                .to_str()
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .ok_or_else(|| ServeError::bad_request(format!("header Inference-Header-Content-Length: {v:?} is not a byte count")))?;
            if n > body.len() {
                return Err(ServeError::bad_request(format!(
                    "header Inference-Header-Content-Length: {n} is longer than the {}-byte body",
                    body.len()
                )));
            }
            body.split_at(n)
        }
    };
    let request: JsonRequest =
        serde_json::from_slice(json_part).map_err(|e| ServeError::bad_request(format!("malformed inference request JSON: {e}")))?;
    let flag = |params: &Map<String, Value>, key: &str| -> Result<Option<bool>, ServeError> {
        match params.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(ServeError::bad_request(format!("parameter {key}: expected true or false, got {other}"))),
        }
    };
    let mut wanted = BinaryOutputs { all: flag(&request.parameters, "binary_data_output")?.unwrap_or(false), named: vec![] };
    let mut outputs = vec![];
    for o in request.outputs {
        if o.parameters.contains_key("class_count") {
            return Err(ServeError::bad_request(format!(
                "output '{}': class_count (the classification extension) is not supported; ask for logits",
                o.name
            )));
        }
        if let Some(b) = flag(&o.parameters, "binary_data")? {
            wanted.named.push((o.name.clone(), b));
        }
        outputs.push(o.name);
    }
    let mut inputs = vec![];
    for i in request.inputs {
        let data = match (i.parameters.get("binary_data_size"), i.data) {
            (Some(_), Some(_)) => return Err(ServeError::bad_request(format!("input '{}': both binary_data_size and JSON data", i.name))),
            (Some(size), None) => {
                let size = size
                    .as_u64()
                    .ok_or_else(|| ServeError::bad_request(format!("input '{}': binary_data_size {size} is not a byte count", i.name)))?
                    as usize;
                if size > binary.len() {
                    return Err(ServeError::bad_request(format!(
                        "input '{}': binary_data_size {size} but only {} bytes of binary data remain",
                        i.name,
                        binary.len()
                    )));
                }
                let (mine, rest) = binary.split_at(size);
                binary = rest;
                Data::from_raw(&i.datatype, mine, &i.name)?
            }
            (None, Some(text)) => from_json(&i.datatype, text, &i.shape, &i.name)?,
            (None, None) => return Err(ServeError::bad_request(format!("input '{}' has neither data nor binary_data_size", i.name))),
        };
        inputs.push(RequestInput { name: i.name, datatype: i.datatype, shape: i.shape, data });
    }
    if !binary.is_empty() {
        return Err(ServeError::bad_request(format!("{} bytes of binary data belong to no input", binary.len())));
    }
    Ok((InferRequest { id: request.id, inputs, outputs }, wanted))
}

/// A JSON `data` value (flat or nested) as the tensor's elements, refused
/// at the first element beyond what `shape` holds: memory follows the
/// declared shape, not the length of the body.
fn from_json(datatype: &str, text: &RawValue, shape: &[i64], input: &str) -> Result<Data, ServeError> {
    let declared = shape
        .iter()
        .try_fold(1usize, |n, &d| usize::try_from(d).ok().and_then(|d| n.checked_mul(d)))
        .ok_or_else(|| ServeError::bad_request(format!("input '{input}': shape {shape:?} is not a tensor's (negative or too large)")))?;
    // Each JSON element takes two bytes at least ("0,"), so the body bounds
    // the capacity too.
    let capacity = declared.min(text.get().len() / 2 + 1);
    let bad = |e: serde_json::Error| ServeError::bad_request(format!("input '{input}': {e}"));
    let parse = |elements: &mut dyn FnMut(&mut serde_json::Deserializer<serde_json::de::StrRead<'_>>) -> Result<(), serde_json::Error>| {
        let mut de = serde_json::Deserializer::from_str(text.get());
        elements(&mut de).and_then(|()| de.end()).map_err(bad)
    };
    match datatype {
        FP32 => {
            let mut out = Vec::with_capacity(capacity);
            parse(&mut |de| Flatten::<f32> { out: &mut out, limit: declared, shape }.deserialize(de))?;
            Ok(Data::Fp32(out))
        }
        BYTES => {
            let mut out = Vec::with_capacity(capacity);
            parse(&mut |de| Flatten::<Vec<u8>> { out: &mut out, limit: declared, shape }.deserialize(de))?;
            Ok(Data::Bytes(out))
        }
        other => Err(crate::tensor::unsupported_datatype(input, other)),
    }
}

/// What one JSON element may be, by datatype.
trait Element: Sized {
    fn number(v: f64) -> Result<Self, &'static str>;
    fn string(s: &str) -> Result<Self, &'static str>;
}

/// An element as an error message shows it: short.
fn shown(text: String) -> String {
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

impl Element for f32 {
    fn number(v: f64) -> Result<f32, &'static str> {
        Ok(v as f32)
    }

    fn string(_: &str) -> Result<f32, &'static str> {
        Err("is not a number (FP32 data)")
    }
}

impl Element for Vec<u8> {
    fn number(_: f64) -> Result<Vec<u8>, &'static str> {
        Err("is not a base64 string (BYTES in JSON are base64)")
    }

    fn string(s: &str) -> Result<Vec<u8>, &'static str> {
        base64::engine::general_purpose::STANDARD.decode(s).map_err(|_| "is not a base64 string (BYTES in JSON are base64)")
    }
}

/// Flattens a (nested) JSON array into `out`, element by element.
struct Flatten<'o, T> {
    out: &'o mut Vec<T>,
    limit: usize,
    shape: &'o [i64],
}

impl<'de, T: Element> DeserializeSeed<'de> for Flatten<'_, T> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<T: Element> Flatten<'_, T> {
    fn push<E: serde::de::Error>(self, element: Result<T, &'static str>, value: impl FnOnce() -> String) -> Result<(), E> {
        let k = self.out.len();
        if k == self.limit {
            return Err(E::custom(format!("more than the {} elements of shape {:?}", self.limit, self.shape)));
        }
        self.out.push(element.map_err(|why| E::custom(format!("element {k} ({}) {why}", shown(value()))))?);
        Ok(())
    }
}

impl<'de, T: Element> Visitor<'de> for Flatten<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of elements")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Flatten { out: &mut *self.out, limit: self.limit, shape: self.shape })?.is_some() {}
        Ok(())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        self.push(T::number(v), || v.to_string())
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.push(T::number(v as f64), || v.to_string())
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.push(T::number(v as f64), || v.to_string())
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.push(T::string(v), || format!("{v:?}"))
    }
}

/// The response body: JSON alone, or a JSON header followed by the binary
/// outputs, in order.
fn respond(response: InferResponse, binary: &[bool]) -> Response {
    let mut raw = vec![];
    let outputs: Vec<Value> = response
        .outputs
        .iter()
        .zip(binary)
        .map(|(o, &bin)| {
            let mut t = json!({ "name": o.name, "datatype": FP32, "shape": o.shape });
            if bin {
                let bytes = o.raw();
                t["parameters"] = json!({ "binary_data_size": bytes.len() });
                raw.extend(bytes);
            } else {
                t["data"] = json!(o.data);
            }
            t
        })
        .collect();
    let mut head = json!({ "model_name": response.model, "model_version": VERSION, "outputs": outputs });
    if !response.id.is_empty() {
        head["id"] = json!(response.id);
    }
    if !binary.iter().any(|&b| b) {
        return Json(head).into_response();
    }
    let head = head.to_string();
    let length = HeaderValue::from(head.len());
    let mut body = head.into_bytes();
    body.extend(raw);
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")),
            (header::HeaderName::from_static(HEADER_LENGTH), length),
        ],
        body,
    )
        .into_response()
}

impl From<Kind> for StatusCode {
    fn from(kind: Kind) -> StatusCode {
        StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}
