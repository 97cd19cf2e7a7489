//! The manifest written beside every checkpoint (`NAME.json`). The exporter
//! copies it into the ONNX file's metadata, so inference needs that file alone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Preprocessing;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hyperparameters {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub seed: u64,
    pub optimizer: String,
    pub loss: String,
    pub init: String,
    /// For people: `fashion-mnist (DIR)`, `image folder (DIR)`, ...
    pub dataset: String,
    /// What the data was, as data (absent in manifests written before it
    /// was recorded): export validation finds its test images here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source: Option<crate::data::DataSource>,
    pub device: String,
    /// `fp32`, `bf16` or `fp16` (mixed); manifests written before it was recorded are fp32.
    #[serde(default = "fp32")]
    pub precision: String,
    /// `contiguous` or `channels-last`, the activations' layout; absent in
    /// manifests written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_format: Option<String>,
    /// The recipe beyond d2l's (d2l's own where the manifest predates it).
    #[serde(default)]
    pub tuning: crate::tuning::Tuning,
    /// The share of each class held out for testing, where the data was one
    /// folder of class folders (`--val-split`); split again by `seed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_split: Option<f64>,
}

fn fp32() -> String {
    "fp32".into()
}

/// The record of a model no run here has trained (published weights, a
/// seeded test model): zero epochs, no optimizer, fp32 on the CPU.
impl Default for Hyperparameters {
    fn default() -> Self {
        Hyperparameters {
            epochs: 0,
            batch_size: 0,
            lr: 0.0,
            seed: 0,
            optimizer: "none".into(),
            loss: "none".into(),
            init: "none".into(),
            dataset: "none".into(),
            data_source: None,
            device: "cpu".into(),
            precision: fp32(),
            memory_format: None,
            tuning: Default::default(),
            val_split: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub loss: f64,
    pub train_acc: f64,
    pub test_acc: f64,
    pub examples_per_sec: f64,
    pub seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Bumped when a field changes meaning.
    pub format: u32,
    pub arch: String,
    pub classes: Vec<String>,
    /// The network's input (its channels and size, the one record of them)
    /// and how a picture becomes it. Manifests written before had an
    /// `input` field beside it too, ignored when read.
    pub preprocessing: Preprocessing,
    pub hyperparameters: Hyperparameters,
    /// One entry per finished epoch; `--resume` continues after the last.
    pub metrics: Vec<EpochMetrics>,
    /// Versions of cnnzoo and the libraries that produced the checkpoint.
    pub versions: BTreeMap<String, String>,
    /// SHA-256 of the `.ot` file written with this manifest. The two files
    /// are renamed into place one after the other; a run stopped between the
    /// two leaves a pair that disagrees, which this finds (`--resume` and
    /// the exporter refuse it) instead of trusting the older epoch count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_sha256: Option<String>,
}

impl Manifest {
    pub const FORMAT: u32 = 1;

    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The numbers a run is resumed or exported with, within their bounds: a
    /// hand-edited manifest is refused here, not by a division by zero later.
    pub fn check(&self) -> Result<(), String> {
        let h = &self.hyperparameters;
        if !(1..=crate::MAX_BATCH).contains(&h.batch_size) {
            return Err(format!("batch_size {} (from 1 to {})", h.batch_size, crate::MAX_BATCH));
        }
        if !(h.lr.is_finite() && h.lr > 0.0) {
            return Err(format!("lr {} (a positive number)", h.lr));
        }
        if self.preprocessing.size == 0 || self.preprocessing.height == Some(0) {
            return Err(format!("input {:?} (no side of 0)", self.input()));
        }
        h.tuning.check()?;
        if let Some(share) = h.val_split.filter(|s| !(*s > 0.0 && *s < 1.0)) {
            return Err(format!("val_split {share} (above 0 and below 1)"));
        }
        Ok(())
    }

    /// The network's input `[C, H, W]`, as the preprocessing makes it.
    pub fn input(&self) -> [usize; 3] {
        let (h, w) = self.preprocessing.input_hw();
        [self.preprocessing.channels, h, w]
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a manifest always serializes")
    }
}
