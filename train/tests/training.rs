//! The training loop on real Fashion-MNIST: an accuracy floor, resume
//! equivalence, a diverging run that keeps its last good checkpoint, and
//! `--epochs 0`.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

mod common;
use common::{start, subset};

use std::path::Path;

use cnnzoo_models::Arch;
use cnnzoo_train::checkpoint::{self, Paths};
use cnnzoo_train::trainer::{train, Options};
use cnnzoo_train::TrainError;
use tch::Device;

fn lenet(dir: &Path, name: &str) -> Options {
    Options::recipe(Arch::find("lenet").unwrap(), Device::Cpu, Paths::from_stem(&dir.join(name)))
}

fn max_abs_diff(a: &cnnzoo_models::Weights, b: &cnnzoo_models::Weights) -> f32 {
    assert_eq!(a.0.keys().collect::<Vec<_>>(), b.0.keys().collect::<Vec<_>>());
    a.0.iter().flat_map(|(k, t)| t.data.iter().zip(&b.0[k].data).map(|(x, y)| (x - y).abs())).fold(0.0, f32::max)
}

#[test]
fn lenet_reaches_an_accuracy_floor_quickly() {
    let (_turn, dir, data) = start(30_000, 10_000);
    let opts = Options { epochs: 2, batch_size: 64, ..lenet(dir.path(), "floor") };
    let manifest = train(&opts, &data).unwrap();
    let last = manifest.metrics.last().unwrap();
    // Seed 42 reaches 0.63 here; d2l's sigmoid LeNet starts slowly, so the floor is modest.
    assert!(last.test_acc >= 0.55, "test acc {}", last.test_acc);
    assert!(manifest.metrics[1].loss < manifest.metrics[0].loss);
    // The manifest on disk is the one returned, and the curves were drawn.
    assert_eq!(checkpoint::read_manifest(&opts.paths.manifest).unwrap(), manifest);
    assert!(std::fs::read_to_string(&opts.paths.curves).unwrap().contains("<polyline"));
}

#[test]
fn resume_ends_where_an_uninterrupted_run_ends() {
    let (_turn, dir, data) = start(4_000, 1_000);
    let straight = Options { epochs: 3, batch_size: 128, ..lenet(dir.path(), "straight") };
    let a = train(&straight, &data).unwrap();

    let split = Options { epochs: 1, batch_size: 128, ..lenet(dir.path(), "split") };
    train(&split, &data).unwrap();
    // The recipe is the checkpoint's: a different --lr on resume is ignored.
    let resumed = Options { epochs: 3, resume: true, lr: 123.0, ..split.clone() };
    let b = train(&resumed, &data).unwrap();

    assert_eq!(b.metrics.len(), 3);
    for (x, y) in a.metrics.iter().zip(&b.metrics) {
        assert!((x.loss - y.loss).abs() < 1e-6 && x.test_acc == y.test_acc, "{x:?} vs {y:?}");
    }
    let wa = checkpoint::read_weights(&straight.paths.weights).unwrap();
    let wb = checkpoint::read_weights(&split.paths.weights).unwrap();
    assert!(max_abs_diff(&wa, &wb) < 1e-6, "weights differ by {}", max_abs_diff(&wa, &wb));
}

#[test]
fn a_diverging_run_stops_and_keeps_the_last_good_checkpoint() {
    let (_turn, dir, data) = start(2_000, 500);
    let opts = Options { epochs: 1, batch_size: 100, ..lenet(dir.path(), "nan") };
    train(&opts, &data).unwrap();
    let good = std::fs::read(&opts.paths.weights).unwrap();
    let good_manifest = std::fs::read(&opts.paths.manifest).unwrap();

    // Poison one training image: the first batch that holds it gives a NaN loss.
    let poisoned = subset(2_000, 500);
    let _ = poisoned.train.images.get(1234).fill_(f64::NAN);
    let err = train(&Options { epochs: 2, resume: true, ..opts.clone() }, &poisoned).unwrap_err();
    assert!(matches!(err, TrainError::Diverged { epoch: 2, kept: 1, .. }), "{err}");
    assert!(err.to_string().contains("NaN") && err.to_string().contains("last finished epoch (1)"), "{err}");
    assert_eq!(std::fs::read(&opts.paths.weights).unwrap(), good, "the checkpoint must be untouched");
    assert_eq!(std::fs::read(&opts.paths.manifest).unwrap(), good_manifest);
    // No temporary files are left behind.
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn zero_epochs_writes_the_initialized_model() {
    let (_turn, dir, data) = start(100, 100);
    let opts = Options { epochs: 0, ..lenet(dir.path(), "init") };
    let manifest = train(&opts, &data).unwrap();
    assert!(manifest.metrics.is_empty());
    let ck = checkpoint::load(&opts.paths.weights).unwrap();
    assert_eq!(ck.graph.parameter_count(), 61_706);
    // Xavier-uniform: conv1's bound is sqrt(6 / (25 + 150)).
    let w = &ck.weights.get("conv1.weight").unwrap().data;
    let bound = (6.0f32 / 175.0).sqrt();
    assert!(w.iter().all(|v| v.abs() <= bound) && w.iter().any(|v| v.abs() > bound * 0.9));
}
