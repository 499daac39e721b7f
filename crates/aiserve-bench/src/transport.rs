//! Connections and single calls. gRPC goes through tonic with a codec that
//! writes pre-encoded request bytes (no per-call protobuf encoding) and
//! decodes the response message (so a malformed answer is an error); HTTP goes
//! through hyper's connection-level HTTP/1.1 client.

use std::marker::PhantomData;

use aiserve_proto::inference::ModelInferResponse;
use aiserve_proto::seed::{EmbedResponse, PredictResponse};
use bytes::{BufMut, Bytes};
use http::uri::PathAndQuery;
use http::{header, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Channel, Endpoint};

use crate::{BenchArgs, BenchError, CallKind};

/// Largest gRPC answer accepted (the server's default limit).
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// One worker's way to send a request.
pub(crate) enum Caller {
    Grpc {
        grpc: tonic::client::Grpc<Channel>,
        path: PathAndQuery,
        kind: CallKind,
    },
    Http1 {
        address: String,
        host: http::HeaderValue,
        path: Uri,
        sender: Option<http1::SendRequest<Full<Bytes>>>,
    },
}

/// Opens the connections of a run and returns one caller per worker
/// (`connections x streams`).
pub(crate) async fn connect(args: &BenchArgs, address: &str) -> Result<Vec<Caller>, BenchError> {
    let (c, s) = (args.connections, args.streams);
    let mut callers = Vec::with_capacity(c * s);
    let path = match args.kind {
        CallKind::GrpcPredict => "/AIService/predict".to_string(),
        CallKind::GrpcInfer => "/inference.GRPCInferenceService/ModelInfer".to_string(),
        CallKind::HttpPredict => "/v1/predict".to_string(),
        CallKind::GrpcEmbed => "/AIService/embed".to_string(),
        CallKind::HttpEmbed => "/v1/embed".to_string(),
        CallKind::HttpInfer => {
            format!("/v2/models/{}/infer", args.model.as_deref().unwrap_or_default())
        }
    };
    let connect_error = |message: String| BenchError::Connect {
        address: address.to_string(),
        message,
    };
    match args.kind {
        CallKind::GrpcPredict | CallKind::GrpcInfer | CallKind::GrpcEmbed => {
            let endpoint = Endpoint::from_shared(format!("http://{address}"))
                .map_err(|e| connect_error(e.to_string()))?
                .tcp_nodelay(true);
            let path = PathAndQuery::try_from(path).expect("static paths are valid");
            for _ in 0..c {
                let channel = endpoint
                    .connect()
                    .await
                    .map_err(|e| connect_error(format!("{e}: {}", source_chain(&e))))?;
                let grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(MAX_MESSAGE);
                for _ in 0..s {
                    callers.push(Caller::Grpc {
                        grpc: grpc.clone(),
                        path: path.clone(),
                        kind: args.kind,
                    });
                }
            }
        }
        CallKind::HttpPredict | CallKind::HttpInfer | CallKind::HttpEmbed => {
            let host = http::HeaderValue::from_str(address).map_err(|e| connect_error(e.to_string()))?;
            let path: Uri = path
                .parse()
                .map_err(|e: http::uri::InvalidUri| connect_error(e.to_string()))?;
            for _ in 0..c * s {
                let sender = http1_connect(address).await.map_err(connect_error)?;
                callers.push(Caller::Http1 {
                    address: address.to_string(),
                    host: host.clone(),
                    path: path.clone(),
                    sender: Some(sender),
                });
            }
        }
    }
    Ok(callers)
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push(s.to_string());
        cur = s.source();
    }
    out.join(": ")
}

async fn tcp(address: &str) -> Result<tokio::net::TcpStream, String> {
    let tcp = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok(tcp)
}

async fn http1_connect(address: &str) -> Result<http1::SendRequest<Full<Bytes>>, String> {
    let (sender, conn) = http1::handshake(TokioIo::new(tcp(address).await?))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(sender)
}

