//! Every network, exported by our own lowering, computes in ONNX Runtime what
//! it computes in libtorch: logits and features, BN folded and not, at batch
//! sizes 1, 3 and 64, on real Fashion-MNIST images. The reference checker and
//! onnxruntime's Python API confirm the same files.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

use cnnzoo_test_support::data;
use cnnzoo_test_support::every;
use cnnzoo_test_support::python;
use data::fashion_mnist;

use std::path::{Path, PathBuf};

use cnnzoo_export::{lower, ExportOptions};
use cnnzoo_infer::{Backbone, BackboneOptions, Device};
use cnnzoo_models::preprocess::InputSize;
use cnnzoo_models::CardOverrides;
use cnnzoo_train::data::load_idx;
use cnnzoo_train::trainer::batch_input;
use cnnzoo_train::Net;
use ndarray::{Array2, Array4, ArrayView2};
use tch::nn::VarStore;
use tch::{Device as TchDevice, Tensor};

fn to_array2(t: &Tensor) -> Array2<f32> {
    let size = t.size();
    Array2::from_shape_vec((size[0] as usize, size[1] as usize), Vec::<f32>::try_from(t.contiguous().view(-1)).unwrap()).unwrap()
}

/// Max of |a - b| / max(1, |b|): absolute for small values, relative for large.
fn max_rel_err(a: ArrayView2<f32>, b: ArrayView2<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter().zip(b.iter()).map(|(x, y)| (x - y).abs() / y.abs().max(1.0)).fold(0.0, f32::max)
}

fn read_f32(path: &Path, rows: usize) -> Array2<f32> {
    let bytes = std::fs::read(path).unwrap();
    let v: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let cols = v.len() / rows;
    Array2::from_shape_vec((rows, cols), v).unwrap()
}

#[test]
fn onnx_runtime_matches_libtorch_for_every_network() {
    let data = load_idx(&fashion_mnist()).unwrap();
    let images = data.test.take(64).images;
    let dir = tempfile::tempdir().unwrap();
    every::every_network(|arch| {
        let cfg = arch.fashion_config(64);
        let size = cfg.size;
        tch::manual_seed(3);
        let vs = VarStore::new(TchDevice::Cpu);
        let mut net = Net::new(&vs.root(), arch.build(&cfg).unwrap());
        cnnzoo_tests::randomize_batch_norms(&mut net).unwrap();
        let x = batch_input(&images, TchDevice::Cpu, size);
        let (logits, features) = tch::no_grad(|| net.forward_eval(&x));
        let (logits, features) = (to_array2(&logits), to_array2(&features));
        let x_nd = Array4::from_shape_vec((64, 1, size, size), Vec::<f32>::try_from(x.contiguous().view(-1)).unwrap()).unwrap();

        let weights = net.weights();
        let mut files = vec![];
        for fold_bn in [true, false] {
            let model = lower(net.graph(), &weights, &ExportOptions { fold_bn, ..Default::default() }).unwrap();
            let bn_nodes = model.graph.as_ref().unwrap().node.iter().filter(|n| n.op_type == "BatchNormalization").count();
            let path = dir.path().join(format!("{}-{}.onnx", arch.name, if fold_bn { "folded" } else { "bn" }));
            std::fs::write(&path, cnnzoo_proto::encode_model(&model)).unwrap();
            // No cnnzoo metadata in these files: the caller supplies the preprocessing.
            let opts = BackboneOptions {
                device: Device::Cpu,
                card: CardOverrides { channels: Some(1), size: Some(InputSize::square(size)), ..Default::default() },
                ..Default::default()
            };
            let backbone = Backbone::open(&path, &opts).unwrap();
            for n in [1usize, 3, 64] {
                let out = backbone.run(x_nd.slice(ndarray::s![..n, .., .., ..])).unwrap();
                let el = max_rel_err(out.logits.as_ref().unwrap().view(), logits.slice(ndarray::s![..n, ..]));
                let ef = max_rel_err(out.features.view(), features.slice(ndarray::s![..n, ..]));
                assert!(el <= 1e-4 && ef <= 1e-4, "{} fold_bn={fold_bn} batch {n}: logits err {el:e}, features err {ef:e}", arch.name);
            }
            eprintln!("{}: fold_bn={fold_bn}: {} BatchNormalization nodes, matches libtorch", arch.name, bn_nodes);
            if !fold_bn {
                let bns = net.graph().nodes.iter().filter(|n| matches!(n.op, cnnzoo_models::Op::BatchNorm2d { .. })).count();
                assert_eq!(bn_nodes, bns, "{}", arch.name);
            }
            files.push(path);
        }

        // The reference checker and onnxruntime's Python API, on the same files and input.
        let input = dir.path().join(format!("{}.input.f32", arch.name));
        std::fs::write(&input, x_nd.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
        let mut args: Vec<std::ffi::OsString> =
            vec![input.into(), "64".into(), "1".into(), size.to_string().into(), size.to_string().into()];
        args.extend(files.iter().map(Into::into));
        python::run_script("check_onnx.py", &args);
        for f in &files {
            let py_logits = read_f32(&PathBuf::from(format!("{}.logits.f32", f.display())), 64);
            let py_features = read_f32(&PathBuf::from(format!("{}.features.f32", f.display())), 64);
            assert!(max_rel_err(py_logits.view(), logits.view()) <= 1e-4, "{}: python logits", f.display());
            assert!(max_rel_err(py_features.view(), features.view()) <= 1e-4, "{}: python features", f.display());
        }
    });
}
