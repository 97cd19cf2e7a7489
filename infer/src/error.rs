use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;

/// Errors of the inference library; each names the file it concerns, and
/// none names a command-line flag: an error about one of the caller's
/// choices (device, precision, output names) carries it as a
/// [`Choice`](cnnzoo_models::Choice) instead. ONNX Runtime's own errors are
/// kept as sources, not pasted into the text.
#[derive(Debug, Error)]
pub enum InferError {
    #[error("{path}: {problem}")]
    Image { path: PathBuf, problem: String },
    #[error("{path}: {problem}")]
    Model { path: PathBuf, problem: String },
    /// A file ONNX Runtime cannot load; why is the source.
    #[error("{path}: not a loadable ONNX model (truncated, corrupt or not ONNX)")]
    Unloadable {
        path: PathBuf,
        #[source]
        source: LoadError,
    },
    /// An ONNX file cnnzoo did not export, opened without the preprocessing it needs.
    #[error("{path}: {}", cnnzoo_models::CardError::Missing)]
    NoCard { path: PathBuf },
    /// A device, precision or output the caller chose that cannot be had.
    #[error("{0}")]
    Choice(#[from] cnnzoo_models::ChoiceError),
    /// ONNX Runtime failed at `context`.
    #[error("{context}")]
    Ort {
        context: String,
        #[source]
        source: ort::Error,
    },
    #[error("{0}")]
    Runtime(String),
    /// A dataset that cannot be read (it names its file).
    #[error("{0}")]
    Data(String),
    #[error("{0}")]
    Usage(String),
}

impl InferError {
    /// ONNX Runtime's `source`, failing at `context` (for `map_err`, as
    /// often as the caller needs).
    pub fn ort<E: Into<ort::Error>>(context: impl Into<String>) -> impl Fn(E) -> InferError {
        let context = context.into();
        move |source| InferError::Ort { context: context.clone(), source: source.into() }
    }
}

impl From<cnnzoo_models::data::ImageError> for InferError {
    fn from(e: cnnzoo_models::data::ImageError) -> Self {
        InferError::Image { path: e.path, problem: e.problem }
    }
}

/// Why a model could not be loaded, shared by every run that asks (a
/// backbone loads its sessions once, in the background), with the cause
/// ONNX Runtime gave.
#[derive(Debug, Clone)]
pub struct LoadError(Arc<dyn std::error::Error + Send + Sync>);

impl LoadError {
    pub fn new(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        LoadError(Arc::new(cause))
    }

    /// A failure that has no error of its own (a loading thread that panicked).
    pub fn said(what: &str) -> Self {
        LoadError(Arc::from(Box::<dyn std::error::Error + Send + Sync>::from(what)))
    }
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}
