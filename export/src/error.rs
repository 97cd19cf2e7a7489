use thiserror::Error;

#[derive(Debug, Error)]
pub enum ExportError {
    #[error("opset {0} is not supported: the exporter writes opsets {min} to {max}", min = crate::lower::OPSETS.start(), max = crate::lower::OPSETS.end())]
    Opset(i64),
    #[error(transparent)]
    Weights(#[from] cnnzoo_models::ModelError),
    #[error("{path}: not an ONNX model: {problem}")]
    NotOnnx { path: String, problem: String },
    #[error("INT8: {0}")]
    Quantize(String),
    #[error("fp16: {0}")]
    Fp16(String),
    /// What embedding the preprocessing or writing a Triton repository,
    /// as the caller chose, cannot do.
    #[error("{0}")]
    Choice(#[from] cnnzoo_models::ChoiceError),
}
