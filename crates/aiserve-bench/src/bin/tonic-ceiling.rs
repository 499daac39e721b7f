//! The ceiling of gRPC predict: the seed's `AIService` on bare tonic, with the
//! seed server's stand-in model (`len(data) / 100`), no registry, no pool, no
//! layers. What aiserve's `AIService.predict` is measured against.
//!
//! Usage: `tonic-ceiling [--listen 127.0.0.1:50052]`

use std::net::SocketAddr;
use std::pin::Pin;

use aiserve_proto::seed::ai_service_server::{AiService, AiServiceServer};
use aiserve_proto::seed::{
    EmbedRequest, EmbedResponse, PredictBatchRequest, PredictBatchResponse, PredictRequest, PredictResponse,
};
use clap::Parser;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

/// Serve the seed's AIService with a trivial model on bare tonic.
#[derive(Parser, Debug)]
#[command(name = "tonic-ceiling", about)]
struct Cli {
    /// Address to listen on.
    #[arg(long, short, default_value = "127.0.0.1:50052")]
    listen: SocketAddr,
}

/// The seed server's stand-in model: `float(len(data)) / 100.0` (characters, as Python counts).
fn score(data: &str) -> f32 {
    data.chars().count() as f32 / 100.0
}

struct Ceiling;

#[tonic::async_trait]
impl AiService for Ceiling {
    async fn predict(&self, request: Request<PredictRequest>) -> Result<Response<PredictResponse>, Status> {
        Ok(Response::new(PredictResponse {
            result: score(&request.get_ref().data),
            ..Default::default()
        }))
    }

    async fn predict_batch(
        &self,
        request: Request<PredictBatchRequest>,
    ) -> Result<Response<PredictBatchResponse>, Status> {
        Ok(Response::new(PredictBatchResponse {
            results: request.get_ref().data.iter().map(|d| score(d)).collect(),
            ..Default::default()
        }))
    }

    type predict_streamStream = Pin<Box<dyn Stream<Item = Result<PredictResponse, Status>> + Send>>;

    async fn predict_stream(
        &self,
        request: Request<Streaming<PredictRequest>>,
    ) -> Result<Response<Self::predict_streamStream>, Status> {
        let answers = request.into_inner().map(|r| {
            r.map(|r| PredictResponse {
                result: score(&r.data),
                ..Default::default()
            })
        });
        Ok(Response::new(Box::pin(answers)))
    }

    async fn embed(&self, _: Request<EmbedRequest>) -> Result<Response<EmbedResponse>, Status> {
        Err(Status::unimplemented("the ceiling server has no embedding model"))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    // Same transport settings as aiserve's server (TCP_NODELAY), nothing else.
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(AiServiceServer::new(Ceiling))
        .serve(cli.listen)
        .await?;
    Ok(())
}
