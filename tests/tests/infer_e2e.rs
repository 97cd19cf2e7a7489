//! Train -> export -> infer on real data: cnnzoo-infer agrees with cnnzoo-train
//! and libtorch, PNG files agree with the IDX path, any image mode or size is
//! accepted, bad files are reported one by one, a Backbone is shared safely.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

#[path = "../support/data.rs"]
mod data;
use data::fashion_mnist;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use cnnzoo_export::{lower, metadata, ExportOptions};
use cnnzoo_infer::preprocess::{open_image, preprocess};
use cnnzoo_infer::{Backbone, BackboneOptions, Device};
use cnnzoo_models::Arch;
use cnnzoo_train::checkpoint::{self, Paths};
use cnnzoo_train::data::load_idx;
use cnnzoo_train::trainer::{batch_input, train, Options};
use cnnzoo_train::Net;
use serde_json::Value;

/// The workspace's binaries, built by `cargo test --workspace` (scripts/test.sh).
fn bin(name: &str) -> PathBuf {
    let dir = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().to_path_buf();
    let path = dir.join(name);
    assert!(path.is_file(), "{} is not built: run the tests with `cargo test --workspace` (scripts/test.sh)", path.display());
    path
}

fn infer(args: &[&str]) -> Output {
    Command::new(bin("cnnzoo-infer")).args(args).env_remove("CNNZOO_MODEL_DIR").output().unwrap()
}

/// A LeNet trained briefly on real data and exported, shared by the tests here.
struct Trained {
    dir: PathBuf,
    onnx: PathBuf,
    weights: PathBuf,
    test_acc: f64,
}

fn trained() -> &'static Trained {
    static T: OnceLock<Trained> = OnceLock::new();
    T.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("infer-e2e-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut data = load_idx(&fashion_mnist()).unwrap();
        data.train = data.train.take(30_000);
        let opts = Options {
            epochs: 2,
            batch_size: 64,
            ..Options::recipe(Arch::find("lenet").unwrap(), tch::Device::Cpu, Paths::from_stem(&dir.join("lenet")))
        };
        let manifest = train(&opts, &data).unwrap();
        let ck = checkpoint::load(&opts.paths.weights).unwrap();
        let model =
            lower(&ck.graph, &ck.weights, &ExportOptions { metadata: metadata(&ck.manifest, "test", true, false), ..Default::default() })
                .unwrap();
        let onnx = dir.join("lenet.onnx");
        std::fs::write(&onnx, cnnzoo_proto::encode_model(&model)).unwrap();
        Trained { dir, onnx, weights: opts.paths.weights, test_acc: manifest.metrics.last().unwrap().test_acc }
    })
}

fn eval_json(args: &[&str]) -> Value {
    let o = infer(args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn eval_reproduces_training_accuracy_and_libtorch_predictions() {
    let t = trained();
    let v = eval_json(&["--model", t.onnx.to_str().unwrap(), "--eval", fashion_mnist().to_str().unwrap(), "--json", "--device", "cpu"]);
    assert_eq!(v["images"], 10_000);
    let acc = v["accuracy"].as_f64().unwrap();
    assert!((acc - t.test_acc).abs() <= 0.001, "infer {acc} vs train {}", t.test_acc);
    assert!(v["provider"].as_str().unwrap().contains("CPUExecutionProvider"));
    let confusion: Vec<Vec<u64>> = serde_json::from_value(v["confusion"].clone()).unwrap();
    assert_eq!(confusion.iter().flatten().sum::<u64>(), 10_000);

    // Top-1 against libtorch's forward pass on the same checkpoint.
    let ck = checkpoint::load(&t.weights).unwrap();
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let mut net = Net::new(&vs.root(), ck.graph.clone());
    net.load(&ck.weights).unwrap();
    let test = load_idx(&fashion_mnist()).unwrap().test;
    let tch_pred: Vec<i64> = tch::no_grad(|| Vec::try_from(net.forward(&test.images, false).argmax(-1, false)).unwrap());
    let ort_pred: Vec<i64> = serde_json::from_value(v["predictions"].clone()).unwrap();
    let agree = tch_pred.iter().zip(&ort_pred).filter(|(a, b)| a == b).count();
    assert!(agree >= 9_990, "top-1 agrees on {agree} of 10000");
}

#[test]
fn png_files_classify_as_the_idx_path_does() {
    let t = trained();
    let idx = eval_json(&["--model", t.onnx.to_str().unwrap(), "--eval", fashion_mnist().to_str().unwrap(), "--json", "--device", "cpu"]);
    let expected: Vec<u64> = serde_json::from_value(idx["predictions"].clone()).unwrap();

    let pngs = t.dir.join("pngs");
    std::fs::create_dir_all(&pngs).unwrap();
    let split = cnnzoo_infer::idx::read_fashion_mnist(&fashion_mnist(), "t10k", 10).unwrap();
    for (i, px) in split.pixels.chunks(784).enumerate() {
        image::GrayImage::from_raw(28, 28, px.to_vec()).unwrap().save(pngs.join(format!("{i:05}.png"))).unwrap();
    }
    let o = infer(&["--model", t.onnx.to_str().unwrap(), pngs.to_str().unwrap(), "--json", "--top-k", "1", "--device", "cpu"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 10_000);
    let got: Vec<u64> = lines.iter().map(|l| l["top"][0]["class"].as_u64().unwrap()).collect();
    assert_eq!(got, expected);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("classified 10000 images") && stderr.contains("0 failed"), "{stderr}");
}

/// One image of each mode the issue lists, at sizes from 1x1 to 4000x3000.
fn zoo_of_images(dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![];
    let mut add = |name: &str, save: &dyn Fn(&Path)| {
        let p = dir.join(name);
        save(&p);
        files.push(p);
    };
    add("rgb.png", &|p| image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90])).save(p).unwrap());
    add("rgba.png", &|p| image::RgbaImage::from_fn(30, 30, |x, _| image::Rgba([255, 255, 255, (x * 8) as u8])).save(p).unwrap());
    add("gray16.png", &|p| {
        image::ImageBuffer::<image::Luma<u16>, _>::from_fn(28, 28, |x, y| image::Luma([(x * y * 80) as u16])).save(p).unwrap()
    });
    add("photo.jpg", &|p| image::RgbImage::from_fn(4000, 3000, |x, y| image::Rgb([(x / 16) as u8, (y / 12) as u8, 128])).save(p).unwrap());
    add("dot.png", &|p| image::GrayImage::from_pixel(1, 1, image::Luma([200])).save(p).unwrap());
    add("palette.png", &|p| {
        let f = std::fs::File::create(p).unwrap();
        let mut enc = png::Encoder::new(f, 16, 16);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_palette(vec![0, 0, 0, 255, 0, 0, 0, 255, 0, 255, 255, 255]);
        let data: Vec<u8> = (0..256).map(|i| (i % 4) as u8).collect();
        enc.write_header().unwrap().write_image_data(&data).unwrap();
    });
    files
}

