//! Models change while serving: reloads under load lose nothing, the polling
//! mode follows the repository, and SIGTERM finishes what is in flight.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aiserve_client::Client;
use aiserve_core::ModelControl;
use aiserve_proto::seed::PredictRequest;
use aiserve_server::ServerOptions;
use futures::StreamExt;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_concurrent_load_fails_no_request() {
    let repo = tempfile::tempdir().unwrap();
    common::write_sentiment_model(repo.path(), "sentiment");
    let server = common::start(Some(repo.path().to_path_buf()), ModelControl::Explicit).await;
    let mut admin = common::client(&server).await;
    let failures = Arc::new(AtomicUsize::new(0));
    let on_v2 = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..8 {
        let mut c = common::client(&server).await;
        let (failures, on_v2, done) = (failures.clone(), on_v2.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            for i in 0..300 {
                match c
                    .predict(&format!("worker {w} says {i}: nice"), Some("sentiment"))
                    .await
                {
                    Ok(r) => {
                        if r.model_version == "2" {
                            on_v2.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        eprintln!("request failed: {e}");
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for round in 0..6 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if round == 3 {
            // A new version appears: the reload swaps it in.
            std::fs::create_dir_all(repo.path().join("sentiment/2")).unwrap();
        }
        admin.load_model("sentiment").await.unwrap();
    }
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(done.load(Ordering::Relaxed), 8 * 300);
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "no request may fail during reloads"
    );
    let meta = admin.model_metadata("sentiment", "").await.unwrap();
    assert_eq!(meta.versions, vec!["2"]);
    assert_eq!(admin.predict("x", None).await.unwrap().model_version, "2");
    let _ = on_v2.load(Ordering::Relaxed);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_failed_reload_keeps_the_old_version_serving() {
    let repo = tempfile::tempdir().unwrap();
    common::write_sentiment_model(repo.path(), "m");
    let server = common::start(Some(repo.path().to_path_buf()), ModelControl::Explicit).await;
    let mut c = common::client(&server).await;
    std::fs::write(repo.path().join("m/config.pbtxt"), "max_batch_size: \"many\"").unwrap();
    let err = c.load_model("m").await.unwrap_err();
    assert_eq!(err.status().unwrap().code(), Code::Internal);
    assert!(err.to_string().contains("config.pbtxt"), "{err}");
    assert!(c.predict("still fine", Some("m")).await.is_ok());
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn polling_mode_follows_the_repository() {
    let repo = tempfile::tempdir().unwrap();
    common::write_sentiment_model(repo.path(), "a");
    let server = common::start_with(
        Some(repo.path().to_path_buf()),
        ModelControl::Poll,
        ServerOptions {
            poll_interval: Duration::from_millis(100),
            ..Default::default()
        },
    )
    .await;
    let mut c = common::client(&server).await;
    assert!(c.model_ready("a", "").await.unwrap());
    let err = c.load_model("a").await.unwrap_err();
    assert_eq!(err.status().unwrap().code(), Code::FailedPrecondition);

    common::write_sentiment_model(repo.path(), "b");
    assert!(
        common::eventually(200, async || c
            .clone()
            .model_ready("b", "")
            .await
            .unwrap_or(false))
        .await
    );

    std::fs::create_dir_all(repo.path().join("b/2")).unwrap();
    assert!(
        common::eventually(200, async || c
            .clone()
            .model_ready("b", "2")
            .await
            .unwrap_or(false))
        .await
    );
    assert!(!c.model_ready("b", "1").await.unwrap());

    std::fs::remove_dir_all(repo.path().join("a")).unwrap();
    assert!(
        common::eventually(200, async || {
            c.clone()
                .predict("x", Some("a"))
                .await
                .err()
                .and_then(|e| e.status().map(|s| s.code()))
                == Some(Code::NotFound)
        })
        .await
    );
    assert!(c.predict("x", Some("b")).await.is_ok());
    server.shutdown().await.unwrap();
}

/// The real binary: SIGTERM stops accepting, finishes the stream in flight
/// (even messages sent after the signal), and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_work_and_exits_zero() {
    /// Kills the server if the test fails before it exits.
    struct Guard(Option<std::process::Child>);
    impl Drop for Guard {
        fn drop(&mut self) {
            if let Some(mut c) = self.0.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_aiserve"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log-level", "info"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let pid = child.id();
    let mut guard = Guard(Some(child));
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent {
                if let Some(addr) = line.split("addr=").nth(1) {
                    let _ = addr_tx.send(addr.split_whitespace().next().unwrap_or("").to_string());
                    sent = true;
                }
            }
        }
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("server prints its address");
    let c = Client::connect(&addr).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel::<PredictRequest>(32);
    let mut responses = c
        .seed()
        .predict_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let ask = |i: usize| PredictRequest {
        data: format!("message {i} is lovely"),
        ..Default::default()
    };
    tx.send(ask(0)).await.unwrap();
    assert!(responses.next().await.unwrap().is_ok());

    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(200)).await;
    // New connections are refused once the server stops accepting.
    assert!(
        common::eventually(100, async || Client::connect(&addr).await.is_err()).await,
        "the server still accepts connections after SIGTERM"
    );
    for i in 1..=10 {
        tx.send(ask(i)).await.unwrap();
    }
    drop(tx);
    let mut answered = 1;
    while let Some(r) = responses.next().await {
        r.expect("in-flight stream messages are answered");
        answered += 1;
    }
    assert_eq!(answered, 11);
    let mut child = guard.0.take().unwrap();
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
}
