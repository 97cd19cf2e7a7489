//! The model card: what an exported model says about itself, so that
//! inference needs the ONNX file alone. The exporter writes a [`Card`] into
//! the ONNX `metadata_props`; inference reads it back with
//! [`Card::from_metadata`], which validates it; a model without one gets
//! [`Card::unknown`], and either takes the caller's overrides
//! ([`Card::merge`]). The metadata keys and the graph's input and output
//! names are defined here and nowhere else.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::json;

use crate::preprocess::{Filter, InputSize};
use crate::{EpochMetrics, Hyperparameters, Manifest, Preprocessing};

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

/// Everything a cnnzoo export says about itself, in its ONNX
/// `metadata_props` (`cnnzoo.*` keys, structured values as JSON). One struct,
/// written by [`Card::to_metadata`] and read back by [`Card::from_metadata`]:
/// what is written reads back equal. The input shape is the preprocessing's
/// (its channels and size) and nowhere else.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub arch: String,
    /// Class names, by logit index (empty for a backbone without a head).
    pub classes: Vec<String>,
    pub preprocessing: Preprocessing,
    /// Test accuracy after the last epoch, if the model was trained here.
    pub test_acc: Option<f64>,
    /// One entry per training epoch.
    pub metrics: Vec<EpochMetrics>,
    pub hyperparameters: Option<Hyperparameters>,
    /// The checkpoint, the export's options and the exporter (absent from
    /// cards written by hand).
    pub provenance: Option<Provenance>,
    /// Versions of cnnzoo and the libraries that trained the checkpoint.
    pub training_versions: BTreeMap<String, String>,
    /// INT8 exports: scheme, calibration method and images, fp32 and INT8
    /// test accuracy.
    pub quantization: Option<serde_json::Value>,
    /// Exports of published weights: the file, its format and SHA-256, and
    /// what was adapted.
    pub weights: Option<serde_json::Value>,
}

impl Card {
    /// The card of a model exported from a checkpoint with `manifest`.
    pub fn new(manifest: &Manifest, provenance: Provenance) -> Card {
        Card {
            arch: manifest.arch.clone(),
            classes: manifest.classes.clone(),
            preprocessing: manifest.preprocessing.clone(),
            // To the four decimals the card keeps, so that it reads back equal.
            test_acc: manifest.metrics.last().map(|m| (m.test_acc * 1e4).round() / 1e4),
            metrics: manifest.metrics.clone(),
            hyperparameters: Some(manifest.hyperparameters.clone()),
            provenance: Some(provenance),
            training_versions: manifest.versions.clone(),
            quantization: None,
            weights: None,
        }
    }

    /// The card of a model that carries none: its input and preprocessing,
    /// and nothing known of its network, classes or training.
    pub fn unknown(preprocessing: Preprocessing) -> Card {
        Card {
            arch: "unknown".into(),
            classes: vec![],
            preprocessing,
            test_acc: None,
            metrics: vec![],
            hyperparameters: None,
            provenance: None,
            training_versions: BTreeMap::new(),
            quantization: None,
            weights: None,
        }
    }

