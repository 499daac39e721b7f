//! The model runtime of aiserve: tensors, model configs, the repository, the
//! registry of loaded models, the backend interface and the inference pool.
//!
//! Frontends (gRPC, HTTP) turn protocol messages into [`InferRequest`]s and
//! map [`Error`] to their status codes; backends implement [`Backend`] and
//! know nothing of protocols.

#![warn(missing_docs)]

pub mod backend;
pub mod batcher;
pub mod config;
mod datatype;
mod error;
pub mod json;
pub mod metrics;
pub mod pool;
pub mod protocol;
pub mod registry;
pub mod repository;
pub mod stats;
mod tensor;

pub use backend::{Backend, BackendFactory, LoadContext};
pub use batcher::BatchPolicy;
pub use config::{ModelSpec, TensorSpec, VersionPolicy};
pub use datatype::DataType;
pub use error::Error;
pub use registry::{
    Embeddings, IndexEntry, InferRequest, InferResponse, LoadedModel, LoadedVersion, ModelControl,
    ModelRegistry, ModelState, Prediction, RegistryOptions,
};
pub use repository::{EmbeddedModel, ModelRepository, ModelSource};
pub use tensor::{element_count, Tensor, TensorData};

/// Triton's model configuration message, the schema of `config.pbtxt`.
pub use aiserve_proto::inference::ModelConfig;
