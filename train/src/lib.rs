//! cnnzoo's trainer: the tch backend that interprets any zoo graph, the
//! datasets, the seed's training loop, and checkpoints with their manifests.

pub mod checkpoint;
pub mod data;
pub mod device;
mod error;
pub mod net;
pub mod plot;
pub mod trainer;

pub use error::{Result, TrainError};
pub use net::Net;
