//! `cnnzoo-export --int8`: trained models keep their accuracy and features in
//! INT8, the files are valid ONNX that onnxruntime's Python API loads, the
//! accuracy gate holds, and bad calibration input leaves no file.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

use cnnzoo_test_support::data;
use cnnzoo_test_support::python;
use data::fashion_mnist;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cnnzoo_infer::{Backbone, BackboneOptions, Device};
use cnnzoo_models::Arch;
use cnnzoo_train::checkpoint::Paths;
use cnnzoo_train::data::load_idx;
use cnnzoo_train::trainer::{train, Options};
use ndarray::{Array4, Axis};
use serde_json::Value;

fn export(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cnnzoo-export")).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `arch` trained for `epochs` on the first `n` training images at `size` pixels.
fn trained(dir: &Path, arch: &str, epochs: usize, n: usize, size: usize) -> PathBuf {
    let mut data = load_idx(&fashion_mnist()).unwrap();
    data.train = data.train.take(n);
    let opts = Options { epochs, size, ..Options::recipe(Arch::find(arch).unwrap(), tch::Device::Cpu, Paths::from_stem(&dir.join(arch))) };
    train(&opts, &data).unwrap();
    opts.paths.weights
}

/// Exports `ot` to INT8 with `args`; the JSON report.
fn int8(ot: &Path, out: &Path, args: &[&str]) -> Value {
    let data = fashion_mnist();
    let mut all = vec![ot.to_str().unwrap(), "--int8", "--calibrate", data.to_str().unwrap(), "-o", out.to_str().unwrap(), "--json"];
    all.extend(args);
    let o = export(&all);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Cosine similarity of each row of the two models' features on 256 test images.
fn feature_cosines(fp32: &Path, int8: &Path, size: usize) -> Vec<f32> {
    let opts = BackboneOptions { device: Device::Cpu, ..Default::default() };
    let (a, b) = (Backbone::open(fp32, &opts).unwrap(), Backbone::open(int8, &opts).unwrap());
    let split = cnnzoo_infer::read_fashion_mnist(&fashion_mnist(), "t10k", 10).unwrap();
    let p = a.card().preprocessing.clone();
    assert_eq!(p.size, size);
    let mut x = Array4::zeros((256, 1, size, size));
    for i in 0..256 {
        let img = image::DynamicImage::ImageLuma8(split.image(i).unwrap());
        x.index_axis_mut(Axis(0), i).assign(&cnnzoo_infer::preprocess(&img, &p));
    }
    let (fa, fb) = (a.run(x.view()).unwrap().features, b.run(x.view()).unwrap().features);
    fa.outer_iter().zip(fb.outer_iter()).map(|(u, v)| u.dot(&v) / (u.dot(&u).sqrt() * v.dot(&v).sqrt()).max(1e-12)).collect()
}

fn check(arch: &str, ot: &Path, size: usize, max_drop: f64) {
    let dir = ot.parent().unwrap();
    let fp32 = dir.join(format!("{arch}.onnx"));
    assert!(export(&[ot.to_str().unwrap(), "-o", fp32.to_str().unwrap()]).status.success());
    let out = dir.join(format!("{arch}.int8.onnx"));
    let report = int8(ot, &out, &[])["quantization"].clone();
    let (fa, qa) = (report["fp32_test_acc"].as_f64().unwrap(), report["int8_test_acc"].as_f64().unwrap());
    assert!((fa - qa) * 100.0 <= max_drop, "{arch}: fp32 {fa:.4}, INT8 {qa:.4}");
    assert!(fa > 0.5, "{arch}: the fp32 model learned too little to tell ({fa:.4})");
    let cos = feature_cosines(&fp32, &out, size);
    let worst = cos.iter().copied().fold(f32::INFINITY, f32::min);
    assert!(worst >= 0.99, "{arch}: feature cosine similarity down to {worst}");
    // The card says what was done; --inspect shows it.
    let meta = &serde_json::from_slice::<Value>(&export(&["--inspect", out.to_str().unwrap(), "--json"]).stdout).unwrap()["metadata"];
    let q: Value = serde_json::from_str(meta["cnnzoo.quantization"].as_str().unwrap()).unwrap();
    assert_eq!(q["calibration_images"], 256);
    assert!(q["method"].as_str().unwrap().starts_with("percentile"));
    // The reference checker and onnxruntime's Python API take the file; ONNX Runtime fuses it into INT8 kernels.
    let ops = python::run_script("check_int8.py", &[out.to_str().unwrap()]);
    assert!(ops.contains("QLinearConv"), "{arch}: {ops}");
    eprintln!("{arch}: fp32 {fa:.4}, INT8 {qa:.4}, worst feature cosine {worst:.4}, fused ops {}", ops.trim());
}

#[test]
fn int8_lenet_keeps_its_accuracy_and_features() {
    let dir = tempfile::tempdir().unwrap();
    let ot = trained(dir.path(), "lenet", 4, 60_000, 28);
    check("lenet", &ot, 28, 0.5);
}

#[test]
fn int8_resnet18_keeps_its_accuracy_and_features() {
    let dir = tempfile::tempdir().unwrap();
    let ot = trained(dir.path(), "resnet18", 2, 6_000, 32);
    check("resnet18", &ot, 32, 1.0);
}

#[test]
fn the_gate_refuses_a_drop_over_the_tolerance_and_bad_input_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let ot = trained(dir.path(), "lenet", 1, 6_000, 28);
    let ok = dir.path().join("ok.onnx");
    let q = int8(&ot, &ok, &["--calibration-images", "64", "--calibration-method", "minmax"])["quantization"].clone();
    let drop = (q["fp32_test_acc"].as_f64().unwrap() - q["int8_test_acc"].as_f64().unwrap()) * 100.0;
    let data = fashion_mnist();
    let (ot, data) = (ot.to_str().unwrap(), data.to_str().unwrap());
    let out = dir.path().join("refused.onnx");
    let tolerance = format!("{:.3}", drop - 0.01);
    let gated = |extra: &[&str]| {
        let mut args = vec![ot, "--int8", "--calibrate", data, "--calibration-images", "64", "--calibration-method", "minmax"];
        args.extend(["--max-drop", &tolerance, "-o", out.to_str().unwrap()]);
        args.extend(extra);
        export(&args)
    };
    let o = gated(&[]);
    assert!(!o.status.success(), "a drop of {drop:.3} points passed --max-drop {tolerance}");
    let e = stderr(&o);
    assert!(e.contains(&format!("more than --max-drop {}", tolerance.parse::<f64>().unwrap())) && e.contains("--force"), "{e}");
    assert!(!out.exists());
    // --force writes it anyway.
    let o = gated(&["--force"]);
    assert!(o.status.success() && out.exists(), "{}", stderr(&o));

    let missing = dir.path().join("missing.onnx");
    let empty = tempfile::tempdir().unwrap();
    let m = missing.to_str().unwrap();
    for (args, message) in [
        (vec![ot, "--int8", "-o", m], "--calibrate"),
        (vec![ot, "--calibrate", data, "-o", m], "--int8"),
        (vec![ot, "--int8", "--calibrate", "/no/such/folder", "-o", m], "--calibrate /no/such/folder: no such file or folder"),
        (
            vec![ot, "--int8", "--calibrate", empty.path().to_str().unwrap(), "-o", m],
            "no Fashion-MNIST IDX files, train/<class>/ folders or images in it",
        ),
        (vec![ot, "--int8", "--calibrate", data, "--calibration-images", "0", "-o", m], "--calibration-images"),
        (vec![ot, "--int8", "--calibrate", data, "--percentile", "40", "-o", m], "must be a percentage above 50"),
        (
            vec![ot, "--int8", "--calibrate", data, "--calibration-method", "minmax", "--percentile", "99", "-o", m],
            "--percentile applies to --calibration-method percentile",
        ),
    ] {
        let o = export(&args);
        assert!(!o.status.success(), "{args:?} succeeded");
        let e = stderr(&o);
        assert!(e.contains(message), "{args:?}: {e}");
        assert_eq!(e.lines().filter(|l| l.starts_with("error:")).count(), 1, "one error line: {e}");
        assert!(!missing.exists(), "{args:?} left a file");
    }
}
