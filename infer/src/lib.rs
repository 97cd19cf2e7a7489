//! cnnzoo's inference side: ONNX Runtime sessions over exported backbones.
pub mod preprocess;

mod error;
pub use error::InferError;
