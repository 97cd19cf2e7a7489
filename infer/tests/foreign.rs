//! Any single-image ONNX classifier runs through cnnzoo-infer, as a user
//! brings one: torchvision's ResNet-18 exported as the PyTorch tutorial does
//! (`input.1` in, `191` out, a fixed batch of 1) classifies photos with
//! torchvision's own top-5 and ImageNet's names; a small model with input
//! `x` and output `y`; a 48x192 model (`--size HxW`); a model with two
//! unnamed outputs, which must be named.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

use cnnzoo_test_support::python;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn infer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cnnzoo-infer")).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn photo(path: &Path, w: u32, h: u32) {
    image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, ((x * y) % 256) as u8]))
        .save(path)
        .unwrap();
}

#[test]
fn a_tutorial_export_and_small_foreign_models_run_with_flags() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let photos: Vec<String> = [("wide.jpg", 640, 480), ("tall.png", 480, 640), ("small.jpg", 300, 200)]
        .iter()
        .map(|(n, w, h)| {
            photo(&d.join(n), *w, *h);
            d.join(n).to_str().unwrap().to_string()
        })
        .collect();
    let mut args = vec![d.to_str().unwrap()];
    args.extend(photos.iter().map(String::as_str));
    let reference: Value = serde_json::from_str(python::run_script("tutorial_export.py", &args).trim()).unwrap();
    assert_eq!((reference["inputs"][0].as_str(), reference["outputs"][0].as_str()), (Some("input.1"), Some("191")), "{reference}");
    let names = d.join("imagenet.txt");
    std::fs::write(&names, cnnzoo_models::weights::IMAGENET1K_CLASSES).unwrap();

    let model = d.join("resnet18.onnx");
    let flags = ["--channels", "3", "--resize-size", "256", "--size", "224", "--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225"];
    let mut args: Vec<&str> = vec!["--model", model.to_str().unwrap(), "--classes", names.to_str().unwrap(), "--json"];
    args.extend(flags);
    args.extend(photos.iter().map(String::as_str));
    let o = infer(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        let ours: Vec<&str> = r["top"].as_array().unwrap().iter().map(|t| t["label"].as_str().unwrap()).collect();
        let theirs: Vec<&str> =
            reference["top5"][r["path"].as_str().unwrap()].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(ours[0], theirs[0], "{}: top-1", r["path"]);
        assert_eq!(ours, theirs, "{}: top-5", r["path"]);
    }
    // It has no feature output: --features says so instead of printing logits.
    let o = infer(&["--model", model.to_str().unwrap(), "--channels", "3", "--size", "224", "--features", &photos[0]]);
    assert!(!o.status.success() && stderr(&o).contains("`191` is the class logits and it has no feature output"), "{}", stderr(&o));

    // Input `x`, output `y`: classified with numbered classes, any batch.
    let small = d.join("small.onnx");
    let mut args = vec!["--model", small.to_str().unwrap(), "--channels", "3", "--size", "48", "--json", "--top-k", "2"];
    args.extend(photos.iter().map(String::as_str));
    let o = infer(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 3);

    // A non-square input, 48x192: --size HxW, and the same probabilities as PyTorch.
    let wide = d.join("wide.onnx");
    let mut args = vec!["--model", wide.to_str().unwrap(), "--channels", "3", "--size", "48x192", "--json", "--top-k", "3"];
    args.extend(photos.iter().map(String::as_str));
    let o = infer(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        let theirs = &reference["wide"][r["path"].as_str().unwrap()];
        for t in r["top"].as_array().unwrap() {
            let (k, p) = (t["class"].as_u64().unwrap() as usize, t["probability"].as_f64().unwrap());
            assert!((p - theirs[k].as_f64().unwrap()).abs() < 1e-4, "{}: class {k}: {p} vs {}", r["path"], theirs[k]);
        }
    }
    let o = infer(&["--model", wide.to_str().unwrap(), "--channels", "3", "--size", "192", &photos[0]]);
    assert!(
        !o.status.success() && stderr(&o).contains("at 192x192 pixels (height x width) but the model takes [3, 48, 192]"),
        "{}",
        stderr(&o)
    );
    let o = infer(&["--model", wide.to_str().unwrap(), "--channels", "3", "--size", "48x0", &photos[0]]);
    assert!(!o.status.success() && stderr(&o).contains("--size") && stderr(&o).contains("HEIGHTxWIDTH"), "{}", stderr(&o));

    // Two outputs with other names: which is which must be said, then both work.
    let two = d.join("two.onnx");
    let base = ["--model", two.to_str().unwrap(), "--channels", "3", "--size", "48"];
    let o = infer(&[&base[..], &[photos[0].as_str()]].concat());
    assert!(
        !o.status.success() && stderr(&o).contains("several outputs (scores, embedding)") && stderr(&o).contains("--logits-output"),
        "{}",
        stderr(&o)
    );
    let named = [&base[..], &["--logits-output", "scores", "--features-output", "embedding"]].concat();
    let o = infer(&[&named[..], &[photos[0].as_str()]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let o = infer(&[&named[..], &["--features", "--json", photos[0].as_str()]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let f: Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(f["features"].as_array().unwrap().len(), 8);
    let o = infer(&[&base[..], &["--logits-output", "nope", photos[0].as_str()]].concat());
    assert!(
        !o.status.success() && stderr(&o).contains("logits output `nope`: no such output (outputs: scores, embedding)"),
        "{}",
        stderr(&o)
    );
}
