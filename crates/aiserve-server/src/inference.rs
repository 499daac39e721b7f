//! The Open Inference Protocol (KServe V2) gRPC service, with Triton's
//! extensions: stream infer, model config, statistics and the repository.

use std::sync::Arc;
use std::time::Instant;

use aiserve_core::{Error, InferRequest, ModelRegistry};
use aiserve_proto::inference::grpc_inference_service_server::GrpcInferenceService;
use aiserve_proto::inference::model_metadata_response::TensorMetadata;
use aiserve_proto::inference::repository_index_response::ModelIndex;
use aiserve_proto::inference::*;
use tonic::{Request, Response, Status, Streaming};

use crate::deadline;
use crate::error::to_status;
use crate::streams::{answer_in_order, ResponseStream};
use aiserve_core::protocol::{inputs_from_proto, outputs_to_proto};

/// The server's name in `ServerMetadata`.
pub const SERVER_NAME: &str = "aiserve";

/// Protocol extensions this server implements, as `ServerMetadata` lists them.
pub const EXTENSIONS: &[&str] = &["model_repository", "model_configuration", "statistics"];

/// The `inference.GRPCInferenceService` implementation.
#[derive(Debug, Clone)]
pub struct InferenceService {
    registry: Arc<ModelRegistry>,
}

impl InferenceService {
    /// Serves the protocol from `registry`.
    pub fn new(registry: Arc<ModelRegistry>) -> InferenceService {
        InferenceService { registry }
    }
}

async fn infer(
    registry: &ModelRegistry,
    req: ModelInferRequest,
    deadline: Option<Instant>,
) -> Result<ModelInferResponse, Error> {
    let raw = !req.raw_input_contents.is_empty();
    let inputs = inputs_from_proto(req.inputs, req.raw_input_contents)?;
    let response = registry
        .infer(InferRequest {
            model: req.model_name,
            version: req.model_version,
            inputs,
            outputs: req.outputs.into_iter().map(|o| o.name).collect(),
            deadline,
        })
        .await?;
    let (outputs, raw_output_contents) = outputs_to_proto(response.outputs, raw);
    Ok(ModelInferResponse {
        model_name: response.model,
        model_version: response.version.to_string(),
        id: req.id,
        parameters: Default::default(),
        outputs,
        raw_output_contents,
    })
}

/// The metadata of a model (and version, if given); shared by the gRPC and
/// HTTP frontends.
pub(crate) fn model_metadata(
    registry: &ModelRegistry,
    name: &str,
    version: &str,
) -> Result<ModelMetadataResponse, Error> {
    let model = registry.model(name)?;
    model.version(version)?;
    let spec = &model.spec;
    let meta = |t: &aiserve_core::TensorSpec| TensorMetadata {
        name: t.name.clone(),
        datatype: t.datatype.as_str().into(),
        shape: t.full_shape(spec.batching()),
    };
    Ok(ModelMetadataResponse {
        name: spec.name.clone(),
        versions: model.versions.keys().map(|v| v.to_string()).collect(),
        platform: spec.platform.clone(),
        inputs: spec.inputs.iter().map(meta).collect(),
        outputs: spec.outputs.iter().map(meta).collect(),
    })
}

/// Triton's statistics of every loaded model (empty `name`), or of one model
/// and version; shared by the gRPC and HTTP frontends.
pub(crate) fn model_statistics(
    registry: &ModelRegistry,
    name: &str,
    version: &str,
) -> Result<ModelStatisticsResponse, Error> {
    let models = if name.is_empty() {
        registry.loaded_models()
    } else {
        vec![registry.model(name)?]
    };
    let mut model_stats = Vec::new();
    for model in models {
        let versions: Vec<_> = if version.is_empty() {
            model.versions.values().cloned().collect()
        } else {
            vec![Arc::clone(model.version(version)?)]
        };
        for v in versions {
            let s = &v.stats;
            let d = |stat: &aiserve_core::stats::DurationStat| {
                let (count, ns) = stat.get();
                Some(StatisticDuration { count, ns })
            };
            use std::sync::atomic::Ordering::Relaxed;
            model_stats.push(ModelStatistics {
                name: model.spec.name.clone(),
                version: v.version.to_string(),
                last_inference: s.last_inference_ms.load(Relaxed),
                inference_count: s.inference_count.load(Relaxed),
                execution_count: s.execution_count.load(Relaxed),
                inference_stats: Some(InferStatistics {
                    success: d(&s.success),
                    fail: d(&s.fail),
                    queue: d(&s.queue),
                    compute_input: Some(StatisticDuration::default()),
                    compute_infer: d(&s.compute_infer),
                    compute_output: Some(StatisticDuration::default()),
                    cache_hit: Some(StatisticDuration::default()),
                    cache_miss: Some(StatisticDuration::default()),
                }),
                batch_stats: Vec::new(),
                memory_usage: Vec::new(),
            });
        }
    }
    Ok(ModelStatisticsResponse { model_stats })
}

fn check_repository(registry: &ModelRegistry, name: &str) -> Result<(), Status> {
    if name.is_empty() || name == registry.repository().describe() {
        Ok(())
    } else {
        Err(Status::not_found(format!(
            "no repository '{name}'; this server has one repository, '{}' (or leave repository_name empty)",
            registry.repository().describe()
        )))
    }
}

