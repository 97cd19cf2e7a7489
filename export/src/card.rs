//! The model card written into `metadata_props`: everything inference needs
//! (classes, preprocessing) and where the model came from. Values are JSON
//! where they are structured; keys are prefixed `cnnzoo.`.

use cnnzoo_models::Manifest;
use serde_json::json;

pub fn metadata(manifest: &Manifest, checkpoint_sha256: &str, fold_bn: bool, features_only: bool) -> Vec<(String, String)> {
    let kv = |k: &str, v: String| (format!("cnnzoo.{k}"), v);
    let last = manifest.metrics.last();
    vec![
        kv("format", Manifest::FORMAT.to_string()),
        kv("arch", manifest.arch.clone()),
        kv("input", json!(manifest.input).to_string()),
        kv("classes", json!(manifest.classes).to_string()),
        kv("preprocessing", json!(manifest.preprocessing).to_string()),
        kv("outputs", if features_only { "features" } else { "logits,features" }.into()),
        kv("test_acc", last.map(|m| format!("{:.4}", m.test_acc)).unwrap_or_default()),
        kv("epochs", manifest.metrics.len().to_string()),
        kv("metrics", json!(manifest.metrics).to_string()),
        kv("hyperparameters", json!(manifest.hyperparameters).to_string()),
        kv("checkpoint_sha256", checkpoint_sha256.into()),
        kv("bn_folded", fold_bn.to_string()),
        kv("exporter", format!("cnnzoo-export {}", env!("CARGO_PKG_VERSION"))),
        kv("training_versions", json!(manifest.versions).to_string()),
    ]
}
