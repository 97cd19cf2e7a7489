//! Published weights in: torchvision's own networks (seeded, nothing
//! downloaded) saved as a user saves them, `torch.save(model.state_dict())`
//! and safetensors, and a timm model as a Hugging Face folder, exported by
//! cnnzoo-export and run by onnxruntime's Python API against torchvision's
//! and timm's own forward; and every bad weights file as one clear line.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

use cnnzoo_test_support::data;
use cnnzoo_test_support::every;
use cnnzoo_test_support::python;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn export(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cnnzoo-export")).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// onnxruntime (Python) on `model` against the references: largest
/// differences, and whether all are within 1e-4 + 1e-5 * |reference|.
fn check(input: &Path, reference: &Path, model: &Path) -> Value {
    let out = python::run_script("torchvision_zoo.py", &["check", path(input), path(reference), path(model)]);
    serde_json::from_str(out.trim()).unwrap()
}

fn card(model: &Path) -> Value {
    let o = export(&["--inspect", path(model), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    report["metadata"].clone()
}

fn card_json(card: &Value, key: &str) -> Value {
    serde_json::from_str(card[key].as_str().unwrap_or_else(|| panic!("no {key} in {card}"))).unwrap()
}

const ARCHS: [&str; 6] = ["alexnet", "googlenet", "resnet18", "resnet34", "resnet50", "densenet121"];

#[test]
fn every_torchvision_layout_exported_from_pth_and_safetensors_matches_torchvision() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["make", path(dir.path()), "224"];
    args.extend(ARCHS);
    python::run_script("torchvision_zoo.py", &args);
    let d = dir.path();
    every::every(
        ARCHS,
        |a| a.to_string(),
        |&arch| {
            let (input, reference) = (d.join(format!("{arch}.input.npy")), d.join(format!("{arch}.ref.npz")));
            for ext in ["pth", "safetensors"] {
                let onnx = d.join(format!("{arch}.{ext}.onnx"));
                let o = export(&[path(&d.join(format!("{arch}.{ext}"))), "--arch", &format!("tv_{arch}"), "-o", path(&onnx)]);
                assert!(o.status.success(), "{ext}: {}", stderr(&o));
                let r = check(&input, &reference, &onnx);
                assert!(r["allclose"] == true, "{ext}: ours against torchvision: {r}");
            }
            // The card carries weights.transforms() and ImageNet's names.
            let c = card(&d.join(format!("{arch}.pth.onnx")));
            let p = card_json(&c, "cnnzoo.preprocessing");
            let resize = if arch == "resnet50" { 232 } else { 256 };
            assert_eq!(
                (p["resize_size"].as_u64(), p["size"].as_u64(), p["resize"].as_str()),
                (Some(resize), Some(224), Some("bilinear_antialias")),
                "{p}"
            );
            let mean = if arch == "googlenet" { 0.5 } else { 0.485 };
            assert!((p["mean"][0].as_f64().unwrap() - mean).abs() < 1e-6, "{p}");
            let classes = card_json(&c, "cnnzoo.classes");
            assert_eq!(
                (classes.as_array().unwrap().len(), classes[0].as_str(), classes[999].as_str()),
                (1000, Some("tench"), Some("toilet tissue"))
            );
            assert!(c["cnnzoo.weights"].as_str().unwrap().contains(&format!("{arch}.pth")), "{c}");
        },
    );

    // The published files' own forms: DenseNet-121 in the pre-1.6 format with
    // its old `norm.1` keys, GoogLeNet with its auxiliary heads.
    for (arch, file, note) in
        [("densenet121", "densenet121.legacy.pth", "renamed 580 old DenseNet keys"), ("googlenet", "googlenet.aux.pth", "auxiliary heads")]
    {
        let onnx = d.join(format!("{file}.onnx"));
        let o = export(&[path(&d.join(file)), "--arch", &format!("tv_{arch}"), "-o", path(&onnx)]);
        assert!(o.status.success() && stderr(&o).contains(note), "{file}: {}", stderr(&o));
        let r = check(&d.join(format!("{arch}.input.npy")), &d.join(format!("{arch}.ref.npz")), &onnx);
        assert!(r["allclose"] == true, "{file}: {r}");
    }

    // --in-chans 1 sums the stem over RGB, as timm's in_chans=1; any --size.
    python::run_script("torchvision_zoo.py", &["gray", path(d), "resnet18", "64"]);
    let onnx = d.join("resnet18.gray.onnx");
    let o = export(&[path(&d.join("resnet18.pth")), "--arch", "tv_resnet18", "--in-chans", "1", "--size", "64", "-o", path(&onnx)]);
    assert!(o.status.success() && stderr(&o).contains("summed conv1.weight over RGB"), "{}", stderr(&o));
    let r = check(&d.join("resnet18.gray.input.npy"), &d.join("resnet18.gray.ref.npz"), &onnx);
    assert!(r["allclose"] == true, "gray: {r}");
    let p = card_json(&card(&onnx), "cnnzoo.preprocessing");
    // 256/224 of 64 is 73.1: the resize keeps its proportion to the crop (rounded up).
    assert_eq!((p["channels"].as_u64(), p["size"].as_u64(), p["resize_size"].as_u64()), (Some(1), Some(64), Some(74)), "{p}");
}

#[test]
fn a_timm_hugging_face_folder_exports_with_timms_preprocessing_and_matches_timm() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data_config: Value = serde_json::from_str(python::run_script("timm_folder.py", &[path(d), "resnet50.a1_in1k"]).trim()).unwrap();
    let onnx = d.join("resnet50.onnx");
    // No --arch: config.json says resnet50, which is torchvision's layout.
    let o = export(&[path(&d.join("model")), "-o", path(&onnx)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = check(&d.join("input.npy"), &d.join("ref.npz"), &onnx);
    assert!(r["allclose"] == true, "ours against timm: {r}");
    let c = card(&onnx);
    assert_eq!(c["cnnzoo.arch"], "tv_resnet50");
    let p = card_json(&c, "cnnzoo.preprocessing");
    // resolve_data_config: 224, bicubic, crop_pct 0.95 -> the shorter side to floor(224 / 0.95) = 235.
    assert_eq!(data_config["interpolation"], "bicubic");
    assert_eq!(
        (p["resize"].as_str(), p["resize_size"].as_u64(), p["size"].as_u64()),
        (Some("bicubic_antialias"), Some(235), Some(224)),
        "{p}"
    );
    assert_eq!(card_json(&c, "cnnzoo.classes")[0], "tench");
    assert!(c["cnnzoo.weights"].as_str().unwrap().contains("Hugging Face timm folder"), "{c}");
    assert!(card_json(&c, "cnnzoo.hyperparameters")["dataset"].as_str().unwrap().contains("resnet50.a1_in1k"), "{c}");

    // A folder with its own head and label_names: those are the classes.
    let d2 = d.join("small");
    std::fs::create_dir(&d2).unwrap();
    python::run_script("timm_folder.py", &[path(&d2), "resnet18.tv_in1k", "5"]);
    let onnx = d2.join("resnet18.onnx");
    let o = export(&[path(&d2.join("model")), "-o", path(&onnx)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(check(&d2.join("input.npy"), &d2.join("ref.npz"), &onnx)["allclose"] == true);
    let c = card(&onnx);
    assert_eq!(card_json(&c, "cnnzoo.classes"), serde_json::json!(["kind 0", "kind 1", "kind 2", "kind 3", "kind 4"]));
    let p = card_json(&c, "cnnzoo.preprocessing");
    // tv_in1k: bilinear, crop_pct 0.875 -> 256.
    assert_eq!((p["resize"].as_str(), p["resize_size"].as_u64()), (Some("bilinear_antialias"), Some(256)), "{p}");
}

#[test]
fn state_dicts_go_out_to_torchvision_strictly_and_come_back_equal() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // torchvision's weights in, a state dict out: the same tensors, loaded strictly.
    python::run_script("torchvision_zoo.py", &["make", path(d), "64", "resnet18", "densenet121"]);
    for arch in ["resnet18", "densenet121"] {
        let out = d.join(format!("{arch}.out.safetensors"));
        let o = export(&[path(&d.join(format!("{arch}.pth"))), "--arch", &format!("tv_{arch}"), "--state-dict", path(&out)]);
        assert!(o.status.success(), "{}", stderr(&o));
        let r = python::run_script("state_dict_check.py", &["same", path(&d.join(format!("{arch}.pth"))), path(&out), arch]);
        let r: Value = serde_json::from_str(r.trim()).unwrap();
        assert!(r["equal"] == true, "{arch}: {r}");
    }
    // A network trained here (1 channel, 10 classes, 32 px) goes to torchvision and computes what its ONNX export does.
    let mut data = cnnzoo_train::data::load_idx(&data::fashion_mnist()).unwrap();
    data.train = data.train.take(512);
    data.test = data.test.take(128);
    let arch = cnnzoo_models::Arch::find("tv_resnet18").unwrap();
    let paths = cnnzoo_train::checkpoint::Paths::from_stem(&d.join("trained"));
    let opts = cnnzoo_train::trainer::Options {
        epochs: 1,
        size: 32,
        batch_size: 64,
        ..cnnzoo_train::trainer::Options::recipe(arch, tch::Device::Cpu, paths)
    };
    cnnzoo_train::trainer::train(&opts, &data).unwrap();
    let ot = path(&opts.paths.weights);
    let (sd, onnx) = (d.join("trained.safetensors"), d.join("trained.onnx"));
    assert!(export(&[ot, "--state-dict", path(&sd)]).status.success());
    let o = export(&[ot, "-o", path(&onnx)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = python::run_script("state_dict_check.py", &["forward", path(&sd), path(&onnx), "resnet18", "1", "32", "10"]);
    let r: Value = serde_json::from_str(r.trim()).unwrap();
    assert!(r["allclose"] == true, "{r}");
    // And back: torchvision's file of it exports to the same logits.
    let again = d.join("again.onnx");
    let o = export(&[path(&sd), "--arch", "tv_resnet18", "--in-chans", "1", "--size", "32", "-o", path(&again)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = python::run_script("state_dict_check.py", &["forward", path(&sd), path(&again), "resnet18", "1", "32", "10"]);
    assert!(serde_json::from_str::<Value>(r.trim()).unwrap()["allclose"] == true, "{r}");
}

#[test]
fn training_starts_from_published_weights_with_a_new_head() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    python::run_script("torchvision_zoo.py", &["make", path(d), "64", "resnet18"]);
    let mut data = cnnzoo_train::data::load_idx(&data::fashion_mnist()).unwrap();
    data.train = data.train.take(256);
    data.test = data.test.take(64);
    let arch = cnnzoo_models::Arch::find("tv_resnet18").unwrap();
    let paths = cnnzoo_train::checkpoint::Paths::from_stem(&d.join("init"));
    let recipe = cnnzoo_train::trainer::Options::recipe(arch, tch::Device::Cpu, paths);
    // No epochs: the checkpoint written is the starting point.
    let opts = cnnzoo_train::trainer::Options { epochs: 0, size: 32, init: Some(d.join("resnet18.pth")), ..recipe };
    cnnzoo_train::trainer::train(&opts, &data).unwrap();
    let ck = cnnzoo_train::checkpoint::load(&opts.paths.weights).unwrap();
    let original = cnnzoo_models::weights::read_state_dict(&d.join("resnet18.pth")).unwrap();
    let tensor = |name: &str| &original.tensors.iter().find(|(k, _)| k == name).unwrap().1;
    assert_eq!(ck.weights.get("layer3.1.conv2.weight").unwrap(), tensor("layer3.1.conv2.weight"));
    assert_eq!(ck.weights.get("layer2.0.downsample.1.running_var").unwrap(), tensor("layer2.0.downsample.1.running_var"));
    // The stem summed over RGB for Fashion-MNIST's one channel; the head new, for 10 classes.
    let (stem, rgb) = (ck.weights.get("conv1.weight").unwrap(), tensor("conv1.weight"));
    assert_eq!(stem.shape, vec![64, 1, 7, 7]);
    assert!((stem.data[5] - (rgb.data[5] + rgb.data[49 + 5] + rgb.data[98 + 5])).abs() < 1e-6);
    assert_eq!(ck.weights.get("fc.weight").unwrap().shape, vec![10, 512]);
    assert!(ck.manifest.hyperparameters.init.contains("pretrained"), "{:?}", ck.manifest.hyperparameters);
    // Fine-tuning the head alone: an epoch leaves every published tensor,
    // batch-norm statistics included, exactly as it was.
    let tuning = cnnzoo_models::Tuning { freeze: cnnzoo_models::tuning::Freeze::Backbone, ..Default::default() };
    let head_only = cnnzoo_train::trainer::Options {
        epochs: 1,
        batch_size: 64,
        tuning,
        paths: cnnzoo_train::checkpoint::Paths::from_stem(&d.join("head")),
        ..opts.clone()
    };
    cnnzoo_train::trainer::train(&head_only, &data).unwrap();
    let tuned = cnnzoo_train::checkpoint::load(&head_only.paths.weights).unwrap();
    for (name, t) in &tuned.weights.0 {
        match name.as_str() {
            "fc.weight" | "fc.bias" => assert_ne!(t, ck.weights.get(name).unwrap(), "{name} learned nothing"),
            "conv1.weight" => assert_eq!(t, stem, "the summed stem is frozen too"),
            _ => assert_eq!(t, tensor(name), "{name} moved under --freeze backbone"),
        }
    }
    // Weights of another network are one clear error.
    python::run_script("torchvision_zoo.py", &["make", path(d), "64", "densenet121"]);
    let wrong = cnnzoo_train::trainer::Options { init: Some(d.join("densenet121.pth")), ..opts.clone() };
    let e = cnnzoo_train::trainer::train(&wrong, &data).unwrap_err().to_string();
    assert!(e.contains("densenet121.pth") && e.contains("do not fit tv_resnet18") && e.contains("missing keys"), "{e}");
}

#[test]
fn a_bad_weights_file_is_one_clear_line_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    python::run_script("torchvision_zoo.py", &["make", path(d), "64", "resnet18"]);
    python::run_script("torchvision_zoo.py", &["junk", path(d)]);
    let pth = std::fs::read(d.join("resnet18.pth")).unwrap();
    let st = std::fs::read(d.join("resnet18.safetensors")).unwrap();
    std::fs::write(d.join("truncated.pth"), &pth[..pth.len() / 2]).unwrap();
    std::fs::write(d.join("truncated.safetensors"), &st[..st.len() / 2]).unwrap();
    std::fs::write(d.join("text.pth"), "not weights\n").unwrap();
    std::fs::write(d.join("empty.safetensors"), "").unwrap();
    // A key missing and a tensor mis-shaped, written as safetensors from the real file.
    let state = cnnzoo_models::weights::read_state_dict(&d.join("resnet18.safetensors")).unwrap();
    let edit = |name: &str, f: &dyn Fn(&str, &cnnzoo_models::Tensor32) -> Option<cnnzoo_models::Tensor32>| {
        let kept: Vec<(String, cnnzoo_models::Tensor32)> =
            state.tensors.iter().filter_map(|(k, t)| f(k, t).map(|t| (k.clone(), t))).collect();
        let bytes = cnnzoo_models::weights::safetensors::write(kept.iter().map(|(k, t)| (k.as_str(), t)), &Default::default());
        std::fs::write(d.join(name), bytes).unwrap();
    };
    edit("missing.safetensors", &|k, t| (k != "layer3.1.bn2.running_var").then(|| t.clone()));
    edit("misshaped.safetensors", &|k, t| {
        Some(if k == "layer1.0.conv2.weight" {
            cnnzoo_models::Tensor32 { shape: vec![64, 64, 1, 1], data: vec![0.0; 4096] }
        } else {
            t.clone()
        })
    });
    // Each file under `--arch ARCH` (none where ARCH is empty), and what the error says.
    let cases: [(&str, &str, &str); 11] = [
        ("truncated.pth", "tv_resnet18", "truncated"),
        ("truncated.safetensors", "tv_resnet18", "truncated"),
        ("text.pth", "tv_resnet18", "not a weights file"),
        ("empty.safetensors", "tv_resnet18", "not a weights file"),
        ("list.pth", "tv_resnet18", "holds a list, not a state dict"),
        ("module.pth", "tv_resnet18", "pickled torchvision.models.resnet.ResNet object, not a state dict (save model.state_dict())"),
        ("resnet18.pth", "tv_resnet34", "do not fit tv_resnet34: missing keys (80): layer1.2.conv1.weight"),
        ("resnet18.pth", "tv_densenet121", "no classifier weight classifier.weight"),
        ("missing.safetensors", "tv_resnet18", "missing keys (1): layer3.1.bn2.running_var"),
        ("misshaped.safetensors", "tv_resnet18", "mis-shaped (1): layer1.0.conv2.weight [64, 64, 1, 1] (the network's is [64, 64, 3, 3])"),
        ("resnet18.pth", "", "give --arch"),
    ];
    let out = d.join("out.onnx");
    for (file, arch, says) in cases {
        let mut args = vec![path(&d.join(file)).to_string()];
        let flags = if arch.is_empty() { vec![] } else { vec!["--arch", arch] };
        args.extend(flags.iter().map(|s| s.to_string()));
        args.extend(["-o".to_string(), path(&out).to_string()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = export(&args);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{file} {flags:?}: {e}");
        assert!(e.contains(says) && e.contains(file) && e.trim().lines().count() == 1, "{file} {flags:?}: {e}");
        assert!(!out.exists(), "{file}: wrote {}", out.display());
    }
    // Flags that name something wrong say which flag.
    let o = export(&[path(&d.join("resnet18.pth")), "--arch", "vgg16", "-o", path(&out)]);
    assert!(stderr(&o).contains("--arch") && stderr(&o).contains("tv_resnet50") && !out.exists(), "{}", stderr(&o));
    let o = export(&[path(&d.join("resnet18.pth")), "--arch", "tv_resnet18", "--in-chans", "2"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
