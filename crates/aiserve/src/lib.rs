//! The pieces the `aiserve` binary assembles: the backends this build
//! serves, the repository to serve, and a running server with a shutdown
//! handle (which the integration tests start on port 0).

#![warn(missing_docs)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use aiserve_core::{BackendFactory, ModelControl, ModelRegistry, ModelRepository, RegistryOptions};
use aiserve_server::ServerOptions;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Every backend of this build.
pub fn backends() -> Vec<Arc<dyn BackendFactory>> {
    vec![
        Arc::new(aiserve_backend_onnx::OnnxBackendFactory),
        Arc::new(aiserve_backend_sentiment::SentimentBackendFactory),
    ]
}

/// The repository to serve: a folder, or the built-in one (the sentiment model).
pub fn repository(path: Option<PathBuf>) -> ModelRepository {
    match path {
        Some(p) => ModelRepository::Directory(p),
        None => aiserve_backend_sentiment::embedded_repository(),
    }
}

/// Everything `aiserve serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on (port 0 for any).
    pub listen: SocketAddr,
    /// Model repository folder; `None` for the built-in repository.
    pub repository: Option<PathBuf>,
    /// Registry settings (threads, default model, model control).
    pub registry: RegistryOptions,
    /// gRPC server settings.
    pub server: ServerOptions,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            repository: None,
            registry: RegistryOptions::default(),
            server: ServerOptions::default(),
        }
    }
}

/// A server running in this process.
#[derive(Debug)]
pub struct RunningServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The registry it serves from.
    pub registry: Arc<ModelRegistry>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl RunningServer {
    /// Stops accepting, lets requests in flight finish, and waits for the end.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await??;
        Ok(())
    }
}

/// Loads the repository's models and starts serving. Models that fail to load
/// are reported in the log and as UNAVAILABLE; the server still starts.
pub async fn start(config: ServeConfig) -> anyhow::Result<RunningServer> {
    let registry = ModelRegistry::new(
        repository(config.repository.clone()),
        backends(),
        config.registry.clone(),
    );
    // Failures are logged by the registry and reported as UNAVAILABLE.
    let _failed = registry.load_all().await;
    let (listener, addr) = aiserve_server::bind(config.listen).await?;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(aiserve_server::serve(
        listener,
        Arc::clone(&registry),
        config.server.clone(),
        async move {
            let _ = rx.await;
        },
    ));
    Ok(RunningServer {
        addr,
        registry,
        shutdown: Some(tx),
        task,
    })
}

/// Parses a model control mode name (`none`, `explicit`, `poll`).
pub fn parse_model_control(s: &str) -> Result<ModelControl, String> {
    match s {
        "none" => Ok(ModelControl::None),
        "explicit" => Ok(ModelControl::Explicit),
        "poll" => Ok(ModelControl::Poll),
        other => Err(format!(
            "unknown model control '{other}': use none, explicit or poll"
        )),
    }
}
