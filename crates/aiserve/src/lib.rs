//! The pieces the `aiserve` binary assembles: the backends this build
//! serves, the repository to serve, and a running server (gRPC, HTTP and
//! metrics endpoints) with one shutdown handle (which the integration tests
//! start on port 0).

#![warn(missing_docs)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use aiserve_core::{BackendFactory, ModelControl, ModelRegistry, ModelRepository, RegistryOptions};
use aiserve_server::ServerOptions;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Every backend of this build.
pub fn backends() -> Vec<Arc<dyn BackendFactory>> {
    vec![
        Arc::new(aiserve_backend_onnx::OnnxBackendFactory),
        Arc::new(aiserve_backend_hf::HfBackendFactory),
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
    /// Address the gRPC services listen on (port 0 for any).
    pub listen: SocketAddr,
    /// Address of the REST API; `None` to serve none.
    pub http_listen: Option<SocketAddr>,
    /// Address of the Prometheus endpoint (`GET /metrics`); `None` to serve none.
    pub metrics_listen: Option<SocketAddr>,
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
            http_listen: Some(SocketAddr::from(([127, 0, 0, 1], 8000))),
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 8002))),
            repository: None,
            registry: RegistryOptions::default(),
            server: ServerOptions::default(),
        }
    }
}

/// A server running in this process.
#[derive(Debug)]
pub struct RunningServer {
    /// The address the gRPC services listen on.
    pub addr: SocketAddr,
    /// The address of the REST API, if served.
    pub http_addr: Option<SocketAddr>,
    /// The address of the Prometheus endpoint, if served.
    pub metrics_addr: Option<SocketAddr>,
    /// The registry it serves from.
    pub registry: Arc<ModelRegistry>,
    shutdown: watch::Sender<bool>,
    grpc: JoinHandle<Result<(), tonic::transport::Error>>,
    http: Option<JoinHandle<std::io::Result<()>>>,
    metrics: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningServer {
    /// Stops accepting on every endpoint, lets requests in flight finish, and
    /// waits for the end.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        let grpc = self.grpc.await;
        let http = match self.http {
            Some(task) => task.await,
            None => Ok(Ok(())),
        };
        let metrics = match self.metrics {
            Some(task) => task.await,
            None => Ok(Ok(())),
        };
        grpc??;
        http??;
        metrics??;
        Ok(())
    }
}

/// A future that completes when `rx` sees the shutdown flag (or its sender
/// is gone, so dropping a [`RunningServer`] stops it too).
async fn shutdown_signal(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Loads the repository's models and starts serving. Models that fail to load
/// are reported in the log and as UNAVAILABLE; the server still starts.
pub async fn start(config: ServeConfig) -> anyhow::Result<RunningServer> {
    if config.metrics_listen.is_some() {
        // Before loading, so the models' first states are recorded.
        aiserve_server::metrics::install_recorder();
    }
    let registry = ModelRegistry::new(
        repository(config.repository.clone()),
        backends(),
        config.registry.clone(),
    );
    // Failures are logged by the registry and reported as UNAVAILABLE.
    let _failed = registry.load_all().await;
    // Bind everything before serving anything, so a taken port fails the start.
    let (listener, addr) = bind(config.listen, "gRPC").await?;
    let http_listener = match config.http_listen {
        Some(a) => Some(bind(a, "HTTP").await?),
        None => None,
    };
    let metrics_listener = match config.metrics_listen {
        Some(a) => Some(bind(a, "metrics").await?),
        None => None,
    };
    let (tx, rx) = watch::channel(false);
    let grpc = tokio::spawn(aiserve_server::serve(
        listener,
        Arc::clone(&registry),
        config.server.clone(),
        shutdown_signal(rx.clone()),
    ));
    let http_addr = http_listener.as_ref().map(|(_, a)| *a);
    let http = http_listener.map(|(listener, _)| {
        tokio::spawn(aiserve_server::serve_http(
            listener,
            Arc::clone(&registry),
            config.server.clone(),
            shutdown_signal(rx.clone()),
        ))
    });
    let metrics_addr = metrics_listener.as_ref().map(|(_, a)| *a);
    let metrics = metrics_listener
        .map(|(listener, _)| tokio::spawn(aiserve_server::serve_metrics(listener, shutdown_signal(rx))));
    Ok(RunningServer {
        addr,
        http_addr,
        metrics_addr,
        registry,
        shutdown: tx,
        grpc,
        http,
        metrics,
    })
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<(tokio::net::TcpListener, SocketAddr)> {
    use anyhow::Context;
    aiserve_server::bind(addr)
        .await
        .with_context(|| format!("cannot listen for {what} on {addr}"))
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

/// Parses a listen address, or `off` for none.
pub fn parse_listen_or_off(s: &str) -> Result<Option<SocketAddr>, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|e| format!("'{s}' is not an address (HOST:PORT, e.g. 127.0.0.1:8000) or `off`: {e}"))
}
