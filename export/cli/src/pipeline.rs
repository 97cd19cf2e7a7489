//! The export pipeline behind `cnnzoo-export`, as a library function: read
//! a checkpoint or published weights, lower the graph, convert it (fp16) or
//! quantize it (INT8), check it against libtorch, embed the preprocessing,
//! and write it whole or not at all. The binary prints what it returns.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use cnnzoo_export::quantize::Method;
use cnnzoo_export::triton::{self, TritonBatching};
use cnnzoo_export::{embed, inspect, lower, ExportOptions, DEFAULT_OPSET};
use cnnzoo_models::card::{Card, Provenance};
use cnnzoo_models::fsio::write_atomic;
use cnnzoo_proto::ModelProto;
use cnnzoo_train::checkpoint;

use crate::args::{CalibrationMethod, Cli};
use crate::validate::{EmbedCheck, Validation};
use crate::{import, int8, validate};

/// What one export wrote.
#[derive(Debug)]
pub enum Exported {
    /// `--state-dict`: the weights as a PyTorch state dict.
    StateDict { output: PathBuf, arch: String, tensors: usize },
    /// An ONNX model (or a Triton entry, `output` being its model file),
    /// with `inspect`'s report of it and the checks it passed.
    Onnx {
        output: PathBuf,
        arch: String,
        opset: i64,
        report: serde_json::Value,
        validation: Option<Validation>,
        embedded: Option<EmbedCheck>,
        seconds: f64,
    },
    /// `--int8`: the quantized model and its calibration and accuracy.
    Int8 { output: PathBuf, report: int8::Report, seconds: f64 },
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

/// Carries out one export that `cli` asks for, and says what it wrote.
pub fn export(cli: &Cli, input: &Path) -> anyhow::Result<Exported> {
    export_altered(cli, input, |_| {})
}

/// [`export`], with `alter` applied to the ONNX model after lowering and
/// before validation: the seam through which a test shows that a wrong
/// export is caught and not written. The binary never alters.
pub fn export_altered(cli: &Cli, input: &Path, alter: impl FnOnce(&mut ModelProto)) -> anyhow::Result<Exported> {
    let started = Instant::now();
    if input.extension().is_some_and(|e| e == "onnx") {
        bail!("{}: is already an ONNX file (use --inspect to describe it)", input.display());
    }
    let is_checkpoint = input.extension().is_some_and(|e| e == "ot");
    check_output_path(cli, input, is_checkpoint)?;
    let (ck, sha, weights) = if is_checkpoint {
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
        (ck, sha, None)
    } else {
        import::checkpoint(input, cli.arch.clone(), cli.in_chans, cli.size, cli.classes.as_deref())?
    };
    if let Some(out) = &cli.state_dict {
        let bytes = ck.weights.to_state_dict(&ck.graph)?;
        write_atomic(out, &bytes).map_err(|(p, e)| anyhow::anyhow!("writing {}: {e}", p.display()))?;
        return Ok(Exported::StateDict { output: out.clone(), arch: ck.graph.arch.clone(), tensors: ck.graph.params().count() });
    }
    let opset = cli.opset.unwrap_or(if cli.embed_preprocessing { embed::MIN_OPSET } else { DEFAULT_OPSET });
    if cli.embed_preprocessing && opset < embed::MIN_OPSET {
        bail!("--embed-preprocessing with --opset {opset}: the in-graph resize needs opset {} or later", embed::MIN_OPSET);
    }
    let opts = ExportOptions {
        opset,
        fold_bn: !cli.no_fold_bn,
        features_only: cli.features_only,
        metadata: Card { weights, ..Card::new(&ck.manifest, Provenance::new(&sha, !cli.no_fold_bn, cli.features_only)) }.to_metadata(),
    };
    let model = lower(&ck.graph, &ck.weights, &opts).with_context(|| format!("exporting {}", input.display()))?;
    if cli.int8 {
        return export_int8(cli, input, &model, &ck.manifest.preprocessing, started);
    }
    let mut model = if cli.fp16 { cnnzoo_export::fp16::convert(&model)? } else { model };
    alter(&mut model);
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
    Ok(Exported::Onnx {
        output,
        arch: ck.graph.arch.clone(),
        opset,
        report: inspect::report(&model),
        validation,
        embedded,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn export_int8(
    cli: &Cli,
    input: &Path,
    fp32: &cnnzoo_proto::ModelProto,
    p: &cnnzoo_models::Preprocessing,
    started: Instant,
) -> anyhow::Result<Exported> {
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
    Ok(Exported::Int8 { output, report, seconds: started.elapsed().as_secs_f64() })
}
