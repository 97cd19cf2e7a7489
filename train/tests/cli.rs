//! cnnzoo-train as a user meets it: flags, exit codes, messages.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

use std::process::{Command, Output};

fn train(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cnnzoo-train")).args(args).env_remove("CNNZOO_DATA").output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn unknown_arch_is_a_usage_error_listing_the_known_ones() {
    let o = train(&["--arch", "vgg16", "--summary"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("vgg16") && e.contains("lenet, alexnet, nin, googlenet, resnet18, densenet"), "{e}");
}

#[test]
fn summary_json_has_the_documented_fields() {
    let o = train(&["--arch", "googlenet", "--summary", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["arch"], "googlenet");
    assert_eq!(v["input"], serde_json::json!([1, 96, 96]));
    assert_eq!(v["parameters"], 5_977_530);
    assert_eq!(v["feature_dim"], 1024);
    // Inception-v1 is ~1.5 GMACs at 224 px; at 96 px that is x(96/224)^2, x2 for FLOPs: ~0.55 G.
    let flops = v["flops"].as_u64().unwrap();
    assert!((500_000_000..600_000_000).contains(&flops), "{flops}");
    let text = train(&["--arch", "lenet", "--summary"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("fc2") && text.contains("<- features") && text.contains("total parameters 61706"), "{text}");
}

#[test]
fn too_small_a_size_names_the_smallest_that_works() {
    let o = train(&["--arch", "alexnet", "--size", "32", "--summary"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    // At 64 px the last 3x3 max pool would get a 2x2 map.
    assert!(e.contains("input size 32 is too small for alexnet") && e.contains("smallest size that works is 65"), "{e}");
}

#[test]
fn cuda_without_a_gpu_is_refused() {
    if tch::Cuda::is_available() {
        return; // nothing to refuse on a GPU machine
    }
    for device in ["cuda", "cuda:1"] {
        let o = train(&["--arch", "lenet", "--device", device, "--epochs", "0"]);
        assert_eq!(o.status.code(), Some(1));
        let e = stderr(&o);
        assert!(e.contains(&format!("--device {device}")) && e.contains("CUDA is not available"), "{e}");
    }
    let o = train(&["--arch", "lenet", "--device", "gpu0", "--epochs", "0"]);
    assert!(stderr(&o).contains("expected auto, cpu, cuda or cuda:N"));
}

#[test]
fn missing_data_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let o = train(&[
        "--arch",
        "lenet",
        "--device",
        "cpu",
        "--data",
        dir.path().to_str().unwrap(),
        "--out",
        dir.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("train-images-idx3-ubyte.gz") && e.contains("missing") && e.contains("--download"), "{e}");
    assert!(!dir.path().join("x.ot").exists());
}

/// `NEEDED` entries of an ELF binary, by `readelf -d`.
fn needed(binary: &str) -> Vec<String> {
    let o = Command::new("readelf").args(["-d", binary]).output().expect("readelf (binutils) is installed");
    assert!(o.status.success(), "{}", stderr(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1).map(|s| s.trim_end_matches(']').to_string()))
        .collect()
}

#[test]
fn libtorch_cuda_is_linked_whenever_libtorch_has_it() {
    let dir = std::path::PathBuf::from(env!("CNNZOO_LIBTORCH_LIB"));
    let libs = needed(env!("CARGO_BIN_EXE_cnnzoo-train"));
    assert!(libs.iter().any(|l| l == "libtorch_cpu.so"), "{libs:?}");
    // The PyPI torch is a CUDA build: without the link, libtorch reports no CUDA on a GPU machine.
    assert_eq!(libs.iter().any(|l| l == "libtorch_cuda.so"), dir.join("libtorch_cuda.so").is_file(), "{libs:?} ({})", dir.display());
    let o = train(&["--version"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with(&format!("cnnzoo-train {} (git ", env!("CARGO_PKG_VERSION"))), "{out}");
    assert!(out.contains(&format!("in {}", dir.display())), "{out}");
    if dir.join("libtorch_cuda.so").is_file() {
        assert!(out.contains("libtorch_cuda.so: linked and loaded"), "{out}");
    }
    let cuda = out.lines().find_map(|l| l.strip_prefix("CUDA: ")).unwrap_or_else(|| panic!("{out}"));
    assert!(cuda.starts_with("not available") || cuda.contains("cuda:0"), "{out}");
}

#[test]
fn list_json_is_one_object_per_network() {
    let o = train(&["--list", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let names: Vec<&str> = lines.iter().map(|v| v["arch"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "lenet",
            "alexnet",
            "nin",
            "googlenet",
            "resnet18",
            "densenet",
            "tv_alexnet",
            "tv_googlenet",
            "tv_resnet18",
            "tv_resnet34",
            "tv_resnet50",
            "tv_densenet121"
        ]
    );
    assert_eq!((lines[0]["layout"].as_str(), lines[8]["layout"].as_str()), (Some("d2l.ai"), Some("torchvision")));
    assert_eq!((lines[4]["size"].as_u64(), lines[4]["batch_size"].as_u64(), lines[4]["lr"].as_f64()), (Some(96), Some(256), Some(0.1)));
}

#[test]
fn completions_are_printed_for_a_shell() {
    let o = train(&["--completions", "bash"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let script = String::from_utf8_lossy(&o.stdout);
    assert!(script.contains("complete -F") && script.contains("--allow-one-class") && script.contains("--resume"));
}

#[test]
fn bench_runs_a_torchvision_layout_at_its_own_channels() {
    // ImageNet's setting: 3 channels, 1000 classes (a 1-channel batch once
    // reached libtorch and panicked with C++ frames).
    let o = train(&["--arch", "tv_resnet18", "--bench", "1", "--batch-size", "2", "--size", "32", "--device", "cpu", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["arch"], "tv_resnet18");
    assert!(v["examples_per_sec"].as_f64().unwrap() > 0.0, "{v}");
}

#[test]
fn auto_precision_is_measured_once_per_machine_and_bench_shows_every_candidate() {
    let cache = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_cnnzoo-train"))
            .args(args)
            .env("CNNZOO_CACHE", cache.path())
            .env_remove("CNNZOO_DATA")
            .output()
            .unwrap()
    };
    let bench = ["--arch", "lenet", "--bench", "1", "--batch-size", "8", "--device", "cpu", "--json"];
    let first = run(&bench);
    assert!(first.status.success(), "{}", stderr(&first));
    let v: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let candidates = v["candidates"].as_array().unwrap();
    // fp32 and bf16 (where the CPU has bf16 instructions), contiguous and channels-last.
    assert!(candidates.len() == 2 || candidates.len() == 4, "{v}");
    assert!(candidates.iter().any(|c| c["precision"] == "fp32" && c["channels_last"] == false), "{v}");
    let auto = v["auto"].as_str().unwrap();
    assert!(auto.contains("measured") && !auto.contains("earlier"), "{auto}");
    assert!(cache.path().join("autotune.json").is_file());
    // The decision is remembered: the second run does not measure again.
    let second: serde_json::Value = serde_json::from_slice(&run(&bench).stdout).unwrap();
    assert!(second["auto"].as_str().unwrap().contains("measured earlier"), "{second}");
    assert_eq!((&second["precision"], &second["channels_last"]), (&v["precision"], &v["channels_last"]));
    // Flags given explicitly are never second-guessed.
    let mut asked = bench.to_vec();
    asked.extend(["--precision", "fp32", "--memory-format", "contiguous"]);
    let o: serde_json::Value = serde_json::from_slice(&run(&asked).stdout).unwrap();
    assert_eq!(
        (o["candidates"].as_array().unwrap().len(), o["precision"].as_str(), o["channels_last"].as_bool()),
        (1, Some("fp32"), Some(false))
    );
    assert!(o["auto"].as_str().unwrap().ends_with("as asked"), "{o}");
}
