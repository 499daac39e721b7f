//! `aiserve bench`: an end-to-end load generator for aiserve (and any server
//! speaking the seed's `AIService`, the Open Inference Protocol over gRPC, or
//! their HTTP/JSON forms).
//!
//! It runs `connections x streams` workers on the tokio runtime it is called
//! from, each sending one request at a time:
//!
//! - **closed loop** (the default): a worker sends its next request as soon as
//!   the previous answer arrives; latency is send → answer.
//! - **open loop** (`--rate R`): request `i` is *scheduled* at `start + i / R`
//!   (worker `i mod W` sends it); latency is measured from the scheduled time,
//!   not the actual send time, so a server that falls behind is charged for the
//!   queueing it causes (no coordinated omission). In-flight requests are
//!   capped at `connections x streams`.
//!
//! Requests are encoded once before the run (`--text`, or `--input`: one
//! payload per line for the predict kinds, a V2 JSON request for the infer
//! kinds) and reused; each call clones a reference-counted buffer.
//!
//! Transports: gRPC kinds open `connections` HTTP/2 channels with `streams`
//! concurrent calls on each. HTTP kinds use HTTP/1.1 keep-alive (aiserve's REST
//! frontend speaks HTTP/1.1 only), which cannot multiplex, so they open
//! `connections x streams` connections with one request in flight each: the
//! same concurrency as gRPC, and what wrk or h2load `--h1` would do.
//!
//! ```no_run
//! # async fn demo() -> Result<(), aiserve_bench::BenchError> {
//! let args = aiserve_bench::BenchArgs::try_parse_from(["grpc-predict", "-n", "1000", "-c", "2", "-m", "8"])
//!     .expect("valid arguments");
//! let report = aiserve_bench::run(&args).await?;
//! println!("{report}");
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod payload;
mod report;
mod transport;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, Parser, ValueEnum};
use hdrhistogram::Histogram;
use serde::Serialize;

pub use report::{LatencySummary, Report};
use transport::Caller;

/// What to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallKind {
    /// `AIService.predict` over gRPC (`/AIService/predict`).
    GrpcPredict,
    /// `ModelInfer` over gRPC, inputs in `raw_input_contents`.
    GrpcInfer,
    /// `POST /v2/models/{model}/infer` with a V2 JSON body.
    HttpInfer,
    /// `POST /v1/predict` with `{"data", "model"}`.
    HttpPredict,
    /// `AIService.embed` over gRPC (`/AIService/embed`), one text per request.
    GrpcEmbed,
    /// `POST /v1/embed` with `{"texts": [text], "model"}`.
    HttpEmbed,
}

impl CallKind {
    /// The kind's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            CallKind::GrpcPredict => "grpc-predict",
            CallKind::GrpcInfer => "grpc-infer",
            CallKind::HttpInfer => "http-infer",
            CallKind::HttpPredict => "http-predict",
            CallKind::GrpcEmbed => "grpc-embed",
            CallKind::HttpEmbed => "http-embed",
        }
    }

    /// Whether the kind speaks HTTP/JSON (else gRPC).
    pub fn is_http(self) -> bool {
        matches!(
            self,
            CallKind::HttpInfer | CallKind::HttpPredict | CallKind::HttpEmbed
        )
    }

    /// Whether the kind sends V2 infer requests (else text requests: predict or embed).
    pub fn is_infer(self) -> bool {
        matches!(self, CallKind::GrpcInfer | CallKind::HttpInfer)
    }
}

/// The default address of the gRPC kinds.
pub const DEFAULT_GRPC_SERVER: &str = "127.0.0.1:50051";
/// The default address of the HTTP kinds.
pub const DEFAULT_HTTP_SERVER: &str = "127.0.0.1:8000";
/// The text sent when neither `--text` nor `--input` is given (the seed client's).
pub const DEFAULT_TEXT: &str = "example data";
/// The number of measured requests when neither `--requests` nor `--duration` is given.
pub const DEFAULT_REQUESTS: u64 = 10_000;

