//! The model card cnnzoo-export writes into `metadata_props` (keys `cnnzoo.*`),
//! read back so that inference needs the ONNX file alone.

use serde::de::DeserializeOwned;

use crate::preprocess::Preprocessing;

/// What inference needs to know about a model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelCard {
    /// e.g. `resnet18`; `unknown` for models without cnnzoo metadata.
    pub arch: String,
    /// Class names, by logit index (empty for a backbone without a head).
    pub classes: Vec<String>,
    pub preprocessing: Preprocessing,
    /// Test accuracy reported by training, if known.
    pub test_acc: Option<f64>,
}

/// A metadata value parsed as JSON, if present and well-formed.
pub(crate) fn json_entry<T: DeserializeOwned>(lookup: &dyn Fn(&str) -> Option<String>, key: &str) -> Option<T> {
    lookup(&format!("cnnzoo.{key}")).and_then(|v| serde_json::from_str(&v).ok())
}

impl ModelCard {
    /// Reads the card through `lookup` (key to value); `None` if the model
    /// carries no cnnzoo preprocessing.
    pub(crate) fn from_metadata(lookup: &dyn Fn(&str) -> Option<String>) -> Option<ModelCard> {
        let preprocessing: Preprocessing = json_entry(lookup, "preprocessing")?;
        Some(ModelCard {
            arch: lookup("cnnzoo.arch").unwrap_or_else(|| "unknown".into()),
            classes: json_entry(lookup, "classes").unwrap_or_default(),
            preprocessing,
            test_acc: lookup("cnnzoo.test_acc").and_then(|v| v.parse().ok()),
        })
    }
}
