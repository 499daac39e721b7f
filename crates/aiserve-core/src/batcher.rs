//! Dynamic batching: concurrent requests to one model version are merged
//! into one engine execution, as Triton's dynamic batcher does.
//!
//! A model opts in with `dynamic_batching { ... }` in its `config.pbtxt`
//! (and `max_batch_size > 0`). Requests wait in a per-version queue; one
//! scheduler task per version takes a free instance, then forms a batch as
//! soon as the queue holds `max_batch_size` rows or the oldest request has
//! waited `max_queue_delay_microseconds`, and hands it to the inference pool.
//! While every instance is busy the queue fills, so batches grow with load
//! and no request waits for the delay when the model is busy anyway.
//!
//! * **Compatibility.** Only requests whose inputs have the same shapes
//!   beyond the batch dimension, and that ask for the same outputs, are
//!   merged (tensors are concatenated along the batch dimension; nothing is
//!   padded here).
//! * **Length grouping.** When more rows wait than fit in one batch, the
//!   oldest request always goes first and is joined by the requests whose
//!   text (`BYTES` elements) is closest in length to its own, so engines that
//!   pad a batch to its longest sequence pad little.
//! * **Queue limit.** `default_queue_policy { max_queue_size: N }` bounds the
//!   queue in requests; beyond it a request fails at once with
//!   [`Error::ResourceExhausted`]. 0 (Triton's default) means no limit.
//! * **Deadlines.** A request's deadline (gRPC's `grpc-timeout`, and the
//!   queue policy's `default_timeout_microseconds`, whichever is sooner)
//!   that passes while it is queued fails it with
//!   [`Error::DeadlineExceeded`]; it is dropped from the queue, not computed.
//! * **Cancellation.** A request whose caller went away (the client
//!   cancelled, the connection closed) is dropped when the batch is formed,
//!   not computed.
//!
//! Not supported (ignored): `preferred_batch_size`, priority levels,
//! `preserve_ordering` (responses go to their own callers; order between
//! callers does not arise).

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{oneshot, Notify, OwnedSemaphorePermit, Semaphore};

use crate::backend::Backend;
use crate::config::ModelSpec;
use crate::metrics::VersionMetrics;
use crate::pool::{guarded, InferencePool};
use crate::stats::VersionStats;
use crate::{Error, Tensor, TensorData};

/// A model's dynamic batching settings, read from its config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchPolicy {
    /// The most rows in one execution (the model's `max_batch_size`).
    pub max_batch_size: usize,
    /// How long the oldest request may wait for others to join it.
    pub max_queue_delay: Duration,
    /// The most requests queued; 0 for no limit.
    pub max_queue_size: usize,
    /// How long a request may stay queued, whatever its own deadline.
    pub queue_timeout: Option<Duration>,
}

impl BatchPolicy {
    /// The policy of a model whose config asks for dynamic batching, `None`
    /// for one that does not (or cannot batch: `max_batch_size` 0).
    pub fn from_spec(spec: &ModelSpec) -> Option<BatchPolicy> {
        use aiserve_proto::inference::model_config::SchedulingChoice;
        let Some(SchedulingChoice::DynamicBatching(db)) = &spec.config.scheduling_choice else {
            return None;
        };
        if spec.max_batch_size == 0 {
            return None;
        }
        let queue = db.default_queue_policy.unwrap_or_default();
        Some(BatchPolicy {
            max_batch_size: spec.max_batch_size,
            max_queue_delay: Duration::from_micros(db.max_queue_delay_microseconds),
            max_queue_size: queue.max_queue_size as usize,
            queue_timeout: (queue.default_timeout_microseconds > 0)
                .then(|| Duration::from_micros(queue.default_timeout_microseconds)),
        })
    }
}

/// What a request gets back from a batched execution.
#[derive(Debug)]
pub(crate) struct Executed {
    /// The request's own rows of each output.
    pub outputs: Vec<Tensor>,
    /// From entering the queue to the engine starting.
    pub queued: Duration,
    /// The execution's engine time.
    pub compute: Duration,
}

