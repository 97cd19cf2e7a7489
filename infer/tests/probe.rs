//! `--probe`: the k-NN and linear-probe accuracies of a backbone's frozen
//! features, against scikit-learn on the same features (the reference runs
//! in the set-up's venv), on a folder of Fashion-MNIST images.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

mod fixture;
use cnnzoo_test_support::python;

use std::path::{Path, PathBuf};

use cnnzoo_infer::npy::npy_bytes;
use cnnzoo_infer::{Backbone, BackboneOptions, Device};
use fixture::{fashion_mnist, infer, lenet_onnx, seeded_lenet, stderr};

/// LeNet's card and graph with `features` replaced by the flattened input:
/// features that say something without training (k-NN on raw pixels is
/// Fashion-MNIST's classic baseline), which an untrained sigmoid LeNet's
/// nearly constant features do not.
fn pixels_model(path: &Path) {
    use cnnzoo_proto::{tensor_shape_proto::dimension, NodeProto};
    let mut model = seeded_lenet(cnnzoo_models::Preprocessing::bilinear_unit(1, 28), cnnzoo_export::DEFAULT_OPSET, |_| {});
    let graph = model.graph.as_mut().unwrap();
    let input = graph.input[0].name.clone();
    for name in graph.node.iter_mut().flat_map(|n| n.output.iter_mut().chain(n.input.iter_mut())).filter(|o| *o == "features") {
        *name = "lenet_features".into();
    }
    graph.node.push(NodeProto { op_type: "Flatten".into(), input: vec![input], output: vec!["features".into()], ..Default::default() });
    let out = graph.output.iter_mut().find(|o| o.name == "features").unwrap();
    let Some(cnnzoo_proto::type_proto::Value::TensorType(t)) = out.r#type.as_mut().and_then(|t| t.value.as_mut()) else {
        panic!("a tensor output")
    };
    t.shape.as_mut().unwrap().dim[1].value = Some(dimension::Value::DimValue(784));
    std::fs::write(path, cnnzoo_proto::encode_model(&model)).unwrap();
}

