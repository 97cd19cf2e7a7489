//! A Hugging Face model folder as `huggingface-cli download timm/NAME` leaves
//! it: `config.json` (timm's `architecture`, `num_classes`, `label_names` and
//! `pretrained_cfg`, the preprocessing the weights were trained with) beside
//! `model.safetensors` (or `pytorch_model.bin`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The part of a timm `config.json` cnnzoo reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HubConfig {
    /// timm's model name, e.g. `resnet50`.
    pub architecture: String,
    #[serde(default)]
    pub num_classes: Option<usize>,
    /// Class names by logit index, when the folder carries them.
    #[serde(default)]
    pub label_names: Option<Vec<String>>,
    #[serde(default)]
    pub pretrained_cfg: Option<PretrainedCfg>,
}

/// timm's `pretrained_cfg`: how the weights expect their input.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PretrainedCfg {
    /// `[C, H, W]` at evaluation.
    pub input_size: Vec<usize>,
    /// `bilinear` or `bicubic`.
    pub interpolation: String,
    /// The crop's share of the resized image: the shorter side is resized to `floor(size / crop_pct)`.
    pub crop_pct: f64,
    /// `center` (the default), `squash` or `border`.
    #[serde(default)]
    pub crop_mode: Option<String>,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// e.g. `a1_in1k`.
    #[serde(default)]
    pub tag: Option<String>,
}

/// The weights file of a model folder.
pub fn weights_file(dir: &Path) -> Option<PathBuf> {
    ["model.safetensors", "pytorch_model.bin"].iter().map(|f| dir.join(f)).find(|p| p.is_file())
}

/// The folder's config and its weights file.
pub fn open(dir: &Path) -> Result<(HubConfig, PathBuf), String> {
    let config = dir.join("config.json");
    if !config.exists() {
        return Err("is a directory without config.json: not a checkpoint (.ot), a weights file or a Hugging Face model folder".into());
    }
    let text = crate::fsio::read_bounded(&config, 16 << 20).map_err(|e| format!("config.json: {e}"))?;
    let cfg: HubConfig = serde_json::from_slice(&text).map_err(|e| format!("config.json is not a timm model config: {e}"))?;
    let weights = weights_file(dir).ok_or("a model folder needs model.safetensors (or pytorch_model.bin) beside config.json")?;
    Ok((cfg, weights))
}

impl HubConfig {
    /// The registered network of this layout: timm's ResNets and DenseNets
    /// share torchvision's layout and keys, so `resnet50` is `tv_resnet50`.
    pub fn arch(&self) -> Option<&'static crate::Arch> {
        crate::Arch::find(&format!("tv_{}", self.architecture)).ok()
    }
}
