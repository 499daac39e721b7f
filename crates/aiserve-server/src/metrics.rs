//! The Prometheus endpoint: the process-wide recorder behind the `metrics`
//! facade (the runtime records through it, see `aiserve_core::metrics`) and
//! a small HTTP server that renders it at `GET /metrics`.

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aiserve_core::metrics as names;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

/// Bucket bounds of the duration histograms, in seconds: 50 µs to 10 s.
pub const DURATION_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0,
];

/// Bucket bounds of the batch size histogram.
pub const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// How often histogram samples are folded into their buckets between scrapes
/// (so an unscraped server's memory stays flat).
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

struct Recorder {
    handle: PrometheusHandle,
    started: Instant,
}

static RECORDER: OnceLock<Recorder> = OnceLock::new();

fn recorder() -> &'static Recorder {
    RECORDER.get_or_init(|| {
        let started = Instant::now();
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), DURATION_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(names::BATCH_SIZE.into()), BATCH_BUCKETS))
            .expect("the bucket lists are not empty");
        let handle = match builder.install_recorder() {
            Ok(handle) => handle,
            Err(e) => {
                // Another recorder owns the facade: serve an empty page rather than fail.
                tracing::warn!(error = %e, "cannot install the Prometheus recorder; /metrics will be empty");
                PrometheusBuilder::new().build_recorder().handle()
            }
        };
        describe();
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("aiserve-metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the metrics upkeep thread; scrapes still fold samples");
        }
        Recorder { handle, started }
    })
}

/// Installs the Prometheus recorder for this process, once; later calls do
/// nothing. Call it before models load, so their first states are recorded.
pub fn install_recorder() {
    recorder();
}

fn describe() {
    metrics::describe_counter!(
        names::REQUESTS_TOTAL,
        "Inference requests that reached a model version, by outcome"
    );
    metrics::describe_histogram!(
        names::QUEUE_DURATION,
        Unit::Seconds,
        "Time waiting for a model instance and an inference thread, per execution"
    );
    metrics::describe_histogram!(
        names::COMPUTE_DURATION,
        Unit::Seconds,
        "Time in the engine, per execution"
    );
    metrics::describe_histogram!(
        names::REQUEST_DURATION,
        Unit::Seconds,
        "Time of a whole request in the runtime, success or failure"
    );
    metrics::describe_gauge!(names::INFLIGHT_REQUESTS, "Requests in the runtime now");
    metrics::describe_histogram!(names::BATCH_SIZE, "Items per engine execution");
    metrics::describe_gauge!(
        names::MODEL_STATE,
        "1 for the model's current state, 0 for the others"
    );
    metrics::describe_gauge!(names::UPTIME, Unit::Seconds, "Seconds since the server started");
}

/// The metrics page in Prometheus' text format, with the uptime brought up
/// to date.
pub fn render() -> String {
    let r = recorder();
    metrics::gauge!(names::UPTIME).set(r.started.elapsed().as_secs_f64());
    r.handle.render()
}

async fn scrape() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        render(),
    )
}

/// Serves `GET /metrics` on `listener` until `shutdown` completes. Installs
/// the recorder if [`install_recorder`] was not called yet.
pub async fn serve_metrics(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    install_recorder();
    let app = Router::new().route("/metrics", get(scrape));
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
