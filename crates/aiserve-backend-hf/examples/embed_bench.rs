//! Embedding engines in-process, with the `hf` backend's tokenization (tokenizers crate, truncated
//! at the model's length, padded to the batch's longest):
//!
//! * `candle`: [`Encoder::run`] as the `hf` backend runs it (BERT, pooling, normalisation);
//! * `tract`: the same token batch through aiserve's ONNX backend (`Backend::infer`) on an ONNX
//!   export with pooling and normalisation in the graph (`bench/embed-engines/export_onnx.py`).
//!   Blocked for now: the ONNX backend gives each input's dynamic dimension its own symbol, so
//!   tract cannot see that `input_ids` and `attention_mask` share `seq` and fails to analyse the
//!   graph ("Can not compute a shape with square of symbols"); sharing symbols by `dim_param` name
//!   in aiserve-backend-onnx would unblock it.
//!
//! ```text
//! embed_bench candle MODEL_DIR SENTENCES_FILE BATCH [PASSES]
//! embed_bench tract  MODEL_DIR SENTENCES_FILE BATCH [PASSES] ONNX_MODEL_FOLDER
//! ```
//!
//! Runs the sentences (one per line) in batches of BATCH, PASSES times over the file after one
//! warm-up pass, and prints one TSV row: engine, batch, threads, batches, median and p99 batch
//! latency (ms), sentences per second. Threads: `RAYON_NUM_THREADS` (candle's matmuls and the
//! tokenizer use the rayon pool; tract runs on the calling thread).

use std::path::Path;
use std::time::Instant;

use aiserve_backend_hf::{Encoder, EncoderOptions};
use aiserve_backend_onnx::OnnxBackendFactory;
use aiserve_core::config::parse_pbtxt;
use aiserve_core::{BackendFactory, LoadContext, ModelSpec, Tensor, TensorData};

/// Embeds one batch with an engine; returns the number of floats produced.
type RunBatch = Box<dyn Fn(&Encoder, &[&str]) -> usize>;

fn tract_backend(folder: &Path) -> RunBatch {
    let text = std::fs::read_to_string(folder.join("config.pbtxt")).expect("config.pbtxt");
    let mut config = parse_pbtxt(&text).expect("config.pbtxt parses");
    let dir = folder.join("1");
    OnnxBackendFactory
        .complete_config(&mut config, Some(&dir))
        .expect("config completes");
    let spec = ModelSpec::from_config("minilm-onnx", config).expect("config is valid");
    let backend = OnnxBackendFactory
        .load(&LoadContext {
            model: "minilm-onnx",
            version: 1,
            version_dir: Some(&dir),
            config: &spec.config,
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let outputs = vec!["embedding".to_string()];
    Box::new(move |encoder: &Encoder, texts: &[&str]| {
        let t = encoder.tokenize(texts).expect("tokenize");
        let shape = vec![t.batch as i64, t.seq as i64];
        let i64s = |v: &[u32]| TensorData::I64(v.iter().map(|x| *x as i64).collect());
        let inputs = vec![
            Tensor::new("input_ids", shape.clone(), i64s(&t.ids)),
            Tensor::new("attention_mask", shape, i64s(&t.mask)),
        ];
        let out = backend.infer(inputs, &outputs).unwrap_or_else(|e| panic!("{e}"));
        out[0].data.len()
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!(
            "usage: {} candle|tract MODEL_DIR SENTENCES_FILE BATCH [PASSES] [ONNX_FOLDER]",
            args[0]
        );
        std::process::exit(2);
    }
    let engine = args[1].as_str();
    let encoder = Encoder::load(Path::new(&args[2]), &EncoderOptions::default()).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let text = std::fs::read_to_string(&args[3]).expect("read the sentences");
    let sentences: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let batch: usize = args[4].parse().expect("BATCH is a number");
    let passes: usize = args
        .get(5)
        .map(|p| p.parse().expect("PASSES is a number"))
        .unwrap_or(5);
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    let run: RunBatch = match engine {
        "candle" => Box::new(|e: &Encoder, texts: &[&str]| e.run(texts).expect("embed").len()),
        "tract" => tract_backend(Path::new(args.get(6).expect("tract needs ONNX_FOLDER"))),
        other => panic!("unknown engine {other}"),
    };

    let run_pass = |times: &mut Vec<f64>| {
        for chunk in sentences.chunks(batch) {
            let start = Instant::now();
            let n = run(&encoder, chunk);
            times.push(start.elapsed().as_secs_f64());
            assert_eq!(n, chunk.len() * encoder.dim());
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
    println!(
        "{engine}\t{batch}\t{threads}\t{}\t{:.2}\t{:.2}\t{:.1}",
        times.len(),
        pct(0.5),
        pct(0.99),
        (sentences.len() * passes) as f64 / total
    );
}
