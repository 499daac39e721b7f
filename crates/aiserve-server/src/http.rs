//! The Open Inference Protocol's HTTP/REST API (KServe V2 with Triton's
//! repository, configuration and statistics extensions), and `/v1/predict`
//! and `/v1/embed`, the JSON twins of `AIService.predict` and
//! `AIService.embed`, over the same registry as the gRPC services.
//!
//! Runtime errors become HTTP codes in [`crate::error::to_http_status`]; every
//! error body is `{"error": "<message>"}`, including malformed JSON, a body
//! over the limit (413) and unknown routes.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};

use aiserve_core::json::{tensor_from_json, tensor_to_json};
use aiserve_core::{Error, InferRequest, ModelRegistry};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::error::to_http_status;
use crate::inference::{model_metadata, model_statistics, EXTENSIONS, SERVER_NAME};
use crate::ServerOptions;

/// The header of the binary tensor data extension, which this server does not
/// implement.
const BINARY_HEADER: &str = "inference-header-content-length";

/// An error answer: a status code and `{"error": message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status code.
    pub status: StatusCode,
    /// What was wrong, for the client.
    pub message: String,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        ApiError {
            status: to_http_status(&e),
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

#[derive(Clone)]
struct AppState {
    registry: Arc<ModelRegistry>,
    max_body_bytes: usize,
}

/// A request body read as JSON, with rejections in this API's error form
/// (axum's own are plain text). An empty body reads as `null`.
struct JsonBody(Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<JsonBody, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    message: format!(
                        "the request body is over the limit of {} bytes (the server's --max-message-bytes)",
                        state.max_body_bytes
                    ),
                }
            } else {
                ApiError {
                    status: rejection.status(),
                    message: format!("cannot read the request body: {}", rejection.body_text()),
                }
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Value::Null));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
    }
}

/// The model and (optional) version of a `/v2/models/{model}[/versions/{version}]/...` path.
struct ModelPath {
    model: String,
    version: String,
}

impl ModelPath {
    fn from(mut params: BTreeMap<String, String>) -> ModelPath {
        ModelPath {
            model: params.remove("model").unwrap_or_default(),
            version: params.remove("version").unwrap_or_default(),
        }
    }
}

/// The REST API's routes over `registry`, with request bodies limited to the
/// server's message limit.
pub fn router(registry: Arc<ModelRegistry>, options: &ServerOptions) -> Router {
    let state = AppState {
        registry,
        max_body_bytes: options.max_message_bytes,
    };
    let mut router = Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/health/live", get(live))
        .route("/v2/health/ready", get(ready))
        .route("/v2/models/stats", get(all_stats))
        .route("/v2/repository/index", post(repository_index))
        .route("/v2/repository/models/{model}/load", post(load))
        .route("/v2/repository/models/{model}/unload", post(unload))
        .route("/v1/predict", post(predict))
        .route("/v1/embed", post(embed));
    for prefix in ["/v2/models/{model}", "/v2/models/{model}/versions/{version}"] {
        router = router
            .route(prefix, get(metadata))
            .route(&format!("{prefix}/ready"), get(model_ready))
            .route(&format!("{prefix}/infer"), post(infer))
            .route(&format!("{prefix}/config"), get(config))
            .route(&format!("{prefix}/stats"), get(stats));
    }
    router
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(options.max_message_bytes))
        .layer(axum::middleware::from_fn(trace))
        .with_state(state)
}

/// Serves the REST API on `listener` until `shutdown` completes; then stops
/// accepting, lets requests in flight finish and returns.
pub async fn serve_http(
    listener: TcpListener,
    registry: Arc<ModelRegistry>,
    options: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, router(registry, &options))
        .with_graceful_shutdown(shutdown)
        .await
}

/// One span per request.
async fn trace(req: Request, next: Next) -> Response {
    let span = tracing::info_span!("http", method = %req.method(), path = %req.uri().path());
    async move {
        let response = next.run(req).await;
        tracing::debug!(status = response.status().as_u16(), "response");
        response
    }
    .instrument(span)
    .await
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: format!(
            "no route {method} {}; see the Open Inference Protocol's REST API",
            uri.path()
        ),
    }
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!("{} does not take {method}", uri.path()),
    }
}

