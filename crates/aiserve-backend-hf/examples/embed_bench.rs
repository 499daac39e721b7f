//! Embedding engines in-process on one model folder, each with the `hf` backend's tokenization
//! (tokenizers crate, truncated at the model's length, padded to the batch's longest):
//!
//! * `candle`: the `hf` backend with `engine: "candle"` on `model.safetensors` —
//!   [`Backend::infer`] as the server calls it (BYTES in, pooled and normalised FP32 out);
//! * `ort`: the same with `engine: "onnxruntime"` on `model.onnx` (cargo feature `ort`; the
//!   library from `ORT_DYLIB_PATH`), `intra_op_threads` = THREADS;
//! * `tract`: the same token batch through aiserve's ONNX backend (tract) on the same
//!   `model.onnx`, then the `hf` backend's pooling and normalisation.
//!
//! ```text
//! embed_bench candle|ort|tract MODEL_FOLDER SENTENCES_FILE BATCH THREADS [PASSES]
//! ```
//!
//! MODEL_FOLDER is a model in a repository (`config.pbtxt` with `backend: "hf"`, version folder
//! `1/`). Runs the sentences (one per line) in batches of BATCH, one warm-up pass then PASSES
//! (default 5) passes over the file, and prints one TSV row: engine, batch, threads, batches,
//! median and p99 batch latency (ms), sentences per second. THREADS is onnxruntime's
//! `intra_op_threads`, and `RAYON_NUM_THREADS` (candle's matmuls and the tokenizer use rayon's
//! pool) unless that is set; tract runs on the calling thread.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use aiserve_backend_hf::{
    l2_normalize, output_width, Encoder, EncoderOptions, EngineKind, HfBackendFactory, Pooling, Task,
};
use aiserve_backend_onnx::OnnxBackendFactory;
use aiserve_core::config::parse_pbtxt;
use aiserve_core::{Backend, BackendFactory, LoadContext, ModelSpec, Tensor, TensorData};
use aiserve_proto::inference::ModelParameter;

/// Embeds one batch; returns the number of floats produced.
type RunBatch = Box<dyn Fn(&[&str]) -> usize>;

