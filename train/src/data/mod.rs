//! Datasets: Fashion-MNIST in IDX files, or a folder of images per class.
//! Both end up as a float tensor of prepared images plus class indices, and
//! the preprocessing that made them, which becomes the model card's.

mod download;
mod folder;

use std::path::Path;

use cnnzoo_models::data::{held_out_root, read_fashion_mnist, unsplit, DataSource, IdxError};
pub use cnnzoo_models::data::{FASHION_MNIST_CLASSES, FASHION_MNIST_FILES};
use cnnzoo_models::preprocess::Filter;
use cnnzoo_models::Preprocessing;

use tch::{Kind, Tensor};

pub use download::{download_fashion_mnist, Mirror};
pub use folder::{load_folder, load_held_out};

use crate::error::{Result, TrainError};

/// One split: `images` is `[N, C, H, W]` float on the CPU, prepared as the
/// dataset's `preprocessing` says; `labels` `[N]` int64.
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
    /// Where it was read from, for people.
    pub name: String,
    /// What it was read from, for the manifest.
    pub source: DataSource,
    pub classes: Vec<String>,
    pub train: Split,
    pub test: Split,
    /// What a picture went through to become a row of `images`; the
    /// trainer writes it into the manifest at the network's input size
    /// (IDX images are resized per batch, with the filter it names).
    pub preprocessing: Preprocessing,
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
        source: DataSource::FashionMnist { path: std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()) },
        train: idx_split(dir, "train", classes.len())?,
        test: idx_split(dir, "t10k", classes.len())?,
        classes,
        preprocessing: Preprocessing::new(1, 28),
    })
}

/// [`load_idx`] for a network whose card is `card`: gray 28 px images,
/// normalized with the card's statistics (averaged over colour where the
/// card is RGB). The whole image is the input (no crop: there is nothing
/// around a Fashion-MNIST garment to cut away), resized per batch with
/// antialiased bilinear filtering, as the card then says.
pub fn load_idx_for(dir: &Path, card: &Preprocessing) -> Result<Dataset> {
    let mut d = load_idx(dir)?;
    let card = card.clone().with_channels(1);
    if let (Some(mean), Some(std)) = (&card.mean, &card.std) {
        for split in [&mut d.train, &mut d.test] {
            split.images = (&split.images - f64::from(mean[0])) / f64::from(std[0]);
        }
    }
    d.preprocessing =
        Preprocessing { resize_size: None, resize: Filter::BilinearAntialias, uint8_resize: false, height: None, size: 28, ..card };
    Ok(d)
}

/// Reads `dir` for a network whose card is `card`:
/// - with `val_split`, `dir` (or its `train/`) is one folder of class
///   folders, and that share of each class is held out for testing;
/// - otherwise by what [`DataSource::detect`] finds there: an image folder
///   (`train/` and `test/`), each picture prepared exactly as the card says
///   (its channels, resize, crop, normalization), or Fashion-MNIST's IDX
///   files (see [`load_idx_for`]), whose reader names the file it misses
///   in a folder that is neither.
pub fn load(dir: &Path, card: &Preprocessing, val_split: Option<f64>, seed: u64) -> Result<Dataset> {
    if let Some(share) = val_split {
        let root = held_out_root(dir)?;
        return load_held_out(&root, card, share, seed);
    }
    if let Ok(source @ DataSource::Split { .. }) = DataSource::detect(dir) {
        if source.has_train() && source.has_test() {
            return load_folder(dir, card);
        }
    }
    load_idx_for(dir, card).map_err(|e| match e {
        // A folder of class folders without a split: say how to split it.
        TrainError::Idx(IdxError::Missing { .. }) => match unsplit(dir) {
            Some(hint) => TrainError::Choice(hint),
            None => e,
        },
        e => e,
    })
}