/// The arguments of `aiserve bench` (embedded in the CLI as they are).
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// What to call.
    #[arg(value_enum, default_value = "grpc-predict")]
    pub kind: CallKind,
    /// The server, HOST:PORT [default: 127.0.0.1:50051 for gRPC kinds, 127.0.0.1:8000 for HTTP kinds].
    #[arg(long)]
    pub server: Option<String>,
    /// Connections: HTTP/2 channels for gRPC; for HTTP/1.1, see --streams.
    #[arg(long, short = 'c', default_value_t = 1)]
    pub connections: usize,
    /// Concurrent requests per connection (HTTP/1.1 cannot multiplex: it opens
    /// connections x streams connections, one request in flight on each).
    #[arg(long, short = 'm', default_value_t = 1)]
    pub streams: usize,
    /// Measured requests in total [default: 10000 unless --duration is given].
    #[arg(long, short = 'n', conflicts_with = "duration")]
    pub requests: Option<u64>,
    /// Measure for this many seconds instead of a request count.
    #[arg(long, short = 'D')]
    pub duration: Option<f64>,
    /// Open loop: schedule this many requests per second in total (latency from the scheduled time).
    #[arg(long, short = 'r')]
    pub rate: Option<f64>,
    /// The text to send (predict and embed kinds) [default: "example data"].
    #[arg(long, conflicts_with = "input")]
    pub text: Option<String>,
    /// Payload file: one text per line, cycled (predict and embed kinds); a V2 JSON request
    /// {"inputs": [...], "outputs"?: [...]}, or one per line (infer kinds).
    #[arg(long, short = 'i')]
    pub input: Option<PathBuf>,
    /// The model (predict and embed kinds: the server's default when absent; required for infer kinds).
    #[arg(long)]
    pub model: Option<String>,
    /// Requests sent before measuring (closed loop, not counted).
    #[arg(long, default_value_t = 0)]
    pub warmup: u64,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Parser)]
#[command(name = "bench", no_binary_name = true)]
struct Standalone {
    #[command(flatten)]
    args: BenchArgs,
}

impl BenchArgs {
    /// Parses arguments as `aiserve bench` would (without the program name),
    /// e.g. `["grpc-infer", "--model", "vec384", "--input", "req.json"]`.
    pub fn try_parse_from<I, T>(args: I) -> Result<BenchArgs, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Ok(Standalone::try_parse_from(args)?.args)
    }

    /// The server address this run talks to.
    pub fn server_address(&self) -> &str {
        match &self.server {
            Some(s) => s.as_str(),
            None if self.kind.is_http() => DEFAULT_HTTP_SERVER,
            None => DEFAULT_GRPC_SERVER,
        }
    }

    fn check(&self) -> Result<(), BenchError> {
        let bad = |m: &str| Err(BenchError::Args(m.to_string()));
        if self.connections == 0 || self.streams == 0 {
            return bad("--connections and --streams must be at least 1");
        }
        if let Some(r) = self.rate {
            if !r.is_finite() || r <= 0.0 {
                return bad("--rate must be a positive number of requests per second");
            }
        }
        if let Some(d) = self.duration {
            if !d.is_finite() || d <= 0.0 {
                return bad("--duration must be a positive number of seconds");
            }
        }
        if self.requests == Some(0) {
            return bad("--requests must be at least 1");
        }
        if self.kind.is_infer() {
            if self.model.is_none() {
                return bad("the infer kinds need --model");
            }
            if self.input.is_none() {
                return bad("the infer kinds need --input (a V2 JSON request file)");
            }
            if self.text.is_some() {
                return bad("--text is for the predict kinds; the infer kinds take --input");
            }
        }
        Ok(())
    }
}

