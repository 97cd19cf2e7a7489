//! Export validation, on by default as optimum does it: the written model
//! (ONNX Runtime, from the bytes about to be written) and the checkpoint
//! (libtorch) run the same batch, and every logit and feature must agree as
//! numpy's `allclose` has it, `|ours - theirs| <= atol + rtol * |theirs|`,
//! or nothing is written. The relative part matters for deep networks with
//! outputs above 1 (a ResNet-50's float32 rounding alone is ~4e-5 there).
//! The batch is real Fashion-MNIST test images when the data is at hand
//! (where the manifest says the checkpoint was trained from, else by the
//! set-up's rule), seeded random inputs otherwise.

use std::path::PathBuf;

use anyhow::Context;
use ndarray::{Array4, Axis};

use cnnzoo_infer::Probe;
use cnnzoo_models::card::{FEATURES, LOGITS};
use cnnzoo_models::data::{find_fashion_mnist, DataSource};
use cnnzoo_models::preprocess::preprocess;
use cnnzoo_train::checkpoint::Checkpoint;
use cnnzoo_train::Net;

/// The tolerance of the embedded preprocessing check (float32 models).
pub const EMBED_ATOL: f64 = 1e-3;

/// Images in the validation batch.
pub const BATCH: usize = 8;

/// What the validation compared and found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Validation {
    pub max_abs_diff: f64,
    pub atol: f64,
    pub rtol: f64,
    /// Whether every value was within `atol + rtol * |libtorch's|`.
    pub passed: bool,
    pub batch: usize,
    /// "Fashion-MNIST test images" or "seeded random inputs".
    pub inputs: &'static str,
}

/// Fashion-MNIST, for a checkpoint trained on it: the folder its manifest
/// records, else where the set-up's rule finds it. `None` for a checkpoint
/// trained on other data.
fn fashion_mnist(hyperparameters: &cnnzoo_models::Hyperparameters) -> Option<PathBuf> {
    match &hyperparameters.data_source {
        Some(source @ DataSource::FashionMnist { path }) if source.has_test() => Some(path.clone()),
        Some(DataSource::FashionMnist { .. }) => find_fashion_mnist(None),
        Some(_) => None,
        // A manifest from before sources were recorded: by its description.
        None => hyperparameters.dataset.starts_with("fashion-mnist").then(|| find_fashion_mnist(None)).flatten(),
    }
}

/// The validation batch, in the checkpoint's input shape.
fn batch(ck: &Checkpoint) -> (Array4<f32>, &'static str) {
    let p = &ck.manifest.preprocessing;
    let real = fashion_mnist(&ck.manifest.hyperparameters);
    if let Some(split) = real.and_then(|d| cnnzoo_models::data::read_fashion_mnist(&d, "t10k", 10).ok()) {
        if p.channels == 1 {
            let (h, w) = p.input_hw();
            let mut x = Array4::zeros((BATCH, 1, h, w));
            for i in 0..BATCH {
                if let Some(g) = split.image(i) {
                    x.index_axis_mut(Axis(0), i).assign(&preprocess(&image::DynamicImage::ImageLuma8(g), p));
                }
            }
            return (x, "Fashion-MNIST test images");
        }
    }
    let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
    let (h, w) = p.input_hw();
    let x = Array4::from_shape_simple_fn((BATCH, p.channels, h, w), || (next() >> 40) as f32 / (1u64 << 24) as f32);
    (x, "seeded random inputs")
}

