//! What a backbone can be given: images already decoded, image files, or
//! encoded images in memory (a service's request bodies). Files and bytes are
//! decoded as the model's card says, on the batching layer's worker threads.

use std::path::{Path, PathBuf};

use image::DynamicImage;
use ndarray::Array3;

use cnnzoo_models::preprocess::{load, load_bytes, preprocess};
use cnnzoo_models::Preprocessing;

use crate::InferError;

/// A source of one network input.
pub trait ImageSource: Sync {
    /// The network input `[C, H, W]` this source gives under `p`.
    fn input(&self, p: &Preprocessing) -> Result<Array3<f32>, InferError>;
}

/// A decoded image, taken as it is (it was turned upright, or not, by whoever
/// decoded it).
impl ImageSource for DynamicImage {
    fn input(&self, p: &Preprocessing) -> Result<Array3<f32>, InferError> {
        Ok(preprocess(self, p))
    }
}

/// An image file, decoded by its content.
impl ImageSource for Path {
    fn input(&self, p: &Preprocessing) -> Result<Array3<f32>, InferError> {
        Ok(load(self, p)?)
    }
}

impl ImageSource for PathBuf {
    fn input(&self, p: &Preprocessing) -> Result<Array3<f32>, InferError> {
        self.as_path().input(p)
    }
}

impl<T: ImageSource + ?Sized> ImageSource for &T {
    fn input(&self, p: &Preprocessing) -> Result<Array3<f32>, InferError> {
        (**self).input(p)
    }
}

/// An encoded image held in memory, with the name its errors give.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub name: PathBuf,
    pub bytes: Vec<u8>,
}

impl ImageSource for Encoded {
    fn input(&self, p: &Preprocessing) -> Result<Array3<f32>, InferError> {
        Ok(load_bytes(&self.bytes, &self.name, p)?)
    }
}
