//! `cnnzoo-export`: a cnnzoo-train checkpoint becomes a self-describing ONNX
//! model; `--inspect` describes any ONNX file.

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use cnnzoo_export::inspect;
use cnnzoo_export_cli::{export, Cli, Exported};
use cnnzoo_models::fsio::read_bounded;
use cnnzoo_models::json_path::json_record;

/// Protobuf's own limit on a serialized model; checkpoints are smaller still.
const MAX_ONNX_BYTES: u64 = 2 << 30;

fn inspect_file(path: &Path, json: bool) -> anyhow::Result<()> {
    let bytes = read_bounded(path, MAX_ONNX_BYTES).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let model = inspect::decode(&bytes, &path.display().to_string())?;
    let report = inspect::report(&model);
    if json {
        cnnzoo_cli::outln!("{report}");
    } else {
        cnnzoo_cli::out!("{}", inspect::render(&report));
    }
    Ok(())
}

/// What an export wrote, as one JSON record or as lines for a person.
fn print(done: &Exported, json: bool) {
    match done {
        Exported::StateDict { output, arch, tensors } if json => {
            cnnzoo_cli::outln!("{}", json_record(&[("output", output)], serde_json::json!({"arch": arch, "tensors": tensors})));
        }
        Exported::StateDict { output, arch, tensors } => {
            cnnzoo_cli::outln!("wrote {} ({arch} state dict, {tensors} tensors and their batch-norm counters)", output.display());
        }
        Exported::Onnx { output, report, validation, embedded, seconds, .. } if json => {
            let record =
                serde_json::json!({"seconds": seconds, "model": report, "validation": validation, "embedded_preprocessing": embedded});
            cnnzoo_cli::outln!("{}", json_record(&[("output", output)], record));
        }
        Exported::Onnx { output, arch, opset, report, validation, embedded, seconds } => {
            if let Some(v) = validation {
                cnnzoo_cli::outln!(
                    "validated against libtorch on {} {}: max abs diff {:.2e} (--atol {:e}, --rtol {:e})",
                    v.batch,
                    v.inputs,
                    v.max_abs_diff,
                    v.atol,
                    v.rtol
                );
            }
            if let Some(c) = embedded {
                cnnzoo_cli::outln!(
                    "checked the preprocessing in the graph against cnnzoo's on {} images of other sizes: max abs diff {:.2e} (tolerance {:e})",
                    c.images,
                    c.max_abs_diff,
                    c.atol
                );
            }
            cnnzoo_cli::outln!(
                "wrote {} ({arch}, opset {opset}, {} nodes, {} parameters) in {seconds:.2} s",
                output.display(),
                report["nodes"],
                report["parameters"],
            );
        }
        Exported::Int8 { output, report, seconds } if json => {
            cnnzoo_cli::outln!("{}", json_record(&[("output", output)], serde_json::json!({"seconds": seconds, "quantization": report})));
        }
        Exported::Int8 { output, report, seconds } => {
            let acc = match (report.fp32_test_acc, report.int8_test_acc) {
                (Some(f), Some(q)) => format!("; test accuracy fp32 {f:.4}, INT8 {q:.4}"),
                _ => String::new(),
            };
            cnnzoo_cli::outln!(
                "wrote {} (INT8, {} calibration images, {}{acc}) in {seconds:.2} s",
                output.display(),
                report.calibration_images,
                report.method
            );
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The input is required unless --version or --completions is given.
    let version = || format!("{}\n{}", cnnzoo_train::device::version_line("cnnzoo-export"), cnnzoo_train::device::libtorch_report());
    let preamble = cnnzoo_cli::preamble::<Cli>(cli.completions, cli.version || cli.input.is_none(), version);
    let (None, Some(input)) = (preamble, cli.input.as_deref()) else {
        return preamble.unwrap_or(ExitCode::SUCCESS);
    };
    let result = if cli.inspect { inspect_file(input, cli.json) } else { export(&cli, input).map(|done| print(&done, cli.json)) };
    cnnzoo_cli::finish(result, cli.json)
}
