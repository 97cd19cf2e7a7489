//! How an image becomes a network's input: the preprocessing half of the model
//! contract, and its one implementation (decode to the model's channels,
//! resize with the card's filter, scale, normalize). cnnzoo-train prepares
//! image-folder datasets with this very function and resizes IDX batches with
//! libtorch's own filter, which [`preprocess`] reproduces; cnnzoo-infer
//! applies it to every image it serves. A test checks it against PyTorch's
//! `interpolate` for every filter a card can name.

mod pixels;
mod resize;

use std::path::Path;

use image::DynamicImage;
use ndarray::Array3;
use serde::{Deserialize, Serialize};

use crate::data::{decode_image_with, open_image_with, recycle, DecodeOptions, ImageError};
pub use pixels::Rows;
pub use resize::{axpy, dot, Filter, Taps};

/// How an image becomes the network's input. Training writes it into the
/// manifest, the exporter into the ONNX metadata, inference reads it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    /// 1 = grayscale (ITU-R 601 luma, alpha composited on black), 3 = RGB.
    pub channels: usize,
    /// Side of the network input (its width where `height` is given): what
    /// the image is resized to, or, with `resize_size`, what is cropped from
    /// its centre.
    pub size: usize,
    /// The input's height where it differs from its width (`--size 48x192`):
    /// absent for the square inputs of every network of the zoo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<usize>,
    /// torchvision's `Resize(resize_size)` then `CenterCrop(size)`: the
    /// shorter side resized to this (the aspect ratio kept), then the centre
    /// `size` square cut out. Absent: the whole image is resized to `size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize_size: Option<usize>,
    /// Resize filter, as PyTorch's `interpolate(..., align_corners=False)`:
    /// `bilinear` (no antialiasing, the first cards), `bilinear_antialias`
    /// (`antialias=True`; the same when upscaling) or `bicubic_antialias`
    /// (`mode="bicubic", antialias=True`).
    pub resize: Filter,
    /// The resized image is rounded to whole 8-bit levels (clamped, ties to
    /// even) before scaling, as torchvision's transforms do on a uint8 image
    /// tensor: the published weights' own preprocessing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub uint8_resize: bool,
    /// Pixels are multiplied by this (1/255 maps bytes to [0, 1]).
    pub scale: f32,
    /// Per-channel mean and std subtracted and divided after scaling, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<Vec<f32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<Vec<f32>>,
    /// Whether an image is first turned upright by its EXIF orientation tag,
    /// as photo viewers show it. Cards written before this field do not.
    #[serde(default)]
    pub exif_orientation: bool,
}

/// A network input's spatial size: `224` (square) or `48x192` (height x
/// width), as `--size` and `--crop-size` take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputSize {
    pub height: usize,
    pub width: usize,
}

impl InputSize {
    /// `side` x `side`.
    pub fn square(side: usize) -> InputSize {
        InputSize { height: side, width: side }
    }
}

impl std::fmt::Display for InputSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.height == self.width {
            write!(f, "{}", self.width)
        } else {
            write!(f, "{}x{}", self.height, self.width)
        }
    }
}

impl std::str::FromStr for InputSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let side = |v: &str| match v.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_INPUT_SIDE).contains(&n) => Ok(n),
            _ => Err(format!("{s:?}: expected a side (224) or HEIGHTxWIDTH (48x192), each 1 to {MAX_INPUT_SIDE} pixels")),
        };
        match s.split_once(['x', 'X']) {
            Some((h, w)) => Ok(InputSize { height: side(h)?, width: side(w)? }),
            None => side(s).map(InputSize::square),
        }
    }
}

/// The largest input side a card may ask for (the zoo's largest is 224).
pub const MAX_INPUT_SIDE: usize = 4096;

impl Preprocessing {
    /// What cnnzoo-train writes: upright, antialiased bilinear resize to
    /// `size`, scale to [0, 1].
    pub fn new(channels: usize, size: usize) -> Self {
        Preprocessing { resize: Filter::BilinearAntialias, exif_orientation: true, ..Self::bilinear_unit(channels, size) }
    }

