//! Loading ONNX Runtime (a shared library, loaded at run time) and choosing
//! its execution provider: a device asked for is used or refused, never
//! silently replaced.
//!
//! OpenVINO's provider ships in its own build of ONNX Runtime (the
//! `onnxruntime-openvino` wheel, a release behind the `onnxruntime` one; the
//! `ort` crate is built for that older API level, which the newer library
//! also serves). A process loads one ONNX Runtime: on a machine without a
//! GPU where the set-up installed OpenVINO's, that one, for every device (its
//! CPU provider is ONNX Runtime's own), so that a process computes the same
//! numbers whichever device its models ask for; the plain one otherwise.

use std::path::PathBuf;
use std::sync::OnceLock;

use cnnzoo_models::{Choice, ChoiceError, Device};
use ort::environment::Environment;
use ort::ep::{ArbitrarilyConfigurableExecutionProvider, ExecutionProvider, OpenVINO, CUDA};
use ort::session::builder::SessionBuilder;

use crate::InferError;

/// The execution provider a session actually runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Cpu,
    Cuda(usize),
    /// OpenVINO on the CPU, computing in bf16 or fp32.
    OpenVino {
        bf16: bool,
    },
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Provider::Cpu => write!(f, "CPUExecutionProvider"),
            Provider::Cuda(i) => write!(f, "CUDAExecutionProvider (cuda:{i})"),
            Provider::OpenVino { bf16 } => write!(f, "OpenVINOExecutionProvider (CPU, {})", if *bf16 { "bf16" } else { "fp32" }),
        }
    }
}

/// The number format OpenVINO computes in (`--precision`): `auto` is bf16
/// where the CPU has bf16 instructions, as OpenVINO's own default on such
/// CPUs; fp32 matches the CPU provider within the export tolerance. The CPU
/// and CUDA providers compute in the model's own format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    #[default]
    Auto,
    Fp32,
    Bf16,
}

cnnzoo_models::spelled!(Precision { Auto = "auto", Fp32 = "fp32", Bf16 = "bf16" });

/// OpenVINO's build of ONNX Runtime, where the set-up installed it
/// (`onnxruntime-openvino-*/` in its cache, the newest first).
pub fn openvino_library() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cnnzoo_models::fsio::cache_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("onnxruntime-openvino-"))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs.iter().rev().find_map(|dir| {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .find(|f| f.file_name().to_string_lossy().starts_with("libonnxruntime.so."))
            .map(|f| f.path())
    })
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

/// The library a process that first asks for `device` loads: `$ORT_DYLIB_PATH`
/// if set; for CUDA (asked for, or `auto` where a driver is present) the
/// set-up's ([`library_path`]); otherwise OpenVINO's where it is installed
/// (required for `openvino`), else the set-up's.
pub fn library_for(device: Device) -> Result<PathBuf, InferError> {
    if std::env::var_os("ORT_DYLIB_PATH").is_some() {
        return library_path();
    }
    match device {
        Device::OpenVino => openvino_library().ok_or_else(|| {
            refused(
                Device::OpenVino,
                format!(
                    "OpenVINO's ONNX Runtime is not installed (looked for {}/onnxruntime-openvino-*/); scripts/env.sh installs it on x86-64 Linux, or set ORT_DYLIB_PATH to an onnxruntime-openvino libonnxruntime.so",
                    cnnzoo_models::fsio::cache_dir().display()
                ),
            )
            .into()
        }),
        Device::Cuda(_) => library_path(),
        Device::Auto if crate::cuda::driver_present() => library_path(),
        Device::Auto | Device::Cpu => openvino_library().map_or_else(library_path, Ok),
    }
}

/// The process-wide ONNX Runtime environment, loaded once (from the library
/// the first request's device calls for), and the library it came from.
fn loaded() -> Result<&'static (Environment, PathBuf), InferError> {
    loaded_for(Device::Auto)
}

fn loaded_for(device: Device) -> Result<&'static (Environment, PathBuf), InferError> {
    static ENV: OnceLock<Result<(Environment, PathBuf), String>> = OnceLock::new();
    // A library that cannot be found is an error for this request only: the
    // process may still ask for another device.
    let path = if ENV.get().is_none() { Some(library_for(device)?) } else { None };
    ENV.get_or_init(|| {
        let path = path.map_or_else(|| library_for(device).map_err(|e| e.to_string()), Ok)?;
        let env = ort::init_from(&path)
            .map_err(|e| format!("{}: cannot load ONNX Runtime: {e}", path.display()))?
            .with_name("cnnzoo")
            .build()
            .map_err(|e| format!("{}: cannot start ONNX Runtime: {e}", path.display()))?;
        // Failures come back as errors, said in one line; ONNX Runtime's own
        // log (coloured, with C++ source locations) stays quiet.
        env.set_log_level(ort::logging::LogLevel::Fatal);
        Ok((env, path))
    })
    .as_ref()
    .map_err(|e| InferError::Runtime(e.clone()))
}

/// The process-wide ONNX Runtime environment (loading the library `device`
/// calls for, if this is the process's first).
pub fn environment(device: Device) -> Result<&'static Environment, InferError> {
    Ok(&loaded_for(device)?.0)
}