/// A xorshift generator: seeded inputs, the same on every machine.
fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// Runs both and compares; `onnx` is the encoded model about to be written.
pub fn validate(ck: &Checkpoint, onnx: &[u8], atol: f64, rtol: f64) -> anyhow::Result<Validation> {
    let (x, inputs) = batch(ck);
    let mut probe = Probe::new(onnx).context("validation: ONNX Runtime cannot load the export")?;
    let ours = probe.run(x.view()).context("validation: ONNX Runtime cannot run the export")?;
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let mut net = Net::new(&vs.root(), ck.graph.clone());
    net.load(&ck.weights)?;
    let t = tch::Tensor::from_slice(x.as_slice().context("a contiguous batch")?).view([
        BATCH as i64,
        x.shape()[1] as i64,
        x.shape()[2] as i64,
        x.shape()[3] as i64,
    ]);
    let (logits, features) = tch::no_grad(|| net.forward_eval(&t));
    let (mut max_abs_diff, mut passed) = (0.0f64, true);
    for (name, reference) in [(LOGITS, logits), (FEATURES, features)] {
        let Some(k) = probe.outputs().iter().position(|o| o == name) else { continue };
        let reference: Vec<f32> = Vec::try_from(reference.to_kind(tch::Kind::Float).view(-1))?;
        anyhow::ensure!(
            reference.len() == ours[k].len(),
            "validation: output {name} has {} values, libtorch gives {}",
            ours[k].len(),
            reference.len()
        );
        for (a, b) in ours[k].iter().zip(&reference) {
            let diff = if a.is_finite() && b.is_finite() { (a - b).abs() as f64 } else { f64::INFINITY };
            max_abs_diff = max_abs_diff.max(diff);
            passed &= diff <= atol + rtol * b.abs() as f64;
        }
    }
    Ok(Validation { max_abs_diff, atol, rtol, passed, batch: BATCH, inputs })
}

/// What the check of `--embed-preprocessing` found: the model with the
/// preprocessing in its graph, fed pixels, against the model without it,
/// fed our preprocessing of the same images.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EmbedCheck {
    pub max_abs_diff: f64,
    pub atol: f64,
    /// The images compared: larger, smaller and equal to the model's side, RGB and gray.
    pub images: usize,
}

/// Seeded images of several sizes around `size`: a smooth shading with
/// noise, like a photo, so that every filter tap matters.
fn check_images(size: usize) -> Vec<image::DynamicImage> {
    let mut next = xorshift(0x2545_F491_4F6C_DD1D);
    let mut noise = move || (next() >> 59) as f32;
    let mut rgb = |w: usize, h: usize| {
        image::RgbImage::from_fn(w as u32, h as u32, |x, y| {
            let (u, v) = (x as f32 / w as f32, y as f32 / h as f32);
            let px = [255.0 * u, 255.0 * v * v, 128.0 + 100.0 * (u * 7.0).sin() * (v * 5.0).cos()];
            image::Rgb(px.map(|c| (c + noise()).clamp(0.0, 255.0) as u8))
        })
    };
    let (big, small, same) = (rgb(3 * size + 5, 2 * size + 1), rgb(size / 2 + 1, size.saturating_sub(3).max(1)), rgb(size, size));
    let gray = image::DynamicImage::ImageRgb8(big.clone()).to_luma8();
    [big.into(), small.into(), same.into(), gray.into()].into()
}

/// Runs both models on [`check_images`]; `plain` takes `input`, `embedded` takes `image`.
pub fn check_embedded(plain: &[u8], embedded: &[u8], p: &cnnzoo_models::Preprocessing, atol: f64) -> anyhow::Result<EmbedCheck> {
    let mut ours = Probe::new(plain).context("--embed-preprocessing: ONNX Runtime cannot load the model")?;
    let mut theirs = Probe::new(embedded).context("--embed-preprocessing: ONNX Runtime cannot load the model with its preprocessing")?;
    let images = check_images(p.size);
    let mut max_abs_diff = 0.0f64;
    for img in &images {
        let want = ours.run(preprocess(img, p).insert_axis(Axis(0)).view())?;
        let got = theirs
            .run_pixels(cnnzoo_models::preprocess::pixels(img.clone(), p.channels).insert_axis(Axis(0)).view())
            .context("--embed-preprocessing: ONNX Runtime cannot run the model with its preprocessing")?;
        for (a, b) in want.iter().flatten().zip(got.iter().flatten()) {
            max_abs_diff = max_abs_diff.max(if a.is_finite() && b.is_finite() { (a - b).abs() as f64 } else { f64::INFINITY });
        }
    }
    Ok(EmbedCheck { max_abs_diff, atol, images: images.len() })
}
