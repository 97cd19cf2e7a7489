//! `--device auto|cpu|cuda|cuda:N`: an explicit request is honoured or refused.

use tch::Device;

use crate::error::{Result, TrainError};

pub fn parse_device(spec: &str) -> Result<Device> {
    let cuda_count = || {
        if tch::Cuda::is_available() {
            tch::Cuda::device_count() as usize
        } else {
            0
        }
    };
    match spec {
        "auto" => Ok(if cuda_count() > 0 { Device::Cuda(0) } else { Device::Cpu }),
        "cpu" => Ok(Device::Cpu),
        _ => {
            let index = match spec.strip_prefix("cuda") {
                Some("") => 0,
                Some(rest) => rest.strip_prefix(':').and_then(|n| n.parse::<usize>().ok()).ok_or_else(|| bad(spec))?,
                None => return Err(bad(spec)),
            };
            match cuda_count() {
                0 => Err(TrainError::Device(format!(
                    "--device {spec}: CUDA is not available on this machine (no GPU or driver found by libtorch); use --device cpu or auto"
                ))),
                n if index >= n => {
                    Err(TrainError::Device(format!("--device {spec}: this machine has {n} CUDA device(s), numbered 0 to {}", n - 1)))
                }
                _ => Ok(Device::Cuda(index)),
            }
        }
    }
}

fn bad(spec: &str) -> TrainError {
    TrainError::Device(format!("--device {spec:?}: expected auto, cpu, cuda or cuda:N"))
}

/// `cpu` or `cuda:0`, as the d2l-style summary line prints it.
pub fn describe(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        _ => "cpu".into(),
    }
}
