//! Protocol definitions of aiserve, generated at build time from `proto/`.
//!
//! This crate holds generated code only (and the encoded descriptor set that
//! server reflection and the `config.pbtxt` parser need). Three packages:
//!
//! - [`seed`]: the seed's `AIService` (no proto package, method path
//!   `/AIService/predict`), extended with new fields and methods that old
//!   clients ignore.
//! - [`inference`]: the Open Inference Protocol (KServe V2) gRPC service with
//!   Triton's extensions, and Triton's `ModelConfig` schema.

#![allow(clippy::all, missing_docs, nonstandard_style)]

/// The seed's `AIService` and its messages (the proto has no package).
pub mod seed {
    include!(concat!(env!("OUT_DIR"), "/_.rs"));
}

/// The Open Inference Protocol service (`inference.GRPCInferenceService`) and
/// Triton's model configuration messages.
pub mod inference {
    include!(concat!(env!("OUT_DIR"), "/inference.rs"));
}

/// The encoded `FileDescriptorSet` of every `.proto` file of this crate, for
/// server reflection and for parsing text-format model configs.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/aiserve_descriptor.bin"));