    /// The `metadata_props` entries, in a fixed order.
    pub fn to_metadata(&self) -> Vec<(String, String)> {
        let mut out = vec![
            (keys::FORMAT, CARD_FORMAT.to_string()),
            (keys::ARCH, self.arch.clone()),
            (keys::CLASSES, json!(self.classes).to_string()),
            (keys::PREPROCESSING, json!(self.preprocessing).to_string()),
            // Four decimals, as training reports it: a reader compares it with the log.
            (keys::TEST_ACC, self.test_acc.map(|a| format!("{a:.4}")).unwrap_or_default()),
            (keys::EPOCHS, self.metrics.len().to_string()),
            (keys::METRICS, json!(self.metrics).to_string()),
        ];
        if let Some(h) = &self.hyperparameters {
            out.push((keys::HYPERPARAMETERS, json!(h).to_string()));
        }
        if let Some(p) = &self.provenance {
            let outputs = if p.features_only { FEATURES.to_string() } else { format!("{LOGITS},{FEATURES}") };
            out.extend([
                (keys::OUTPUTS, outputs),
                (keys::CHECKPOINT_SHA256, p.checkpoint_sha256.clone()),
                (keys::BN_FOLDED, p.bn_folded.to_string()),
                (keys::EXPORTER, p.exporter.clone()),
            ]);
        }
        out.push((keys::TRAINING_VERSIONS, json!(self.training_versions).to_string()));
        out.extend(self.quantization.as_ref().map(|q| (keys::QUANTIZATION, q.to_string())));
        out.extend(self.weights.as_ref().map(|w| (keys::WEIGHTS, w.to_string())));
        out.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// Reads and validates the card in `entries` (`metadata_props`, the
    /// first of a repeated key counts). `Ok(None)` when there are no
    /// `cnnzoo.` keys at all (the model was not exported by cnnzoo); an
    /// error names the key that is missing, malformed or invalid.
    pub fn from_metadata<K: AsRef<str>, V: AsRef<str>>(entries: &[(K, V)]) -> Result<Option<Card>, CardError> {
        if !entries.iter().any(|(k, _)| k.as_ref().starts_with(keys::PREFIX)) {
            return Ok(None);
        }
        let get = |key: &str| entries.iter().find(|(k, _)| k.as_ref() == key).map(|(_, v)| v.as_ref());
        let format: u32 = parse(get(keys::FORMAT), keys::FORMAT)?;
        if format != CARD_FORMAT {
            return Err(CardError::Format { found: format });
        }
        let preprocessing: Preprocessing = parse(get(keys::PREPROCESSING), keys::PREPROCESSING)?;
        preprocessing.validate().map_err(|problem| CardError::Invalid { key: keys::PREPROCESSING, problem })?;
        let optional = |key: &'static str| get(key).filter(|v| !v.is_empty());
        let provenance = match (optional(keys::CHECKPOINT_SHA256), optional(keys::EXPORTER)) {
            (Some(sha), Some(exporter)) => Some(Provenance {
                checkpoint_sha256: sha.into(),
                bn_folded: parse(get(keys::BN_FOLDED), keys::BN_FOLDED)?,
                features_only: get(keys::OUTPUTS) == Some(FEATURES),
                exporter: exporter.into(),
            }),
            _ => None,
        };
        Ok(Some(Card {
            arch: get(keys::ARCH).ok_or(CardError::KeyMissing { key: keys::ARCH })?.to_string(),
            classes: parse(get(keys::CLASSES), keys::CLASSES)?,
            preprocessing,
            test_acc: optional(keys::TEST_ACC)
                .map(|v| v.parse().map_err(|_| CardError::Invalid { key: keys::TEST_ACC, problem: format!("{v:?} is not a number") }))
                .transpose()?,
            metrics: optional(keys::METRICS).map(|v| parse(Some(v), keys::METRICS)).transpose()?.unwrap_or_default(),
            hyperparameters: optional(keys::HYPERPARAMETERS).map(|v| parse(Some(v), keys::HYPERPARAMETERS)).transpose()?,
            provenance,
            training_versions: optional(keys::TRAINING_VERSIONS)
                .map(|v| parse(Some(v), keys::TRAINING_VERSIONS))
                .transpose()?
                .unwrap_or_default(),
            quantization: optional(keys::QUANTIZATION).map(|v| parse(Some(v), keys::QUANTIZATION)).transpose()?,
            weights: optional(keys::WEIGHTS).map(|v| parse(Some(v), keys::WEIGHTS)).transpose()?,
        }))
    }
}

/// Why a card cannot be read ([`Card::from_metadata`]) or made
/// ([`Card::merge`]). Each names the key or field at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CardError {
    /// No card in the file, and the overrides do not say the channels and size.
    #[error("has no cnnzoo model card: say at least its input channels and size")]
    Missing,
    #[error("{key}: missing")]
    KeyMissing { key: &'static str },
    /// The value is not the JSON (or number) the key holds.
    #[error("{key}: unreadable ({problem})")]
    Unreadable { key: &'static str, problem: String },
    #[error("{}: card format {found}, this build reads format {CARD_FORMAT}", keys::FORMAT)]
    Format { found: u32 },
    /// The value reads but cannot be carried out.
    #[error("{key}: {problem}")]
    Invalid { key: &'static str, problem: String },
    /// A card changed by overrides that cannot be carried out (names the field).
    #[error("{0}")]
    Overridden(String),
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

impl Card {
    /// `card` with `overrides` applied field by field, validated; without a
    /// card, the overrides must say at least the channels and size.
    pub fn merge(card: Option<Card>, overrides: &CardOverrides) -> Result<Card, CardError> {
        let mut card = match card {
            Some(c) => c,
            None => {
                let (Some(channels), Some(size)) = (overrides.channels, overrides.size) else {
                    return Err(CardError::Missing);
                };
                Card::unknown(Preprocessing::new(channels, size.width))
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
        card.preprocessing.validate().map_err(CardError::Overridden)?;
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

/// The JSON value of `key`, required.
fn parse<T: DeserializeOwned>(value: Option<&str>, key: &'static str) -> Result<T, CardError> {
    let text = value.ok_or(CardError::KeyMissing { key })?;
    serde_json::from_str(text).map_err(|e| CardError::Unreadable { key, problem: e.to_string() })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: Manifest::FORMAT,
            arch: "lenet".into(),
            classes: (0..10).map(|i| format!("c{i}")).collect(),
            preprocessing: Preprocessing::bilinear_unit(1, 28),
            hyperparameters: Hyperparameters { epochs: 1, batch_size: 2, lr: 0.5, seed: 1, optimizer: "sgd".into(), ..Default::default() },
            metrics: vec![EpochMetrics { epoch: 1, loss: 1.0, train_acc: 0.5, test_acc: 0.625, examples_per_sec: 1.0, seconds: 1.0 }],
            versions: Default::default(),
            weights_sha256: None,
        }
    }

    fn provenance() -> Provenance {
        Provenance { checkpoint_sha256: "ab".into(), bn_folded: true, features_only: false, exporter: "test".into() }
    }

    fn read(entries: &HashMap<String, String>) -> Result<Option<Card>, String> {
        let entries: Vec<(&String, &String)> = entries.iter().collect();
        Card::from_metadata(&entries).map_err(|e| e.to_string())
    }

    fn metadata(manifest: &Manifest, provenance: &Provenance) -> Vec<(String, String)> {
        Card::new(manifest, provenance.clone()).to_metadata()
    }

    #[test]
    fn what_is_written_reads_back_equal() {
        let mut card = Card::new(&manifest(), provenance());
        let back = |c: &Card| Card::from_metadata(&c.to_metadata()).unwrap().unwrap();
        assert_eq!(back(&card), card);
        card.provenance = Some(Provenance { features_only: true, ..provenance() });
        card.quantization = Some(json!({"scheme": "qdq"}));
        card.weights = Some(json!({"file": "w.pth"}));
        assert_eq!(back(&card), card);
        // A card written by hand: the keys inference needs, and no others.
        let hand =
            Card { metrics: vec![], hyperparameters: None, provenance: None, test_acc: None, quantization: None, weights: None, ..card };
        assert_eq!(back(&hand), hand);
        assert!(!hand.to_metadata().iter().any(|(k, _)| k == keys::HYPERPARAMETERS || k == keys::CHECKPOINT_SHA256));
        // Errors are typed: the key and what is wrong with it.
        let mut e = hand.to_metadata();
        e.retain(|(k, _)| k != keys::CLASSES);
        assert_eq!(Card::from_metadata(&e), Err(CardError::KeyMissing { key: keys::CLASSES }));
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
        let merged = Card::merge(card.clone(), &CardOverrides { size: Some(InputSize::square(32)), ..Default::default() }).unwrap();
        assert_eq!(merged.preprocessing.size, 32);
        assert_eq!((merged.classes.len(), merged.test_acc, merged.arch.as_str()), (10, Some(0.625), "lenet"));
        let e = Card::merge(card, &CardOverrides { channels: Some(3), mean: Some(vec![0.5]), std: Some(vec![0.5]), ..Default::default() });
        assert!(e.unwrap_err().to_string().contains("1 values for 3 channel"));
        assert_eq!(Card::merge(None, &CardOverrides { size: Some(InputSize::square(28)), ..Default::default() }), Err(CardError::Missing));
        let foreign =
            Card::merge(None, &CardOverrides { channels: Some(3), size: Some(InputSize::square(224)), ..Default::default() }).unwrap();
        assert_eq!(foreign.preprocessing, Preprocessing::new(3, 224));
    }

    #[test]
    fn class_names_must_match_the_logits() {
        let card = Card { arch: "x".into(), classes: vec!["a".into(), "b".into()], ..Card::unknown(Preprocessing::bilinear_unit(1, 8)) };
        assert!(card.check_logits(Some(2)).is_ok());
        assert!(card.check_logits(Some(3)).unwrap_err().contains("2 class names for 3 logits"));
        assert_eq!((card.label(1), card.label(5)), ("b".to_string(), "5".to_string()));
    }
}
