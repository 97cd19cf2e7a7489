//! `--device openvino`: every network of the zoo, exported in fp32 and in
//! INT8, runs on OpenVINO's execution provider with the CPU provider's
//! outputs, on real Fashion-MNIST images; where OpenVINO is not installed,
//! asking for it is one clear error.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

use cnnzoo_test_support::data;
use cnnzoo_test_support::every;
use data::fashion_mnist;

use std::path::{Path, PathBuf};
use std::process::Command;

use cnnzoo_infer::{open_image, Backbone, BackboneOptions, Device, Outputs, Precision, Provider};
use cnnzoo_models::Arch;
use cnnzoo_train::checkpoint::Paths;
use cnnzoo_train::data::load_idx;
use cnnzoo_train::trainer::{train, Options};
use ndarray::{ArrayView2, Axis};

const IMAGES: usize = 32;

/// `arch` trained one epoch on 64 images at its Fashion-MNIST size (torchvision
/// layouts at 64 px), tested on 64: a real checkpoint, cheaply.
fn checkpoint(dir: &Path, arch: &'static Arch) -> PathBuf {
    let mut data = load_idx(&fashion_mnist()).unwrap();
    data.train = data.train.take(64);
    data.test = data.test.take(64);
    let size = arch.fashion_config(64).size;
    let opts = Options {
        epochs: 1,
        size,
        batch_size: 32,
        lr: 0.01,
        ..Options::recipe(arch, tch::Device::Cpu, Paths::from_stem(&dir.join(arch.name)))
    };
    train(&opts, &data).unwrap();
    opts.paths.weights
}

/// IMAGES test images as PNG files: calibration data (a flat folder, so the
/// INT8 export measures no accuracy) and the inputs both providers see.
fn images(dir: &Path) -> Vec<PathBuf> {
    let split = cnnzoo_infer::read_fashion_mnist(&fashion_mnist(), "t10k", 10).unwrap();
    let folder = dir.join("images");
    std::fs::create_dir_all(&folder).unwrap();
    (0..IMAGES)
        .map(|i| {
            let path = folder.join(format!("{i:02}.png"));
            split.image(i).unwrap().save(&path).unwrap();
            path
        })
        .collect()
}

fn export(args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_cnnzoo-export")).args(args).output().unwrap();
    assert!(o.status.success(), "cnnzoo-export {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn run(model: &Path, device: Device, images: &[PathBuf]) -> (Outputs, Provider) {
    let opts = BackboneOptions { device, precision: Precision::Fp32, ..Default::default() };
    let backbone = Backbone::open(model, &opts).unwrap();
    let inputs: Vec<_> = images.iter().map(|p| backbone.input(&open_image(p).unwrap()).unwrap()).collect();
    (backbone.run_inputs(&inputs).unwrap(), backbone.provider())
}

/// Max of |a - b| / max(1, |b|), as the export's parity check measures it.
fn max_rel_err(a: ArrayView2<f32>, b: ArrayView2<f32>) -> f32 {
    a.iter().zip(b.iter()).map(|(x, y)| (x - y).abs() / y.abs().max(1.0)).fold(0.0, f32::max)
}

fn argmax(a: ArrayView2<f32>) -> Vec<usize> {
    a.axis_iter(Axis(0)).map(|r| r.iter().enumerate().fold(0, |best, (i, v)| if *v > r[best] { i } else { best })).collect()
}

#[test]
fn openvino_runs_every_network_fp32_and_int8_as_the_cpu_provider_does() {
    if cnnzoo_infer::openvino_library().is_none() {
        // The set-up installs it on x86-64 Linux; elsewhere, asking for it is refused.
        if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            panic!("scripts/env.sh installs onnxruntime-openvino here");
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pictures = images(dir.path());
    every::every_network(|arch| {
        let ot = checkpoint(dir.path(), arch);
        let (fp32, int8) = (ot.with_extension("onnx"), ot.with_extension("int8.onnx"));
        export(&[ot.to_str().unwrap(), "--no-validate", "-o", fp32.to_str().unwrap()]);
        let calibration = pictures[0].parent().unwrap().to_str().unwrap();
        export(&[ot.to_str().unwrap(), "--int8", "--calibrate", calibration, "--calibration-images", "16", "-o", int8.to_str().unwrap()]);
        // One ONNX Runtime serves both (OpenVINO's build, whose CPU provider is ONNX Runtime's own).
        let (ov, provider) = run(&fp32, Device::OpenVino, &pictures);
        assert_eq!(provider, Provider::OpenVino { bf16: false });
        let (cpu, _) = run(&fp32, Device::Cpu, &pictures);
        let (el, ef) = (
            max_rel_err(ov.logits.as_ref().unwrap().view(), cpu.logits.as_ref().unwrap().view()),
            max_rel_err(ov.features.view(), cpu.features.view()),
        );
        assert!(el <= 1e-4 && ef <= 1e-4, "fp32: logits err {el:e}, features err {ef:e}");
        // INT8: OpenVINO runs the QDQ graph with its own integer kernels, whose
        // rounding differs from the CPU provider's by a quantization step here
        // and there. The logits stay within a tenth of their spread, and
        // a class may differ only where the CPU provider's top two are closer
        // than that difference (a tie at this precision).
        let (ov8, _) = run(&int8, Device::OpenVino, &pictures);
        let (cpu8, _) = run(&int8, Device::Cpu, &pictures);
        let (a, b) = (ov8.logits.as_ref().unwrap(), cpu8.logits.as_ref().unwrap());
        let mut agree = 0;
        for (i, (x, y)) in a.axis_iter(Axis(0)).zip(b.axis_iter(Axis(0))).enumerate() {
            let diff = x.iter().zip(y.iter()).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
            let spread = y.iter().copied().fold(f32::MIN, f32::max) - y.iter().copied().fold(f32::MAX, f32::min);
            assert!(diff <= 0.1 * spread.max(1e-3), "int8 image {i}: logits differ by {diff}, their spread is {spread}");
            let (top, mine) = (argmax(y.view().insert_axis(Axis(0)))[0], argmax(x.view().insert_axis(Axis(0)))[0]);
            let mut sorted: Vec<f32> = y.to_vec();
            sorted.sort_by(|p, q| q.total_cmp(p));
            assert!(
                top == mine || sorted[0] - sorted[1] <= 2.0 * diff,
                "int8 image {i}: class {mine} against {top}, margin {}",
                sorted[0] - sorted[1]
            );
            agree += usize::from(top == mine);
        }
        let cosine = ov8
            .features
            .axis_iter(Axis(0))
            .zip(cpu8.features.axis_iter(Axis(0)))
            .map(|(x, y)| x.dot(&y) / (x.dot(&x).sqrt() * y.dot(&y).sqrt()).max(1e-12))
            .fold(1.0f32, f32::min);
        assert!(cosine >= 0.99, "int8: least feature cosine {cosine}");
        eprintln!("{}: fp32 logits err {el:.1e}, features err {ef:.1e}; int8 {agree}/{IMAGES} classes, cosine >= {cosine:.4}", arch.name);
    });
}
