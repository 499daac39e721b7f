//! Per-version inference statistics (Triton's `ModelStatistics`), kept with
//! atomics so recording never takes a lock on the request path.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A count and the total time of the things counted.
#[derive(Debug, Default)]
pub struct DurationStat {
    count: AtomicU64,
    ns: AtomicU64,
}

impl DurationStat {
    /// Adds one occurrence that took `d`.
    pub fn record(&self, d: Duration) {
        self.count.fetch_add(1, Relaxed);
        self.ns.fetch_add(d.as_nanos() as u64, Relaxed);
    }

    /// (count, total nanoseconds).
    pub fn get(&self) -> (u64, u64) {
        (self.count.load(Relaxed), self.ns.load(Relaxed))
    }
}

/// Cumulative statistics of one model version.
#[derive(Debug, Default)]
pub struct VersionStats {
    /// Requests that succeeded, with their end-to-end time in the runtime.
    pub success: DurationStat,
    /// Requests that failed after reaching the model.
    pub fail: DurationStat,
    /// Time spent waiting for an instance and a pool thread.
    pub queue: DurationStat,
    /// Time spent in the engine.
    pub compute_infer: DurationStat,
    /// Items inferred (a batch of 8 counts 8).
    pub inference_count: AtomicU64,
    /// Engine executions (a batch of 8 counts 1).
    pub execution_count: AtomicU64,
    /// Milliseconds since the epoch of the last inference; 0 if none.
    pub last_inference_ms: AtomicU64,
}

impl VersionStats {
    /// Records one successful execution of `items` items.
    pub fn record_execution(&self, items: u64) {
        self.inference_count.fetch_add(items, Relaxed);
        self.execution_count.fetch_add(1, Relaxed);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        self.last_inference_ms.store(now, Relaxed);
    }
}
