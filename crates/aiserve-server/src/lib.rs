//! aiserve's frontends over one [`ModelRegistry`]: over gRPC the seed's
//! `AIService`, the Open Inference Protocol (`inference.GRPCInferenceService`),
//! `grpc.health.v1.Health` and server reflection; over HTTP the protocol's
//! REST API ([`http`]); and the Prometheus endpoint ([`metrics`]).
//!
//! Frontends know nothing of engines: they turn protocol messages into
//! runtime requests and runtime errors into statuses (in [`error`]).

#![warn(missing_docs)]

pub mod deadline;
pub mod error;
pub mod http;
pub mod inference;
pub mod layers;
pub mod metrics;
pub mod seed;
pub mod streams;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aiserve_core::{ModelControl, ModelRegistry};
use aiserve_proto::inference::grpc_inference_service_server::GrpcInferenceServiceServer;
use aiserve_proto::seed::ai_service_server::AiServiceServer;
use tokio::net::TcpListener;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

pub use http::serve_http;
pub use inference::InferenceService;
pub use metrics::serve_metrics;
pub use seed::SeedService;

/// The service names the health service reports besides each model's name.
pub const SERVICE_NAMES: [&str; 2] = ["AIService", "inference.GRPCInferenceService"];

/// Settings of the gRPC and HTTP servers.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Largest request or response message, in bytes; larger requests get
    /// RESOURCE_EXHAUSTED (gRPC) or 413 (HTTP, the request body's limit).
    pub max_message_bytes: usize,
    /// In [`ModelControl::Poll`] mode, how often the repository is scanned.
    pub poll_interval: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_message_bytes: 64 * 1024 * 1024,
            poll_interval: Duration::from_secs(5),
        }
    }
}

/// Serves every gRPC service of aiserve on `listener` until `shutdown`
/// completes; then stops accepting, lets requests in flight finish and
/// returns.
pub async fn serve(
    listener: TcpListener,
    registry: Arc<ModelRegistry>,
    options: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let (reporter, health) = tonic_health::server::health_reporter();
    let health_task = tokio::spawn(keep_health_current(Arc::clone(&registry), reporter.clone()));
    let poll_task = (registry.control() == ModelControl::Poll).then(|| {
        let registry = Arc::clone(&registry);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(options.poll_interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                registry.poll_once().await;
            }
        })
    });
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(aiserve_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("the built-in descriptor sets are valid");
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(aiserve_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .expect("the built-in descriptor sets are valid");
    let max = options.max_message_bytes;
    let seed = AiServiceServer::new(SeedService::new(Arc::clone(&registry)))
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let v2 = GrpcInferenceServiceServer::new(InferenceService::new(Arc::clone(&registry)))
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let shutdown_reporter = reporter.clone();
    let shutdown = async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, finishing requests in flight");
        shutdown_reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
    };
    let result = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .layer(layers::MessageLimitStatusLayer)
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(seed)
        .add_service(v2)
        // `Server::tcp_nodelay` does not apply to an incoming stream we pass in: without
        // this, responses written in two segments wait for the client's delayed ACK (~40 ms).
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await;
    health_task.abort();
    if let Some(t) = poll_task {
        t.abort();
    }
    result
}

/// Binds `addr` and returns the listener and its actual address (for port 0).
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Keeps the health service in step with the registry: the overall status
/// and the two services are SERVING once start-up loading is done; each
/// model's name is SERVING while it is ready.
async fn keep_health_current(registry: Arc<ModelRegistry>, reporter: HealthReporter) {
    let mut changes = registry.subscribe();
    let mut known: Vec<String> = Vec::new();
    loop {
        let status = |ok: bool| {
            if ok {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            }
        };
        let ready = registry.is_ready();
        reporter.set_service_status("", status(ready)).await;
        for name in SERVICE_NAMES {
            reporter.set_service_status(name, status(ready)).await;
        }
        let index = registry.index(false);
        for entry in &index {
            if !known.contains(&entry.name) {
                known.push(entry.name.clone());
            }
        }
        for name in &known {
            reporter
                .set_service_status(name, status(registry.model_ready(name, "")))
                .await;
        }
        if changes.changed().await.is_err() {
            return;
        }
    }
}
