//! cnnzoo's trainer: the tch backend that interprets any zoo graph, the
//! datasets as tensors (read by `cnnzoo_models::data`), the seed's training
//! loop, and checkpoints with their manifests. It links libtorch, never ONNX
//! Runtime.

pub mod augment;
pub mod autotune;
pub mod bench;
pub mod checkpoint;
pub mod data;
pub mod device;
mod error;
pub mod net;
pub mod plot;
pub mod precision;
pub mod step;
pub mod trainer;

pub use error::{Result, TrainError};
pub use net::{Layout, Net};
pub use precision::Precision;
