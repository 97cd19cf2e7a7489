//! Models that carry their preprocessing (`cnnzoo-export --embed-preprocessing`):
//! fed decoded pixels of any size, they give what the plain model gives on
//! cnnzoo's preprocessing of the same photo, in ONNX Runtime's Python API as
//! in our own `Backbone`, for every kind of card (plain and antialiased
//! resize, gray and RGB, with and without mean and std, and the published
//! weights' shorter-side resize, centre crop, bicubic and 8-bit rounding).

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

use cnnzoo_test_support::data;
use cnnzoo_test_support::python;
use cnnzoo_test_support::seeded;

use std::path::{Path, PathBuf};

use cnnzoo_export::embed::{embed_preprocessing, MIN_OPSET};
use cnnzoo_infer::{evaluate, Backbone, BackboneOptions, Device};
use cnnzoo_models::data::open_image_with;
use cnnzoo_models::preprocess::{load, pixels, Filter};
use cnnzoo_models::{Preprocessing, IMAGENET_MEAN, IMAGENET_STD};

/// The cards the zoo and its users write.
fn cards() -> Vec<(&'static str, Preprocessing)> {
    vec![
        ("gray-28-bilinear", Preprocessing::bilinear_unit(1, 28)),
        ("gray-28-antialias", Preprocessing::new(1, 28)),
        (
            "rgb-64-antialias-normalized",
            Preprocessing { mean: Some(vec![0.485, 0.456, 0.406]), std: Some(vec![0.229, 0.224, 0.225]), ..Preprocessing::new(3, 64) },
        ),
        // torchvision's weights.transforms() and timm's bicubic crop, smaller:
        // shorter side resized, centre crop, rounded to 8 bits.
        ("torchvision-crop", Preprocessing::torchvision(73, 64, Filter::BilinearAntialias, IMAGENET_MEAN, IMAGENET_STD)),
        ("timm-bicubic-crop", Preprocessing::torchvision(67, 64, Filter::BicubicAntialias, IMAGENET_MEAN, IMAGENET_STD)),
    ]
}

/// Whether the graph's network input `got` is cnnzoo's `want` for card `p`:
/// within 1e-4 everywhere, but, for a card that rounds its resize to 8 bits,
/// for the few values (at most 1 in 2,000) whose resized sum ONNX Runtime
/// rounds to the neighbouring level (its resize adds the taps in another
/// order than libtorch): those are one level off, never more.
fn same_input(p: &Preprocessing, max: f32, off: usize, values: usize) -> bool {
    let level = p.scale / p.std.as_ref().map_or(1.0, |s| s.iter().copied().fold(f32::INFINITY, f32::min));
    if p.uint8_resize {
        max <= level * 1.001 && off * 2_000 <= values
    } else {
        max <= 1e-4
    }
}

/// The plain and the embedded seeded LeNet for card `p`, written in `dir`.
/// The embedded one also outputs the network input its graph made, so that
/// the preprocessing is compared directly (a seeded LeNet's outputs move
/// little with its input).
fn models(dir: &Path, name: &str, p: &Preprocessing) -> (PathBuf, PathBuf) {
    let plain = seeded::lenet(p.clone(), MIN_OPSET, |_| {});
    let mut embedded = embed_preprocessing(&plain, p).unwrap();
    let g = embedded.graph.as_mut().unwrap();
    let mut input = plain.graph.as_ref().unwrap().input[0].clone();
    input.name = "input".into();
    g.output.push(input);
    let paths = (dir.join(format!("{name}.onnx")), dir.join(format!("{name}.images.onnx")));
    std::fs::write(&paths.0, cnnzoo_proto::encode_model(&plain)).unwrap();
    std::fs::write(&paths.1, cnnzoo_proto::encode_model(&embedded)).unwrap();
    paths
}

/// A model whose features are its network input, flattened (the seeded
/// LeNet's card, input and `features` output around one Flatten): the plain
/// one and the embedded one for card `p`, written in `dir` and opened.
fn identities(dir: &Path, name: &str, p: &Preprocessing, opts: &BackboneOptions) -> (Backbone, Backbone) {
    use cnnzoo_proto::{tensor_shape_proto::dimension, type_proto};
    let mut plain = seeded::lenet(p.clone(), MIN_OPSET, |_| {});
    let g = plain.graph.as_mut().unwrap();
    let mut flatten = g.node.iter().find(|n| n.op_type == "Flatten").unwrap().clone();
    (flatten.input[0], flatten.output[0]) = ("input".into(), "features".into());
    g.node = vec![flatten];
    g.initializer.clear();
    g.output.retain(|o| o.name == "features");
    let Some(type_proto::Value::TensorType(t)) = g.output[0].r#type.as_mut().and_then(|t| t.value.as_mut()) else { panic!("a tensor") };
    t.shape.as_mut().unwrap().dim[1].value = Some(dimension::Value::DimValue((p.channels * p.size * p.size) as i64));
    let embedded = embed_preprocessing(&plain, p).unwrap();
    let open = |model: &cnnzoo_proto::ModelProto, file: String| {
        let path = dir.join(file);
        std::fs::write(&path, cnnzoo_proto::encode_model(model)).unwrap();
        Backbone::open(&path, opts).unwrap()
    };
    (open(&plain, format!("{name}.identity.onnx")), open(&embedded, format!("{name}.identity.images.onnx")))
}

