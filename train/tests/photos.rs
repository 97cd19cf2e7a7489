//! Fine-tuning published weights on a folder of photos, as a user runs it:
//! `cnnzoo-train --arch tv_resnet18 --init resnet18.pth --data photos/
//! --val-split 0.2`. The weights are torchvision's own ResNet-18 (seeded,
//! saved with `torch.save`), the photos RGB JPEGs of mixed sizes.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

use cnnzoo_test_support::data;
use cnnzoo_test_support::{argv, python};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cnnzoo_models::preprocess::Filter;
use cnnzoo_models::tuning::Freeze;
use cnnzoo_models::{Manifest, Preprocessing, IMAGENET_MEAN, IMAGENET_STD};

const CLASSES: [&str; 3] = ["cat", "dog", "fox"];

fn train<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cnnzoo-train")).args(args).args(["--device", "cpu"]).env_remove("CNNZOO_DATA").output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn manifest(stem: &Path) -> Manifest {
    serde_json::from_slice(&std::fs::read(stem.with_extension("json")).unwrap()).unwrap()
}

/// `dir/<class>/*.jpg`: five RGB photos per class, of sizes from 60 to 140
/// pixels a side and both orientations, each class its own colour.
fn photos(dir: &Path) -> PathBuf {
    for (c, class) in CLASSES.iter().enumerate() {
        let d = dir.join(class);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..5u32 {
            let (w, h) = (60 + 20 * i, 140 - 15 * i);
            let img = image::RgbImage::from_fn(w, h, |x, y| {
                let mut px = [(x * 3 + y) as u8 / 4; 3];
                px[c] = 160 + ((x + y * i) % 90) as u8;
                image::Rgb(px)
            });
            img.save(d.join(format!("{i}.jpg"))).unwrap();
        }
    }
    dir.to_path_buf()
}

/// torchvision's seeded ResNet-18 as `torch.save(model.state_dict())` writes it.
fn resnet18_weights(dir: &Path) -> PathBuf {
    python::run_script("torchvision_zoo.py", &["make", dir.to_str().unwrap(), "64", "resnet18"]);
    dir.join("resnet18.pth")
}

#[test]
fn published_weights_fine_tune_on_a_photo_folder_and_keep_their_preprocessing() {
    let dir = tempfile::tempdir().unwrap();
    let weights = resnet18_weights(dir.path());
    let photos = photos(&dir.path().join("photos"));
    let stem = dir.path().join("runs/pets");
    let args = "--arch tv_resnet18 --init {} --data {} --val-split 0.2 --freeze backbone --epochs 1 -q -o {}";
    let o = train(&argv(args, &[&weights, &photos, &stem]));
    let e = stderr(&o);
    assert!(o.status.success(), "{e}");
    assert!(e.contains("resnet18.pth: fc: 1000 -> 3 classes, new"), "the run says the head is new: {e}");
    assert!(e.contains("(12 train / 3 test examples)"), "one photo of five held out per class: {e}");
    let m = manifest(&stem);
    assert_eq!(m.classes, CLASSES);
    assert_eq!(m.input(), [3, 224, 224]);
    assert_eq!(
        m.preprocessing,
        Preprocessing::torchvision(256, 224, Filter::BilinearAntialias, IMAGENET_MEAN, IMAGENET_STD),
        "the card is the weights' own: torchvision's resize 256, crop 224, ImageNet statistics"
    );
    assert_eq!(m.hyperparameters.val_split, Some(0.2));
    assert_eq!(m.hyperparameters.tuning.freeze, Freeze::Backbone);

    // --resume splits the folder again the same way and goes on.
    let again =
        ["--arch", "tv_resnet18", "--data", photos.to_str().unwrap(), "--resume", "--epochs", "2", "-q", "-o", stem.to_str().unwrap()];
    let o = train(&again);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(manifest(&stem).metrics.len(), 2);
    let o = train(&[again.as_slice(), &["--val-split", "0.5"]].concat());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--val-split 0.5 differs from the 0.2"), "{}", stderr(&o));

    // A folder of class folders without --val-split says how to split it,
    // and --val-split is refused where a test split exists.
    let o = train(&["--arch", "tv_resnet18", "--data", photos.to_str().unwrap(), "-o", dir.path().join("x").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("photos: holds class folders but no train/ and test/: give --val-split 0.1"), "{}", stderr(&o));
    std::fs::create_dir_all(photos.join("test")).unwrap();
    let o = train(&argv("--arch tv_resnet18 --data {} --val-split 0.1 -o {}", &[&photos, &dir.path().join("x")]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("test: exists: --val-split holds out part of a folder that has no test split"), "{}", stderr(&o));
    assert!(!dir.path().join("x.ot").exists());
}

#[test]
fn published_rgb_weights_on_fashion_mnist_average_their_statistics_over_gray() {
    let dir = tempfile::tempdir().unwrap();
    let weights = resnet18_weights(dir.path());
    let stem = dir.path().join("gray");
    let fashion = data::fashion_mnist();
    let args = "--arch tv_resnet18 --init {} --data {} --size 32 --train-limit 64 --test-limit 32 --epochs 1 -q -o {}";
    let o = train(&argv(args, &[&weights, &fashion, &stem]));
    assert!(o.status.success(), "{}", stderr(&o));
    let m = manifest(&stem);
    assert_eq!(m.input(), [1, 32, 32]);
    let p = &m.preprocessing;
    let gray = |v: [f32; 3]| v.iter().sum::<f32>() / 3.0;
    assert_eq!((p.mean.clone(), p.std.clone()), (Some(vec![gray(IMAGENET_MEAN)]), Some(vec![gray(IMAGENET_STD)])));
    assert_eq!(p.resize_size, None, "a 28 px garment is resized whole, as in training, not cropped");
    assert_eq!(p.resize, Filter::BilinearAntialias);
}
