use std::path::PathBuf;

use thiserror::Error;

/// Errors of the inference library; each names the file it concerns.
#[derive(Debug, Error)]
pub enum InferError {
    #[error("{path}: {problem}")]
    Image { path: PathBuf, problem: String },
    #[error("{path}: {problem}")]
    Model { path: PathBuf, problem: String },
    /// An ONNX file cnnzoo did not export, opened without the preprocessing it needs.
    #[error("{path}: {}", cnnzoo_models::CardError::Missing)]
    NoCard { path: PathBuf },
    #[error("{0}")]
    Device(String),
    #[error("{0}")]
    Runtime(String),
    /// A dataset that cannot be read (it names its file).
    #[error("{0}")]
    Data(String),
    #[error("{0}")]
    Usage(String),
}

impl From<cnnzoo_models::data::ImageError> for InferError {
    fn from(e: cnnzoo_models::data::ImageError) -> Self {
        InferError::Image { path: e.path, problem: e.problem }
    }
}
