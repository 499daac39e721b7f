//! The seed's AIService against the real server with its built-in model.

mod common;

use aiserve_core::ModelControl;
use aiserve_proto::seed::PredictRequest;
use futures::StreamExt;
use tonic::Code;

#[tokio::test]
async fn predict_uses_the_default_sentiment_model() {
    let server = common::start(None, ModelControl::Explicit).await;
    let mut c = common::client(&server).await;
    let good = c.predict("what a wonderful day", None).await.unwrap();
    assert!(good.result > 0.2, "clearly positive: {}", good.result);
    assert_eq!(good.model, "sentiment");
    assert_eq!(good.model_version, "1");
    assert_eq!(good.label, "positive");
    let bad = c
        .predict("this is a horrible, awful, miserable mess", Some("sentiment"))
        .await
        .unwrap();
    assert!(bad.result < -0.2, "clearly negative: {}", bad.result);
    assert_eq!(bad.label, "negative");
    assert!((-1.0..=1.0).contains(&good.result) && (-1.0..=1.0).contains(&bad.result));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_seed_client_message_still_works() {
    // The seed's PredictRequest has only field 1; an old client sends just that.
    let server = common::start(None, ModelControl::Explicit).await;
    let c = common::client(&server).await;
    let mut seed = c.seed();
    let r = seed
        .predict(PredictRequest {
            data: "example data".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.result.is_finite());
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn batch_and_stream_agree_with_single_calls() {
    let server = common::start(None, ModelControl::Explicit).await;
    let mut c = common::client(&server).await;
    let texts: Vec<String> = (0..150)
        .map(|i| {
            format!(
                "review {i}: {}",
                if i % 2 == 0 {
                    "great fun, loved it"
                } else {
                    "dull and bad"
                }
            )
        })
        .collect();
    let batch = c.predict_batch(texts.clone(), None).await.unwrap();
    assert_eq!(batch.results.len(), texts.len());
    assert_eq!(batch.labels.len(), texts.len());
    for (i, t) in texts.iter().enumerate().step_by(37) {
        let one = c.predict(t, None).await.unwrap();
        assert_eq!(one.result, batch.results[i]);
    }
    let requests = texts.clone().into_iter().map(|data| PredictRequest {
        data,
        ..Default::default()
    });
    let mut stream = c
        .seed()
        .predict_stream(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let mut streamed = Vec::new();
    while let Some(r) = stream.next().await {
        streamed.push(r.unwrap().result);
    }
    assert_eq!(streamed, batch.results);
    let err = c.predict_batch(vec![], None).await.unwrap_err();
    assert_eq!(err.status().unwrap().code(), Code::InvalidArgument);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn predict_errors_name_what_was_wrong() {
    let server = common::start(None, ModelControl::Explicit).await;
    let mut c = common::client(&server).await;
    let err = c.predict("x", Some("nope")).await.unwrap_err();
    let status = err.status().unwrap();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("'nope'"), "{}", status.message());
    let mut seed = c.seed();
    let err = seed
        .predict(PredictRequest {
            data: "x".into(),
            model: "sentiment".into(),
            model_version: "7".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().contains("version '7'"), "{}", err.message());
    c.unload_model("sentiment").await.unwrap();
    let err = c.predict("x", None).await.unwrap_err();
    assert_eq!(err.status().unwrap().code(), Code::Unavailable, "{err}");
    c.load_model("sentiment").await.unwrap();
    assert!(c.predict("x", None).await.is_ok());
    server.shutdown().await.unwrap();
}
