//! cnnzoo-infer against an adversarial corpus: special files, cycles, broken
//! and forged images, truncated and foreign models, inconsistent cards, flags
//! out of range. Each case has its exit code and message, and a time limit.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

use cnnzoo_test_support::corpus;
mod fixture;

use std::path::{Path, PathBuf};
use std::time::Duration;

use cnnzoo_models::card::keys;
use corpus::{run_corpus, run_limited, Case};
use fixture::{infer_cmd, lenet_onnx, write_lenet};

fn mkfifo(p: &Path) {
    assert!(std::process::Command::new("mkfifo").arg(p).status().unwrap().success());
}

fn png(p: &Path) {
    image::GrayImage::from_fn(28, 28, |x, y| image::Luma([(x * 9 + y) as u8])).save(p).unwrap();
}

/// A card entry replaced (or removed, with `None`).
fn with_card(dir: &Path, name: &str, key: &str, value: Option<&str>) -> String {
    let path = dir.join(format!("{name}.onnx"));
    write_lenet(&path, |card| {
        card.retain(|(k, _)| k != key);
        if let Some(v) = value {
            card.push((key.to_string(), v.to_string()));
        }
    });
    path.display().to_string()
}

fn pre(channels: usize, size: usize, extra: &str) -> String {
    format!(r#"{{"channels":{channels},"size":{size},"resize":"bilinear","scale":0.00392{extra}}}"#)
}

#[test]
fn every_bad_input_gets_its_code_and_message() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let model = lenet_onnx().display().to_string();
    let good = d.join("good.png");
    png(&good);
    let good = good.display().to_string();
    let file = |name: &str, bytes: &[u8]| {
        let p = d.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    };
    let fifo = d.join("x.png");
    mkfifo(&fifo);
    let fifo_dir = d.join("with-fifo");
    std::fs::create_dir(&fifo_dir).unwrap();
    mkfifo(&fifo_dir.join("y.png"));
    let onnx = std::fs::read(lenet_onnx()).unwrap();
    let png_bytes = std::fs::read(&good).unwrap();
    let jpeg = {
        let mut c = std::io::Cursor::new(vec![]);
        image::RgbImage::from_fn(200, 150, |x, y| image::Rgb([x as u8, y as u8, 7])).write_to(&mut c, image::ImageFormat::Jpeg).unwrap();
        c.into_inner()
    };
    let model_fifo = d.join("model.onnx");
    mkfifo(&model_fifo);
    let s = |p: &Path| p.display().to_string();
    let m = |extra: &[&str]| {
        let mut v = vec!["--model", model.as_str(), "--device", "cpu"];
        v.extend(extra);
        v.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let with = |name: &str, args: Vec<String>, code: i32, says: &[&str]| Case {
        name: name.into(),
        args,
        code,
        says: says.iter().map(|s| s.to_string()).collect(),
    };
    let bad_img = |name: &str, bytes: &[u8], says: &str| {
        let p = file(name, bytes);
        with(name, m(&[&p]), 1, &[&p, says, "1 file(s) could not be read"])
    };
    let card = |name: &str, key: &str, value: Option<&str>, says: &str| {
        let p = with_card(d, name, key, value);
        with(name, vec!["--model".into(), p.clone(), "--device".into(), "cpu".into(), good.clone()], 1, &[&p, says])
    };

    let mut names: Vec<String> = (0..8).map(|k| format!("class{k}")).collect();
    names.extend(["../../outside".to_string(), "/etc".to_string()]);
    let escaping = serde_json::to_string(&names).unwrap();
    let cases = vec![
        // Special files and folders.
        with("fifo given directly", m(&[&s(&fifo)]), 1, &["x.png", "not a regular file"]),
        with("fifo inside a folder", m(&[&s(&fifo_dir)]), 1, &["y.png", "not a regular file"]),
        with("a folder that does not exist", m(&[&s(&d.join("nowhere"))]), 1, &["nowhere", "No such file"]),
        // Broken and forged images.
        bad_img(
            "corrupt.png",
            &{
                let mut b = png_bytes.clone();
                b[40..60].fill(0xAB);
                b
            },
            "png",
        ),
        bad_img("truncated.png", &png_bytes[..60], "truncated.png"),
        bad_img("empty.png", b"", "empty.png"),
        bad_img("notes.png", b"these are not pixels", "notes.png: not an image (unknown format)"),
        bad_img("notes.dat", b"these are not pixels", "not an image"),
        bad_img("half.jpg", &jpeg[..jpeg.len() / 2], "truncated JPEG"),
        bad_img("header-only.jpg", &jpeg[..20], "header-only.jpg"),
        bad_img("huge.bmp", &fixture::huge_bmp(), "limit"),
        bad_img("gif-magic.gif", b"GIF89a\x01\x00", "gif-magic.gif"),
        // Models: missing, special, truncated, foreign.
        with("model missing", vec!["--model".into(), s(&d.join("none.onnx")), good.clone()], 1, &["none.onnx", "No such file"]),
        with("model is a folder", vec!["--model".into(), s(d), good.clone()], 1, &["directory"]),
        with("model is a fifo", vec!["--model".into(), s(&model_fifo), good.clone()], 1, &["model.onnx", "not a regular file"]),
        with("model is empty", vec!["--model".into(), file("empty.onnx", b""), good.clone()], 1, &["empty.onnx", "empty file"]),
        with(
            "model truncated",
            vec!["--model".into(), file("cut.onnx", &onnx[..onnx.len() / 3]), good.clone()],
            1,
            &["cut.onnx", "not a loadable ONNX model"],
        ),
        with(
            "model foreign bytes",
            vec!["--model".into(), file("png.onnx", &png_bytes), good.clone()],
            1,
            &["png.onnx", "not a loadable ONNX model"],
        ),
        // Cards that cannot be honoured.
        card("channels-2", keys::PREPROCESSING, Some(&pre(2, 28, "")), "channels 2"),
        card("size-huge", keys::PREPROCESSING, Some(&pre(1, 200_000, "")), "size 200000"),
        card("std-zero", keys::PREPROCESSING, Some(&pre(1, 28, r#","mean":[0.5],"std":[0]"#)), "std 0"),
        card("mean-length", keys::PREPROCESSING, Some(&pre(1, 28, r#","mean":[0.5,0.5,0.5],"std":[1,1,1]"#)), "3 values for 1 channel"),
        card("resize-unknown", keys::PREPROCESSING, Some(r#"{"channels":1,"size":28,"resize":"lanczos","scale":1}"#), "unknown filter"),
        card("preprocessing-garbage", keys::PREPROCESSING, Some("{not json"), "unreadable"),
        card("preprocessing-missing", keys::PREPROCESSING, None, "preprocessing: missing"),
        card("format-99", keys::FORMAT, Some("99"), "card format 99"),
        card("few-classes", keys::CLASSES, Some(r#"["a","b","c"]"#), "3 class names for 10 logits"),
        card("test-acc-word", keys::TEST_ACC, Some("high"), "not a number"),
        // Flags out of range, and usage.
        with("top-k 0", m(&["--top-k", "0", &good]), 2, &["--top-k", "at least 1"]),
        // A flag the mode would ignore is refused, never dropped silently.
        with("top-k with features", m(&["--top-k", "3", "--features", &good]), 2, &["--top-k", "--features"]),
        with("decode threads with bench", m(&["--bench", "--decode-threads", "2"]), 2, &["--decode-threads", "--bench"]),
        with("batch-size 0", m(&["--batch-size", "0", &good]), 2, &["--batch-size", "at least 1"]),
        with("threads 0", m(&["--threads", "0", &good]), 2, &["--threads", "at least 1"]),
        with("threads word", m(&["--threads", "many", &good]), 2, &["--threads", "whole number"]),
        with("threads beyond the cores", m(&["--threads", "100000", &good]), 2, &["--threads", "core(s)"]),
        with("batch beyond usize", m(&["--batch-size", "18446744073709551615", &good]), 2, &["--batch-size", "at most 4096"]),
        with("batch of a billion", m(&["--batch-size", "1000000000", &good]), 2, &["--batch-size", "2.5 GB"]),
        with("bench batch of a billion", m(&["--bench", "--batch-size", "1,1000000000"]), 2, &["--batch-size", "at most 4096"]),
        with(
            "device gpu",
            vec!["--model".into(), model.clone(), "--device".into(), "gpu".into(), good.clone()],
            2,
            &["--device", "cuda:N"],
        ),
        with(
            "device cuda here",
            vec!["--model".into(), model.clone(), "--device".into(), "cuda".into(), good.clone()],
            1,
            &["cuda:0", "CUDA"],
        ),
        with("no model", vec![good.clone()], 2, &["--backbone NAME or --model FILE"]),
        with("no images", m(&[]), 2, &["no images given"]),
        with("npy without -o", m(&["--features", "--format", "npy", &good]), 2, &["--format npy needs -o"]),
        with("-o without --features", m(&["-o", &s(&d.join("out.jsonl")), &good]), 2, &["apply to --features"]),
        with("npy without --features", m(&["--format", "npy", &good]), 2, &["apply to --features"]),
        with("eval with images too", m(&["--eval", &s(d), &good]), 2, &["give no image arguments"]),
        with("backbone path", vec!["--backbone".into(), "../lenet".into(), good.clone()], 2, &["no paths"]),
        with(
            "backbone unknown",
            vec!["--backbone".into(), "vgg".into(), "--model-dir".into(), s(d), good.clone()],
            1,
            &["vgg.onnx", "no such backbone"],
        ),
        with("eval missing data", m(&["--eval", &s(&d.join("no-data"))]), 1, &["t10k-images-idx3-ubyte.gz", "missing"]),
        with(
            "eval with no test images",
            m(&["--eval", &{
                let dir = d.join("empty-set");
                for class in ["T-shirt/top", "Trouser"] {
                    std::fs::create_dir_all(dir.join("test").join(class)).unwrap();
                }
                s(&dir)
            }]),
            1,
            &["empty-set/test", "no test examples"],
        ),
        with(
            "eval with class names that leave the data",
            vec![
                "--model".into(),
                with_card(d, "escape", keys::CLASSES, Some(&escaping)),
                "--device".into(),
                "cpu".into(),
                "--eval".into(),
                {
                    let dir = d.join("escape-set");
                    std::fs::create_dir_all(dir.join("test/shirt")).unwrap();
                    png(&dir.join("test/shirt/a.png"));
                    // What the card's names point at, outside the data: never read.
                    std::fs::create_dir_all(d.join("outside")).unwrap();
                    png(&d.join("outside/b.png"));
                    s(&dir)
                },
            ],
            1,
            &["escape.onnx", "\"../../outside\" leads out of the test folder"],
        ),
        with("eval without a folder", vec!["--model".into(), model.clone(), "--eval".into()], 2, &["--eval"]),
    ];
    run_corpus(cases, infer_cmd, Duration::from_secs(60));
}

#[test]
fn symlink_cycles_end_and_each_image_is_classified_once() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("photos");
    std::fs::create_dir_all(d.join("a/b")).unwrap();
    png(&d.join("a/one.png"));
    std::os::unix::fs::symlink(&d, d.join("a/b/loop1")).unwrap();
    std::os::unix::fs::symlink(d.join("a"), d.join("a/b/loop2")).unwrap();
    let o = run_limited(
        infer_cmd().args(["--model", lenet_onnx().to_str().unwrap(), "--device", "cpu", "--json", d.to_str().unwrap()]),
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1, "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stderr).contains("classified 1 image in"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_failed_run_keeps_the_existing_output_and_leaves_no_temporary() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("features.jsonl");
    std::fs::write(&out, b"precious\n").unwrap();
    // The model is refused after -o is named: nothing may touch the old file.
    let bad = tmp.path().join("bad.onnx");
    std::fs::write(&bad, b"not onnx").unwrap();
    let img = tmp.path().join("i.png");
    png(&img);
    let features_to = |model: &Path| {
        let args = [model, Path::new("--device"), Path::new("cpu"), Path::new("--features"), Path::new("-o"), &out, &img];
        run_limited(infer_cmd().arg("--model").args(args), Duration::from_secs(60))
    };
    assert_eq!(features_to(&bad).status.code(), Some(1));
    assert_eq!(std::fs::read(&out).unwrap(), b"precious\n");
    let names: Vec<String> =
        std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    // A successful run replaces it whole.
    let o = features_to(&lenet_onnx());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(v["features"].as_array().unwrap().len(), 84);

    // No readable image: an .npy output is left as it was, not emptied.
    let npy = tmp.path().join("f.npy");
    std::fs::write(&npy, b"precious").unwrap();
    let text = tmp.path().join("t.png");
    std::fs::write(&text, b"not an image").unwrap();
    let npy_to = |out: &Path, image: &Path| {
        let args = [Path::new("--device"), Path::new("cpu"), Path::new("--features"), Path::new("--format"), Path::new("npy")];
        run_limited(infer_cmd().arg("--model").arg(lenet_onnx()).args(args).arg("-o").args([out, image]), Duration::from_secs(60))
    };
    let o = npy_to(&npy, &text);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("f.npy is left as it was"), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&npy).unwrap(), b"precious");
    // A FIFO, a device or a missing folder at -o is refused before any image is read.
    let fifo = tmp.path().join("out.fifo");
    mkfifo(&fifo);
    for (at, says) in
        [(fifo.clone(), "FIFO"), (PathBuf::from("/dev/null"), "not a regular file"), (tmp.path().join("no/dir/f.npy"), "does not exist")]
    {
        let o = npy_to(&at, &img);
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.code() == Some(1) && e.contains("-o") && e.contains(says), "{}: {e}", at.display());
    }
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&std::fs::symlink_metadata(&fifo).unwrap().file_type()));
}

#[test]
fn names_that_are_not_utf8_or_hold_a_newline_are_written_faithfully() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("imgs");
    std::fs::create_dir(&dir).unwrap();
    let latin1 = dir.join(std::ffi::OsStr::from_bytes(b"caf\xe9.png"));
    let newline = dir.join("two\nlines.png");
    png(&latin1);
    png(&newline);
    let d = dir.to_str().unwrap().replace('\\', "\\\\").replace('"', "\\\"");
    // Sorted by bytes: "caf\xe9.png" before "two\nlines.png".
    let want = [format!(r#""{d}/caf\udce9.png""#), format!(r#""{d}/two\nlines.png""#)];
    let run = |extra: &[&str]| {
        let o = run_limited(
            infer_cmd().arg("--model").arg(lenet_onnx()).args(["--device", "cpu"]).args(extra).arg(&dir),
            Duration::from_secs(60),
        );
        assert!(o.status.success(), "{extra:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    for extra in [&["--json"][..], &["--features"][..]] {
        let out = run(extra);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{extra:?}: one line per file:\n{out}");
        for (line, path) in lines.iter().zip(&want) {
            assert!(line.starts_with(&format!("{{\"path\":{path},")), "{extra:?}: {line}");
        }
    }
    let npy = tmp.path().join("f.npy");
    let out = run(&["--features", "--format", "npy", "-o", npy.to_str().unwrap()]);
    assert_eq!(out.lines().collect::<Vec<_>>(), want.iter().map(String::as_str).collect::<Vec<_>>(), "the rows' names, in row order");
}

#[test]
fn a_file_of_zeros_is_refused_at_its_first_byte_not_its_last() {
    // 8 GB of zeros, sparse (no disk used): field number 0 is not protobuf.
    let tmp = tempfile::tempdir().unwrap();
    let zeros = tmp.path().join("z.onnx");
    std::fs::File::create(&zeros).unwrap().set_len(8 << 30).unwrap();
    let img = tmp.path().join("a.png");
    png(&img);
    let o = run_limited(infer_cmd().arg("--model").arg(&zeros).args(["--device", "cpu"]).arg(&img), Duration::from_secs(5));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.code() == Some(1) && e.contains("z.onnx") && e.contains("field number 0 at byte 0"), "{e}");
}
