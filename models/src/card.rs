//! The model card: what an exported model says about itself, so that
//! inference needs the ONNX file alone. The exporter writes it into the ONNX
//! `metadata_props` with [`metadata`]; inference reads it back with
//! [`ModelCard::from_metadata`], which validates it. The metadata keys and the
//! graph's input and output names are defined here and nowhere else.

use serde::de::DeserializeOwned;
use serde_json::json;

use crate::preprocess::{Filter, InputSize};
use crate::{Manifest, Preprocessing};

/// The graph input, `[batch, C, H, W]` float32.
pub const INPUT: &str = "input";
/// The graph input of a model that carries its preprocessing
/// (`cnnzoo-export --embed-preprocessing`): decoded pixels, uint8
/// `[batch, height, width, channels]`.
pub const IMAGE: &str = "image";
/// Class scores, `[batch, classes]` (absent from features-only exports).
pub const LOGITS: &str = "logits";
/// The pooled feature vector before the head, `[batch, D]`.
pub const FEATURES: &str = "features";

/// The card format this build writes and reads; bumped when a key changes meaning.
pub const CARD_FORMAT: u32 = 1;

/// The `metadata_props` keys, all prefixed `cnnzoo.`.
pub mod keys {
    pub const FORMAT: &str = "cnnzoo.format";
    pub const ARCH: &str = "cnnzoo.arch";
    pub const INPUT: &str = "cnnzoo.input";
    pub const CLASSES: &str = "cnnzoo.classes";
    pub const PREPROCESSING: &str = "cnnzoo.preprocessing";
    pub const OUTPUTS: &str = "cnnzoo.outputs";
    pub const TEST_ACC: &str = "cnnzoo.test_acc";
    pub const EPOCHS: &str = "cnnzoo.epochs";
    pub const METRICS: &str = "cnnzoo.metrics";
    pub const HYPERPARAMETERS: &str = "cnnzoo.hyperparameters";
    pub const CHECKPOINT_SHA256: &str = "cnnzoo.checkpoint_sha256";
    pub const BN_FOLDED: &str = "cnnzoo.bn_folded";
    pub const EXPORTER: &str = "cnnzoo.exporter";
    pub const TRAINING_VERSIONS: &str = "cnnzoo.training_versions";
    /// INT8 exports: scheme, calibration method and images, fp32 and INT8 test accuracy.
    pub const QUANTIZATION: &str = "cnnzoo.quantization";
    /// Exports of published weights: the file, its format and SHA-256, and what was adapted.
    pub const WEIGHTS: &str = "cnnzoo.weights";
    /// Every key's common prefix: a model with none of them has no card.
    pub const PREFIX: &str = "cnnzoo.";
}

/// How a model was exported, recorded beside the training manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    pub checkpoint_sha256: String,
    pub bn_folded: bool,
    pub features_only: bool,
    /// e.g. `cnnzoo-export 0.1.0`.
    pub exporter: String,
}

