//! `--precision fp32|bf16|fp16|auto`: the number format convolutions and
//! linear layers compute in. Mixed precision keeps what needs range in fp32
//! (master weights, batch-norm statistics and parameters, the loss, the
//! optimizer's update) and runs the matrix work in 16 bits; [`crate::Net`]
//! applies it to every op in one place.

use std::fmt;
use std::str::FromStr;

use tch::{Device, Kind};

use cnnzoo_models::{Choice, ChoiceError};

use crate::error::Result;

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

/// Refuses what a device cannot run: fp16 on a CPU (libtorch's CPU kernels
/// emulate it, slower than fp32). `auto` is decided by [`crate::autotune`].
pub fn check(request: Request, device: Device) -> Result<()> {
    match (request, device) {
        (Request::Exactly(Precision::Fp16), Device::Cpu) => Err(ChoiceError::refused(
            Choice::Precision("fp16".into()),
            "float16 training needs a CUDA GPU (on a CPU, bf16 where the CPU has it, or fp32)",
        )
        .into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_fp16_needs_a_gpu() {
        assert_eq!("bf16".parse::<Request>(), Ok(Request::Exactly(Precision::Bf16)));
        assert!("fp8".parse::<Request>().unwrap_err().contains("fp32, bf16, fp16 or auto"));
        let e = cnnzoo_cli::describe(&check(Request::Exactly(Precision::Fp16), Device::Cpu).unwrap_err());
        assert!(e.contains("--precision fp16") && e.contains("CUDA"), "{e}");
        assert!(check(Request::Exactly(Precision::Fp16), Device::Cuda(0)).is_ok() && check(Request::Auto, Device::Cpu).is_ok());
    }
}
