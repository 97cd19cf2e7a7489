use std::path::PathBuf;

use thiserror::Error;

/// Errors of the training library; each names the file it concerns.
#[derive(Debug, Error)]
pub enum TrainError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Idx(#[from] cnnzoo_models::data::IdxError),
    #[error("{path}: {problem}")]
    Data { path: PathBuf, problem: String },
    /// libtorch's message, cut to its first line: the C++ stack frames after it help no user.
    #[error("{path}: {}", first_line(source))]
    Torch { path: PathBuf, source: tch::TchError },
    #[error("{path}: checkpoint does not fit {arch}: {source}")]
    Checkpoint { path: PathBuf, arch: String, source: cnnzoo_models::ModelError },
    /// A device, precision or held-out share the caller chose that cannot be had.
    #[error("{0}")]
    Choice(#[from] cnnzoo_models::ChoiceError),
    #[error("{0}")]
    Model(#[from] cnnzoo_models::ModelError),
    #[error("training diverged at epoch {epoch}, batch {batch}: the loss is {loss}; kept the checkpoint of the last finished epoch ({kept}); try a smaller learning rate")]
    Diverged { epoch: usize, batch: usize, loss: f64, kept: usize },
    #[error("{dataset}: {problem}")]
    Empty { dataset: String, problem: String },
    /// Training options that cannot train (the CLI refuses them when parsing).
    #[error("{0}")]
    Options(String),
    #[error("download of {url}: {problem}")]
    Download { url: String, problem: String },
}

pub type Result<T> = std::result::Result<T, TrainError>;

/// libtorch's message without the C++ stack frames that follow its first line.
pub(crate) fn first_line(e: &tch::TchError) -> String {
    let text = e.to_string();
    text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("libtorch failed").to_string()
}

/// What `cnnzoo_models::fsio` reports: the file and the I/O error.
impl From<(PathBuf, std::io::Error)> for TrainError {
    fn from((path, source): (PathBuf, std::io::Error)) -> Self {
        TrainError::Io { path, source }
    }
}

/// Attaches the path to an I/O error.
pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io { path: path.to_path_buf(), source }
}
