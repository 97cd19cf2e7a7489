//! One lowering test per op kind: a graph of that op alone (with a flatten to
//! make it a feature vector) is lowered to ONNX, run by ONNX Runtime and
//! compared with libtorch's interpretation of the same graph and weights.
//! A new op gets its case here; a failing op is reported by name with the others.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

use cnnzoo_test_support::every;

use cnnzoo_export::{lower, ExportOptions};
use cnnzoo_infer::{Backbone, BackboneOptions, Device};
use cnnzoo_models::{Builder, CardOverrides, Conv, Graph, ModelError, Pool, ValueId};
use cnnzoo_train::Net;
use tch::nn::VarStore;
use tch::{Device as TchDevice, Kind, Tensor};

const CHANNELS: usize = 3;
const SIZE: usize = 9;

type Define = fn(&mut Builder) -> Result<ValueId, ModelError>;

/// Each op kind, with the layer it is tested in (odd sizes and strides catch
/// floor/ceil and padding mistakes).
fn cases() -> Vec<(&'static str, Define)> {
    vec![
        ("conv", |b| b.conv2d("conv", b.input(), Conv::k(3).out(4).stride(2).pad(1))),
        ("conv without bias", |b| b.conv2d("conv", b.input(), Conv::k(3).out(4).pad(1).no_bias())),
        ("conv without bias then batch_norm (folded, eps 1e-3)", |b| {
            let x = b.conv2d("conv", b.input(), Conv::k(1).out(5).no_bias())?;
            b.batch_norm_eps("bn", x, 1e-3)
        }),
        ("batch_norm", |b| b.batch_norm("bn", b.input())),
        ("conv_then_batch_norm (folded)", |b| {
            let x = b.conv2d("conv", b.input(), Conv::k(3).out(5).pad(1))?;
            b.batch_norm("bn", x)
        }),
        ("linear", |b| {
            let x = b.flatten(b.input());
            b.linear("fc", x, 7)
        }),
        ("relu", |b| Ok(b.relu(b.input()))),
        ("sigmoid", |b| Ok(b.sigmoid(b.input()))),
        ("max_pool", |b| b.max_pool(b.input(), Pool::k(3).stride(2).pad(1))),
        // 9 -> ceil(6 / 2) + 1 = 4 (a last window hanging over the edge) and 9 -> 9.
        ("max_pool (ceil mode)", |b| b.max_pool(b.input(), Pool::k(3).stride(2).ceil())),
        ("max_pool (ceil mode, stride 1, padded)", |b| b.max_pool(b.input(), Pool::k(3).stride(1).pad(1).ceil())),
        ("adaptive_avg_pool (unequal windows, 9 -> 6)", |b| b.adaptive_avg_pool(b.input(), 6)),
        ("adaptive_avg_pool (even windows, 9 -> 3)", |b| b.adaptive_avg_pool(b.input(), 3)),
        ("adaptive_avg_pool (identity, 9 -> 9)", |b| b.adaptive_avg_pool(b.input(), 9)),
        ("adaptive_avg_pool (upsampling, 1 -> 6)", |b| {
            let x = b.global_avg_pool(b.input())?;
            b.adaptive_avg_pool(x, 6)
        }),
        ("avg_pool", |b| b.avg_pool(b.input(), Pool::k(2).stride(2))),
        ("global_avg_pool", |b| b.global_avg_pool(b.input())),
        ("global_max_pool", |b| b.global_max_pool(b.input())),
        ("flatten", |b| Ok(b.input())),
        ("dropout", |b| Ok(b.dropout(b.input(), 0.5))),
        ("concat", |b| {
            let y = b.relu(b.input());
            b.concat(&[b.input(), y])
        }),
        ("add", |b| {
            let y = b.sigmoid(b.input());
            b.add(b.input(), y)
        }),
    ]
}

/// `input -> op -> flatten` as the features (a two-class head makes it a
/// complete graph; the export keeps the features alone).
fn one_op_graph(define: Define) -> Graph {
    let mut b = Builder::new(CHANNELS, SIZE);
    let y = define(&mut b).unwrap();
    let features = if b.shape(y).len() > 1 { b.flatten(y) } else { y };
    let logits = b.linear("head", features, 2).unwrap();
    b.finish("one-op", logits, features)
}

#[test]
fn every_op_lowers_to_what_libtorch_computes() {
    let dir = tempfile::tempdir().unwrap();
    every::every(
        cases(),
        |(name, _)| name.to_string(),
        |&(name, define)| {
            tch::manual_seed(11);
            let vs = VarStore::new(TchDevice::Cpu);
            let mut net = Net::new(&vs.root(), one_op_graph(define));
            cnnzoo_tests::randomize_batch_norms(&mut net).unwrap();
            let x = Tensor::randn([5, CHANNELS as i64, SIZE as i64, SIZE as i64], (Kind::Float, TchDevice::Cpu));
            let (_, expected) = tch::no_grad(|| net.forward_eval(&x));
            let expected: Vec<f32> = Vec::try_from(expected.contiguous().view(-1)).unwrap();

            let opts = ExportOptions { features_only: true, ..Default::default() };
            let model = lower(net.graph(), &net.weights(), &opts).unwrap();
            let path = dir.path().join(format!("{}.onnx", name.replace([' ', '(', ')'], "_")));
            std::fs::write(&path, cnnzoo_proto::encode_model(&model)).unwrap();
            let card = CardOverrides {
                channels: Some(CHANNELS),
                size: Some(cnnzoo_models::preprocess::InputSize::square(SIZE)),
                ..Default::default()
            };
            let backbone = Backbone::open(&path, &BackboneOptions { device: Device::Cpu, card, ..Default::default() }).unwrap();
            let x_nd = ndarray::Array4::from_shape_vec((5, CHANNELS, SIZE, SIZE), Vec::<f32>::try_from(x.view(-1)).unwrap()).unwrap();
            let got: Vec<f32> = backbone.run(x_nd.view()).unwrap().features.iter().copied().collect();
            assert_eq!(got.len(), expected.len(), "output sizes");
            let err = got.iter().zip(&expected).map(|(a, b)| (a - b).abs() / b.abs().max(1.0)).fold(0.0, f32::max);
            assert!(err <= 1e-5, "max relative error {err:e}");
        },
    );
}
