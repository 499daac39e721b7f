//! The seed's `AIService`: text in, one score out, over the default model or
//! a named one.

use std::pin::Pin;
use std::sync::Arc;

use aiserve_core::ModelRegistry;
use aiserve_proto::seed::ai_service_server::AiService;
use aiserve_proto::seed::{PredictBatchRequest, PredictBatchResponse, PredictRequest, PredictResponse};
use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use crate::error::to_status;

/// How many requests of one `predict_stream` run at once (responses keep
/// the request order).
const STREAM_CONCURRENCY: usize = 16;

/// The `AIService` implementation.
#[derive(Debug, Clone)]
pub struct SeedService {
    registry: Arc<ModelRegistry>,
}

impl SeedService {
    /// Serves `AIService` from `registry`.
    pub fn new(registry: Arc<ModelRegistry>) -> SeedService {
        SeedService { registry }
    }
}

async fn predict_one(registry: &ModelRegistry, req: PredictRequest) -> Result<PredictResponse, Status> {
    let p = registry
        .predict(&req.model, &req.model_version, vec![req.data])
        .await
        .map_err(to_status)?;
    Ok(PredictResponse {
        result: p.scores[0],
        model: p.model,
        model_version: p.version.to_string(),
        label: p.labels.into_iter().next().unwrap_or_default(),
    })
}

#[tonic::async_trait]
impl AiService for SeedService {
    async fn predict(&self, request: Request<PredictRequest>) -> Result<Response<PredictResponse>, Status> {
        predict_one(&self.registry, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn predict_batch(
        &self,
        request: Request<PredictBatchRequest>,
    ) -> Result<Response<PredictBatchResponse>, Status> {
        let req = request.into_inner();
        if req.data.is_empty() {
            return Err(Status::invalid_argument("predict_batch: `data` holds no text"));
        }
        let p = self
            .registry
            .predict(&req.model, &req.model_version, req.data)
            .await
            .map_err(to_status)?;
        Ok(Response::new(PredictBatchResponse {
            results: p.scores,
            model: p.model,
            model_version: p.version.to_string(),
            labels: p.labels,
        }))
    }

    type predict_streamStream = Pin<Box<dyn Stream<Item = Result<PredictResponse, Status>> + Send + 'static>>;

    async fn predict_stream(
        &self,
        request: Request<Streaming<PredictRequest>>,
    ) -> Result<Response<Self::predict_streamStream>, Status> {
        let registry = Arc::clone(&self.registry);
        let responses = request
            .into_inner()
            .map(move |item| {
                let registry = Arc::clone(&registry);
                async move {
                    match item {
                        Ok(req) => predict_one(&registry, req).await,
                        Err(status) if crate::layers::is_over_limit(&status) => {
                            Err(crate::layers::over_limit_status(&status))
                        }
                        Err(status) => Err(status),
                    }
                }
            })
            .buffered(STREAM_CONCURRENCY);
        Ok(Response::new(Box::pin(responses)))
    }
}
