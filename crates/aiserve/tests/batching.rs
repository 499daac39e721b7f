//! Dynamic batching through the real server, on a transformer classifier with
//! one score (`testdata/hf/tiny-bert-scorer`, whose score is the first logit
//! transformers computed for `tiny-bert-classifier`, in its `expected.json`):
//! classification through `AIService.predict`, concurrent requests merged
//! into batches with each caller getting its own answer, a full queue
//! refusing at once, expired and cancelled requests not computed; and an
//! ONNX model batched the same way.
//!
//! Batches start only when full (the queue delay is a minute), so what is
//! merged is decided by the test, not by timing.

mod common;

use std::path::Path;
use std::time::Duration;

use aiserve::RunningServer;
use aiserve_core::ModelControl;
use aiserve_proto::seed::PredictRequest;
use common::{scrape, value};
use serde_json::{json, Value};
use tonic::Code;

const SENTENCES_AND_LOGITS: &str = "testdata/hf/tiny-bert-classifier/expected.json";

/// The sentences and the score transformers gives each (the first logit).
fn expected() -> Vec<(String, f32)> {
    let path = common::workspace().join(SENTENCES_AND_LOGITS);
    let e: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let sentences = e["sentences"].as_array().unwrap();
    let logits = e["logits"].as_array().unwrap();
    sentences
        .iter()
        .zip(logits)
        .map(|(s, l)| (s.as_str().unwrap().to_string(), l[0].as_f64().unwrap() as f32))
        .collect()
}

/// A repository with the scorer under `name`, configured with `batching`
/// (the `dynamic_batching { ... }` block and what else the test needs).
fn scorer_repo(root: &Path, name: &str, max_batch_size: usize, batching: &str) {
    let dir = root.join(name);
    common::copy_dir(
        &common::workspace().join("testdata/hf/tiny-bert-scorer/1"),
        &dir.join("1"),
    );
    std::fs::write(
        dir.join("config.pbtxt"),
        format!(
            r#"backend: "hf"
max_batch_size: {max_batch_size}
{batching}
parameters {{ key: "task" value: {{ string_value: "classification" }} }}
parameters {{ key: "predict_labels" value: {{ string_value: "negative,neutral,positive" }} }}
parameters {{ key: "predict_neutral_band" value: {{ string_value: "0.25" }} }}
"#
        ),
    )
    .unwrap();
}

/// Batches of `max_batch_size` start only when full.
const ONLY_FULL_BATCHES: &str = "dynamic_batching { max_queue_delay_microseconds: 60000000 }";

fn request(model: &str, text: &str, timeout: Option<Duration>) -> tonic::Request<PredictRequest> {
    let mut r = tonic::Request::new(PredictRequest {
        data: text.to_string(),
        model: model.to_string(),
        model_version: String::new(),
    });
    if let Some(t) = timeout {
        r.set_timeout(t);
    }
    r
}

/// Waits until `n` requests of `model` are in the runtime (queued).
async fn until_inflight(server: &RunningServer, model: &str, n: f64) {
    let reached = common::eventually(400, async || {
        let (_, s) = scrape(server).await;
        value(&s, "aiserve_inflight_requests", &[("model", model)]) == Some(n)
    })
    .await;
    assert!(reached, "never {n} requests in flight on {model}");
}

async fn counts(server: &RunningServer, model: &str) -> (u64, u64) {
    let mut c = common::client(server).await;
    let stats = c.model_statistics(model, "").await.unwrap();
    let s = &stats.model_stats[0];
    (s.execution_count, s.inference_count)
}

