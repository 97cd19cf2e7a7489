//! `cnnzoo-export`: a cnnzoo-train checkpoint becomes a self-describing ONNX
//! model; `--inspect` describes any ONNX file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Parser;
use cnnzoo_export::quantize::Method;
use cnnzoo_export::triton::{self, TritonBatching};
use cnnzoo_export::{embed, inspect, lower, ExportOptions, DEFAULT_OPSET};
use cnnzoo_models::card::{metadata, Provenance};
use cnnzoo_models::flags::at_least_one;
use cnnzoo_models::fsio::{read_bounded, write_atomic};
use cnnzoo_models::json_path::json_record;

/// Protobuf's own limit on a serialized model; checkpoints are smaller still.
const MAX_ONNX_BYTES: u64 = 2 << 30;
use cnnzoo_train::checkpoint;

mod import;
mod int8;
mod validate;

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
struct Cli {
    /// The checkpoint (NAME.ot, with NAME.json beside it); published weights (a torch.save state dict .pth/.pt/.bin, a .safetensors file, or a Hugging Face timm folder); or with --inspect an ONNX file.
    #[arg(required_unless_present_any = ["version", "completions"])]
    input: Option<PathBuf>,
    /// The network a state dict is for (`cnnzoo-train --list`), e.g. tv_resnet18 [default: a timm folder's config.json says].
    #[arg(long, help_heading = "Published weights")]
    arch: Option<String>,
    /// Input channels: 1 sums the first convolution's filters over RGB for grayscale images (timm's in_chans=1).
    #[arg(long, value_parser = in_chans, help_heading = "Published weights")]
    in_chans: Option<u8>,
    /// The network's input side (the centre crop; the resize keeps its proportion) [default: the weights' own, 224].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=4096), help_heading = "Published weights")]
    size: Option<u16>,
    /// Class names, one per line, in logit order [default: ImageNet-1k's for 1000 classes, a timm folder's label_names].
    #[arg(long, value_name = "FILE", help_heading = "Published weights")]
    classes: Option<PathBuf>,
    /// Output file [default: NAME.onnx beside the checkpoint].
    #[arg(short, long, conflicts_with = "triton_repo")]
    output: Option<PathBuf>,
    /// Write the weights as a PyTorch state dict in safetensors instead of ONNX: for a torchvision layout, what torchvision's load_state_dict(strict=True) takes.
    #[arg(long, value_name = "OUT.safetensors", conflicts_with_all = ["output", "triton_repo", "int8", "fp16", "embed_preprocessing", "features_only", "inspect"])]
    state_dict: Option<PathBuf>,
    /// Write a Triton model repository entry instead: DIR/NAME/config.pbtxt and DIR/NAME/1/model.onnx.
    #[arg(long, value_name = "DIR", help_heading = "Triton")]
    triton_repo: Option<PathBuf>,
    /// The entry's max_batch_size.
    #[arg(long, default_value_t = 64, value_parser = at_least_one, requires = "triton_repo", help_heading = "Triton")]
    max_batch: usize,
    /// The entry's dynamic_batching max_queue_delay_microseconds.
    #[arg(long, default_value_t = 2000, requires = "triton_repo", help_heading = "Triton")]
    max_delay_us: u64,
    /// ONNX opset to target [default: 17; 18 with --embed-preprocessing].
    #[arg(long)]
    opset: Option<i64>,
    /// Keep BatchNormalization nodes instead of folding them into convolutions.
    #[arg(long)]
    no_fold_bn: bool,
    /// Write the backbone only: `features` is the one output.
    #[arg(long)]
    features_only: bool,
    /// Put the card's preprocessing in the graph: it then takes `image`, uint8 [N, H, W, C] (C = 1 or 3) at any size, and converts, resizes and scales it itself (opset 18 or later).
    #[arg(long, conflicts_with = "int8")]
    embed_preprocessing: bool,
    /// Write an INT8 model (QDQ, per-channel weights) calibrated on --calibrate DATA [default output: NAME.int8.onnx].
    #[arg(long, requires = "calibrate", help_heading = "INT8")]
    int8: bool,
    /// Calibration data: Fashion-MNIST IDX files, a folder with train/<class>/ (and test/<class>/), or a folder of images.
    #[arg(long, value_name = "DATA", requires = "int8", help_heading = "INT8")]
    calibrate: Option<PathBuf>,
    /// Training images the activation ranges are measured on.
    #[arg(long, default_value_t = 256, value_parser = at_least_one, requires = "int8", help_heading = "INT8")]
    calibration_images: usize,
    /// How activation ranges are chosen: minmax, or percentile (see --percentile).
    #[arg(long, value_enum, default_value = "percentile", requires = "int8", help_heading = "INT8")]
    calibration_method: CalibrationMethod,
    /// The share of values, in percent, that the percentile method keeps in range [default: 99.999].
    #[arg(long, value_parser = percent, requires = "int8", help_heading = "INT8")]
    percentile: Option<f64>,
    /// Refuse to write when INT8 test accuracy is more than this many points below fp32 (DATA with a test split; negative: INT8 must beat fp32 by that much).
    #[arg(long, default_value_t = 1.0, value_parser = points, requires = "int8", allow_negative_numbers = true, help_heading = "INT8")]
    max_drop: f64,
    /// Write the INT8 model even when it loses more than --max-drop.
    #[arg(long, requires = "int8", help_heading = "INT8")]
    force: bool,
    /// Store weights and compute in float16 behind a float32 interface, for GPUs (checked on the CPU against fp32).
    #[arg(long, conflicts_with = "int8")]
    fp16: bool,
    /// Largest difference allowed between the export (ONNX Runtime) and the checkpoint (libtorch) [default: 1e-4; 1e-2 with --fp16].
    #[arg(long, value_parser = positive_atol, conflicts_with_all = ["int8", "no_validate"])]
    atol: Option<f64>,
    /// Difference allowed in proportion to the checkpoint's value, on top of --atol (numpy's allclose) [default: 1e-5; 1e-3 with --fp16].
    #[arg(long, value_parser = non_negative, conflicts_with_all = ["int8", "no_validate"])]
    rtol: Option<f64>,
    /// Skip running the export against the checkpoint before writing it.
    #[arg(long, conflicts_with = "int8")]
    no_validate: bool,
    /// Describe an ONNX file instead of exporting.
    #[arg(long)]
    inspect: bool,
    /// Machine-readable output on stdout.
    #[arg(long)]
    json: bool,
    /// Print a completion script for this shell (bash, zsh, fish, elvish, powershell) and exit.
    #[arg(long, value_name = "SHELL")]
    completions: Option<clap_complete::Shell>,
    /// Print the version and the libtorch that reads checkpoints.
    #[arg(short = 'V', long)]
    version: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, clap::ValueEnum)]