fn photos(dir: &Path) -> Vec<PathBuf> {
    python::run_script("embedded.py", &[Path::new("photos"), dir]);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), 6);
    files
}

fn write_raw(path: &Path, bytes: impl IntoIterator<Item = u8>) {
    std::fs::write(path, bytes.into_iter().collect::<Vec<u8>>()).unwrap();
}

#[test]
fn onnx_runtime_python_gets_cnnzoos_preprocessing_from_the_graph() {
    let dir = tempfile::tempdir().unwrap();
    let files = photos(&dir.path().join("photos"));
    let mut cases = vec![];
    for (name, p) in cards() {
        let (plain, embedded) = models(dir.path(), name, &p);
        for (k, photo) in files.iter().enumerate() {
            // What cnnzoo feeds each model: its preprocessing, and the pixels it decodes.
            let input = load(photo, &p).unwrap();
            let px = pixels(open_image_with(photo, &p.decoding()).unwrap(), p.channels);
            let (input_path, pixels_path) = (dir.path().join(format!("{name}.{k}.f32")), dir.path().join(format!("{name}.{k}.u8")));
            write_raw(&input_path, input.iter().flat_map(|v| v.to_le_bytes()));
            write_raw(&pixels_path, px.iter().copied());
            let mut input_shape = vec![1];
            input_shape.extend(input.shape());
            let mut pixels_shape = vec![1];
            pixels_shape.extend(px.shape());
            cases.push(serde_json::json!({
                "name": format!("{name} on {}", photo.file_name().unwrap().to_string_lossy()),
                "plain": plain, "embedded": embedded, "photo": photo,
                "input": input_path, "input_shape": input_shape,
                "pixels": pixels_path, "pixels_shape": pixels_shape,
            }));
        }
    }
    let cases_path = dir.path().join("cases.json");
    std::fs::write(&cases_path, serde_json::to_vec(&cases).unwrap()).unwrap();
    let out = python::run_script("embedded.py", &[Path::new("check"), &cases_path]);
    let diffs: std::collections::BTreeMap<String, serde_json::Value> = serde_json::from_str(&out).unwrap();
    // Every case with cnnzoo's pixels, and the PNGs with PIL's too.
    assert_eq!(diffs.len(), cards().len() * (files.len() + 3), "{diffs:?}");
    for (case, d) in &diffs {
        let (_, p) = cards().into_iter().find(|(name, _)| case.starts_with(&format!("{name} on "))).unwrap();
        let (max, off, values) = (d["input_max"].as_f64().unwrap(), d["input_off"].as_u64().unwrap(), d["input_values"].as_u64().unwrap());
        assert!(same_input(&p, max as f32, off as usize, values as usize), "{case}: network input {d}");
        assert!(d["outputs"].as_f64().unwrap() <= 1e-3, "{case}: outputs {d}");
    }
}

#[test]
fn a_backbone_runs_the_embedded_model_like_the_plain_one() {
    let dir = tempfile::tempdir().unwrap();
    let files = photos(&dir.path().join("photos"));
    let opts = BackboneOptions { device: Device::Cpu, max_batch: 4, ..Default::default() };
    for (name, p) in cards() {
        let (plain, embedded) = models(dir.path(), name, &p);
        let (plain, embedded) = (Backbone::open(&plain, &opts).unwrap(), Backbone::open(&embedded, &opts).unwrap());
        assert!(embedded.takes_pixels() && !plain.takes_pixels());
        // Six photos of five sizes in one call: runs of one size each.
        let (want, got) = (plain.embed(&files).unwrap(), embedded.embed(&files).unwrap());
        assert_eq!(want.shape(), got.shape());
        let diff = (&want - &got).iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(diff <= 1e-3, "{name}: features differ by {diff}");
        let (a, b) = (plain.classify(&files, 3).unwrap(), embedded.classify(&files, 3).unwrap());
        for (x, y) in a.iter().zip(&b) {
            assert!((x[0].probability - y[0].probability).abs() <= 1e-3, "{name}: {x:?} vs {y:?}");
        }
        // The network input itself, as each backbone makes it: our
        // preprocessing, or our decoding and the graph's preprocessing.
        let (plain_input, graph_input) = identities(dir.path(), name, &p, &opts);
        let (want, got) = (plain_input.embed(&files).unwrap(), graph_input.embed(&files).unwrap());
        let diff = (&want - &got).iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let off = (&want - &got).iter().filter(|v| v.abs() > 1e-4).count();
        assert!(same_input(&p, diff, off, want.len()), "{name}: network inputs differ by {diff} ({off} of {} values)", want.len());
        // Float network input is refused by name, not fed to the graph.
        let e = embedded.run(ndarray::Array4::zeros((1, p.channels, p.size, p.size)).view()).unwrap_err().to_string();
        assert!(e.contains("takes uint8 `image` [N, H, W, C] pixels"), "{e}");
    }
    // The Fashion-MNIST test set through both: the same predictions.
    let (name, p) = &cards()[0];
    let (plain, embedded) = models(dir.path(), name, p);
    let data = data::fashion_mnist();
    let a = evaluate(&Backbone::open(&plain, &opts).unwrap(), &data).unwrap();
    let b = evaluate(&Backbone::open(&embedded, &opts).unwrap(), &data).unwrap();
    assert_eq!(a.images, 10_000);
    assert_eq!(a.predictions, b.predictions);
}
