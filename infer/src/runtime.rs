//! Loading ONNX Runtime (a shared library, loaded at run time) and choosing
//! its execution provider: a device asked for is used or refused, never
//! silently replaced.

use std::path::PathBuf;
use std::sync::OnceLock;

use cnnzoo_models::Device;
use ort::environment::Environment;
use ort::ep::{ExecutionProvider, CUDA};
use ort::session::builder::SessionBuilder;

use crate::InferError;

/// The execution provider a session actually runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Cpu,
    Cuda(usize),
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Provider::Cpu => write!(f, "CPUExecutionProvider"),
            Provider::Cuda(i) => write!(f, "CUDAExecutionProvider (cuda:{i})"),
        }
    }
}

/// The ONNX Runtime library to load: `$ORT_DYLIB_PATH`, else the one the
/// set-up installed (recorded at build time), else the set-up's cache.
pub fn library_path() -> Result<PathBuf, InferError> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        return Ok(PathBuf::from(p));
    }
    let mut tried = vec![];
    if let Some(p) = option_env!("CNNZOO_ORT_LIB_DEFAULT").map(PathBuf::from) {
        if p.is_file() {
            return Ok(p);
        }
        tried.push(p);
    }
    let site = cnnzoo_models::fsio::cache_dir().join("venv/lib");
    for entry in std::fs::read_dir(&site).into_iter().flatten().flatten() {
        let capi = entry.path().join("site-packages/onnxruntime/capi");
        for lib in std::fs::read_dir(&capi).into_iter().flatten().flatten() {
            if lib.file_name().to_string_lossy().starts_with("libonnxruntime.so.") {
                return Ok(lib.path());
            }
        }
        tried.push(capi);
    }
    let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
    Err(InferError::Runtime(format!(
        "ONNX Runtime not found (looked in {}); run scripts/test.sh once, or set ORT_DYLIB_PATH to libonnxruntime.so",
        if tried.is_empty() { site.display().to_string() } else { tried.join(", ") }
    )))
}

/// The process-wide ONNX Runtime environment, loaded once, and the library it came from.
fn loaded() -> Result<&'static (Environment, PathBuf), InferError> {
    static ENV: OnceLock<Result<(Environment, PathBuf), String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let path = library_path().map_err(|e| e.to_string())?;
        let env = ort::init_from(&path)
            .map_err(|e| format!("{}: cannot load ONNX Runtime: {e}", path.display()))?
            .with_name("cnnzoo")
            .build()
            .map_err(|e| format!("{}: cannot start ONNX Runtime: {e}", path.display()))?;
        Ok((env, path))
    })
    .as_ref()
    .map_err(|e| InferError::Runtime(e.clone()))
}

/// The process-wide ONNX Runtime environment.
pub fn environment() -> Result<&'static Environment, InferError> {
    Ok(&loaded()?.0)
}

/// What the loaded ONNX Runtime is and offers, for `--version` and diagnostics.
#[derive(Debug, Clone)]
pub struct RuntimeInfo {
    /// The shared library loaded.
    pub library: PathBuf,
    /// ONNX Runtime's build string (branch, commit).
    pub build: String,
    /// The execution providers compiled into it, e.g. `CUDAExecutionProvider`.
    pub providers: Vec<String>,
    /// Whether the NVIDIA driver loads (asked only when CUDA is compiled in).
    pub cuda_driver: Option<bool>,
    /// The CUDA/cuDNN libraries found for the CUDA provider (only with a driver).
    pub cuda_libraries: Option<String>,
}

/// Loads ONNX Runtime (if not yet loaded) and describes it.
pub fn runtime_info() -> Result<RuntimeInfo, InferError> {
    let (_, library) = loaded()?;
    let providers = available_providers()?;
    let has_cuda = providers.iter().any(|p| p == "CUDAExecutionProvider");
    let cuda_driver = has_cuda.then(crate::cuda::driver_present);
    let cuda_libraries = (cuda_driver == Some(true)).then(|| crate::cuda::preload(library).describe());
    Ok(RuntimeInfo { library: library.clone(), build: ort::info().to_string(), providers, cuda_driver, cuda_libraries })
}

