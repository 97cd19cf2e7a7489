//! Train -> export -> infer on real data, through the libraries: the exported
//! model's evaluation agrees with cnnzoo-train and libtorch, preprocessing
//! matches the trainer's, a Backbone is shared safely. (The `cnnzoo-infer`
//! binary's own tests are in infer/tests, where Cargo builds it.)

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

use cnnzoo_test_support::data;
use data::fashion_mnist;

use std::path::PathBuf;
use std::sync::OnceLock;

use cnnzoo_export::{lower, ExportOptions};
use cnnzoo_infer::{evaluate, Backbone, BackboneOptions, Device};
use cnnzoo_models::card::{Card, Provenance};
use cnnzoo_models::data::read_fashion_mnist;
use cnnzoo_models::preprocess::preprocess;
use cnnzoo_models::Arch;
use cnnzoo_models::Preprocessing;
use cnnzoo_train::checkpoint::{self, Paths};
use cnnzoo_train::data::load_idx;
use cnnzoo_train::trainer::{batch_input, train, Options};
use cnnzoo_train::Net;

/// A LeNet trained briefly on real data and exported, shared by the tests here.
struct Trained {
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
        let model = lower(
            &ck.graph,
            &ck.weights,
            &ExportOptions { metadata: Card::new(&ck.manifest, Provenance::new("test", true, false)).to_metadata(), ..Default::default() },
        )
        .unwrap();
        let onnx = dir.join("lenet.onnx");
        std::fs::write(&onnx, cnnzoo_proto::encode_model(&model)).unwrap();
        Trained { onnx, weights: opts.paths.weights, test_acc: manifest.metrics.last().unwrap().test_acc }
    })
}

#[test]
fn eval_reproduces_training_accuracy_and_libtorch_predictions() {
    let t = trained();
    let backbone = Backbone::open(&t.onnx, &BackboneOptions { device: Device::Cpu, ..Default::default() }).unwrap();
    let e = evaluate(&backbone, &fashion_mnist()).unwrap();
    assert_eq!(e.images, 10_000);
    assert!((e.accuracy - t.test_acc).abs() <= 0.001, "infer {} vs train {}", e.accuracy, t.test_acc);
    assert_eq!(e.confusion.iter().flatten().sum::<usize>(), 10_000);

    // Top-1 against libtorch's forward pass on the same checkpoint.
    let ck = checkpoint::load(&t.weights).unwrap();
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let mut net = Net::new(&vs.root(), ck.graph.clone());
    net.load(&ck.weights).unwrap();
    let test = load_idx(&fashion_mnist()).unwrap().test;
    let tch_pred: Vec<i64> = tch::no_grad(|| Vec::try_from(net.forward(&test.images, false).argmax(-1, false)).unwrap());
    let agree = tch_pred.iter().zip(&e.predictions).filter(|(&a, &b)| a as usize == b).count();
    assert!(agree >= 9_990, "top-1 agrees on {agree} of 10000");
}

#[test]
fn preprocessing_matches_the_trainers_libtorch_resize() {
    // The card training writes, at the zoo's sizes and downscaled (libtorch's antialiased kernel).
    let test = load_idx(&fashion_mnist()).unwrap().test.take(8);
    let split = read_fashion_mnist(&fashion_mnist(), "t10k", 10).unwrap();
    for size in [28, 96, 224, 20, 9] {
        let torch = batch_input(&test.images, tch::Device::Cpu, size);
        let p = Preprocessing::new(1, size);
        for i in 0..8 {
            let img = image::DynamicImage::ImageLuma8(split.image(i).unwrap());
            let ours = preprocess(&img, &p);
            let theirs: Vec<f32> = Vec::try_from(torch.get(i as i64).view(-1)).unwrap();
            let err = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(err < 1e-5, "size {size}, image {i}: {err}");
        }
    }
    let p = Preprocessing::bilinear_unit(1, 96);
    // RGB is converted with ITU-R 601 luma; alpha is composited on black.
    let rgb = image::DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(2, 2, image::Rgba([200, 100, 50, 128])));
    let small = Preprocessing { size: 2, scale: 1.0, ..p };
    let v = preprocess(&rgb, &small)[[0, 0, 0]];
    let expected = (0.299 * 200.0 + 0.587 * 100.0 + 0.114 * 50.0) * (128.0 / 255.0);
    assert!((v - expected).abs() < 1e-3, "{v} vs {expected}");
}

#[test]
fn one_backbone_serves_eight_threads_exactly_as_one() {
    let t = trained();
    let backbone = Backbone::open(&t.onnx, &BackboneOptions { device: Device::Cpu, max_batch: 7, ..Default::default() }).unwrap();
    let split = read_fashion_mnist(&fashion_mnist(), "t10k", 10).unwrap();
    let images: Vec<image::DynamicImage> = (0..40).map(|i| split.image(i).unwrap().into()).collect();
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
