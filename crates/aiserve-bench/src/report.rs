//! The result of a run: what was measured and how, as a human summary
//! (`Display`) and as JSON (`Serialize`, the `--json` file).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::{BenchArgs, CallKind};

/// Latency of the successful requests, in microseconds (from an HDR
/// histogram with 3 significant figures).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LatencySummary {
    /// Successful requests measured.
    pub count: u64,
    /// Fastest.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest.
    pub max: f64,
}

/// Everything a run measured, and the settings it ran with.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What was called.
    pub kind: CallKind,
    /// The server address.
    pub server: String,
    /// The transport, e.g. "gRPC over HTTP/2" or "HTTP/1.1 keep-alive".
    pub transport: String,
    /// `--connections`.
    pub connections: usize,
    /// `--streams` (requests in flight per connection).
    pub streams: usize,
    /// Concurrent workers (`connections x streams`).
    pub workers: usize,
    /// "closed-loop" or "open-loop".
    pub mode: &'static str,
    /// Open loop: the scheduled rate in requests per second.
    pub rate: Option<f64>,
    /// The model asked for (absent: the server's default).
    pub model: Option<String>,
    /// Distinct payloads cycled through.
    pub payloads: usize,
    /// Warm-up requests sent before measuring (not counted below).
    pub warmup: u64,
    /// Measured requests completed (successes and errors).
    pub requests: u64,
    /// Successful requests.
    pub ok: u64,
    /// Failed requests.
    pub errors: u64,
    /// Failed requests by gRPC code name (`NOT_FOUND`), HTTP status (`404`)
    /// or `connection error`.
    pub errors_by_status: BTreeMap<String, u64>,
    /// Seconds from the first send to the last answer.
    pub duration_s: f64,
    /// Completed requests per second.
    pub throughput_rps: f64,
    /// Successful requests per second.
    pub ok_rps: f64,
    /// Latency of the successful requests (open loop: from each request's scheduled time).
    pub latency_us: LatencySummary,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        args: &BenchArgs,
        server: &str,
        workers: usize,
        payloads: usize,
        elapsed: Duration,
        ok: u64,
        errors_by_status: BTreeMap<String, u64>,
        latency_ns: &Histogram<u64>,
    ) -> Report {
        let errors: u64 = errors_by_status.values().sum();
        let requests = ok + errors;
        let secs = elapsed.as_secs_f64().max(1e-9);
        let us = |ns: u64| ns as f64 / 1000.0;
        let empty = latency_ns.is_empty();
        let q = |q: f64| {
            if empty {
                0.0
            } else {
                us(latency_ns.value_at_quantile(q))
            }
        };
        let transport = if args.kind.is_http() {
            "HTTP/1.1 keep-alive, one connection per worker"
        } else {
            "gRPC over HTTP/2"
        };
        Report {
            kind: args.kind,
            server: server.to_string(),
            transport: transport.to_string(),
            connections: args.connections,
            streams: args.streams,
            workers,
            mode: if args.rate.is_some() {
                "open-loop"
            } else {
                "closed-loop"
            },
            rate: args.rate,
            model: args.model.clone(),
            payloads,
            warmup: args.warmup,
            requests,
            ok,
            errors,
            errors_by_status,
            duration_s: secs,
            throughput_rps: requests as f64 / secs,
            ok_rps: ok as f64 / secs,
            latency_us: LatencySummary {
                count: latency_ns.len(),
                min: if empty { 0.0 } else { us(latency_ns.min()) },
                mean: if empty { 0.0 } else { latency_ns.mean() / 1000.0 },
                p50: q(0.5),
                p90: q(0.9),
                p99: q(0.99),
                p999: q(0.999),
                max: if empty { 0.0 } else { us(latency_ns.max()) },
            },
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let model = self.model.as_deref().unwrap_or("(server default)");
        writeln!(
            f,
            "{} against {} ({})",
            self.kind.name(),
            self.server,
            self.transport
        )?;
        write!(
            f,
            "model {model}, {} connections x {} streams, {}",
            self.connections, self.streams, self.mode
        )?;
        if let Some(r) = self.rate {
            write!(f, " at {r} requests/s")?;
        }
        writeln!(f, ", {} payloads, {} warm-up", self.payloads, self.warmup)?;
        writeln!(
            f,
            "requests: {} in {:.2} s: {:.0} requests/s ({} ok, {} errors)",
            self.requests, self.duration_s, self.throughput_rps, self.ok, self.errors
        )?;
        let l = &self.latency_us;
        writeln!(
            f,
            "latency µs: p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  (min {:.1}, mean {:.1})",
            l.p50, l.p90, l.p99, l.p999, l.max, l.min, l.mean
        )?;
        if !self.errors_by_status.is_empty() {
            let by: Vec<String> = self
                .errors_by_status
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            write!(f, "errors: {}", by.join(", "))?;
        }
        Ok(())
    }
}
