//! The runtime's metrics, recorded through the `metrics` facade (the server
//! installs the Prometheus recorder; without one, recording does nothing).
//!
//! Recorded here, not in a frontend, because only the registry knows when a
//! request waited and when it ran, and so every frontend (gRPC, HTTP, the
//! seed's API) is counted the same way. A request is counted once it has
//! resolved to a model version: unknown models and versions are not counted,
//! requests refused by the input checks count as failures.

use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram, Label};

use crate::ModelState;

/// Requests by model, version and outcome (`success` or `failure`).
pub const REQUESTS_TOTAL: &str = "aiserve_requests_total";
/// Time a request waited before the engine started on it: for a free
/// instance, a pool thread and, with dynamic batching, in the batch queue.
pub const QUEUE_DURATION: &str = "aiserve_queue_duration_seconds";
/// Engine time of the execution that answered a request, per request.
pub const COMPUTE_DURATION: &str = "aiserve_compute_duration_seconds";
/// Time of a whole request in the runtime (checks, queue, engine), success or failure.
pub const REQUEST_DURATION: &str = "aiserve_request_duration_seconds";
/// Requests in the runtime right now.
pub const INFLIGHT_REQUESTS: &str = "aiserve_inflight_requests";
/// Rows per engine execution (with dynamic batching, the merged batch).
pub const BATCH_SIZE: &str = "aiserve_batch_size";
/// 1 for a model's current state (`LOADING`, `READY`, `UNAVAILABLE`), 0 for the others.
pub const MODEL_STATE: &str = "aiserve_model_state";
/// Seconds since the process started (set by the exporter on each scrape).
pub const UPTIME: &str = "aiserve_uptime_seconds";

/// The metric handles of one model version, registered once at load so the
/// request path does no lookups.
#[derive(Debug, Clone)]
pub(crate) struct VersionMetrics {
    success: Counter,
    failure: Counter,
    queue: Histogram,
    compute: Histogram,
    request: Histogram,
    inflight: Gauge,
    batch: Histogram,
}

impl VersionMetrics {
    pub(crate) fn new(model: &str, version: u64) -> VersionMetrics {
        let labels = vec![
            Label::new("model", model.to_string()),
            Label::new("version", version.to_string()),
        ];
        let with_outcome = |outcome: &'static str| {
            let mut l = labels.clone();
            l.push(Label::new("outcome", outcome));
            l
        };
        VersionMetrics {
            success: metrics::counter!(REQUESTS_TOTAL, with_outcome("success")),
            failure: metrics::counter!(REQUESTS_TOTAL, with_outcome("failure")),
            queue: metrics::histogram!(QUEUE_DURATION, labels.clone()),
            compute: metrics::histogram!(COMPUTE_DURATION, labels.clone()),
            request: metrics::histogram!(REQUEST_DURATION, labels.clone()),
            inflight: metrics::gauge!(INFLIGHT_REQUESTS, labels.clone()),
            batch: metrics::histogram!(BATCH_SIZE, labels),
        }
    }

    /// Starts timing a request; the in-flight gauge counts it until the
    /// timer is finished or dropped.
    pub(crate) fn request(&self) -> RequestTimer<'_> {
        self.inflight.increment(1.0);
        RequestTimer {
            metrics: self,
            start: Instant::now(),
            done: false,
        }
    }

    /// Records how long one request waited for the engine and how long the
    /// execution that answered it took (when the engine ran).
    pub(crate) fn request_times(&self, queue: Duration, compute: Option<Duration>) {
        self.queue.record(queue.as_secs_f64());
        if let Some(c) = compute {
            self.compute.record(c.as_secs_f64());
        }
    }

    /// Records the size of one successful engine execution.
    pub(crate) fn batch(&self, rows: u64) {
        self.batch.record(rows as f64);
    }
}

/// One request in the runtime. Dropped unfinished (the caller went away), it
/// counts as a failure.
pub(crate) struct RequestTimer<'a> {
    metrics: &'a VersionMetrics,
    start: Instant,
    done: bool,
}

impl RequestTimer<'_> {
    /// Records the outcome and the duration.
    pub(crate) fn finish(mut self, ok: bool) {
        self.record(ok);
    }

    fn record(&mut self, ok: bool) {
        self.done = true;
        if ok {
            self.metrics.success.increment(1);
        } else {
            self.metrics.failure.increment(1);
        }
        self.metrics.request.record(self.start.elapsed().as_secs_f64());
        self.metrics.inflight.decrement(1.0);
    }
}

impl Drop for RequestTimer<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.record(false);
        }
    }
}

/// Sets the state gauges of `model`: 1 for `state`, 0 for the others.
pub(crate) fn set_model_state(model: &str, state: ModelState) {
    for s in [ModelState::Loading, ModelState::Ready, ModelState::Unavailable] {
        let value = if s == state { 1.0 } else { 0.0 };
        metrics::gauge!(MODEL_STATE, "model" => model.to_string(), "state" => s.as_str()).set(value);
    }
}
