//! ONNX Runtime's CUDA provider finds CUDA 13 and cuDNN 9 in the set-up's venv
//! without LD_LIBRARY_PATH. Run against the CUDA build of ONNX Runtime
//! (`onnxruntime-gpu`, fetched by scripts/test.sh into the cache, or the venv's
//! own on a GPU machine): on a machine with a driver it runs on CUDA; without
//! one, the only thing missing may be the driver, `libcuda.so.1`.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

mod fixture;

use std::path::PathBuf;

use fixture::{infer_cmd, lenet_onnx, stderr};

/// The CUDA build of ONNX Runtime: `$CNNZOO_ORT_GPU_LIB` (scripts/test.sh sets
/// it), else what the set-up fetched into its cache.
fn gpu_runtime() -> PathBuf {
    let cached = || {
        let mut found: Vec<PathBuf> = std::fs::read_dir(cnnzoo_models::fsio::cache_dir())
            .ok()?
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("ort-gpu-"))
            .flat_map(|e| std::fs::read_dir(e.path().join("onnxruntime/capi")).into_iter().flatten().flatten())
            .map(|e| e.path())
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("libonnxruntime.so.")))
            .collect();
        found.sort();
        found.pop()
    };
    let lib = std::env::var_os("CNNZOO_ORT_GPU_LIB").map(PathBuf::from).or_else(cached).unwrap_or_else(|| {
        panic!("no CUDA build of ONNX Runtime: run the tests with scripts/test.sh, which fetches onnxruntime-gpu's library into the cache")
    });
    assert!(lib.is_file(), "{} is missing: run scripts/test.sh to fetch it", lib.display());
    lib
}

#[test]
fn the_cuda_provider_lacks_nothing_but_a_driver() {
    let img = lenet_onnx().with_file_name("cuda-check.png");
    image::GrayImage::from_pixel(28, 28, image::Luma([90])).save(&img).unwrap();
    let lib = gpu_runtime();
    let run = |device: &str| {
        infer_cmd()
            .args(["--model", lenet_onnx().to_str().unwrap(), "--device", device, img.to_str().unwrap()])
            .env("ORT_DYLIB_PATH", &lib)
            .env_remove("LD_LIBRARY_PATH")
            .output()
            .unwrap()
    };
    let version = infer_cmd().arg("--version").env("ORT_DYLIB_PATH", &lib).output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    assert!(version.contains("CUDAExecutionProvider"), "{version}");

    let o = run("cuda");
    let e = stderr(&o);
    if o.status.success() {
        // A GPU machine: it ran on CUDA, and said so.
        assert!(e.contains("CUDAExecutionProvider (cuda:0)"), "{e}");
        return;
    }
    assert_eq!(o.status.code(), Some(1), "{e}");
    let line = e.lines().next().unwrap();
    assert_eq!(e.lines().count(), 1, "one line: {e}");
    assert!(line.contains("--device cuda:0") && line.contains("libcuda.so.1"), "{line}");
    // Every CUDA and cuDNN library was found; only the driver is absent.
    assert!(line.contains("14 CUDA 13 and cuDNN 9 libraries loaded from"), "{line}");
    for lib in ["libcublas", "libcudart", "libcurand", "libcudnn", "cannot open shared object"] {
        assert!(!line.contains(lib), "{lib} in: {line}");
    }
    assert!(version.contains("CUDA driver: libcuda.so.1 not found"), "{version}");

    // `auto` on a machine without a driver runs on the CPU.
    let o = run("auto");
    assert!(o.status.success() && stderr(&o).contains("on CPUExecutionProvider"), "{}", stderr(&o));
}