#[test]
fn every_image_mode_and_size_is_accepted_and_bad_files_are_reported() {
    let t = trained();
    let dir = tempfile::tempdir().unwrap();
    let mut files = zoo_of_images(dir.path());
    let good = files.len();
    let bad: [(&str, Vec<u8>); 5] = [
        ("corrupt.png", {
            let mut b = std::fs::read(&files[0]).unwrap();
            b[40..80].fill(0xAB);
            b
        }),
        ("truncated.png", std::fs::read(&files[0]).unwrap()[..60].to_vec()),
        ("empty.png", vec![]),
        ("notes.txt", b"these are not pixels".to_vec()),
        ("huge.bmp", huge_bmp_header()),
    ];
    for (name, bytes) in &bad {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        files.push(p);
    }
    let mut args: Vec<&str> = vec!["--model", t.onnx.to_str().unwrap(), "--json", "--device", "cpu"];
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    let o = infer(&args);
    assert_eq!(o.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(stdout.lines().count(), good, "{stdout}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    for (name, _) in &bad {
        let line = stderr.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("no error line for {name}: {stderr}"));
        assert!(line.starts_with("error: "), "{line}");
    }
    assert!(stderr.contains("5 failed") && stderr.contains("5 file(s) could not be read"), "{stderr}");
    // The enormous header is refused by the limits, before any allocation.
    assert!(stderr.lines().any(|l| l.contains("huge.bmp") && l.to_lowercase().contains("limit")), "{stderr}");
}

/// A BMP header claiming 60000 x 60000 pixels, with no pixel data.
fn huge_bmp_header() -> Vec<u8> {
    let mut b = vec![];
    b.extend(b"BM");
    b.extend(54u32.to_le_bytes()); // file size (a lie, like the rest)
    b.extend([0u8; 4]);
    b.extend(54u32.to_le_bytes());
    b.extend(40u32.to_le_bytes());
    b.extend(60_000i32.to_le_bytes());
    b.extend(60_000i32.to_le_bytes());
    b.extend(1u16.to_le_bytes());
    b.extend(24u16.to_le_bytes());
    b.extend([0u8; 24]);
    b
}