#[tokio::test]
async fn a_classifier_with_one_score_answers_predict() {
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(
        &common::workspace().join("testdata/hf/tiny-bert-scorer"),
        &dir.path().join("scorer"),
    );
    common::copy_dir(
        &common::workspace().join("testdata/hf/tiny-bert-classifier"),
        &dir.path().join("classifier"),
    );
    let server = common::start(Some(dir.path().to_path_buf()), ModelControl::Explicit).await;
    let mut c = common::client(&server).await;
    let label = |score: f32| match score {
        s if s > 0.25 => "positive",
        s if s < -0.25 => "negative",
        _ => "neutral",
    };
    let cases = expected();
    for (text, score) in &cases {
        let r = c.predict(text, Some("scorer")).await.unwrap();
        assert!(
            (r.result - score).abs() < 1e-4,
            "{text:?}: {} vs transformers {score}",
            r.result
        );
        assert_eq!(r.label, label(*score), "{text:?}");
        assert_eq!(r.model, "scorer");
    }
    let texts: Vec<String> = cases.iter().map(|(t, _)| t.clone()).collect();
    let batch = c.predict_batch(texts, Some("scorer")).await.unwrap();
    for ((text, score), got) in cases.iter().zip(&batch.results) {
        assert!((got - score).abs() < 1e-4, "{text:?}: {got} vs {score}");
    }
    // The REST twin.
    let r: Value = reqwest::Client::new()
        .post(format!("http://{}/v1/predict", server.http_addr.unwrap()))
        .json(&json!({"data": cases[0].0, "model": "scorer"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        (r["result"].as_f64().unwrap() as f32 - cases[0].1).abs() < 1e-4,
        "{r}"
    );

    // Three logits per text are not one score.
    let err = c.predict("fine", Some("classifier")).await.unwrap_err();
    let status = err.status().unwrap();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("3 values per text"),
        "{}",
        status.message()
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn concurrent_requests_are_merged_and_each_caller_gets_its_own_answer() {
    let model = "batching_merge";
    let dir = tempfile::tempdir().unwrap();
    scorer_repo(dir.path(), model, 8, ONLY_FULL_BATCHES);
    let server = common::start(Some(dir.path().to_path_buf()), ModelControl::Explicit).await;
    let c = common::client(&server).await;
    let cases = expected();
    let calls = (0..64).map(|i| {
        let mut seed = c.seed();
        let (text, score) = cases[i % cases.len()].clone();
        async move {
            let r = seed
                .predict(request(model, &text, None))
                .await
                .unwrap()
                .into_inner();
            assert!(
                (r.result - score).abs() < 1e-4,
                "{text:?}: {} vs {score}",
                r.result
            );
        }
    });
    futures::future::join_all(calls).await;
    assert_eq!(
        counts(&server, model).await,
        (8, 64),
        "64 requests in 8 full batches"
    );
    let (page, s) = scrape(&server).await;
    let m = [("model", model), ("version", "1")];
    assert_eq!(value(&s, "aiserve_batch_size_count", &m), Some(8.0), "{page}");
    assert_eq!(value(&s, "aiserve_batch_size_sum", &m), Some(64.0));
    assert_eq!(value(&s, "aiserve_queue_duration_seconds_count", &m), Some(64.0));
    assert_eq!(
        value(
            &s,
            "aiserve_requests_total",
            &[m[0], m[1], ("outcome", "success")]
        ),
        Some(64.0)
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_full_queue_refuses_at_once_and_expired_requests_are_not_computed() {
    let model = "batching_queue";
    let dir = tempfile::tempdir().unwrap();
    scorer_repo(
        dir.path(),
        model,
        8,
        "dynamic_batching { max_queue_delay_microseconds: 60000000 default_queue_policy { max_queue_size: 4 } }",
    );
    let server = common::start(Some(dir.path().to_path_buf()), ModelControl::Explicit).await;
    let c = common::client(&server).await;
    let waiting: Vec<_> = (0..4)
        .map(|i| {
            let mut seed = c.seed();
            tokio::spawn(async move {
                seed.predict(request(
                    model,
                    &format!("text {i}"),
                    Some(Duration::from_millis(1500)),
                ))
                .await
            })
        })
        .collect();
    until_inflight(&server, model, 4.0).await;

    let refused = c
        .seed()
        .predict(request(model, "one too many", None))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains(model) && refused.message().contains("queue is full"),
        "{}",
        refused.message()
    );

    for w in waiting {
        let status = w.await.unwrap().unwrap_err();
        // The server gives up a little before the deadline and says so; a
        // stalled machine may let tonic's client-side timer fire first.
        match status.code() {
            Code::DeadlineExceeded => assert!(status.message().contains("not computed"), "{status:?}"),
            Code::Cancelled => assert_eq!(status.message(), "Timeout expired", "{status:?}"),
            _ => panic!("{status:?}"),
        }
    }
    assert_eq!(counts(&server, model).await, (0, 0), "nothing was computed");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_queue_timeout_of_the_config_fails_a_waiting_request_without_computing_it() {
    let model = "batching_queue_timeout";
    let dir = tempfile::tempdir().unwrap();
    scorer_repo(
        dir.path(),
        model,
        8,
        "dynamic_batching { max_queue_delay_microseconds: 60000000 default_queue_policy { default_timeout_microseconds: 200000 } }",
    );
    let server = common::start(Some(dir.path().to_path_buf()), ModelControl::Explicit).await;
    let c = common::client(&server).await;
    let status = c
        .seed()
        .predict(request(model, "waits alone", None))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        status.message().contains(model) && status.message().contains("not computed"),
        "{status:?}"
    );
    assert_eq!(counts(&server, model).await, (0, 0));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn cancelled_requests_are_not_computed() {
    let model = "batching_cancel";
    let dir = tempfile::tempdir().unwrap();
    scorer_repo(dir.path(), model, 4, ONLY_FULL_BATCHES);
    let server = common::start(Some(dir.path().to_path_buf()), ModelControl::Explicit).await;
    let c = common::client(&server).await;
    let gone: Vec<_> = (0..3)
        .map(|i| {
            let mut seed = c.seed();
            tokio::spawn(async move { seed.predict(request(model, &format!("gone {i}"), None)).await })
        })
        .collect();
    until_inflight(&server, model, 3.0).await;
    for g in gone {
        g.abort();
    }
    // The server sees the streams reset and drops the requests.
    until_inflight(&server, model, 0.0).await;

    let cases = expected();
    let calls = cases[..4].iter().map(|(text, score)| {
        let mut seed = c.seed();
        async move {
            let r = seed
                .predict(request(model, text, None))
                .await
                .unwrap()
                .into_inner();
            assert!((r.result - score).abs() < 1e-4);
        }
    });
    futures::future::join_all(calls).await;
    assert_eq!(
        counts(&server, model).await,
        (1, 4),
        "one batch of the four live requests; the cancelled three were not computed"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn onnx_models_batch_dynamically_too() {
    let model = "batching_onnx";
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join(model);
    common::copy_dir(
        &common::workspace().join("testdata/models/mlp/2"),
        &folder.join("1"),
    );
    std::fs::write(
        folder.join("config.pbtxt"),
        format!(
            r#"max_batch_size: 4
input {{ name: "x" data_type: TYPE_FP32 dims: [4] }}
output {{ name: "y" data_type: TYPE_FP32 dims: [3] }}
{ONLY_FULL_BATCHES}
"#
        ),
    )
    .unwrap();
    let server = common::start(Some(dir.path().to_path_buf()), ModelControl::Explicit).await;
    let c = common::client(&server).await;
    // Rows of x and what the model gives each alone (tests/onnx_models.rs).
    let rows = [
        ([1.0f32, 2.0, 3.0, 4.0], [-4.921875f32, 2.984375, 5.015625]),
        ([-1.0, 0.5, 0.0, 2.0], [-0.6484375, 3.921875, 6.0703125]),
    ];
    let calls = (0..8).map(|i| {
        let mut c = c.clone();
        let (x, y) = rows[i % 2];
        async move {
            let input = aiserve_core::Tensor::new("x", vec![1, 4], aiserve_core::TensorData::F32(x.to_vec()));
            let out = c
                .infer(model, "", vec![input], &[], aiserve_client::Encoding::Raw)
                .await
                .unwrap();
            assert_eq!(out.outputs[0].shape, vec![1, 3]);
            assert_eq!(
                out.outputs[0].data,
                aiserve_core::TensorData::F32(y.to_vec()),
                "caller {i}"
            );
        }
    });
    futures::future::join_all(calls).await;
    assert_eq!(
        counts(&server, model).await,
        (2, 8),
        "8 requests in 2 full batches"
    );
    server.shutdown().await.unwrap();
}
