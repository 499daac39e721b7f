//! Compiles the `.proto` files with protox (no system `protoc`) and generates
//! prost messages and tonic clients and servers. The encoded descriptor set is
//! written beside the generated code for server reflection and for parsing
//! `config.pbtxt` files.

use std::{env, fs, path::PathBuf};

use prost::Message;

fn main() {
    let protos = ["ai_service.proto", "grpc_service.proto", "model_config.proto"];
    for p in &protos {
        println!("cargo:rerun-if-changed=proto/{p}");
    }
    let fds = protox::compile(protos, ["proto"]).expect("the .proto files compile");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR is set"));
    fs::write(out.join("aiserve_descriptor.bin"), fds.encode_to_vec()).expect("descriptor set written");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .bytes(".inference.ModelInferRequest.raw_input_contents")
        .bytes(".inference.ModelInferResponse.raw_output_contents")
        .compile_fds(fds)
        .expect("code generated");
}
