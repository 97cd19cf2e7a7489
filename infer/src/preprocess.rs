//! The one implementation of a model's preprocessing contract: decode, convert
//! to the model's channels, resize with the training filter, scale, normalize.
//! cnnzoo-train prepares image-folder datasets with this very function, and
//! resizes IDX batches with libtorch's bilinear filter, which [`resize_bilinear`]
//! reproduces (a test checks both).

use std::io::{BufRead, Seek};
use std::path::Path;

use image::{DynamicImage, ImageReader, Limits};
use ndarray::Array3;
use serde::{Deserialize, Serialize};

use crate::InferError;

/// How an image becomes the network's input; read from the model's metadata.
/// It mirrors `cnnzoo_models::Preprocessing`, which writes that metadata: the
/// two meet only as JSON, so this crate needs neither the zoo nor libtorch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    /// 1 = grayscale, 3 = RGB.
    pub channels: usize,
    /// Square side of the network input.
    pub size: usize,
    /// Only `bilinear` (libtorch's, align_corners = false, no antialiasing).
    pub resize: String,
    /// Multiplies 8-bit pixel values (1/255 gives [0, 1]).
    pub scale: f32,
    #[serde(default)]
    pub mean: Option<Vec<f32>>,
    #[serde(default)]
    pub std: Option<Vec<f32>>,
}

/// Largest image accepted, in pixels per side and bytes decoded: enough for a
/// 4000x3000 photo, far below what a forged header could claim.
const MAX_SIDE: u32 = 16_384;
const MAX_ALLOC: u64 = 1 << 30;

fn limits() -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(MAX_SIDE);
    l.max_image_height = Some(MAX_SIDE);
    l.max_alloc = Some(MAX_ALLOC);
    l
}

/// Decodes an image file by its content (not its extension), with bounded memory.
pub fn open_image(path: &Path) -> Result<DynamicImage, InferError> {
    let err = |problem: String| InferError::Image { path: path.to_path_buf(), problem };
    let reader = ImageReader::open(path).map_err(|e| err(e.to_string()))?;
    decode(reader, &err)
}

fn decode<R: BufRead + Seek>(reader: ImageReader<R>, err: &dyn Fn(String) -> InferError) -> Result<DynamicImage, InferError> {
    let mut reader = reader.with_guessed_format().map_err(|e| err(e.to_string()))?;
    if reader.format().is_none() {
        return Err(err("not an image (unknown format)".into()));
    }
    reader.limits(limits());
    reader.decode().map_err(|e| err(e.to_string()))
}

/// `[C, H, W]` planes in 8-bit units (0..=255 as floats, also for 16-bit
/// sources): RGB with alpha composited on black, or ITU-R 601 luma of it.
fn planes(img: &DynamicImage, channels: usize) -> Array3<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut out = Array3::<f32>::zeros((channels, h, w));
    let rgba = img.to_rgba32f();
    for (x, y, p) in rgba.enumerate_pixels() {
        let [r, g, b, a] = p.0.map(|v| v * 255.0);
        let a = a / 255.0;
        let (r, g, b) = (r * a, g * a, b * a);
        let (x, y) = (x as usize, y as usize);
        if channels == 1 {
            out[[0, y, x]] = 0.299 * r + 0.587 * g + 0.114 * b;
        } else {
            out[[0, y, x]] = r;
            out[[1, y, x]] = g;
            out[[2, y, x]] = b;
        }
    }
    out
}

/// Source coordinate and the two taps of libtorch's bilinear filter
/// (align_corners = false): `(i0, i1, weight of i1)`.
fn taps(out_len: usize, in_len: usize) -> Vec<(usize, usize, f32)> {
    let scale = in_len as f32 / out_len as f32;
    (0..out_len)
        .map(|o| {
            let src = (scale * (o as f32 + 0.5) - 0.5).max(0.0);
            let i0 = (src as usize).min(in_len - 1);
            let i1 = (i0 + 1).min(in_len - 1);
            (i0, i1, src - i0 as f32)
        })
        .collect()
}

/// Resizes `[C, H, W]` planes to `[C, size, size]` exactly as libtorch's
/// `upsample_bilinear2d(align_corners = false)` does.
pub fn resize_bilinear(src: &Array3<f32>, size: usize) -> Array3<f32> {
    let (c, h, w) = src.dim();
    if (h, w) == (size, size) {
        return src.clone();
    }
    let (ty, tx) = (taps(size, h), taps(size, w));
    Array3::from_shape_fn((c, size, size), |(k, oy, ox)| {
        let (y0, y1, ly) = ty[oy];
        let (x0, x1, lx) = tx[ox];
        let row = |y: usize| (1.0 - lx) * src[[k, y, x0]] + lx * src[[k, y, x1]];
        (1.0 - ly) * row(y0) + ly * row(y1)
    })
}

/// The network input `[C, size, size]` for one decoded image.
pub fn preprocess(img: &DynamicImage, p: &Preprocessing) -> Array3<f32> {
    let mut x = resize_bilinear(&planes(img, p.channels), p.size);
    x *= p.scale;
    if let (Some(mean), Some(std)) = (&p.mean, &p.std) {
        for (k, mut plane) in x.outer_iter_mut().enumerate() {
            plane.mapv_inplace(|v| (v - mean[k]) / std[k]);
        }
    }
    x
}