/// What can stop a benchmark from running (errors of individual requests are
/// counted in the [`Report`], not returned).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Arguments that do not make a run.
    #[error("{0}")]
    Args(String),
    /// The payload file cannot be read or understood.
    #[error("{path}: {message}")]
    Input {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The server cannot be reached.
    #[error("cannot connect to {address}: {message}")]
    Connect {
        /// The address.
        address: String,
        /// Why.
        message: String,
    },
    /// The JSON report cannot be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What one worker saw.
struct WorkerStats {
    latency_ns: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<String, u64>,
}

impl WorkerStats {
    fn new() -> WorkerStats {
        WorkerStats {
            latency_ns: latency_histogram(),
            ok: 0,
            errors: BTreeMap::new(),
        }
    }

    fn record(&mut self, result: Result<(), String>, latency: Duration) {
        match result {
            Ok(()) => {
                self.ok += 1;
                self.latency_ns.saturating_record(latency.as_nanos() as u64);
            }
            Err(label) => *self.errors.entry(label).or_insert(0) += 1,
        }
    }
}

/// Nanoseconds from 1 ns to 100 s at 3 significant figures; longer latencies count as 100 s.
fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("the bounds are valid")
}

/// The shared state of one phase (warm-up or measurement).
struct Phase {
    payloads: Arc<[Bytes]>,
    next: AtomicU64,
    limit: Option<u64>,
    deadline: Option<Instant>,
    done: AtomicU64,
    stop: AtomicBool,
}

