//! The fine-tuning recipe on real Fashion-MNIST: a frozen backbone learns
//! nothing (weights and batch-norm statistics bit for bit), a backbone at
//! rate 0 learns what a frozen one does, the recipe's flags are the ones the
//! manifest records, and `--resume` keeps the recipe it was trained with.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

mod common;
use common::{start, turn};

use std::path::Path;

use cnnzoo_models::tuning::{Augment, Freeze, LrSchedule, OptimizerKind};
use cnnzoo_models::{Arch, Tuning, Weights};
use cnnzoo_train::checkpoint::{self, Paths};
use cnnzoo_train::data::Dataset;
use cnnzoo_train::trainer::{train, Options};
use tch::Device;

fn options(arch: &str, dir: &Path, name: &str) -> Options {
    Options::recipe(Arch::find(arch).unwrap(), Device::Cpu, Paths::from_stem(&dir.join(name)))
}

/// The names of the tensors whose values differ between `a` and `b`.
fn changed(a: &Weights, b: &Weights) -> Vec<String> {
    a.0.iter().filter(|(k, t)| t.data != b.0[*k].data).map(|(k, _)| k.clone()).collect()
}

#[test]
fn a_frozen_backbone_keeps_its_weights_and_batch_norm_statistics() {
    let (_turn, dir, data) = start(96, 32);
    // ResNet-18 (batch norm everywhere) at 32 px: the initialized model, then
    // one epoch of it with the backbone frozen.
    let tuning = Tuning { freeze: Freeze::Backbone, ..Tuning::default() };
    let opts = Options { epochs: 0, size: 32, batch_size: 32, tuning, ..options("resnet18", dir.path(), "frozen") };
    train(&opts, &data).unwrap();
    let before = checkpoint::load(&opts.paths.weights).unwrap();
    let after = train(&Options { epochs: 1, resume: true, ..opts.clone() }, &data).unwrap();
    assert_eq!(after.hyperparameters.tuning.freeze, Freeze::Backbone, "the manifest records what was frozen");
    let after = checkpoint::load(&opts.paths.weights).unwrap();
    let moved = changed(&before.weights, &after.weights);
    let graph = &before.graph;
    let mut head: Vec<String> = graph
        .nodes
        .iter()
        .zip(graph.needed(&[graph.features]))
        .filter(|(_, backbone)| !backbone)
        .flat_map(|(n, _)| n.params.iter().map(|p| p.name.clone()))
        .collect();
    head.sort();
    assert!(!head.is_empty());
    assert_eq!(moved, head, "only the head learns; running means and variances included, nothing else moves");
    assert!(before.weights.0.keys().any(|k| k.ends_with("running_mean")), "the network has batch-norm statistics to keep");
}

#[test]
fn a_backbone_at_rate_zero_learns_what_a_frozen_one_does() {
    let (_turn, dir, data) = start(256, 64);
    // LeNet has no batch norm and no dropout: the two must agree bit for bit.
    let run = |name: &str, tuning: Tuning| {
        let opts = Options { epochs: 1, batch_size: 64, tuning, ..options("lenet", dir.path(), name) };
        train(&opts, &data).unwrap();
        checkpoint::load(&opts.paths.weights).unwrap().weights
    };
    let frozen = run("frozen", Tuning { freeze: Freeze::Backbone, ..Tuning::default() });
    let zero = run("zero", Tuning { backbone_lr_scale: 0.0, ..Tuning::default() });
    let full = run("full", Tuning::default());
    assert!(changed(&frozen, &zero).is_empty(), "differ: {:?}", changed(&frozen, &zero));
    assert!(changed(&frozen, &full).len() > 2, "a full run moves the backbone too");
}

#[test]
fn the_recipe_flags_train_and_are_recorded() {
    let (_turn, dir, data) = start(4000, 1000);
    let tuning = Tuning {
        optimizer: OptimizerKind::Adamw,
        weight_decay: 0.05,
        lr_schedule: LrSchedule::Cosine,
        warmup_epochs: 1,
        label_smoothing: 0.1,
        augment: Augment::None,
        ..Tuning::default()
    };
    let opts = Options { epochs: 3, batch_size: 64, lr: 0.003, tuning, ..options("lenet", dir.path(), "adamw") };
    let manifest = train(&opts, &data).unwrap();
    let h = &manifest.hyperparameters;
    assert_eq!((h.optimizer.as_str(), h.tuning), ("adamw", tuning));
    // LeNet with AdamW learns where d2l's SGD at this rate barely moves.
    let last = manifest.metrics.last().unwrap();
    assert!(last.test_acc > 0.5, "test acc {}", last.test_acc);
    assert_eq!(checkpoint::read_manifest(&opts.paths.manifest).unwrap(), manifest);
}

