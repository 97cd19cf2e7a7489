//! cnnzoo-infer as a user meets it, on real Fashion-MNIST: `--eval` equals the
//! library's evaluation, PNG files equal the IDX path, every image mode and
//! size is accepted, bad files are reported one by one, names are validated,
//! and a CUDA request is used or refused, never replaced.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

mod fixture;

use std::path::{Path, PathBuf};

use cnnzoo_infer::{evaluate, Backbone, BackboneOptions, Device};
use fixture::{fashion_mnist, infer, infer_cmd, lenet, lenet_onnx, stderr};
use serde_json::Value;

fn eval_json(args: &[&str]) -> Value {
    let o = infer(args);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn cpu_backbone() -> Backbone {
    Backbone::open(lenet_onnx(), &BackboneOptions { device: Device::Cpu, ..Default::default() }).unwrap()
}

#[test]
fn eval_prints_the_library_evaluation() {
    let data = fashion_mnist();
    let v = eval_json(&["--model", lenet_onnx().to_str().unwrap(), "--eval", data.to_str().unwrap(), "--json", "--device", "cpu"]);
    let lib = evaluate(&cpu_backbone(), &data).unwrap();
    assert_eq!(v["images"], 10_000);
    assert_eq!(v["accuracy"].as_f64().unwrap(), lib.accuracy);
    let predictions: Vec<usize> = serde_json::from_value(v["predictions"].clone()).unwrap();
    assert_eq!(predictions, lib.predictions);
    let confusion: Vec<Vec<usize>> = serde_json::from_value(v["confusion"].clone()).unwrap();
    assert_eq!(confusion, lib.confusion);
    assert_eq!(confusion.iter().flatten().sum::<usize>(), 10_000);
    assert!(v["provider"].as_str().unwrap().contains("CPUExecutionProvider"));
    // The text form says the same.
    let o = infer(&["--model", lenet_onnx().to_str().unwrap(), "--eval", data.to_str().unwrap(), "--device", "cpu"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with(&format!("accuracy {:.4} ({}/10000)", lib.accuracy, lib.correct)), "{text}");
    // The matrix: a header of class numbers, then one labelled row per class.
    let rows: Vec<&str> = text.lines().skip(2).collect();
    assert_eq!(rows.len(), 11, "{text}");
    assert!(rows[0].split_whitespace().eq((0..10).map(|k| k.to_string())), "{text}");
    assert!(rows[10].trim_start().starts_with("9 Ankle boot"), "{text}");
}

/// Writes the first `n` test images of Fashion-MNIST as PNG files.
fn test_pngs(dir: &Path, n: usize) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    let split = cnnzoo_infer::read_fashion_mnist(&fashion_mnist(), "t10k", 10).unwrap();
    (0..n)
        .map(|i| {
            let p = dir.join(format!("{i:05}.png"));
            split.image(i).unwrap().save(&p).unwrap();
            p
        })
        .collect()
}

#[test]
fn png_files_classify_and_embed_as_the_idx_path_does() {
    let dir = lenet().join("pngs");
    test_pngs(&dir, 10_000);
    let expected = evaluate(&cpu_backbone(), &fashion_mnist()).unwrap().predictions;
    let o = infer(&["--model", lenet_onnx().to_str().unwrap(), dir.to_str().unwrap(), "--json", "--top-k", "1", "--device", "cpu"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 10_000);
    let got: Vec<usize> = lines.iter().map(|l| l["top"][0]["class"].as_u64().unwrap() as usize).collect();
    assert_eq!(got, expected);
    let e = stderr(&o);
    assert!(e.contains("classified 10000 images") && e.contains("0 failed"), "{e}");

    // Feature vectors, bit for bit: the CLI on PNG files and the library on the IDX pixels.
    let o = infer(&[
        "--model",
        lenet_onnx().to_str().unwrap(),
        "--features",
        "--device",
        "cpu",
        dir.join("00000.png").to_str().unwrap(),
        dir.join("00001.png").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let split = cnnzoo_infer::read_fashion_mnist(&fashion_mnist(), "t10k", 10).unwrap();
    let images: Vec<image::DynamicImage> = (0..2).map(|i| split.image(i).unwrap().into()).collect();
    let lib = cpu_backbone().embed(&images).unwrap();
    for (line, row) in String::from_utf8_lossy(&o.stdout).lines().zip(lib.outer_iter()) {
        let v: Value = serde_json::from_str(line).unwrap();
        let cli: Vec<f32> = serde_json::from_value(v["features"].clone()).unwrap();
        assert_eq!(cli, row.to_vec());
    }
}

/// One image of each mode, at sizes from 1x1 to 4000x3000.
fn zoo_of_images(dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![];
    let mut add = |name: &str, save: &dyn Fn(&Path)| {
        let p = dir.join(name);
        save(&p);
        files.push(p);
    };
    add("rgb.png", &|p| image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90])).save(p).unwrap());
    add("rgba.png", &|p| image::RgbaImage::from_fn(30, 30, |x, _| image::Rgba([255, 255, 255, (x * 8) as u8])).save(p).unwrap());
    add("gray16.png", &|p| {
        image::ImageBuffer::<image::Luma<u16>, _>::from_fn(28, 28, |x, y| image::Luma([(x * y * 80) as u16])).save(p).unwrap()
    });
    add("photo.jpg", &|p| image::RgbImage::from_fn(4000, 3000, |x, y| image::Rgb([(x / 16) as u8, (y / 12) as u8, 128])).save(p).unwrap());
    add("dot.png", &|p| image::GrayImage::from_pixel(1, 1, image::Luma([200])).save(p).unwrap());
    add("palette.png", &|p| {
        let f = std::fs::File::create(p).unwrap();
        let mut enc = png::Encoder::new(f, 16, 16);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_palette(vec![0, 0, 0, 255, 0, 0, 0, 255, 0, 255, 255, 255]);
        let data: Vec<u8> = (0..256).map(|i| (i % 4) as u8).collect();
        enc.write_header().unwrap().write_image_data(&data).unwrap();
    });
    files
}

#[test]
fn every_image_mode_and_size_is_accepted_and_bad_files_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = zoo_of_images(dir.path());
    let good = files.len();
    let bad: [(&str, Vec<u8>); 5] = [
        ("corrupt.png", {
            let mut b = std::fs::read(&files[0]).unwrap();
            b[40..80].fill(0xAB);
            b
        }),
        ("truncated.png", std::fs::read(&files[0]).unwrap()[..60].to_vec()),
        ("empty.png", vec![]),
        ("notes.txt", b"these are not pixels".to_vec()),
        ("huge.bmp", fixture::huge_bmp()),
    ];
    for (name, bytes) in &bad {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        files.push(p);
    }
    let onnx = lenet_onnx();
    let mut args: Vec<&str> = vec!["--model", onnx.to_str().unwrap(), "--json", "--device", "cpu"];
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    let o = infer(&args);
    assert_eq!(o.status.code(), Some(1));
    // One JSON record per file, in order: the classes, or the error.
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(stdout.lines().count(), files.len(), "{stdout}");
    for (k, (line, file)) in stdout.lines().zip(&files).enumerate() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["path"].as_str().unwrap(), file.to_str().unwrap());
        if k >= good {
            assert!(v["error"].as_str().unwrap().contains(file.file_name().unwrap().to_str().unwrap()), "{line}");
            continue;
        }
        let p: f64 = v["top"].as_array().unwrap().iter().map(|t| t["probability"].as_f64().unwrap()).sum();
        assert!(p > 0.0 && p <= 1.0 + 1e-6, "{line}");
    }
    let e = stderr(&o);
    for (name, _) in &bad {
        let line = e.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("no error line for {name}: {e}"));
        assert!(line.starts_with("error: "), "{line}");
    }
    assert!(e.contains("5 failed") && e.contains("5 file(s) could not be read"), "{e}");
    // The enormous header is refused by the limits, before any allocation.
    assert!(e.lines().any(|l| l.contains("huge.bmp") && l.to_lowercase().contains("limit")), "{e}");
}

