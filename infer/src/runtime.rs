//! Loading ONNX Runtime (a shared library, loaded at run time) and choosing
//! its execution provider: a device asked for is used or refused, never
//! silently replaced.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::ep::{ExecutionProvider, CUDA};
use ort::session::builder::SessionBuilder;

use crate::InferError;

/// Where to run: `auto` prefers CUDA and falls back to the CPU; `cpu` and
/// `cuda[:N]` are requirements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    #[default]
    Auto,
    Cpu,
    Cuda(i32),
}

impl FromStr for Device {
    type Err = InferError;
    fn from_str(s: &str) -> Result<Self, InferError> {
        match s {
            "auto" => Ok(Device::Auto),
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(|| InferError::Usage(format!("device {s:?}: expected auto, cpu, cuda or cuda:N"))),
        }
    }
}

/// The execution provider a session actually runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Cpu,
    Cuda(i32),
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
    let cache = std::env::var_os("CNNZOO_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/cnnzoo")))
        .unwrap_or_default();
    let site = cache.join("venv/lib");
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

/// The process-wide ONNX Runtime environment, loaded once.
pub fn environment() -> Result<&'static Environment, InferError> {
    static ENV: OnceLock<Result<Environment, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let path = library_path().map_err(|e| e.to_string())?;
        ort::init_from(&path)
            .map_err(|e| format!("{}: cannot load ONNX Runtime: {e}", path.display()))?
            .with_name("cnnzoo")
            .build()
            .map_err(|e| format!("{}: cannot start ONNX Runtime: {e}", path.display()))
    })
    .as_ref()
    .map_err(|e| InferError::Runtime(e.clone()))
}

/// Registers the provider for `device` and says which one the session will use.
pub fn register(builder: SessionBuilder, device: Device) -> Result<(SessionBuilder, Provider), InferError> {
    let cuda_compiled = CUDA::is_available().unwrap_or(false);
    let with_cuda = |b: SessionBuilder, i: i32| {
        b.with_execution_providers([CUDA::default().with_device_id(i).build().error_on_failure()]).map_err(|e| e.to_string())
    };
    match device {
        Device::Cpu => Ok((builder, Provider::Cpu)),
        Device::Cuda(i) if !cuda_compiled => Err(InferError::Device(format!(
            "--device cuda:{i}: this ONNX Runtime has no CUDA execution provider (a CPU build, or no GPU on this machine); use --device cpu or auto"
        ))),
        Device::Cuda(i) => {
            let b = with_cuda(builder, i).map_err(|e| InferError::Device(format!("--device cuda:{i}: the CUDA execution provider failed to start: {e}")))?;
            Ok((b, Provider::Cuda(i)))
        }
        Device::Auto if cuda_compiled => {
            // `auto` may fall back, but only to a fresh builder (a failed registration can leave state behind).
            let env = environment()?;
            match with_cuda(builder, 0) {
                Ok(b) => Ok((b, Provider::Cuda(0))),
                Err(_) => Ok((ort::session::Session::builder(env).map_err(|e| InferError::Runtime(e.to_string()))?, Provider::Cpu)),
            }
        }
        Device::Auto => Ok((builder, Provider::Cpu)),
    }
}
