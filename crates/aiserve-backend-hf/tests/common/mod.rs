//! Shared by the MiniLM tests (`minilm.rs`: candle; `minilm_ort.rs`: onnxruntime): the reference
//! fixture, loading a model folder as the registry does, embedding through `Backend::infer`.

// Each test binary uses its own subset.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use aiserve_backend_hf::HfBackendFactory;
use aiserve_core::config::parse_pbtxt;
use aiserve_core::{Backend, BackendFactory, LoadContext, ModelSpec, Tensor, TensorData};
use aiserve_proto::inference::ModelParameter;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// True (with a note) when `AISERVE_SKIP_MINILM=1`: machines without PyPI access skip the tests
/// that need the fetched model.
pub fn skipped() -> bool {
    if std::env::var("AISERVE_SKIP_MINILM").as_deref() == Ok("1") {
        eprintln!("AISERVE_SKIP_MINILM=1: skipping the MiniLM parity test (the model is not fetched)");
        return true;
    }
    false
}

/// Runs `bash scripts/SCRIPT ARGS...` from the workspace, panicking with the skip hint on failure.
pub fn run_script(script: &str, args: &[&Path]) {
    let status = Command::new("bash")
        .arg(workspace().join("scripts").join(script))
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("run scripts/{script}: {e}"));
    assert!(
        status.success(),
        "scripts/{script} {args:?} failed ({status}); set AISERVE_SKIP_MINILM=1 to skip"
    );
}

/// Loads `repo/model` as the registry does (config.pbtxt, auto-complete, checked spec, load), with
/// `parameters` added to (or replacing) the config's. Load errors are returned.
pub fn try_load(
    repo: &Path,
    model: &str,
    parameters: &[(&str, &str)],
) -> Result<Arc<dyn Backend>, aiserve_core::Error> {
    let model_dir = repo.join(model);
    let text = std::fs::read_to_string(model_dir.join("config.pbtxt")).unwrap();
    let mut config = parse_pbtxt(&text).unwrap();
    for (key, value) in parameters {
        config.parameters.insert(
            key.to_string(),
            ModelParameter {
                string_value: value.to_string(),
            },
        );
    }
    let version_dir = model_dir.join("1");
    HfBackendFactory.complete_config(&mut config, Some(&version_dir))?;
    let spec = ModelSpec::from_config(model, config)?;
    HfBackendFactory.load(&LoadContext {
        model,
        version: 1,
        version_dir: Some(&version_dir),
        config: &spec.config,
    })
}

/// [`try_load`], panicking with the load error.
pub fn load(repo: &Path, model: &str, parameters: &[(&str, &str)]) -> Arc<dyn Backend> {
    try_load(repo, model, parameters).unwrap_or_else(|e| panic!("{e}"))
}

/// sentence-transformers' output for 16 sentences (`testdata/minilm/reference.json`, made by
/// `scripts/make-minilm-reference.py`).
pub struct Reference {
    pub sentences: Vec<String>,
    pub token_ids: Vec<Vec<u32>>,
    pub embeddings: Vec<Vec<f32>>,
}

pub fn reference() -> Reference {
    let path = workspace().join("testdata/minilm/reference.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let rows = |key: &str| -> Vec<Vec<f64>> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect()
            })
            .collect()
    };
    Reference {
        sentences: v["sentences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect(),
        token_ids: rows("token_ids")
            .into_iter()
            .map(|r| r.into_iter().map(|x| x as u32).collect())
            .collect(),
        embeddings: rows("embeddings")
            .into_iter()
            .map(|r| r.into_iter().map(|x| x as f32).collect())
            .collect(),
    }
}

/// Runs `texts` through `backend` as one `[n, 1]` BYTES tensor; returns the output's shape and data.
pub fn infer(backend: &dyn Backend, texts: &[String], output: &str) -> (Vec<i64>, Vec<f32>) {
    let input = Tensor::new(
        "text",
        vec![texts.len() as i64, 1],
        TensorData::Bytes(texts.iter().map(|s| s.as_bytes().to_vec()).collect()),
    );
    let mut out = backend.infer(vec![input], &[output.to_string()]).unwrap();
    assert_eq!(out.len(), 1);
    let t = out.pop().unwrap();
    assert_eq!(t.name, output);
    let TensorData::F32(v) = t.data else {
        panic!("expected FP32, got {:?}", t.data.datatype())
    };
    (t.shape, v)
}

/// [`infer`] on the `embedding` output.
pub fn embed(backend: &dyn Backend, texts: &[String]) -> (Vec<i64>, Vec<f32>) {
    infer(backend, texts, "embedding")
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// Checks 16 reference sentences through `backend`: cosine >= 0.9999 with sentence-transformers
/// and unit norm. Returns the lowest cosine.
pub fn check_reference_embeddings(backend: &dyn Backend) -> f64 {
    let r = reference();
    assert_eq!(r.sentences.len(), 16);
    let (shape, flat) = embed(backend, &r.sentences);
    assert_eq!(shape, vec![16, 384]);
    let mut worst = f64::MAX;
    for (i, (got, want)) in flat.chunks(384).zip(&r.embeddings).enumerate() {
        let c = cosine(got, want);
        worst = worst.min(c);
        assert!(c >= 0.9999, "sentence {i} ({:?}): cosine {c}", r.sentences[i]);
        let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!(
            (norm - 1.0).abs() < 1e-4,
            "sentence {i}: norm {norm}, expected L2-normalised"
        );
    }
    worst
}

/// The shortest reference sentence alone, then padded in a batch with the longest: the same
/// embedding.
pub fn check_padding_invariance(backend: &dyn Backend) {
    let r = reference();
    let short = r.sentences.iter().min_by_key(|s| s.len()).unwrap().clone();
    let long = r.sentences.iter().max_by_key(|s| s.len()).unwrap().clone();
    let (_, alone) = embed(backend, std::slice::from_ref(&short));
    let (_, padded) = embed(backend, &[long, short]);
    let c = cosine(&alone, &padded[384..]);
    assert!(c >= 0.99999, "cosine {c}");
}

/// ~1200 word pieces (truncated at 256 tokens, not an error) and an empty text.
pub fn check_long_and_empty_texts(backend: &dyn Backend) {
    let long = "the quick brown fox jumps over the lazy dog ".repeat(130);
    let (shape, v) = embed(backend, &[long, String::new()]);
    assert_eq!(shape, vec![2, 384]);
    assert!(v.iter().all(|x| x.is_finite()));
}
