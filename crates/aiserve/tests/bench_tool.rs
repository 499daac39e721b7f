//! `aiserve bench` (the `aiserve-bench` library) against the real server:
//! every call kind, request counts, errors counted by status, the JSON
//! report, and an open-loop run.

mod common;

use std::path::{Path, PathBuf};

use aiserve::RunningServer;
use aiserve_bench::{BenchArgs, CallKind, Report};
use aiserve_client::Encoding;
use aiserve_core::{ModelControl, Tensor, TensorData};

/// A repository with the test ONNX models (vec384 among them) and the
/// sentiment model.
fn repository() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    common::copy_dir(&common::workspace().join("testdata/models"), &models);
    std::fs::remove_file(models.join("README.md")).ok();
    common::write_sentiment_model(&models, "sentiment");
    (dir, models)
}

const VEC384_REQUEST: &str =
    r#"{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}"#;

fn write_request(dir: &Path) -> String {
    let path = dir.join("vec384.json");
    std::fs::write(&path, VEC384_REQUEST).unwrap();
    path.to_str().unwrap().to_string()
}

fn grpc(server: &RunningServer) -> String {
    server.addr.to_string()
}

fn http(server: &RunningServer) -> String {
    server.http_addr.expect("the test server serves HTTP").to_string()
}

async fn bench(args: &[&str]) -> Report {
    let args = BenchArgs::try_parse_from(args).unwrap();
    aiserve_bench::run(&args).await.unwrap()
}

