//! The one error type of the runtime. Frontends map it to their protocol's
//! status (gRPC code, HTTP status) in one place each.

/// What went wrong while loading, resolving or running a model.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// No model of that name is in the repository.
    #[error("model '{0}' is not in the repository")]
    ModelNotFound(String),
    /// The model exists but not that version.
    #[error("model '{model}' has no version '{version}'")]
    VersionNotFound {
        /// The model.
        model: String,
        /// The version asked for.
        version: String,
    },
    /// The model is known but not ready: loading, unloaded or failed to load.
    #[error("model '{model}' is unavailable: {reason}")]
    Unavailable {
        /// The model.
        model: String,
        /// Why: "loading", "unloaded", or the load error.
        reason: String,
    },
    /// The request does not fit the model: the message names what is wrong.
    #[error("{0}")]
    InvalidArgument(String),
    /// A limit was reached (queue full, too many elements).
    #[error("{0}")]
    ResourceExhausted(String),
    /// The request's deadline (e.g. gRPC's `grpc-timeout`, or the model's
    /// queue timeout) passed before it was computed; it was not computed.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// The operation is not allowed in the server's current mode.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A model's configuration or files are not usable.
    #[error("model '{model}': {message}")]
    Load {
        /// The model.
        model: String,
        /// What is wrong with it.
        message: String,
    },
    /// The engine failed while running a model.
    #[error("model '{model}' failed: {message}")]
    Backend {
        /// The model.
        model: String,
        /// The engine's message.
        message: String,
    },
    /// The server is shutting down and takes no new work.
    #[error("the server is shutting down")]
    ShuttingDown,
}

impl Error {
    /// An [`Error::InvalidArgument`] with this message.
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::InvalidArgument(message.into())
    }

    /// An [`Error::Load`] for `model`.
    pub fn load(model: &str, message: impl Into<String>) -> Error {
        Error::Load {
            model: model.to_string(),
            message: message.into(),
        }
    }
}
