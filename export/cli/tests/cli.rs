//! cnnzoo-export as a user meets it: a trained checkpoint becomes a model that
//! ONNX Runtime runs from its metadata alone; `--inspect`; every bad input.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

use cnnzoo_test_support::data;
use cnnzoo_test_support::python;
use data::fashion_mnist;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clap::Parser;
use cnnzoo_export_cli::{export_altered, Cli, Exported};
use cnnzoo_infer::{Backbone, BackboneOptions, Device};
use cnnzoo_models::card::keys;
use cnnzoo_models::Arch;
use cnnzoo_proto::ModelProto;
use cnnzoo_train::checkpoint::{self, Paths};
use cnnzoo_train::data::load_idx;
use cnnzoo_train::trainer::{train, Options};
use cnnzoo_train::Net;
use serde_json::Value;

fn export(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cnnzoo-export")).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A checkpoint of `arch` trained for `epochs` on a few thousand images.
fn checkpoint_of(dir: &Path, arch: &str, epochs: usize) -> PathBuf {
    let mut data = load_idx(&fashion_mnist()).unwrap();
    data.train = data.train.take(3_000);
    data.test = data.test.take(500);
    let opts = Options { epochs, ..Options::recipe(Arch::find(arch).unwrap(), tch::Device::Cpu, Paths::from_stem(&dir.join(arch))) };
    train(&opts, &data).unwrap();
    opts.paths.weights
}

/// A scratch folder, a LeNet checkpoint trained `epochs` epochs in it, and
/// the path `onnx` there to export it to.
fn lenet_to_export(epochs: usize, onnx: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ot = checkpoint_of(dir.path(), "lenet", epochs);
    let out = dir.path().join(onnx);
    (dir, ot, out)
}

fn inspect(path: &Path) -> Value {
    let o = export(&["--inspect", path.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn a_trained_lenet_exports_and_runs_from_its_metadata_alone() {
    let dir = tempfile::tempdir().unwrap();
    let ot = checkpoint_of(dir.path(), "lenet", 1);
    let o = export(&[ot.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let onnx = ot.with_extension("onnx");
    assert!(String::from_utf8_lossy(&o.stdout).contains("lenet.onnx"));

    let r = inspect(&onnx);
    assert_eq!(r["opset"], 17);
    assert_eq!(r["inputs"][0]["shape"], serde_json::json!(["batch", "1", "28", "28"]));
    assert_eq!(r["inputs"][0]["type"], "float");
    assert_eq!(r["outputs"][0], serde_json::json!({"name": "logits", "type": "float", "shape": ["batch", "10"]}));
    assert_eq!(r["outputs"][1], serde_json::json!({"name": "features", "type": "float", "shape": ["batch", "84"]}));
    assert_eq!(r["parameters"], 61_706);
    assert_eq!(r["ops"]["Gemm"], 3);
    let meta = &r["metadata"];
    assert_eq!(meta[keys::ARCH], "lenet");
    assert!(meta[keys::CLASSES].as_str().unwrap().contains("Ankle boot"));
    let p: cnnzoo_models::Preprocessing = serde_json::from_str(meta[keys::PREPROCESSING].as_str().unwrap()).unwrap();
    assert_eq!(p, cnnzoo_models::Preprocessing::new(1, 28), "new checkpoints resize with antialiasing and turn photos upright");
    assert_eq!(meta[keys::CHECKPOINT_SHA256].as_str().unwrap().len(), 64);
    let text = String::from_utf8_lossy(&export(&["--inspect", onnx.to_str().unwrap()]).stdout).into_owned();
    assert!(text.contains("output     features float [batch, 84]") && text.contains("parameters 61706"), "{text}");

    // ONNX Runtime, configured by the file's metadata only, agrees with libtorch.
    let backbone = Backbone::open(&onnx, &BackboneOptions { device: Device::Cpu, ..Default::default() }).unwrap();
    assert_eq!(backbone.card().classes.len(), 10);
    let ck = checkpoint::load(&ot).unwrap();
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let mut net = Net::new(&vs.root(), ck.graph.clone());
    net.load(&ck.weights).unwrap();
    let test = load_idx(&fashion_mnist()).unwrap().test.take(64);
    let (logits, _) = tch::no_grad(|| net.forward_eval(&test.images));
    let x = ndarray::Array4::from_shape_vec((64, 1, 28, 28), Vec::<f32>::try_from(test.images.view(-1)).unwrap()).unwrap();
    let ort_logits = backbone.run(x.view()).unwrap().logits.unwrap();
    let tch_logits: Vec<f32> = Vec::try_from(logits.view(-1)).unwrap();
    let err = ort_logits.iter().zip(&tch_logits).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(err < 1e-4, "{err}");

    // A features-only backbone.
    let backbone_path = dir.path().join("backbone.onnx");
    assert!(export(&[ot.to_str().unwrap(), "--features-only", "-o", backbone_path.to_str().unwrap()]).status.success());
    let r = inspect(&backbone_path);
    assert_eq!(r["outputs"].as_array().unwrap().len(), 1);
    assert_eq!(r["outputs"][0]["name"], "features");
    assert_eq!(r["parameters"], 61_706 - 850);
}

#[test]
fn folding_and_opsets_show_in_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let ot = checkpoint_of(dir.path(), "resnet18", 0);
    let graph = checkpoint::load(&ot).unwrap().graph;
    let all: usize = graph.params().map(|p| p.numel()).sum();
    let bn: usize = graph
        .nodes
        .iter()
        .filter(|n| matches!(n.op, cnnzoo_models::Op::BatchNorm2d { .. }))
        .flat_map(|n| &n.params)
        .map(|p| p.numel())
        .sum();

    let folded = dir.path().join("folded.onnx");
    assert!(export(&[ot.to_str().unwrap(), "-o", folded.to_str().unwrap()]).status.success());
    let r = inspect(&folded);
    assert_eq!(r["parameters"].as_u64().unwrap() as usize, all - bn);
    assert!(r["ops"].get("BatchNormalization").is_none());
    assert_eq!(r["outputs"][1]["shape"], serde_json::json!(["batch", "512"]));

    let unfolded = dir.path().join("bn.onnx");
    assert!(export(&[ot.to_str().unwrap(), "--no-fold-bn", "--opset", "13", "-o", unfolded.to_str().unwrap()]).status.success());
    let r = inspect(&unfolded);
    assert_eq!(r["parameters"].as_u64().unwrap() as usize, all);
    assert_eq!(r["ops"]["BatchNormalization"], 17);
    assert_eq!(r["opset"], 13);
}

#[test]
fn bad_inputs_are_named_and_never_clobber_a_good_file() {
    let dir = tempfile::tempdir().unwrap();
    let lenet = checkpoint_of(dir.path(), "lenet", 0);
    let d = |name: &str| dir.path().join(name);
    let fails = |args: &[&str], want: &[&str]| {
        let o = export(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let e = stderr(&o);
        for w in want {
            assert!(e.contains(w), "{args:?}: {e:?} lacks {w:?}");
        }
    };

    fails(&[d("nope.ot").to_str().unwrap()], &["nope.ot", "No such file"]);
    std::fs::copy(lenet.with_extension("json"), d("missing.json")).unwrap();
    fails(&[d("missing.ot").to_str().unwrap()], &["missing.ot", "No such file"]);

    // Truncated checkpoint.
    let bytes = std::fs::read(&lenet).unwrap();
    std::fs::write(d("trunc.ot"), &bytes[..bytes.len() / 3]).unwrap();
    std::fs::copy(lenet.with_extension("json"), d("trunc.json")).unwrap();
    fails(&[d("trunc.ot").to_str().unwrap()], &["trunc.ot", "not a readable tch checkpoint"]);

    // A resnet checkpoint under a lenet manifest: the first lenet parameter it lacks.
    let resnet = checkpoint_of(dir.path(), "resnet18", 0);
    std::fs::copy(&resnet, d("mixed.ot")).unwrap();
    std::fs::copy(lenet.with_extension("json"), d("mixed.json")).unwrap();
    fails(&[d("mixed.ot").to_str().unwrap()], &["mixed.ot", "does not fit lenet", "conv1.weight"]);

    // Malformed manifest.
    std::fs::copy(&lenet, d("badjson.ot")).unwrap();
    std::fs::write(d("badjson.json"), "{\"arch\": \"lenet\"").unwrap();
    fails(&[d("badjson.ot").to_str().unwrap()], &["badjson.json", "not a cnnzoo manifest"]);

    // Unwritable output: its parent is a file.
    fails(&[lenet.to_str().unwrap(), "-o", lenet.join("x.onnx").to_str().unwrap()], &["x.onnx"]);

    // Unsupported opset, with an existing output that must survive.
    let out = d("keep.onnx");
    std::fs::write(&out, b"previous model").unwrap();
    fails(&[lenet.to_str().unwrap(), "--opset", "9", "-o", out.to_str().unwrap()], &["opset 9 is not supported", "11 to 21"]);
    assert_eq!(std::fs::read(&out).unwrap(), b"previous model");
    assert!(export(&[lenet.to_str().unwrap(), "-o", out.to_str().unwrap()]).status.success());
    assert_ne!(std::fs::read(&out).unwrap(), b"previous model");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());

    // --inspect on truncated and foreign files.
    let good = std::fs::read(&out).unwrap();
    std::fs::write(d("cut.onnx"), &good[..good.len() / 2]).unwrap();
    fails(&["--inspect", d("cut.onnx").to_str().unwrap()], &["cut.onnx", "not an ONNX model"]);
    fails(&["--inspect", lenet.with_extension("json").to_str().unwrap()], &["lenet.json", "not an ONNX model"]);
}

#[test]
fn version_and_completions_need_no_checkpoint() {
    let o = export(&["--version"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with(&format!("cnnzoo-export {} (git ", env!("CARGO_PKG_VERSION"))));
    let o = export(&["--completions", "zsh"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let script = String::from_utf8_lossy(&o.stdout);
    assert!(script.contains("#compdef cnnzoo-export") && script.contains("--no-fold-bn"));
}

#[test]
fn a_triton_repository_entry_parses_as_tritons_model_config() {
    let dir = tempfile::tempdir().unwrap();
    let ot = checkpoint_of(dir.path(), "lenet", 0);
    let repo = dir.path().join("repo");
    // An entry with a second version and labels of the user's own.
    std::fs::create_dir_all(repo.join("lenet/2")).unwrap();
    std::fs::write(repo.join("lenet/2/model.onnx"), b"version two").unwrap();
    std::fs::write(repo.join("lenet/labels.txt"), b"mine").unwrap();
    for round in 0..2 {
        // Each export writes version 1 and the config, and leaves the rest.
        let o = export(&[ot.to_str().unwrap(), "--triton-repo", repo.to_str().unwrap(), "--max-batch", "32", "--max-delay-us", "500"]);
        assert!(o.status.success(), "round {round}: {}", stderr(&o));
    }
    let entry = repo.join("lenet");
    let names: Vec<String> = std::fs::read_dir(&repo).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["lenet"], "no staging folders are left behind");
    assert_eq!(std::fs::read(entry.join("2/model.onnx")).unwrap(), b"version two");
    assert_eq!(std::fs::read(entry.join("labels.txt")).unwrap(), b"mine");
    let mut files: Vec<String> =
        std::fs::read_dir(&entry).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files, ["1", "2", "config.pbtxt", "labels.txt"], "no temporaries are left behind");
    let config = std::fs::read_to_string(entry.join("config.pbtxt")).unwrap();
    assert!(config.contains("max_queue_delay_microseconds: 500"), "{config}");
    let dims = python::run_script("triton_config.py", &[entry.to_str().unwrap(), "32"]);
    assert_eq!(dims.trim(), r#"{"inputs": [[1, 28, 28]], "outputs": [[10], [84]]}"#);
    // The model in the entry is the export itself: inspect reads its card.
    assert_eq!(inspect(&entry.join("1/model.onnx"))["metadata"][keys::ARCH], "lenet");

    // Triton's flags without --triton-repo, and -o with it, are refused.
    let o = export(&[ot.to_str().unwrap(), "--max-batch", "8"]);
    assert!(!o.status.success() && stderr(&o).contains("--triton-repo"), "{}", stderr(&o));
    let o = export(&[ot.to_str().unwrap(), "--triton-repo", repo.to_str().unwrap(), "-o", "x.onnx"]);
    assert!(!o.status.success() && stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
    // A repository path that is a file fails clearly and writes nothing.
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let o = export(&[ot.to_str().unwrap(), "--triton-repo", file.to_str().unwrap()]);
    assert!(!o.status.success() && stderr(&o).contains("--triton-repo") && stderr(&o).contains("file"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
}

#[test]
fn every_export_is_validated_against_libtorch_and_a_wrong_one_is_not_written() {
    let (dir, ot, out) = lenet_to_export(0, "lenet.onnx");
    let (ot, o_path) = (ot.to_str().unwrap(), out.to_str().unwrap());
    let o = export(&[ot, "-o", o_path]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("validated against libtorch on 8 Fashion-MNIST test images: max abs diff"), "{text}");
    let o = export(&[ot, "-o", o_path, "--json", "--atol", "1e-5"]);
    let v = &serde_json::from_slice::<Value>(&o.stdout).unwrap()["validation"];
    assert!(v["max_abs_diff"].as_f64().unwrap() <= 1e-5 && v["atol"] == 1e-5 && v["batch"] == 8, "{v}");
    // The manifest records the data as data: with neither $CNNZOO_DATA nor a
    // cache to look in, validation still finds the test images there.
    let manifest: Value = serde_json::from_slice(&std::fs::read(Path::new(ot).with_extension("json")).unwrap()).unwrap();
    assert_eq!(manifest["hyperparameters"]["data_source"]["kind"], "fashion-mnist", "{manifest}");
    let empty = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_cnnzoo-export"))
        .args([ot, "-o", o_path])
        .env_remove("CNNZOO_DATA")
        .env("CNNZOO_CACHE", empty.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("on 8 Fashion-MNIST test images"), "{}", stderr(&o));
    let good = std::fs::read(&out).unwrap();

    // An export gone wrong (one weight's bits flipped after lowering) is caught,
    // and the good file already there is kept.
    // The pipeline is a library function; the test alters its model between
    // lowering and validation, as a bug in the exporter would.
    let wrong = |args: &[&str]| {
        let cli = Cli::try_parse_from([&["cnnzoo-export"], args].concat()).unwrap();
        export_altered(&cli, Path::new(ot), |m: &mut ModelProto| {
            if let Some(t) = m.graph.as_mut().and_then(|g| g.initializer.iter_mut().find(|t| t.raw_data.len() >= 4)) {
                t.raw_data[3] ^= 0x40;
            }
        })
    };
    let e = format!("{:#}", wrong(&[ot, "-o", o_path]).unwrap_err());
    assert!(e.contains("validation failed") && e.contains("--atol 1e-4") && e.contains("nothing written") && e.lines().count() == 1, "{e}");
    assert_eq!(std::fs::read(&out).unwrap(), good);
    let fresh = dir.path().join("fresh.onnx");
    assert!(wrong(&[ot, "-o", fresh.to_str().unwrap()]).is_err() && !fresh.exists());
    // --no-validate writes it unchecked; --atol with it, or with --int8, is refused.
    let done = wrong(&[ot, "-o", fresh.to_str().unwrap(), "--no-validate"]).unwrap();
    assert!(matches!(done, Exported::Onnx { validation: None, .. }) && fresh.exists());
    for args in
        [vec![ot, "--no-validate", "--atol", "1e-3"], vec![ot, "--int8", "--calibrate", ".", "--atol", "1e-3"], vec![ot, "--atol", "0"]]
    {
        let o = export(&args);
        assert!(!o.status.success() && stderr(&o).contains("--atol"), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn embedded_preprocessing_takes_pixels_of_any_size_and_is_checked_before_writing() {
    let (dir, ot, out) = lenet_to_export(1, "lenet-images.onnx");
    let (ot, o_path) = (ot.to_str().unwrap(), out.to_str().unwrap());
    let o = export(&[ot, "--embed-preprocessing", "-o", o_path, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let check = &report["embedded_preprocessing"];
    assert!(check["max_abs_diff"].as_f64().unwrap() <= 1e-3 && check["images"] == 4, "{check}");
    assert!(report["validation"]["max_abs_diff"].as_f64().unwrap() <= 1e-4, "{report}");
    let r = inspect(&out);
    assert_eq!(r["opset"], 18);
    assert_eq!(r["inputs"][0], serde_json::json!({"name": "image", "type": "uint8", "shape": ["batch", "height", "width", "channels"]}));
    assert_eq!(r["ops"]["Resize"], 1);
    let text = String::from_utf8_lossy(&export(&["--inspect", o_path]).stdout).into_owned();
    assert!(text.contains("input      image uint8 [batch, height, width, channels]"), "{text}");

    // The in-graph resize needs opset 18: an older one is refused, and nothing is written.
    let old = dir.path().join("old.onnx");
    let o = export(&[ot, "--embed-preprocessing", "--opset", "17", "-o", old.to_str().unwrap()]);
    let e = stderr(&o);
    assert!(!o.status.success() && e.contains("--embed-preprocessing with --opset 17") && e.contains("18") && !old.exists(), "{e}");
    let o = export(&[ot, "--embed-preprocessing", "--int8", "--calibrate", "."]);
    assert!(!o.status.success() && stderr(&o).contains("--embed-preprocessing"), "{}", stderr(&o));
}
