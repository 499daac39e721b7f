//! A typed async client for aiserve (and any Open Inference Protocol server):
//! the seed's `AIService`, `inference.GRPCInferenceService` and gRPC health.
//!
//! ```no_run
//! # async fn demo() -> Result<(), aiserve_client::ClientError> {
//! let mut client = aiserve_client::Client::connect("127.0.0.1:50051").await?;
//! let p = client.predict("what a wonderful day", None).await?;
//! println!("Prediction result: {}", p.result);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

use std::collections::HashMap;

use aiserve_core::protocol::from_contents;
use aiserve_core::{element_count, DataType, Tensor, TensorData};
use aiserve_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use aiserve_proto::inference::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use aiserve_proto::inference::*;
use aiserve_proto::seed::ai_service_client::AiServiceClient;
use aiserve_proto::seed::{
    EmbedRequest, EmbedResponse, PredictBatchRequest, PredictBatchResponse, PredictRequest, PredictResponse,
};
use bytes::Bytes;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

pub use aiserve_proto::inference::{ModelConfig, ModelMetadataResponse, ModelStatisticsResponse};
pub use tonic_health::ServingStatus;

/// What can go wrong talking to a server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The address is not a valid endpoint.
    #[error("invalid server address '{address}': {message}")]
    Address {
        /// The address given.
        address: String,
        /// Why it is invalid.
        message: String,
    },
    /// The connection could not be made.
    #[error("cannot connect to {address}")]
    Connect {
        /// The address given.
        address: String,
        /// The transport error.
        source: tonic::transport::Error,
    },
    /// The server answered with an error status.
    #[error("{}: {}", .0.code(), .0.message())]
    Status(#[from] tonic::Status),
    /// The server's answer does not decode into tensors.
    #[error("bad response: {0}")]
    Response(String),
}

impl ClientError {
    /// The gRPC status, when the server answered with one.
    pub fn status(&self) -> Option<&tonic::Status> {
        match self {
            ClientError::Status(s) => Some(s),
            _ => None,
        }
    }
}

/// The result of an inference.
#[derive(Debug, Clone)]
pub struct InferOutput {
    /// The model that answered.
    pub model: String,
    /// The version that answered.
    pub version: String,
    /// The outputs.
    pub outputs: Vec<Tensor>,
}

/// How to send input tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// In `raw_input_contents` (compact; what Triton's clients send).
    #[default]
    Raw,
    /// In typed `contents` fields.
    Typed,
}

/// A connection to one server; cheap to clone (clones share the channel).
#[derive(Debug, Clone)]
pub struct Client {
    channel: Channel,
    seed: AiServiceClient<Channel>,
    v2: GrpcInferenceServiceClient<Channel>,
}

impl Client {
    /// Connects to `address` (`host:port` or `http://host:port`).
    pub async fn connect(address: &str) -> Result<Client, ClientError> {
        let uri = if address.contains("://") {
            address.to_string()
        } else {
            format!("http://{address}")
        };
        let endpoint = Endpoint::from_shared(uri).map_err(|e| ClientError::Address {
            address: address.to_string(),
            message: e.to_string(),
        })?;
        let channel = endpoint
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(|source| ClientError::Connect {
                address: address.to_string(),
                source,
            })?;
        Ok(Client::from_channel(channel))
    }

    /// Uses an existing channel.
    pub fn from_channel(channel: Channel) -> Client {
        let max = 64 * 1024 * 1024;
        Client {
            seed: AiServiceClient::new(channel.clone())
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
            v2: GrpcInferenceServiceClient::new(channel.clone())
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
            channel,
        }
    }

    /// The generated `AIService` client, for calls this type does not wrap.
    pub fn seed(&self) -> AiServiceClient<Channel> {
        self.seed.clone()
    }

    /// The generated Open Inference Protocol client.
    pub fn inference(&self) -> GrpcInferenceServiceClient<Channel> {
        self.v2.clone()
    }

