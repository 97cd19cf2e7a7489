//! The model repository: every `NAME.onnx` of a folder (with its
//! `NAME.card.json` settings, if any: [`crate::config`]), opened, loaded by
//! ONNX Runtime and given its batching queue before the server accepts a
//! request, so that a model that cannot load fails the start, not a client.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cnnzoo_infer::{valid_name, Backbone, BackboneOptions, Device};

use crate::batcher::BatchConfig;
use crate::budget::{DecodeBudget, DecodeLimits};
use crate::config::ModelConfig;
use crate::error::ServeError;
use crate::metrics::ModelMetrics;
use crate::model::Model;

/// How to open the models.
#[derive(Debug, Clone, Default)]
pub struct RepositoryOptions {
    pub device: Device,
    /// OpenVINO's number format (see [`cnnzoo_infer::Precision`]).
    pub precision: cnnzoo_infer::Precision,
    /// ONNX Runtime intra-op threads per model [default: all cores].
    pub threads: Option<usize>,
    pub batching: BatchConfig,
    pub decoding: DecodeLimits,
}

/// The served models, by name.
#[derive(Debug)]
pub struct Repository {
    models: BTreeMap<String, Model>,
    /// Inference requests for models that do not exist (not labelled by
    /// name: a client must not be able to grow the metrics without bound).
    pub unknown_model_requests: std::sync::atomic::AtomicU64,
}

impl Repository {
    /// Opens every `*.onnx` in `dir`; the file stem is the model's name.
    pub fn open(dir: &Path, opts: &RepositoryOptions) -> anyhow::Result<Repository> {
        let entries = std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("--model-dir {}: {e}", dir.display()))?;
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "onnx")).collect();
        files.sort();
        if files.is_empty() {
            anyhow::bail!("--model-dir {}: no NAME.onnx files to serve (cnnzoo-export writes them)", dir.display());
        }
        let backbone_opts = BackboneOptions {
            device: opts.device,
            precision: opts.precision,
            threads: opts.threads,
            max_batch: opts.batching.max_batch,
            decode_threads: Some(1),
            ..Default::default()
        };
        // Every model loads at once, each on its own thread (Backbone::open
        // starts ONNX Runtime's load); then each is waited for.
        let mut opened = vec![];
        for path in files {
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            if !valid_name(&name) {
                anyhow::bail!("{}: {name:?} is not a model name (letters, digits, '-', '_', '.'); rename the file", path.display());
            }
            // A model's own NAME.card.json, if any, says what its card does not.
            let config = ModelConfig::for_model(&path)?;
            let opts = BackboneOptions {
                card: config.card,
                logits_output: config.logits_output,
                features_output: config.features_output,
                ..backbone_opts.clone()
            };
            opened.push((name, Backbone::open(&path, &opts)?));
        }
        let mut models = BTreeMap::new();
        let budget = std::sync::Arc::new(DecodeBudget::new(opts.decoding));
        for (name, backbone) in opened {
            backbone.ready()?;
            let model = Model::new(name.clone(), backbone, opts.batching, std::sync::Arc::clone(&budget))
                .map_err(|e| anyhow::anyhow!("starting {name}'s batching thread: {e}"))?;
            models.insert(name, model);
        }
        Ok(Repository { models, unknown_model_requests: Default::default() })
    }

    /// The model called `name`, at `version` (empty or `1`).
    pub fn model(&self, name: &str, version: &str) -> Result<&Model, ServeError> {
        let model = self.models.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.models.keys().map(String::as_str).collect();
            ServeError::not_found(format!("no model '{name}' (this server has {})", known.join(", ")))
        })?;
        crate::tensor::check_version(name, version)?;
        Ok(model)
    }

    /// The model of an inference request; an unknown one is counted.
    pub fn model_for_infer(&self, name: &str, version: &str) -> Result<&Model, ServeError> {
        self.model(name, version).inspect_err(|_| {
            self.unknown_model_requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
    }

    pub fn models(&self) -> impl Iterator<Item = &Model> + Clone {
        self.models.values()
    }

    /// The server's metrics, in Prometheus's text format.
    pub fn render_metrics(&self) -> String {
        let mut text = ModelMetrics::render(self.models().map(|m| (m.name.as_str(), m.metrics.as_ref())));
        let unknown = self.unknown_model_requests.load(std::sync::atomic::Ordering::Relaxed);
        text.push_str(&format!(
            "# HELP cnnzoo_unknown_model_requests_total Inference requests for a model or version this server does not have.\n\
             # TYPE cnnzoo_unknown_model_requests_total counter\ncnnzoo_unknown_model_requests_total {unknown}\n"
        ));
        text
    }

    /// The server's name and version, and the protocol extensions it speaks.
    pub fn server_metadata() -> (&'static str, &'static str, Vec<&'static str>) {
        ("cnnzoo-serve", env!("CARGO_PKG_VERSION"), vec!["binary_tensor_data"])
    }
}
