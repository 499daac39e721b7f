//! `task: "classification"` on a tiny random BertForSequenceClassification
//! (`testdata/hf/tiny-bert-classifier`, made by `scripts/make-tiny-bert-classifier.py`): the logits
//! must match those transformers computed for the same padded batch.

use std::path::{Path, PathBuf};

use aiserve_backend_hf::HfBackendFactory;
use aiserve_core::config::parse_pbtxt;
use aiserve_core::{BackendFactory, LoadContext, ModelSpec, Tensor, TensorData};

fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/hf/tiny-bert-classifier")
}

#[test]
fn logits_match_transformers() {
    let dir = model_dir();
    let mut config = parse_pbtxt(&std::fs::read_to_string(dir.join("config.pbtxt")).unwrap()).unwrap();
    let version_dir = dir.join("1");
    HfBackendFactory
        .complete_config(&mut config, Some(&version_dir))
        .unwrap();
    // Auto-complete: one text input, `logits` with one column per label.
    assert_eq!(config.input[0].name, "text");
    assert_eq!(config.output[0].name, "logits");
    assert_eq!(config.output[0].dims, vec![3]);
    let spec = ModelSpec::from_config("tiny-bert-classifier", config).unwrap();
    let backend = HfBackendFactory
        .load(&LoadContext {
            model: "tiny-bert-classifier",
            version: 1,
            version_dir: Some(&version_dir),
            config: &spec.config,
        })
        .unwrap_or_else(|e| panic!("{e}"));

    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let sentences: Vec<Vec<u8>> = expected["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().as_bytes().to_vec())
        .collect();
    let n = sentences.len();
    let input = Tensor::new("text", vec![n as i64, 1], TensorData::Bytes(sentences));
    let out = backend.infer(vec![input], &["logits".to_string()]).unwrap();
    assert_eq!(out[0].shape, vec![n as i64, 3]);
    let TensorData::F32(got) = &out[0].data else {
        panic!("expected FP32")
    };
    let want: Vec<f32> = expected["logits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32))
        .collect();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() < 1e-4,
            "logit {i}: {g} vs transformers' {w}\n{got:?}\n{want:?}"
        );
    }
}
