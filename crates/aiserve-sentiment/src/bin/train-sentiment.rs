//! Trains the built-in sentiment model.
//!
//! ```text
//! cargo run --release -p aiserve-sentiment --bin train-sentiment -- \
//!     --train data/sentiment/train.tsv --dev data/sentiment/dev.tsv \
//!     --out crates/aiserve-sentiment/model/sentiment.bin
//! ```
//!
//! Defaults are the hyper-parameters chosen on dev (see MODEL.md). `--grid` runs
//! the hyper-parameter search on dev instead of writing a model.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use aiserve_sentiment::eval::{evaluate, read_tsv, EvalReport, Example};
use aiserve_sentiment::train::{predict, train_model, Dataset, TrainConfig};
use aiserve_sentiment::{FeatureConfig, SentimentError, SentimentModel};

const USAGE: &str = "usage: train-sentiment --train TRAIN.tsv --dev DEV.tsv [--out MODEL.bin] \
[--fixture DEV_SCORES.tsv] [--lambda F] [--epochs N] [--seed N] [--nb-alpha F] \
[--nb-floor F] [--nb-beta F] [--domain-weights D=W,...] [--bits N] [--char-min N] \
[--char-max N] [--char-weight F] [--no-bigrams] [--no-negation] [--no-dense] [--grid]";

struct Args {
    train: PathBuf,
    dev: PathBuf,
    out: Option<PathBuf>,
    fixture: PathBuf,
    features: FeatureConfig,
    train_cfg: TrainConfig,
    grid: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut train = None;
    let mut dev = None;
    let mut out = None;
    let mut fixture = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/dev_scores.tsv"
    ));
    let mut features = default_features();
    let mut train_cfg = default_train();
    let mut grid = false;
    let mut it = std::env::args().skip(1);
    fn val<T: std::str::FromStr>(it: &mut impl Iterator<Item = String>, flag: &str) -> Result<T, String> {
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        v.parse().map_err(|_| format!("bad value {v:?} for {flag}"))
    }
    while let Some(a) = it.next() {
        match a.as_str() {
            "--train" => train = Some(PathBuf::from(val::<String>(&mut it, &a)?)),
            "--dev" => dev = Some(PathBuf::from(val::<String>(&mut it, &a)?)),
            "--out" => out = Some(PathBuf::from(val::<String>(&mut it, &a)?)),
            "--fixture" => fixture = PathBuf::from(val::<String>(&mut it, &a)?),
            "--lambda" => train_cfg.lambda = val(&mut it, &a)?,
            "--epochs" => train_cfg.epochs = val(&mut it, &a)?,
            "--seed" => train_cfg.seed = val(&mut it, &a)?,
            "--nb-alpha" => train_cfg.nb_alpha = val(&mut it, &a)?,
            "--nb-floor" => train_cfg.nb_floor = val(&mut it, &a)?,
            "--nb-beta" => train_cfg.nb_beta = val(&mut it, &a)?,
            "--bits" => features.hash_bits = val(&mut it, &a)?,
            "--char-min" => features.char_min = val(&mut it, &a)?,
            "--char-max" => features.char_max = val(&mut it, &a)?,
            "--char-weight" => features.char_weight = val(&mut it, &a)?,
            "--no-bigrams" => features.word_bigrams = false,
            "--no-negation" => features.negation = false,
            "--no-dense" => features.dense = false,
            "--grid" => grid = true,
            "--domain-weights" => {
                let v: String = val(&mut it, &a)?;
                train_cfg.domain_weights = parse_domain_weights(&v)?;
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    features.validate()?;
    Ok(Args {
        train: train.ok_or(USAGE)?,
        dev: dev.ok_or(USAGE)?,
        out,
        fixture,
        features,
        train_cfg,
        grid,
    })
}

/// Feature hyper-parameters chosen on dev (see MODEL.md).
fn default_features() -> FeatureConfig {
    FeatureConfig::default()
}

/// Training hyper-parameters chosen on dev (see MODEL.md).
fn default_train() -> TrainConfig {
    TrainConfig::default()
}

fn parse_domain_weights(v: &str) -> Result<Vec<(String, f32)>, String> {
    v.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (d, w) = p
                .split_once('=')
                .ok_or_else(|| format!("bad domain weight {p:?}"))?;
            let w: f32 = w.parse().map_err(|_| format!("bad domain weight {p:?}"))?;
            Ok((d.to_string(), w))
        })
        .collect()
}

fn texts(ex: &[Example]) -> Vec<&str> {
    ex.iter().map(|e| e.text.as_str()).collect()
}

fn fit(
    fc: &FeatureConfig,
    tc: &TrainConfig,
    train: &[Example],
    dev: &[Example],
) -> Result<(Vec<f32>, EvalReport), SentimentError> {
    let w = train_model(fc, tc, train)?;
    let dev_ds = Dataset::build(fc, &texts(dev), false);
    let report = evaluate(dev, &predict(&dev_ds, &w));
    Ok((w, report))
}

