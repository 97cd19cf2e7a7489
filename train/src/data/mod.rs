//! Datasets: Fashion-MNIST in IDX files, or a folder of images per class.
//! Both end up as a float tensor of images in [0, 1] plus class indices.

mod download;
mod folder;

use std::path::Path;

use cnnzoo_models::data::read_fashion_mnist;
pub use cnnzoo_models::data::{FASHION_MNIST_CLASSES, FASHION_MNIST_FILES};

use tch::{Kind, Tensor};

pub use download::{download_fashion_mnist, Mirror};
pub use folder::load_folder;

use crate::error::Result;

/// One split: `images` is `[N, C, H, W]` float in [0, 1] on the CPU, `labels` `[N]` int64.
#[derive(Debug)]
pub struct Split {
    pub images: Tensor,
    pub labels: Tensor,
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.size()[0] as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first `n` examples (all when `n` is larger).
    pub fn take(&self, n: usize) -> Split {
        let n = n.min(self.len()) as i64;
        Split { images: self.images.narrow(0, 0, n), labels: self.labels.narrow(0, 0, n) }
    }
}

#[derive(Debug)]
pub struct Dataset {
    /// Where it was read from, for the manifest.
    pub name: String,
    pub classes: Vec<String>,
    pub train: Split,
    pub test: Split,
}

fn idx_split(dir: &Path, prefix: &str, classes: usize) -> Result<Split> {
    let d = read_fashion_mnist(dir, prefix, classes)?;
    let images = Tensor::from_slice(&d.pixels).reshape([d.count as i64, 1, d.rows as i64, d.cols as i64]).to_kind(Kind::Float) / 255.0;
    Ok(Split { images, labels: Tensor::from_slice(&d.labels).to_kind(Kind::Int64) })
}

/// Reads Fashion-MNIST (or any 10-class IDX dataset with the same file names) from `dir`.
pub fn load_idx(dir: &Path) -> Result<Dataset> {
    let classes: Vec<String> = FASHION_MNIST_CLASSES.iter().map(|s| s.to_string()).collect();
    Ok(Dataset {
        name: format!("fashion-mnist ({})", dir.display()),
        train: idx_split(dir, "train", classes.len())?,
        test: idx_split(dir, "t10k", classes.len())?,
        classes,
    })
}

/// An IDX folder when it holds the Fashion-MNIST files, else an image folder
/// with `train/` and `test/` subfolders of one folder per class.
pub fn load(dir: &Path, channels: usize, size: usize) -> Result<Dataset> {
    if dir.join("train").is_dir() && dir.join("test").is_dir() {
        load_folder(dir, channels, size)
    } else {
        load_idx(dir)
    }
}
