//! `--device auto|cpu|cuda|cuda:N|openvino`, parsed the same way by every
//! binary (`openvino` is ONNX Runtime's, for inference). What
//! a device means is the backend's business (libtorch or ONNX Runtime); an
//! explicit request is honoured or refused there, never replaced.

use std::str::FromStr;

/// Where to run: `auto` prefers CUDA and falls back to the CPU (for
/// inference, to the faster of the CPU and OpenVINO, measured); `cpu`,
/// `cuda[:N]` and `openvino` are requirements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
    /// ONNX Runtime's OpenVINO execution provider on the CPU (inference only).
    OpenVino,
}

impl FromStr for Device {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Device::Auto),
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            "openvino" => Ok(Device::OpenVino),
            _ => s
                .strip_prefix("cuda:")
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(|| format!("{s:?}: expected auto, cpu, cuda or cuda:N (or openvino, for inference)")),
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Auto => write!(f, "auto"),
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
            Device::OpenVino => write!(f, "openvino"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Device;

    #[test]
    fn every_spelling_parses_or_is_named_in_the_error() {
        assert_eq!("auto".parse::<Device>().unwrap(), Device::Auto);
        assert_eq!("cpu".parse::<Device>().unwrap(), Device::Cpu);
        assert_eq!("cuda".parse::<Device>().unwrap(), Device::Cuda(0));
        assert_eq!("cuda:3".parse::<Device>().unwrap(), Device::Cuda(3));
        assert_eq!("openvino".parse::<Device>().unwrap(), Device::OpenVino);
        for bad in ["gpu", "cuda:", "cuda:-1", "cuda:+1", "cuda:x", "CUDA", ""] {
            let e = bad.parse::<Device>().unwrap_err();
            assert!(e.contains(&format!("{bad:?}")) && e.contains("cuda:N"), "{e}");
        }
        assert_eq!(Device::Cuda(2).to_string(), "cuda:2");
    }
}
