//! The Open Inference Protocol over gRPC: `inference.GRPCInferenceService`,
//! generated from `proto/inference.proto`. Inputs come as typed contents
//! (`fp32_contents`, `bytes_contents`) or, as clients send them by default,
//! `raw_input_contents`; outputs always go back as `raw_output_contents`.

use std::sync::Arc;
use std::time::Instant;

use tonic::{Request, Response, Status};

use cnnzoo_proto::inference::grpc_inference_service_server::{GrpcInferenceService, GrpcInferenceServiceServer};
use cnnzoo_proto::inference::{
    model_infer_response, model_metadata_response, InferTensorContents, ModelInferRequest, ModelInferResponse, ModelMetadataRequest,
    ModelMetadataResponse, ModelReadyRequest, ModelReadyResponse, ServerLiveRequest, ServerLiveResponse, ServerMetadataRequest,
    ServerMetadataResponse, ServerReadyRequest, ServerReadyResponse,
};

use crate::error::ServeError;
use crate::metrics::{log_request, RequestLog};
use crate::model::TensorMetadata;
use crate::repository::Repository;
use crate::tensor::{Data, InferRequest, RequestInput, BYTES, FP32, VERSION};

/// The gRPC service over a repository.
#[derive(Debug, Clone)]
pub struct Service {
    repo: Arc<Repository>,
}

/// The service, ready for tonic's router, with messages up to `max_message` bytes.
pub fn service(repo: Arc<Repository>, max_message: usize) -> GrpcInferenceServiceServer<Service> {
    GrpcInferenceServiceServer::new(Service { repo }).max_decoding_message_size(max_message).max_encoding_message_size(usize::MAX)
}

fn tensor_metadata(t: TensorMetadata) -> model_metadata_response::TensorMetadata {
    model_metadata_response::TensorMetadata { name: t.name, datatype: t.datatype, shape: t.shape }
}

/// A gRPC request as the protocol's request.
fn parse(r: ModelInferRequest) -> Result<InferRequest, ServeError> {
    if !r.raw_input_contents.is_empty() && r.raw_input_contents.len() != r.inputs.len() {
        return Err(ServeError::bad_request(format!(
            "{} raw_input_contents for {} inputs: send one per input, or none",
            r.raw_input_contents.len(),
            r.inputs.len()
        )));
    }
    let mut raw = r.raw_input_contents.into_iter();
    let mut inputs = vec![];
    for t in r.inputs {
        let data = match (raw.next(), t.contents) {
            (Some(_), Some(c)) if c != InferTensorContents::default() => {
                return Err(ServeError::bad_request(format!("input '{}': both contents and raw_input_contents", t.name)))
            }
            (Some(bytes), _) => Data::from_raw(&t.datatype, &bytes, &t.name)?,
            (None, Some(c)) => match t.datatype.as_str() {
                FP32 => Data::Fp32(c.fp32_contents),
                BYTES => Data::Bytes(c.bytes_contents),
                other => return Err(crate::tensor::unsupported_datatype(&t.name, other)),
            },
            (None, None) => return Err(ServeError::bad_request(format!("input '{}' has no contents", t.name))),
        };
        inputs.push(RequestInput { name: t.name, datatype: t.datatype, shape: t.shape, data });
    }
    Ok(InferRequest { id: r.id, inputs, outputs: r.outputs.into_iter().map(|o| o.name).collect() })
}

#[tonic::async_trait]
impl GrpcInferenceService for Service {
    async fn server_live(&self, _: Request<ServerLiveRequest>) -> Result<Response<ServerLiveResponse>, Status> {
        Ok(Response::new(ServerLiveResponse { live: true }))
    }

    async fn server_ready(&self, _: Request<ServerReadyRequest>) -> Result<Response<ServerReadyResponse>, Status> {
        Ok(Response::new(ServerReadyResponse { ready: self.repo.models().all(|m| m.ready()) }))
    }

    async fn model_ready(&self, r: Request<ModelReadyRequest>) -> Result<Response<ModelReadyResponse>, Status> {
        // An unknown model or version is simply not ready, as Triton answers.
        let r = r.into_inner();
        Ok(Response::new(ModelReadyResponse { ready: self.repo.model(&r.name, &r.version).is_ok_and(|m| m.ready()) }))
    }

    async fn server_metadata(&self, _: Request<ServerMetadataRequest>) -> Result<Response<ServerMetadataResponse>, Status> {
        let (name, version, extensions) = Repository::server_metadata();
        Ok(Response::new(ServerMetadataResponse {
            name: name.into(),
            version: version.into(),
            extensions: extensions.into_iter().map(String::from).collect(),
        }))
    }

    async fn model_metadata(&self, r: Request<ModelMetadataRequest>) -> Result<Response<ModelMetadataResponse>, Status> {
        let r = r.into_inner();
        let m = self.repo.model(&r.name, &r.version)?;
        Ok(Response::new(ModelMetadataResponse {
            name: m.name.clone(),
            versions: vec![VERSION.into()],
            platform: m.platform().into(),
            inputs: m.inputs().into_iter().map(tensor_metadata).collect(),
            outputs: m.outputs().into_iter().map(tensor_metadata).collect(),
        }))
    }

    async fn model_infer(&self, r: Request<ModelInferRequest>) -> Result<Response<ModelInferResponse>, Status> {
        let start = Instant::now();
        // The message is decoded, so the request is whole.
        let _answering = crate::connections::answering(r.extensions());
        let r = r.into_inner();
        let (name, id) = (r.model_name.clone(), r.id.clone());
        let (rows, result) = match self.repo.model_for_infer(&r.model_name, &r.model_version) {
            Err(e) => (0, Err(e)),
            Ok(model) => {
                let arrival = model.arrival();
                let (rows, result) = match parse(r) {
                    Ok(request) => model.infer(request, arrival).await,
                    Err(e) => (0, Err(e)),
                };
                model.metrics.request("grpc", result.as_ref().err().map(|e| e.kind));
                (rows, result)
            }
        };
        log_request(&RequestLog {
            protocol: "grpc",
            model: &name,
            id: &id,
            status: result.as_ref().err().map_or(200, |e| e.kind.http_status()),
            rows,
            elapsed: start.elapsed(),
            error: result.as_ref().err().map(|e| e.message.as_str()),
        });
        let response = result?;
        Ok(Response::new(ModelInferResponse {
            model_name: response.model,
            model_version: VERSION.into(),
            id: response.id,
            parameters: Default::default(),
            raw_output_contents: response.outputs.iter().map(|o| o.raw()).collect(),
            outputs: response
                .outputs
                .iter()
                .map(|o| model_infer_response::InferOutputTensor {
                    name: o.name.into(),
                    datatype: FP32.into(),
                    shape: o.shape.iter().map(|&d| d as i64).collect(),
                    parameters: Default::default(),
                    contents: None,
                })
                .collect(),
        }))
    }
}