    /// The first cards' preprocessing: plain bilinear, EXIF tags ignored.
    pub fn bilinear_unit(channels: usize, size: usize) -> Self {
        Preprocessing {
            channels,
            size,
            height: None,
            resize_size: None,
            resize: Filter::Bilinear,
            uint8_resize: false,
            scale: 1.0 / 255.0,
            mean: None,
            std: None,
            exif_orientation: false,
        }
    }

    /// torchvision's `weights.transforms()` (`ImageClassification`): RGB, the
    /// shorter side resized to `resize_size` with `filter` on the uint8 image,
    /// the centre `crop_size` square, scaled to [0, 1], normalized.
    pub fn torchvision(resize_size: usize, crop_size: usize, filter: Filter, mean: [f32; 3], std: [f32; 3]) -> Self {
        Preprocessing {
            channels: 3,
            size: crop_size,
            height: None,
            resize_size: Some(resize_size),
            resize: filter,
            uint8_resize: true,
            scale: 1.0 / 255.0,
            mean: Some(mean.to_vec()),
            std: Some(std.to_vec()),
            exif_orientation: true,
        }
    }

    /// timm's evaluation transform for a `pretrained_cfg` (`resolve_data_config`
    /// then `create_transform`): the shorter side resized to
    /// `floor(size / crop_pct)` (`crop_mode` `center`) or the whole image to
    /// `size` (`squash`), with its interpolation, then its mean and std.
    pub fn timm(cfg: &crate::weights::PretrainedCfg) -> Result<Self, String> {
        let [c, h, w] =
            <[usize; 3]>::try_from(cfg.input_size.clone()).map_err(|_| format!("input_size {:?}: expected [C, H, W]", cfg.input_size))?;
        if h != w {
            return Err(format!("input_size {h}x{w}: only square inputs are supported"));
        }
        let filter = match cfg.interpolation.as_str() {
            "bicubic" => Filter::BicubicAntialias,
            "bilinear" => Filter::BilinearAntialias,
            other => return Err(format!("interpolation {other:?}: only bilinear and bicubic are supported")),
        };
        let (mean, std) = match (<[f32; 3]>::try_from(cfg.mean.clone()), <[f32; 3]>::try_from(cfg.std.clone())) {
            (Ok(m), Ok(s)) if c == 3 => (m, s),
            _ => return Err(format!("mean {:?} / std {:?}: expected three values each for 3 channels", cfg.mean, cfg.std)),
        };
        if !(cfg.crop_pct > 0.0 && cfg.crop_pct <= 1.0) {
            return Err(format!("crop_pct {}: must be in (0, 1]", cfg.crop_pct));
        }
        let resize_size = (h as f64 / cfg.crop_pct).floor() as usize;
        let mut p = Preprocessing::torchvision(resize_size, h, filter, mean, std);
        match cfg.crop_mode.as_deref() {
            None | Some("center") => {}
            Some("squash") => p.resize_size = None,
            Some(other) => return Err(format!("crop_mode {other:?}: only center and squash are supported")),
        }
        Ok(p)
    }

    /// The same steps for a square input of side `size`: the crop changes and
    /// the resize keeps its proportion to it (256/224 stays 8/7).
    pub fn with_size(mut self, size: usize) -> Self {
        self.resize_size = self.resize_size.map(|r| (r * size).div_ceil(self.size).max(size));
        self.size = size;
        self.height = None;
        self
    }

    /// The same steps for `channels` channels: a gray input takes the
    /// average of the colour statistics.
    pub fn with_channels(mut self, channels: usize) -> Self {
        if channels != self.channels {
            let avg = |v: &Option<Vec<f32>>| v.as_ref().map(|v| vec![v.iter().sum::<f32>() / v.len() as f32; channels]);
            self.mean = avg(&self.mean);
            self.std = avg(&self.std);
            self.channels = channels;
        }
        self
    }

    /// The network input's `(height, width)`.
    pub fn input_hw(&self) -> (usize, usize) {
        (self.height.unwrap_or(self.size), self.size)
    }

