//! The batcher against a test engine that records what it is given and can
//! be held busy, so every test decides exactly what is queued when.
//!
//! The tests hold the engine's gate (a blocking lock) across awaits on
//! purpose: it blocks an inference pool thread, never the test's runtime.
#![allow(clippy::await_holding_lock)]

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// Doubles its one input (FP32 `[n, 1]`, or BYTES `[n, 1]` giving each
/// text's length), records each execution's inputs, and blocks while the
/// test holds `gate`.
#[derive(Default)]
struct Recorder {
    gate: Mutex<()>,
    started: AtomicUsize,
    calls: Mutex<Vec<Vec<Tensor>>>,
    fail: bool,
    wrong_batch: bool,
}

impl Backend for Recorder {
    fn infer(&self, inputs: Vec<Tensor>, outputs: &[String]) -> Result<Vec<Tensor>, Error> {
        self.started.fetch_add(1, Ordering::SeqCst);
        drop(self.gate.lock());
        self.calls.lock().push(inputs.clone());
        if self.fail {
            return Err(Error::Backend {
                model: "m".into(),
                message: "engine failure".into(),
            });
        }
        let input = &inputs[0];
        let values: Vec<f32> = match &input.data {
            TensorData::F32(v) => v.iter().map(|x| x * 2.0).collect(),
            TensorData::Bytes(v) => v.iter().map(|b| b.len() as f32).collect(),
            _ => unreachable!(),
        };
        let mut shape = input.shape.clone();
        if self.wrong_batch {
            shape[0] += 1;
        }
        Ok(vec![Tensor::new(
            outputs[0].clone(),
            shape,
            TensorData::F32(values),
        )])
    }
}

struct Setup {
    batcher: Arc<Batcher>,
    engine: Arc<Recorder>,
    stats: Arc<VersionStats>,
}

fn setup(policy: BatchPolicy, engine: Recorder) -> Setup {
    let engine = Arc::new(engine);
    let stats = Arc::new(VersionStats::default());
    let batcher = Batcher::new(
        "m",
        policy,
        Arc::clone(&engine) as Arc<dyn Backend>,
        Arc::new(Semaphore::new(1)),
        InferencePool::new(2),
        Arc::clone(&stats),
        VersionMetrics::new("m", 1),
    );
    Setup {
        batcher: Arc::new(batcher),
        engine,
        stats,
    }
}

fn policy(max_batch_size: usize) -> BatchPolicy {
    BatchPolicy {
        max_batch_size,
        // Long enough that only a full batch (or a test's own action) starts one.
        max_queue_delay: Duration::from_secs(3600),
        max_queue_size: 0,
        queue_timeout: None,
    }
}

fn number(x: f32) -> Vec<Tensor> {
    vec![Tensor::new("x", vec![1, 1], TensorData::F32(vec![x]))]
}

fn text(s: &str) -> Vec<Tensor> {
    vec![Tensor::new(
        "t",
        vec![1, 1],
        TensorData::Bytes(vec![s.as_bytes().to_vec()]),
    )]
}

fn submit(
    s: &Setup,
    inputs: Vec<Tensor>,
    deadline: Option<Instant>,
) -> tokio::task::JoinHandle<Result<Executed, Error>> {
    let b = Arc::clone(&s.batcher);
    tokio::spawn(async move { b.submit(inputs, vec!["y".into()], 1, deadline).await })
}

