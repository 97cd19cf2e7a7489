//! cnnzoo-export against an adversarial corpus: missing, special, truncated
//! and foreign checkpoints and manifests, ONNX files that are not, flags out
//! of range. Each case has its exit code and message, and a time limit; a
//! failed export never leaves a file or a temporary behind.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

use cnnzoo_test_support::corpus;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cnnzoo_models::Arch;
use cnnzoo_train::checkpoint::Paths;
use cnnzoo_train::data::load_idx;
use corpus::{run_corpus, Case};

use cnnzoo_test_support::data;

fn export_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cnnzoo-export"))
}

/// An initialized checkpoint (`--epochs 0`) of `arch` at `dir/ARCH.{ot,json}`.
fn checkpoint(dir: &Path, arch: &str) -> PathBuf {
    let mut d = load_idx(&data::fashion_mnist()).unwrap();
    d.train = d.train.take(64);
    d.test = d.test.take(64);
    let opts = cnnzoo_train::trainer::Options {
        epochs: 0,
        ..cnnzoo_train::trainer::Options::recipe(Arch::find(arch).unwrap(), tch::Device::Cpu, Paths::from_stem(&dir.join(arch)))
    };
    cnnzoo_train::trainer::train(&opts, &d).unwrap();
    opts.paths.weights
}

/// A copy of the checkpoint under `name`, its weights and manifest passed through the edits.
fn variant(dir: &Path, good: &Path, name: &str, ot: impl Fn(Vec<u8>) -> Vec<u8>, json: impl Fn(String) -> String) -> String {
    let stem = dir.join(name).join("lenet");
    std::fs::create_dir_all(stem.parent().unwrap()).unwrap();
    std::fs::write(stem.with_extension("ot"), ot(std::fs::read(good).unwrap())).unwrap();
    std::fs::write(stem.with_extension("json"), json(std::fs::read_to_string(good.with_extension("json")).unwrap())).unwrap();
    stem.with_extension("ot").display().to_string()
}

