//! cnnzoo's ONNX exporter: lowers a model graph and its weights to an ONNX
//! `ModelProto` (our own prost types, no Python), with the model card
//! (`cnnzoo_models::card::metadata`) in its metadata; and reads ONNX files
//! back for `--inspect`. The library needs neither libtorch nor ONNX Runtime
//! (`default-features = false`); the `cnnzoo-export` binary reads `.ot`
//! checkpoints through cnnzoo-train (feature `checkpoint`, on by default).
//! [`triton`] lays an export out as a Triton model repository entry.

pub mod depthwise;
pub mod embed;
mod error;
pub mod fp16;
pub mod inspect;
mod lower;
mod onnx_build;
pub mod quantize;
pub mod triton;

pub use error::ExportError;
pub use lower::{lower, ExportOptions, DEFAULT_OPSET, OPSETS};
