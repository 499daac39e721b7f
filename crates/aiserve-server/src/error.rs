//! The one place where runtime errors become gRPC statuses, and the one
//! place where they become HTTP status codes.

use aiserve_core::Error;
use http::StatusCode;
use tonic::{Code, Status};

/// Maps a runtime error to the gRPC status a client sees.
pub fn to_status(error: Error) -> Status {
    let code = match &error {
        Error::ModelNotFound(_) | Error::VersionNotFound { .. } => Code::NotFound,
        Error::Unavailable { .. } | Error::ShuttingDown => Code::Unavailable,
        Error::InvalidArgument(_) => Code::InvalidArgument,
        Error::ResourceExhausted(_) => Code::ResourceExhausted,
        Error::DeadlineExceeded(_) => Code::DeadlineExceeded,
        Error::FailedPrecondition(_) => Code::FailedPrecondition,
        Error::Load { .. } => Code::Internal,
        Error::Backend { .. } => Code::Internal,
    };
    Status::new(code, error.to_string())
}

/// Maps a runtime error to the HTTP status code a REST client sees (the
/// body carries the error's message).
pub fn to_http_status(error: &Error) -> StatusCode {
    match error {
        Error::ModelNotFound(_) | Error::VersionNotFound { .. } => StatusCode::NOT_FOUND,
        Error::Unavailable { .. } | Error::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        Error::InvalidArgument(_) => StatusCode::BAD_REQUEST,
        Error::ResourceExhausted(_) => StatusCode::TOO_MANY_REQUESTS,
        // The mapping Google's APIs use for DEADLINE_EXCEEDED.
        Error::DeadlineExceeded(_) => StatusCode::GATEWAY_TIMEOUT,
        // Well-formed, but not allowed in the server's current mode.
        Error::FailedPrecondition(_) => StatusCode::CONFLICT,
        Error::Load { .. } | Error::Backend { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(to_status(Error::ModelNotFound("m".into())).code(), Code::NotFound);
        assert_eq!(to_status(Error::invalid("x")).code(), Code::InvalidArgument);
        let s = to_status(Error::Unavailable {
            model: "m".into(),
            reason: "unloaded".into(),
        });
        assert_eq!(s.code(), Code::Unavailable);
        assert_eq!(
            to_status(Error::DeadlineExceeded("x".into())).code(),
            Code::DeadlineExceeded
        );
        assert!(s.message().contains("'m'") && s.message().contains("unloaded"));
    }

    #[test]
    fn http_codes() {
        let code = |e: Error| to_http_status(&e).as_u16();
        assert_eq!(code(Error::ModelNotFound("m".into())), 404);
        assert_eq!(code(Error::invalid("x")), 400);
        assert_eq!(code(Error::ShuttingDown), 503);
        assert_eq!(code(Error::ResourceExhausted("x".into())), 429);
        assert_eq!(code(Error::DeadlineExceeded("x".into())), 504);
        assert_eq!(code(Error::FailedPrecondition("x".into())), 409);
        assert_eq!(code(Error::load("m", "x")), 500);
    }
}
