//! ONNX models from a Triton-layout repository (testdata/models), through
//! the real server and client.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aiserve_client::Encoding;
use aiserve_core::{ModelControl, Tensor, TensorData};
use tonic::Code;

fn repository() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    common::copy_dir(&common::workspace().join("testdata/models"), &models);
    std::fs::remove_file(models.join("README.md")).ok();
    (dir, models)
}

fn simple_inputs(batch: usize) -> (Vec<i32>, Vec<i32>, Vec<Tensor>) {
    let a: Vec<i32> = (0..16 * batch as i32).collect();
    let b: Vec<i32> = vec![3; 16 * batch];
    let shape = vec![batch as i64, 16];
    let inputs = vec![
        Tensor::new("INPUT0", shape.clone(), TensorData::I32(a.clone())),
        Tensor::new("INPUT1", shape, TensorData::I32(b.clone())),
    ];
    (a, b, inputs)
}

fn mlp_x() -> Tensor {
    Tensor::new(
        "x",
        vec![2, 4],
        TensorData::F32(vec![1.0, 2.0, 3.0, 4.0, -1.0, 0.5, 0.0, 2.0]),
    )
}

#[tokio::test]
async fn simple_model_typed_and_raw() {
    let (_dir, models) = repository();
    let server = common::start(Some(models), ModelControl::Explicit).await;
    let mut c = common::client(&server).await;
    let meta = c.model_metadata("simple", "").await.unwrap();
    assert_eq!(meta.platform, "onnxruntime_onnx");
    assert_eq!(meta.inputs[0].shape, vec![-1, 16]);
    for encoding in [Encoding::Raw, Encoding::Typed] {
        let (a, b, inputs) = simple_inputs(3);
        let out = c
            .infer("simple", "", inputs, &["OUTPUT1", "OUTPUT0"], encoding)
            .await
            .unwrap();
        assert_eq!(out.outputs[0].name, "OUTPUT1");
        assert_eq!(out.outputs[0].shape, vec![3, 16]);
        let diff: Vec<i32> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
        let sum: Vec<i32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        assert_eq!(out.outputs[0].data, TensorData::I32(diff));
        assert_eq!(out.outputs[1].data, TensorData::I32(sum));
    }
    let (_, _, mut inputs) = simple_inputs(1);
    inputs[1] = Tensor::new("INPUT1", vec![1, 15], TensorData::I32(vec![0; 15]));
    let err = c
        .infer("simple", "", inputs, &[], Encoding::Raw)
        .await
        .unwrap_err();
    let status = err.status().unwrap();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("'INPUT1'") && status.message().contains("[-1, 16]"),
        "{status:?}"
    );
    let (_, _, inputs) = simple_inputs(9);
    let err = c
        .infer("simple", "", inputs, &[], Encoding::Raw)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("batch size 9"), "{err}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn config_is_completed_from_the_onnx_file_and_versions_follow_the_policy() {
    let (_dir, models) = repository();
    let server = common::start(Some(models.clone()), ModelControl::Explicit).await;
    let mut c = common::client(&server).await;
    let meta = c.model_metadata("mlp", "").await.unwrap();
    assert_eq!(
        meta.versions,
        vec!["2"],
        "the default policy serves the newest version"
    );
    assert_eq!(
        (meta.inputs[0].name.as_str(), meta.inputs[0].shape.clone()),
        ("x", vec![-1, 4])
    );
    assert_eq!(
        (meta.outputs[0].name.as_str(), meta.outputs[0].datatype.as_str()),
        ("y", "FP32")
    );
    let config = c.model_config("mlp", "").await.unwrap();
    assert_eq!(config.backend, "onnxruntime");
    assert_eq!(config.input[0].dims, vec![-1, 4]);
    let v2 = [-4.921875f32, 2.984375, 5.015625, -0.6484375, 3.921875, 6.0703125];
    let out = c
        .infer("mlp", "", vec![mlp_x()], &[], Encoding::Raw)
        .await
        .unwrap();
    assert_eq!(out.version, "2");
    assert_eq!(out.outputs[0].data, TensorData::F32(v2.to_vec()));
    let err = c
        .infer("mlp", "1", vec![mlp_x()], &[], Encoding::Raw)
        .await
        .unwrap_err();
    assert_eq!(err.status().unwrap().code(), Code::NotFound);

    std::fs::write(models.join("mlp/config.pbtxt"), "version_policy: { all: { } }\n").unwrap();
    c.load_model("mlp").await.unwrap();
    let out = c
        .infer("mlp", "1", vec![mlp_x()], &[], Encoding::Typed)
        .await
        .unwrap();
    let v1 = [-3.5f32, 1.875, -2.84375, -2.375, 1.28125, -1.53125];
    assert_eq!(out.outputs[0].data, TensorData::F32(v1.to_vec()));
    assert_eq!(
        c.model_metadata("mlp", "").await.unwrap().versions,
        vec!["1", "2"]
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_datatype_round_trips() {
    let (_dir, models) = repository();
    let server = common::start(Some(models), ModelControl::Explicit).await;
    let mut c = common::client(&server).await;
    let half = |x: f32| -> u16 {
        // 1.5, -0.25, 3.0, -0.5 are exact in FP16.
        match x {
            1.5 => 0x3e00,
            -0.25 => 0xb400,
            3.0 => 0x4200,
            -0.5 => 0xb800,
            _ => unreachable!(),
        }
    };
    let inputs = vec![
        Tensor::new("a", vec![2], TensorData::F64(vec![1.5, -1e300])),
        Tensor::new("b", vec![2], TensorData::F64(vec![0.25, -1e300])),
        Tensor::new("i64", vec![2], TensorData::I64(vec![1, -2])),
        Tensor::new("u8", vec![2], TensorData::U8(vec![0, 254])),
        Tensor::new("flag", vec![2], TensorData::Bool(vec![true, false])),
        Tensor::new("h", vec![2], TensorData::F16(vec![half(1.5), half(-0.25)])),
        Tensor::new("i8", vec![2], TensorData::I8(vec![-5, 127])),
        Tensor::new("i16", vec![1], TensorData::I16(vec![-300])),
        Tensor::new("u16", vec![1], TensorData::U16(vec![65535])),
        Tensor::new("u32", vec![1], TensorData::U32(vec![u32::MAX])),
        Tensor::new("u64", vec![1], TensorData::U64(vec![u64::MAX])),
    ];
    let out = c.infer("types", "", inputs, &[], Encoding::Raw).await.unwrap();
    let get = |n: &str| out.outputs.iter().find(|t| t.name == n).unwrap().data.clone();
    assert_eq!(get("a_plus_b"), TensorData::F64(vec![1.75, -2e300]));
    assert_eq!(get("i64_times_2"), TensorData::I64(vec![2, -4]));
    assert_eq!(get("u8_plus_1"), TensorData::U8(vec![1, 255]));
    assert_eq!(get("not_flag"), TensorData::Bool(vec![false, true]));
    assert_eq!(get("flag_as_i32"), TensorData::I32(vec![1, 0]));
    assert_eq!(get("h_doubled"), TensorData::F16(vec![half(3.0), half(-0.5)]));
    assert_eq!(get("i8_neg"), TensorData::I8(vec![5, -127]));
    assert_eq!(get("i16_out"), TensorData::I16(vec![-300]));
    assert_eq!(get("u16_out"), TensorData::U16(vec![65535]));
    assert_eq!(get("u32_out"), TensorData::U32(vec![u32::MAX]));
    assert_eq!(get("u64_out"), TensorData::U64(vec![u64::MAX]));

    let text = Tensor::new(
        "TEXT",
        vec![2, 1],
        TensorData::Bytes(vec![b"hello".to_vec(), "héllo ✓".into()]),
    );
    for encoding in [Encoding::Raw, Encoding::Typed] {
        let out = c
            .infer("strings", "", vec![text.clone()], &[], encoding)
            .await
            .unwrap();
        assert_eq!(out.outputs[0].name, "ECHO");
        assert_eq!(out.outputs[0].data, text.data);
    }
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onnx_reload_with_a_new_version_under_load_fails_no_request() {
    let (_dir, models) = repository();
    let server = common::start(Some(models.clone()), ModelControl::Explicit).await;
    let mut admin = common::client(&server).await;
    let failures = Arc::new(AtomicUsize::new(0));
    let versions_seen = Arc::new(parking_lot::Mutex::new(std::collections::BTreeSet::new()));
    let mut workers = Vec::new();
    for _ in 0..6 {
        let mut c = common::client(&server).await;
        let (failures, seen) = (failures.clone(), versions_seen.clone());
        workers.push(tokio::spawn(async move {
            for _ in 0..250 {
                match c.infer("mlp", "", vec![mlp_x()], &[], Encoding::Raw).await {
                    Ok(out) => {
                        seen.lock().insert(out.version);
                    }
                    Err(e) => {
                        eprintln!("request failed: {e}");
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    common::copy_dir(&models.join("mlp/1"), &models.join("mlp/3"));
    admin.load_model("mlp").await.unwrap();
    for _ in 0..3 {
        admin.load_model("mlp").await.unwrap();
    }
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(failures.load(Ordering::Relaxed), 0);
    let out = admin
        .infer("mlp", "", vec![mlp_x()], &[], Encoding::Raw)
        .await
        .unwrap();
    assert_eq!(out.version, "3");
    assert!(versions_seen.lock().contains("3"));
    server.shutdown().await.unwrap();
}
