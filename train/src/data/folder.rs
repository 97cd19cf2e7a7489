//! Users' own images: `DIR/train/<class>/*` and `DIR/test/<class>/*`, or one
//! folder of class folders with a share held out for testing. Any size or
//! mode, found, decoded and prepared by the same functions inference uses
//! (`cnnzoo_models::data` and `preprocess`), with the card's preprocessing,
//! so that a model sees the same pixels in training and in service.

use std::path::{Path, PathBuf};

use cnnzoo_models::data::{class_folders, collect_images, hold_out, DataSource};
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
fn decode_all(files: &[PathBuf], prep: &Preprocessing) -> Vec<Result<ndarray::Array3<f32>>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = files.len().div_ceil(threads).max(1);
    let one = |file: &PathBuf| load(file, prep).map_err(|e| TrainError::Data { path: file.clone(), problem: e.to_string() });
    std::thread::scope(|s| {
        let parts: Vec<_> = files.chunks(per).map(|part| s.spawn(move || part.iter().map(one).collect::<Vec<_>>())).collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|_| vec![Err(TrainError::Options("an image decoding thread panicked".into()))]))
            .collect()
    })
}

/// The image files of `dir/<class>` for each class, in order; a class
/// folder without images is an error (a class needs examples).
fn files_by_class(dir: &Path, classes: &[String]) -> Result<Vec<Vec<PathBuf>>> {
    let mut by_class = Vec::with_capacity(classes.len());
    for class in classes {
        let class_dir = dir.join(class);
        if !class_dir.is_dir() {
            by_class.push(vec![]);
            continue;
        }
        let files = collect_images(std::slice::from_ref(&class_dir));
        if files.is_empty() {
            return Err(TrainError::Data { path: class_dir, problem: "holds no images (a class needs examples)".into() });
        }
        by_class.push(files);
    }
    Ok(by_class)
}

/// Decodes `(file, label)` pairs into a split.
fn split(dir: &Path, examples: &[(PathBuf, i64)], prep: &Preprocessing) -> Result<Split> {
    if examples.is_empty() {
        return Err(TrainError::Data { path: dir.into(), problem: "holds no images".into() });
    }
    let files: Vec<PathBuf> = examples.iter().map(|(f, _)| f.clone()).collect();
    let (h, w) = prep.input_hw();
    let mut pixels: Vec<f32> = Vec::with_capacity(files.len() * prep.channels * h * w);
    for x in decode_all(&files, prep) {
        pixels.extend(x?.iter());
    }
    let labels: Vec<i64> = examples.iter().map(|&(_, l)| l).collect();
    let shape = [labels.len() as i64, prep.channels as i64, h as i64, w as i64];
    Ok(Split { images: Tensor::from_slice(&pixels).reshape(shape).to_kind(Kind::Float), labels: Tensor::from_slice(&labels) })
}

fn labelled(by_class: Vec<Vec<PathBuf>>) -> Vec<(PathBuf, i64)> {
    by_class.into_iter().enumerate().flat_map(|(label, files)| files.into_iter().map(move |f| (f, label as i64))).collect()
}

fn labelled_as_i64(examples: cnnzoo_models::data::Labelled) -> Vec<(PathBuf, i64)> {
    examples.into_iter().map(|(f, l)| (f, l as i64)).collect()
}

/// Reads `dir/train` and `dir/test`; the classes are `train`'s subfolders, sorted.
pub fn load_folder(dir: &Path, prep: &Preprocessing) -> Result<Dataset> {
    let classes = classes_of(&dir.join("train"))?;
    if let Some(unknown) = classes_of(&dir.join("test"))?.into_iter().find(|c| !classes.contains(c)) {
        return Err(TrainError::Data { path: dir.join("test").join(&unknown), problem: "is a class that train/ does not have".into() });
    }
    let (train, test) = (dir.join("train"), dir.join("test"));
    Ok(Dataset {
        name: format!("image folder ({})", dir.display()),
        source: DataSource::Split { path: std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()) },
        train: split(&train, &labelled(files_by_class(&train, &classes)?), prep)?,
        test: split(&test, &labelled(files_by_class(&test, &classes)?), prep)?,
        classes,
        preprocessing: prep.clone(),
    })
}

/// One folder of class folders, `share` of each class held out as the test
/// split by `seed` ([`cnnzoo_models::data::hold_out`]), so the split is the
/// same on every run with the seed (and so on `--resume`).
pub fn load_held_out(dir: &Path, prep: &Preprocessing, share: f64, seed: u64) -> Result<Dataset> {
    let classes = classes_of(dir)?;
    let (train, test) = hold_out(files_by_class(dir, &classes)?, share, seed).map_err(|e| e.about_share(dir, &classes))?;
    let (train, test) = (labelled_as_i64(train), labelled_as_i64(test));
    Ok(Dataset {
        name: format!("image folder ({}, {}% of each class held out)", dir.display(), share * 100.0),
        source: DataSource::Classes { path: std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()) },
        train: split(dir, &train, prep)?,
        test: split(dir, &test, prep)?,
        classes,
        preprocessing: prep.clone(),
    })
}
