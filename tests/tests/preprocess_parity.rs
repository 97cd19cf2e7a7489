//! Exactness as a property: for every filter a card can name, at the zoo's
//! sizes and at odd ones, upscaling and downscaling, our preprocessing of a
//! decoded image equals PyTorch's `interpolate` (then scale and normalize) on
//! the same pixels, computed by the venv's torch.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

use cnnzoo_test_support::python;

use std::path::Path;

use cnnzoo_models::preprocess::{planes, preprocess};
use cnnzoo_models::Preprocessing;
use image::{DynamicImage, Rgba, RgbaImage};

/// A picture with detail at every scale: stripes that alias when downscaled
/// without antialiasing, gradients, and alpha that varies.
fn picture(w: u32, h: u32) -> DynamicImage {
    RgbaImage::from_fn(w, h, |x, y| {
        let stripes = if (x / 2 + y / 3) % 2 == 0 { 230 } else { 20 };
        Rgba([stripes, (x * 255 / w.max(1)) as u8, ((x * 7 + y * 13) % 256) as u8, (255 - (y * 100 / h.max(1))) as u8])
    })
    .into()
}

fn write_f32(path: &Path, values: impl Iterator<Item = f32>) {
    std::fs::write(path, values.flat_map(f32::to_le_bytes).collect::<Vec<u8>>()).unwrap();
}

fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path).unwrap().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

#[test]
fn every_card_matches_torch_interpolate_on_the_same_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let normalized =
        Preprocessing { mean: Some(vec![0.485, 0.456, 0.406]), std: Some(vec![0.229, 0.224, 0.225]), ..Preprocessing::new(3, 224) };
    let cards = [
        Preprocessing::new(1, 28),
        Preprocessing::new(1, 96),
        Preprocessing::new(3, 96),
        normalized,
        Preprocessing::bilinear_unit(1, 28),
        Preprocessing::bilinear_unit(3, 96),
        Preprocessing::new(3, 7),
    ];
    let sizes = [(1, 1), (3, 5), (28, 28), (97, 61), (61, 97), (640, 480), (2000, 1500)];
    let (mut cases, mut ours) = (vec![], vec![]);
    for &(w, h) in &sizes {
        let img = picture(w, h);
        for (k, card) in cards.iter().enumerate() {
            let stem = dir.path().join(format!("{w}x{h}-{k}"));
            let (planes_path, out) = (stem.with_extension("planes"), stem.with_extension("torch"));
            let x = planes(&img, card.channels);
            write_f32(&planes_path, x.iter().copied());
            cases.push(serde_json::json!({"planes": planes_path, "shape": x.shape(), "card": card, "out": out}));
            ours.push((format!("{w}x{h} {} {} ch {}", card.resize, card.channels, card.size), out, preprocess(&img, card)));
        }
    }
    let list = dir.path().join("cases.json");
    std::fs::write(&list, serde_json::to_string(&cases).unwrap()).unwrap();
    python::run_script("interpolate.py", &[&list]);
    for (what, out, x) in &ours {
        let torch = read_f32(out);
        assert_eq!(torch.len(), x.len(), "{what}");
        let err = x.iter().zip(&torch).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(err < 2e-5, "{what}: max |ours - torch| = {err}");
    }

    // The test can tell the filters apart: on a downscale they differ.
    let img = picture(640, 480);
    let (aa, plain) = (preprocess(&img, &Preprocessing::new(1, 28)), preprocess(&img, &Preprocessing::bilinear_unit(1, 28)));
    let diff = (&aa - &plain).iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(diff > 0.05, "antialiasing changed nothing: {diff}");
}
