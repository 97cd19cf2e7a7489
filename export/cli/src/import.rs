//! Published weights (a torchvision or timm state dict) as the checkpoint the
//! rest of the export runs on: the network, its weights and a manifest that
//! holds the weights' own preprocessing and class names. What is resolved
//! where is `cnnzoo_models::weights::import`'s; this only adds provenance.

use std::path::Path;

use anyhow::Context;
use cnnzoo_models::weights::{self, ImportOptions, WeightsSource};
use cnnzoo_models::{Hyperparameters, Manifest};
use cnnzoo_train::checkpoint::Checkpoint;

/// Class names files are small; this bounds a wrong file.
const MAX_CLASSES_BYTES: u64 = 16 << 20;

fn class_names(path: &Path) -> anyhow::Result<Vec<String>> {
    let bytes =
        cnnzoo_models::fsio::read_bounded(path, MAX_CLASSES_BYTES).map_err(|e| anyhow::anyhow!("--classes {}: {e}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("--classes {}: not UTF-8 text", path.display()))?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect())
}

/// The checkpoint for `input`, its SHA-256 (of the weights file), and what
/// the card records of the weights ([`cnnzoo_models::card::Card::weights`]).
pub fn checkpoint(
    input: &Path,
    arch: Option<String>,
    in_chans: Option<u8>,
    size: Option<u16>,
    classes: Option<&Path>,
) -> anyhow::Result<(Checkpoint, String, Option<serde_json::Value>)> {
    if let Some(name) = &arch {
        cnnzoo_models::Arch::find(name).map_err(|e| anyhow::anyhow!("--arch: {e}"))?;
    }
    let state = weights::read_state_dict(input)?;
    let (format, file) = match &state.source {
        WeightsSource::Pth => ("torch.save state dict", input.to_path_buf()),
        WeightsSource::Safetensors => ("safetensors", input.to_path_buf()),
        WeightsSource::Hub(_) => ("Hugging Face timm folder", weights::hub_weights_file(input).context("the folder's weights file")?),
    };
    let dataset = match &state.source {
        WeightsSource::Hub(cfg) => {
            let tag = cfg.pretrained_cfg.as_ref().and_then(|p| p.tag.clone()).map(|t| format!(".{t}")).unwrap_or_default();
            format!("timm {}{tag}", cfg.architecture)
        }
        _ => "published weights".to_string(),
    };
    let opts = ImportOptions {
        arch,
        in_chans: in_chans.map(usize::from),
        size: size.map(usize::from),
        classes: classes.map(class_names).transpose()?,
    };
    let imported = weights::fit(state, &opts)?;
    for note in &imported.notes {
        eprintln!("{}: {note}", input.display());
    }
    let sha = cnnzoo_train::checkpoint::sha256_of(&file)?;
    let p = &imported.preprocessing;
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let manifest = Manifest {
        format: Manifest::FORMAT,
        arch: imported.arch.name.to_string(),
        classes: imported.classes.clone(),
        preprocessing: p.clone(),
        hyperparameters: Hyperparameters { init: format!("pretrained: {name}"), dataset, ..Default::default() },
        metrics: vec![],
        versions: [("cnnzoo".to_string(), env!("CARGO_PKG_VERSION").to_string())].into(),
        weights_sha256: None,
    };
    let card = serde_json::json!({"file": name, "format": format, "sha256": sha, "adapted": imported.notes});
    let ck = Checkpoint { manifest, graph: imported.graph, weights: imported.weights };
    Ok((ck, sha, Some(card)))
}