/// What the loaded ONNX Runtime is and offers, for `--version` and diagnostics.
#[derive(Debug, Clone)]
pub struct RuntimeInfo {
    /// The execution providers compiled into it, e.g. `CUDAExecutionProvider`.
    pub providers: Vec<String>,
    /// The shared library loaded.
    pub library: PathBuf,
    /// ONNX Runtime's build string (branch, commit).
    pub build: String,
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

/// Whether the loaded ONNX Runtime offers OpenVINO's provider.
pub fn offers_openvino() -> bool {
    available_providers().is_ok_and(|p| p.iter().any(|p| p == "OpenVINOExecutionProvider"))
}

/// Registers OpenVINO's provider on the CPU in `precision` (OpenVINO's
/// inference precision hint, passed in the provider's `load_config`, JSON of
/// OpenVINO properties by device: its own `precision` option has no bf16).
pub fn with_openvino(
    builder: SessionBuilder,
    precision: Precision,
    threads: Option<usize>,
) -> Result<(SessionBuilder, Provider), InferError> {
    let (_, library) = loaded()?;
    if !offers_openvino() {
        return Err(refused(
            Device::OpenVino,
            format!("the ONNX Runtime loaded in this process ({}) has no OpenVINO execution provider", library.display()),
        )
        .into());
    }
    let bf16 = match precision {
        Precision::Auto => cnnzoo_models::measured::cpu_has_bf16(),
        Precision::Fp32 => false,
        Precision::Bf16 if cnnzoo_models::measured::cpu_has_bf16() => true,
        Precision::Bf16 => {
            return Err(bf16_refused("this CPU has no bf16 instructions (AVX-512 BF16 or AMX); fp32 and auto run here").into())
        }
    };
    let hint = if bf16 { "bf16" } else { "f32" };
    // Its thread count is set always: the provider's own default is a
    // build-time constant (8), not the machine's cores.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let n = threads.unwrap_or(cores);
    // OpenVINO pins each compiled model's threads to cores from the first
    // one on: sessions that share the cores (a backbone's streams) would all
    // run on the same ones, so they leave placement to the OS scheduler.
    let pinning = if n < cores { r#", "ENABLE_CPU_PINNING": "NO""# } else { "" };
    let config = format!(r#"{{"CPU": {{"INFERENCE_PRECISION_HINT": "{hint}"{pinning}}}}}"#);
    // Static shapes: OpenVINO compiles the graph for each batch size it meets
    // (and keeps it), which runs faster than its dynamic-shape path (batch 1:
    // about 1.2x on ResNet-18).
    let ep = OpenVINO::default()
        .with_device_type("CPU")
        .with_arbitrary_config("load_config", config)
        .with_num_threads(n)
        .with_dynamic_shapes(false);
    // OpenVINO runs the whole graph on its own threads and optimizes it
    // itself: ONNX Runtime's intra-op pool stays at one thread, and its graph
    // rewrites are off (a fusion into one of ONNX Runtime's own operators
    // would split the graph between the two providers).
    let builder = builder.with_intra_threads(1).map_err(InferError::ort("setting a session's threads"))?;
    let builder = builder
        .with_optimization_level(ort::session::builder::GraphOptimizationLevel::Disable)
        .map_err(InferError::ort("turning ONNX Runtime's graph rewrites off"))?;
    let b = builder.with_execution_providers([ep.build().error_on_failure()]).map_err(|e| {
        InferError::from(refused(Device::OpenVino, "OpenVINO's execution provider cannot start").caused_by(ort::Error::<()>::from(e)))
    })?;
    Ok((b, Provider::OpenVino { bf16 }))
}

/// `device` cannot be had, and why.
fn refused(device: Device, problem: impl std::fmt::Display) -> ChoiceError {
    ChoiceError::refused(Choice::Device(device), problem)
}

/// bf16 cannot be had, and why.
pub(crate) fn bf16_refused(problem: impl std::fmt::Display) -> ChoiceError {
    ChoiceError::refused(Choice::Precision("bf16".into()), problem)
}

/// Registers the provider for `device` and says which one the session will
/// use. `auto` here is CUDA or the CPU; [`crate::fastest`] then weighs the
/// CPU against OpenVINO where it is offered.
pub fn register(
    builder: SessionBuilder,
    device: Device,
    precision: Precision,
    threads: Option<usize>,
) -> Result<(SessionBuilder, Provider), InferError> {
    let cuda_compiled = CUDA::is_available().unwrap_or(false);
    let with_cuda = |b: SessionBuilder, i: usize| {
        let libs = crate::cuda::preload(&loaded().map_err(|e| e.to_string())?.1);
        let id = i32::try_from(i).map_err(|_| format!("no CUDA device {i}"))?;
        b.with_execution_providers([CUDA::default().with_device_id(id).build().error_on_failure()])
            .map_err(|e| crate::cuda::explain(&e.to_string(), libs))
    };
    if precision == Precision::Bf16 && !matches!(device, Device::OpenVino | Device::Auto) {
        return Err(
            bf16_refused(format!("runs on OpenVINO (the openvino device); on {device} the model computes in its own format")).into()
        );
    }
    match device {
        Device::OpenVino => with_openvino(builder, precision, threads),
        Device::Cpu => Ok((builder, Provider::Cpu)),
        Device::Cuda(_) if !cuda_compiled => Err(refused(
            device,
            "this ONNX Runtime is a CPU build, with no CUDA execution provider (the set-up installs onnxruntime-gpu where nvidia-smi sees a GPU); the cpu and auto devices run here",
        )
        .into()),
        Device::Cuda(i) => {
            let b = with_cuda(builder, i).map_err(|e| InferError::from(refused(device, "the CUDA execution provider cannot start").caused_by(e)))?;
            Ok((b, Provider::Cuda(i)))
        }
        // `auto` tries CUDA where a driver is present, and may fall back, but only
        // to a fresh builder (a failed registration can leave state behind).
        Device::Auto if cuda_compiled && crate::cuda::driver_present() => match with_cuda(builder, 0) {
            Ok(b) => Ok((b, Provider::Cuda(0))),
            Err(_) => Ok((ort::session::Session::builder(environment(device)?).map_err(InferError::ort("starting a session"))?, Provider::Cpu)),
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