impl Provenance {
    /// An export by this build's cnnzoo-export.
    pub fn new(checkpoint_sha256: &str, bn_folded: bool, features_only: bool) -> Provenance {
        Provenance {
            checkpoint_sha256: checkpoint_sha256.into(),
            bn_folded,
            features_only,
            exporter: format!("cnnzoo-export {}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// The `metadata_props` entries for a trained model, in a fixed order.
/// Structured values are JSON.
pub fn metadata(manifest: &Manifest, provenance: &Provenance) -> Vec<(String, String)> {
    let last = manifest.metrics.last();
    let outputs = if provenance.features_only { FEATURES.to_string() } else { format!("{LOGITS},{FEATURES}") };
    [
        (keys::FORMAT, CARD_FORMAT.to_string()),
        (keys::ARCH, manifest.arch.clone()),
        (keys::INPUT, json!(manifest.input).to_string()),
        (keys::CLASSES, json!(manifest.classes).to_string()),
        (keys::PREPROCESSING, json!(manifest.preprocessing).to_string()),
        (keys::OUTPUTS, outputs),
        (keys::TEST_ACC, last.map(|m| format!("{:.4}", m.test_acc)).unwrap_or_default()),
        (keys::EPOCHS, manifest.metrics.len().to_string()),
        (keys::METRICS, json!(manifest.metrics).to_string()),
        (keys::HYPERPARAMETERS, json!(manifest.hyperparameters).to_string()),
        (keys::CHECKPOINT_SHA256, provenance.checkpoint_sha256.clone()),
        (keys::BN_FOLDED, provenance.bn_folded.to_string()),
        (keys::EXPORTER, provenance.exporter.clone()),
        (keys::TRAINING_VERSIONS, json!(manifest.versions).to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// What inference needs to know about a model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelCard {
    /// e.g. `resnet18`; `unknown` for models without a card.
    pub arch: String,
    /// Class names, by logit index (empty for a backbone without a head).
    pub classes: Vec<String>,
    pub preprocessing: Preprocessing,
    /// Test accuracy reported by training, if known.
    pub test_acc: Option<f64>,
}

/// Why [`ModelCard::merge`] cannot make a card.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CardError {
    /// No card in the file, and the overrides do not say the channels and size.
    #[error("has no cnnzoo model card: say at least its input channels and size")]
    Missing,
    /// The merged card cannot be carried out (names the field).
    #[error("{0}")]
    Invalid(String),
}

/// Changes to a card, field by field: each `Some` replaces that field alone.
/// For a model without a card they are the card (channels and size required).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CardOverrides {
    pub classes: Option<Vec<String>>,
    pub channels: Option<usize>,
    /// The input (or, with `resize_size`, the crop): square or height x width.
    pub size: Option<InputSize>,
    /// The shorter side resized to this, then the centre `size` cropped, rounded to 8 bits (torchvision's transforms).
    pub resize_size: Option<usize>,
    pub resize: Option<Filter>,
    pub scale: Option<f32>,
    pub mean: Option<Vec<f32>>,
    pub std: Option<Vec<f32>>,
    pub exif_orientation: Option<bool>,
}

impl ModelCard {
    /// Reads and validates the card through `lookup` (key to value). `Ok(None)`
    /// when the model has no `cnnzoo.` keys at all (it was not exported by
    /// cnnzoo); an error names the key that is missing, malformed or invalid.
    pub fn from_metadata(lookup: &dyn Fn(&str) -> Option<String>, any_key: bool) -> Result<Option<ModelCard>, String> {
        if !any_key {
            return Ok(None);
        }
        let format: u32 = parse(lookup, keys::FORMAT)?;
        if format != CARD_FORMAT {
            return Err(format!("{}: card format {format}, this build reads format {CARD_FORMAT}", keys::FORMAT));
        }
        let card = ModelCard {
            arch: lookup(keys::ARCH).ok_or_else(|| format!("{}: missing", keys::ARCH))?,
            classes: parse(lookup, keys::CLASSES)?,
            preprocessing: parse(lookup, keys::PREPROCESSING)?,
            test_acc: lookup(keys::TEST_ACC)
                .filter(|v| !v.is_empty())
                .map(|v| v.parse().map_err(|_| format!("{}: {v:?} is not a number", keys::TEST_ACC)))
                .transpose()?,
        };
        card.preprocessing.validate().map_err(|e| format!("{}: {e}", keys::PREPROCESSING))?;
        Ok(Some(card))
    }

    /// `card` with `overrides` applied field by field, validated; without a
    /// card, the overrides must say at least the channels and size.
    pub fn merge(card: Option<ModelCard>, overrides: &CardOverrides) -> Result<ModelCard, CardError> {
        let mut card = match card {
            Some(c) => c,
            None => {
                let (Some(channels), Some(size)) = (overrides.channels, overrides.size) else {
                    return Err(CardError::Missing);
                };
                ModelCard {
                    arch: "unknown".into(),
                    classes: vec![],
                    preprocessing: Preprocessing::new(channels, size.width),
                    test_acc: None,
                }
            }
        };
        let p = &mut card.preprocessing;
        if let Some(v) = overrides.channels {
            p.channels = v;
        }
        if let Some(v) = overrides.size {
            p.set_input_size(v);
        }
        if let Some(v) = overrides.resize_size {
            p.resize_size = Some(v);
            p.uint8_resize = true;
        }
        if let Some(v) = overrides.resize {
            p.resize = v;
        }
        if let Some(v) = overrides.scale {
            p.scale = v;
        }
        if overrides.mean.is_some() {
            p.mean = overrides.mean.clone();
        }
        if overrides.std.is_some() {
            p.std = overrides.std.clone();
        }
        if let Some(v) = overrides.exif_orientation {
            p.exif_orientation = v;
        }
        if let Some(classes) = &overrides.classes {
            card.classes = classes.clone();
        }
        card.preprocessing.validate().map_err(CardError::Invalid)?;
        Ok(card)
    }

    /// Checks the card against the model's outputs: one class name per logit.
    pub fn check_logits(&self, width: Option<usize>) -> Result<(), String> {
        match width {
            Some(w) if !self.classes.is_empty() && self.classes.len() != w => {
                Err(format!("{}: {} class names for {w} logits", keys::CLASSES, self.classes.len()))
            }
            _ => Ok(()),
        }
    }

    /// The label of class `i`: its name, or its number where the card has no names.
    pub fn label(&self, i: usize) -> String {
        self.classes.get(i).cloned().unwrap_or_else(|| i.to_string())
    }
}

/// A JSON value under `key`, required.
fn parse<T: DeserializeOwned>(lookup: &dyn Fn(&str) -> Option<String>, key: &str) -> Result<T, String> {
    let text = lookup(key).ok_or_else(|| format!("{key}: missing"))?;
    serde_json::from_str(&text).map_err(|e| format!("{key}: unreadable ({e})"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::HashMap;

    use super::*;
    use crate::{EpochMetrics, Hyperparameters};

    fn manifest() -> Manifest {
        Manifest {
            format: Manifest::FORMAT,
            arch: "lenet".into(),
            input: [1, 28, 28],
            classes: (0..10).map(|i| format!("c{i}")).collect(),
            preprocessing: Preprocessing::bilinear_unit(1, 28),
            hyperparameters: Hyperparameters {
                epochs: 1,
                batch_size: 2,
                lr: 0.5,
                seed: 1,
                optimizer: "sgd".into(),
                loss: "cross_entropy".into(),
                init: "xavier_uniform".into(),
                dataset: "d".into(),
                data_source: None,
                device: "cpu".into(),
                precision: "fp32".into(),
                memory_format: None,
                tuning: Default::default(),
                val_split: None,
            },
            metrics: vec![EpochMetrics { epoch: 1, loss: 1.0, train_acc: 0.5, test_acc: 0.625, examples_per_sec: 1.0, seconds: 1.0 }],
            versions: Default::default(),
            weights_sha256: None,
        }
    }

    fn provenance() -> Provenance {
        Provenance { checkpoint_sha256: "ab".into(), bn_folded: true, features_only: false, exporter: "test".into() }
    }

    fn read(entries: &HashMap<String, String>) -> Result<Option<ModelCard>, String> {
        ModelCard::from_metadata(&|k| entries.get(k).cloned(), entries.keys().any(|k| k.starts_with(keys::PREFIX)))
    }

    #[test]
    fn a_card_written_reads_back() {
        let entries: HashMap<String, String> = metadata(&manifest(), &provenance()).into_iter().collect();
        let card = read(&entries).unwrap().unwrap();
        assert_eq!(card.arch, "lenet");
        assert_eq!(card.classes.len(), 10);
        assert_eq!(card.preprocessing, Preprocessing::bilinear_unit(1, 28));
        assert_eq!(card.test_acc, Some(0.625));
        assert_eq!(entries[keys::OUTPUTS], "logits,features");
        assert!(read(&HashMap::new()).unwrap().is_none());
    }

    #[test]
    fn bad_cards_name_their_key() {
        let good: HashMap<String, String> = metadata(&manifest(), &provenance()).into_iter().collect();
        let with = |k: &str, v: &str| {
            let mut e = good.clone();
            e.insert(k.into(), v.into());
            read(&e).unwrap_err()
        };
        assert!(with(keys::FORMAT, "2").contains("card format 2"));
        assert!(with(keys::PREPROCESSING, "{").contains("cnnzoo.preprocessing: unreadable"));
        let p = |json: &str| with(keys::PREPROCESSING, json);
        assert!(p(r#"{"channels":2,"size":28,"resize":"bilinear","scale":1}"#).contains("channels 2"));
        assert!(p(r#"{"channels":1,"size":400000,"resize":"bilinear","scale":1}"#).contains("size 400000"));
        assert!(p(r#"{"channels":1,"size":28,"resize":"lanczos","scale":1}"#).contains("unknown filter"));
        assert!(p(r#"{"channels":1,"size":28,"resize":"bilinear","scale":1,"mean":[0.5],"std":[0]}"#).contains("std 0"));
        assert!(p(r#"{"channels":3,"size":28,"resize":"bilinear","scale":1,"mean":[0.5],"std":[1]}"#).contains("1 values for 3 channel"));
        assert!(p(r#"{"channels":1,"size":28,"resize":"bilinear","scale":1,"mean":[0.5]}"#).contains("both or neither"));
        let mut missing = good.clone();
        missing.remove(keys::ARCH);
        assert!(read(&missing).unwrap_err().contains("cnnzoo.arch: missing"));
    }

    #[test]
    fn overrides_change_one_field_and_keep_the_rest() {
        let entries: HashMap<String, String> = metadata(&manifest(), &provenance()).into_iter().collect();
        let card = read(&entries).unwrap();
        let merged = ModelCard::merge(card.clone(), &CardOverrides { size: Some(InputSize::square(32)), ..Default::default() }).unwrap();
        assert_eq!(merged.preprocessing.size, 32);
        assert_eq!((merged.classes.len(), merged.test_acc, merged.arch.as_str()), (10, Some(0.625), "lenet"));
        let e =
            ModelCard::merge(card, &CardOverrides { channels: Some(3), mean: Some(vec![0.5]), std: Some(vec![0.5]), ..Default::default() });
        assert!(e.unwrap_err().to_string().contains("1 values for 3 channel"));
        assert_eq!(
            ModelCard::merge(None, &CardOverrides { size: Some(InputSize::square(28)), ..Default::default() }),
            Err(CardError::Missing)
        );
        let foreign =
            ModelCard::merge(None, &CardOverrides { channels: Some(3), size: Some(InputSize::square(224)), ..Default::default() }).unwrap();
        assert_eq!(foreign.preprocessing, Preprocessing::new(3, 224));
    }

    #[test]
    fn class_names_must_match_the_logits() {
        let card = ModelCard {
            arch: "x".into(),
            classes: vec!["a".into(), "b".into()],
            preprocessing: Preprocessing::bilinear_unit(1, 8),
            test_acc: None,
        };
        assert!(card.check_logits(Some(2)).is_ok());
        assert!(card.check_logits(Some(3)).unwrap_err().contains("2 class names for 3 logits"));
        assert_eq!((card.label(1), card.label(5)), ("b".to_string(), "5".to_string()));
    }
}