impl Caller {
    /// Sends one request and waits for the whole answer. `Err` carries the
    /// label the error is counted under: a gRPC code name (`NOT_FOUND`), an
    /// HTTP status (`404`), or `connection error`.
    pub(crate) async fn call(&mut self, body: &Bytes) -> Result<(), String> {
        match self {
            Caller::Grpc { grpc, path, kind } => {
                grpc.ready()
                    .await
                    .map_err(|_| code_name(tonic::Code::Unavailable).to_string())?;
                let request = tonic::Request::new(body.clone());
                let result = match kind {
                    CallKind::GrpcInfer => grpc
                        .unary(request, path.clone(), PreEncoded::<ModelInferResponse>::default())
                        .await
                        .map(drop),
                    CallKind::GrpcEmbed => grpc
                        .unary(request, path.clone(), PreEncoded::<EmbedResponse>::default())
                        .await
                        .map(drop),
                    _ => grpc
                        .unary(request, path.clone(), PreEncoded::<PredictResponse>::default())
                        .await
                        .map(drop),
                };
                result.map_err(|status| code_name(status.code()).to_string())
            }
            Caller::Http1 {
                address,
                host,
                path,
                sender,
            } => {
                let mut s = match sender.take() {
                    Some(s) if !s.is_closed() => s,
                    _ => http1_connect(address)
                        .await
                        .map_err(|_| CONNECTION_ERROR.to_string())?,
                };
                let request = Request::builder()
                    .method(Method::POST)
                    .uri(path.clone())
                    .header(header::HOST, host.clone())
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Full::new(body.clone()))
                    .expect("the request parts are valid");
                if s.ready().await.is_err() {
                    return Err(CONNECTION_ERROR.to_string());
                }
                let result = http_exchange(s.send_request(request)).await;
                if result.as_ref().err().is_none_or(|e| e != CONNECTION_ERROR) {
                    *sender = Some(s);
                }
                result
            }
        }
    }
}

/// The label of transport failures (connection refused, reset, closed).
pub(crate) const CONNECTION_ERROR: &str = "connection error";

async fn http_exchange(
    response: impl std::future::Future<Output = hyper::Result<http::Response<hyper::body::Incoming>>>,
) -> Result<(), String> {
    let response = response.await.map_err(|_| CONNECTION_ERROR.to_string())?;
    let status = response.status();
    // Read the whole answer, so the connection can carry the next request.
    response
        .into_body()
        .collect()
        .await
        .map_err(|_| CONNECTION_ERROR.to_string())?;
    if status.is_success() {
        Ok(())
    } else {
        Err(status.as_u16().to_string())
    }
}

/// The canonical name of a gRPC status code, as gRPC documents it.
pub(crate) fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A codec that sends already-encoded protobuf bytes and decodes the answer as `M`.
struct PreEncoded<M>(PhantomData<fn() -> M>);

impl<M> Default for PreEncoded<M> {
    fn default() -> Self {
        PreEncoded(PhantomData)
    }
}

impl<M: prost::Message + Default + Send + 'static> Codec for PreEncoded<M> {
    type Encode = Bytes;
    type Decode = M;
    type Encoder = BytesEncoder;
    type Decoder = MessageDecoder<M>;

    fn encoder(&mut self) -> BytesEncoder {
        BytesEncoder
    }

    fn decoder(&mut self) -> MessageDecoder<M> {
        MessageDecoder(PhantomData)
    }
}

struct BytesEncoder;

impl Encoder for BytesEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

struct MessageDecoder<M>(PhantomData<fn() -> M>);

impl<M: prost::Message + Default> Decoder for MessageDecoder<M> {
    type Item = M;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<M>, tonic::Status> {
        M::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(format!("undecodable answer: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_are_grpc_spellings() {
        assert_eq!(code_name(tonic::Code::NotFound), "NOT_FOUND");
        assert_eq!(code_name(tonic::Code::InvalidArgument), "INVALID_ARGUMENT");
        assert_eq!(code_name(tonic::Code::from_i32(14)), "UNAVAILABLE");
    }
}
