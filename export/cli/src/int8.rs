//! `cnnzoo-export --int8`: calibrates the fp32 export on images through ONNX
//! Runtime, writes the QDQ model (`cnnzoo_export::quantize`), and gates it on
//! test accuracy where the data has a test split.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use ndarray::{Array4, Axis};

use cnnzoo_export::depthwise::batch_norms_as_depthwise;
use cnnzoo_export::quantize::{Method, Observer, Plan};
use cnnzoo_infer::{evaluate, Backbone, BackboneOptions, Device, Probe};
use cnnzoo_models::card::{keys, Card, INPUT};
use cnnzoo_models::data::{class_folders, collect_images, read_fashion_mnist, DataSource, SourceError};
use cnnzoo_models::fsio::write_atomic;
use cnnzoo_models::preprocess::{load, preprocess};
use cnnzoo_models::Preprocessing;
use cnnzoo_proto::{ModelProto, StringStringEntryProto};

/// What `--int8` was asked for.
#[derive(Debug, Clone)]
pub struct Request {
    pub data: PathBuf,
    pub images: usize,
    pub method: Method,
    pub max_drop: f64,
    pub force: bool,
}

/// Images per calibration run.
const BATCH: usize = 32;

/// Where the calibration images come from: the first `n` of the training
/// split, spread evenly over it (by [`DataSource`]'s rule: IDX files,
/// `DATA/train/<class>/*`, or every image of class folders or of a folder),
/// through the model's own preprocessing.
fn calibration_inputs(data: &Path, p: &Preprocessing, n: usize) -> anyhow::Result<Vec<ndarray::Array3<f32>>> {
    let pick = |len: usize| -> Vec<usize> { (0..n.min(len)).map(|i| i * len / n.min(len)).collect() };
    let source = match DataSource::detect(data) {
        Ok(s) => s,
        Err(SourceError::Missing(_)) => bail!("--calibrate {}: no such file or folder", data.display()),
        Err(SourceError::Unrecognized(_)) => {
            bail!("--calibrate {}: no Fashion-MNIST IDX files, train/<class>/ folders or images in it", data.display())
        }
    };
    if let DataSource::FashionMnist { .. } = source {
        let split = read_fashion_mnist(data, "train", 256).map_err(|e| anyhow::anyhow!("--calibrate {}: {e}", data.display()))?;
        return pick(split.count)
            .into_iter()
            .map(|i| split.image(i).map(|g| preprocess(&image::DynamicImage::ImageLuma8(g), p)).context("image index past the split"))
            .collect();
    }
    let folders: Vec<PathBuf> = if source.has_train() {
        class_folders(&data.join("train"))
            .with_context(|| format!("--calibrate {}", data.display()))?
            .into_iter()
            .map(|c| data.join("train").join(c))
            .collect()
    } else {
        vec![data.to_path_buf()]
    };
    let mut files = collect_images(&folders);
    files.sort();
    if files.is_empty() {
        bail!("--calibrate {}: no Fashion-MNIST IDX files, train/<class>/ folders or images in it", data.display());
    }
    pick(files.len()).into_iter().map(|i| load(&files[i], p).map_err(|e| anyhow::anyhow!("--calibrate: {e}"))).collect()
}

/// Each measured tensor's range over the calibration images.
fn calibrate(
    fp32: &ModelProto,
    plan: &Plan,
    inputs: &[ndarray::Array3<f32>],
    method: Method,
) -> anyhow::Result<std::collections::BTreeMap<String, (f32, f32)>> {
    let names = plan.measured();
    let mut probe = Probe::new(&cnnzoo_proto::encode_model(&plan.calibration_model(fp32)))?;
    let columns: Vec<Option<usize>> = names.iter().map(|n| probe.outputs().iter().position(|o| o == n)).collect();
    let mut observer = Observer::new(method, names.clone());
    for pass in 0..observer.passes() {
        for chunk in inputs.chunks(BATCH) {
            let views: Vec<_> = chunk.iter().map(|a| a.view()).collect();
            let x: Array4<f32> = ndarray::stack(Axis(0), &views)?;
            let outputs = probe.run(x.view())?;
            for (k, name) in names.iter().enumerate() {
                match columns[k] {
                    Some(c) => observer.observe(pass, k, &outputs[c]),
                    None if name == INPUT => observer.observe(pass, k, x.as_slice().unwrap_or_default()),
                    None => bail!("calibration: the model gave no output '{name}'"),
                }
            }
        }
    }
    Ok(observer.ranges())
}

