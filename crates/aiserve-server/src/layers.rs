//! Tower layers around every gRPC service.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response};
use tower::{Layer, Service};

/// tonic rejects a request message over the size limit with OUT_OF_RANGE; the
/// gRPC spec (and every other implementation) says RESOURCE_EXHAUSTED. This
/// layer rewrites those rejections, with a message that names the limit's flag.
#[derive(Debug, Clone, Copy, Default)]
pub struct MessageLimitStatusLayer;

impl<S> Layer<S> for MessageLimitStatusLayer {
    type Service = MessageLimitStatus<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MessageLimitStatus { inner }
    }
}

/// The service made by [`MessageLimitStatusLayer`].
#[derive(Debug, Clone)]
pub struct MessageLimitStatus<S> {
    inner: S,
}

/// True when `status` is tonic's over-the-limit rejection of a request.
pub fn is_over_limit(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::OutOfRange && status.message().contains("decoded message length too large")
}

/// The status a client should see for tonic's over-the-limit rejection.
pub fn over_limit_status(status: &tonic::Status) -> tonic::Status {
    tonic::Status::resource_exhausted(format!(
        "{} (the server's --max-message-bytes)",
        status.message().trim_start_matches("Error, ")
    ))
}

impl<S, B, R> Service<Request<B>> for MessageLimitStatus<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut response = fut.await?;
            let headers = response.headers_mut();
            if headers.get("grpc-status").map(|v| v.as_bytes()) == Some(b"11") {
                if let Some(status) = tonic::Status::from_header_map(headers) {
                    if is_over_limit(&status) {
                        let mapped = over_limit_status(&status);
                        headers.insert("grpc-status", HeaderValue::from_static("8"));
                        if let Ok(v) = HeaderValue::from_str(&percent_encode(mapped.message())) {
                            headers.insert("grpc-message", v);
                        }
                    }
                }
            }
            Ok(response)
        })
    }
}

/// grpc-message is percent-encoded outside printable ASCII (and '%').
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
