//! The preprocessing of published weights, exactly: for torchvision's
//! `weights.transforms()` and timm's `create_transform`, cnnzoo's card (built
//! from the zoo's published values and from timm's own `pretrained_cfg`)
//! applied to a decoded image equals the library applied to the same uint8
//! tensor, on photos wider, taller and smaller than the crop: within 1e-5
//! per input value, every value. The resize is rounded to 8 bits before
//! scaling, so a sum summed in another order than libtorch's would land a
//! level off now and then: this test is what holds the order to libtorch's.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

use cnnzoo_test_support::python;

use cnnzoo_models::preprocess::{preprocess, Filter};
use cnnzoo_models::weights::PretrainedCfg;
use cnnzoo_models::{Arch, Preprocessing};
use image::{DynamicImage, Rgb, RgbImage};
use serde_json::Value;

/// A photo-like picture: smooth shading, edges and seeded noise, so that every
/// tap of every filter matters and values land between whole levels.
fn photo(w: u32, h: u32, seed: u64) -> DynamicImage {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 58) as f32 - 32.0
    };
    RgbImage::from_fn(w, h, |x, y| {
        let (u, v) = (x as f32 / w as f32, y as f32 / h as f32);
        let edge = if (u - 0.4).powi(2) + (v - 0.5).powi(2) < 0.05 { 90.0 } else { 0.0 };
        let px = [40.0 + 180.0 * u + edge, 30.0 + 200.0 * v * v, 128.0 + 90.0 * (u * 9.0).sin() * (v * 7.0).cos() - edge];
        Rgb(px.map(|c| (c + noise()).clamp(0.0, 255.0) as u8))
    })
    .into()
}

fn torchvision_card(arch: &str) -> Preprocessing {
    let p = Arch::find(arch).unwrap().published.unwrap();
    Preprocessing::torchvision(p.resize_size, p.crop_size, Filter::BilinearAntialias, p.mean, p.std)
}

#[test]
fn published_preprocessing_equals_torchvision_and_timm_on_the_same_pixels() {
    let configs: Value = serde_json::from_str(python::run_script("published_transforms.py", &["configs"]).trim()).unwrap();
    // The zoo's published values are torchvision's own (GoogLeNet's mean/std
    // 0.5 are its transform_input, checked below through the reference).
    for (arch, name) in [("tv_resnet18", "resnet18"), ("tv_resnet50", "resnet50"), ("tv_googlenet", "googlenet")] {
        let p = Arch::find(arch).unwrap().published.unwrap();
        let t = &configs["torchvision"][name];
        assert_eq!(
            (t["resize_size"].as_u64(), t["crop_size"].as_u64()),
            (Some(p.resize_size as u64), Some(p.crop_size as u64)),
            "{name}: {t}"
        );
        assert_eq!((t["interpolation"].as_str(), t["antialias"].as_bool()), (Some("bilinear"), Some(true)), "{name}");
    }
    let mut cards = vec![
        ("torchvision:resnet18", torchvision_card("tv_resnet18")),
        ("torchvision:resnet50", torchvision_card("tv_resnet50")),
        ("torchvision:googlenet", torchvision_card("tv_googlenet")),
    ];
    for name in ["resnet50.a1_in1k", "resnet18.tv_in1k", "densenet121.tv_in1k"] {
        let cfg: PretrainedCfg = serde_json::from_value(configs["timm"][name].clone()).unwrap();
        cards.push((Box::leak(format!("timm:{name}").into_boxed_str()), Preprocessing::timm(&cfg).unwrap()));
    }
    assert_eq!((cards[3].1.resize_size, cards[3].1.resize), (Some(235), Filter::BicubicAntialias));

    let dir = tempfile::tempdir().unwrap();
    // Wider, taller, smaller than the crop (upscaled), odd sizes, and one already at the resize.
    let sizes = [(640, 480), (480, 640), (150, 100), (1023, 683), (256, 256), (231, 300), (3000, 2000)];
    let (mut cases, mut ours) = (vec![], vec![]);
    for (k, &(w, h)) in sizes.iter().enumerate() {
        let img = photo(w, h, k as u64 + 1);
        let pixels = dir.path().join(format!("{w}x{h}.rgb"));
        std::fs::write(&pixels, img.to_rgb8().as_raw()).unwrap();
        for (reference, card) in &cards {
            let out = dir.path().join(format!("{w}x{h}-{}.f32", reference.replace(':', "-")));
            cases.push(serde_json::json!({"pixels": pixels, "width": w, "height": h, "reference": reference, "out": out}));
            ours.push((format!("{w}x{h} {reference}"), out, preprocess(&img, card)));
        }
    }
    let list = dir.path().join("cases.json");
    std::fs::write(&list, serde_json::to_string(&cases).unwrap()).unwrap();
    python::run_script("published_transforms.py", &["run", list.to_str().unwrap()]);
    let (mut failures, mut off_total, mut total) = (vec![], 0usize, 0usize);
    for (what, out, x) in &ours {
        let theirs: Vec<f32> = std::fs::read(out).unwrap().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        assert_eq!(theirs.len(), x.len(), "{what}");
        let (err, off) = x.iter().zip(&theirs).fold((0.0f32, 0usize), |(m, n), (a, b)| {
            let d = (a - b).abs();
            (m.max(d), n + (d > 1e-5) as usize)
        });
        (off_total, total) = (off_total + off, total + x.len());
        if off > 0 {
            failures.push(format!("{what}: max |ours - theirs| = {err:e}, {off} of {} values above 1e-5", x.len()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("{off_total} of {total} values above 1e-5");
}