    /// The input's size as a flag or a message spells it: `224`, or `48x192`
    /// (height x width) where it is not square.
    pub fn input_size(&self) -> InputSize {
        let (height, width) = self.input_hw();
        InputSize { height, width }
    }

    /// Sets the input's size, square or not.
    pub fn set_input_size(&mut self, s: InputSize) {
        self.size = s.width;
        self.height = (s.height != s.width).then_some(s.height);
    }

    /// The image's size after the resize step, `(width, height)`: the shorter
    /// side at `resize_size` and the longer scaled with it (truncated, as
    /// torchvision's `int(size * long / short)`), or the input's size.
    pub fn resized(&self, width: usize, height: usize) -> (usize, usize) {
        let Some(s) = self.resize_size else {
            let (h, w) = self.input_hw();
            return (w, h);
        };
        let (short, long) = (width.min(height), width.max(height));
        let long = ((s * long) as f64 / short as f64) as usize;
        if width <= height {
            (s, long)
        } else {
            (long, s)
        }
    }

    /// The crop's top-left corner in the resized image, `(left, top)`:
    /// torchvision's `int(round((resized - size) / 2.0))`, ties to even.
    pub fn crop_origin(&self, width: usize, height: usize) -> (usize, usize) {
        let ((rw, rh), (ch, cw)) = (self.resized(width, height), self.input_hw());
        let half = |d: usize, crop: usize| (d.saturating_sub(crop) as f64 / 2.0).round_ties_even() as usize;
        (half(rw, cw), half(rh, ch))
    }

    /// How files are decoded for this card: straight to one channel where
    /// the format holds luma, upright if the card says so.
    pub fn decoding(&self) -> DecodeOptions {
        DecodeOptions { luma: self.channels == 1, exif_orientation: self.exif_orientation }
    }

    /// Checks that the steps can be carried out and give finite numbers:
    /// 1 or 3 channels, a side of 1 to [`MAX_INPUT_SIDE`], a known filter, a
    /// finite positive scale, and mean/std given together, one value per
    /// channel, finite, with std > 0.
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.channels, 1 | 3) {
            return Err(format!("channels {}: must be 1 (grayscale) or 3 (RGB)", self.channels));
        }
        let (h, w) = self.input_hw();
        if !(1..=MAX_INPUT_SIDE).contains(&h) || !(1..=MAX_INPUT_SIDE).contains(&w) {
            return Err(format!("size {}: each side must be 1 to {MAX_INPUT_SIDE} pixels", self.input_size()));
        }
        if let Some(r) = self.resize_size {
            if !(h.max(w)..=MAX_INPUT_SIDE).contains(&r) {
                return Err(format!("resize_size {r}: must be at least the crop's longer side {} and at most {MAX_INPUT_SIDE}", h.max(w)));
            }
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

/// The network input `[C, size, size]` for one decoded image: the image's rows
/// as the model's channels, resized with the card's filter, scaled and
/// normalized.
///
/// The filter is separable, so the two passes may run in either order; the
/// vertical one runs first because it streams whole source rows (each read
/// once, multiplied into the one to three output rows that use it, in long
/// vectorizable loops) and leaves the horizontal one only `size` rows to
/// filter. Sums agree with libtorch's (horizontal first) to float rounding.
pub fn preprocess(img: &DynamicImage, p: &Preprocessing) -> Array3<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (oh, ow) = p.input_hw();
    let mut x = if p.resized(w, h) == (w, h) && (w, h) == (ow, oh) {
        planes(img, p.channels)
    } else if p.uint8_resize {
        // torchvision's uint8 round trip: clamp (bicubic overshoots), round ties to even.
        resize_in_order(img, p).mapv(|v| v.clamp(0.0, 255.0).round_ties_even())
    } else if p.resize_size.is_some() {
        resize_in_order(img, p)
    } else {
        resize(img, p.resize, p.channels, (oh, ow))
    };
    x *= p.scale;
    if let (Some(mean), Some(std)) = (&p.mean, &p.std) {
        for (k, mut plane) in x.outer_iter_mut().enumerate() {
            plane.mapv_inplace(|v| (v - mean[k]) / std[k]);
        }
    }
    x
}

