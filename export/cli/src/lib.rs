//! `cnnzoo-export` apart from its exporter: the pipeline that turns a
//! cnnzoo-train checkpoint or published weights into a checked ONNX model
//! ([`export`]), and what it needs that the exporter library does not:
//! libtorch to read `.ot` checkpoints and to be the reference
//! ([`validate`]), ONNX Runtime to calibrate INT8 ([`int8`]), and the
//! weight importers' manifest ([`import`]). The binary in `src/main.rs`
//! parses the flags ([`Cli`]) and prints what the pipeline returns.

mod args;
pub mod import;
pub mod int8;
mod pipeline;
pub mod validate;

pub use args::{CalibrationMethod, Cli};
pub use pipeline::{export, export_altered, Exported};
