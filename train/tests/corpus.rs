//! cnnzoo-train against an adversarial corpus: flags out of range, degenerate
//! and broken datasets, special files, checkpoints that contradict the flags
//! or are cut short. Each case has its exit code and message, and a time limit.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

use cnnzoo_test_support::{argv, corpus};

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use corpus::{run_corpus, run_limited, Case};

fn train_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cnnzoo-train"));
    c.env_remove("CNNZOO_DATA");
    c
}

/// Raw IDX files: `n` images of `rows x cols` per split, labels cycling through 10 classes.
fn idx_dataset(dir: &Path, n: u32, rows: u32, cols: u32) {
    std::fs::create_dir_all(dir).unwrap();
    for prefix in ["train", "t10k"] {
        let mut images = 0x0803u32.to_be_bytes().to_vec();
        for d in [n, rows, cols] {
            images.extend(d.to_be_bytes());
        }
        images.extend((0..n * rows * cols).map(|i| (i * 37 % 256) as u8));
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), images).unwrap();
        let mut labels = 0x0801u32.to_be_bytes().to_vec();
        labels.extend(n.to_be_bytes());
        labels.extend((0..n).map(|i| (i % 10) as u8));
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), labels).unwrap();
    }
}

fn image_folder(dir: &Path, classes: &[&str], empty_class: Option<&str>) {
    for split in ["train", "test"] {
        for class in classes {
            let folder = dir.join(split).join(class);
            std::fs::create_dir_all(&folder).unwrap();
            if Some(*class) != empty_class {
                for i in 0..2u8 {
                    image::GrayImage::from_pixel(20, 20, image::Luma([i * 100])).save(folder.join(format!("{i}.png"))).unwrap();
                }
            }
        }
    }
}