type Reply = oneshot::Sender<Result<Executed, Error>>;

/// What is kept of a request while its batch runs: its rows, when it
/// arrived, where its answer goes.
type Waiting = (usize, Instant, Reply);

/// One queued request.
struct Entry {
    inputs: Vec<Tensor>,
    outputs: Vec<String>,
    rows: usize,
    /// The longest text among its `BYTES` elements (0 without any).
    length: usize,
    arrived: Instant,
    deadline: Option<Instant>,
    reply: Reply,
}

impl Entry {
    /// True when `other` can share an execution with this one.
    fn compatible(&self, other: &Entry) -> bool {
        self.outputs == other.outputs
            && self.inputs.len() == other.inputs.len()
            && self
                .inputs
                .iter()
                .zip(&other.inputs)
                .all(|(a, b)| a.shape.get(1..) == b.shape.get(1..) && a.datatype() == b.datatype())
    }

    fn expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| d <= now)
    }
}

/// The longest `BYTES` element of the inputs.
fn text_length(inputs: &[Tensor]) -> usize {
    inputs
        .iter()
        .filter_map(|t| match &t.data {
            TensorData::Bytes(items) => items.iter().map(Vec::len).max(),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

#[derive(Default)]
struct Queue {
    entries: VecDeque<Entry>,
    closed: bool,
}

/// What the scheduler needs to run batches; shared with the version.
struct Shared {
    model: String,
    policy: BatchPolicy,
    queue: Mutex<Queue>,
    wake: Notify,
    backend: Arc<dyn Backend>,
    instances: Arc<Semaphore>,
    pool: InferencePool,
    stats: Arc<VersionStats>,
    metrics: VersionMetrics,
}

/// The dynamic batcher of one model version. Dropping it (when the version
/// is unloaded and no request holds it any more) stops its scheduler.
pub(crate) struct Batcher {
    shared: Arc<Shared>,
    started: OnceLock<()>,
}

impl Drop for Batcher {
    fn drop(&mut self) {
        self.shared.queue.lock().closed = true;
        self.shared.wake.notify_one();
    }
}

impl Batcher {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        model: &str,
        policy: BatchPolicy,
        backend: Arc<dyn Backend>,
        instances: Arc<Semaphore>,
        pool: InferencePool,
        stats: Arc<VersionStats>,
        metrics: VersionMetrics,
    ) -> Batcher {
        Batcher {
            shared: Arc::new(Shared {
                model: model.to_string(),
                policy,
                queue: Mutex::new(Queue::default()),
                wake: Notify::new(),
                backend,
                instances,
                pool,
                stats,
                metrics,
            }),
            started: OnceLock::new(),
        }
    }

    /// The policy in force.
    pub(crate) fn policy(&self) -> &BatchPolicy {
        &self.shared.policy
    }

    /// Queues checked inputs of `rows` rows and waits for their outputs.
    /// Fails at once when the queue is full, and when `deadline` passes
    /// before the result is there (a request still queued then is not
    /// computed). Dropping the returned future withdraws the request.
    pub(crate) async fn submit(
        &self,
        inputs: Vec<Tensor>,
        outputs: Vec<String>,
        rows: usize,
        deadline: Option<Instant>,
    ) -> Result<Executed, Error> {
        self.started.get_or_init(|| {
            tokio::spawn(schedule(Arc::clone(&self.shared)));
        });
        let shared = &self.shared;
        let now = Instant::now();
        let deadline = match (deadline, shared.policy.queue_timeout) {
            (Some(d), Some(t)) => Some(d.min(now + t)),
            (d, t) => d.or(t.map(|t| now + t)),
        };
        if deadline.is_some_and(|d| d <= now) {
            return Err(deadline_exceeded(&shared.model));
        }
        let (reply, result) = oneshot::channel();
        let length = text_length(&inputs);
        {
            let mut queue = shared.queue.lock();
            let limit = shared.policy.max_queue_size;
            if limit > 0 && queue.entries.len() >= limit {
                // Callers that went away do not hold a place.
                queue.entries.retain(|e| !e.reply.is_closed());
            }
            if limit > 0 && queue.entries.len() >= limit {
                return Err(Error::ResourceExhausted(format!(
                    "model '{}': the batch queue is full ({limit} requests waiting, the config's max_queue_size); retry later",
                    shared.model
                )));
            }
            queue.entries.push_back(Entry {
                length,
                inputs,
                outputs,
                rows,
                arrived: now,
                deadline,
                reply,
            });
        }
        shared.wake.notify_one();
        let answered = match deadline {
            Some(d) => tokio::time::timeout_at(d.into(), result)
                .await
                .map_err(|_| deadline_exceeded(&shared.model))?,
            None => result.await,
        };
        answered.unwrap_or(Err(Error::ShuttingDown))
    }
}

fn deadline_exceeded(model: &str) -> Error {
    Error::DeadlineExceeded(format!(
        "model '{model}': the request's deadline passed while it was queued; it was not computed"
    ))
}

/// The scheduler of one version: takes an instance, waits for a batch,
/// starts it on the pool, and again, until the batcher is dropped and its
/// queue is empty.
async fn schedule(shared: Arc<Shared>) {
    loop {
        let Ok(permit) = Arc::clone(&shared.instances).acquire_owned().await else {
            return;
        };
        let Some(batch) = next_batch(&shared).await else {
            return;
        };
        let job_shared = Arc::clone(&shared);
        shared.pool.spawn(move || execute(&job_shared, batch, permit));
    }
}

/// Waits until a batch is due and takes it; `None` once the batcher is
/// closed and drained.
async fn next_batch(shared: &Shared) -> Option<Vec<Entry>> {
    let policy = &shared.policy;
    loop {
        let due = {
            let mut queue = shared.queue.lock();
            drop_dead(&shared.model, &mut queue.entries, Instant::now());
            match queue.entries.front() {
                None if queue.closed => return None,
                None => None,
                Some(oldest) => {
                    let due = oldest.arrived + policy.max_queue_delay;
                    let rows: usize = queue.entries.iter().map(|e| e.rows).sum();
                    if rows >= policy.max_batch_size || Instant::now() >= due || queue.closed {
                        return Some(take_batch(&mut queue.entries, policy.max_batch_size));
                    }
                    Some(due)
                }
            }
        };
        match due {
            Some(due) => {
                tokio::select! {
                    _ = shared.wake.notified() => {}
                    _ = tokio::time::sleep_until(due.into()) => {}
                }
            }
            None => shared.wake.notified().await,
        }
    }
}

/// Removes requests whose caller went away (not computed, nobody to tell)
/// and requests past their deadline (told so, not computed).
fn drop_dead(model: &str, entries: &mut VecDeque<Entry>, now: Instant) {
    entries.retain_mut(|e| {
        if e.reply.is_closed() {
            return false;
        }
        if e.expired(now) {
            let (dummy, _) = oneshot::channel();
            let reply = std::mem::replace(&mut e.reply, dummy);
            let _ = reply.send(Err(deadline_exceeded(model)));
            return false;
        }
        true
    });
}

/// Takes the next batch: the oldest request, then the compatible requests
/// closest to it in text length, while they fit in `max_rows`.
fn take_batch(entries: &mut VecDeque<Entry>, max_rows: usize) -> Vec<Entry> {
    let Some(head) = entries.pop_front() else {
        return Vec::new();
    };
    let mut candidates: Vec<usize> = (0..entries.len())
        .filter(|&i| head.compatible(&entries[i]))
        .collect();
    let total: usize = candidates.iter().map(|&i| entries[i].rows).sum();
    if head.rows + total > max_rows {
        // Closest in length first; among equals, the older first.
        candidates.sort_by_key(|&i| (entries[i].length.abs_diff(head.length), i));
    }
    let mut rows = head.rows;
    let mut chosen = Vec::new();
    for i in candidates {
        if rows + entries[i].rows <= max_rows {
            rows += entries[i].rows;
            chosen.push(i);
        }
    }
    chosen.sort_unstable();
    let mut batch = Vec::with_capacity(chosen.len() + 1);
    batch.push(head);
    for (taken, i) in chosen.into_iter().enumerate() {
        batch.extend(entries.remove(i - taken));
    }
    batch
}

/// Runs one batch on a pool thread and answers each of its requests.
fn execute(shared: &Shared, batch: Vec<Entry>, permit: OwnedSemaphorePermit) {
    let _permit = permit;
    // Callers that went away since the batch was formed are not computed.
    let batch: Vec<Entry> = batch.into_iter().filter(|e| !e.reply.is_closed()).collect();
    if batch.is_empty() {
        return;
    }
    let started = Instant::now();
    let rows: usize = batch.iter().map(|e| e.rows).sum();
    let outputs = batch[0].outputs.clone();
    let (inputs, meta): (Vec<Vec<Tensor>>, Vec<Waiting>) = batch
        .into_iter()
        .map(|e| (e.inputs, (e.rows, e.arrived, e.reply)))
        .unzip();
    let result = merge(inputs, rows)
        .and_then(|merged| guarded(&shared.model, || shared.backend.infer(merged, &outputs)));
    let compute = started.elapsed();
    if result.is_ok() {
        shared.stats.record_execution(rows as u64);
        shared.metrics.batch(rows as u64);
    }
    match result.and_then(|outs| split(&shared.model, outs, meta.iter().map(|m| m.0), rows)) {
        Ok(parts) => {
            for ((_, arrived, reply), outputs) in meta.into_iter().zip(parts) {
                let _ = reply.send(Ok(Executed {
                    outputs,
                    queued: started.saturating_duration_since(arrived),
                    compute,
                }));
            }
        }
        Err(e) => {
            for (_, _, reply) in meta {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

/// Concatenates each input of the requests along the batch dimension.
fn merge(mut requests: Vec<Vec<Tensor>>, rows: usize) -> Result<Vec<Tensor>, Error> {
    if requests.len() == 1 {
        return Ok(requests.pop().expect("one request"));
    }
    let inputs = requests[0].len();
    (0..inputs)
        .map(|i| {
            let first = &requests[0][i];
            let data = TensorData::concat(requests.iter().map(|r| &r[i].data)).ok_or_else(|| {
                Error::invalid(format!("input '{}': data types differ in one batch", first.name))
            })?;
            let mut shape = first.shape.clone();
            shape[0] = rows as i64;
            Ok(Tensor::new(first.name.clone(), shape, data))
        })
        .collect()
}

/// Splits each output of a batch of `total` rows into the requests' rows.
fn split(
    model: &str,
    outputs: Vec<Tensor>,
    rows: impl Iterator<Item = usize> + Clone,
    total: usize,
) -> Result<Vec<Vec<Tensor>>, Error> {
    let requests = rows.clone().count();
    let mut parts: Vec<Vec<Tensor>> = (0..requests).map(|_| Vec::with_capacity(outputs.len())).collect();
    for out in outputs {
        if out.shape.first().copied() != Some(total as i64) || out.data.len() % total.max(1) != 0 {
            return Err(Error::Backend {
                model: model.to_string(),
                message: format!(
                    "output '{}' has shape {:?} for a batch of {total}; a batching model's outputs start with the batch dimension",
                    out.name, out.shape
                ),
            });
        }
        if requests == 1 {
            parts[0].push(out);
            continue;
        }
        let per_row = out.data.len() / total.max(1);
        let mut start = 0;
        for (part, n) in parts.iter_mut().zip(rows.clone()) {
            let mut shape = out.shape.clone();
            shape[0] = n as i64;
            let data = out.data.slice(start * per_row..(start + n) * per_row);
            part.push(Tensor::new(out.name.clone(), shape, data));
            start += n;
        }
    }
    Ok(parts)
}

#[cfg(test)]
mod tests;