#[test]
fn preprocessing_matches_the_trainers_libtorch_resize() {
    let test = load_idx(&fashion_mnist()).unwrap().test.take(8);
    let torch = batch_input(&test.images, tch::Device::Cpu, 96);
    let split = cnnzoo_infer::idx::read_fashion_mnist(&fashion_mnist(), "t10k", 10).unwrap();
    let p = cnnzoo_infer::preprocess::Preprocessing {
        channels: 1,
        size: 96,
        resize: "bilinear".into(),
        scale: 1.0 / 255.0,
        mean: None,
        std: None,
    };
    for i in 0..8 {
        let img =
            image::DynamicImage::ImageLuma8(image::GrayImage::from_raw(28, 28, split.pixels[i * 784..(i + 1) * 784].to_vec()).unwrap());
        let ours = preprocess(&img, &p);
        let theirs: Vec<f32> = Vec::try_from(torch.get(i as i64).view(-1)).unwrap();
        let err = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(err < 1e-5, "image {i}: {err}");
    }
    // RGB is converted with ITU-R 601 luma; alpha is composited on black.
    let rgb = image::DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(2, 2, image::Rgba([200, 100, 50, 128])));
    let small = cnnzoo_infer::preprocess::Preprocessing { size: 2, scale: 1.0, ..p };
    let v = preprocess(&rgb, &small)[[0, 0, 0]];
    let expected = (0.299 * 200.0 + 0.587 * 100.0 + 0.114 * 50.0) * (128.0 / 255.0);
    assert!((v - expected).abs() < 1e-3, "{v} vs {expected}");
}

#[test]
fn one_backbone_serves_eight_threads_exactly_as_one() {
    let t = trained();
    let backbone = Backbone::open(&t.onnx, &BackboneOptions { device: Device::Cpu, max_batch: 7, ..Default::default() }).unwrap();
    let split = cnnzoo_infer::idx::read_fashion_mnist(&fashion_mnist(), "t10k", 10).unwrap();
    let images: Vec<image::DynamicImage> = split
        .pixels
        .chunks(784)
        .take(40)
        .map(|px| image::DynamicImage::ImageLuma8(image::GrayImage::from_raw(28, 28, px.to_vec()).unwrap()))
        .collect();
    let sequential = backbone.embed(&images).unwrap();
    let top = backbone.classify(&images, 3).unwrap();
    assert_eq!(sequential.shape(), [40, 84]);
    std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..8).map(|_| s.spawn(|| (backbone.embed(&images).unwrap(), backbone.classify(&images, 3).unwrap()))).collect();
        for h in handles {
            let (features, classes) = h.join().unwrap();
            assert_eq!(features, sequential);
            assert_eq!(classes, top);
        }
    });
    assert_eq!(top[0].len(), 3);
    assert!(top.iter().all(|t| t[0].probability >= t[1].probability && t[1].probability >= t[2].probability));
}

#[test]
fn cuda_is_refused_where_onnx_runtime_has_none() {
    let t = trained();
    let cuda_ok = Backbone::open(&t.onnx, &BackboneOptions { device: Device::Cuda(0), ..Default::default() });
    if let Ok(b) = cuda_ok {
        assert_eq!(b.provider(), cnnzoo_infer::Provider::Cuda(0));
        return; // a GPU machine with onnxruntime-gpu: nothing to refuse
    }
    let e = cuda_ok.unwrap_err().to_string();
    assert!(e.contains("cuda:0") && e.contains("CUDA"), "{e}");
    let o = infer(&["--model", t.onnx.to_str().unwrap(), "--device", "cuda", t.onnx.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("CUDA"), "{}", String::from_utf8_lossy(&o.stderr));
    // auto falls back to the CPU and says so.
    let b = Backbone::open(&t.onnx, &BackboneOptions::default()).unwrap();
    assert_eq!(b.provider(), cnnzoo_infer::Provider::Cpu);
}

#[test]
fn backbone_names_are_validated_and_resolved_in_the_model_dir() {
    let t = trained();
    for bad in ["../lenet", "/etc/passwd", ".hidden", "a/b", ""] {
        let o = infer(&["--backbone", bad, "--model-dir", t.dir.to_str().unwrap(), "x.png"]);
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
    }
    let o = infer(&["--backbone", "resnet", "--model-dir", t.dir.to_str().unwrap(), "x.png"]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("resnet.onnx") && e.contains("no such backbone") && e.contains("lenet"), "{e}");
    let img = t.dir.join("one.png");
    image::GrayImage::from_pixel(28, 28, image::Luma([30])).save(&img).unwrap();
    let o = Command::new(bin("cnnzoo-infer"))
        .args(["--backbone", "lenet", img.to_str().unwrap(), "--features"])
        .env("CNNZOO_MODEL_DIR", &t.dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(v["features"].as_array().unwrap().len(), 84);
    // .npy output, read back by numpy's format rules.
    let npy = t.dir.join("f.npy");
    let o = infer(&[
        "--model",
        t.onnx.to_str().unwrap(),
        "--features",
        "--format",
        "npy",
        "-o",
        npy.to_str().unwrap(),
        img.to_str().unwrap(),
        img.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let bytes = std::fs::read(&npy).unwrap();
    assert!(bytes.starts_with(b"\x93NUMPY") && String::from_utf8_lossy(&bytes[10..80]).contains("'shape': (2, 84)"));
    assert_eq!(bytes.len() % 64, (2 * 84 * 4) % 64);
    let _ = open_image(&img).unwrap();
}
