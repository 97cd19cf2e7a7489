//! cnnzoo's ONNX exporter: lowers a model graph and its weights to an ONNX
//! `ModelProto` (our own prost types, no Python), with the model card in its
//! metadata; and reads ONNX files back for `--inspect`.

mod error;
pub mod inspect;
mod lower;
mod onnx_build;

pub use error::ExportError;
pub use lower::{lower, ExportOptions, DEFAULT_OPSET, OPSETS};