enum CalibrationMethod {
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

fn inspect_file(path: &Path, json: bool) -> anyhow::Result<()> {
    let bytes = read_bounded(path, MAX_ONNX_BYTES).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let model = inspect::decode(&bytes, &path.display().to_string())?;
    let report = inspect::report(&model);
    if json {
        cnnzoo_models::outln!("{report}");
    } else {
        cnnzoo_models::out!("{}", inspect::render(&report));
    }
    Ok(())
}

/// Refuses, before any work, an output that would destroy something: one of
/// the run's own inputs (the checkpoint, its manifest, the weights, a file of
/// a weights folder, the class names), or anything but a regular file.
fn check_output_path(cli: &Cli, input: &Path, is_checkpoint: bool) -> anyhow::Result<()> {
    let (flag, out) = match (&cli.state_dict, &cli.triton_repo) {
        (Some(sd), _) => ("--state-dict", sd.clone()),
        (None, Some(_)) => return Ok(()),
        (None, None) => ("-o", cli.output.clone().unwrap_or_else(|| input.with_extension(if cli.int8 { "int8.onnx" } else { "onnx" }))),
    };
    let mut inputs = vec![input.to_path_buf()];
    if is_checkpoint {
        inputs.push(input.with_extension("json"));
    }
    if input.is_dir() {
        inputs.extend(std::fs::read_dir(input).into_iter().flatten().flatten().map(|e| e.path()));
    }
    inputs.extend(cli.classes.clone());
    if let Some(same) = inputs.iter().find(|i| cnnzoo_models::fsio::same_file(&out, i)) {
        bail!("{flag} {}: is {}, an input of this run; write the output elsewhere", out.display(), same.display());
    }
    cnnzoo_models::fsio::check_output(&out).map_err(|e| anyhow::anyhow!("{flag} {}: {e}", out.display()))
}

fn export(cli: &Cli, input: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    if input.extension().is_some_and(|e| e == "onnx") {
        bail!("{}: is already an ONNX file (use --inspect to describe it)", input.display());
    }
    let is_checkpoint = input.extension().is_some_and(|e| e == "ot");
    check_output_path(cli, input, is_checkpoint)?;
    let (ck, sha, extra) = if is_checkpoint {
        if let Some(flag) = [
            ("--arch", cli.arch.is_some()),
            ("--in-chans", cli.in_chans.is_some()),
            ("--size", cli.size.is_some()),
            ("--classes", cli.classes.is_some()),
        ]
        .into_iter()
        .find_map(|(f, given)| given.then_some(f))
        {
            bail!("{flag}: applies to published weights, not to a cnnzoo checkpoint ({} has its own manifest)", input.display());
        }
        let (ck, sha) = checkpoint::load_hashed(input)?;
        (ck, sha, vec![])
    } else {
        import::checkpoint(input, cli.arch.clone(), cli.in_chans, cli.size, cli.classes.as_deref())?
    };
    if let Some(out) = &cli.state_dict {
        let bytes = ck.weights.to_state_dict(&ck.graph)?;
        write_atomic(out, &bytes).map_err(|(p, e)| anyhow::anyhow!("writing {}: {e}", p.display()))?;
        let tensors = ck.graph.params().count();
        if cli.json {
            cnnzoo_models::outln!("{}", json_record(&[("output", out)], serde_json::json!({"arch": ck.graph.arch, "tensors": tensors})));
        } else {
            cnnzoo_models::outln!(
                "wrote {} ({} state dict, {tensors} tensors and their batch-norm counters)",
                out.display(),
                ck.graph.arch
            );
        }
        return Ok(());
    }
    let opset = cli.opset.unwrap_or(if cli.embed_preprocessing { embed::MIN_OPSET } else { DEFAULT_OPSET });
    if cli.embed_preprocessing && opset < embed::MIN_OPSET {
        bail!("--embed-preprocessing with --opset {opset}: the in-graph resize needs opset {} or later", embed::MIN_OPSET);
    }
    let opts = ExportOptions {
        opset,
        fold_bn: !cli.no_fold_bn,
        features_only: cli.features_only,
        metadata: metadata(&ck.manifest, &Provenance::new(&sha, !cli.no_fold_bn, cli.features_only)).into_iter().chain(extra).collect(),
    };
    let model = lower(&ck.graph, &ck.weights, &opts).with_context(|| format!("exporting {}", input.display()))?;
    if cli.int8 {
        return export_int8(cli, input, &model, &ck.manifest.preprocessing, started);
    }
    let mut model = if cli.fp16 { cnnzoo_export::fp16::convert(&model)? } else { model };
    if std::env::var_os("CNNZOO_EXPORT_FAULT").is_some_and(|v| v == "perturb-weight") {
        // Fault injection, for the test that shows validation catches a wrong export.
        if let Some(t) = model.graph.as_mut().and_then(|g| g.initializer.iter_mut().find(|t| t.raw_data.len() >= 4)) {
            t.raw_data[3] ^= 0x40;
        }
    }
    let bytes = cnnzoo_proto::encode_model(&model);
    let validation = if cli.no_validate {
        None
    } else {
        let atol = cli.atol.unwrap_or(if cli.fp16 { 1e-2 } else { 1e-4 });
        let rtol = cli.rtol.unwrap_or(if cli.fp16 { 1e-3 } else { 1e-5 });
        let v = validate::validate(&ck, &bytes, atol, rtol)?;
        if !v.passed {
            bail!(
                "validation failed: the export and the checkpoint differ by up to {:.3e} on {} {} (--atol {atol:e}, --rtol {rtol:e}); nothing written (--no-validate skips the check)",
                v.max_abs_diff,
                v.batch,
                v.inputs
            );
        }
        Some(v)
    };
    let (model, bytes, embedded) = if cli.embed_preprocessing {
        let p = &ck.manifest.preprocessing;
        let with = embed::embed_preprocessing(&model, p)?;
        let with_bytes = cnnzoo_proto::encode_model(&with);
        let check = if cli.no_validate {
            None
        } else {
            let atol = if cli.fp16 { 1e-2 } else { validate::EMBED_ATOL };
            let c = validate::check_embedded(&bytes, &with_bytes, p, atol)?;
            if c.max_abs_diff > atol {
                bail!(
                    "--embed-preprocessing: the graph's preprocessing and cnnzoo's differ by up to {:.3e} on {} images (tolerance {atol:e}); nothing written",
                    c.max_abs_diff,
                    c.images
                );
            }
            Some(c)
        };
        (with, with_bytes, check)
    } else {
        (model, bytes, None)
    };
    let output = match &cli.triton_repo {
        Some(repo) => {
            let name = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| ck.graph.arch.clone());
            let batching = TritonBatching { max_batch_size: cli.max_batch, max_queue_delay_us: cli.max_delay_us };
            let config = triton::config_pbtxt(&name, &model, batching, &input.display().to_string())?;
            triton::write_repository(repo, &name, &bytes, &config)?
        }
        None => {
            let output = cli.output.clone().unwrap_or_else(|| input.with_extension("onnx"));
            write_atomic(&output, &bytes).map_err(|(p, e)| anyhow::anyhow!("writing {}: {e}", p.display()))?;
            output
        }
    };
    let report = inspect::report(&model);
    let seconds = started.elapsed().as_secs_f64();
    if cli.json {
        let json = json_record(
            &[("output", &output)],
            serde_json::json!({"seconds": seconds, "model": report, "validation": validation, "embedded_preprocessing": embedded}),
        );
        cnnzoo_models::outln!("{json}");
    } else {
        if let Some(v) = &validation {
            cnnzoo_models::outln!(
                "validated against libtorch on {} {}: max abs diff {:.2e} (--atol {:e}, --rtol {:e})",
                v.batch,
                v.inputs,
                v.max_abs_diff,
                v.atol,
                v.rtol
            );
        }
        if let Some(c) = &embedded {
            cnnzoo_models::outln!(
                "checked the preprocessing in the graph against cnnzoo's on {} images of other sizes: max abs diff {:.2e} (tolerance {:e})",
                c.images,
                c.max_abs_diff,
                c.atol
            );
        }
        cnnzoo_models::outln!(
            "wrote {} ({}, opset {}, {} nodes, {} parameters) in {:.2} s",
            output.display(),
            ck.graph.arch,
            opset,
            report["nodes"],
            report["parameters"],
            seconds
        );
    }
    Ok(())
}