async fn live() -> Json<Value> {
    Json(json!({ "live": true }))
}

/// 200 when ready; the protocol says a 4xx status means false.
fn readiness(ready: bool, body: Value) -> Response {
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    (status, Json(body)).into_response()
}

async fn ready(State(s): State<AppState>) -> Response {
    let ready = s.registry.is_ready();
    readiness(ready, json!({ "ready": ready }))
}

async fn server_metadata() -> Json<Value> {
    Json(json!({
        "name": SERVER_NAME,
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": EXTENSIONS,
    }))
}

fn descriptor_pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(aiserve_proto::FILE_DESCRIPTOR_SET)
            .expect("the built-in descriptor set decodes")
    })
}

/// A protocol message in JSON as Triton writes it: proto field names, 64-bit
/// integers as numbers, enums by name, every field present.
fn proto_json<M: prost::Message>(message: &M, full_name: &str) -> Value {
    let descriptor = descriptor_pool()
        .get_message_by_name(full_name)
        .expect("the message is in the built-in descriptor set");
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .expect("a message decodes with its own descriptor");
    let options = SerializeOptions::new()
        .stringify_64_bit_integers(false)
        .use_proto_field_name(true)
        .skip_default_fields(false);
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .expect("a protobuf message serializes to JSON")
}

async fn metadata(
    State(s): State<AppState>,
    Path(params): Path<BTreeMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let p = ModelPath::from(params);
    let meta = model_metadata(&s.registry, &p.model, &p.version)?;
    Ok(Json(proto_json(&meta, "inference.ModelMetadataResponse")))
}

async fn model_ready(
    State(s): State<AppState>,
    Path(params): Path<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let p = ModelPath::from(params);
    // Unknown models are an error, not "not ready", as over gRPC.
    if let Err(e @ Error::ModelNotFound(_)) = s.registry.model(&p.model) {
        return Err(e.into());
    }
    let ready = s.registry.model_ready(&p.model, &p.version);
    Ok(readiness(ready, json!({ "name": p.model, "ready": ready })))
}

async fn config(
    State(s): State<AppState>,
    Path(params): Path<BTreeMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let p = ModelPath::from(params);
    let model = s.registry.model(&p.model)?;
    model.version(&p.version)?;
    Ok(Json(proto_json(&model.spec.config, "inference.ModelConfig")))
}

async fn stats(
    State(s): State<AppState>,
    Path(params): Path<BTreeMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let p = ModelPath::from(params);
    let stats = model_statistics(&s.registry, &p.model, &p.version)?;
    Ok(Json(proto_json(&stats, "inference.ModelStatisticsResponse")))
}

async fn all_stats(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let stats = model_statistics(&s.registry, "", "")?;
    Ok(Json(proto_json(&stats, "inference.ModelStatisticsResponse")))
}

fn object<'a>(body: &'a Value, what: &str) -> Result<&'a serde_json::Map<String, Value>, ApiError> {
    match body {
        Value::Object(map) => Ok(map),
        Value::Null => Err(ApiError::bad_request(format!(
            "the request body is empty; {what} takes a JSON object"
        ))),
        _ => Err(ApiError::bad_request(format!(
            "{what} takes a JSON object as its body"
        ))),
    }
}