#[test]
fn backbone_names_are_validated_and_resolved_in_the_model_dir() {
    let dir = lenet();
    for bad in ["../lenet", "/etc/passwd", ".hidden", "a/b", ""] {
        let o = infer(&["--backbone", bad, "--model-dir", dir.to_str().unwrap(), "x.png"]);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
    }
    let o = infer(&["--backbone", "resnet", "--model-dir", dir.to_str().unwrap(), "x.png"]);
    let e = stderr(&o);
    assert!(e.contains("resnet.onnx") && e.contains("no such backbone") && e.contains("lenet"), "{e}");
    let img = dir.join("one.png");
    image::GrayImage::from_pixel(28, 28, image::Luma([30])).save(&img).unwrap();
    let o = infer_cmd()
        .args(["--backbone", "lenet", img.to_str().unwrap(), "--features", "--device", "cpu"])
        .env("CNNZOO_MODEL_DIR", dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap();
    let features: Vec<f32> = serde_json::from_value(v["features"].clone()).unwrap();
    let lib = cpu_backbone().embed(&[cnnzoo_infer::open_image(&img).unwrap()]).unwrap();
    assert_eq!(features, lib.row(0).to_vec());
}

#[test]
fn features_as_npy_read_back_as_numpy_defines_the_format() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = test_pngs(dir.path(), 3);
    let npy = dir.path().join("f.npy");
    let onnx = lenet_onnx();
    let mut args = vec!["--model", onnx.to_str().unwrap(), "--features", "--format", "npy", "-o", npy.to_str().unwrap(), "--device", "cpu"];
    args.extend(imgs.iter().map(|p| p.to_str().unwrap()));
    let o = infer(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&npy).unwrap();
    // Magic, version 1.0, a little-endian header length, a header padded to 64 bytes, then the data.
    assert!(bytes.starts_with(b"\x93NUMPY\x01\x00"));
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + header_len) % 64, 0);
    let header = String::from_utf8_lossy(&bytes[10..10 + header_len]);
    assert!(
        header.contains("'descr': '<f4'") && header.contains("'fortran_order': False") && header.contains("'shape': (3, 84)"),
        "{header}"
    );
    let data: Vec<f32> = bytes[10 + header_len..].chunks(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let images: Vec<_> = imgs.iter().map(|p| cnnzoo_infer::open_image(p).unwrap()).collect();
    let lib = cpu_backbone().embed(&images).unwrap();
    assert_eq!(data, lib.iter().copied().collect::<Vec<f32>>());
}