fn export_int8(
    cli: &Cli,
    input: &Path,
    fp32: &cnnzoo_proto::ModelProto,
    p: &cnnzoo_models::Preprocessing,
    started: Instant,
) -> anyhow::Result<()> {
    if cli.triton_repo.is_some() {
        bail!("--int8 and --triton-repo: export the INT8 model with -o, then lay it out for Triton yourself (one at a time for now)");
    }
    let request = int8::Request {
        data: cli.calibrate.clone().context("--int8 needs --calibrate DATA")?,
        images: cli.calibration_images,
        method: match cli.calibration_method {
            CalibrationMethod::Minmax if cli.percentile.is_some() => {
                bail!("--percentile applies to --calibration-method percentile, not minmax")
            }
            CalibrationMethod::Minmax => Method::MinMax,
            CalibrationMethod::Percentile => Method::Percentile(cli.percentile.unwrap_or(99.999)),
        },
        max_drop: cli.max_drop,
        force: cli.force,
    };
    let output = cli.output.clone().unwrap_or_else(|| input.with_extension("int8.onnx"));
    let report = int8::export(fp32, p, &request, &output)?;
    let seconds = started.elapsed().as_secs_f64();
    if cli.json {
        cnnzoo_models::outln!("{}", json_record(&[("output", &output)], serde_json::json!({"seconds": seconds, "quantization": report})));
    } else {
        let acc = match (report.fp32_test_acc, report.int8_test_acc) {
            (Some(f), Some(q)) => format!("; test accuracy fp32 {f:.4}, INT8 {q:.4}"),
            _ => String::new(),
        };
        cnnzoo_models::outln!(
            "wrote {} (INT8, {} calibration images, {}{acc}) in {seconds:.2} s",
            output.display(),
            report.calibration_images,
            report.method
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(shell) = cli.completions {
        clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "cnnzoo-export", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let Some(input) = cli.input.as_deref() else {
        cnnzoo_models::outln!("{}\n{}", cnnzoo_train::device::version_line("cnnzoo-export"), cnnzoo_train::device::libtorch_report());
        return ExitCode::SUCCESS;
    };
    let result = if cli.inspect { inspect_file(input, cli.json) } else { export(&cli, input) };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            cnnzoo_models::flags::report_error(&cnnzoo_models::flags::error_line(e.chain()), cli.json);
            ExitCode::FAILURE
        }
    }
}
