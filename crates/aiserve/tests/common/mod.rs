//! Shared helpers of the integration tests: start the real server on an
//! ephemeral loopback port and connect the real client to it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use aiserve::{RunningServer, ServeConfig};
use aiserve_client::Client;
use aiserve_core::{ModelControl, RegistryOptions};
use aiserve_server::ServerOptions;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Starts a server on 127.0.0.1:0 over `repository` (None: built-in).
pub async fn start(repository: Option<PathBuf>, control: ModelControl) -> RunningServer {
    start_with(repository, control, ServerOptions::default()).await
}

/// Like [`start`], with server options.
pub async fn start_with(
    repository: Option<PathBuf>,
    control: ModelControl,
    server: ServerOptions,
) -> RunningServer {
    let config = ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        http_listen: Some("127.0.0.1:0".parse().unwrap()),
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        repository,
        registry: RegistryOptions {
            threads: 2,
            default_model: None,
            control,
        },
        server,
    };
    aiserve::start(config).await.expect("server starts")
}

/// Connects the client.
pub async fn client(server: &RunningServer) -> Client {
    Client::connect(&server.addr.to_string())
        .await
        .expect("client connects")
}

/// Polls `check` every 50 ms, up to `tries` times; true once it holds.
pub async fn eventually(tries: usize, mut check: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..tries {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Copies a folder tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Writes a repository holding the sentiment model (weights built in) under
/// `name`, version 1.
pub fn write_sentiment_model(root: &Path, name: &str) {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("1")).unwrap();
    let config =
        aiserve_backend_sentiment::CONFIG.replace("name: \"sentiment\"", &format!("name: \"{name}\""));
    std::fs::write(dir.join("config.pbtxt"), config).unwrap();
}