    /// `AIService.predict`: scores one text (the default model when `model` is `None`).
    pub async fn predict(&mut self, text: &str, model: Option<&str>) -> Result<PredictResponse, ClientError> {
        let req = PredictRequest {
            data: text.to_string(),
            model: model.unwrap_or_default().to_string(),
            model_version: String::new(),
        };
        Ok(self.seed.predict(req).await?.into_inner())
    }

    /// `AIService.predict_batch`: scores many texts in one call.
    pub async fn predict_batch(
        &mut self,
        texts: Vec<String>,
        model: Option<&str>,
    ) -> Result<PredictBatchResponse, ClientError> {
        let req = PredictBatchRequest {
            data: texts,
            model: model.unwrap_or_default().to_string(),
            model_version: String::new(),
        };
        Ok(self.seed.predict_batch(req).await?.into_inner())
    }

    /// `AIService.embed`: one vector per text, from `model` (the server's
    /// default model when `None`).
    pub async fn embed(
        &mut self,
        texts: Vec<String>,
        model: Option<&str>,
    ) -> Result<EmbedResponse, ClientError> {
        let req = EmbedRequest {
            texts,
            model: model.unwrap_or_default().to_string(),
            model_version: String::new(),
        };
        Ok(self.seed.embed(req).await?.into_inner())
    }

    /// `ServerLive`.
    pub async fn server_live(&mut self) -> Result<bool, ClientError> {
        Ok(self.v2.server_live(ServerLiveRequest {}).await?.into_inner().live)
    }

    /// `ServerReady`.
    pub async fn server_ready(&mut self) -> Result<bool, ClientError> {
        Ok(self
            .v2
            .server_ready(ServerReadyRequest {})
            .await?
            .into_inner()
            .ready)
    }

    /// `ServerMetadata`.
    pub async fn server_metadata(&mut self) -> Result<ServerMetadataResponse, ClientError> {
        Ok(self
            .v2
            .server_metadata(ServerMetadataRequest {})
            .await?
            .into_inner())
    }

    /// `ModelReady` (`version` empty for the newest).
    pub async fn model_ready(&mut self, name: &str, version: &str) -> Result<bool, ClientError> {
        let req = ModelReadyRequest {
            name: name.into(),
            version: version.into(),
        };
        Ok(self.v2.model_ready(req).await?.into_inner().ready)
    }

    /// `ModelMetadata`.
    pub async fn model_metadata(
        &mut self,
        name: &str,
        version: &str,
    ) -> Result<ModelMetadataResponse, ClientError> {
        let req = ModelMetadataRequest {
            name: name.into(),
            version: version.into(),
        };
        Ok(self.v2.model_metadata(req).await?.into_inner())
    }

    /// `ModelConfig`.
    pub async fn model_config(&mut self, name: &str, version: &str) -> Result<ModelConfig, ClientError> {
        let req = ModelConfigRequest {
            name: name.into(),
            version: version.into(),
        };
        self.v2
            .model_config(req)
            .await?
            .into_inner()
            .config
            .ok_or_else(|| ClientError::Response("ModelConfig response has no config".into()))
    }

    /// `ModelStatistics` (empty `name` for every model).
    pub async fn model_statistics(
        &mut self,
        name: &str,
        version: &str,
    ) -> Result<ModelStatisticsResponse, ClientError> {
        let req = ModelStatisticsRequest {
            name: name.into(),
            version: version.into(),
        };
        Ok(self.v2.model_statistics(req).await?.into_inner())
    }

    /// `RepositoryIndex`.
    pub async fn repository_index(
        &mut self,
        ready_only: bool,
    ) -> Result<Vec<repository_index_response::ModelIndex>, ClientError> {
        let req = RepositoryIndexRequest {
            repository_name: String::new(),
            ready: ready_only,
        };
        Ok(self.v2.repository_index(req).await?.into_inner().models)
    }

    /// `RepositoryModelLoad`: loads or reloads a model.
    pub async fn load_model(&mut self, name: &str) -> Result<(), ClientError> {
        let req = RepositoryModelLoadRequest {
            repository_name: String::new(),
            model_name: name.into(),
            parameters: HashMap::new(),
        };
        self.v2.repository_model_load(req).await?;
        Ok(())
    }