fn summary(r: &EvalReport) -> String {
    let mut s = format!(
        "overall r={:.4} acc={:.4} |",
        r.overall.pearson, r.overall.sign_acc
    );
    for m in &r.domains {
        let _ = write!(s, " {} {:.3}/{:.3}", m.domain, m.pearson, m.sign_acc);
    }
    s
}

fn grid(args: &Args, train: &[Example], dev: &[Example]) -> Result<(), SentimentError> {
    let base = args.features;
    let mut feature_grid = vec![base];
    for (cmin, cmax) in [(0, 0), (1, 4), (2, 4), (3, 5), (2, 6)] {
        feature_grid.push(FeatureConfig {
            char_min: cmin,
            char_max: cmax,
            ..base
        });
    }
    for cw in [0.25, 1.0] {
        feature_grid.push(FeatureConfig {
            char_weight: cw,
            ..base
        });
    }
    feature_grid.push(FeatureConfig {
        word_bigrams: false,
        ..base
    });
    feature_grid.push(FeatureConfig {
        negation: false,
        ..base
    });
    feature_grid.push(FeatureConfig { dense: false, ..base });
    feature_grid.push(FeatureConfig {
        hash_bits: 18,
        ..base
    });
    feature_grid.push(FeatureConfig {
        hash_bits: 19,
        ..base
    });
    let lambdas = [3e-6, 1e-5, 3e-5, 1e-4];
    for fc in feature_grid {
        let jobs: Vec<TrainConfig> = lambdas
            .iter()
            .map(|&lambda| TrainConfig {
                lambda,
                ..args.train_cfg.clone()
            })
            .collect();
        let results: Vec<Result<(Vec<f32>, EvalReport), SentimentError>> = std::thread::scope(|s| {
            let handles: Vec<_> = jobs
                .chunks(jobs.len().div_ceil(2))
                .map(|chunk| {
                    s.spawn(move || {
                        chunk
                            .iter()
                            .map(|tc| fit(&fc, tc, train, dev))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        for (tc, r) in jobs.iter().zip(results) {
            let (_, report) = r?;
            println!(
                "bits={} bi={} char={}-{} cw={} neg={} dense={} lambda={:e}: {}",
                fc.hash_bits,
                fc.word_bigrams,
                fc.char_min,
                fc.char_max,
                fc.char_weight,
                fc.negation,
                fc.dense,
                tc.lambda,
                summary(&report)
            );
        }
    }
    Ok(())
}

fn run(args: &Args) -> Result<(), SentimentError> {
    let t0 = Instant::now();
    let train = read_tsv(&args.train)?;
    let dev = read_tsv(&args.dev)?;
    println!("train: {} rows, dev: {} rows", train.len(), dev.len());
    if args.grid {
        return grid(args, &train, &dev);
    }
    let fc = args.features;
    let tc = &args.train_cfg;
    println!("features: {fc:?}");
    println!("training: {tc:?}");
    let w = train_model(&fc, tc, &train)?;
    let model = SentimentModel::from_weights(fc, &w)?;
    let bytes = model.to_bytes();
    // Re-parse what will be written, so the stored file is what we evaluate.
    let model = SentimentModel::from_bytes(&bytes)?;

    // Train-time dev features (computed once here, unmerged: the exact vectors
    // `featurize` gives) dotted with the stored weights.
    let dev_ds = Dataset::build(&fc, &texts(&dev), false);
    let dev_scores = predict(&dev_ds, model.weights());
    let train_scores = predict(&Dataset::build(&fc, &texts(&train), false), model.weights());
    println!("\ntrain metrics:\n{}", evaluate(&train, &train_scores));
    println!("dev metrics:\n{}", evaluate(&dev, &dev_scores));

    if let Some(out) = &args.out {
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(|e| SentimentError::io(parent, e))?;
        }
        std::fs::write(out, &bytes).map_err(|e| SentimentError::io(out, e))?;
        println!("wrote {} ({} bytes)", out.display(), bytes.len());
        let mut fixture = String::from("domain\tid\tscore\n");
        for (ex, s) in dev.iter().zip(&dev_scores) {
            let _ = writeln!(fixture, "{}\t{}\t{:.9}", ex.domain, ex.id, s);
        }
        if let Some(parent) = args.fixture.parent() {
            std::fs::create_dir_all(parent).map_err(|e| SentimentError::io(parent, e))?;
        }
        std::fs::write(&args.fixture, fixture).map_err(|e| SentimentError::io(&args.fixture, e))?;
        println!("wrote {}", args.fixture.display());
    }
    println!("done in {:.1}s", t0.elapsed().as_secs_f64());
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