#[tonic::async_trait]
impl GrpcInferenceService for InferenceService {
    async fn server_live(
        &self,
        _: Request<ServerLiveRequest>,
    ) -> Result<Response<ServerLiveResponse>, Status> {
        Ok(Response::new(ServerLiveResponse { live: true }))
    }

    async fn server_ready(
        &self,
        _: Request<ServerReadyRequest>,
    ) -> Result<Response<ServerReadyResponse>, Status> {
        Ok(Response::new(ServerReadyResponse {
            ready: self.registry.is_ready(),
        }))
    }

    async fn model_ready(
        &self,
        request: Request<ModelReadyRequest>,
    ) -> Result<Response<ModelReadyResponse>, Status> {
        let req = request.into_inner();
        // Unknown models are an error, not "not ready", as in Triton.
        match self.registry.model(&req.name) {
            Err(e @ Error::ModelNotFound(_)) => Err(to_status(e)),
            _ => Ok(Response::new(ModelReadyResponse {
                ready: self.registry.model_ready(&req.name, &req.version),
            })),
        }
    }

    async fn server_metadata(
        &self,
        _: Request<ServerMetadataRequest>,
    ) -> Result<Response<ServerMetadataResponse>, Status> {
        Ok(Response::new(ServerMetadataResponse {
            name: SERVER_NAME.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            extensions: EXTENSIONS.iter().map(|s| s.to_string()).collect(),
        }))
    }

    async fn model_metadata(
        &self,
        request: Request<ModelMetadataRequest>,
    ) -> Result<Response<ModelMetadataResponse>, Status> {
        let req = request.into_inner();
        model_metadata(&self.registry, &req.name, &req.version)
            .map(Response::new)
            .map_err(to_status)
    }

    async fn model_infer(
        &self,
        request: Request<ModelInferRequest>,
    ) -> Result<Response<ModelInferResponse>, Status> {
        let deadline = deadline::from_metadata(request.metadata());
        infer(&self.registry, request.into_inner(), deadline)
            .await
            .map(Response::new)
            .map_err(to_status)
    }

    type ModelStreamInferStream = ResponseStream<ModelStreamInferResponse>;

    async fn model_stream_infer(
        &self,
        request: Request<Streaming<ModelInferRequest>>,
    ) -> Result<Response<Self::ModelStreamInferStream>, Status> {
        let registry = Arc::clone(&self.registry);
        Ok(Response::new(answer_in_order(request.into_inner(), move |req| {
            let registry = Arc::clone(&registry);
            async move {
                let id = req.id.clone();
                // Errors travel in the stream; the stream goes on.
                Ok(match infer(&registry, req, None).await {
                    Ok(r) => ModelStreamInferResponse {
                        error_message: String::new(),
                        infer_response: Some(r),
                    },
                    Err(e) => ModelStreamInferResponse {
                        error_message: e.to_string(),
                        infer_response: Some(ModelInferResponse {
                            id,
                            ..Default::default()
                        }),
                    },
                })
            }
        })))
    }

    async fn model_config(
        &self,
        request: Request<ModelConfigRequest>,
    ) -> Result<Response<ModelConfigResponse>, Status> {
        let req = request.into_inner();
        let model = self.registry.model(&req.name).map_err(to_status)?;
        model.version(&req.version).map_err(to_status)?;
        Ok(Response::new(ModelConfigResponse {
            config: Some(model.spec.config.clone()),
        }))
    }

    async fn model_statistics(
        &self,
        request: Request<ModelStatisticsRequest>,
    ) -> Result<Response<ModelStatisticsResponse>, Status> {
        let req = request.into_inner();
        model_statistics(&self.registry, &req.name, &req.version)
            .map(Response::new)
            .map_err(to_status)
    }

    async fn repository_index(
        &self,
        request: Request<RepositoryIndexRequest>,
    ) -> Result<Response<RepositoryIndexResponse>, Status> {
        let req = request.into_inner();
        check_repository(&self.registry, &req.repository_name)?;
        let models = self
            .registry
            .index(req.ready)
            .into_iter()
            .map(|e| ModelIndex {
                name: e.name,
                version: e.version,
                state: e.state.into(),
                reason: e.reason,
            })
            .collect();
        Ok(Response::new(RepositoryIndexResponse { models }))
    }

    async fn repository_model_load(
        &self,
        request: Request<RepositoryModelLoadRequest>,
    ) -> Result<Response<RepositoryModelLoadResponse>, Status> {
        let req = request.into_inner();
        check_repository(&self.registry, &req.repository_name)?;
        if !req.parameters.is_empty() {
            let keys: Vec<&String> = req.parameters.keys().collect();
            return Err(Status::invalid_argument(format!(
                "load parameters {keys:?} are not supported; the model is loaded from the repository's files"
            )));
        }
        self.registry.load(&req.model_name).await.map_err(to_status)?;
        Ok(Response::new(RepositoryModelLoadResponse {}))
    }

    async fn repository_model_unload(
        &self,
        request: Request<RepositoryModelUnloadRequest>,
    ) -> Result<Response<RepositoryModelUnloadResponse>, Status> {
        let req = request.into_inner();
        check_repository(&self.registry, &req.repository_name)?;
        self.registry.unload(&req.model_name).await.map_err(to_status)?;
        Ok(Response::new(RepositoryModelUnloadResponse {}))
    }
}
