//! A LeNet with seeded weights, lowered by the exporter's library with a
//! Fashion-MNIST card: a real model file for tests that need no libtorch and
//! no training.

use std::path::Path;

use cnnzoo_export::{lower, ExportOptions};
use cnnzoo_models::card::{Card, Provenance};
use cnnzoo_models::data::FASHION_MNIST_CLASSES;
use cnnzoo_models::{Arch, EpochMetrics, Hyperparameters, Manifest, ParamRole, Preprocessing, Tensor32, Weights};

/// Writes the seeded LeNet to `path`, its card entries passed through `edit` first
/// (the corpus forges bad cards this way).
pub fn write_lenet(path: &Path, edit: impl FnOnce(&mut Vec<(String, String)>)) {
    let model = lenet(Preprocessing::bilinear_unit(1, 28), cnnzoo_export::DEFAULT_OPSET, edit);
    std::fs::write(path, cnnzoo_proto::encode_model(&model)).expect("model written");
}

/// The seeded LeNet built for the card's channels and size, at `opset`.
pub fn lenet(p: Preprocessing, opset: i64, edit: impl FnOnce(&mut Vec<(String, String)>)) -> cnnzoo_proto::ModelProto {
    let arch = Arch::find("lenet").expect("lenet is registered");
    let config = cnnzoo_models::Config { in_channels: p.channels, size: p.size, ..arch.default_config() };
    let graph = arch.build(&config).expect("lenet builds");
    let weights = seeded_weights(&graph, 7);
    let manifest = Manifest {
        format: Manifest::FORMAT,
        arch: "lenet".into(),
        classes: FASHION_MNIST_CLASSES.iter().map(|c| c.to_string()).collect(),
        preprocessing: p,
        hyperparameters: Hyperparameters { batch_size: 1, seed: 7, init: "xavier_uniform".into(), ..Default::default() },
        metrics: vec![EpochMetrics { epoch: 0, loss: 0.0, train_acc: 0.0, test_acc: 0.0, examples_per_sec: 0.0, seconds: 0.0 }],
        versions: Default::default(),
        weights_sha256: None,
    };
    let mut card = Card::new(&manifest, Provenance::new("seeded", true, false)).to_metadata();
    edit(&mut card);
    let opts = ExportOptions { metadata: card, opset, ..Default::default() };
    lower(&graph, &weights, &opts).expect("lenet lowers")
}

/// Xavier-uniform weights and PyTorch-style biases from a xorshift generator.
fn seeded_weights(graph: &cnnzoo_models::Graph, seed: u64) -> Weights {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut uniform = move |bound: f32| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * bound
    };
    let mut w = Weights::default();
    for p in graph.params() {
        let n: usize = p.shape.iter().product();
        let data: Vec<f32> = match p.role {
            ParamRole::Weight { fan_in, fan_out } => (0..n).map(|_| uniform((6.0 / (fan_in + fan_out) as f32).sqrt())).collect(),
            ParamRole::Bias { fan_in } => (0..n).map(|_| uniform(1.0 / (fan_in as f32).sqrt())).collect(),
            ParamRole::Scale | ParamRole::RunningVar => vec![1.0; n],
            ParamRole::Shift | ParamRole::RunningMean => vec![0.0; n],
        };
        w.0.insert(p.name.clone(), Tensor32 { shape: p.shape.clone(), data });
    }
    w
}