/// Loads `folder` as the registry does, with the given `hf` parameters added.
fn load_hf(folder: &Path, parameters: &[(&str, String)]) -> Arc<dyn Backend> {
    let text = std::fs::read_to_string(folder.join("config.pbtxt")).expect("config.pbtxt");
    let mut config = parse_pbtxt(&text).expect("config.pbtxt parses");
    for (key, value) in parameters {
        config.parameters.insert(
            key.to_string(),
            ModelParameter {
                string_value: value.clone(),
            },
        );
    }
    let dir = folder.join("1");
    HfBackendFactory
        .complete_config(&mut config, Some(&dir))
        .unwrap_or_else(|e| panic!("{e}"));
    let spec = ModelSpec::from_config("minilm", config).unwrap_or_else(|e| panic!("{e}"));
    HfBackendFactory
        .load(&LoadContext {
            model: "minilm",
            version: 1,
            version_dir: Some(&dir),
            config: &spec.config,
        })
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The `hf` backend: texts as one BYTES tensor in, `embedding` out.
fn hf_engine(folder: &Path, engine: &str, threads: usize) -> RunBatch {
    let backend = load_hf(
        folder,
        &[
            ("engine", engine.to_string()),
            ("intra_op_threads", threads.to_string()),
        ],
    );
    let outputs = vec!["embedding".to_string()];
    Box::new(move |texts: &[&str]| {
        let input = Tensor::new(
            "text",
            vec![texts.len() as i64, 1],
            TensorData::Bytes(texts.iter().map(|t| t.as_bytes().to_vec()).collect()),
        );
        let out = backend
            .infer(vec![input], &outputs)
            .unwrap_or_else(|e| panic!("{e}"));
        out[0].data.len()
    })
}

/// tract through aiserve's ONNX backend on `model.onnx`, with the `hf` tokenization, pooling
/// and normalisation around it.
fn tract_engine(folder: &Path) -> RunBatch {
    let dir = folder.join("1");
    let encoder = Encoder::load(
        &dir,
        &EncoderOptions {
            engine: Some(EngineKind::Candle),
            ..EncoderOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut config = parse_pbtxt("backend: \"onnxruntime\"\nmax_batch_size: 32").expect("config parses");
    OnnxBackendFactory
        .complete_config(&mut config, Some(&dir))
        .unwrap_or_else(|e| panic!("{e}"));
    let inputs: Vec<String> = config.input.iter().map(|i| i.name.clone()).collect();
    let spec = ModelSpec::from_config("minilm-onnx", config).unwrap_or_else(|e| panic!("{e}"));
    let backend = OnnxBackendFactory
        .load(&LoadContext {
            model: "minilm-onnx",
            version: 1,
            version_dir: Some(&dir),
            config: &spec.config,
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let outputs = vec!["last_hidden_state".to_string()];
    Box::new(move |texts: &[&str]| {
        let t = encoder.tokenize(texts).expect("tokenize");
        let shape = vec![t.batch as i64, t.seq as i64];
        let feeds = inputs
            .iter()
            .map(|name| {
                let values = match name.as_str() {
                    "input_ids" => &t.ids,
                    "attention_mask" => &t.mask,
                    "token_type_ids" => &t.type_ids,
                    other => panic!("unexpected graph input {other}"),
                };
                let data = TensorData::I64(values.iter().map(|x| *x as i64).collect());
                Tensor::new(name.clone(), shape.clone(), data)
            })
            .collect();
        let out = backend.infer(feeds, &outputs).unwrap_or_else(|e| panic!("{e}"));
        let TensorData::F32(hidden) = &out[0].data else {
            panic!("expected FP32")
        };
        let dim = encoder.dim();
        let mut rows = Pooling::Mean.apply(hidden, &t.mask, t.batch, t.seq, dim);
        l2_normalize(&mut rows, dim);
        rows.len()
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!(
            "usage: {} candle|ort|tract MODEL_FOLDER SENTENCES_FILE BATCH THREADS [PASSES]",
            args[0]
        );
        std::process::exit(2);
    }
    let engine = args[1].as_str();
    let folder = Path::new(&args[2]);
    let text = std::fs::read_to_string(&args[3]).expect("read the sentences");
    let sentences: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let batch: usize = args[4].parse().expect("BATCH is a number");
    let threads: usize = args[5].parse().expect("THREADS is a number");
    let passes: usize = args
        .get(6)
        .map(|p| p.parse().expect("PASSES is a number"))
        .unwrap_or(5);
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // Before anything starts rayon's pool (still one thread here).
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
    let run: RunBatch = match engine {
        "candle" => hf_engine(folder, "candle", threads),
        "ort" => hf_engine(folder, "onnxruntime", threads),
        "tract" => tract_engine(folder),
        other => panic!("unknown engine {other}"),
    };

    let dim = output_width(&folder.join("1"), Task::Embedding).unwrap_or_else(|e| panic!("{e}"));
    let run_pass = |times: &mut Vec<f64>| {
        for chunk in sentences.chunks(batch) {
            let start = Instant::now();
            let n = run(chunk);
            times.push(start.elapsed().as_secs_f64());
            assert_eq!(n, chunk.len() * dim);
        }
    };
    run_pass(&mut Vec::new());
    let mut times = Vec::new();
    let start = Instant::now();
    for _ in 0..passes {
        run_pass(&mut times);
    }
    let total = start.elapsed().as_secs_f64();
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize] * 1e3;
    let threads = if engine == "tract" { 1 } else { threads };
    println!(
        "{engine}\t{batch}\t{threads}\t{}\t{:.2}\t{:.2}\t{:.1}",
        times.len(),
        pct(0.5),
        pct(0.99),
        (sentences.len() * passes) as f64 / total
    );
}
