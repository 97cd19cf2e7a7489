//! What a backbone can be given: images already decoded, image files, or
//! encoded images in memory (a service's request bodies). Files and bytes are
//! decoded as the model's card says, on the batching layer's worker threads.
//! Each gives the network input made by our preprocessing, or for a model
//! that carries its preprocessing in its graph, the decoded pixels.

use std::path::{Path, PathBuf};

use image::DynamicImage;
use ndarray::Array3;

use cnnzoo_models::data::{decode_image_with, open_image_with};
use cnnzoo_models::preprocess::{load, load_bytes, pixels, preprocess};
use cnnzoo_models::Preprocessing;

use crate::InferError;

/// A source of one network input.
pub trait ImageSource: Sync {
    /// The network input `[C, H, W]` this source gives under `p`.
    fn input(&self, p: &Preprocessing) -> Result<Array3<f32>, InferError>;

    /// The decoded pixels `[H, W, C]` (decoded as `p` says), for a model that
    /// preprocesses them in its graph.
    fn pixels(&self, p: &Preprocessing) -> Result<Array3<u8>, InferError>;
}

/// A decoded image, taken as it is (it was turned upright, or not, by whoever
/// decoded it).
impl ImageSource for DynamicImage {
    fn input(&self, p: &Preprocessing) -> Result<Array3<f32>, InferError> {
        Ok(preprocess(self, p))
    }

    fn pixels(&self, p: &Preprocessing) -> Result<Array3<u8>, InferError> {
        Ok(pixels(self.clone(), p.channels))
    }
}

/// An image file, decoded by its content.
impl ImageSource for Path {
    fn input(&self, p: &Preprocessing) -> Result<Array3<f32>, InferError> {
        Ok(load(self, p)?)
    }

    fn pixels(&self, p: &Preprocessing) -> Result<Array3<u8>, InferError> {
        Ok(pixels(open_image_with(self, &p.decoding())?, p.channels))
    }
}

impl ImageSource for PathBuf {
    fn input(&self, p: &Preprocessing) -> Result<Array3<f32>, InferError> {
        self.as_path().input(p)
    }

    fn pixels(&self, p: &Preprocessing) -> Result<Array3<u8>, InferError> {
        self.as_path().pixels(p)
    }
}

impl<T: ImageSource + ?Sized> ImageSource for &T {
    fn input(&self, p: &Preprocessing) -> Result<Array3<f32>, InferError> {
        (**self).input(p)
    }

    fn pixels(&self, p: &Preprocessing) -> Result<Array3<u8>, InferError> {
        (**self).pixels(p)
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

    fn pixels(&self, p: &Preprocessing) -> Result<Array3<u8>, InferError> {
        Ok(pixels(decode_image_with(&self.bytes, &self.name, &p.decoding())?, p.channels))
    }
}
