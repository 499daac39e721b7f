//! The `aiserve` binary's commands against a real server: output, exit
//! codes, and errors on stderr.

mod common;

use std::process::Output;

use aiserve_core::ModelControl;

async fn aiserve(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_aiserve"))
            .args(&args)
            .output()
            .expect("the binary runs")
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn predict_prints_the_seed_line() {
    let server = common::start(None, ModelControl::Explicit).await;
    let addr = server.addr.to_string();
    let out = aiserve(args(&["predict", "what a wonderful day", "--server", &addr])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let value: f32 = stdout
        .trim()
        .strip_prefix("Prediction result: ")
        .unwrap_or_else(|| panic!("unexpected output {stdout:?}"))
        .parse()
        .unwrap();
    assert!(value > 0.2, "clearly positive: {value}");

    let out = aiserve(args(&["predict", "x", "--model", "nope", "--server", &addr])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: ") && stderr.contains("'nope'"),
        "{stderr}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn infer_models_and_health_commands() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    common::copy_dir(&common::workspace().join("testdata/models"), &models);
    let server = common::start(Some(models), ModelControl::Explicit).await;
    let addr = server.addr.to_string();

    let request = dir.path().join("request.json");
    std::fs::write(
        &request,
        r#"{"inputs": [
            {"name": "INPUT0", "datatype": "INT32", "shape": [1, 16], "data": [[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]]},
            {"name": "INPUT1", "datatype": "INT32", "shape": [1, 16], "data": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}
        ], "outputs": [{"name": "OUTPUT0"}]}"#,
    )
    .unwrap();
    for typed in [false, true] {
        let mut a = args(&[
            "infer",
            "--model",
            "simple",
            "--input",
            request.to_str().unwrap(),
            "--server",
            &addr,
        ]);
        if typed {
            a.push("--typed".into());
        }
        let out = aiserve(a).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["model_name"], "simple");
        assert_eq!(json["outputs"][0]["name"], "OUTPUT0");
        assert_eq!(json["outputs"][0]["shape"], serde_json::json!([1, 16]));
        let expected: Vec<i64> = (1..=16).collect();
        assert_eq!(json["outputs"][0]["data"], serde_json::json!(expected));
    }
    std::fs::write(&request, "{\"inputs\": 3}").unwrap();
    let out = aiserve(args(&[
        "infer",
        "--model",
        "simple",
        "--input",
        request.to_str().unwrap(),
        "--server",
        &addr,
    ]))
    .await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("\"inputs\""), "{}", text(&out.stderr));

    let out = aiserve(args(&["models", "list", "--server", &addr])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("simple") && l.contains("READY")),
        "{listing}"
    );
    assert!(
        listing.lines().any(|l| l.starts_with("mlp") && l.contains(" 2 ")),
        "{listing}"
    );

    let out = aiserve(args(&["models", "unload", "simple", "--server", &addr])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = aiserve(args(&["health", "--service", "simple", "--server", &addr])).await;
    assert_eq!(out.status.code(), Some(2), "a model that is not serving: exit 2");
    let out = aiserve(args(&["models", "load", "simple", "--server", &addr])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        common::eventually(100, async || {
            aiserve(args(&["health", "--service", "simple", "--server", &addr]))
                .await
                .status
                .success()
        })
        .await
    );
    let out = aiserve(args(&["health", "--server", &addr])).await;
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), "server: Serving");
    let out = aiserve(args(&["models", "load", "nope", "--server", &addr])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("NotFound") || text(&out.stderr).contains("not in the repository"));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn eval_prints_the_same_numbers_as_the_library() {
    let data = common::workspace().join("data/sentiment/dev.tsv");
    let out = aiserve(args(&["eval", "--data", data.to_str().unwrap()])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let examples = aiserve_sentiment::eval::read_tsv(&data).unwrap();
    let model = aiserve_sentiment::SentimentModel::embedded();
    let scores: Vec<f32> = examples.iter().map(|e| model.score(&e.text)).collect();
    let report = aiserve_sentiment::eval::evaluate(&examples, &scores).to_string();
    let stdout = text(&out.stdout);
    assert!(stdout.contains(&report), "CLI:\n{stdout}\nlibrary:\n{report}");
    for domain in ["amazon", "movie", "nyt", "tweets", "overall"] {
        assert!(
            stdout.lines().any(|l| l.starts_with(domain)),
            "{domain} row missing:\n{stdout}"
        );
    }
}

#[tokio::test]
async fn usage_errors_and_help() {
    let out = aiserve(args(&["--help"])).await;
    assert!(out.status.success());
    let help = text(&out.stdout);
    for cmd in ["serve", "predict", "infer", "models", "health", "eval"] {
        assert!(help.contains(cmd), "--help lacks {cmd}:\n{help}");
    }
    let out = aiserve(args(&["serve", "--repository", "/no/such/folder"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("/no/such/folder"),
        "{}",
        text(&out.stderr)
    );
    let out = aiserve(args(&["serve", "--model-control", "sometimes"])).await;
    assert_eq!(out.status.code(), Some(2), "clap usage error");
    assert!(text(&out.stderr).contains("none, explicit or poll"));
    let out = aiserve(args(&["predict", "x", "--server", "127.0.0.1:1"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot connect to 127.0.0.1:1"),
        "{}",
        text(&out.stderr)
    );
}