/// Top-1 accuracy of a model file on DATA's test split.
fn accuracy(model: &Path, data: &Path) -> anyhow::Result<f64> {
    let backbone = Backbone::open(model, &BackboneOptions { device: Device::Cpu, ..Default::default() })?;
    Ok(evaluate(&backbone, data)?.accuracy)
}

/// What the INT8 export measured, for the report and the card.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub scheme: &'static str,
    pub method: String,
    pub calibration_images: usize,
    pub fp32_test_acc: Option<f64>,
    pub int8_test_acc: Option<f64>,
}

/// Calibrates, quantizes, checks and writes the INT8 model to `output`.
pub fn export(fp32: &ModelProto, p: &Preprocessing, request: &Request, output: &Path) -> anyhow::Result<Report> {
    let inputs = calibration_inputs(&request.data, p, request.images)?;
    // Batch norms left in the graph (DenseNet's) run as 8-bit depthwise convolutions.
    let (prepared, _) = batch_norms_as_depthwise(fp32)?;
    let plan = Plan::new(&prepared)?;
    let ranges = calibrate(&prepared, &plan, &inputs, request.method)?;
    let mut int8 = plan.quantize(&prepared, &ranges)?;
    let mut report = Report {
        scheme: "QDQ: weights INT8 symmetric per output channel, activations UINT8 per tensor, biases INT32",
        method: request.method.to_string(),
        calibration_images: inputs.len(),
        fp32_test_acc: None,
        int8_test_acc: None,
    };
    let dir = output.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if DataSource::detect(&request.data).is_ok_and(|s| s.has_test()) {
        // Both models are evaluated from files, as a user would run them.
        let scratch = tempfile::Builder::new()
            .prefix(".cnnzoo-int8-")
            .tempdir_in(dir)
            .with_context(|| format!("a scratch folder in {}", dir.display()))?;
        let (f, q) = (scratch.path().join("fp32.onnx"), scratch.path().join("int8.onnx"));
        std::fs::write(&f, cnnzoo_proto::encode_model(fp32))?;
        std::fs::write(&q, cnnzoo_proto::encode_model(&int8))?;
        let (fa, qa) = (accuracy(&f, &request.data)?, accuracy(&q, &request.data)?);
        report.fp32_test_acc = Some(fa);
        report.int8_test_acc = Some(qa);
        let drop = (fa - qa) * 100.0;
        if drop > request.max_drop && !request.force {
            bail!(
                "INT8 test accuracy {qa:.4} is {drop:.2} points below fp32 {fa:.4}, more than --max-drop {}: {} not written (--force writes it anyway)",
                request.max_drop,
                output.display()
            );
        }
    }
    // The card gains what quantization measured, and is written whole again.
    let props: Vec<(&str, &str)> = int8.metadata_props.iter().map(|e| (e.key.as_str(), e.value.as_str())).collect();
    if let Some(card) = Card::from_metadata(&props)? {
        let card = Card { quantization: Some(serde_json::to_value(&report)?), ..card };
        let others: Vec<StringStringEntryProto> = int8.metadata_props.drain(..).filter(|e| !e.key.starts_with(keys::PREFIX)).collect();
        int8.metadata_props =
            card.to_metadata().into_iter().map(|(key, value)| StringStringEntryProto { key, value }).chain(others).collect();
    }
    write_atomic(output, &cnnzoo_proto::encode_model(&int8)).map_err(|(p, e)| anyhow::anyhow!("writing {}: {e}", p.display()))?;
    Ok(report)
}
