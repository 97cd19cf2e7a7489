//! cnnzoo's inference side: exported backbones on ONNX Runtime (CUDA where
//! asked for and present, CPU otherwise), as a CLI and as a library that
//! services embed as a feature extractor. It needs the ONNX file alone:
//! classes and preprocessing come from the model's card, which
//! `cnnzoo-models` defines (with the image decoding and preprocessing shared
//! with training). It never links libtorch.
//!
//! ```no_run
//! use cnnzoo_infer::{Backbone, BackboneOptions, Device};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let opts = BackboneOptions { device: Device::Auto, ..Default::default() };
//! let backbone = Backbone::open("runs/densenet.onnx", &opts)?;
//! // Files are decoded in parallel, as the model's card says, while it runs.
//! let features = backbone.embed(&["shoe.png", "bag.jpg"].map(std::path::Path::new))?; // [2, 248]
//! let img = cnnzoo_infer::open_image("shoe.png".as_ref())?;
//! let top = &backbone.classify(&[img], 3)?[0];
//! println!("{} {:.3} on {}", top[0].label, top[0].probability, backbone.provider());
//! # Ok(()) }
//! ```

mod backbone;
pub mod bench;
mod cuda;
mod error;
mod eval;
mod fastest;
pub mod feature_probe;
pub mod npy;
mod onnx_header;
mod pipeline;
mod probe;
mod runtime;
mod sessions;
mod signature;
mod source;

pub use backbone::{no_features, valid_name, Backbone, BackboneOptions, Batch, Input, Outputs, Prediction};
pub use cnnzoo_models::data::{collect_images, open_image, read_fashion_mnist, IMAGE_EXTENSIONS};
pub use cnnzoo_models::preprocess::preprocess;
pub use cnnzoo_models::{Card, CardOverrides, Device, Preprocessing};
pub use cuda::DRIVER as CUDA_DRIVER;
pub use error::{InferError, LoadError};
pub use eval::{evaluate, Evaluation};
pub use probe::Probe;
pub use runtime::{library_for, library_path, openvino_library, runtime_info, version_report, Precision, Provider, RuntimeInfo};
pub use signature::{OutputNames, Signature};
pub use source::{Encoded, ImageSource};
