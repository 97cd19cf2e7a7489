//! How an image becomes a network's input: the preprocessing half of the model
//! contract, and its one implementation (convert to the model's channels,
//! resize with the training filter, scale, normalize). cnnzoo-train prepares
//! image-folder datasets with this very function and resizes IDX batches with
//! libtorch's bilinear filter, which [`resize_bilinear`] reproduces (a test
//! checks both); cnnzoo-infer applies it to every image it serves.

use image::DynamicImage;
use ndarray::Array3;
use serde::{Deserialize, Serialize};

/// How an image becomes the network's input. Training writes it into the
/// manifest, the exporter into the ONNX metadata, inference reads it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    /// 1 = grayscale (ITU-R 601 luma, alpha composited on black), 3 = RGB.
    pub channels: usize,
    /// Square side the image is resized to.
    pub size: usize,
    /// Resize filter: `bilinear` (libtorch's, align_corners = false, no antialiasing).
    pub resize: String,
    /// Pixels are multiplied by this (1/255 maps bytes to [0, 1]).
    pub scale: f32,
    /// Per-channel mean and std subtracted and divided after scaling, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<Vec<f32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<Vec<f32>>,
}

/// The resize filters this implementation knows.
pub const RESIZE_FILTERS: [&str; 1] = ["bilinear"];

/// The largest input side a card may ask for (the zoo's largest is 224).
pub const MAX_INPUT_SIDE: usize = 4096;

impl Preprocessing {
    /// What cnnzoo-train does: bilinear resize to `size`, scale to [0, 1].
    pub fn bilinear_unit(channels: usize, size: usize) -> Self {
        Preprocessing { channels, size, resize: "bilinear".into(), scale: 1.0 / 255.0, mean: None, std: None }
    }

    /// Checks that the steps can be carried out and give finite numbers:
    /// 1 or 3 channels, a side of 1 to [`MAX_INPUT_SIDE`], a known filter, a
    /// finite positive scale, and mean/std given together, one value per
    /// channel, finite, with std > 0.
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.channels, 1 | 3) {
            return Err(format!("channels {}: must be 1 (grayscale) or 3 (RGB)", self.channels));
        }
        if !(1..=MAX_INPUT_SIDE).contains(&self.size) {
            return Err(format!("size {}: must be 1 to {MAX_INPUT_SIDE} pixels", self.size));
        }
        if !RESIZE_FILTERS.contains(&self.resize.as_str()) {
            return Err(format!("resize {:?}: unknown filter (known: {})", self.resize, RESIZE_FILTERS.join(", ")));
        }
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(format!("scale {}: must be finite and positive", self.scale));
        }
        match (&self.mean, &self.std) {
            (None, None) => Ok(()),
            (Some(_), None) | (None, Some(_)) => Err("mean and std: give both or neither".into()),
            (Some(mean), Some(std)) => {
                for (name, values) in [("mean", mean), ("std", std)] {
                    if values.len() != self.channels {
                        return Err(format!("{name}: {} values for {} channel(s)", values.len(), self.channels));
                    }
                    if values.iter().any(|v| !v.is_finite()) {
                        return Err(format!("{name} {values:?}: values must be finite"));
                    }
                }
                match std.iter().find(|&&v| v <= 0.0) {
                    Some(v) => Err(format!("std {v}: must be positive (it divides)")),
                    None => Ok(()),
                }
            }
        }
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn taps_follow_libtorch_half_pixel_centres() {
        // Downscaling 4 -> 2: centres at 0.5 and 2.5, halfway between neighbours.
        assert_eq!(taps(2, 4), [(0, 1, 0.5), (2, 3, 0.5)]);
        // Upscaling 2 -> 4: the inside interpolates by quarters; past the last
        // centre both taps are the edge pixel (the weight then does not matter).
        assert_eq!(taps(4, 2), [(0, 1, 0.0), (0, 1, 0.25), (0, 1, 0.75), (1, 1, 0.25)]);
        // One input pixel: every output takes it.
        assert!(taps(3, 1).iter().all(|&(a, b, _)| a == 0 && b == 0));
    }

    #[test]
    fn luma_alpha_scale_and_normalization() {
        let img = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(2, 2, image::Rgba([200, 100, 50, 128])));
        let p = Preprocessing { scale: 1.0, ..Preprocessing::bilinear_unit(1, 2) };
        let expected = (0.299 * 200.0 + 0.587 * 100.0 + 0.114 * 50.0) * (128.0 / 255.0);
        assert!((preprocess(&img, &p)[[0, 1, 1]] - expected).abs() < 1e-3);
        let rgb = Preprocessing { mean: Some(vec![0.5; 3]), std: Some(vec![0.25; 3]), ..Preprocessing::bilinear_unit(3, 1) };
        let x = preprocess(&DynamicImage::ImageRgb8(image::RgbImage::from_pixel(3, 3, image::Rgb([255, 0, 51]))), &rgb);
        let got: Vec<f32> = x.iter().copied().collect();
        for (g, e) in got.iter().zip([2.0, -2.0, -1.2]) {
            assert!((g - e).abs() < 1e-5, "{got:?}");
        }
    }

    #[test]
    fn validation_accepts_the_trainers_cards() {
        assert!(Preprocessing::bilinear_unit(1, 28).validate().is_ok());
        assert!(Preprocessing::bilinear_unit(3, 224).validate().is_ok());
        assert!(Preprocessing { scale: f32::NAN, ..Preprocessing::bilinear_unit(1, 28) }.validate().unwrap_err().contains("scale"));
        assert!(Preprocessing::bilinear_unit(1, 0).validate().unwrap_err().contains("size 0"));
    }
}