/// The names ONNX Runtime's `GetAvailableProviders` reports (compiled in, not
/// necessarily usable: CUDA still needs its libraries and a driver).
#[allow(unsafe_code)] // one C call into ONNX Runtime; ort has no safe wrapper for the list
fn available_providers() -> Result<Vec<String>, InferError> {
    loaded()?;
    let api = ort::api();
    let mut names: *mut *mut std::ffi::c_char = std::ptr::null_mut();
    let mut count: std::ffi::c_int = 0;
    // SAFETY: the API is loaded (above); ONNX Runtime fills both out-parameters
    // on success, with `count` valid C strings, released below with the same count.
    let status = unsafe { (api.GetAvailableProviders)(&mut names, &mut count) };
    if !status.0.is_null() {
        // SAFETY: a non-null status is an owned OrtStatus, released once.
        unsafe { (api.ReleaseStatus)(status.0) };
        return Err(InferError::Runtime("ONNX Runtime could not list its execution providers".into()));
    }
    let mut out = vec![];
    for i in 0..usize::try_from(count).unwrap_or(0) {
        // SAFETY: `names` holds `count` NUL-terminated strings (see above).
        let name = unsafe { std::ffi::CStr::from_ptr(*names.add(i)) };
        out.push(name.to_string_lossy().into_owned());
    }
    if !names.is_null() {
        // SAFETY: releases the array obtained above, exactly once.
        let status = unsafe { (api.ReleaseAvailableProviders)(names, count) };
        if !status.0.is_null() {
            // SAFETY: as above, an owned status released once.
            unsafe { (api.ReleaseStatus)(status.0) };
        }
    }
    Ok(out)
}

/// Registers the provider for `device` and says which one the session will use.
pub fn register(builder: SessionBuilder, device: Device) -> Result<(SessionBuilder, Provider), InferError> {
    let cuda_compiled = CUDA::is_available().unwrap_or(false);
    let with_cuda = |b: SessionBuilder, i: usize| {
        let libs = crate::cuda::preload(&loaded().map_err(|e| e.to_string())?.1);
        let id = i32::try_from(i).map_err(|_| format!("no CUDA device {i}"))?;
        b.with_execution_providers([CUDA::default().with_device_id(id).build().error_on_failure()])
            .map_err(|e| crate::cuda::explain(&e.to_string(), libs))
    };
    match device {
        Device::Cpu => Ok((builder, Provider::Cpu)),
        Device::Cuda(i) if !cuda_compiled => Err(InferError::Device(format!(
            "--device cuda:{i}: this ONNX Runtime is a CPU build, with no CUDA execution provider (the set-up installs onnxruntime-gpu where nvidia-smi sees a GPU); use --device cpu or auto"
        ))),
        Device::Cuda(i) => {
            let b = with_cuda(builder, i).map_err(|e| InferError::Device(format!("--device cuda:{i}: the CUDA execution provider cannot start: {e}")))?;
            Ok((b, Provider::Cuda(i)))
        }
        // `auto` tries CUDA where a driver is present, and may fall back, but only
        // to a fresh builder (a failed registration can leave state behind).
        Device::Auto if cuda_compiled && crate::cuda::driver_present() => match with_cuda(builder, 0) {
            Ok(b) => Ok((b, Provider::Cuda(0))),
            Err(_) => Ok((ort::session::Session::builder(environment()?).map_err(|e| InferError::Runtime(e.to_string()))?, Provider::Cpu)),
        },
        Device::Auto => Ok((builder, Provider::Cpu)),
    }
}

/// What `--version` prints for a binary that runs models on ONNX Runtime:
/// its version and git revision, the ONNX Runtime it loads, the execution
/// providers that build offers, and whether CUDA can run here.
pub fn version_report(binary: &str, version: &str, git_rev: Option<&str>) -> String {
    let mut lines = vec![format!("{binary} {version} (git {})", git_rev.unwrap_or("unknown"))];
    match runtime_info() {
        Ok(info) => {
            lines.push(format!("ONNX Runtime {} ({})", info.library.display(), info.build));
            lines.push(format!("execution providers: {}", info.providers.join(", ")));
            match info.cuda_driver {
                Some(true) => lines.push(format!("CUDA driver: found; {}", info.cuda_libraries.unwrap_or_default())),
                Some(false) => lines.push(format!("CUDA driver: {} not found, so CUDA cannot run on this machine", crate::cuda::DRIVER)),
                None => {}
            }
        }
        Err(e) => lines.push(format!("ONNX Runtime: {e}")),
    }
    lines.join("\n")
}
