//! The cnnzoo model zoo, defined once as data.
//!
//! Each network is a plain function that records a [`Graph`]: a closed set of
//! [`Op`]s with named parameters and shapes inferred from the input size. The
//! trainer (tch), the exporter (ONNX) and the tests all walk the same graph, so a
//! parameter is called `stage2.0.conv1.weight` in the VarStore, the `.ot`
//! checkpoint and the ONNX initializers alike.
//!
//! It is also the model contract every other crate shares, with neither
//! libtorch nor ONNX Runtime: the [`card`] (metadata keys, output names,
//! validation), [`Preprocessing`] and its one implementation, the [`data`]
//! readers (IDX, image files, image folders), atomic file writes ([`fsio`]), the
//! `--device` syntax, and the [`Choice`] an error is about.

mod builder;
pub mod card;
mod choice;
pub mod data;
mod device;
mod error;
/// The most images in one batch, in every binary and every manifest.
pub const MAX_BATCH: usize = 4096;
pub mod fsio;
mod graph;
pub mod json_path;
mod manifest;
pub mod measured;
pub mod preprocess;
#[doc(hidden)]
pub mod spelled;
pub mod tuning;
pub mod weights;
pub mod zoo;

pub use builder::{Builder, Conv, Pool};
pub use card::{Card, CardError, CardOverrides};
pub use choice::{Choice, ChoiceError};
pub use device::Device;
pub use error::ModelError;
pub use graph::{Graph, Node, Op, Param, ParamRole, ValueId};
pub use manifest::{EpochMetrics, Hyperparameters, Manifest};
pub use preprocess::Preprocessing;
pub use tuning::Tuning;
pub use weights::{Tensor32, Weights};
pub use zoo::{build, Arch, Config, Family, Published, Recipe, ARCHS, IMAGENET_MEAN, IMAGENET_STD};
