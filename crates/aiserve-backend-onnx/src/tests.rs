//! Tests on the committed models of `testdata/models` (made by
//! `scripts/make-test-models.py`).

use std::path::PathBuf;
use std::sync::Arc;

use aiserve_core::config::parse_pbtxt;
use aiserve_core::{
    Backend, BackendFactory, DataType, Error, InferRequest, LoadContext, ModelConfig, ModelControl,
    ModelRegistry, ModelRepository, ModelSpec, RegistryOptions, Tensor, TensorData,
};

use super::*;

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/models")
}

/// The model's config.pbtxt, or an empty config when it has none.
fn config_of(name: &str) -> ModelConfig {
    match std::fs::read_to_string(models().join(name).join("config.pbtxt")) {
        Ok(text) => parse_pbtxt(&text).unwrap(),
        Err(_) => ModelConfig::default(),
    }
}

/// Completes `config` as the registry does and checks it into a spec.
fn complete_spec(name: &str, mut config: ModelConfig, version: u64) -> Result<ModelSpec, Error> {
    let dir = models().join(name).join(version.to_string());
    OnnxBackendFactory.complete_config(&mut config, Some(&dir))?;
    ModelSpec::from_config(name, config)
}

fn load_with(name: &str, config: ModelConfig, version: u64) -> Result<Arc<dyn Backend>, Error> {
    let spec = complete_spec(name, config, version)?;
    let dir = models().join(name).join(version.to_string());
    OnnxBackendFactory.load(&LoadContext {
        model: name,
        version,
        version_dir: Some(&dir),
        config: &spec.config,
    })
}

fn load(name: &str, version: u64) -> Arc<dyn Backend> {
    load_with(name, config_of(name), version).unwrap()
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn t(name: &str, shape: Vec<i64>, data: TensorData) -> Tensor {
    Tensor::new(name, shape, data)
}

fn f32s(t: &Tensor) -> &[f32] {
    match &t.data {
        TensorData::F32(v) => v,
        other => panic!("expected FP32, got {other:?}"),
    }
}

fn assert_close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{got:?} vs {want:?}");
    }
}

/// Expected `y` for x = [[1, 2, 3, 4], [-1, 0.5, 0, 2]] (printed by make-test-models.py).
const MLP_V1: [f32; 6] = [-3.5, 1.875, -2.84375, -2.375, 1.28125, -1.53125];
const MLP_V2: [f32; 6] = [-4.921875, 2.984375, 5.015625, -0.6484375, 3.921875, 6.0703125];
const MLP_X: [f32; 8] = [1.0, 2.0, 3.0, 4.0, -1.0, 0.5, 0.0, 2.0];

#[test]
fn factory_identity() {
    let f = OnnxBackendFactory::new();
    assert_eq!(f.name(), "onnxruntime");
    assert_eq!(f.platforms(), &["onnxruntime_onnx"]);
    assert_eq!(f.default_platform(), "onnxruntime_onnx");
    assert_eq!(f.default_model_filename(), Some("model.onnx"));
}

#[test]
fn simple_config_is_accepted_unchanged() {
    let config = config_of("simple");
    let spec = complete_spec("simple", config.clone(), 1).unwrap();
    assert_eq!(spec.config.input, config.input);
    assert_eq!(spec.config.output, config.output);
    assert_eq!(spec.max_batch_size, 8);
}

#[test]
fn simple_adds_and_subtracts_at_every_batch_size() {
    let backend = load("simple", 1);
    for batch in [1usize, 2, 3, 8] {
        let a: Vec<i32> = (0..16 * batch as i32).collect();
        let b: Vec<i32> = (0..16 * batch as i32).map(|x| 2 * x + 1).collect();
        let shape = vec![batch as i64, 16];
        let out = backend
            .infer(
                vec![
                    t("INPUT0", shape.clone(), TensorData::I32(a.clone())),
                    t("INPUT1", shape.clone(), TensorData::I32(b.clone())),
                ],
                &names(&["OUTPUT1", "OUTPUT0"]),
            )
            .unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].name, "OUTPUT1");
        assert_eq!(out[0].shape, shape);
        assert_eq!(out[1].name, "OUTPUT0");
        assert_eq!(out[1].shape, shape);
        let diff: Vec<i32> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
        let sum: Vec<i32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        assert_eq!(out[0].data, TensorData::I32(diff));
        assert_eq!(out[1].data, TensorData::I32(sum));
    }
}

