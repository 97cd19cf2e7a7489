//! `cnnzoo-export --fp16`: float16 weights and compute behind the float32
//! interface, checked on ONNX Runtime's CPU provider against the fp32 export.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

use cnnzoo_test_support::data;
use data::fashion_mnist;

use std::process::Command;

use cnnzoo_infer::{Backbone, BackboneOptions, Device};
use cnnzoo_models::Arch;
use cnnzoo_train::checkpoint::Paths;
use cnnzoo_train::data::load_idx;
use cnnzoo_train::trainer::{train, Options};
use ndarray::{Array4, Axis};

#[test]
fn fp16_exports_match_fp32_within_1e_2_on_real_images() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = load_idx(&fashion_mnist()).unwrap();
    data.train = data.train.take(3_000);
    let split = cnnzoo_infer::read_fashion_mnist(&fashion_mnist(), "t10k", 10).unwrap();
    for (arch, size) in [("lenet", 28), ("resnet18", 32)] {
        let opts = Options {
            epochs: 1,
            size,
            ..Options::recipe(Arch::find(arch).unwrap(), tch::Device::Cpu, Paths::from_stem(&dir.path().join(arch)))
        };
        train(&opts, &data).unwrap();
        let ot = opts.paths.weights.to_str().unwrap().to_string();
        let (f32_path, f16_path) = (dir.path().join(format!("{arch}.onnx")), dir.path().join(format!("{arch}.fp16.onnx")));
        let run = |args: &[&str]| {
            let o = Command::new(env!("CARGO_BIN_EXE_cnnzoo-export")).args(args).output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        };
        run(&[&ot, "-o", f32_path.to_str().unwrap()]);
        run(&[&ot, "--fp16", "-o", f16_path.to_str().unwrap()]);
        let half = std::fs::metadata(&f16_path).unwrap().len() as f64 / std::fs::metadata(&f32_path).unwrap().len() as f64;
        assert!(half < 0.55, "{arch}: the fp16 file is {half:.2} of the fp32 one");
        let o = BackboneOptions { device: Device::Cpu, ..Default::default() };
        let (a, b) = (Backbone::open(&f32_path, &o).unwrap(), Backbone::open(&f16_path, &o).unwrap());
        let p = a.card().preprocessing.clone();
        let mut x = Array4::zeros((64, 1, size, size));
        for i in 0..64 {
            x.index_axis_mut(Axis(0), i).assign(&cnnzoo_infer::preprocess(&image::DynamicImage::ImageLuma8(split.image(i).unwrap()), &p));
        }
        let (ra, rb) = (a.run(x.view()).unwrap(), b.run(x.view()).unwrap());
        for (name, u, v) in [("logits", ra.logits.unwrap(), rb.logits.unwrap()), ("features", ra.features, rb.features)] {
            let diff = u.iter().zip(v.iter()).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
            assert!(diff <= 1e-2, "{arch} {name}: max abs diff {diff}");
        }
    }
    // --fp16 and --int8 are two different exports.
    let o = Command::new(env!("CARGO_BIN_EXE_cnnzoo-export")).args(["x.ot", "--fp16", "--int8", "--calibrate", "."]).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("cannot be used with"));
}
