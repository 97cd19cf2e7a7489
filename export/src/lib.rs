//! cnnzoo's ONNX exporter: lowers a model graph and its weights to an ONNX
//! `ModelProto` (our own prost types, no Python), with the model card
//! (`cnnzoo_models::card::metadata`) in its metadata; and reads ONNX files
//! back for `--inspect`. It needs neither libtorch nor ONNX Runtime: the
//! `cnnzoo-export` command, which reads `.ot` checkpoints and checks its
//! exports against libtorch, is the package in `export/cli/`.
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