#[test]
fn a_frozen_backbones_cached_features_train_the_head_as_the_whole_network_does() {
    let (_turn, dir, data) = start(4000, 2000);
    // A backbone worth freezing: LeNet after two epochs of AdamW, as published weights.
    let adamw = Tuning { optimizer: OptimizerKind::Adamw, ..Tuning::default() };
    let pre = Options { epochs: 2, batch_size: 64, lr: 0.003, tuning: adamw, ..options("lenet", dir.path(), "pre") };
    train(&pre, &data).unwrap();
    let weights = checkpoint::load(&pre.paths.weights).unwrap().weights;
    let published = dir.path().join("lenet.safetensors");
    std::fs::write(
        &published,
        cnnzoo_models::weights::safetensors::write(weights.0.iter().map(|(k, t)| (k.as_str(), t)), &Default::default()),
    )
    .unwrap();
    let run = |name: &str, cache_features: bool| {
        let tuning = Tuning { freeze: Freeze::Backbone, ..Tuning::default() };
        let init = Some(published.clone());
        let opts = Options { epochs: 2, batch_size: 64, lr: 0.1, tuning, cache_features, init, ..options("lenet", dir.path(), name) };
        train(&opts, &data).unwrap().metrics.last().unwrap().test_acc
    };
    let cached = run("cached", true);
    let whole = run("whole", false);
    assert!((cached - whole).abs() <= 0.005, "cached {cached} vs every epoch through the network {whole}");
    assert!(cached > 0.5, "the head learned on the pretrained features: {cached}");
}

/// An image folder of `classes`, a few synthetic images each, in both splits.
fn folder(dir: &Path, classes: &[&str]) -> Dataset {
    for split in ["train", "test"] {
        for (c, class) in classes.iter().enumerate() {
            let d = dir.join(split).join(class);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..6u32 {
                let img = image::GrayImage::from_fn(28, 28, |x, y| image::Luma([((x * (c as u32 + 1) + y * i) % 256) as u8]));
                img.save(d.join(format!("{i}.png"))).unwrap();
            }
        }
    }
    cnnzoo_train::data::load(dir, &cnnzoo_models::Preprocessing::new(1, 28), None, 42).unwrap()
}

#[test]
fn a_checkpoint_for_other_classes_starts_a_run_with_a_new_head() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let first = folder(&dir.path().join("first"), &["shirt", "shoe"]);
    let second = folder(&dir.path().join("second"), &["bag", "coat"]);
    let pre = Options { epochs: 1, batch_size: 4, ..options("lenet", dir.path(), "pre") };
    train(&pre, &first).unwrap();
    let pretrained = checkpoint::load(&pre.paths.weights).unwrap();
    let start = |name: &str, data: &Dataset| {
        let opts = Options { epochs: 0, init: Some(pre.paths.weights.clone()), ..options("lenet", dir.path(), name) };
        train(&opts, data).map(|_| checkpoint::load(&opts.paths.weights).unwrap().weights)
    };
    // The same classes: every tensor as trained.
    assert!(changed(&pretrained.weights, &start("same", &first).unwrap()).is_empty());
    // Other classes (the same count): the head is new, the rest as trained.
    let other = start("other", &second).unwrap();
    let head = &pretrained.graph.nodes[pretrained.graph.logits];
    let mut want: Vec<String> = head.params.iter().map(|p| p.name.clone()).collect();
    want.sort();
    assert_eq!(changed(&pretrained.weights, &other), want);
    // A checkpoint of another network is one clear error.
    let opts = Options { epochs: 0, size: 32, init: Some(pre.paths.weights.clone()), ..options("resnet18", dir.path(), "wrong") };
    let e = train(&opts, &second).unwrap_err().to_string();
    assert!(e.contains("pre.ot") && e.contains("is a lenet checkpoint, not resnet18"), "{e}");
}