fn assert_all_ok(r: &Report, n: u64) {
    assert_eq!((r.requests, r.ok, r.errors), (n, n, 0), "{r}");
    assert!(r.errors_by_status.is_empty(), "{r}");
    let l = &r.latency_us;
    assert_eq!(l.count, n);
    assert!(
        0.0 < l.min && l.min <= l.p50 && l.p50 <= l.p90 && l.p90 <= l.p99,
        "{r}"
    );
    assert!(l.p99 <= l.p999 && l.p999 <= l.max, "{r}");
    assert!(r.throughput_rps > 0.0 && r.duration_s > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vec384_answers_384_floats() {
    let (_dir, models) = repository();
    let server = common::start(Some(models), ModelControl::None).await;
    let mut c = common::client(&server).await;
    let x = Tensor::new("x", vec![1, 4], TensorData::F32(vec![1.0, 2.0, 3.0, 4.0]));
    let out = c.infer("vec384", "", vec![x], &[], Encoding::Raw).await.unwrap();
    assert_eq!(out.outputs[0].shape, vec![1, 384]);
    let TensorData::F32(y) = &out.outputs[0].data else {
        panic!("FP32 output expected");
    };
    assert_eq!(&y[..4], &[-3.125, 0.25, 1.5, 5.875]);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_kinds_complete_every_request_and_write_the_json_report() {
    let (dir, models) = repository();
    let server = common::start(Some(models), ModelControl::None).await;
    let addr = grpc(&server);
    let json = dir.path().join("report.json");
    let json_arg = json.to_str().unwrap();

    let r = bench(&[
        "grpc-predict",
        "--server",
        &addr,
        "--model",
        "sentiment",
        "-n",
        "300",
        "-c",
        "2",
        "-m",
        "4",
        "--warmup",
        "20",
        "--json",
        json_arg,
    ])
    .await;
    assert_all_ok(&r, 300);
    assert_eq!(
        (r.kind, r.workers, r.mode),
        (CallKind::GrpcPredict, 8, "closed-loop")
    );

    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["kind"], "grpc-predict");
    assert_eq!(v["requests"], 300);
    assert_eq!((v["ok"].as_u64(), v["errors"].as_u64()), (Some(300), Some(0)));
    assert_eq!(v["errors_by_status"], serde_json::json!({}));
    assert_eq!(
        (v["connections"].as_u64(), v["streams"].as_u64()),
        (Some(2), Some(4))
    );
    assert_eq!(v["warmup"], 20);
    assert!(v["throughput_rps"].as_f64().unwrap() > 0.0);
    for q in ["min", "mean", "p50", "p90", "p99", "p999", "max"] {
        assert!(v["latency_us"][q].as_f64().unwrap() > 0.0, "latency_us.{q}");
    }

    let request = write_request(dir.path());
    let r = bench(&[
        "grpc-infer",
        "--server",
        &addr,
        "--model",
        "vec384",
        "--input",
        &request,
        "-n",
        "200",
        "-c",
        "1",
        "-m",
        "4",
    ])
    .await;
    assert_all_ok(&r, 200);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_kinds_complete_every_request() {
    let (dir, models) = repository();
    let server = common::start(Some(models), ModelControl::None).await;
    let addr = http(&server);
    let r = bench(&[
        "http-predict",
        "--server",
        &addr,
        "--model",
        "sentiment",
        "-n",
        "200",
        "-c",
        "2",
        "-m",
        "2",
    ])
    .await;
    assert_all_ok(&r, 200);
    assert_eq!(r.workers, 4);
    let request = write_request(dir.path());
    let r = bench(&[
        "http-infer",
        "--server",
        &addr,
        "--model",
        "vec384",
        "--input",
        &request,
        "-n",
        "200",
        "-c",
        "2",
    ])
    .await;
    assert_all_ok(&r, 200);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_counted_by_status() {
    let (dir, models) = repository();
    let server = common::start(Some(models), ModelControl::None).await;
    let (g, h) = (grpc(&server), http(&server));
    let request = write_request(dir.path());
    let cases: [(&[&str], &str); 4] = [
        (
            &["grpc-predict", "--server", &g, "--model", "no-such-model"],
            "NOT_FOUND",
        ),
        (
            &[
                "grpc-infer",
                "--server",
                &g,
                "--model",
                "no-such-model",
                "--input",
                &request,
            ],
            "NOT_FOUND",
        ),
        (
            &["http-predict", "--server", &h, "--model", "no-such-model"],
            "404",
        ),
        (
            &[
                "http-infer",
                "--server",
                &h,
                "--model",
                "no-such-model",
                "--input",
                &request,
            ],
            "404",
        ),
    ];
    for (args, label) in cases {
        let args: Vec<&str> = args
            .iter()
            .copied()
            .chain(["-n", "50", "-c", "2", "-m", "2"])
            .collect();
        let r = bench(&args).await;
        assert_eq!((r.requests, r.ok, r.errors), (50, 0, 50), "{r}");
        assert_eq!(r.errors_by_status.len(), 1, "{r}");
        assert_eq!(r.errors_by_status.get(label), Some(&50), "{r}");
        assert_eq!(r.latency_us.count, 0);
    }
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_sends_the_scheduled_requests() {
    let (_dir, models) = repository();
    let server = common::start(Some(models), ModelControl::None).await;
    let addr = grpc(&server);
    // 200 requests at 2000/s: the last is scheduled 199/2000 s after the start.
    let r = bench(&[
        "grpc-predict",
        "--server",
        &addr,
        "--model",
        "sentiment",
        "--rate",
        "2000",
        "-n",
        "200",
        "-c",
        "2",
        "-m",
        "2",
    ])
    .await;
    assert_all_ok(&r, 200);
    assert_eq!((r.mode, r.rate), ("open-loop", Some(2000.0)));
    assert!(r.duration_s >= 0.0995, "{r}");
    server.shutdown().await.unwrap();
}

#[test]
fn arguments_that_cannot_make_a_run_are_refused() {
    let run = |args: &[&str]| {
        let args = BenchArgs::try_parse_from(args).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(aiserve_bench::run(&args)).unwrap_err().to_string()
    };
    assert!(run(&["grpc-infer", "--input", "x.json"]).contains("--model"));
    assert!(run(&["grpc-infer", "--model", "m"]).contains("--input"));
    assert!(run(&["grpc-predict", "-c", "0"]).contains("--connections"));
    assert!(run(&["grpc-predict", "--rate", "0"]).contains("--rate"));
    assert!(BenchArgs::try_parse_from(["grpc-predict", "-n", "5", "-D", "1"]).is_err());
    assert!(BenchArgs::try_parse_from(["grpc-predict", "--text", "a", "--input", "f"]).is_err());
}
