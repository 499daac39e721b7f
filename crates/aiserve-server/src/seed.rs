//! The seed's `AIService`: text in, one score out, over the default model or
//! a named one.

use std::sync::Arc;
use std::time::Instant;

use aiserve_core::ModelRegistry;
use aiserve_proto::seed::ai_service_server::AiService;
use aiserve_proto::seed::{
    EmbedRequest, EmbedResponse, Embedding, PredictBatchRequest, PredictBatchResponse, PredictRequest,
    PredictResponse,
};
use tonic::{Request, Response, Status, Streaming};

use crate::deadline;
use crate::error::to_status;
use crate::streams::{answer_in_order, ResponseStream};

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

async fn predict_one(
    registry: &ModelRegistry,
    req: PredictRequest,
    deadline: Option<Instant>,
) -> Result<PredictResponse, Status> {
    let p = registry
        .predict(&req.model, &req.model_version, vec![req.data], deadline)
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
        let deadline = deadline::from_metadata(request.metadata());
        predict_one(&self.registry, request.into_inner(), deadline)
            .await
            .map(Response::new)
    }

    async fn predict_batch(
        &self,
        request: Request<PredictBatchRequest>,
    ) -> Result<Response<PredictBatchResponse>, Status> {
        let deadline = deadline::from_metadata(request.metadata());
        let req = request.into_inner();
        if req.data.is_empty() {
            return Err(Status::invalid_argument("predict_batch: `data` holds no text"));
        }
        let p = self
            .registry
            .predict(&req.model, &req.model_version, req.data, deadline)
            .await
            .map_err(to_status)?;
        Ok(Response::new(PredictBatchResponse {
            results: p.scores,
            model: p.model,
            model_version: p.version.to_string(),
            labels: p.labels,
        }))
    }

    type predict_streamStream = ResponseStream<PredictResponse>;

    async fn predict_stream(
        &self,
        request: Request<Streaming<PredictRequest>>,
    ) -> Result<Response<Self::predict_streamStream>, Status> {
        let registry = Arc::clone(&self.registry);
        Ok(Response::new(answer_in_order(request.into_inner(), move |req| {
            let registry = Arc::clone(&registry);
            async move { predict_one(&registry, req, None).await }
        })))
    }

    async fn embed(&self, request: Request<EmbedRequest>) -> Result<Response<EmbedResponse>, Status> {
        let deadline = deadline::from_metadata(request.metadata());
        let req = request.into_inner();
        if req.texts.is_empty() {
            return Err(Status::invalid_argument("embed: `texts` holds no text"));
        }
        let e = self
            .registry
            .embed(&req.model, &req.model_version, req.texts, deadline)
            .await
            .map_err(to_status)?;
        Ok(Response::new(EmbedResponse {
            embeddings: e
                .values
                .chunks(e.dimensions.max(1))
                .map(|v| Embedding { values: v.to_vec() })
                .collect(),
            model: e.model,
            model_version: e.version.to_string(),
            dimensions: e.dimensions as u32,
        }))
    }
}