#[test]
fn simple_returns_only_the_requested_output() {
    let backend = load("simple", 1);
    let out = backend
        .infer(
            vec![
                t("INPUT0", vec![1, 16], TensorData::I32(vec![5; 16])),
                t("INPUT1", vec![1, 16], TensorData::I32(vec![3; 16])),
            ],
            &names(&["OUTPUT1"]),
        )
        .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].data, TensorData::I32(vec![2; 16]));
}

#[test]
fn inputs_may_come_in_any_order() {
    let backend = load("simple", 1);
    let out = backend
        .infer(
            vec![
                t("INPUT1", vec![1, 16], TensorData::I32(vec![3; 16])),
                t("INPUT0", vec![1, 16], TensorData::I32(vec![5; 16])),
            ],
            &names(&["OUTPUT1"]),
        )
        .unwrap();
    assert_eq!(out[0].data, TensorData::I32(vec![2; 16]));
}

#[test]
fn mlp_auto_completes_without_batching() {
    let spec = complete_spec("mlp", ModelConfig::default(), 2).unwrap();
    assert_eq!(spec.max_batch_size, 0);
    assert_eq!(spec.inputs.len(), 1);
    assert_eq!(spec.inputs[0].name, "x");
    assert_eq!(spec.inputs[0].datatype, DataType::F32);
    assert_eq!(spec.inputs[0].dims, vec![-1, 4]);
    assert_eq!(spec.outputs[0].name, "y");
    assert_eq!(spec.outputs[0].datatype, DataType::F32);
    assert_eq!(spec.outputs[0].dims, vec![-1, 3]);
}

#[test]
fn mlp_auto_completes_with_batching_dropping_the_batch_dim() {
    let config = ModelConfig {
        max_batch_size: 8,
        ..Default::default()
    };
    let spec = complete_spec("mlp", config.clone(), 1).unwrap();
    assert_eq!(spec.inputs[0].dims, vec![4]);
    assert_eq!(spec.outputs[0].dims, vec![3]);
    let backend = load_with("mlp", config, 1).unwrap();
    for batch in [1usize, 2, 5, 8] {
        let x: Vec<f32> = MLP_X.iter().cycle().take(4 * batch).copied().collect();
        let out = backend
            .infer(
                vec![t("x", vec![batch as i64, 4], TensorData::F32(x))],
                &names(&["y"]),
            )
            .unwrap();
        assert_eq!(out[0].shape, vec![batch as i64, 3]);
        let want: Vec<f32> = MLP_V1.iter().cycle().take(3 * batch).copied().collect();
        assert_close(f32s(&out[0]), &want);
    }
}

#[test]
fn mlp_versions_have_different_weights() {
    for (version, want) in [(1, MLP_V1), (2, MLP_V2)] {
        let backend = load("mlp", version);
        let out = backend
            .infer(
                vec![t("x", vec![2, 4], TensorData::F32(MLP_X.to_vec()))],
                &names(&["y"]),
            )
            .unwrap();
        assert_eq!(out[0].shape, vec![2, 3]);
        assert_close(f32s(&out[0]), &want);
    }
}

