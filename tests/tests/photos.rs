//! Real image files as common tools write them, decoded as PIL decodes them:
//! JPEG photos (RGB at two chroma samplings, grayscale, CMYK, every EXIF
//! orientation), PNGs (RGB, RGBA, palette with and without transparency, gray,
//! gray+alpha, 16-bit), from 1x1 to 6000x4000 and a 16,384-pixel side. The
//! corpus and PIL's reference decoding come from `tests/python/photos.py`.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

use cnnzoo_test_support::python;

use std::path::Path;

use cnnzoo_models::data::{open_image_with, DecodeOptions};
use cnnzoo_models::preprocess::{load, planes};
use cnnzoo_models::Preprocessing;
use ndarray::{Array3, Axis};

#[derive(serde::Deserialize)]
struct Entry {
    file: String,
    width: usize,
    height: usize,
    jpeg: bool,
}

fn reference(dir: &Path, e: &Entry) -> Array3<f32> {
    let bytes = std::fs::read(dir.join(format!("{}.ref", e.file))).unwrap();
    let v: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Array3::from_shape_vec((3, e.height, e.width), v).unwrap()
}

/// (mean, max) of |a - b|.
fn diff(a: &Array3<f32>, b: &Array3<f32>) -> (f32, f32) {
    let d: Vec<f32> = a.iter().zip(b).map(|(x, y)| (x - y).abs()).collect();
    (d.iter().sum::<f32>() / d.len().max(1) as f32, d.iter().copied().fold(0.0, f32::max))
}

#[test]
fn every_kind_of_file_decodes_as_pil_decodes_it() {
    let dir = tempfile::tempdir().unwrap();
    python::run_script("photos.py", &[dir.path()]);
    let corpus: Vec<Entry> = serde_json::from_slice(&std::fs::read(dir.path().join("corpus.json")).unwrap()).unwrap();
    assert!(corpus.len() >= 20);
    for e in &corpus {
        let path = dir.path().join(&e.file);
        let want = reference(dir.path(), e);
        // Full colour, upright.
        let img = open_image_with(&path, &DecodeOptions { luma: false, exif_orientation: true }).unwrap();
        assert_eq!((img.width() as usize, img.height() as usize), (e.width, e.height), "{}", e.file);
        let (mean, max) = diff(&planes(&img, 3), &want);
        // PNG is lossless: equal. JPEG decoders differ by rounding in the IDCT
        // and chroma upsampling; a wrong colour space or rotation is far off.
        if e.jpeg {
            assert!(mean < 1.5, "{}: RGB mean |ours - PIL| {mean} (max {max})", e.file);
        } else {
            assert!(max < 1e-3, "{}: RGB max |ours - PIL| {max}", e.file);
        }
        // Luma only: JPEGs give their Y plane, the rest convert with ITU-R 601.
        let gray = open_image_with(&path, &DecodeOptions { luma: true, exif_orientation: true }).unwrap();
        let luma = want.index_axis(Axis(0), 0).mapv(|r| 0.299 * r)
            + want.index_axis(Axis(0), 1).mapv(|g| 0.587 * g)
            + want.index_axis(Axis(0), 2).mapv(|b| 0.114 * b);
        let (mean, max) = diff(&planes(&gray, 1), &luma.insert_axis(Axis(0)));
        if e.jpeg {
            assert!(mean < 1.5, "{}: luma mean |ours - PIL| {mean} (max {max})", e.file);
        } else {
            assert!(max < 1e-3, "{}: luma max |ours - PIL| {max}", e.file);
        }
        // And the network input is made of it at any size, finite.
        let x = load(&path, &Preprocessing::new(3, 96)).unwrap();
        assert!(x.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)), "{}", e.file);
    }

    // A card written before orientation was part of the contract sees the stored pixels.
    let stored = open_image_with(&dir.path().join("exif6.jpg"), &DecodeOptions { luma: false, exif_orientation: false }).unwrap();
    assert_eq!((stored.width(), stored.height()), (640, 480));
    let upright = open_image_with(&dir.path().join("exif6.jpg"), &DecodeOptions::default()).unwrap();
    assert_eq!((upright.width(), upright.height()), (480, 640));
}