/// `[C, oh, ow]` planes of `img` in 8-bit units, resized with `filter`.
fn resize(img: &DynamicImage, filter: Filter, c: usize, (oh, ow): (usize, usize)) -> Array3<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (tx, ty) = (Taps::new(filter, w, ow), Taps::new(filter, h, oh));
    // For each source row, the output rows that read it and with what weight,
    // in output order (so each output sums its taps in order).
    let mut readers: Vec<Vec<(usize, f32)>> = vec![vec![]; h];
    for oy in 0..oh {
        let (start, weights) = ty.get(oy);
        for (j, &wy) in weights.iter().enumerate() {
            readers[start + j].push((oy, wy));
        }
    }
    // Vertical pass: `down[(oy * c + k) * w ..]` is output row oy of channel k, full width.
    let mut down = vec![0.0f32; oh * c * w];
    let rows = Rows::new(img, c);
    let mut line = vec![0.0f32; c * w];
    for (y, readers) in readers.iter().enumerate().filter(|(_, r)| !r.is_empty()) {
        if let (DynamicImage::ImageLuma8(gray), 1) = (img, c) {
            // The common case (a JPEG's Y plane, a gray PNG) reads the bytes directly.
            let src = &gray.as_raw()[y * w..(y + 1) * w];
            for &(oy, wy) in readers {
                axpy(&mut down[oy * w..(oy + 1) * w], src, wy);
            }
            continue;
        }
        rows.read(y, &mut line);
        for k in 0..c {
            for &(oy, wy) in readers {
                axpy(&mut down[(oy * c + k) * w..(oy * c + k + 1) * w], &line[k * w..(k + 1) * w], wy);
            }
        }
    }
    // Horizontal pass over the `oh` rows left.
    let mut x = Array3::<f32>::zeros((c, oh, ow));
    for ((k, oy, ox), v) in x.indexed_iter_mut() {
        let (start, weights) = tx.get(ox);
        let row = &down[(oy * c + k) * w..(oy * c + k + 1) * w];
        *v = dot(&row[start..start + weights.len()], weights);
    }
    x
}

/// The resize and centre crop of a card that rounds to 8 bits, computed as
/// libtorch computes `interpolate` on a float tensor: the horizontal pass
/// first, then the vertical one, each output summed in the order
/// [`fused_from`] describes. Rounding to whole levels turns a last-bit
/// difference into a whole level, so this path keeps libtorch's order where
/// the faster [`resize`] does not need to. Only the outputs inside the crop
/// are computed.
fn resize_in_order(img: &DynamicImage, p: &Preprocessing) -> Array3<f32> {
    let (w, h, c) = (img.width() as usize, img.height() as usize, p.channels);
    let (oh, ow) = p.input_hw();
    let (rw, rh) = p.resized(w, h);
    let (left, top) = p.crop_origin(w, h);
    let filter = p.resize;
    let (tx, ty) = (Taps::new(filter, w, rw), Taps::new(filter, h, rh));
    // The source rows the crop's outputs read.
    let (first, _) = ty.get(top);
    let (last_start, last_taps) = ty.get(top + oh - 1);
    let n = last_start + last_taps.len() - first;
    // Horizontal pass: `across[(k * n + r) * ow + ox]`, the crop's columns of
    // each needed row, LANES rows at a time: their samples interleaved
    // (`block[x * LANES + l]` is sample x of row l) so that each tap is one
    // vector multiply-add over the rows, not a step of one long serial sum.
    let rows = Rows::new(img, c);
    let mut lines = vec![0.0f32; LANES * c * w];
    let mut block = vec![0.0f32; w * LANES];
    let mut across = vec![0.0f32; c * n * ow];
    for r0 in (0..n).step_by(LANES) {
        let count = LANES.min(n - r0);
        for l in 0..count {
            rows.read(first + r0 + l, &mut lines[l * c * w..(l + 1) * c * w]);
        }
        for k in 0..c {
            for l in 0..count {
                let src = &lines[(l * c + k) * w..(l * c + k + 1) * w];
                for (x, &v) in src.iter().enumerate() {
                    block[x * LANES + l] = v;
                }
            }
            for ox in 0..ow {
                let (start, taps) = tx.get(left + ox);
                let sums = lanes_in_order(&block[start * LANES..(start + taps.len()) * LANES], taps);
                for (l, &v) in sums.iter().take(count).enumerate() {
                    across[(k * n + r0 + l) * ow + ox] = v;
                }
            }
        }
    }
    // Vertical pass, a whole output row at a time (each element still summed
    // in the same order).
    let mut x = Array3::<f32>::zeros((c, oh, ow));
    for k in 0..c {
        for oy in 0..oh {
            let (start, taps) = ty.get(top + oy);
            let mut out = x.slice_mut(ndarray::s![k, oy, ..]);
            let out = out.as_slice_mut().expect("a row of a standard-layout array");
            let row = |j: usize| &across[(k * n + start + j - first) * ow..(k * n + start + j - first + 1) * ow];
            for (o, &v) in out.iter_mut().zip(row(0)) {
                *o = v * taps[0];
            }
            let fused = fused_from(taps.len());
            for (j, &wt) in taps.iter().enumerate().skip(1) {
                for (o, &v) in out.iter_mut().zip(row(j)) {
                    *o = if j < fused { *o + v * wt } else { v.mul_add(wt, *o) };
                }
            }
        }
    }
    x
}