async fn until(mut cond: impl FnMut() -> bool) {
    while !cond() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn queued(s: &Setup) -> usize {
    s.batcher.shared.queue.lock().entries.len()
}

fn values(e: &Executed) -> Vec<f32> {
    match &e.outputs[0].data {
        TensorData::F32(v) => v.clone(),
        _ => panic!("not f32"),
    }
}

#[tokio::test]
async fn concurrent_requests_merge_into_full_batches_and_get_their_own_rows() {
    let s = setup(policy(4), Recorder::default());
    let handles: Vec<_> = (0..8).map(|i| submit(&s, number(i as f32), None)).collect();
    for (i, h) in handles.into_iter().enumerate() {
        let got = h.await.unwrap().unwrap();
        assert_eq!(
            values(&got),
            vec![i as f32 * 2.0],
            "request {i} got another's row"
        );
        assert_eq!(got.outputs[0].shape, vec![1, 1]);
    }
    let calls = s.engine.calls.lock();
    let sizes: Vec<i64> = calls.iter().map(|c| c[0].shape[0]).collect();
    assert_eq!(sizes, vec![4, 4], "8 requests, batches of 4");
    assert_eq!(s.stats.execution_count.load(Ordering::Relaxed), 2);
    assert_eq!(s.stats.inference_count.load(Ordering::Relaxed), 8);
}

#[tokio::test]
async fn the_delay_starts_a_partial_batch() {
    let mut p = policy(64);
    p.max_queue_delay = Duration::from_millis(5);
    let s = setup(p, Recorder::default());
    let got = submit(&s, number(3.0), None).await.unwrap().unwrap();
    assert_eq!(values(&got), vec![6.0]);
}

#[tokio::test]
async fn sequences_are_grouped_by_length() {
    let s = setup(policy(2), Recorder::default());
    let gate = s.engine.gate.lock();
    let first = [submit(&s, text("a"), None), submit(&s, text("b"), None)];
    until(|| s.engine.started.load(Ordering::SeqCst) == 1).await;
    let lengths = [10, 100, 12, 98];
    let queued_handles: Vec<_> = lengths
        .iter()
        .map(|n| submit(&s, text(&"x".repeat(*n)), None))
        .collect();
    until(|| queued(&s) == 4).await;
    drop(gate);
    for h in first.into_iter().chain(queued_handles) {
        h.await.unwrap().unwrap();
    }
    let calls = s.engine.calls.lock();
    let groups: Vec<Vec<usize>> = calls[1..]
        .iter()
        .map(|c| match &c[0].data {
            TensorData::Bytes(items) => items.iter().map(Vec::len).collect(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        groups,
        vec![vec![10, 12], vec![100, 98]],
        "the oldest first, joined by the closest length"
    );
}

#[tokio::test]
async fn requests_of_different_shapes_are_not_merged() {
    let s = setup(policy(2), Recorder::default());
    let gate = s.engine.gate.lock();
    let first = [submit(&s, number(1.0), None), submit(&s, number(2.0), None)];
    until(|| s.engine.started.load(Ordering::SeqCst) == 1).await;
    let wide = |x: f32| vec![Tensor::new("x", vec![1, 2], TensorData::F32(vec![x, x + 1.0]))];
    let a = submit(&s, number(3.0), None);
    let b = submit(&s, wide(5.0), None);
    let c = submit(&s, wide(7.0), None);
    until(|| queued(&s) == 3).await;
    drop(gate);
    for h in first {
        h.await.unwrap().unwrap();
    }
    assert_eq!(values(&a.await.unwrap().unwrap()), vec![6.0]);
    assert_eq!(values(&b.await.unwrap().unwrap()), vec![10.0, 12.0]);
    assert_eq!(values(&c.await.unwrap().unwrap()), vec![14.0, 16.0]);
    let calls = s.engine.calls.lock();
    let shapes: Vec<Vec<i64>> = calls.iter().map(|c| c[0].shape.clone()).collect();
    assert_eq!(
        shapes,
        vec![vec![2, 1], vec![1, 1], vec![2, 2]],
        "the two shapes ran apart"
    );
}

#[tokio::test]
async fn a_full_queue_refuses_at_once_with_resource_exhausted() {
    let mut p = policy(2);
    p.max_queue_size = 2;
    let s = setup(p, Recorder::default());
    let gate = s.engine.gate.lock();
    let first = [submit(&s, number(1.0), None), submit(&s, number(2.0), None)];
    until(|| s.engine.started.load(Ordering::SeqCst) == 1).await;
    let waiting = [submit(&s, number(3.0), None), submit(&s, number(4.0), None)];
    until(|| queued(&s) == 2).await;
    let err = s
        .batcher
        .submit(number(5.0), vec!["y".into()], 1, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ResourceExhausted(_)), "{err:?}");
    assert!(
        err.to_string().contains("'m'") && err.to_string().contains("max_queue_size"),
        "{err}"
    );
    drop(gate);
    for h in first.into_iter().chain(waiting) {
        h.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn a_request_whose_deadline_passes_in_the_queue_fails_and_is_not_computed() {
    let s = setup(policy(2), Recorder::default());
    let gate = s.engine.gate.lock();
    let first = [submit(&s, number(1.0), None), submit(&s, number(2.0), None)];
    until(|| s.engine.started.load(Ordering::SeqCst) == 1).await;
    let late = submit(&s, number(7.0), Some(Instant::now() + Duration::from_millis(20)));
    let err = late.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::DeadlineExceeded(_)), "{err:?}");
    assert!(err.to_string().contains("not computed"), "{err}");
    // Already past: refused without queueing.
    let past = s
        .batcher
        .submit(number(8.0), vec!["y".into()], 1, Some(Instant::now()))
        .await
        .unwrap_err();
    assert!(matches!(past, Error::DeadlineExceeded(_)));
    let on_time = [submit(&s, number(3.0), None), submit(&s, number(4.0), None)];
    drop(gate);
    for h in first.into_iter().chain(on_time) {
        h.await.unwrap().unwrap();
    }
    let seen: Vec<f32> = s
        .engine
        .calls
        .lock()
        .iter()
        .flat_map(|c| match &c[0].data {
            TensorData::F32(v) => v.clone(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(seen, vec![1.0, 2.0, 3.0, 4.0], "7 and 8 were never computed");
}

#[tokio::test]
async fn the_queue_timeout_of_the_config_applies_without_a_client_deadline() {
    let mut p = policy(2);
    p.queue_timeout = Some(Duration::from_millis(10));
    let s = setup(p, Recorder::default());
    let err = s
        .batcher
        .submit(number(1.0), vec!["y".into()], 1, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DeadlineExceeded(_)), "{err:?}");
    assert!(s.engine.calls.lock().is_empty());
}

#[tokio::test]
async fn a_cancelled_request_is_not_computed() {
    let s = setup(policy(2), Recorder::default());
    let gate = s.engine.gate.lock();
    let first = [submit(&s, number(1.0), None), submit(&s, number(2.0), None)];
    until(|| s.engine.started.load(Ordering::SeqCst) == 1).await;
    let gone = submit(&s, number(9.0), None);
    until(|| queued(&s) == 1).await;
    gone.abort();
    let _ = gone.await;
    let kept = [submit(&s, number(3.0), None), submit(&s, number(4.0), None)];
    until(|| queued(&s) == 3).await;
    drop(gate);
    for h in first.into_iter().chain(kept) {
        h.await.unwrap().unwrap();
    }
    let calls = s.engine.calls.lock();
    assert!(
        calls
            .iter()
            .all(|c| !matches!(&c[0].data, TensorData::F32(v) if v.contains(&9.0))),
        "the cancelled request reached the engine"
    );
    assert_eq!(calls.len(), 2);
}

#[tokio::test]
async fn an_engine_error_reaches_every_request_of_the_batch() {
    let s = setup(
        policy(2),
        Recorder {
            fail: true,
            ..Default::default()
        },
    );
    let (a, b) = (submit(&s, number(1.0), None), submit(&s, number(2.0), None));
    for h in [a, b] {
        let err = h.await.unwrap().unwrap_err();
        assert!(err.to_string().contains("engine failure"), "{err}");
    }
    assert_eq!(s.stats.execution_count.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn outputs_without_the_batch_dimension_are_an_engine_error() {
    let s = setup(
        policy(2),
        Recorder {
            wrong_batch: true,
            ..Default::default()
        },
    );
    let (a, b) = (submit(&s, number(1.0), None), submit(&s, number(2.0), None));
    for h in [a, b] {
        let err = h.await.unwrap().unwrap_err();
        assert!(
            matches!(err, Error::Backend { .. }) && err.to_string().contains("batch"),
            "{err}"
        );
    }
}

#[test]
fn policy_from_config() {
    let spec = |text: &str| {
        let config = crate::config::parse_pbtxt(text).unwrap();
        ModelSpec::from_config("m", config).unwrap()
    };
    let io = r#"input { name: "x" data_type: TYPE_FP32 dims: [1] } output { name: "y" data_type: TYPE_FP32 dims: [1] }"#;
    assert_eq!(
        BatchPolicy::from_spec(&spec(&format!("max_batch_size: 8 {io}"))),
        None
    );
    assert_eq!(
        BatchPolicy::from_spec(&spec(&format!("max_batch_size: 0 {io} dynamic_batching {{ }}"))),
        None
    );
    let p = BatchPolicy::from_spec(&spec(&format!(
        "max_batch_size: 32 {io} dynamic_batching {{ max_queue_delay_microseconds: 2000 default_queue_policy {{ max_queue_size: 100 default_timeout_microseconds: 5000 }} }}"
    )))
    .unwrap();
    assert_eq!(
        p,
        BatchPolicy {
            max_batch_size: 32,
            max_queue_delay: Duration::from_millis(2),
            max_queue_size: 100,
            queue_timeout: Some(Duration::from_millis(5)),
        }
    );
}
