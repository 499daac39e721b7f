//! The REST API (Open Inference Protocol over HTTP, Triton's repository
//! extension, `/v1/predict`) against the real server, with a real HTTP client.

mod common;

use std::path::PathBuf;

use aiserve::RunningServer;
use aiserve_client::Encoding;
use aiserve_core::{ModelControl, Tensor, TensorData};
use aiserve_server::ServerOptions;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn repository() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    common::copy_dir(&common::workspace().join("testdata/models"), &models);
    std::fs::remove_file(models.join("README.md")).ok();
    (dir, models)
}

fn url(server: &RunningServer, path: &str) -> String {
    format!(
        "http://{}{path}",
        server.http_addr.expect("the REST API is served")
    )
}

async fn get(server: &RunningServer, path: &str) -> (StatusCode, Value) {
    let r = reqwest::get(url(server, path)).await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn post(server: &RunningServer, path: &str, body: Value) -> (StatusCode, Value) {
    let r = reqwest::Client::new()
        .post(url(server, path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn post_raw(server: &RunningServer, path: &str, body: &'static str) -> (StatusCode, Value) {
    let r = reqwest::Client::new()
        .post(url(server, path))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Asserts an error answer: the status, and a message containing each of `words`.
fn assert_error((status, body): (StatusCode, Value), want: u16, words: &[&str]) {
    assert_eq!(status.as_u16(), want, "{body}");
    let message = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no \"error\" in {body}"));
    for w in words {
        assert!(message.contains(w), "{message:?} should name {w:?}");
    }
}

fn sentiment_request(texts: &[&str]) -> Value {
    json!({
        "id": "req-1",
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [texts.len(), 1], "data": texts}],
        "outputs": [{"name": "score"}],
    })
}

#[tokio::test]
async fn health_and_server_metadata() {
    let server = common::start(None, ModelControl::Explicit).await;
    assert_eq!(
        get(&server, "/v2/health/live").await,
        (StatusCode::OK, json!({"live": true}))
    );
    assert_eq!(
        get(&server, "/v2/health/ready").await,
        (StatusCode::OK, json!({"ready": true}))
    );
    let (status, meta) = get(&server, "/v2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(meta["name"], "aiserve");
    assert_eq!(meta["version"], env!("CARGO_PKG_VERSION"));
    assert!(meta["extensions"]
        .as_array()
        .unwrap()
        .contains(&json!("model_repository")));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn model_metadata_ready_config_and_stats() {
    let server = common::start(None, ModelControl::Explicit).await;
    for path in ["/v2/models/sentiment", "/v2/models/sentiment/versions/1"] {
        let (status, meta) = get(&server, path).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(meta["name"], "sentiment");
        assert_eq!(meta["versions"], json!(["1"]));
        assert_eq!(meta["platform"], "aiserve_sentiment");
        assert_eq!(
            meta["inputs"],
            json!([{"name": "text", "datatype": "BYTES", "shape": [-1, 1]}])
        );
        assert_eq!(
            meta["outputs"],
            json!([{"name": "score", "datatype": "FP32", "shape": [-1, 1]}])
        );
    }
    for path in [
        "/v2/models/sentiment/ready",
        "/v2/models/sentiment/versions/1/ready",
    ] {
        assert_eq!(
            get(&server, path).await,
            (StatusCode::OK, json!({"name": "sentiment", "ready": true}))
        );
    }
    // A version that is not served is "not ready": a 4xx, as the protocol says.
    let (status, body) = get(&server, "/v2/models/sentiment/versions/9/ready").await;
    assert_eq!(
        (status, body["ready"].clone()),
        (StatusCode::BAD_REQUEST, json!(false))
    );

    let (status, config) = get(&server, "/v2/models/sentiment/config").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config["name"], "sentiment");
    assert_eq!(config["max_batch_size"], 64);
    assert_eq!(config["input"][0]["data_type"], "TYPE_STRING");
    assert_eq!(config["input"][0]["dims"], json!([1]));

    let (status, _) = post(&server, "/v1/predict", json!({"data": "a good day"})).await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/v2/models/sentiment/stats",
        "/v2/models/stats",
        "/v2/models/sentiment/versions/1/stats",
    ] {
        let (status, stats) = get(&server, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let s = &stats["model_stats"][0];
        assert_eq!((&s["name"], &s["version"]), (&json!("sentiment"), &json!("1")));
        assert_eq!(s["inference_count"], 1, "{stats}");
        assert_eq!(s["inference_stats"]["success"]["count"], 1, "{stats}");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn infer_sentiment_bytes_in_fp32_out_matches_grpc() {
    let server = common::start(None, ModelControl::Explicit).await;
    let texts = [
        "what a wonderful day",
        "this is a horrible, awful mess",
        "the sky",
    ];
    for path in [
        "/v2/models/sentiment/infer",
        "/v2/models/sentiment/versions/1/infer",
    ] {
        let (status, answer) = post(&server, path, sentiment_request(&texts)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["model_name"], "sentiment");
        assert_eq!(answer["model_version"], "1");
        assert_eq!(answer["id"], "req-1");
        let out = &answer["outputs"][0];
        assert_eq!(
            (&out["name"], &out["datatype"]),
            (&json!("score"), &json!("FP32"))
        );
        assert_eq!(out["shape"], json!([3, 1]));
        let scores: Vec<f32> = out["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();

        let mut c = common::client(&server).await;
        let input = Tensor::new(
            "text",
            vec![3, 1],
            TensorData::Bytes(texts.iter().map(|t| t.as_bytes().to_vec()).collect()),
        );
        let grpc = c
            .infer("sentiment", "", vec![input], &["score"], Encoding::Raw)
            .await
            .unwrap();
        assert_eq!(grpc.outputs[0].data, TensorData::F32(scores));
    }
    // Without an id and with no outputs named: every output, no id.
    let (status, answer) = post(
        &server,
        "/v2/models/sentiment/infer",
        json!({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1, 1], "data": [["nice"]]}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(answer.get("id").is_none(), "{answer}");
    assert_eq!(answer["outputs"][0]["name"], "score");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn infer_onnx_simple_model() {
    let (_dir, models) = repository();
    let server = common::start(Some(models), ModelControl::Explicit).await;
    let a: Vec<i32> = (0..32).collect();
    let b = vec![3; 32];
    let request = json!({
        "inputs": [
            {"name": "INPUT0", "datatype": "INT32", "shape": [2, 16], "data": a},
            {"name": "INPUT1", "datatype": "INT32", "shape": [2, 16], "data": b},
        ],
        "outputs": [{"name": "OUTPUT1"}, {"name": "OUTPUT0"}],
    });
    let (status, answer) = post(&server, "/v2/models/simple/versions/1/infer", request).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["model_name"], "simple");
    let diff: Vec<i32> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
    let sum: Vec<i32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
    assert_eq!(
        answer["outputs"],
        json!([
            {"name": "OUTPUT1", "datatype": "INT32", "shape": [2, 16], "data": diff},
            {"name": "OUTPUT0", "datatype": "INT32", "shape": [2, 16], "data": sum},
        ])
    );
    let (status, meta) = get(&server, "/v2/models/simple").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(meta["platform"], "onnxruntime_onnx");
    assert_eq!(meta["inputs"][0]["shape"], json!([-1, 16]));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn v1_predict_matches_grpc_predict_exactly() {
    let server = common::start(None, ModelControl::Explicit).await;
    let mut c = common::client(&server).await;
    for text in [
        "what a wonderful day",
        "this is a horrible, awful, miserable mess",
        "example data",
    ] {
        let grpc = c.predict(text, None).await.unwrap();
        let (status, answer) = post(&server, "/v1/predict", json!({"data": text})).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["result"].as_f64().unwrap() as f32, grpc.result, "{text}");
        assert_eq!(answer["model"], "sentiment");
        assert_eq!(answer["model_version"], "1");
        assert_eq!(answer["label"], grpc.label.as_str());
        let (_, named) = post(
            &server,
            "/v1/predict",
            json!({"data": text, "model": "sentiment", "model_version": "1"}),
        )
        .await;
        assert_eq!(named, answer);
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn errors_have_their_codes_and_name_what_is_wrong() {
    let (_dir, models) = repository();
    let server = common::start(Some(models), ModelControl::Explicit).await;
    let text = |dt: &str| {
        json!({"inputs": [{"name": "INPUT0", "datatype": dt, "shape": [1, 16], "data": vec![1; 16]},
                          {"name": "INPUT1", "datatype": "INT32", "shape": [1, 16], "data": vec![1; 16]}]})
    };
    assert_error(
        post(&server, "/v2/models/nosuch/infer", text("INT32")).await,
        404,
        &["nosuch"],
    );
    assert_error(
        post(&server, "/v2/models/simple/versions/7/infer", text("INT32")).await,
        404,
        &["simple", "'7'"],
    );
    assert_error(get(&server, "/v2/models/nosuch").await, 404, &["nosuch"]);
    assert_error(get(&server, "/v2/models/nosuch/ready").await, 404, &["nosuch"]);
    assert_error(get(&server, "/v2/models/nosuch/config").await, 404, &["nosuch"]);
    assert_error(get(&server, "/v2/models/nosuch/stats").await, 404, &["nosuch"]);
    assert_error(
        post(&server, "/v2/models/simple/infer", text("FP32")).await,
        400,
        &["INPUT0", "FP32", "INT32"],
    );
    let missing =
        json!({"inputs": [{"name": "INPUT0", "datatype": "INT32", "shape": [1, 16], "data": vec![1; 16]}]});
    assert_error(
        post(&server, "/v2/models/simple/infer", missing).await,
        400,
        &["missing input 'INPUT1'"],
    );
    let short =
        json!({"inputs": [{"name": "INPUT0", "datatype": "INT32", "shape": [1, 16], "data": [1, 2]}]});
    assert_error(
        post(&server, "/v2/models/simple/infer", short).await,
        400,
        &["INPUT0", "needs 16"],
    );
    assert_error(
        post(&server, "/v2/models/simple/infer", json!({"outputs": []})).await,
        400,
        &["\"inputs\""],
    );
    let mut unknown_output = text("INT32");
    unknown_output["outputs"] = json!([{"name": "NOPE"}]);
    assert_error(
        post(&server, "/v2/models/simple/infer", unknown_output).await,
        400,
        &["NOPE"],
    );
    assert_error(
        post_raw(&server, "/v2/models/simple/infer", "{\"inputs\": [").await,
        400,
        &["not valid JSON"],
    );
    assert_error(
        post_raw(&server, "/v2/models/simple/infer", "").await,
        400,
        &["body is empty"],
    );
    assert_error(
        post_raw(&server, "/v1/predict", "[1, 2]").await,
        400,
        &["JSON object"],
    );
    assert_error(
        post(&server, "/v1/predict", json!({"model": "simple"})).await,
        400,
        &["data"],
    );
    assert_error(
        post(&server, "/v1/predict", json!({"data": "x", "model": "simple"})).await,
        400,
        &["simple", "predict needs"],
    );
    assert_error(
        post(&server, "/v1/predict", json!({"data": "x", "model": "nosuch"})).await,
        404,
        &["nosuch"],
    );
    let binary = reqwest::Client::new()
        .post(url(&server, "/v2/models/simple/infer"))
        .header("Inference-Header-Content-Length", "10")
        .body("{}")
        .send()
        .await
        .unwrap();
    let status = binary.status();
    assert_error(
        (status, binary.json().await.unwrap()),
        400,
        &["binary tensor data"],
    );
    assert_error(get(&server, "/v3/nothing").await, 404, &["/v3/nothing"]);
    assert_error(
        get(&server, "/v2/models/simple/infer").await,
        405,
        &["/v2/models/simple/infer", "GET"],
    );
    // Unloaded: 503 naming the model and why.
    assert_eq!(
        post(&server, "/v2/repository/models/simple/unload", json!({}))
            .await
            .0,
        StatusCode::OK
    );
    assert_error(
        post(&server, "/v2/models/simple/infer", text("INT32")).await,
        503,
        &["simple", "unloaded"],
    );
    assert_error(
        post(&server, "/v2/repository/models/nosuch/load", json!({})).await,
        404,
        &["nosuch"],
    );
    assert_error(
        post(
            &server,
            "/v2/repository/models/simple/load",
            json!({"parameters": {"config": "{}"}}),
        )
        .await,
        400,
        &["config", "not supported"],
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let server = common::start_with(
        None,
        ModelControl::Explicit,
        ServerOptions {
            max_message_bytes: 1024,
            ..ServerOptions::default()
        },
    )
    .await;
    let big = "word ".repeat(400);
    assert_error(
        post(&server, "/v1/predict", json!({"data": big})).await,
        413,
        &["1024 bytes", "--max-message-bytes"],
    );
    let (status, _) = post(&server, "/v1/predict", json!({"data": "small"})).await;
    assert_eq!(status, StatusCode::OK);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn load_and_unload_need_explicit_model_control() {
    let server = common::start(None, ModelControl::None).await;
    assert_error(
        post(&server, "/v2/repository/models/sentiment/unload", json!({})).await,
        409,
        &["--model-control explicit"],
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn repository_index_load_and_unload() {
    let (_dir, models) = repository();
    let server = common::start(Some(models), ModelControl::Explicit).await;
    let (status, index) = post(&server, "/v2/repository/index", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let simple = json!({"name": "simple", "version": "1", "state": "READY", "reason": ""});
    assert!(index.as_array().unwrap().contains(&simple), "{index}");

    let r = reqwest::Client::new()
        .post(url(&server, "/v2/repository/models/simple/unload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "no body is fine");
    let (status, body) = get(&server, "/v2/models/simple/ready").await;
    assert_eq!(
        (status, body["ready"].clone()),
        (StatusCode::BAD_REQUEST, json!(false))
    );
    let (_, index) = post(&server, "/v2/repository/index", json!({})).await;
    let unloaded = json!({"name": "simple", "version": "", "state": "UNAVAILABLE", "reason": "unloaded"});
    assert!(index.as_array().unwrap().contains(&unloaded), "{index}");
    let (_, ready_only) = post(&server, "/v2/repository/index", json!({"ready": true})).await;
    assert!(
        ready_only
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["name"] != "simple"),
        "{ready_only}"
    );

    let (status, _) = post(&server, "/v2/repository/models/simple/load", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        get(&server, "/v2/models/simple/ready").await,
        (StatusCode::OK, json!({"name": "simple", "ready": true}))
    );
    // gRPC sees what HTTP did: one registry.
    let mut c = common::client(&server).await;
    assert!(c.model_metadata("simple", "").await.is_ok());
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_closes_the_http_port() {
    let server = common::start(None, ModelControl::Explicit).await;
    let live = url(&server, "/v2/health/live");
    assert_eq!(reqwest::get(&live).await.unwrap().status(), StatusCode::OK);
    server.shutdown().await.unwrap();
    let after = reqwest::Client::new().get(&live).send().await;
    assert!(after.is_err(), "the HTTP server still answers after shutdown");
}