async fn infer(
    State(s): State<AppState>,
    Path(params): Path<BTreeMap<String, String>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let p = ModelPath::from(params);
    if headers.contains_key(BINARY_HEADER) {
        return Err(ApiError::bad_request(
            "the binary tensor data extension (Inference-Header-Content-Length) is not supported; send tensors as JSON \"data\"",
        ));
    }
    let body = object(&body, "infer")?;
    let id = match body.get("id") {
        None => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(_) => return Err(ApiError::bad_request("\"id\" must be a string")),
    };
    let inputs = body
        .get("inputs")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("the request has no \"inputs\" array"))?
        .iter()
        .map(tensor_from_json)
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = match body.get("outputs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, o)| {
                o.get("name")
                    .and_then(Value::as_str)
                    .map(String::from)
                    .ok_or_else(|| ApiError::bad_request(format!("outputs[{i}] has no \"name\" string")))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ApiError::bad_request(
                "\"outputs\" must be an array of {\"name\"}",
            ))
        }
    };
    let response = s
        .registry
        .infer(InferRequest {
            model: p.model,
            version: p.version,
            inputs,
            outputs,
            deadline: None,
        })
        .await?;
    let mut answer = json!({
        "model_name": response.model,
        "model_version": response.version.to_string(),
        "outputs": response.outputs.iter().map(tensor_to_json).collect::<Vec<_>>(),
    });
    if let Some(id) = id {
        answer["id"] = Value::String(id);
    }
    Ok(Json(answer))
}

/// The body of `POST /v1/predict`, the seed's `PredictRequest` in JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PredictBody {
    data: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    model_version: String,
}

async fn predict(State(s): State<AppState>, JsonBody(body): JsonBody) -> Result<Json<Value>, ApiError> {
    object(&body, "/v1/predict")?;
    let req: PredictBody = serde_json::from_value(body).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid /v1/predict request ({{\"data\": text, \"model\"?, \"model_version\"?}}): {e}"
        ))
    })?;
    let p = s
        .registry
        .predict(&req.model, &req.model_version, vec![req.data], None)
        .await?;
    Ok(Json(json!({
        "result": p.scores[0],
        "model": p.model,
        "model_version": p.version.to_string(),
        "label": p.labels.into_iter().next().unwrap_or_default(),
    })))
}

/// The body of `POST /v1/embed`, `AIService.embed`'s request in JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbedBody {
    texts: Vec<String>,
    #[serde(default)]
    model: String,
    #[serde(default)]
    model_version: String,
}

async fn embed(State(s): State<AppState>, JsonBody(body): JsonBody) -> Result<Json<Value>, ApiError> {
    object(&body, "/v1/embed")?;
    let req: EmbedBody = serde_json::from_value(body).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid /v1/embed request ({{\"texts\": [text, ...], \"model\"?, \"model_version\"?}}): {e}"
        ))
    })?;
    if req.texts.is_empty() {
        return Err(ApiError::bad_request("/v1/embed: \"texts\" holds no text"));
    }
    let e = s
        .registry
        .embed(&req.model, &req.model_version, req.texts, None)
        .await?;
    let rows: Vec<&[f32]> = e.values.chunks(e.dimensions.max(1)).collect();
    Ok(Json(json!({
        "embeddings": rows,
        "model": e.model,
        "model_version": e.version.to_string(),
        "dimensions": e.dimensions,
    })))
}

async fn repository_index(
    State(s): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let ready = match &body {
        Value::Null => false,
        Value::Object(map) => match map.get("ready") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(ApiError::bad_request("\"ready\" must be true or false")),
        },
        _ => return Err(ApiError::bad_request("the index request takes a JSON object")),
    };
    let rows: Vec<Value> = s
        .registry
        .index(ready)
        .into_iter()
        .map(|e| json!({"name": e.name, "version": e.version, "state": e.state, "reason": e.reason}))
        .collect();
    Ok(Json(Value::Array(rows)))
}

async fn load(
    State(s): State<AppState>,
    Path(model): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<StatusCode, ApiError> {
    if let Some(params) = body.get("parameters").and_then(Value::as_object) {
        if !params.is_empty() {
            let keys: Vec<&String> = params.keys().collect();
            return Err(ApiError::bad_request(format!(
                "load parameters {keys:?} are not supported; the model is loaded from the repository's files"
            )));
        }
    }
    s.registry.load(&model).await?;
    Ok(StatusCode::OK)
}

async fn unload(
    State(s): State<AppState>,
    Path(model): Path<String>,
    JsonBody(_): JsonBody,
) -> Result<StatusCode, ApiError> {
    s.registry.unload(&model).await?;
    Ok(StatusCode::OK)
}
