//! Users' own images: `DIR/train/<class>/*` and `DIR/test/<class>/*`, any size
//! or mode, found, decoded and prepared by the same functions inference uses
//! (`cnnzoo_models::data` and `preprocess`), so that a model sees the same
//! pixels in training and in service.

use std::path::Path;

use cnnzoo_models::data::{class_folders, collect_images};
use cnnzoo_models::preprocess::load;
use cnnzoo_models::Preprocessing;
use tch::{Kind, Tensor};

use super::{Dataset, Split};
use crate::error::{io, Result, TrainError};

fn classes_of(dir: &Path) -> Result<Vec<String>> {
    let classes = class_folders(dir).map_err(io(dir))?;
    if classes.is_empty() {
        return Err(TrainError::Data { path: dir.into(), problem: "holds no class folders".into() });
    }
    Ok(classes)
}

/// Every file decoded and preprocessed, on all cores, in the files' order.
fn decode_all(files: &[std::path::PathBuf], prep: &Preprocessing) -> Vec<Result<ndarray::Array3<f32>>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = files.len().div_ceil(threads).max(1);
    let one = |file: &std::path::PathBuf| load(file, prep).map_err(|e| TrainError::Data { path: file.clone(), problem: e.to_string() });
    std::thread::scope(|s| {
        let parts: Vec<_> = files.chunks(per).map(|part| s.spawn(move || part.iter().map(one).collect::<Vec<_>>())).collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|_| vec![Err(TrainError::Options("an image decoding thread panicked".into()))]))
            .collect()
    })
}

fn split(dir: &Path, classes: &[String], prep: &Preprocessing) -> Result<Split> {
    let (mut pixels, mut labels): (Vec<f32>, Vec<i64>) = (Vec::new(), Vec::new());
    for (label, class) in classes.iter().enumerate() {
        let class_dir = dir.join(class);
        if !class_dir.is_dir() {
            continue;
        }
        let files = collect_images(std::slice::from_ref(&class_dir));
        if files.is_empty() {
            return Err(TrainError::Data { path: class_dir, problem: "holds no images (a class needs examples)".into() });
        }
        for x in decode_all(&files, prep) {
            pixels.extend(x?.iter());
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
    let classes = classes_of(&dir.join("train"))?;
    if let Some(unknown) = classes_of(&dir.join("test"))?.into_iter().find(|c| !classes.contains(c)) {
        return Err(TrainError::Data { path: dir.join("test").join(&unknown), problem: "is a class that train/ does not have".into() });
    }
    let prep = Preprocessing::new(channels, size);
    Ok(Dataset {
        name: format!("image folder ({})", dir.display()),
        train: split(&dir.join("train"), &classes, &prep)?,
        test: split(&dir.join("test"), &classes, &prep)?,
        classes,
    })
}