#[test]
fn declared_tensors_are_checked_against_the_graph() {
    let with = |text: &str| parse_pbtxt(text).unwrap();
    let err = complete_spec(
        "mlp",
        with(r#"input [ { name: "x" data_type: TYPE_INT32 dims: [ -1, 4 ] } ]"#),
        1,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Load { .. }), "{err:?}");
    assert!(
        msg.contains("'x'") && msg.contains("TYPE_INT32") && msg.contains("TYPE_FP32"),
        "{msg}"
    );

    let err = complete_spec(
        "mlp",
        with(r#"input [ { name: "x" data_type: TYPE_FP32 dims: [ -1, 4 ] } ] output [ { name: "z" data_type: TYPE_FP32 dims: [ -1, 3 ] } ]"#),
        1,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Load { .. }), "{err:?}");
    assert!(err.to_string().contains("'z'"), "{err}");

    let err = complete_spec(
        "mlp",
        with(r#"input [ { name: "x" data_type: TYPE_FP32 dims: [ -1, 5 ] } ]"#),
        1,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("'x'") && err.to_string().contains("[-1, 5]"),
        "{err}"
    );

    let err = complete_spec(
        "simple",
        with(r#"max_batch_size: 8 input [ { name: "INPUT0" data_type: TYPE_INT32 dims: [ 16 ] } ]"#),
        1,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("'INPUT1'") && err.to_string().contains("not declared"),
        "{err}"
    );

    // Batching changes which dims are compared: [16] without batching is rank 1 against rank 2.
    let err = complete_spec(
        "simple",
        with(r#"input [ { name: "INPUT0" data_type: TYPE_INT32 dims: [ 16 ] }, { name: "INPUT1" data_type: TYPE_INT32 dims: [ 16 ] } ]"#),
        1,
    )
    .unwrap_err();
    assert!(err.to_string().contains("'INPUT0'"), "{err}");
}

#[test]
fn declared_inputs_only_get_outputs_completed() {
    let config = parse_pbtxt(r#"input [ { name: "x" data_type: TYPE_FP32 dims: [ -1, 4 ] } ]"#).unwrap();
    let spec = complete_spec("mlp", config, 1).unwrap();
    assert_eq!(spec.outputs.len(), 1);
    assert_eq!(spec.outputs[0].name, "y");
}

#[test]
fn default_model_filename_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = dir.path().join("renamed").join("1");
    std::fs::create_dir_all(&v1).unwrap();
    std::fs::copy(models().join("mlp/1/model.onnx"), v1.join("net.onnx")).unwrap();
    let mut config = ModelConfig::default();
    let err = OnnxBackendFactory
        .complete_config(&mut config, Some(&v1))
        .unwrap_err();
    assert!(
        err.to_string().contains("renamed") && err.to_string().contains("model.onnx"),
        "{err}"
    );
    config.default_model_filename = "net.onnx".into();
    OnnxBackendFactory
        .complete_config(&mut config, Some(&v1))
        .unwrap();
    assert_eq!(config.input[0].name, "x");
    let backend = OnnxBackendFactory
        .load(&LoadContext {
            model: "renamed",
            version: 1,
            version_dir: Some(&v1),
            config: &config,
        })
        .unwrap();
    let out = backend
        .infer(
            vec![t("x", vec![2, 4], TensorData::F32(MLP_X.to_vec()))],
            &names(&["y"]),
        )
        .unwrap();
    assert_close(f32s(&out[0]), &MLP_V1);
}

#[test]
fn corrupt_or_missing_files_are_load_errors() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = dir.path().join("bad").join("1");
    std::fs::create_dir_all(&v1).unwrap();
    let mut config = ModelConfig::default();
    let err = OnnxBackendFactory
        .complete_config(&mut config, Some(&v1))
        .unwrap_err();
    assert!(matches!(err, Error::Load { .. }), "{err:?}");
    std::fs::write(v1.join("model.onnx"), b"\x08\x07garbage\xff\xff\xff").unwrap();
    let err = OnnxBackendFactory
        .complete_config(&mut config, Some(&v1))
        .unwrap_err();
    assert!(matches!(err, Error::Load { .. }), "{err:?}");
    let err = OnnxBackendFactory
        .load(&LoadContext {
            model: "bad",
            version: 1,
            version_dir: Some(&v1),
            config: &config,
        })
        .err()
        .unwrap();
    assert!(matches!(err, Error::Load { .. }), "{err:?}");
    let err = OnnxBackendFactory.complete_config(&mut config, None).unwrap_err();
    assert!(matches!(err, Error::Load { .. }), "{err:?}");
}

#[test]
fn strings_echo_bytes() {
    let backend = load("strings", 1);
    let texts = vec![
        b"hello".to_vec(),
        Vec::new(),
        "h\u{e9}llo w\u{f6}rld".as_bytes().to_vec(),
    ];
    let out = backend
        .infer(
            vec![t("TEXT", vec![3, 1], TensorData::Bytes(texts.clone()))],
            &names(&["ECHO"]),
        )
        .unwrap();
    assert_eq!(out[0].name, "ECHO");
    assert_eq!(out[0].shape, vec![3, 1]);
    assert_eq!(out[0].data, TensorData::Bytes(texts));
}

#[test]
fn non_utf8_bytes_are_an_invalid_argument_naming_the_tensor() {
    let backend = load("strings", 1);
    let err = backend
        .infer(
            vec![t(
                "TEXT",
                vec![2, 1],
                TensorData::Bytes(vec![b"ok".to_vec(), vec![0xff, 0xfe]]),
            )],
            &names(&["ECHO"]),
        )
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert!(
        err.to_string().contains("'TEXT'") && err.to_string().contains("element 1"),
        "{err}"
    );
}

#[test]
fn types_auto_complete_maps_every_datatype() {
    let spec = complete_spec("types", ModelConfig::default(), 1).unwrap();
    let dt = |n: &str| {
        spec.inputs
            .iter()
            .chain(&spec.outputs)
            .find(|t| t.name == n)
            .unwrap_or_else(|| panic!("{n} missing"))
            .datatype
    };
    assert_eq!(dt("a"), DataType::F64);
    assert_eq!(dt("i64"), DataType::I64);
    assert_eq!(dt("u8"), DataType::U8);
    assert_eq!(dt("flag"), DataType::Bool);
    assert_eq!(dt("h"), DataType::F16);
    assert_eq!(dt("i8"), DataType::I8);
    assert_eq!(dt("i16"), DataType::I16);
    assert_eq!(dt("u16"), DataType::U16);
    assert_eq!(dt("u32"), DataType::U32);
    assert_eq!(dt("u64"), DataType::U64);
    assert_eq!(dt("flag_as_i32"), DataType::I32);
    assert!(spec.inputs.iter().all(|t| t.dims == vec![-1]));
}

#[test]
fn types_compute_with_every_datatype() {
    let backend = load("types", 1);
    let half = |x: f32| half_bits(x);
    let inputs = vec![
        t("a", vec![2], TensorData::F64(vec![1.5, -1e300])),
        t("b", vec![2], TensorData::F64(vec![0.25, -1e300])),
        t("i64", vec![3], TensorData::I64(vec![1, -2, i64::MAX / 2])),
        t("u8", vec![2], TensorData::U8(vec![0, 254])),
        t("flag", vec![3], TensorData::Bool(vec![true, false, true])),
        t("h", vec![2], TensorData::F16(vec![half(1.5), half(-0.25)])),
        t("i8", vec![2], TensorData::I8(vec![-5, 127])),
        t("i16", vec![1], TensorData::I16(vec![-300])),
        t("u16", vec![1], TensorData::U16(vec![65535])),
        t("u32", vec![2], TensorData::U32(vec![0, u32::MAX])),
        t("u64", vec![1], TensorData::U64(vec![u64::MAX])),
    ];
    let wanted = names(&[
        "a_plus_b",
        "i64_times_2",
        "u8_plus_1",
        "not_flag",
        "flag_as_i32",
        "h_doubled",
        "i8_neg",
        "i16_out",
        "u16_out",
        "u32_out",
        "u64_out",
    ]);
    let out = backend.infer(inputs, &wanted).unwrap();
    let got: Vec<(&str, &TensorData)> = out.iter().map(|t| (t.name.as_str(), &t.data)).collect();
    assert_eq!(
        got,
        vec![
            ("a_plus_b", &TensorData::F64(vec![1.75, -2e300])),
            ("i64_times_2", &TensorData::I64(vec![2, -4, (i64::MAX / 2) * 2])),
            ("u8_plus_1", &TensorData::U8(vec![1, 255])),
            ("not_flag", &TensorData::Bool(vec![false, true, false])),
            ("flag_as_i32", &TensorData::I32(vec![1, 0, 1])),
            ("h_doubled", &TensorData::F16(vec![half(3.0), half(-0.5)])),
            ("i8_neg", &TensorData::I8(vec![5, -127])),
            ("i16_out", &TensorData::I16(vec![-300])),
            ("u16_out", &TensorData::U16(vec![65535])),
            ("u32_out", &TensorData::U32(vec![0, u32::MAX])),
            ("u64_out", &TensorData::U64(vec![u64::MAX])),
        ]
    );
    assert_eq!(out[2].shape, vec![2]);
    assert_eq!(out[3].shape, vec![3]);
}

fn half_bits(x: f32) -> u16 {
    f16::from_f32(x).to_bits()
}

#[test]
fn half_bits_round_trip_through_tract() {
    let bits = vec![0x3c00, 0xc000, 0x7c00, 0x0001];
    let tensor = to_tract(t("h", vec![2, 2], TensorData::F16(bits.clone()))).unwrap();
    assert_eq!(tensor.datum_type(), DatumType::F16);
    let back = from_tract("h", &tensor).unwrap();
    assert_eq!(back.shape, vec![2, 2]);
    assert_eq!(back.data, TensorData::F16(bits));
}

#[test]
fn bad_requests_are_errors_not_panics() {
    let backend = load("simple", 1);
    // Batch sizes that disagree: the engine refuses.
    let err = backend
        .infer(
            vec![
                t("INPUT0", vec![2, 16], TensorData::I32(vec![0; 32])),
                t("INPUT1", vec![3, 16], TensorData::I32(vec![0; 48])),
            ],
            &names(&["OUTPUT0"]),
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Backend { .. } | Error::InvalidArgument(_)),
        "{err:?}"
    );
    // Wrong element type.
    let err = backend
        .infer(
            vec![
                t("INPUT0", vec![1, 16], TensorData::F32(vec![0.0; 16])),
                t("INPUT1", vec![1, 16], TensorData::I32(vec![0; 16])),
            ],
            &names(&["OUTPUT0"]),
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Backend { .. } | Error::InvalidArgument(_)),
        "{err:?}"
    );
    // Data that does not fit the shape.
    let err = backend
        .infer(
            vec![
                t("INPUT0", vec![1, 16], TensorData::I32(vec![0; 15])),
                t("INPUT1", vec![1, 16], TensorData::I32(vec![0; 16])),
            ],
            &names(&["OUTPUT0"]),
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument(ref m) if m.contains("'INPUT0'")),
        "{err:?}"
    );
    // Negative dimension, missing input, unknown output, BF16.
    let err = backend
        .infer(
            vec![t("INPUT0", vec![-1, 16], TensorData::I32(vec![]))],
            &names(&["OUTPUT0"]),
        )
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    let err = backend
        .infer(
            vec![t("INPUT0", vec![1, 16], TensorData::I32(vec![0; 16]))],
            &names(&["OUTPUT0"]),
        )
        .unwrap_err();
    assert!(err.to_string().contains("'INPUT1'"), "{err}");
    let ok = || {
        vec![
            t("INPUT0", vec![1, 16], TensorData::I32(vec![0; 16])),
            t("INPUT1", vec![1, 16], TensorData::I32(vec![0; 16])),
        ]
    };
    let err = backend.infer(ok(), &names(&["NOPE"])).unwrap_err();
    assert!(err.to_string().contains("'NOPE'"), "{err}");
    let err = backend
        .infer(
            vec![
                t("INPUT0", vec![1, 16], TensorData::BF16(vec![0; 16])),
                t("INPUT1", vec![1, 16], TensorData::I32(vec![0; 16])),
            ],
            &names(&["OUTPUT0"]),
        )
        .unwrap_err();
    assert!(err.to_string().contains("BF16"), "{err}");
    // Wrong inner dimension.
    let err = backend
        .infer(
            vec![
                t("INPUT0", vec![1, 8], TensorData::I32(vec![0; 8])),
                t("INPUT1", vec![1, 8], TensorData::I32(vec![0; 8])),
            ],
            &names(&["OUTPUT0"]),
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Backend { .. } | Error::InvalidArgument(_)),
        "{err:?}"
    );
    // And the backend still works afterwards.
    assert_eq!(backend.infer(ok(), &names(&["OUTPUT0"])).unwrap().len(), 1);
}