/// Rows summed side by side in [`resize_in_order`]'s horizontal pass.
const LANES: usize = 8;

/// libtorch's compiled antialiased kernel (`interpolate_aa_single_dim`,
/// measured bit for bit on its AVX2 and AVX-512 builds, both filters) sums an
/// output's `n` taps as: the first product, then the taps in runs of four,
/// each product rounded before it is added, then the last `(n - 1) % 4` taps
/// fused (one rounding each, as an FMA). The C++ is a plain loop; the
/// compiler's unrolled body and its FMA-contracted remainder decide the
/// order, and rounding to 8 bits afterwards turns any other order into a
/// whole level now and then. The first fused tap's index:
fn fused_from(n: usize) -> usize {
    n - (n - 1) % 4
}

/// `Σ_j x[j * LANES + l] * taps[j]` for each lane `l`, in libtorch's order.
#[inline]
fn lanes_in_order(x: &[f32], taps: &[f32]) -> [f32; LANES] {
    let mut acc = [0.0f32; LANES];
    for (a, &v) in acc.iter_mut().zip(&x[..LANES]) {
        *a = v * taps[0];
    }
    let fused = fused_from(taps.len());
    for (j, &wt) in taps.iter().enumerate().skip(1) {
        let xs = &x[j * LANES..(j + 1) * LANES];
        if j < fused {
            for (a, &v) in acc.iter_mut().zip(xs) {
                *a += v * wt;
            }
        } else {
            for (a, &v) in acc.iter_mut().zip(xs) {
                *a = v.mul_add(wt, *a);
            }
        }
    }
    acc
}

/// The decoded image as full-size `[C, H, W]` planes in 8-bit units, before
/// resizing: what the exactness tests hand to PyTorch's `interpolate`.
pub fn planes(img: &DynamicImage, channels: usize) -> Array3<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let rows = Rows::new(img, channels);
    let mut out = Array3::<f32>::zeros((channels, h, w));
    let mut line = vec![0.0f32; channels * w];
    for y in 0..h {
        rows.read(y, &mut line);
        for k in 0..channels {
            out.slice_mut(ndarray::s![k, y, ..]).assign(&ndarray::ArrayView1::from(&line[k * w..(k + 1) * w]));
        }
    }
    out
}

