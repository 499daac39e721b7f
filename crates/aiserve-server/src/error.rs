//! The one place where runtime errors become gRPC statuses.

use aiserve_core::Error;
use tonic::{Code, Status};

/// Maps a runtime error to the gRPC status a client sees.
pub fn to_status(error: Error) -> Status {
    let code = match &error {
        Error::ModelNotFound(_) | Error::VersionNotFound { .. } => Code::NotFound,
        Error::Unavailable { .. } | Error::ShuttingDown => Code::Unavailable,
        Error::InvalidArgument(_) => Code::InvalidArgument,
        Error::ResourceExhausted(_) => Code::ResourceExhausted,
        Error::FailedPrecondition(_) => Code::FailedPrecondition,
        Error::Load { .. } => Code::Internal,
        Error::Backend { .. } => Code::Internal,
    };
    Status::new(code, error.to_string())
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
        assert!(s.message().contains("'m'") && s.message().contains("unloaded"));
    }
}
