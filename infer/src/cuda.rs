//! What ONNX Runtime's CUDA execution provider needs before it can start.
//!
//! `libonnxruntime_providers_cuda.so` (from the `onnxruntime-gpu` wheel) has no
//! RUNPATH. It needs CUDA 13 (cudart, cuBLAS, cuBLASLt, cuRAND, and cuFFT and
//! NVRTC for some kernels) and cuDNN 9, which pip installs under
//! `site-packages/nvidia/` (they arrive with torch), and the NVIDIA driver,
//! `libcuda.so.1`, which only a GPU machine has. As onnxruntime's Python
//! `preload_dlls()` does, the libraries are loaded by absolute path before the
//! provider is registered: the dynamic loader then resolves the provider's
//! needs, by soname, to the copies already loaded, without LD_LIBRARY_PATH.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The CUDA 13 libraries, in dependency order, in `nvidia/cu13/lib`.
const CUDA_LIBS: [&str; 6] =
    ["libcudart.so.13", "libcublasLt.so.13", "libcublas.so.13", "libcurand.so.10", "libcufft.so.12", "libnvrtc.so.13"];
/// cuDNN 9's front library and the parts it opens by name, in `nvidia/cudnn/lib`.
const CUDNN_LIBS: [&str; 8] = [
    "libcudnn_graph.so.9",
    "libcudnn_engines_precompiled.so.9",
    "libcudnn_engines_runtime_compiled.so.9",
    "libcudnn_heuristic.so.9",
    "libcudnn_ops.so.9",
    "libcudnn_cnn.so.9",
    "libcudnn_adv.so.9",
    "libcudnn.so.9",
];
/// The driver's user-space library; it comes with the NVIDIA driver, never with pip.
pub const DRIVER: &str = "libcuda.so.1";

/// The outcome of preloading: which libraries were loaded from where, and
/// which were not found (left to the system's loader path).
#[derive(Debug, Default)]
pub struct CudaLibraries {
    pub loaded: Vec<PathBuf>,
    pub missing: Vec<String>,
    pub searched: Vec<PathBuf>,
}

impl CudaLibraries {
    /// One line for messages and `--version`.
    pub fn describe(&self) -> String {
        let dirs: Vec<String> = {
            let mut d: Vec<String> = self.loaded.iter().filter_map(|p| p.parent()).map(|p| p.display().to_string()).collect();
            d.dedup();
            d
        };
        match (self.loaded.len(), self.missing.is_empty()) {
            (0, _) => format!("no CUDA 13 or cuDNN 9 libraries found under nvidia/ in {}", list(&self.searched)),
            (n, true) => format!("{n} CUDA 13 and cuDNN 9 libraries loaded from {}", dirs.join(", ")),
            (n, false) => format!("{n} CUDA/cuDNN libraries loaded from {}; not found: {}", dirs.join(", "), self.missing.join(", ")),
        }
    }
}

fn list(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "(no site-packages found)".into();
    }
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// Whether the NVIDIA driver library can be loaded on this machine.
pub fn driver_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    *PRESENT.get_or_init(|| ort::util::preload_dylib(DRIVER).is_ok())
}

/// The `site-packages` folders that may hold `nvidia/`: the one ONNX Runtime was
/// loaded from (`site-packages/onnxruntime/capi/libonnxruntime.so.*`), then the
/// set-up's venv.
fn site_packages(ort_library: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = ort_library.ancestors().nth(3).map(Path::to_path_buf).into_iter().collect();
    let venv_lib = cnnzoo_models::fsio::cache_dir().join("venv/lib");
    for entry in std::fs::read_dir(&venv_lib).into_iter().flatten().flatten() {
        dirs.push(entry.path().join("site-packages"));
    }
    dirs.retain(|d| d.join("nvidia").is_dir());
    dirs.dedup();
    dirs
}

/// Loads CUDA and cuDNN by absolute path, once per process.
pub fn preload(ort_library: &Path) -> &'static CudaLibraries {
    static LIBS: OnceLock<CudaLibraries> = OnceLock::new();
    LIBS.get_or_init(|| {
        let searched = site_packages(ort_library);
        let find = |sub: &str, name: &str| searched.iter().map(|d| d.join("nvidia").join(sub).join("lib").join(name)).find(|p| p.is_file());
        let mut pending: Vec<(String, Option<PathBuf>)> = CUDA_LIBS
            .iter()
            .map(|n| (n.to_string(), find("cu13", n)))
            .chain(CUDNN_LIBS.iter().map(|n| (n.to_string(), find("cudnn", n))))
            .collect();
        let mut out = CudaLibraries { searched, ..Default::default() };
        // A library whose dependency is not loaded yet fails; a few passes settle any order.
        for _ in 0..3 {
            pending.retain(|(_, path)| match path {
                Some(p) if ort::util::preload_dylib(p).is_ok() => {
                    out.loaded.push(p.clone());
                    false
                }
                _ => true,
            });
        }
        out.missing = pending.into_iter().map(|(name, _)| name).collect();
        out
    })
}

/// Turns a failed CUDA registration into a message that names what is missing.
pub fn explain(error: &str, libs: &CudaLibraries) -> String {
    if error.contains(DRIVER) {
        return format!(
            "the NVIDIA driver ({DRIVER}) is not installed on this machine, so there is no GPU to run on ({})",
            libs.describe()
        );
    }
    format!("{} ({})", error.lines().next().unwrap_or(error), libs.describe())
}