/// The decoded image as 8-bit pixels `[H, W, C]`, for a model that carries
/// its preprocessing (`cnnzoo-export --embed-preprocessing`). Gray and RGB
/// 8-bit images go as they are, and the graph converts them to its channels
/// as [`preprocess`] would; other layouts (alpha, 16 bits, float) are
/// converted to `channels` here and rounded to 8 bits, which [`preprocess`]
/// does not do (half a level at most). Takes the image so that the common
/// layouts hand over the decoder's buffer instead of copying it.
pub fn pixels(img: DynamicImage, channels: usize) -> Array3<u8> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let shaped = |c: usize, raw: Vec<u8>| Array3::from_shape_vec((h, w, c), raw).expect("the decoder's buffer is H x W x C");
    match img {
        DynamicImage::ImageLuma8(b) => shaped(1, b.into_raw()),
        DynamicImage::ImageRgb8(b) => shaped(3, b.into_raw()),
        img => {
            let rows = Rows::new(&img, channels);
            let mut line = vec![0.0f32; channels * w];
            let mut out = Array3::<u8>::zeros((h, w, channels));
            for y in 0..h {
                rows.read(y, &mut line);
                for k in 0..channels {
                    for x in 0..w {
                        out[[y, x, k]] = line[k * w + x].round().clamp(0.0, 255.0) as u8;
                    }
                }
            }
            out
        }
    }
}

/// Decodes an image file as the card says (its channels, its orientation rule)
/// and makes the network input of it.
pub fn load(path: &Path, p: &Preprocessing) -> Result<Array3<f32>, ImageError> {
    let img = open_image_with(path, &p.decoding())?;
    let x = preprocess(&img, p);
    recycle(img);
    Ok(x)
}

/// [`load`] for an image held in memory; `name` is what errors call it.
pub fn load_bytes(bytes: &[u8], name: &Path, p: &Preprocessing) -> Result<Array3<f32>, ImageError> {
    let img = decode_image_with(bytes, name, &p.decoding())?;
    let x = preprocess(&img, p);
    recycle(img);
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(Preprocessing::new(3, 224).validate().is_ok());
        let lanczos = serde_json::from_str::<Preprocessing>(r#"{"channels":1,"size":28,"resize":"lanczos","scale":1}"#);
        assert!(lanczos.unwrap_err().to_string().contains("unknown filter (known: bilinear, bilinear_antialias, bicubic_antialias)"));
    }

    #[test]
    fn every_layout_reads_as_the_same_planes() {
        // One picture stored eight ways gives the same input, whatever the
        // sample type (8-bit, 16-bit, float) and whether alpha is present.
        let rgb = image::RgbImage::from_fn(37, 23, |x, y| image::Rgb([(x * 7) as u8, (y * 11) as u8, ((x * y) % 256) as u8]));
        let base = DynamicImage::ImageRgb8(rgb);
        let forms = [
            base.clone(),
            base.to_rgba8().into(),
            base.to_rgb16().into(),
            base.to_rgba16().into(),
            base.to_rgb32f().into(),
            base.to_rgba32f().into(),
        ];
        for channels in [1, 3] {
            for p in [Preprocessing::new(channels, 9), Preprocessing::bilinear_unit(channels, 50)] {
                let want = preprocess(&base, &p);
                for f in &forms {
                    let got = preprocess(f, &p);
                    let err = (&got - &want).iter().fold(0.0f32, |m, v| m.max(v.abs()));
                    assert!(err < 1e-5, "{:?} {channels} {}: {err}", f.color(), p.resize);
                }
            }
        }
        // Gray sources: exact values for one channel, repeated for three.
        let gray = DynamicImage::ImageLuma8(image::GrayImage::from_fn(5, 4, |x, y| image::Luma([(x * 50 + y) as u8])));
        let p = Preprocessing { scale: 1.0, ..Preprocessing::new(1, 5) };
        assert_eq!(planes(&gray, 1).slice(ndarray::s![0, 3, ..]).to_vec(), [3.0, 53.0, 103.0, 153.0, 203.0]);
        let x = preprocess(&DynamicImage::ImageLumaA8(gray.to_luma_alpha8()), &Preprocessing { size: 4, ..p });
        let three = planes(&gray, 3);
        assert!(x.iter().all(|v| v.is_finite()) && three.slice(ndarray::s![2, 1, ..]) == three.slice(ndarray::s![0, 1, ..]));
    }
}
