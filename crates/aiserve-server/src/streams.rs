//! Bidirectional streams of requests, answered in order.

use std::future::Future;
use std::pin::Pin;

use futures::{Stream, StreamExt};
use tonic::{Status, Streaming};

/// How many requests of one stream run at once. Responses keep the order of
/// the requests.
pub const STREAM_CONCURRENCY: usize = 16;

/// The response stream type of the streaming methods.
pub type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Answers every message of `requests` with `handle`, up to
/// [`STREAM_CONCURRENCY`] at a time, in order. A message the transport could
/// not read ends the stream with its status (RESOURCE_EXHAUSTED for one over
/// the size limit, as for unary calls).
pub fn answer_in_order<Req, Resp, F, Fut>(requests: Streaming<Req>, handle: F) -> ResponseStream<Resp>
where
    Req: Send + 'static,
    Resp: Send + 'static,
    F: Fn(Req) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Resp, Status>> + Send + 'static,
{
    let responses = requests
        .map(move |item| {
            let answer = item.map(&handle);
            async move {
                match answer {
                    Ok(fut) => fut.await,
                    Err(status) if crate::layers::is_over_limit(&status) => {
                        Err(crate::layers::over_limit_status(&status))
                    }
                    Err(status) => Err(status),
                }
            }
        })
        .buffered(STREAM_CONCURRENCY);
    Box::pin(responses)
}
