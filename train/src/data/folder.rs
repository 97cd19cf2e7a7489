//! Users' own images: `DIR/train/<class>/*` and `DIR/test/<class>/*`, any size
//! or mode, prepared by the inference side's own preprocessing function so that
//! a model sees the same pixels in training and in service.

use std::path::{Path, PathBuf};

use cnnzoo_infer::preprocess::{open_image, preprocess, Preprocessing};
use tch::{Kind, Tensor};

use super::{Dataset, Split};
use crate::error::{io, Result, TrainError};

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    entries.sort();
    Ok(entries)
}

fn class_dirs(dir: &Path) -> Result<Vec<String>> {
    let classes: Vec<String> = sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    if classes.is_empty() {
        return Err(TrainError::Data { path: dir.into(), problem: "holds no class folders".into() });
    }
    Ok(classes)
}

fn split(dir: &Path, classes: &[String], prep: &Preprocessing) -> Result<Split> {
    let (mut pixels, mut labels): (Vec<f32>, Vec<i64>) = (Vec::new(), Vec::new());
    for (label, class) in classes.iter().enumerate() {
        let class_dir = dir.join(class);
        if !class_dir.is_dir() {
            continue;
        }
        for file in sorted_entries(&class_dir)?.into_iter().filter(|p| p.is_file()) {
            let img = open_image(&file).map_err(|e| TrainError::Data { path: file.clone(), problem: e.to_string() })?;
            pixels.extend(preprocess(&img, prep).iter());
            labels.push(label as i64);
        }
    }
    if labels.is_empty() {
        return Err(TrainError::Data { path: dir.into(), problem: "holds no images".into() });
    }
    let (n, c, s) = (labels.len() as i64, prep.channels as i64, prep.size as i64);
    Ok(Split { images: Tensor::from_slice(&pixels).reshape([n, c, s, s]).to_kind(Kind::Float), labels: Tensor::from_slice(&labels) })
}

/// Reads `dir/train` and `dir/test`; the classes are `train`'s subfolders, sorted.
pub fn load_folder(dir: &Path, channels: usize, size: usize) -> Result<Dataset> {
    let classes = class_dirs(&dir.join("train"))?;
    if let Some(unknown) = class_dirs(&dir.join("test"))?.into_iter().find(|c| !classes.contains(c)) {
        return Err(TrainError::Data { path: dir.join("test").join(&unknown), problem: "is a class that train/ does not have".into() });
    }
    let prep = Preprocessing { channels, size, resize: "bilinear".into(), scale: 1.0 / 255.0, mean: None, std: None };
    Ok(Dataset {
        name: format!("image folder ({})", dir.display()),
        train: split(&dir.join("train"), &classes, &prep)?,
        test: split(&dir.join("test"), &classes, &prep)?,
        classes,
    })
}