    /// `RepositoryModelUnload`.
    pub async fn unload_model(&mut self, name: &str) -> Result<(), ClientError> {
        let req = RepositoryModelUnloadRequest {
            repository_name: String::new(),
            model_name: name.into(),
            parameters: HashMap::new(),
        };
        self.v2.repository_model_unload(req).await?;
        Ok(())
    }

    /// `grpc.health.v1.Health/Check` for a service name ("" for the server,
    /// a model's name for that model).
    pub async fn health(&mut self, service: &str) -> Result<ServingStatus, ClientError> {
        let mut health = HealthClient::new(self.channel.clone());
        let resp = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await?
            .into_inner();
        use tonic_health::pb::health_check_response::ServingStatus as Pb;
        Ok(match Pb::try_from(resp.status).unwrap_or(Pb::Unknown) {
            Pb::Serving => ServingStatus::Serving,
            Pb::NotServing => ServingStatus::NotServing,
            _ => ServingStatus::Unknown,
        })
    }

    /// Builds a `ModelInferRequest` from tensors.
    pub fn infer_request(
        model: &str,
        version: &str,
        inputs: Vec<Tensor>,
        outputs: &[&str],
        encoding: Encoding,
    ) -> ModelInferRequest {
        let mut raw = Vec::new();
        let inputs = inputs
            .into_iter()
            .map(|t| {
                let datatype = t.datatype().as_str().to_string();
                let contents = match encoding {
                    Encoding::Raw => {
                        raw.push(Bytes::from(t.data.to_raw()));
                        None
                    }
                    Encoding::Typed => Some(aiserve_core::protocol::to_contents(t.data)),
                };
                InferInputTensor {
                    name: t.name,
                    datatype,
                    shape: t.shape,
                    parameters: HashMap::new(),
                    contents,
                }
            })
            .collect();
        ModelInferRequest {
            model_name: model.into(),
            model_version: version.into(),
            id: String::new(),
            parameters: HashMap::new(),
            inputs,
            outputs: outputs
                .iter()
                .map(|o| InferRequestedOutputTensor {
                    name: o.to_string(),
                    parameters: HashMap::new(),
                })
                .collect(),
            raw_input_contents: raw,
        }
    }

    /// `ModelInfer` with runtime tensors in and out. `outputs` empty asks for
    /// every output.
    pub async fn infer(
        &mut self,
        model: &str,
        version: &str,
        inputs: Vec<Tensor>,
        outputs: &[&str],
        encoding: Encoding,
    ) -> Result<InferOutput, ClientError> {
        let req = Client::infer_request(model, version, inputs, outputs, encoding);
        let resp = self.v2.model_infer(req).await?.into_inner();
        decode_response(resp)
    }
}

/// Decodes a `ModelInferResponse` (raw or typed outputs) into tensors.
pub fn decode_response(resp: ModelInferResponse) -> Result<InferOutput, ClientError> {
    let bad = |e: aiserve_core::Error| ClientError::Response(e.to_string());
    let raw = resp.raw_output_contents;
    if !raw.is_empty() && raw.len() != resp.outputs.len() {
        return Err(ClientError::Response(format!(
            "{} raw_output_contents for {} outputs",
            raw.len(),
            resp.outputs.len()
        )));
    }
    let mut outputs = Vec::with_capacity(resp.outputs.len());
    for (i, o) in resp.outputs.into_iter().enumerate() {
        let datatype = DataType::from_protocol(&o.datatype).ok_or_else(|| {
            ClientError::Response(format!("output '{}': unknown datatype '{}'", o.name, o.datatype))
        })?;
        let n = element_count(&o.name, &o.shape).map_err(bad)?;
        let data = match raw.get(i) {
            Some(bytes) => TensorData::from_raw(&o.name, datatype, bytes, n).map_err(bad)?,
            None => from_contents(&o.name, datatype, o.contents.unwrap_or_default(), n).map_err(bad)?,
        };
        outputs.push(Tensor::new(o.name, o.shape, data));
    }
    Ok(InferOutput {
        model: resp.model_name,
        version: resp.model_version,
        outputs,
    })
}