#[test]
fn every_bad_input_gets_its_code_and_message() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let s = |p: &Path| p.display().to_string();
    let good = d.join("good");
    idx_dataset(&good, 40, 28, 28);
    // A run to resume: the initialized model of a small LeNet.
    let run = d.join("runs/lenet");
    let o = run_limited(
        train_cmd().args(["--arch", "lenet", "--device", "cpu", "--epochs", "0", "-q", "--data", &s(&good), "-o", &s(&run)]),
        Duration::from_secs(120),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let zero_px = d.join("zero-px");
    idx_dataset(&zero_px, 5, 0, 0);
    let no_images = d.join("no-images");
    idx_dataset(&no_images, 0, 28, 28);
    let cut = d.join("cut");
    idx_dataset(&cut, 40, 28, 28);
    let img = cut.join("t10k-images-idx3-ubyte");
    let bytes = std::fs::read(&img).unwrap();
    std::fs::write(&img, &bytes[..bytes.len() / 2]).unwrap();
    let magic = d.join("magic");
    idx_dataset(&magic, 40, 28, 28);
    std::fs::copy(magic.join("t10k-labels-idx1-ubyte"), magic.join("t10k-images-idx3-ubyte")).unwrap();
    let gz = d.join("gz");
    idx_dataset(&gz, 40, 28, 28);
    std::fs::remove_file(gz.join("train-images-idx3-ubyte")).unwrap();
    std::fs::write(gz.join("train-images-idx3-ubyte.gz"), [0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap();
    let fifo = d.join("fifo");
    idx_dataset(&fifo, 40, 28, 28);
    std::fs::remove_file(fifo.join("train-images-idx3-ubyte")).unwrap();
    assert!(Command::new("mkfifo").arg(fifo.join("train-images-idx3-ubyte")).status().unwrap().success());
    let labels = d.join("labels");
    idx_dataset(&labels, 40, 28, 28);
    let mut l = std::fs::read(labels.join("train-labels-idx1-ubyte")).unwrap();
    l[8 + 3] = 200;
    std::fs::write(labels.join("train-labels-idx1-ubyte"), l).unwrap();
    let empty_class = d.join("empty-class");
    image_folder(&empty_class, &["cat", "dog"], Some("dog"));
    let one_class = d.join("one-class");
    image_folder(&one_class, &["cat"], None);
    let broken_image = d.join("broken-image");
    image_folder(&broken_image, &["cat", "dog"], None);
    std::fs::write(broken_image.join("train/cat/broken.png"), b"not a png").unwrap();
    let extra_class = d.join("extra-class");
    image_folder(&extra_class, &["cat", "dog"], None);
    std::fs::create_dir_all(extra_class.join("test/cow")).unwrap();
    let sums = d.join("SUMS");
    std::fs::write(&sums, "not a checksum line\n").unwrap();
    // Checkpoints that cannot be resumed.
    let truncated = d.join("truncated/lenet");
    std::fs::create_dir_all(truncated.parent().unwrap()).unwrap();
    std::fs::copy(run.with_extension("json"), truncated.with_extension("json")).unwrap();
    let ot = std::fs::read(run.with_extension("ot")).unwrap();
    std::fs::write(truncated.with_extension("ot"), &ot[..ot.len() / 2]).unwrap();
    let foreign = d.join("foreign/lenet");
    std::fs::create_dir_all(foreign.parent().unwrap()).unwrap();
    std::fs::copy(run.with_extension("ot"), foreign.with_extension("ot")).unwrap();
    let manifest = std::fs::read_to_string(run.with_extension("json")).unwrap().replace("\"arch\": \"lenet\"", "\"arch\": \"resnet18\"");
    std::fs::write(foreign.with_extension("json"), manifest).unwrap();
    let garbage = d.join("garbage/lenet");
    std::fs::create_dir_all(garbage.parent().unwrap()).unwrap();
    std::fs::copy(run.with_extension("ot"), garbage.with_extension("ot")).unwrap();
    std::fs::write(garbage.with_extension("json"), "{ not json").unwrap();
    let zero_batch = d.join("zero-batch/lenet");
    std::fs::create_dir_all(zero_batch.parent().unwrap()).unwrap();
    std::fs::copy(run.with_extension("ot"), zero_batch.with_extension("ot")).unwrap();
    let manifest = std::fs::read_to_string(run.with_extension("json")).unwrap();
    let edited = manifest.replacen("\"batch_size\": 256", "\"batch_size\": 0", 1);
    assert_ne!(edited, manifest, "the manifest has a batch size to edit");
    std::fs::write(zero_batch.with_extension("json"), edited).unwrap();

    let base = |data: &Path, extra: &[&str]| {
        let mut v: Vec<String> =
            ["--arch", "lenet", "--device", "cpu", "-q", "--epochs", "1", "--data"].iter().map(|s| s.to_string()).collect();
        v.push(s(data));
        v.push("-o".into());
        v.push(s(&d.join("out/run")));
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let resume = |stem: &Path, extra: &[&str]| {
        let mut v = base(&good, &["--resume"]);
        v.truncate(v.len() - 3);
        v.extend(["-o".to_string(), s(stem), "--resume".into()]);
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let case = |name: &str, args: Vec<String>, code: i32, says: &[&str]| Case {
        name: name.into(),
        args,
        code,
        says: says.iter().map(|s| s.to_string()).collect(),
    };
    let flag = |name: &str, extra: &[&str], says: &[&str]| case(name, base(&good, extra), 2, says);
    let cases = vec![
        flag("threads 0", &["--threads", "0"], &["--threads", "at least 1"]),
        flag("batch-size 0", &["--batch-size", "0"], &["--batch-size", "at least 1"]),
        flag("batch-size of a billion", &["--batch-size", "1000000000"], &["--batch-size", "at most 4096"]),
        flag("threads beyond the cores", &["--threads", "100000"], &["--threads", "core(s)"]),
        flag("lr nan", &["--lr", "NaN"], &["--lr", "finite number above 0"]),
        flag("lr negative", &["--lr=-1"], &["--lr", "finite number above 0"]),
        flag("lr zero", &["--lr", "0"], &["--lr", "finite number above 0"]),
        flag("lr infinite", &["--lr", "inf"], &["--lr", "finite number above 0"]),
        flag("train-limit 0", &["--train-limit", "0"], &["--train-limit", "at least 1"]),
        flag("test-limit 0", &["--test-limit", "0"], &["--test-limit", "at least 1"]),
        flag("size 0", &["--size", "0"], &["--size", "at least 1"]),
        flag("epochs negative", &["--epochs=-1"], &["--epochs"]),
        case("device gpu", vec!["--device".into(), "gpu".into(), "--summary".into()], 2, &["--device", "cuda:N"]),
        flag("mirror without download", &["--mirror", "http://127.0.0.1:9/"], &["--mirror"]),
        flag("unknown flag", &["--learning-rate", "0.1"], &["--learning-rate"]),
        // A flag that the mode would ignore is refused, never dropped silently.
        case("list with an arch", vec!["--list".into(), "--arch".into(), "resnet18".into()], 2, &["--list", "--arch"]),
        case("summary with epochs", vec!["--summary".into(), "--epochs".into(), "3".into()], 2, &["--summary", "--epochs"]),
        case("bench with epochs", vec!["--bench".into(), "2".into(), "--epochs".into(), "3".into()], 2, &["--bench", "--epochs"]),
        case("unknown arch", vec!["--arch".into(), "vgg16".into(), "--summary".into()], 2, &["vgg16", "lenet, alexnet"]),
        case("size too small", base(&good, &["--size", "8"]), 1, &["smallest size that works is 12"]),
        case(
            "cuda without a gpu",
            vec!["--device".into(), "cuda".into(), "--data".into(), s(&good)],
            1,
            &["--device cuda", "CUDA is not available"],
        ),
        case("data missing", base(&d.join("nowhere"), &[]), 1, &["train-images-idx3-ubyte.gz", "missing", "--download"]),
        case("idx images 0x0", base(&zero_px, &[]), 1, &["train-images-idx3-ubyte", "0x0 pixels"]),
        case("idx with no images", base(&no_images, &[]), 1, &["train-images-idx3-ubyte", "holds no images"]),
        case("idx truncated", base(&cut, &[]), 1, &["t10k-images-idx3-ubyte", "truncated"]),
        case("idx wrong magic", base(&magic, &[]), 1, &["t10k-images-idx3-ubyte", "magic number 2049"]),
        case("idx corrupt gzip", base(&gz, &[]), 1, &["train-images-idx3-ubyte.gz", "corrupt gzip"]),
        case("idx is a fifo", base(&fifo, &[]), 1, &["train-images-idx3-ubyte", "not a regular file"]),
        case("label out of range", base(&labels, &[]), 1, &["train-labels-idx1-ubyte", "label 200"]),
        case("empty class folder", base(&empty_class, &[]), 1, &["dog", "holds no images"]),
        case("one class", base(&one_class, &[]), 1, &["one class", "--allow-one-class"]),
        case("broken image in a folder", base(&broken_image, &[]), 1, &["broken.png"]),
        case("test class unknown to train", base(&extra_class, &[]), 1, &["cow", "train/ does not have"]),
        case(
            "bad checksum list",
            base(&good, &["--download", "--mirror", "http://127.0.0.1:9/", "--checksums", &s(&sums)]),
            1,
            &["SUMS", "line 1"],
        ),
        case("resume with nothing to resume", resume(&d.join("none/lenet"), &[]), 1, &["lenet.json", "No such file"]),
        case("resume with another lr", resume(&run, &["--lr", "0.5"]), 1, &["--lr 0.5 differs", "0.9", "lenet.json"]),
        case("resume with another batch size", resume(&run, &["--batch-size", "32"]), 1, &["--batch-size 32 differs"]),
        case("resume a truncated checkpoint", resume(&truncated, &[]), 1, &["lenet.ot", "not a readable tch checkpoint"]),
        case("resume another architecture", resume(&foreign, &[]), 1, &["lenet.ot", "does not fit resnet18"]),
        case("resume an unreadable manifest", resume(&garbage, &[]), 1, &["lenet.json", "not a cnnzoo manifest"]),
        case(
            "resume a manifest edited to batch size 0",
            resume(&zero_batch, &[]),
            1,
            &["lenet.json", "not a usable manifest: batch_size 0"],
        ),
        case(
            "resume with another recipe",
            resume(&run, &["--freeze", "backbone"]),
            1,
            &["--freeze backbone differs from the none", "lenet.json"],
        ),
        case(
            "a frozen backbone with a rate",
            base(&good, &["--freeze", "backbone", "--backbone-lr-scale", "0.1"]),
            2,
            &["--freeze backbone with --backbone-lr-scale 0.1", "give one or the other"],
        ),
        case("an unknown optimizer", base(&good, &["--optimizer", "adam"]), 2, &["--optimizer", "unknown value \"adam\"", "sgd", "adamw"]),
        case("momentum out of range", base(&good, &["--momentum", "1.5"]), 2, &["--momentum", "from 0 to 1"]),
        case("an unknown augmentation", base(&good, &["--augment", "mixup"]), 2, &["--augment", "none", "flip", "standard"]),
    ];
    run_corpus(cases, train_cmd, Duration::from_secs(120));
}

#[test]
fn an_output_folder_names_the_run_after_the_network() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    idx_dataset(&data, 20, 28, 28);
    let out = format!("{}/", tmp.path().join("runs").display());
    let o = run_limited(
        train_cmd().args(["--arch", "lenet", "--device", "cpu", "--epochs", "0", "-q", "--data", data.to_str().unwrap(), "-o", &out]),
        Duration::from_secs(120),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut names: Vec<String> =
        std::fs::read_dir(tmp.path().join("runs")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    // Not the hidden `.ot` and `.json` a bare `DIR/` stem would give (epoch 0 draws no curves).
    assert_eq!(names, ["lenet.json", "lenet.ot"]);
}

#[test]
fn a_checkpoint_and_a_manifest_that_disagree_are_refused_not_resumed() {
    // What a stop between an epoch's two renames leaves: the new weights with
    // the previous epoch's manifest. Made here from two runs of one recipe.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    idx_dataset(&data, 20, 28, 28);
    let run = |stem: &Path, epochs: &str| {
        let args = argv(&format!("--arch lenet --device cpu --epochs {epochs} -q --data {{}} -o {{}}"), &[&data, stem]);
        let o = run_limited(train_cmd().args(args), Duration::from_secs(120));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let (a, b) = (tmp.path().join("a/lenet"), tmp.path().join("b/lenet"));
    run(&a, "1");
    run(&b, "2");
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(a.with_extension("json")).unwrap()).unwrap();
    assert_eq!(manifest["weights_sha256"].as_str().map(str::len), Some(64), "{manifest}");
    std::fs::copy(b.with_extension("ot"), a.with_extension("ot")).unwrap();
    let args = argv("--arch lenet --device cpu --resume --epochs 2 -q --data {} -o {}", &[&data, &a]);
    let o = run_limited(train_cmd().args(args), Duration::from_secs(120));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.code() == Some(1) && e.contains("a/lenet.json") && e.contains("was not written with"), "{e}");
    assert_eq!(e.lines().filter(|l| l.starts_with("error:")).count(), 1, "{e}");
}

#[test]
fn a_closed_or_failing_stdout_never_panics() {
    // `cnnzoo-train --summary | head -0`, and `> /dev/full`.
    let o = corpus::with_closed_stdout(train_cmd().args(["--arch", "densenet", "--summary"]));
    assert!(
        o.status.success() && !String::from_utf8_lossy(&o.stderr).contains("panicked"),
        "{:?}: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    let o = corpus::with_full_stdout(train_cmd().args(["--list"]));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.code() == Some(1) && e.contains("error: writing to stdout") && !e.contains("panicked"), "{e}");
}

#[test]
fn a_disk_that_refuses_the_checkpoint_is_one_clear_error() {
    // A file size limit (with SIGXFSZ ignored) makes every write past it
    // fail, as a full disk does: the checkpoint cannot be written.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    idx_dataset(&data, 20, 28, 28);
    let out = tmp.path().join("runs/lenet");
    let train = env!("CARGO_BIN_EXE_cnnzoo-train");
    let script = format!(
        "ulimit -f 64; trap '' XFSZ; exec '{train}' --arch lenet --device cpu --epochs 1 -q --data '{}' -o '{}'",
        data.display(),
        out.display()
    );
    let o = run_limited(Command::new("bash").args(["-c", &script]), Duration::from_secs(120));
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("runs/lenet.ot") && e.contains("File too large"), "{e}");
    assert!(
        !e.contains(".cnnzoo-") && !e.contains("frame #") && !e.contains("c10::"),
        "names the hidden temporary or libtorch's frames: {e}"
    );
    assert_eq!(e.lines().filter(|l| l.starts_with("error:")).count(), 1, "{e}");
    assert!(!out.with_extension("ot").exists(), "no partial checkpoint");
}
