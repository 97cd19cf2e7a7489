//! The cnnzoo model zoo, defined once as data.
//!
//! Each network is a plain function that records a [`Graph`]: a closed set of
//! [`Op`]s with named parameters and shapes inferred from the input size. The
//! trainer (tch), the exporter (ONNX) and the tests all walk the same graph, so a
//! parameter is called `stage2.0.conv1.weight` in the VarStore, the `.ot`
//! checkpoint and the ONNX initializers alike.

mod builder;
mod error;
mod graph;
mod manifest;
mod weights;
pub mod zoo;

pub use builder::{Builder, Conv, Pool};
pub use error::ModelError;
pub use graph::{Graph, Node, Op, Param, ParamRole, ValueId};
pub use manifest::{EpochMetrics, Hyperparameters, Manifest, Preprocessing};
pub use weights::{Tensor32, Weights};
pub use zoo::{build, Arch, Config, Recipe, ARCHS};
