//! Shared helpers of the integration tests: start the real server on an
//! ephemeral loopback port and connect the real client to it.
#![allow(dead_code)]

use std::collections::BTreeMap;
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

/// One sample of a scrape: name, labels, value.
#[derive(Debug)]
pub struct Sample {
    /// The metric.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// The samples of a Prometheus text page.
pub fn parse(page: &str) -> Vec<Sample> {
    page.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample line ends with its value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').expect("label=value");
                    (k.to_string(), v.trim_matches('"').to_string())
                })
                .collect();
            Sample {
                name: name.to_string(),
                labels,
                value: value.parse().unwrap_or_else(|_| panic!("a number in {line:?}")),
            }
        })
        .collect()
}

/// The value of the one sample named `name` whose labels include `labels`.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v))
        })
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} matches {found:?}");
    found.first().map(|s| s.value)
}

/// Scrapes the server's metrics endpoint: the page and its samples.
pub async fn scrape(server: &RunningServer) -> (String, Vec<Sample>) {
    let r = reqwest::get(format!("http://{}/metrics", server.metrics_addr.unwrap()))
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let page = r.text().await.unwrap();
    let samples = parse(&page);
    (page, samples)
}
