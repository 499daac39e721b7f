//! The Open Inference Protocol service, every RPC, through the client
//! library, against the real server with the built-in sentiment model.

mod common;

use aiserve_client::{Client, Encoding, ServingStatus};
use aiserve_core::{ModelControl, Tensor, TensorData};
use aiserve_proto::inference::{
    model_infer_request::InferInputTensor, InferTensorContents, ModelInferRequest,
};
use futures::StreamExt;
use tonic::Code;

fn texts(items: &[&str]) -> Tensor {
    Tensor::new(
        "text",
        vec![items.len() as i64, 1],
        TensorData::Bytes(items.iter().map(|s| s.as_bytes().to_vec()).collect()),
    )
}

#[tokio::test]
async fn server_and_model_metadata() {
    let server = common::start(None, ModelControl::Explicit).await;
    let mut c = common::client(&server).await;
    assert!(c.server_live().await.unwrap());
    assert!(c.server_ready().await.unwrap());
    let meta = c.server_metadata().await.unwrap();
    assert_eq!(meta.name, "aiserve");
    assert!(meta.extensions.contains(&"model_repository".to_string()));
    assert!(c.model_ready("sentiment", "").await.unwrap());
    assert!(c.model_ready("sentiment", "1").await.unwrap());
    assert!(!c.model_ready("sentiment", "2").await.unwrap());
    let m = c.model_metadata("sentiment", "").await.unwrap();
    assert_eq!(m.versions, vec!["1"]);
    assert_eq!(m.platform, "aiserve_sentiment");
    assert_eq!(
        (m.inputs[0].name.as_str(), m.inputs[0].datatype.as_str()),
        ("text", "BYTES")
    );
    assert_eq!(m.inputs[0].shape, vec![-1, 1]);
    assert_eq!(
        (m.outputs[0].name.as_str(), m.outputs[0].datatype.as_str()),
        ("score", "FP32")
    );
    let config = c.model_config("sentiment", "").await.unwrap();
    assert_eq!(config.name, "sentiment");
    assert_eq!(config.backend, "sentiment");
    assert_eq!(config.max_batch_size, 64);
    let err = c.model_metadata("nope", "").await.unwrap_err();
    assert_eq!(err.status().unwrap().code(), Code::NotFound);
    let err = c.model_ready("nope", "").await.unwrap_err();
    assert_eq!(err.status().unwrap().code(), Code::NotFound);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn infer_typed_and_raw_agree_with_predict() {
    let server = common::start(None, ModelControl::Explicit).await;
    let mut c = common::client(&server).await;
    let items = ["what a wonderful day", "this is awful", "the meeting is at noon"];
    let raw = c
        .infer("sentiment", "", vec![texts(&items)], &[], Encoding::Raw)
        .await
        .unwrap();
    let typed = c
        .infer("sentiment", "1", vec![texts(&items)], &["score"], Encoding::Typed)
        .await
        .unwrap();
    assert_eq!(raw.model, "sentiment");
    assert_eq!(raw.version, "1");
    assert_eq!(raw.outputs, typed.outputs);
    let out = &raw.outputs[0];
    assert_eq!(out.name, "score");
    assert_eq!(out.shape, vec![3, 1]);
    let TensorData::F32(scores) = &out.data else {
        panic!("FP32 output")
    };
    for (text, score) in items.iter().zip(scores) {
        assert_eq!(c.predict(text, None).await.unwrap().result, *score);
    }
    assert!(scores[0] > 0.0 && scores[1] < 0.0);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn stream_infer_answers_each_request_and_reports_errors_in_band() {
    let server = common::start(None, ModelControl::Explicit).await;
    let c = common::client(&server).await;
    let good = Client::infer_request("sentiment", "", vec![texts(&["lovely"])], &[], Encoding::Raw);
    let mut bad = Client::infer_request("sentiment", "", vec![texts(&["lovely"])], &[], Encoding::Raw);
    bad.id = "bad-one".into();
    bad.inputs[0].name = "nope".into();
    let requests = vec![good.clone(), bad, good];
    let mut stream = c
        .inference()
        .model_stream_infer(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let mut responses = Vec::new();
    while let Some(r) = stream.next().await {
        responses.push(r.unwrap());
    }
    assert_eq!(responses.len(), 3);
    assert!(responses[0].error_message.is_empty());
    assert!(
        responses[1].error_message.contains("unexpected input 'nope'"),
        "{}",
        responses[1].error_message
    );
    assert_eq!(responses[1].infer_response.as_ref().unwrap().id, "bad-one");
    assert!(responses[2].error_message.is_empty());
    let out = aiserve_client::decode_response(responses[2].infer_response.clone().unwrap()).unwrap();
    assert_eq!(out.outputs[0].shape, vec![1, 1]);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn statistics_count_requests() {
    let server = common::start(None, ModelControl::Explicit).await;
    let mut c = common::client(&server).await;
    for _ in 0..3 {
        c.infer("sentiment", "", vec![texts(&["a", "b"])], &[], Encoding::Raw)
            .await
            .unwrap();
    }
    c.predict("c", None).await.unwrap();
    let _ = c
        .infer("sentiment", "", vec![texts(&["a"; 65])], &[], Encoding::Raw)
        .await
        .unwrap_err();
    let stats = c.model_statistics("sentiment", "").await.unwrap();
    let s = &stats.model_stats[0];
    assert_eq!((s.name.as_str(), s.version.as_str()), ("sentiment", "1"));
    assert_eq!(s.execution_count, 4);
    assert_eq!(s.inference_count, 7);
    let inf = s.inference_stats.as_ref().unwrap();
    assert_eq!(inf.success.as_ref().unwrap().count, 4);
    assert_eq!(inf.compute_infer.as_ref().unwrap().count, 4);
    assert!(s.last_inference > 0);
    let all = c.model_statistics("", "").await.unwrap();
    assert_eq!(all.model_stats.len(), 1);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn repository_index_load_unload_and_health_follow_each_other() {
    let server = common::start(None, ModelControl::Explicit).await;
    let mut c = common::client(&server).await;
    let index = c.repository_index(false).await.unwrap();
    assert_eq!(index.len(), 1);
    assert_eq!(
        (
            index[0].name.as_str(),
            index[0].version.as_str(),
            index[0].state.as_str()
        ),
        ("sentiment", "1", "READY")
    );
    assert_eq!(c.health("").await.unwrap(), ServingStatus::Serving);
    assert_eq!(c.health("AIService").await.unwrap(), ServingStatus::Serving);
    assert_eq!(
        c.health("inference.GRPCInferenceService").await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(c.health("sentiment").await.unwrap(), ServingStatus::Serving);
    let err = c.health("no-such-service").await.unwrap_err();
    assert_eq!(err.status().unwrap().code(), Code::NotFound);

    c.unload_model("sentiment").await.unwrap();
    assert!(!c.model_ready("sentiment", "").await.unwrap());
    let index = c.repository_index(false).await.unwrap();
    assert_eq!(
        (index[0].state.as_str(), index[0].reason.as_str()),
        ("UNAVAILABLE", "unloaded")
    );
    assert!(c.repository_index(true).await.unwrap().is_empty());
    assert!(
        common::eventually(100, async || c.clone().health("sentiment").await.ok()
            == Some(ServingStatus::NotServing))
        .await
    );
    let err = c
        .infer("sentiment", "", vec![texts(&["x"])], &[], Encoding::Raw)
        .await
        .unwrap_err();
    assert_eq!(err.status().unwrap().code(), Code::Unavailable);
    let err = c.model_metadata("sentiment", "").await.unwrap_err();
    assert_eq!(err.status().unwrap().code(), Code::Unavailable);

    c.load_model("sentiment").await.unwrap();
    assert!(c.model_ready("sentiment", "").await.unwrap());
    assert!(
        common::eventually(100, async || c.clone().health("sentiment").await.ok()
            == Some(ServingStatus::Serving))
        .await
    );
    let err = c.load_model("nope").await.unwrap_err();
    assert_eq!(err.status().unwrap().code(), Code::NotFound);
    let err = c.unload_model("nope").await.unwrap_err();
    assert_eq!(err.status().unwrap().code(), Code::NotFound);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn model_control_none_refuses_load_and_unload() {
    let server = common::start(None, ModelControl::None).await;
    let mut c = common::client(&server).await;
    let err = c.unload_model("sentiment").await.unwrap_err();
    assert_eq!(err.status().unwrap().code(), Code::FailedPrecondition);
    assert!(err.to_string().contains("--model-control explicit"), "{err}");
    assert!(c.model_ready("sentiment", "").await.unwrap());
    server.shutdown().await.unwrap();
}

/// Each bad input of the list gets INVALID_ARGUMENT (or the listed
/// code) with a message naming the tensor, and the server keeps serving.
#[tokio::test]
async fn bad_requests_get_clear_statuses() {
    let server = common::start_with(
        None,
        ModelControl::Explicit,
        aiserve_server::ServerOptions {
            max_message_bytes: 64 * 1024,
            ..Default::default()
        },
    )
    .await;
    let c = common::client(&server).await;
    let mut v2 = c.inference();
    let base = Client::infer_request("sentiment", "", vec![texts(&["fine"])], &[], Encoding::Raw);
    let typed = Client::infer_request("sentiment", "", vec![texts(&["fine"])], &[], Encoding::Typed);
    let mut cases: Vec<(&str, ModelInferRequest, Code, Vec<&str>)> = Vec::new();

    let mut r = base.clone();
    r.model_name = "nope".into();
    cases.push(("unknown model", r, Code::NotFound, vec!["'nope'"]));
    let mut r = base.clone();
    r.model_version = "9".into();
    cases.push(("unknown version", r, Code::NotFound, vec!["version '9'"]));
    let mut r = typed.clone();
    r.inputs[0].datatype = "FP32".into();
    r.inputs[0].contents = Some(InferTensorContents {
        fp32_contents: vec![1.0],
        ..Default::default()
    });
    cases.push((
        "wrong datatype",
        r,
        Code::InvalidArgument,
        vec!["'text'", "FP32", "expects BYTES"],
    ));
    let mut r = base.clone();
    r.inputs[0].datatype = "FLOAT32".into();
    cases.push((
        "unknown datatype",
        r,
        Code::InvalidArgument,
        vec!["'text'", "FLOAT32"],
    ));
    let mut r = typed.clone();
    r.inputs[0].shape = vec![1, 2];
    r.inputs[0]
        .contents
        .as_mut()
        .unwrap()
        .bytes_contents
        .push(b"x".to_vec());
    cases.push((
        "wrong shape",
        r,
        Code::InvalidArgument,
        vec!["'text'", "[1, 2]", "[-1, 1]"],
    ));
    let mut r = base.clone();
    r.inputs[0].shape = vec![2, 1];
    cases.push((
        "raw byte length vs shape",
        r,
        Code::InvalidArgument,
        vec!["'text'", "shape needs 2"],
    ));
    let mut r = base.clone();
    r.raw_input_contents[0] = vec![9u8, 0, 0, 0, b'a'].into();
    cases.push((
        "raw BYTES length prefix",
        r,
        Code::InvalidArgument,
        vec!["'text'", "declares 9 bytes"],
    ));
    let mut r = typed.clone();
    r.inputs[0]
        .contents
        .as_mut()
        .unwrap()
        .bytes_contents
        .push(b"extra".to_vec());
    cases.push((
        "count vs shape",
        r,
        Code::InvalidArgument,
        vec!["'text'", "2 values", "needs 1"],
    ));
    let mut r = base.clone();
    r.inputs.clear();
    r.raw_input_contents.clear();
    cases.push((
        "missing input",
        r,
        Code::InvalidArgument,
        vec!["missing input 'text'"],
    ));
    let mut r = typed.clone();
    let mut extra: InferInputTensor = r.inputs[0].clone();
    extra.name = "extra".into();
    r.inputs.push(extra);
    cases.push((
        "extra input",
        r,
        Code::InvalidArgument,
        vec!["unexpected input 'extra'"],
    ));
    let mut r = typed.clone();
    r.inputs[0].contents.as_mut().unwrap().bytes_contents[0] = vec![0xff, 0xfe, 0x41];
    cases.push((
        "undecodable text",
        r,
        Code::InvalidArgument,
        vec!["'text'", "UTF-8"],
    ));
    let mut r = base.clone();
    r.outputs.push(
        aiserve_proto::inference::model_infer_request::InferRequestedOutputTensor {
            name: "nope".into(),
            parameters: Default::default(),
        },
    );
    cases.push(("unknown output", r, Code::InvalidArgument, vec!["output 'nope'"]));
    let mut r = typed.clone();
    r.inputs[0].shape = vec![65, 1];
    r.inputs[0].contents.as_mut().unwrap().bytes_contents = vec![b"x".to_vec(); 65];
    cases.push((
        "batch over max_batch_size",
        r,
        Code::InvalidArgument,
        vec!["'text'", "batch size 65", "1..=64"],
    ));
    let mut r = typed.clone();
    r.inputs[0].contents.as_mut().unwrap().bytes_contents[0] = vec![b'a'; 100 * 1024];
    cases.push((
        "message over the limit",
        r,
        Code::ResourceExhausted,
        vec!["65536", "--max-message-bytes"],
    ));

    for (what, request, code, needles) in cases {
        let status = v2.model_infer(request).await.expect_err(what);
        assert_eq!(status.code(), code, "{what}: {}", status.message());
        for n in needles {
            assert!(
                status.message().contains(n),
                "{what}: '{}' lacks '{n}'",
                status.message()
            );
        }
    }
    // Still serving after all that.
    let ok = c
        .clone()
        .infer("sentiment", "", vec![texts(&["still here"])], &[], Encoding::Raw)
        .await;
    assert!(ok.is_ok());
    server.shutdown().await.unwrap();
}
