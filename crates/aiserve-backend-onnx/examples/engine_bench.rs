//! Measures the ONNX backend (tract) on a model folder: per-call latency
//! (median, p99) and throughput, through `Backend::infer` as the server
//! calls it (tensor conversion included), on one thread.
//!
//! ```text
//! engine_bench <case-name> <model-folder> <version> <batch> [<batch>...]
//! ```
//!
//! Inputs are filled the same way as `bench/onnx-engines/bench_ort.py` does:
//! element `i` of an FP32 tensor is `(i % 97) / 97 - 0.5`, of an INT32
//! tensor `i % 100`. When the model batches (`max_batch_size > 0`) the batch
//! is the leading dimension; otherwise `-1` dims take the batch size.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aiserve_backend_onnx::OnnxBackendFactory;
use aiserve_core::config::parse_pbtxt;
use aiserve_core::{BackendFactory, DataType, LoadContext, ModelConfig, ModelSpec, Tensor, TensorData};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!("usage: engine_bench <case-name> <model-folder> <version> <batch> [<batch>...]");
        std::process::exit(2);
    }
    let case = &args[0];
    let folder = PathBuf::from(&args[1]);
    let version: u64 = args[2].parse().expect("version is a number");
    let batches: Vec<usize> = args[3..]
        .iter()
        .map(|b| b.parse().expect("batch is a number"))
        .collect();
    let name = folder.file_name().unwrap().to_string_lossy().into_owned();
    let mut config = match std::fs::read_to_string(folder.join("config.pbtxt")) {
        Ok(text) => parse_pbtxt(&text).expect("config.pbtxt parses"),
        Err(_) => ModelConfig::default(),
    };
    let dir = folder.join(version.to_string());
    let factory = OnnxBackendFactory;
    factory
        .complete_config(&mut config, Some(&dir))
        .expect("config completes");
    let spec = ModelSpec::from_config(&name, config).expect("config is valid");
    let load_start = Instant::now();
    let backend = factory
        .load(&LoadContext {
            model: &name,
            version,
            version_dir: Some(&dir),
            config: &spec.config,
        })
        .expect("model loads");
    eprintln!("{case}: loaded and optimised in {:?}", load_start.elapsed());
    let outputs: Vec<String> = spec.outputs.iter().map(|o| o.name.clone()).collect();
    for batch in batches {
        let inputs: Vec<Tensor> = spec
            .inputs
            .iter()
            .map(|i| {
                let mut shape: Vec<i64> = Vec::new();
                if spec.batching() {
                    shape.push(batch as i64);
                }
                shape.extend(i.dims.iter().map(|d| if *d < 0 { batch as i64 } else { *d }));
                let n = shape.iter().product::<i64>() as usize;
                let data = match i.datatype {
                    DataType::F32 => TensorData::F32((0..n).map(|k| (k % 97) as f32 / 97.0 - 0.5).collect()),
                    DataType::I32 => TensorData::I32((0..n).map(|k| (k % 100) as i32).collect()),
                    other => panic!("engine_bench fills FP32 and INT32 inputs only, not {other}"),
                };
                Tensor::new(i.name.clone(), shape, data)
            })
            .collect();
        let call = || {
            let start = Instant::now();
            let out = backend.infer(inputs.clone(), &outputs).expect("inference runs");
            std::hint::black_box(out);
            start.elapsed()
        };
        // Warm up, then size the run to about two seconds.
        let warm: Duration = (0..10).map(|_| call()).sum();
        let per_call = warm / 10;
        let iters =
            (Duration::from_secs(2).as_nanos() / per_call.as_nanos().max(1)).clamp(50, 20_000) as usize;
        let mut times: Vec<Duration> = (0..iters).map(|_| call()).collect();
        times.sort();
        let total: Duration = times.iter().sum();
        let median = times[times.len() / 2];
        let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
        let throughput = (iters * batch) as f64 / total.as_secs_f64();
        println!(
            "tract\t{case}\t{batch}\t{iters}\t{:.1}\t{:.1}\t{:.0}",
            median.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6,
            throughput
        );
    }
}
