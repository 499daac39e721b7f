//! The onnxruntime engine (cargo feature `ort`) against the same references as the candle engine:
//! all-MiniLM-L6-v2 against sentence-transformers (`testdata/minilm/reference.json`) and the tiny
//! classifier against transformers (`testdata/hf/tiny-bert-classifier/expected.json`), on graphs
//! `scripts/make-minilm-onnx.py` builds from the same weights.
//!
//! The repository (`minilm` and `tiny-bert-classifier`, each with `model.onnx`) is made by
//! `scripts/make-minilm-onnx.sh --with-test-classifier` into `AISERVE_MINILM_ONNX_REPO` when set,
//! else into cargo's target tmp folder, once. The ONNX Runtime library is `ORT_DYLIB_PATH` when
//! set, else the one in that script's venv (`VENV`, default `scripts/.venv-minilm-onnx`);
//! `scripts/test-ort.sh` sets both. `AISERVE_SKIP_MINILM=1` skips these tests.
#![cfg(feature = "ort")]

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use aiserve_backend_hf::{Encoder, EncoderOptions, EngineKind, ORT_DYLIB_PATH};
use aiserve_core::{Backend, Error};
use common::{cosine, embed, reference, skipped};

/// The repository with the ONNX graphs, made on first use.
fn repo() -> PathBuf {
    static REPO: OnceLock<PathBuf> = OnceLock::new();
    REPO.get_or_init(|| {
        let repo = std::env::var_os("AISERVE_MINILM_ONNX_REPO")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("minilm-onnx-repo"));
        common::run_script(
            "make-minilm-onnx.sh",
            &[Path::new("--with-test-classifier"), &repo],
        );
        repo
    })
    .clone()
}

/// The ONNX Runtime library: `ORT_DYLIB_PATH`, else the onnxruntime wheel in the venv
/// `make-minilm-onnx.sh` made (called by [`repo`] first).
fn library() -> String {
    if let Some(p) = std::env::var_os(ORT_DYLIB_PATH).filter(|p| !p.is_empty()) {
        return p.to_string_lossy().into_owned();
    }
    let venv = std::env::var_os("VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::workspace().join("scripts/.venv-minilm-onnx"));
    let lib = venv.join("lib");
    let found = std::fs::read_dir(&lib)
        .into_iter()
        .flatten()
        .flatten()
        .find_map(|python| {
            let capi = python.path().join("site-packages/onnxruntime/capi");
            std::fs::read_dir(capi)
                .ok()?
                .flatten()
                .map(|f| f.path())
                .find(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("libonnxruntime.so"))
                })
        });
    found
        .unwrap_or_else(|| {
            panic!(
                "no libonnxruntime.so under {}: set {ORT_DYLIB_PATH} (scripts/test-ort.sh does)",
                lib.display()
            )
        })
        .to_string_lossy()
        .into_owned()
}

/// `model` on onnxruntime with the library from [`library`].
fn load_ort(model: &str) -> Arc<dyn Backend> {
    let repo = repo();
    common::load(
        &repo,
        model,
        &[
            ("engine", "onnxruntime"),
            ("onnxruntime_library", &library()),
            ("intra_op_threads", "2"),
        ],
    )
}

/// `minilm` on onnxruntime, loaded once.
fn minilm() -> Arc<dyn Backend> {
    static BACKEND: OnceLock<Arc<dyn Backend>> = OnceLock::new();
    BACKEND.get_or_init(|| load_ort("minilm")).clone()
}

#[test]
fn embeddings_match_sentence_transformers() {
    if skipped() {
        return;
    }
    let worst = common::check_reference_embeddings(minilm().as_ref());
    eprintln!("onnxruntime: lowest cosine against sentence-transformers: {worst:.9}");
}

#[test]
fn onnxruntime_and_candle_agree() {
    if skipped() {
        return;
    }
    let candle = common::load(&repo(), "minilm", &[("engine", "candle")]);
    let r = reference();
    let (shape_ort, ort) = embed(minilm().as_ref(), &r.sentences);
    let (shape_candle, candle) = embed(candle.as_ref(), &r.sentences);
    assert_eq!(shape_ort, shape_candle);
    for (i, (a, b)) in ort.chunks(384).zip(candle.chunks(384)).enumerate() {
        let c = cosine(a, b);
        assert!(c >= 0.99999, "sentence {i}: cosine {c} between the engines");
    }
}

#[test]
fn auto_picks_onnxruntime_when_the_folder_has_a_graph() {
    if skipped() {
        return;
    }
    let dir = repo().join("minilm/1");
    let options = EncoderOptions {
        onnxruntime_library: Some(library().into()),
        ..EncoderOptions::default()
    };
    let encoder = Encoder::load(&dir, &options).unwrap();
    assert_eq!(encoder.engine(), EngineKind::OnnxRuntime);
    assert_eq!(encoder.dim(), 384);
    assert_eq!(encoder.max_length(), 256);
}

#[test]
fn padding_does_not_change_an_embedding() {
    if skipped() {
        return;
    }
    common::check_padding_invariance(minilm().as_ref());
}

#[test]
fn long_and_empty_texts_run() {
    if skipped() {
        return;
    }
    common::check_long_and_empty_texts(minilm().as_ref());
}

#[test]
fn empty_batch_gives_an_empty_output() {
    if skipped() {
        return;
    }
    let (shape, v) = embed(minilm().as_ref(), &[]);
    assert_eq!(shape, vec![0, 384]);
    assert!(v.is_empty());
}

#[test]
fn classifier_logits_match_transformers() {
    if skipped() {
        return;
    }
    let backend = load_ort("tiny-bert-classifier");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tiny-bert-classifier/expected.json")).unwrap(),
    )
    .unwrap();
    let sentences: Vec<String> = expected["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let (shape, got) = common::infer(backend.as_ref(), &sentences, "logits");
    assert_eq!(shape, vec![sentences.len() as i64, 3]);
    let want: Vec<f32> = expected["logits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32))
        .collect();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() < 1e-4,
            "logit {i}: {g} vs transformers' {w}\n{got:?}\n{want:?}"
        );
    }
}

#[test]
fn a_second_library_is_refused() {
    if skipped() {
        return;
    }
    // The process has (now) loaded the real library; a model naming another one must not load.
    minilm();
    let Err(err) = common::try_load(
        &repo(),
        "minilm",
        &[
            ("engine", "onnxruntime"),
            ("onnxruntime_library", "/elsewhere/libonnxruntime.so"),
        ],
    ) else {
        panic!("a model naming a second ONNX Runtime library loaded");
    };
    let msg = err.to_string();
    assert!(matches!(err, Error::Load { .. }), "{err:?}");
    assert!(
        msg.contains("minilm")
            && msg.contains("already loaded")
            && msg.contains("/elsewhere/libonnxruntime.so"),
        "{msg}"
    );
}
