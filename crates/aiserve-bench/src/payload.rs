//! Request bodies, encoded once before a run: protobuf messages (without the
//! 5-byte gRPC frame prefix, which tonic adds) or JSON documents.

use std::path::Path;

use aiserve_client::{Client, Encoding};
use aiserve_core::json::tensor_from_json;
use aiserve_proto::seed::{EmbedRequest, PredictRequest};
use bytes::Bytes;
use prost::Message;
use serde_json::Value;

use crate::{BenchArgs, BenchError, CallKind, DEFAULT_TEXT};

/// The encoded bodies to cycle through.
pub(crate) fn build(args: &BenchArgs) -> Result<Vec<Bytes>, BenchError> {
    let model = args.model.as_deref();
    let bodies = match args.kind {
        CallKind::GrpcPredict | CallKind::HttpPredict | CallKind::GrpcEmbed | CallKind::HttpEmbed => {
            let texts = match &args.input {
                Some(path) => read_lines(path)?,
                None => vec![args.text.clone().unwrap_or_else(|| DEFAULT_TEXT.to_string())],
            };
            texts
                .into_iter()
                .map(|text| match args.kind {
                    CallKind::GrpcPredict => PredictRequest {
                        data: text,
                        model: model.unwrap_or_default().to_string(),
                        model_version: String::new(),
                    }
                    .encode_to_vec(),
                    CallKind::GrpcEmbed => EmbedRequest {
                        texts: vec![text],
                        model: model.unwrap_or_default().to_string(),
                        model_version: String::new(),
                    }
                    .encode_to_vec(),
                    _ => {
                        let mut body = match args.kind {
                            CallKind::HttpEmbed => serde_json::json!({ "texts": [text] }),
                            _ => serde_json::json!({ "data": text }),
                        };
                        if let Some(m) = model {
                            body["model"] = Value::from(m);
                        }
                        body.to_string().into_bytes()
                    }
                })
                .map(Bytes::from)
                .collect()
        }
        CallKind::GrpcInfer | CallKind::HttpInfer => {
            let path = args.input.as_deref().expect("checked: infer kinds have --input");
            let model = model.expect("checked: infer kinds have --model");
            read_requests(path)?
                .iter()
                .map(|request| match args.kind {
                    CallKind::GrpcInfer => infer_message(path, model, request).map(|m| m.encode_to_vec()),
                    _ => Ok(request.to_string().into_bytes()),
                })
                .map(|b| b.map(Bytes::from))
                .collect::<Result<_, _>>()?
        }
    };
    Ok(bodies)
}

fn input_error(path: &Path, message: impl Into<String>) -> BenchError {
    BenchError::Input {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn read(path: &Path) -> Result<String, BenchError> {
    std::fs::read_to_string(path).map_err(|e| input_error(path, e.to_string()))
}

/// Non-empty lines (without their line ending).
fn read_lines(path: &Path) -> Result<Vec<String>, BenchError> {
    let lines: Vec<String> = read(path)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect();
    if lines.is_empty() {
        return Err(input_error(path, "no payload: the file has no non-empty line"));
    }
    Ok(lines)
}

/// One V2 JSON request (the whole file), or one per line.
fn read_requests(path: &Path) -> Result<Vec<Value>, BenchError> {
    let text = read(path)?;
    let requests = match serde_json::from_str::<Value>(&text) {
        Ok(v) => vec![v],
        Err(whole) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str::<Value>)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| input_error(path, format!("not a JSON request, nor one per line: {whole}")))?,
    };
    if requests.is_empty() {
        return Err(input_error(path, "no request in the file"));
    }
    for r in &requests {
        if !r.get("inputs").is_some_and(Value::is_array) {
            return Err(input_error(path, "a request has no \"inputs\" array"));
        }
    }
    Ok(requests)
}

/// The `ModelInferRequest` of a V2 JSON request, inputs in raw contents.
fn infer_message(
    path: &Path,
    model: &str,
    request: &Value,
) -> Result<aiserve_proto::inference::ModelInferRequest, BenchError> {
    let inputs = request["inputs"]
        .as_array()
        .expect("checked: inputs is an array")
        .iter()
        .map(tensor_from_json)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| input_error(path, e.to_string()))?;
    let outputs: Vec<&str> = request
        .get("outputs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|o| o.get("name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    Ok(Client::infer_request(model, "", inputs, &outputs, Encoding::Raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> BenchArgs {
        BenchArgs::try_parse_from(v).unwrap()
    }

    #[test]
    fn predict_bodies_default_to_the_seed_text() {
        let grpc = build(&args(&["grpc-predict"])).unwrap();
        let decoded = PredictRequest::decode(grpc[0].clone()).unwrap();
        assert_eq!(decoded.data, DEFAULT_TEXT);
        let http = build(&args(&["http-predict", "--model", "m", "--text", "hi"])).unwrap();
        let v: Value = serde_json::from_slice(&http[0]).unwrap();
        assert_eq!(v, serde_json::json!({"data": "hi", "model": "m"}));
    }

    #[test]
    fn lines_and_json_lines_are_cycled_payloads() {
        let dir = tempfile::tempdir().unwrap();
        let texts = dir.path().join("texts.txt");
        std::fs::write(&texts, "one\n\ntwo\r\n").unwrap();
        let p = texts.to_str().unwrap();
        assert_eq!(build(&args(&["grpc-predict", "--input", p])).unwrap().len(), 2);
        let reqs = dir.path().join("reqs.jsonl");
        let one = r#"{"inputs":[{"name":"x","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]}"#;
        std::fs::write(&reqs, format!("{one}\n{one}\n")).unwrap();
        let p = reqs.to_str().unwrap();
        let grpc = build(&args(&["grpc-infer", "--model", "vec384", "--input", p])).unwrap();
        assert_eq!(grpc.len(), 2);
        let m = aiserve_proto::inference::ModelInferRequest::decode(grpc[0].clone()).unwrap();
        assert_eq!(
            (m.model_name.as_str(), m.raw_input_contents[0].len()),
            ("vec384", 16)
        );
        let http = build(&args(&["http-infer", "--model", "vec384", "--input", p])).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&http[1]).unwrap()["inputs"][0]["name"],
            "x"
        );
    }

    #[test]
    fn bad_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{not json").unwrap();
        let p = bad.to_str().unwrap();
        let err = build(&args(&["grpc-infer", "--model", "m", "--input", p])).unwrap_err();
        assert!(err.to_string().contains("bad.json"), "{err}");
    }
}
