//! The manifest written beside every checkpoint (`NAME.json`). The exporter
//! copies it into the ONNX file's metadata, so inference needs that file alone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How an image becomes the network's input. Training produces its tensors
/// this way and the inference side implements the same steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    /// 1 = grayscale (ITU-R 601 luma, alpha composited on black), 3 = RGB.
    pub channels: usize,
    /// Square side the image is resized to.
    pub size: usize,
    /// Resize filter; training uses bilinear interpolation (align_corners = false).
    pub resize: String,
    /// Pixels are multiplied by this (1/255 maps bytes to [0, 1]).
    pub scale: f32,
    /// Per-channel mean and std subtracted and divided after scaling, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<Vec<f32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<Vec<f32>>,
}

impl Preprocessing {
    /// What cnnzoo-train does: bilinear resize to `size`, scale to [0, 1].
    pub fn bilinear_unit(channels: usize, size: usize) -> Self {
        Preprocessing { channels, size, resize: "bilinear".into(), scale: 1.0 / 255.0, mean: None, std: None }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hyperparameters {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub seed: u64,
    pub optimizer: String,
    pub loss: String,
    pub init: String,
    pub dataset: String,
    pub device: String,
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
    /// `[C, H, W]`.
    pub input: [usize; 3],
    pub classes: Vec<String>,
    pub preprocessing: Preprocessing,
    pub hyperparameters: Hyperparameters,
    /// One entry per finished epoch; `--resume` continues after the last.
    pub metrics: Vec<EpochMetrics>,
    /// Versions of cnnzoo and the libraries that produced the checkpoint.
    pub versions: BTreeMap<String, String>,
}

impl Manifest {
    pub const FORMAT: u32 = 1;

    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a manifest always serializes")
    }
}
