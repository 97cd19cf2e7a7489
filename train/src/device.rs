//! `--device auto|cpu|cuda|cuda:N` on libtorch: the syntax is the one every
//! binary shares (`cnnzoo_models::Device`); an explicit request is honoured or
//! refused here, `auto` prefers CUDA.

use cnnzoo_models::Device as Request;
use tch::Device;

use cnnzoo_models::{Choice, ChoiceError};

use crate::error::{Result, TrainError};

/// `request` cannot be had, and why.
fn refused(request: Request, problem: impl std::fmt::Display) -> TrainError {
    ChoiceError::refused(Choice::Device(request), problem).into()
}

/// The libtorch device for a request: CUDA when asked and present, else an error.
pub fn resolve(request: Request) -> Result<Device> {
    let cuda_count = || if tch::Cuda::is_available() { tch::Cuda::device_count() as usize } else { 0 };
    match request {
        Request::Auto => Ok(if cuda_count() > 0 { Device::Cuda(0) } else { Device::Cpu }),
        Request::Cpu => Ok(Device::Cpu),
        Request::OpenVino => {
            Err(refused(request, "OpenVINO runs inference (cnnzoo-infer, cnnzoo-serve); training runs on the cpu or cuda devices"))
        }
        Request::Cuda(index) => match cuda_count() {
            0 => Err(refused(
                request,
                "CUDA is not available on this machine (no GPU or driver found by libtorch); the cpu and auto devices run here",
            )),
            n if index >= n => Err(refused(request, format!("this machine has {n} CUDA device(s), numbered 0 to {}", n - 1))),
            _ => Ok(Device::Cuda(index)),
        },
    }
}

/// `cpu` or `cuda:0`, as the d2l-style summary line prints it.
pub fn describe(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        _ => "cpu".into(),
    }
}

/// What `--version` says about libtorch: where it was found, whether its CUDA
/// half is linked and loaded, and which devices it sees.
pub fn libtorch_report() -> String {
    let version = option_env!("CNNZOO_TORCH_VERSION").unwrap_or("unknown version");
    let dir = option_env!("CNNZOO_LIBTORCH_LIB").unwrap_or("(found at build time)");
    // The loader maps what the binary lists as NEEDED; libtorch_cuda.so in our
    // own mappings is the proof that CUDA kernels are reachable.
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let cuda_lib = match (option_env!("CNNZOO_LIBTORCH_CUDA").is_some(), maps.contains("/libtorch_cuda.so")) {
        (_, true) => "linked and loaded",
        (true, false) => "linked, not loaded",
        (false, false) => "absent (a CPU-only libtorch)",
    };
    let devices = if tch::Cuda::is_available() {
        let n = tch::Cuda::device_count();
        let names: Vec<String> = (0..n).map(|i| format!("cuda:{i}")).collect();
        format!(
            "{n} device(s): {}; cuDNN {}",
            names.join(", "),
            if tch::Cuda::cudnn_is_available() { "available" } else { "not available" }
        )
    } else {
        "not available (libtorch sees no GPU or driver)".into()
    };
    format!("libtorch {version} in {dir}\nlibtorch_cuda.so: {cuda_lib}\nCUDA: {devices}")
}

/// `NAME VERSION (git REV)`, the first line of every `--version`.
pub fn version_line(name: &str) -> String {
    format!("{name} {} (git {})", env!("CARGO_PKG_VERSION"), option_env!("CNNZOO_GIT_REV").unwrap_or("unknown"))
}