#[test]
fn cuda_is_refused_where_onnx_runtime_has_none() {
    let onnx = lenet_onnx();
    let cuda = Backbone::open(&onnx, &BackboneOptions { device: Device::Cuda(0), ..Default::default() });
    if let Ok(b) = cuda {
        assert_eq!(b.provider(), cnnzoo_infer::Provider::Cuda(0));
        return; // a GPU machine with onnxruntime-gpu: nothing to refuse
    }
    let e = cuda.unwrap_err().to_string();
    assert!(e.contains("cuda:0") && e.contains("CUDA"), "{e}");
    let o = infer(&["--model", onnx.to_str().unwrap(), "--device", "cuda", onnx.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("CUDA"), "{}", stderr(&o));
    // auto falls back to the CPU (ONNX Runtime's provider, or OpenVINO's in
    // fp32 where it is installed and measured faster) and says so.
    let b = Backbone::open(&onnx, &BackboneOptions::default()).unwrap();
    assert!(matches!(b.provider(), cnnzoo_infer::Provider::Cpu | cnnzoo_infer::Provider::OpenVino { bf16: false }), "{}", b.provider());
}

#[test]
fn version_names_the_runtime_and_its_providers() {
    let o = infer(&["--version"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with(&format!("cnnzoo-infer {} (git ", env!("CARGO_PKG_VERSION"))), "{out}");
    let lib = cnnzoo_infer::library_for(Device::Auto).unwrap();
    assert!(out.contains(&format!("ONNX Runtime {}", lib.display())), "{out}");
    let providers = out.lines().find_map(|l| l.strip_prefix("execution providers: ")).unwrap_or_else(|| panic!("{out}"));
    assert!(providers.split(", ").any(|p| p == "CPUExecutionProvider"), "{out}");
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let onnx = lenet_onnx();
    let data = fashion_mnist();
    let img = lenet().join("pipe.png");
    image::GrayImage::from_pixel(28, 28, image::Luma([60])).save(&img).unwrap();
    let runs: [&[&str]; 4] = [
        &["--model", onnx.to_str().unwrap(), "--eval", data.to_str().unwrap(), "--device", "cpu"],
        &["--model", onnx.to_str().unwrap(), "--eval", data.to_str().unwrap(), "--device", "cpu", "--json"],
        &["--model", onnx.to_str().unwrap(), "--device", "cpu", img.to_str().unwrap(), img.to_str().unwrap()],
        &["--version"],
    ];
    for args in runs {
        // The reader is gone before the first byte is written, as with `| head -0`.
        let mut child = infer_cmd().args(args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn a_model_without_a_card_is_described_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("foreign.onnx");
    fixture::write_lenet(&foreign, |card| card.clear());
    let img = test_pngs(dir.path(), 1).remove(0);
    let f = foreign.to_str().unwrap();
    let i = img.to_str().unwrap();

    // Without a card or flags: the error names the flags that describe one.
    let o = infer(&["--model", f, "--device", "cpu", i]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("foreign.onnx") && e.contains("no cnnzoo model card") && e.contains("--channels N --size N"), "{e}");

    // With them it classifies exactly as the carded model does, with the names of --classes.
    let classes = dir.path().join("classes.txt");
    std::fs::write(&classes, (0..10).map(|k| format!("class-{k}\n")).collect::<String>()).unwrap();
    let o =
        infer(&["--model", f, "--device", "cpu", "--channels", "1", "--size", "28", "--classes", classes.to_str().unwrap(), "--json", i]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got: Value = serde_json::from_slice(&o.stdout).unwrap();
    let o = infer(&["--model", lenet_onnx().to_str().unwrap(), "--device", "cpu", "--json", i]);
    let want: Value = serde_json::from_slice(&o.stdout).unwrap();
    for k in 0..5 {
        let (g, w) = (&got["top"][k], &want["top"][k]);
        assert_eq!(g["class"], w["class"]);
        assert_eq!(g["probability"], w["probability"]);
        assert_eq!(g["label"].as_str().unwrap(), format!("class-{}", w["class"]));
    }

    // An override that contradicts the graph's fixed input, or the logits, is refused by name.
    let o = infer(&["--model", lenet_onnx().to_str().unwrap(), "--device", "cpu", "--size", "32", i]);
    assert!(stderr(&o).contains("1 channel(s) at 32x32 pixels (height x width) but the model takes [1, 28, 28]"), "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(1));
    std::fs::write(&classes, "only\ntwo\n").unwrap();
    let o = infer(&["--model", f, "--device", "cpu", "--channels", "1", "--size", "28", "--classes", classes.to_str().unwrap(), i]);
    assert!(stderr(&o).contains("2 class names for 10 logits"), "{}", stderr(&o));
    // A mean for the wrong number of channels.
    let o = infer(&["--model", f, "--device", "cpu", "--channels", "1", "--size", "28", "--mean", "0.5,0.5", "--std", "1,1", i]);
    assert!(stderr(&o).contains("2 values for 1 channel"), "{}", stderr(&o));
}

#[test]
fn completions_cover_the_flags_for_each_shell() {
    for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef cnnzoo-infer"), ("fish", "complete -c cnnzoo-infer")] {
        let o = infer(&["--completions", shell]);
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let script = String::from_utf8_lossy(&o.stdout);
        assert!(script.contains(marker) && script.contains("top-k") && script.contains("channels"), "{shell}");
    }
    assert_eq!(infer(&["--completions", "tcsh"]).status.code(), Some(2));
}

#[test]
fn a_graph_onnx_runtime_cannot_load_fails_at_ready_and_on_the_command_line() {
    // The header (card, inputs, outputs) is whole, so opening succeeds while
    // ONNX Runtime loads the graph on its own thread; the failure comes from there.
    let mut model = cnnzoo_proto::decode_model(&std::fs::read(lenet_onnx()).unwrap()).unwrap();
    model.graph.as_mut().unwrap().node[0].op_type = "NoSuchOp".into();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("odd.onnx");
    std::fs::write(&path, cnnzoo_proto::encode_model(&model)).unwrap();
    let backbone = Backbone::open(&path, &BackboneOptions { device: Device::Cpu, ..Default::default() }).unwrap();
    // The file and the problem, then ONNX Runtime's own reason, kept as the source.
    let e = cnnzoo_cli::describe(&backbone.ready().unwrap_err());
    assert!(e.contains("odd.onnx: not a loadable ONNX model") && e.contains("NoSuchOp"), "{e}");
    let img = lenet().join("one.png");
    image::GrayImage::from_pixel(28, 28, image::Luma([9])).save(&img).unwrap();
    let o = infer(&["--model", path.to_str().unwrap(), "--device", "cpu", img.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.starts_with("error: ") && e.contains("odd.onnx: not a loadable ONNX model") && e.lines().count() == 1, "{e}");
}

#[test]
fn bench_reports_throughput_and_latency_percentiles_per_batch_size() {
    let model = lenet_onnx();
    let m = model.to_str().unwrap();
    let o = infer(&["--model", m, "--device", "cpu", "--bench", "--batch-size", "1,4", "--runs", "20", "--warmup", "2", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["provider"], "CPUExecutionProvider");
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.iter().map(|r| r["batch"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 4]);
    for r in results {
        let f = |k: &str| r[k].as_f64().unwrap();
        assert_eq!(r["runs"], 20);
        assert!(
            f("images_per_sec") > 0.0 && f("latency_ms_p50") <= f("latency_ms_p90") && f("latency_ms_p90") <= f("latency_ms_p99"),
            "{r}"
        );
    }
    let o = infer(&["--model", m, "--device", "cpu", "--bench", "--duration", "0.2"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && text.contains("p99 ms") && text.lines().count() == 3, "{text}");
    // Flags that mean nothing with --bench, or --bench's flags without it, are refused.
    for args in [
        vec!["--bench", "--features"],
        vec!["--bench", "--eval", "."],
        vec!["--bench", "img.png"],
        vec!["--runs", "5"],
        vec!["--batch-size", "1,4", "img.png"],
        vec!["--bench", "--runs", "5", "--duration", "1"],
    ] {
        let o = infer(&[&["--model", m, "--device", "cpu"], args.as_slice()].concat());
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn streams_run_requests_side_by_side_with_the_same_outputs() {
    let images = test_pngs(&lenet().join("streams"), 16);
    let one = cpu_backbone().embed(&images).unwrap();
    let two =
        Backbone::open(lenet_onnx(), &BackboneOptions { device: Device::Cpu, streams: 2, max_batch: 4, ..Default::default() }).unwrap();
    assert_eq!(two.streams(), 2);
    // Four threads share two sessions; each gets the features one session gives.
    std::thread::scope(|s| {
        let runs: Vec<_> = (0..4).map(|_| s.spawn(|| two.embed(&images).unwrap())).collect();
        for r in runs {
            let f = r.join().unwrap();
            assert!(f.iter().zip(one.iter()).all(|(a, b)| (a - b).abs() <= 1e-5 * (1.0 + b.abs())));
        }
    });
    // --bench sends --streams requests at once unless --concurrency says otherwise.
    let m = lenet_onnx();
    let m = m.to_str().unwrap();
    for (extra, concurrency) in [(vec![], 2), (vec!["--concurrency", "3"], 3)] {
        let args = [
            &["--model", m, "--device", "cpu", "--streams", "2", "--bench", "--batch-size", "2", "--runs", "12", "--json"],
            extra.as_slice(),
        ]
        .concat();
        let v = eval_json(&args);
        assert_eq!((v["streams"].as_u64(), v["results"][0]["concurrency"].as_u64()), (Some(2), Some(concurrency)), "{v}");
        assert_eq!(v["results"][0]["runs"], 12, "{v}");
    }
    let o = infer(&["--model", m, "--device", "cpu", "--streams", "2", "--bench", "--duration", "0.2"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && text.contains("2 streams, 2 requests in flight"), "{text}");
    for bad in [vec!["--streams", "0", "--bench"], vec!["--concurrency", "2", "x.png"], vec!["--bench", "--concurrency", "0"]] {
        let o = infer(&[&["--model", m, "--device", "cpu"], bad.as_slice()].concat());
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
    }
    if cnnzoo_infer::openvino_library().is_some() {
        let v =
            eval_json(&["--model", m, "--device", "openvino", "--precision", "fp32", "--streams", "2", "--bench", "--runs", "6", "--json"]);
        assert_eq!((v["streams"].as_u64(), v["results"][0]["runs"].as_u64()), (Some(2), Some(6)), "{v}");
    }
}

#[test]
fn a_model_that_carries_its_preprocessing_runs_like_the_plain_one() {
    let dir = tempfile::tempdir().unwrap();
    let files = zoo_of_images(dir.path());
    let plain = cnnzoo_export::inspect::decode(&std::fs::read(lenet_onnx()).unwrap(), "lenet.onnx").unwrap();
    let mut plain18 = plain.clone();
    plain18.opset_import[0].version = cnnzoo_export::embed::MIN_OPSET;
    let p = cpu_backbone().card().preprocessing.clone();
    let embedded = cnnzoo_export::embed::embed_preprocessing(&plain18, &p).unwrap();
    let onnx = dir.path().join("lenet-images.onnx");
    std::fs::write(&onnx, cnnzoo_proto::encode_model(&embedded)).unwrap();
    let run = |model: &Path, extra: &[&str]| {
        let mut args = vec!["--model", model.to_str().unwrap(), "--json", "--device", "cpu"];
        args.extend(extra);
        args.extend(files.iter().map(|p| p.to_str().unwrap()));
        let o = infer(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).collect::<Vec<_>>()
    };
    // Every mode and size, 1x1 to 4000x3000: the same classes and features.
    for (a, b) in run(&lenet_onnx(), &[]).iter().zip(run(&onnx, &[])) {
        assert_eq!(a["path"], b["path"]);
        assert_eq!(a["top"][0]["class"], b["top"][0]["class"], "{a} {b}");
        assert!((a["top"][0]["probability"].as_f64().unwrap() - b["top"][0]["probability"].as_f64().unwrap()).abs() < 1e-3, "{a} {b}");
    }
    for (a, b) in run(&lenet_onnx(), &["--features"]).iter().zip(run(&onnx, &["--features"])) {
        let (a, b): (Vec<f32>, Vec<f32>) =
            (serde_json::from_value(a["features"].clone()).unwrap(), serde_json::from_value(b["features"].clone()).unwrap());
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-3), "{a:?} {b:?}");
    }
    // The test set, and the model-only benchmark (fed pixels at the card's size).
    let data = fashion_mnist();
    let v = eval_json(&["--model", onnx.to_str().unwrap(), "--eval", data.to_str().unwrap(), "--json", "--device", "cpu"]);
    assert_eq!(v["accuracy"].as_f64().unwrap(), evaluate(&cpu_backbone(), &data).unwrap().accuracy);
    let v = eval_json(&[
        "--model",
        onnx.to_str().unwrap(),
        "--bench",
        "--batch-size",
        "1,4",
        "--runs",
        "3",
        "--warmup",
        "1",
        "--json",
        "--device",
        "cpu",
    ]);
    assert_eq!(v["results"].as_array().map(Vec::len), Some(2), "{v}");
}

#[test]
fn with_json_a_fatal_error_is_a_json_record_too() {
    let o = infer(&["--model", "/no/such/model.onnx", "x.png", "--json", "--device", "cpu"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let e = v["error"].as_str().unwrap();
    assert!(e.contains("/no/such/model.onnx") && stderr(&o).contains(e), "{e}");
    // Without --json, stdout stays empty.
    assert!(infer(&["--model", "/no/such/model.onnx", "x.png"]).stdout.is_empty());
}

#[test]
fn openvino_is_used_or_refused_in_one_line() {
    let onnx = lenet_onnx();
    let img = test_pngs(&lenet().join("openvino"), 1).remove(0);
    // Where the set-up has not installed it (an empty cache here), the request is refused.
    let empty = tempfile::tempdir().unwrap();
    let o = infer_cmd()
        .env("CNNZOO_CACHE", empty.path())
        .env_remove("ORT_DYLIB_PATH")
        .args(["--model", onnx.to_str().unwrap(), "--device", "openvino", img.to_str().unwrap()])
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("--device openvino") && e.contains("not installed") && e.lines().count() == 1, "{e}");
    // bf16 is OpenVINO's: asked of the CPU provider, it is a usage error, not ignored.
    let o = infer(&["--model", onnx.to_str().unwrap(), "--device", "cpu", "--precision", "bf16", img.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--precision bf16") && stderr(&o).contains("openvino"), "{}", stderr(&o));
    // Where it is installed, the run says it ran there.
    if cnnzoo_infer::openvino_library().is_some() {
        let o = infer(&["--model", onnx.to_str().unwrap(), "--device", "openvino", "--precision", "fp32", "--bench", "--runs", "2"]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success() && out.contains("on OpenVINOExecutionProvider (CPU, fp32)"), "{out}{}", stderr(&o));
    }
}
