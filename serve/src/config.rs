//! A model's own settings beside it in the repository: `NAME.card.json` next
//! to `NAME.onnx`, for a model exported elsewhere (no cnnzoo card) or to
//! change one field of a card. Its keys mean what cnnzoo-infer's flags mean,
//! so a model described once on the command line is served the same way:
//!
//! ```json
//! {"channels": 3, "size": 224, "resize_size": 256, "resize": "bilinear_antialias",
//!  "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
//!  "classes": "imagenet.txt", "logits_output": "191"}
//! ```
//!
//! `size` is a side (`224`) or `"HxW"` (`"48x192"`); `classes` a list of names
//! or a text file (one name per line) in the repository folder. An unknown
//! key is an error, not a silently ignored setting.

use std::path::{Path, PathBuf};

use cnnzoo_models::preprocess::{Filter, InputSize};
use cnnzoo_models::CardOverrides;
use serde::Deserialize;

/// The name of `model`'s settings file: `NAME.card.json` beside `NAME.onnx`.
pub fn config_path(model: &Path) -> PathBuf {
    model.with_extension("card.json")
}

/// What `NAME.card.json` may say.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    channels: Option<usize>,
    size: Option<Size>,
    resize_size: Option<usize>,
    resize: Option<Filter>,
    scale: Option<f32>,
    mean: Option<Vec<f32>>,
    std: Option<Vec<f32>>,
    exif_orientation: Option<bool>,
    classes: Option<Classes>,
    logits_output: Option<String>,
    features_output: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Size {
    Side(usize),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Classes {
    Names(Vec<String>),
    File(PathBuf),
}

/// A model's settings: card fields and the outputs to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelConfig {
    pub card: CardOverrides,
    pub logits_output: Option<String>,
    pub features_output: Option<String>,
}

/// The largest settings or class-names file read (ImageNet-21k's names are ~400 KB).
const MAX_BYTES: u64 = 16 << 20;

impl ModelConfig {
    /// Reads `model`'s `NAME.card.json` if there is one; an error names the
    /// file and what is wrong with it.
    pub fn for_model(model: &Path) -> anyhow::Result<ModelConfig> {
        let path = config_path(model);
        let bytes = match cnnzoo_models::fsio::read_bounded(&path, MAX_BYTES) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ModelConfig::default()),
            Err(e) => anyhow::bail!("{}: {e}", path.display()),
        };
        let file: File = serde_json::from_slice(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let size = match file.size {
            None => None,
            Some(Size::Side(n)) => Some(n.to_string().parse::<InputSize>()),
            Some(Size::Text(t)) => Some(t.parse::<InputSize>()),
        }
        .transpose()
        .map_err(|e| anyhow::anyhow!("{}: size {e}", path.display()))?;
        let classes = match file.classes {
            None => None,
            Some(Classes::Names(names)) => Some(names),
            Some(Classes::File(list)) => {
                let list = path.parent().unwrap_or(Path::new(".")).join(list);
                let bytes = cnnzoo_models::fsio::read_bounded(&list, MAX_BYTES)
                    .map_err(|e| anyhow::anyhow!("{}: classes {}: {e}", path.display(), list.display()))?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| anyhow::anyhow!("{}: classes {}: not a text file", path.display(), list.display()))?;
                Some(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
            }
        };
        Ok(ModelConfig {
            card: CardOverrides {
                classes,
                channels: file.channels,
                size,
                resize_size: file.resize_size,
                resize: file.resize,
                scale: file.scale,
                mean: file.mean,
                std: file.std,
                exif_orientation: file.exif_orientation,
            },
            logits_output: file.logits_output,
            features_output: file.features_output,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> anyhow::Result<ModelConfig> {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("m.onnx");
        std::fs::write(dir.path().join("m.card.json"), text).unwrap();
        std::fs::write(dir.path().join("names.txt"), "cat\n\ndog\n").unwrap();
        ModelConfig::for_model(&model)
    }

    #[test]
    fn every_key_means_what_the_flag_means() {
        let c = config(r#"{"channels": 3, "size": "48x192", "resize": "bicubic_antialias", "classes": "names.txt", "logits_output": "y"}"#)
            .unwrap();
        assert_eq!(c.card.size, Some(InputSize { height: 48, width: 192 }));
        assert_eq!(c.card.classes, Some(vec!["cat".to_string(), "dog".to_string()]));
        assert_eq!((c.card.resize, c.logits_output.as_deref()), (Some(Filter::BicubicAntialias), Some("y")));
        assert_eq!(config(r#"{"size": 224, "classes": ["a"]}"#).unwrap().card.size, Some(InputSize { height: 224, width: 224 }));
    }

    #[test]
    fn a_bad_file_names_itself_and_the_problem() {
        let e = config(r#"{"chanels": 3}"#).unwrap_err().to_string();
        assert!(e.contains("m.card.json") && e.contains("unknown field `chanels`"), "{e}");
        let e = config(r#"{"size": "0x5"}"#).unwrap_err().to_string();
        assert!(e.contains("m.card.json: size"), "{e}");
        let e = config(r#"{"classes": "missing.txt"}"#).unwrap_err().to_string();
        assert!(e.contains("classes") && e.contains("missing.txt"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ModelConfig::for_model(&dir.path().join("none.onnx")).unwrap(), ModelConfig::default());
    }
}
