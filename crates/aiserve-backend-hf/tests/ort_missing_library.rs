//! `engine: "onnxruntime"` without a usable ONNX Runtime library fails the load with an error that
//! names the model, the path tried and what to set. Its own test binary (process): a process that
//! has loaded the library keeps it.
#![cfg(feature = "ort")]

use std::path::Path;

use aiserve_backend_hf::{HfBackendFactory, ONNX_FILENAME};
use aiserve_core::config::parse_pbtxt;
use aiserve_core::{BackendFactory, Error, LoadContext, ModelSpec};

/// A version folder with the tiny classifier's config and tokenizer and a `model.onnx` (never
/// read: the library fails first), plus its `model.safetensors` when `engine` is `None` (`auto`);
/// loads it with `library` as `onnxruntime_library`.
fn load_with_library(library: &str, engine: Option<&str>) -> Error {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/hf/tiny-bert-classifier/1");
    let dir = tempfile::tempdir().unwrap();
    let vdir = dir.path().join("1");
    std::fs::create_dir(&vdir).unwrap();
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(src.join(f), vdir.join(f)).unwrap();
    }
    std::fs::write(vdir.join(ONNX_FILENAME), b"not read").unwrap();
    let engine = match engine {
        Some(e) => format!(r#"parameters {{ key: "engine" value: {{ string_value: "{e}" }} }}"#),
        None => {
            std::fs::copy(src.join("model.safetensors"), vdir.join("model.safetensors")).unwrap();
            String::new()
        }
    };
    let mut config = parse_pbtxt(&format!(
        r#"backend: "hf"
           max_batch_size: 8
           {engine}
           parameters {{ key: "onnxruntime_library" value: {{ string_value: "{library}" }} }}"#
    ))
    .unwrap();
    HfBackendFactory
        .complete_config(&mut config, Some(&vdir))
        .unwrap();
    let spec = ModelSpec::from_config("embedder", config).unwrap();
    match HfBackendFactory.load(&LoadContext {
        model: "embedder",
        version: 1,
        version_dir: Some(&vdir),
        config: &spec.config,
    }) {
        Ok(_) => panic!("loaded with the library {library}"),
        Err(e) => e,
    }
}

#[test]
fn a_missing_library_is_a_clear_load_error() {
    let err = load_with_library(
        "/nonexistent/onnxruntime/libonnxruntime.so.1.32.0",
        Some("onnxruntime"),
    );
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(matches!(err, Error::Load { .. }), "{err:?}");
    for want in [
        "embedder",
        "/nonexistent/onnxruntime/libonnxruntime.so.1.32.0",
        "ORT_DYLIB_PATH",
        "onnxruntime_library",
    ] {
        assert!(msg.contains(want), "the error should mention {want:?}: {msg}");
    }
}

#[test]
fn a_file_that_is_not_the_library_is_a_clear_load_error() {
    // Any file that is not a shared library: this test's source.
    let not_a_library = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ort_missing_library.rs");
    let err = load_with_library(&not_a_library.to_string_lossy(), Some("onnxruntime"));
    let msg = err.to_string();
    assert!(matches!(err, Error::Load { .. }), "{err:?}");
    assert!(
        msg.contains("embedder") && msg.contains("ort_missing_library.rs") && msg.contains("ORT_DYLIB_PATH"),
        "{msg}"
    );
}

#[test]
fn auto_with_both_files_says_how_to_fall_back_to_candle() {
    let err = load_with_library("/nonexistent/libonnxruntime.so", None);
    let msg = err.to_string();
    assert!(matches!(err, Error::Load { .. }), "{err:?}");
    assert!(
        msg.contains("ORT_DYLIB_PATH") && msg.contains("'engine' to 'candle'"),
        "{msg}"
    );
}
