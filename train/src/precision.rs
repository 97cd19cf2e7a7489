//! `--precision fp32|bf16|fp16|auto`: the number format convolutions and
//! linear layers compute in. Mixed precision keeps what needs range in fp32
//! (master weights, batch-norm statistics and parameters, the loss, the
//! optimizer's update) and runs the matrix work in 16 bits; [`crate::Net`]
//! applies it to every op in one place.

use std::fmt;
use std::str::FromStr;

use tch::{Device, Kind};

use crate::error::{Result, TrainError};

/// A precision as asked for on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Auto,
    Exactly(Precision),
}

/// The precision a run computes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Fp32,
    /// bfloat16 mixed precision: fp32's range, no loss scaling needed.
    Bf16,
    /// float16 mixed precision with dynamic loss scaling (CUDA only).
    Fp16,
}

impl Precision {
    /// The kind activations and matrix products use.
    pub fn compute_kind(self) -> Kind {
        match self {
            Precision::Fp32 => Kind::Float,
            Precision::Bf16 => Kind::BFloat16,
            Precision::Fp16 => Kind::Half,
        }
    }

    pub fn is_mixed(self) -> bool {
        self != Precision::Fp32
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
            Precision::Fp16 => "fp16",
        })
    }
}

impl FromStr for Request {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Request, String> {
        match s {
            "auto" => Ok(Request::Auto),
            "fp32" => Ok(Request::Exactly(Precision::Fp32)),
            "bf16" => Ok(Request::Exactly(Precision::Bf16)),
            "fp16" => Ok(Request::Exactly(Precision::Fp16)),
            _ => Err(format!("{s:?}: use fp32, bf16, fp16 or auto")),
        }
    }
}

impl FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Precision, String> {
        match s.parse::<Request>()? {
            Request::Exactly(p) => Ok(p),
            Request::Auto => Err("auto is not a precision of its own".into()),
        }
    }
}

/// Whether this CPU has bfloat16 matrix units (AMX), where oneDNN's bf16
/// convolutions outrun fp32. AVX-512 BF16 alone is not enough: on the
/// development machine (a Xeon with AVX-512 BF16, no AMX) bf16 training was
/// slower than fp32 in PyTorch and in cnnzoo alike (docs/BENCHMARKS.md).
pub fn cpu_has_amx() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::fs::read_to_string("/proc/cpuinfo")
            .map(|info| info.lines().filter(|l| l.starts_with("flags")).any(|l| l.split_whitespace().any(|f| f == "amx_bf16")))
            .unwrap_or(false)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether CUDA device `index` has bf16 tensor cores (compute capability 8.0,
/// Ampere, or later), as `nvidia-smi` reports it; false where that cannot be
/// told (a GTX 1080 Ti, the seed's card, is 6.1 and emulates bf16).
pub fn gpu_has_bf16(index: usize) -> bool {
    std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=compute_cap", "--format=csv,noheader", &format!("--id={index}")])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().split('.').next().and_then(|m| m.parse::<u32>().ok()))
        .is_some_and(|major| major >= 8)
}

/// The precision for a request on a device: `auto` is bf16 where it is
/// faster (CUDA GPUs, whose tensor cores compute it from Ampere on, and CPUs
/// with AMX), else fp32. fp16
/// is refused on a CPU: libtorch's CPU kernels emulate it, slower than fp32.
pub fn resolve(request: Request, device: Device) -> Result<Precision> {
    match (request, device) {
        (Request::Exactly(Precision::Fp16), Device::Cpu) => Err(TrainError::Options(
            "--precision fp16: float16 training needs a CUDA GPU (on a CPU, use bf16 where the CPU has it, or fp32)".into(),
        )),
        (Request::Exactly(p), _) => Ok(p),
        (Request::Auto, Device::Cuda(i)) => Ok(if gpu_has_bf16(i) { Precision::Bf16 } else { Precision::Fp32 }),
        (Request::Auto, _) => Ok(if cpu_has_amx() { Precision::Bf16 } else { Precision::Fp32 }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn requests_parse_and_fp16_needs_a_gpu() {
        assert_eq!("bf16".parse::<Request>(), Ok(Request::Exactly(Precision::Bf16)));
        assert!("fp8".parse::<Request>().unwrap_err().contains("fp32, bf16, fp16 or auto"));
        let e = resolve(Request::Exactly(Precision::Fp16), Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("--precision fp16") && e.contains("CUDA"), "{e}");
        let auto_gpu = resolve(Request::Auto, Device::Cuda(0)).ok();
        assert_eq!(auto_gpu, Some(if gpu_has_bf16(0) { Precision::Bf16 } else { Precision::Fp32 }));
        let auto_cpu = resolve(Request::Auto, Device::Cpu).ok();
        assert_eq!(auto_cpu, Some(if cpu_has_amx() { Precision::Bf16 } else { Precision::Fp32 }));
    }
}
