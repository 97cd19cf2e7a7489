use thiserror::Error;

/// What can go wrong while building a graph or matching weights to it.
#[derive(Debug, Error)]
pub enum ModelError {
    #[error("unknown architecture {name:?}; known: {}", known.join(", "))]
    UnknownArch { name: String, known: Vec<&'static str> },
    #[error("input size {size} is too small for {arch}: {detail}; the smallest size that works is {min}")]
    TooSmall { arch: String, size: usize, min: usize, detail: String },
    /// Raised while recording a layer; [`crate::build`] turns it into `TooSmall`.
    #[error("layer {node}: {detail}")]
    Shape { node: String, detail: String },
    #[error("parameter {name}: missing from the weights")]
    MissingParam { name: String },
    #[error("parameter {name}: expected shape {expected:?}, found {found:?}")]
    ParamShape { name: String, expected: Vec<usize>, found: Vec<usize> },
    #[error("unexpected tensor {name} (not a parameter of {arch})")]
    UnexpectedParam { name: String, arch: String },
    #[error("invalid configuration: {0}")]
    Config(String),
}