#[test]
fn every_bad_input_gets_its_code_and_message_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let good = checkpoint(&d.join("good"), "lenet");
    let densenet = std::fs::read(checkpoint(&d.join("densenet"), "densenet")).unwrap();
    let s = |p: &Path| p.display().to_string();
    let same = |b: Vec<u8>| b;
    let keep = |j: String| j;
    let truncated = variant(d, &good, "truncated", |b| b[..b.len() / 2].to_vec(), keep);
    let empty_ot = variant(d, &good, "empty", |_| vec![], keep);
    let other_weights = variant(d, &good, "other-weights", |_| densenet.clone(), keep);
    let other_arch = variant(d, &good, "other-arch", same, |j| j.replace("\"arch\": \"lenet\"", "\"arch\": \"alexnet\""));
    let unknown_arch = variant(d, &good, "unknown-arch", same, |j| j.replace("\"arch\": \"lenet\"", "\"arch\": \"vgg16\""));
    let bad_json = variant(d, &good, "bad-json", same, |_| "{ not json".into());
    let more_classes = variant(d, &good, "more-classes", same, |j| j.replacen("\"T-shirt/top\",", "\"T-shirt/top\", \"Extra\",", 1));
    let no_manifest = {
        let p = variant(d, &good, "no-manifest", same, keep);
        std::fs::remove_file(Path::new(&p).with_extension("json")).unwrap();
        p
    };
    let fifo_ot = d.join("fifo/lenet.ot");
    std::fs::create_dir_all(fifo_ot.parent().unwrap()).unwrap();
    std::fs::copy(good.with_extension("json"), fifo_ot.with_extension("json")).unwrap();
    assert!(Command::new("mkfifo").arg(&fifo_ot).status().unwrap().success());
    let fifo_onnx = d.join("pipe.onnx");
    assert!(Command::new("mkfifo").arg(&fifo_onnx).status().unwrap().success());
    let fifo_out = d.join("out-pipe.onnx");
    assert!(Command::new("mkfifo").arg(&fifo_out).status().unwrap().success());
    let onnx_text = d.join("text.onnx");
    std::fs::write(&onnx_text, b"this is not protobuf, though it may parse as some").unwrap();
    let onnx_png = d.join("png.onnx");
    std::fs::write(&onnx_png, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();

    let case = |name: &str, args: &[&str], code: i32, says: &[&str]| Case {
        name: name.into(),
        args: args.iter().map(|s| s.to_string()).collect(),
        code,
        says: says.iter().map(|s| s.to_string()).collect(),
    };
    let g = s(&good);
    // An initializer whose dims multiply past 2^64: no parameter count is true.
    let huge_dims = d.join("huge-dims.onnx");
    let model = cnnzoo_proto::ModelProto {
        ir_version: 8,
        opset_import: vec![cnnzoo_proto::OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(cnnzoo_proto::GraphProto {
            node: vec![cnnzoo_proto::NodeProto {
                op_type: "Identity".into(),
                input: vec!["w".into()],
                output: vec!["y".into()],
                ..Default::default()
            }],
            initializer: vec![cnnzoo_proto::TensorProto {
                name: "w".into(),
                dims: vec![1 << 40, 1 << 40],
                data_type: 1,
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    std::fs::write(&huge_dims, cnnzoo_proto::encode_model(&model)).unwrap();
    let cases = vec![
        case("checkpoint missing", &[&s(&d.join("none.ot"))], 1, &["none.ot", "No such file"]),
        case("checkpoint truncated", &[&truncated], 1, &["truncated/lenet.ot", "not a readable tch checkpoint"]),
        case("checkpoint empty", &[&empty_ot], 1, &["empty/lenet.ot", "not a readable tch checkpoint"]),
        case("checkpoint is a fifo", &[&s(&fifo_ot)], 1, &["fifo/lenet.ot", "not a regular file"]),
        case("weights of another architecture", &[&other_weights], 1, &["other-weights/lenet.ot", "does not fit lenet"]),
        case("manifest of another architecture", &[&other_arch], 1, &["other-arch/lenet.json", "alexnet", "smallest size"]),
        case("manifest names an unknown network", &[&unknown_arch], 1, &["unknown-arch/lenet.json", "vgg16"]),
        case("manifest unreadable", &[&bad_json], 1, &["bad-json/lenet.json", "not a cnnzoo manifest"]),
        case("manifest with more classes than weights", &[&more_classes], 1, &["more-classes/lenet.ot", "does not fit lenet"]),
        case("manifest missing", &[&no_manifest], 1, &["no-manifest/lenet.json", "No such file"]),
        case("a folder instead of a checkpoint", &[&s(d)], 1, &["is a directory"]),
        case("an onnx file to export", &[&s(&onnx_text)], 1, &["text.onnx", "already an ONNX file", "--inspect"]),
        case("opset too old", &[&g, "--opset", "5", "-o", &s(&d.join("o5.onnx"))], 1, &["opset 5"]),
        case("opset too new", &[&g, "--opset", "99", "-o", &s(&d.join("o99.onnx"))], 1, &["opset 99"]),
        case("opset not a number", &[&g, "--opset", "seventeen"], 2, &["--opset"]),
        case("output folder missing", &[&g, "-o", &s(&d.join("no/such/dir/x.onnx"))], 1, &["x.onnx"]),
        case("output is a folder", &[&g, "-o", &s(d)], 1, &[&s(d)]),
        case("output is the checkpoint", &[&g, "-o", &g], 1, &["-o", "an input of this run"]),
        case("output is the manifest", &[&g, "-o", &s(&good.with_extension("json"))], 1, &["lenet.json", "an input of this run"]),
        case("state dict over the checkpoint", &[&g, "--state-dict", &g], 1, &["--state-dict", "an input of this run"]),
        case("output is a fifo", &[&g, "-o", &s(&fifo_out)], 1, &["out-pipe.onnx", "FIFO", "only a regular file"]),
        case("output is /dev/null", &[&g, "-o", "/dev/null"], 1, &["/dev/null", "not a regular file"]),
        case("inspect a missing file", &["--inspect", &s(&d.join("none.onnx"))], 1, &["none.onnx", "No such file"]),
        case("inspect a fifo", &["--inspect", &s(&fifo_onnx)], 1, &["pipe.onnx", "not a regular file"]),
        case("inspect a folder", &["--inspect", &s(d)], 1, &["is a directory"]),
        case("inspect text", &["--inspect", &s(&onnx_text)], 1, &["text.onnx"]),
        case("inspect a png", &["--inspect", &s(&onnx_png)], 1, &["png.onnx"]),
        case("inspect the checkpoint", &["--inspect", &g], 1, &["lenet.ot"]),
        case("inspect dims that overflow", &["--inspect", &s(&huge_dims)], 1, &["huge-dims.onnx", "initializer `w`", "not a tensor's"]),
        case("no input", &[], 2, &["<INPUT>"]),
        case("unknown flag", &[&g, "--fold"], 2, &["--fold"]),
    ];
    run_corpus(cases, export_cmd, Duration::from_secs(120));
    // Nothing was written beside the inputs: no ONNX file, no temporary.
    let mut left = vec![];
    for entry in walk(d) {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".tmp")
            || (name.ends_with(".onnx")
                && !["pipe.onnx", "out-pipe.onnx", "text.onnx", "png.onnx", "huge-dims.onnx"].contains(&name.as_str()))
        {
            left.push(entry);
        }
    }
    assert!(left.is_empty(), "{left:?}");
    // The outputs that were refused are as they were.
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&std::fs::symlink_metadata(&fifo_out).unwrap().file_type()));
    assert!(std::fs::read(&good).unwrap().starts_with(b"PK"), "the checkpoint was overwritten");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_killed_exports_temporary_is_swept_by_the_next_export() {
    let tmp = tempfile::tempdir().unwrap();
    let good = checkpoint(tmp.path(), "lenet");
    // What `kill -9` during an export leaves: a hidden temporary of a process that is gone.
    let stale = tmp.path().join(".lenet.onnx.cnnzoo-4194305.tmp");
    let users = tmp.path().join(".draft.4194305.tmp"); // a dead PID, but not a name of ours
    std::fs::write(&users, b"notes").unwrap();
    std::fs::write(&stale, vec![0u8; 1 << 20]).unwrap();
    let o = corpus::run_limited(export_cmd().arg(&good), Duration::from_secs(120));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!stale.exists(), "the dead export's temporary is still there");
    assert!(users.exists(), "a file that is not ours was swept");
    assert!(good.with_extension("onnx").is_file());
}

#[test]
fn a_failing_or_closed_stdout_is_an_error_line_or_a_quiet_end_never_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let good = checkpoint(tmp.path(), "lenet");
    let o = corpus::run_limited(export_cmd().arg(&good), Duration::from_secs(120));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let onnx = good.with_extension("onnx");
    // `> /dev/full`: one error line, exit 1.
    let o = corpus::with_full_stdout(export_cmd().args(["--inspect", onnx.to_str().unwrap()]));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.code() == Some(1) && e.contains("error: writing to stdout") && !e.contains("panicked"), "{e}");
    // `| head -0`: the reader is gone before anything is written; a quiet exit 0.
    let o = corpus::with_closed_stdout(export_cmd().args(["--inspect", onnx.to_str().unwrap()]));
    assert!(o.status.success() && o.stderr.is_empty(), "{:?}: {}", o.status, String::from_utf8_lossy(&o.stderr));
}
