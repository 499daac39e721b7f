//! Server reflection lists every service, and describes their files, so
//! reflection-based tools (grpcurl, Postman) can call them.

mod common;

use aiserve_core::ModelControl;
use prost::Message;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

async fn ask(addr: &str, request: MessageRequest) -> MessageResponse {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    stream.message().await.unwrap().unwrap().message_response.unwrap()
}

#[tokio::test]
async fn lists_and_describes_every_service() {
    let server = common::start(None, ModelControl::Explicit).await;
    let addr = server.addr.to_string();
    let MessageResponse::ListServicesResponse(list) =
        ask(&addr, MessageRequest::ListServices(String::new())).await
    else {
        panic!("expected a service list")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "AIService",
        "inference.GRPCInferenceService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} not in {names:?}");
    }
    for symbol in [
        "AIService",
        "inference.GRPCInferenceService",
        "grpc.health.v1.Health",
    ] {
        let MessageResponse::FileDescriptorResponse(files) =
            ask(&addr, MessageRequest::FileContainingSymbol(symbol.into())).await
        else {
            panic!("expected the file of {symbol}")
        };
        let file =
            prost_types::FileDescriptorProto::decode(files.file_descriptor_proto[0].as_slice()).unwrap();
        let short = symbol.rsplit('.').next().unwrap();
        assert!(
            file.service.iter().any(|s| s.name() == short),
            "{symbol} not described"
        );
    }
    server.shutdown().await.unwrap();
}