/// Runs a benchmark as `args` say and returns its report (also written to
/// `--json` when given). Draws a progress bar when standard output is a
/// terminal. Must be called on a multi-threaded tokio runtime for the workers
/// to spread over cores.
pub async fn run(args: &BenchArgs) -> Result<Report, BenchError> {
    args.check()?;
    let payloads: Arc<[Bytes]> = payload::build(args)?.into();
    let address = args.server_address().to_string();
    let callers = transport::connect(args, &address).await?;
    let workers = callers.len();

    let callers = if args.warmup > 0 {
        let phase = Arc::new(Phase {
            payloads: Arc::clone(&payloads),
            next: AtomicU64::new(0),
            limit: Some(args.warmup),
            deadline: None,
            done: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let results = spawn_all(callers, |caller, _| closed_loop(caller, Arc::clone(&phase))).await;
        results.into_iter().map(|(c, _)| c).collect()
    } else {
        callers
    };

    let limit = match (args.requests, args.duration) {
        (Some(n), _) => Some(n),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_REQUESTS),
    };
    let start = Instant::now();
    let phase = Arc::new(Phase {
        payloads: Arc::clone(&payloads),
        next: AtomicU64::new(0),
        limit,
        deadline: args.duration.map(|d| start + Duration::from_secs_f64(d)),
        done: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let progress = progress_bar(&phase, start, args.duration);
    let results = match args.rate {
        None => spawn_all(callers, |caller, _| closed_loop(caller, Arc::clone(&phase))).await,
        Some(rate) => {
            let interval = 1.0 / rate;
            spawn_all(callers, |caller, k| {
                open_loop(
                    caller,
                    Arc::clone(&phase),
                    start,
                    interval,
                    k as u64,
                    workers as u64,
                )
            })
            .await
        }
    };
    let elapsed = start.elapsed();
    phase.stop.store(true, Ordering::Relaxed);
    if let Some(p) = progress {
        let _ = p.await;
    }

    let mut latency_ns = latency_histogram();
    let mut ok = 0;
    let mut errors = BTreeMap::new();
    for (_, stats) in results {
        latency_ns
            .add(&stats.latency_ns)
            .expect("histograms of the same bounds merge");
        ok += stats.ok;
        for (label, n) in stats.errors {
            *errors.entry(label).or_insert(0) += n;
        }
    }
    let report = Report::new(
        args,
        &address,
        workers,
        payloads.len(),
        elapsed,
        ok,
        errors,
        &latency_ns,
    );
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).expect("reports serialize");
        std::fs::write(path, text + "\n").map_err(|source| BenchError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(report)
}

/// Spawns one task per caller and waits for all; returns callers and stats in order.
async fn spawn_all<F, Fut>(callers: Vec<Caller>, mut task: F) -> Vec<(Caller, WorkerStats)>
where
    F: FnMut(Caller, usize) -> Fut,
    Fut: std::future::Future<Output = (Caller, WorkerStats)> + Send + 'static,
{
    let handles: Vec<_> = callers
        .into_iter()
        .enumerate()
        .map(|(k, c)| tokio::spawn(task(c, k)))
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("bench workers do not panic"));
    }
    out
}

async fn closed_loop(mut caller: Caller, phase: Arc<Phase>) -> (Caller, WorkerStats) {
    let mut stats = WorkerStats::new();
    let n = phase.payloads.len() as u64;
    loop {
        let i = phase.next.fetch_add(1, Ordering::Relaxed);
        if phase.limit.is_some_and(|limit| i >= limit) {
            break;
        }
        let sent = Instant::now();
        if phase.deadline.is_some_and(|d| sent >= d) {
            break;
        }
        let result = caller.call(&phase.payloads[(i % n) as usize]).await;
        stats.record(result, sent.elapsed());
        phase.done.fetch_add(1, Ordering::Relaxed);
    }
    (caller, stats)
}

/// Worker `k` of `workers` sends requests `k, k + workers, ...`, request `i`
/// at `start + i * interval` (or at once when late), and measures latency from
/// that scheduled time.
async fn open_loop(
    mut caller: Caller,
    phase: Arc<Phase>,
    start: Instant,
    interval: f64,
    k: u64,
    workers: u64,
) -> (Caller, WorkerStats) {
    let mut stats = WorkerStats::new();
    let n = phase.payloads.len() as u64;
    let mut i = k;
    loop {
        if phase.limit.is_some_and(|limit| i >= limit) {
            break;
        }
        let scheduled = start + Duration::from_secs_f64(i as f64 * interval);
        if phase.deadline.is_some_and(|d| scheduled >= d) {
            break;
        }
        wait_until(scheduled).await;
        let result = caller.call(&phase.payloads[(i % n) as usize]).await;
        stats.record(result, scheduled.elapsed());
        phase.done.fetch_add(1, Ordering::Relaxed);
        i += workers;
    }
    (caller, stats)
}

/// Sleeps until `when`. tokio's timer has millisecond granularity and wakes
/// late rather than early, which would add up to 1 ms to every open-loop
/// latency; so it sleeps to 1 ms before and yields for the rest.
async fn wait_until(when: Instant) {
    const SLACK: Duration = Duration::from_millis(1);
    let now = Instant::now();
    if when <= now {
        return;
    }
    if when - now > SLACK {
        tokio::time::sleep_until((when - SLACK).into()).await;
    }
    while Instant::now() < when {
        tokio::task::yield_now().await;
    }
}

/// A progress bar on standard output when it is a terminal, updated from the
/// shared counter until the phase stops.
fn progress_bar(
    phase: &Arc<Phase>,
    start: Instant,
    duration: Option<f64>,
) -> Option<tokio::task::JoinHandle<()>> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let (len, by_time) = match (phase.limit, duration) {
        (Some(n), _) => (n, false),
        (None, Some(d)) => ((d * 1000.0) as u64, true),
        (None, None) => (0, false),
    };
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stdout());
    let template = if by_time {
        "{bar:40} {elapsed}/{duration} {msg}"
    } else {
        "{bar:40} {pos}/{len} {msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    let phase = Arc::clone(phase);
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        while !phase.stop.load(Ordering::Relaxed) {
            tick.tick().await;
            let done = phase.done.load(Ordering::Relaxed);
            let secs = start.elapsed().as_secs_f64();
            if by_time {
                bar.set_position((secs * 1000.0) as u64);
            } else {
                bar.set_position(done);
            }
            bar.set_message(format!("{done} requests, {:.0}/s", done as f64 / secs.max(1e-9)));
        }
        bar.finish_and_clear();
    }))
}
