//! The flags of `cnnzoo-export`: what one run is asked to do. The binary
//! parses them; [`crate::export`] carries them out.

use std::path::PathBuf;

use clap::Parser;
use cnnzoo_cli::at_least_one;

const EXAMPLES: &str = "Examples:
  cnnzoo-export runs/resnet18.ot                 # writes runs/resnet18.onnx
  cnnzoo-export resnet18-f37072fd.pth --arch tv_resnet18 -o resnet18.onnx   # torchvision's published weights
  cnnzoo-export weights.safetensors --arch tv_densenet121 --in-chans 1      # a gray-input DenseNet-121
  cnnzoo-export timm-resnet50.a1_in1k/           # a Hugging Face timm folder (config.json + model.safetensors)
  cnnzoo-export runs/densenet.ot --features-only -o densenet-backbone.onnx
  cnnzoo-export runs/lenet.ot --opset 13 --no-fold-bn
  cnnzoo-export runs/lenet.ot --embed-preprocessing -o lenet-images.onnx   # takes uint8 [N, H, W, C] pixels
  cnnzoo-export runs/resnet18.ot --triton-repo models   # models/resnet18/{config.pbtxt,1/model.onnx}
  cnnzoo-export --inspect runs/resnet18.onnx --json";

#[derive(Debug, Parser)]
#[command(name = "cnnzoo-export", disable_version_flag = true, about = "Export a cnnzoo-train checkpoint (NAME.ot + NAME.json) to ONNX, or inspect an ONNX file", after_help = EXAMPLES)]
pub struct Cli {
    /// The checkpoint (NAME.ot, with NAME.json beside it); published weights (a torch.save state dict .pth/.pt/.bin, a .safetensors file, or a Hugging Face timm folder); or with --inspect an ONNX file.
    #[arg(required_unless_present_any = ["version", "completions"])]
    pub input: Option<PathBuf>,
    /// The network a state dict is for (`cnnzoo-train --list`), e.g. tv_resnet18 [default: a timm folder's config.json says].
    #[arg(long, help_heading = "Published weights")]
    pub arch: Option<String>,
    /// Input channels: 1 sums the first convolution's filters over RGB for grayscale images (timm's in_chans=1).
    #[arg(long, value_parser = in_chans, help_heading = "Published weights")]
    pub in_chans: Option<u8>,
    /// The network's input side (the centre crop; the resize keeps its proportion) [default: the weights' own, 224].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=4096), help_heading = "Published weights")]
    pub size: Option<u16>,
    /// Class names, one per line, in logit order [default: ImageNet-1k's for 1000 classes, a timm folder's label_names].
    #[arg(long, value_name = "FILE", help_heading = "Published weights")]
    pub classes: Option<PathBuf>,
    /// Output file [default: NAME.onnx beside the checkpoint].
    #[arg(short, long, conflicts_with = "triton_repo")]
    pub output: Option<PathBuf>,
    /// Write the weights as a PyTorch state dict in safetensors instead of ONNX: for a torchvision layout, what torchvision's load_state_dict(strict=True) takes.
    #[arg(long, value_name = "OUT.safetensors", conflicts_with_all = ["output", "triton_repo", "int8", "fp16", "embed_preprocessing", "features_only", "inspect"])]
    pub state_dict: Option<PathBuf>,
    /// Write a Triton model repository entry instead: DIR/NAME/config.pbtxt and DIR/NAME/1/model.onnx.
    #[arg(long, value_name = "DIR", help_heading = "Triton")]
    pub triton_repo: Option<PathBuf>,
    /// The entry's max_batch_size.
    #[arg(long, default_value_t = 64, value_parser = at_least_one, requires = "triton_repo", help_heading = "Triton")]
    pub max_batch: usize,
    /// The entry's dynamic_batching max_queue_delay_microseconds.
    #[arg(long, default_value_t = 2000, requires = "triton_repo", help_heading = "Triton")]
    pub max_delay_us: u64,
    /// ONNX opset to target [default: 17; 18 with --embed-preprocessing].
    #[arg(long)]
    pub opset: Option<i64>,
    /// Keep BatchNormalization nodes instead of folding them into convolutions.
    #[arg(long)]
    pub no_fold_bn: bool,
    /// Write the backbone only: `features` is the one output.
    #[arg(long)]
    pub features_only: bool,
    /// Put the card's preprocessing in the graph: it then takes `image`, uint8 [N, H, W, C] (C = 1 or 3) at any size, and converts, resizes and scales it itself (opset 18 or later).
    #[arg(long, conflicts_with = "int8")]
    pub embed_preprocessing: bool,
    /// Write an INT8 model (QDQ, per-channel weights) calibrated on --calibrate DATA [default output: NAME.int8.onnx].
    #[arg(long, requires = "calibrate", help_heading = "INT8")]
    pub int8: bool,
    /// Calibration data: Fashion-MNIST IDX files, a folder with train/<class>/ (and test/<class>/), or a folder of images.
    #[arg(long, value_name = "DATA", requires = "int8", help_heading = "INT8")]
    pub calibrate: Option<PathBuf>,
    /// Training images the activation ranges are measured on.
    #[arg(long, default_value_t = 256, value_parser = at_least_one, requires = "int8", help_heading = "INT8")]
    pub calibration_images: usize,
    /// How activation ranges are chosen: minmax, or percentile (see --percentile).
    #[arg(long, value_enum, default_value = "percentile", requires = "int8", help_heading = "INT8")]
    pub calibration_method: CalibrationMethod,
    /// The share of values, in percent, that the percentile method keeps in range [default: 99.999].
    #[arg(long, value_parser = percent, requires = "int8", help_heading = "INT8")]
    pub percentile: Option<f64>,
    /// Refuse to write when INT8 test accuracy is more than this many points below fp32 (DATA with a test split; negative: INT8 must beat fp32 by that much).
    #[arg(long, default_value_t = 1.0, value_parser = points, requires = "int8", allow_negative_numbers = true, help_heading = "INT8")]
    pub max_drop: f64,
    /// Write the INT8 model even when it loses more than --max-drop.
    #[arg(long, requires = "int8", help_heading = "INT8")]
    pub force: bool,
    /// Store weights and compute in float16 behind a float32 interface, for GPUs (checked on the CPU against fp32).
    #[arg(long, conflicts_with = "int8")]
    pub fp16: bool,
    /// Largest difference allowed between the export (ONNX Runtime) and the checkpoint (libtorch) [default: 1e-4; 1e-2 with --fp16].
    #[arg(long, value_parser = positive_atol, conflicts_with_all = ["int8", "no_validate"])]
    pub atol: Option<f64>,
    /// Difference allowed in proportion to the checkpoint's value, on top of --atol (numpy's allclose) [default: 1e-5; 1e-3 with --fp16].
    #[arg(long, value_parser = non_negative, conflicts_with_all = ["int8", "no_validate"])]
    pub rtol: Option<f64>,
    /// Skip running the export against the checkpoint before writing it.
    #[arg(long, conflicts_with = "int8")]
    pub no_validate: bool,
    /// Describe an ONNX file instead of exporting.
    #[arg(long)]
    pub inspect: bool,
    /// Machine-readable output on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print a completion script for this shell (bash, zsh, fish, elvish, powershell) and exit.
    #[arg(long, value_name = "SHELL")]
    pub completions: Option<clap_complete::Shell>,
    /// Print the version and the libtorch that reads checkpoints.
    #[arg(short = 'V', long)]
    pub version: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, clap::ValueEnum)]
pub enum CalibrationMethod {
    Minmax,
    Percentile,
}

fn percent(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 50.0 && v <= 100.0 => Ok(v),
        _ => Err("must be a percentage above 50 and at most 100".into()),
    }
}

fn in_chans(s: &str) -> Result<u8, String> {
    match s {
        "1" => Ok(1),
        "3" => Ok(3),
        _ => Err("must be 1 (grayscale) or 3 (RGB)".into()),
    }
}

fn non_negative(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err("must be a finite number, 0 or more".into()),
    }
}

fn positive_atol(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err("must be a finite number above 0".into()),
    }
}

fn points(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err("must be a number of accuracy points".into()),
    }
}