/// `n` Fashion-MNIST images of `split` as `dir/<class>/NNNNN.png`, in the
/// order the probe reads them (classes sorted, files sorted); their labels.
fn write_split(dir: &Path, split: &str, first: usize, n: usize) -> (Vec<PathBuf>, Vec<i64>) {
    let data = cnnzoo_infer::read_fashion_mnist(&fashion_mnist(), split, 10).unwrap();
    let names: Vec<String> = (0..10).map(|c| format!("class{c}")).collect();
    let mut by_class: Vec<Vec<PathBuf>> = vec![vec![]; 10];
    for i in first..first + n {
        let c = data.labels[i] as usize;
        let p = dir.join(&names[c]).join(format!("{i:05}.png"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        data.image(i).unwrap().save(&p).unwrap();
        by_class[c].push(p);
    }
    let labels = by_class.iter().enumerate().flat_map(|(c, f)| std::iter::repeat_n(c as i64, f.len())).collect();
    (by_class.into_iter().flatten().collect(), labels)
}

#[test]
fn the_probe_matches_scikit_learn_on_the_same_features() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (train_files, train_labels) = write_split(&data.join("train"), "train", 0, 2000);
    let (test_files, test_labels) = write_split(&data.join("test"), "t10k", 0, 1000);

    let model = tmp.path().join("pixels.onnx");
    pixels_model(&model);
    let o = infer(&["--model", model.to_str().unwrap(), "--device", "cpu", "--probe", data.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ours: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((ours["train_images"].as_u64(), ours["test_images"].as_u64(), ours["k"].as_u64()), (Some(2000), Some(1000), Some(20)));

    // The same features, by the library, for scikit-learn.
    let backbone = Backbone::open(&model, &BackboneOptions { device: Device::Cpu, ..Default::default() }).unwrap();
    let dir = tmp.path();
    let mut args = vec![];
    for (name, files, labels) in [("train", &train_files, &train_labels), ("test", &test_files, &test_labels)] {
        // Features and labels as the CLI writes `.npy` files (labels as a float column).
        std::fs::write(dir.join(format!("{name}.npy")), npy_bytes(&backbone.embed(files).unwrap())).unwrap();
        let column = ndarray::Array2::from_shape_fn((labels.len(), 1), |(i, _)| labels[i] as f32);
        std::fs::write(dir.join(format!("{name}_labels.npy")), npy_bytes(&column)).unwrap();
        args.push(dir.join(format!("{name}.npy")));
        args.push(dir.join(format!("{name}_labels.npy")));
    }
    let args: Vec<String> = args.iter().map(|p| p.display().to_string()).chain(["20".to_string()]).collect();
    let reference: serde_json::Value = serde_json::from_str(python::run_script("probe_reference.py", &args).trim()).unwrap();
    let (knn, linear) = (ours["knn_accuracy"].as_f64().unwrap(), ours["linear_accuracy"].as_f64().unwrap());
    let (want_knn, want_linear) = (reference["knn"].as_f64().unwrap(), reference["linear"].as_f64().unwrap());
    assert!((knn - want_knn).abs() <= 0.005, "k-NN {knn} vs scikit-learn's {want_knn}");
    assert!(
        (linear - want_linear).abs() <= 0.005,
        "linear {linear} (C {}) vs scikit-learn's {want_linear} (C {})",
        ours["linear_c"],
        reference["c"]
    );
    // Raw pixels: k-NN near its published 0.85 on the full set, the linear probe near 0.84.
    assert!(knn > 0.7 && linear > 0.7, "{ours}");

    // Plain text names both figures.
    let o = infer(&["--model", model.to_str().unwrap(), "--device", "cpu", "--probe", data.to_str().unwrap(), "--k", "5"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && text.contains("k-NN (k = 5") && text.contains("linear probe"), "{text}");
}

#[test]
fn a_probe_needs_two_splits_and_features() {
    let tmp = tempfile::tempdir().unwrap();
    let o = infer(&["--model", lenet_onnx().to_str().unwrap(), "--device", "cpu", "--probe", tmp.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("train-images-idx3-ubyte"), "{}", stderr(&o));
    let o = infer(&["--model", lenet_onnx().to_str().unwrap(), "--k", "5", "x.png"]);
    assert_eq!(o.status.code(), Some(2), "--k without --probe: {}", stderr(&o));
}

#[test]
fn one_folder_of_class_folders_is_probed_on_a_held_out_share_of_each_class() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("photos");
    let (files, labels) = write_split(&data, "train", 0, 300);
    let model = tmp.path().join("pixels.onnx");
    pixels_model(&model);
    let probe = |extra: &[&str]| {
        infer(&[&["--model", model.to_str().unwrap(), "--device", "cpu", "--probe", data.to_str().unwrap()], extra].concat())
    };
    let o = probe(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("holds class folders but no train/ and test/: give --val-split 0.1"), "{}", stderr(&o));

    let o = probe(&["--val-split", "0.2", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // The split cnnzoo-train --val-split 0.2 makes with its default seed.
    let mut by_class: Vec<Vec<PathBuf>> = vec![vec![]; 10];
    for (f, l) in files.into_iter().zip(labels) {
        by_class[l as usize].push(f);
    }
    let (train, test) = cnnzoo_models::data::hold_out(by_class, 0.2, cnnzoo_infer::feature_probe::HOLD_OUT_SEED).unwrap();
    assert_eq!((v["train_images"].as_u64(), v["test_images"].as_u64()), (Some(train.len() as u64), Some(test.len() as u64)));
    assert!(test.len() >= 55 && test.len() <= 65, "about a fifth held out: {}", test.len());
    assert!(v["knn_accuracy"].as_f64().unwrap() > 0.5, "{v}");

    let o = probe(&["--val-split", "1.5"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
