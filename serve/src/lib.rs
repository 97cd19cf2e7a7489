//! cnnzoo-serve: the backbones of a model folder as a network service that
//! speaks the Open Inference Protocol (KServe V2), over HTTP/REST (with
//! Triton's binary tensor extension) and gRPC (`inference.GRPCInferenceService`),
//! so that `tritonclient`, KServe's clients or a plain `curl` use them as they
//! would use Triton.
//!
//! The layers, protocol-free first:
//! - [`tensor`]: requests and responses as both protocols carry them;
//! - [`model`]: one served backbone: its metadata, and the checks that turn a
//!   request into network input (images are decoded and preprocessed by the
//!   model's card, with the code `cnnzoo-infer` uses);
//! - [`batcher`]: dynamic batching, a bounded queue per model and one thread
//!   that merges concurrent requests into one ONNX Runtime run;
//! - [`budget`]: memory for decoding images, one budget for the server;
//! - [`repository`]: every `NAME.onnx` of the folder, opened and ready;
//! - [`config`]: a model's `NAME.card.json`, cnnzoo-infer's card flags as a file;
//! - [`http`] and [`grpc`]: the two protocols over the same [`Repository`];
//! - [`connections`]: each connection driven under the server's limits
//!   (read timeout, connection limit, shutdown that waits only for answers);
//! - [`metrics`]: Prometheus counters and histograms, and the request log.

pub mod batcher;
pub mod budget;
pub mod config;
pub mod connections;
pub mod error;
pub mod grpc;
pub mod http;
pub mod metrics;
pub mod model;
pub mod repository;
pub mod tensor;

pub use batcher::BatchConfig;
pub use error::{Kind, ServeError};
pub use repository::{Repository, RepositoryOptions};