#[test]
fn concurrent_calls_share_one_plan() {
    let backend = load("mlp", 2);
    std::thread::scope(|s| {
        for _ in 0..4 {
            let backend = Arc::clone(&backend);
            s.spawn(move || {
                for _ in 0..25 {
                    let out = backend
                        .infer(
                            vec![t("x", vec![2, 4], TensorData::F32(MLP_X.to_vec()))],
                            &names(&["y"]),
                        )
                        .unwrap();
                    assert_close(f32s(&out[0]), &MLP_V2);
                }
            });
        }
    });
}

#[tokio::test(flavor = "current_thread")]
async fn serves_the_testdata_repository_through_the_registry() {
    let registry = ModelRegistry::new(
        ModelRepository::Directory(models()),
        vec![Arc::new(OnnxBackendFactory)],
        RegistryOptions {
            threads: 1,
            default_model: None,
            control: ModelControl::Explicit,
        },
    );
    let failures = registry.load_all().await;
    assert!(failures.is_empty(), "{failures:?}");
    let simple = registry.model("simple").unwrap();
    assert_eq!(simple.spec.backend, "onnxruntime");
    assert_eq!(simple.spec.platform, "onnxruntime_onnx");
    let mlp = registry.model("mlp").unwrap();
    assert_eq!(mlp.spec.platform, "onnxruntime_onnx");
    assert_eq!(mlp.spec.inputs[0].dims, vec![-1, 4]);

    let response = registry
        .infer(InferRequest {
            model: "simple".into(),
            version: String::new(),
            inputs: vec![
                t("INPUT0", vec![2, 16], TensorData::I32(vec![7; 32])),
                t("INPUT1", vec![2, 16], TensorData::I32(vec![2; 32])),
            ],
            outputs: Vec::new(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(response.outputs[0].data, TensorData::I32(vec![9; 32]));
    assert_eq!(response.outputs[1].data, TensorData::I32(vec![5; 32]));

    // The default version policy serves the newest version only.
    let response = registry
        .infer(InferRequest {
            model: "mlp".into(),
            version: String::new(),
            inputs: vec![t("x", vec![2, 4], TensorData::F32(MLP_X.to_vec()))],
            outputs: vec!["y".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(response.version, 2);
    assert_close(f32s(&response.outputs[0]), &MLP_V2);
    let err = registry
        .infer(InferRequest {
            model: "mlp".into(),
            version: "1".into(),
            inputs: vec![t("x", vec![2, 4], TensorData::F32(MLP_X.to_vec()))],
            outputs: vec!["y".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::VersionNotFound { .. }), "{err:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn serves_every_version_when_the_policy_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mlp");
    for v in ["1", "2"] {
        std::fs::create_dir_all(root.join(v)).unwrap();
        std::fs::copy(
            models().join("mlp").join(v).join("model.onnx"),
            root.join(v).join("model.onnx"),
        )
        .unwrap();
    }
    std::fs::write(
        root.join("config.pbtxt"),
        "version_policy: { all: {} }\nmax_batch_size: 4\n",
    )
    .unwrap();
    let registry = ModelRegistry::new(
        ModelRepository::Directory(dir.path().to_path_buf()),
        vec![Arc::new(OnnxBackendFactory)],
        RegistryOptions {
            threads: 1,
            default_model: None,
            control: ModelControl::Explicit,
        },
    );
    let failures = registry.load_all().await;
    assert!(failures.is_empty(), "{failures:?}");
    for (version, want) in [("1", MLP_V1), ("2", MLP_V2)] {
        let response = registry
            .infer(InferRequest {
                model: "mlp".into(),
                version: version.into(),
                inputs: vec![t("x", vec![2, 4], TensorData::F32(MLP_X.to_vec()))],
                outputs: Vec::new(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_close(f32s(&response.outputs[0]), &want);
    }
}

#[test]
fn fixed_shapes_are_kept_and_cannot_batch() {
    let spec = complete_spec("fixed", ModelConfig::default(), 1).unwrap();
    assert_eq!(spec.max_batch_size, 0);
    assert_eq!(spec.inputs[0].dims, vec![2, 3]);
    assert_eq!(spec.outputs[0].dims, vec![2, 3]);
    let backend = load("fixed", 1);
    let out = backend
        .infer(
            vec![t(
                "x",
                vec![2, 3],
                TensorData::F32(vec![1.0, -2.0, 3.0, 0.0, 0.5, -0.5]),
            )],
            &names(&["y"]),
        )
        .unwrap();
    assert_eq!(out[0].shape, vec![2, 3]);
    assert_eq!(
        out[0].data,
        TensorData::F32(vec![-1.0, 2.0, -3.0, -0.0, -0.5, 0.5])
    );
    // The engine itself refuses a shape the fixed graph does not take.
    let err = backend
        .infer(
            vec![t("x", vec![3, 3], TensorData::F32(vec![0.0; 9]))],
            &names(&["y"]),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err:?}");

    let batching = ModelConfig {
        max_batch_size: 4,
        ..Default::default()
    };
    let err = complete_spec("fixed", batching, 1).unwrap_err();
    assert!(matches!(err, Error::Load { .. }), "{err:?}");
    assert!(
        err.to_string().contains("'x'") && err.to_string().contains("fixed at 2"),
        "{err}"
    );
}

#[test]
fn inputs_sharing_a_named_dynamic_dim_load_and_run() {
    // ids and mask are both ["batch", "sequence"]: tract must know the dims are the same ones
    // (as in every transformer export), so the names become shared symbols.
    let backend = load("seqpair", 1);
    let ids = t("ids", vec![2, 3], TensorData::I64(vec![1, 2, 3, 4, 5, 6]));
    let mask = t("mask", vec![2, 3], TensorData::I64(vec![1, 1, 0, 1, 0, 0]));
    let out = backend.infer(vec![ids, mask], &names(&["y"])).unwrap();
    assert_eq!(out[0].shape, vec![2, 3]);
    assert_eq!(out[0].data, TensorData::I64(vec![1, 2, 0, 4, 0, 0]));
}
