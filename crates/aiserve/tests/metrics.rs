//! The Prometheus endpoint: after a known number of requests on a model
//! only this test uses (the recorder is per process, shared by every server
//! the tests start), a scrape shows exactly those counts.

mod common;

use aiserve::RunningServer;
use aiserve_core::ModelControl;
use common::{scrape, value, Sample};
use serde_json::{json, Value};

async fn post(server: &RunningServer, path: &str, body: Value) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(format!("http://{}{path}", server.http_addr.unwrap()))
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_scrape_shows_exactly_the_requests_made() {
    let model = "metrics_sentiment_counts";
    let dir = tempfile::tempdir().unwrap();
    common::write_sentiment_model(dir.path(), model);
    let server = common::start(Some(dir.path().to_path_buf()), ModelControl::Explicit).await;
    let m = [("model", model), ("version", "1")];

    // Successes: two predicts over HTTP (batch 1 each), one over gRPC (batch
    // 1), one infer of three texts (batch 3).
    for text in ["a good day", "a bad day"] {
        let status = post(&server, "/v1/predict", json!({"data": text, "model": model})).await;
        assert_eq!(status, 200);
    }
    let mut c = common::client(&server).await;
    c.predict("fine", Some(model)).await.unwrap();
    let three =
        json!({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [3, 1], "data": ["a", "b", "c"]}]});
    assert_eq!(
        post(&server, &format!("/v2/models/{model}/infer"), three).await,
        200
    );
    // Failures: two requests the input checks refuse.
    let wrong = json!({"inputs": [{"name": "text", "datatype": "INT32", "shape": [1, 1], "data": [1]}]});
    for _ in 0..2 {
        assert_eq!(
            post(&server, &format!("/v2/models/{model}/infer"), wrong.clone()).await,
            400
        );
    }
    // Not counted: no model version was resolved.
    assert_eq!(
        post(&server, &format!("/v2/models/{model}/versions/9/infer"), wrong).await,
        404
    );

    let (page, s) = scrape(&server).await;
    let outcome = |o: &str| value(&s, "aiserve_requests_total", &[m[0], m[1], ("outcome", o)]);
    assert_eq!(outcome("success"), Some(4.0), "{page}");
    assert_eq!(outcome("failure"), Some(2.0), "{page}");
    assert_eq!(value(&s, "aiserve_request_duration_seconds_count", &m), Some(6.0));
    // Only the successful requests reached the engine: four executions.
    assert_eq!(value(&s, "aiserve_queue_duration_seconds_count", &m), Some(4.0));
    assert_eq!(value(&s, "aiserve_compute_duration_seconds_count", &m), Some(4.0));
    assert_eq!(value(&s, "aiserve_batch_size_count", &m), Some(4.0));
    assert_eq!(value(&s, "aiserve_batch_size_sum", &m), Some(6.0));
    let bucket = |le: &str| value(&s, "aiserve_batch_size_bucket", &[m[0], m[1], ("le", le)]);
    assert_eq!(bucket("1"), Some(3.0), "{page}");
    assert_eq!(bucket("2"), Some(3.0));
    assert_eq!(bucket("4"), Some(4.0));
    assert_eq!(bucket("+Inf"), Some(4.0));
    // Histograms, not summaries: the duration buckets run from 50 µs to 10 s.
    let dur = |le: &str| {
        value(
            &s,
            "aiserve_compute_duration_seconds_bucket",
            &[m[0], m[1], ("le", le)],
        )
    };
    assert!(dur("0.00005").is_some(), "{page}");
    assert_eq!(dur("+Inf"), Some(4.0));
    assert_eq!(value(&s, "aiserve_inflight_requests", &m), Some(0.0));

    let state = |s: &[Sample], st: &str| value(s, "aiserve_model_state", &[("model", model), ("state", st)]);
    assert_eq!(state(&s, "READY"), Some(1.0), "{page}");
    assert_eq!(state(&s, "LOADING"), Some(0.0));
    assert_eq!(state(&s, "UNAVAILABLE"), Some(0.0));
    let uptime = value(&s, "aiserve_uptime_seconds", &[]).expect("uptime is exported");
    assert!(uptime > 0.0);
    assert!(page.contains("# TYPE aiserve_requests_total counter"), "{page}");

    assert_eq!(
        post(
            &server,
            &format!("/v2/repository/models/{model}/unload"),
            json!({})
        )
        .await,
        200
    );
    let (page, s2) = scrape(&server).await;
    assert_eq!(state(&s2, "READY"), Some(0.0), "{page}");
    assert_eq!(state(&s2, "UNAVAILABLE"), Some(1.0));
    assert!(value(&s2, "aiserve_uptime_seconds", &[]).unwrap() >= uptime);
    assert_eq!(
        post(&server, &format!("/v2/repository/models/{model}/load"), json!({})).await,
        200
    );
    let (_, s3) = scrape(&server).await;
    assert_eq!(state(&s3, "READY"), Some(1.0));
    // The counts survive a reload: same model, same version, same series.
    let outcome3 = value(
        &s3,
        "aiserve_requests_total",
        &[m[0], m[1], ("outcome", "success")],
    );
    assert_eq!(outcome3, Some(4.0));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn unknown_paths_on_the_metrics_port_are_404() {
    let server = common::start(None, ModelControl::Explicit).await;
    let r = reqwest::get(format!("http://{}/nothing", server.metrics_addr.unwrap()))
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::NOT_FOUND);
    server.shutdown().await.unwrap();
}
