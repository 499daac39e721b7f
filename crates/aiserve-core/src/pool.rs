//! The inference pool: a fixed set of threads that run model executions, so
//! CPU-heavy work never blocks the async workers that serve connections.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread;

use tokio::sync::oneshot;

use crate::Error;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed-size pool of inference threads fed by one queue.
#[derive(Debug, Clone)]
pub struct InferencePool {
    sender: crossbeam_channel::Sender<Job>,
    threads: usize,
}

impl InferencePool {
    /// Starts `threads` threads (at least one).
    pub fn new(threads: usize) -> InferencePool {
        let threads = threads.max(1);
        let (sender, receiver) = crossbeam_channel::unbounded::<Job>();
        for i in 0..threads {
            let receiver = receiver.clone();
            thread::Builder::new()
                .name(format!("aiserve-infer-{i}"))
                .spawn(move || {
                    while let Ok(job) = receiver.recv() {
                        job();
                    }
                })
                .expect("an inference thread starts");
        }
        InferencePool { sender, threads }
    }

    /// The number of threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Starts `work` on a pool thread without waiting for it. `work` must
    /// deal with its own panics and results (the dynamic batcher answers its
    /// requests from the pool thread).
    pub fn spawn(&self, work: impl FnOnce() + Send + 'static) {
        let _ = self.sender.send(Box::new(work));
    }

    /// Runs `work` on a pool thread and waits for its result. If the caller
    /// stops waiting (the request was cancelled) before a thread picks the job
    /// up, the work is skipped. A panic in `work` becomes an error instead of
    /// taking the thread down.
    pub async fn run<T, F>(&self, model: &str, work: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, Error> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let name = model.to_string();
        let job: Job = Box::new(move || {
            if tx.is_closed() {
                return; // cancelled while queued: not computed
            }
            let _ = tx.send(guarded(&name, work));
        });
        self.sender.send(job).map_err(|_| Error::ShuttingDown)?;
        rx.await.unwrap_or(Err(Error::ShuttingDown))
    }
}

/// Runs `work`, turning a panic in it into [`Error::Backend`] for `model`,
/// so an engine's bug fails one request instead of a thread.
pub fn guarded<T>(model: &str, work: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panicked".to_string());
        Err(Error::Backend {
            model: model.to_string(),
            message: format!("the engine panicked: {message}"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_work_and_survives_panics() {
        let pool = InferencePool::new(2);
        assert_eq!(pool.run("m", || Ok(2 + 2)).await.unwrap(), 4);
        let err = pool
            .run::<(), _>("m", || panic!("boom"))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("boom") && err.contains("'m'"), "{err}");
        assert_eq!(pool.run("m", || Ok(1)).await.unwrap(), 1);
    }
}
