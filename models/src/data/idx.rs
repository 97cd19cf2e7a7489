//! The IDX format of MNIST and Fashion-MNIST, raw or gzip-compressed. The
//! trainer reads its datasets with it and `cnnzoo-infer --eval` its test split.
//! [`IdxSplit::image`] is the one way from its bytes to an image.

use std::io::Read;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Fashion-MNIST's classes, by label.
pub const FASHION_MNIST_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// The four files of Fashion-MNIST (and MNIST), gzip-compressed.
pub const FASHION_MNIST_FILES: [&str; 4] =
    ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"];

const IMAGES_MAGIC: u32 = 0x0803;
const LABELS_MAGIC: u32 = 0x0801;

/// Why an IDX file cannot be used; each names the file.
#[derive(Debug, Error)]
pub enum IdxError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: missing (neither it nor {raw} exists)", raw = raw_name(path).display())]
    Missing { path: PathBuf },
    #[error("{path}: corrupt gzip data: {source}")]
    Gzip { path: PathBuf, source: std::io::Error },
    #[error("{path}: not an IDX {what} file: magic number {found}, expected {expected}")]
    Magic { path: PathBuf, what: &'static str, expected: u32, found: u32 },
    #[error("{path}: truncated: the header promises {expected} bytes of data, the file has {found}")]
    Truncated { path: PathBuf, expected: usize, found: usize },
    #[error("{images} holds {n_images} images but {labels} holds {n_labels} labels")]
    CountMismatch { images: PathBuf, n_images: usize, labels: PathBuf, n_labels: usize },
    #[error("{path}: label {label} of example {index} is out of range (the dataset has {classes} classes)")]
    LabelRange { path: PathBuf, index: usize, label: u8, classes: usize },
    #[error("{path}: unusable, {problem}")]
    Empty { path: PathBuf, problem: String },
}

fn raw_name(gz: &Path) -> PathBuf {
    gz.with_extension("")
}

/// Finds `name` (a `.gz` file name) in `dir`, gzip-compressed or raw.
pub fn locate(dir: &Path, name: &str) -> Result<PathBuf, IdxError> {
    let gz = dir.join(name);
    // `exists`, not `is_file`: a FIFO or folder in its place is found, then refused by name when read.
    [gz.clone(), raw_name(&gz)].into_iter().find(|p| p.exists()).ok_or(IdxError::Missing { path: gz })
}

/// The most an IDX file may hold, compressed or not: Fashion-MNIST's largest
/// is 47 MB; this leaves room for bigger sets and none for a gzip bomb.
pub const MAX_IDX_BYTES: u64 = 2 << 30;

/// Reads the whole file, gunzipping it when it starts with the gzip magic.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, IdxError> {
    let raw = crate::fsio::read_bounded(path, MAX_IDX_BYTES).map_err(|source| IdxError::Io { path: path.into(), source })?;
    gunzip_if_gzip(path, raw)
}

/// The bytes as they are, or gunzipped (within [`MAX_IDX_BYTES`]) when they start with the gzip magic.
fn gunzip_if_gzip(path: &Path, raw: Vec<u8>) -> Result<Vec<u8>, IdxError> {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(&raw[..])
        .take(MAX_IDX_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|source| IdxError::Gzip { path: path.into(), source })?;
    if out.len() as u64 > MAX_IDX_BYTES {
        return Err(IdxError::Gzip { path: path.into(), source: std::io::Error::other(format!("expands past {MAX_IDX_BYTES} bytes")) });
    }
    Ok(out)
}

/// Parses the header: checks the magic and returns the dimensions and body.
fn parse<'a>(path: &Path, bytes: &'a [u8], magic: u32, what: &'static str) -> Result<(Vec<usize>, &'a [u8]), IdxError> {
    let word = |i: usize| {
        bytes.get(4 * i..4 * i + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])).ok_or(IdxError::Truncated {
            path: path.into(),
            expected: 4 * (i + 1),
            found: bytes.len(),
        })
    };
    let found = word(0)?;
    if found != magic {
        return Err(IdxError::Magic { path: path.into(), what, expected: magic, found });
    }
    let ndim = (magic & 0xff) as usize;
    let dims = (1..=ndim).map(|i| word(i).map(|d| d as usize)).collect::<Result<Vec<_>, _>>()?;
    let body = &bytes[4 * (ndim + 1)..];
    // Forged dimensions may overflow: such a file cannot hold its data.
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).unwrap_or(usize::MAX);
    if body.len() < expected {
        return Err(IdxError::Truncated { path: path.into(), expected, found: body.len() });
    }
    Ok((dims, &body[..expected]))
}

/// One split: `count` images of `rows x cols` bytes, and their labels.
#[derive(Debug, Clone)]
pub struct IdxSplit {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

impl IdxSplit {
    /// Image `i` as an 8-bit grayscale image (`None` past the end).
    pub fn image(&self, i: usize) -> Option<image::GrayImage> {
        let side = self.rows * self.cols;
        let px = self.pixels.get(i * side..(i + 1) * side)?;
        image::GrayImage::from_raw(self.cols as u32, self.rows as u32, px.to_vec())
    }
}

/// Reads an image file and its label file, checking counts and label range.
pub fn read_split(images: &Path, labels: &Path, classes: usize) -> Result<IdxSplit, IdxError> {
    parse_split((images, read_maybe_gz(images)?), (labels, read_maybe_gz(labels)?), classes)
}

/// The bytes of an image file and a label file (gzip-compressed or not), each
/// with the name errors call it by, as a split.
pub fn parse_split(images: (&Path, Vec<u8>), labels: (&Path, Vec<u8>), classes: usize) -> Result<IdxSplit, IdxError> {
    let ((images, ibytes), (labels, lbytes)) = (images, labels);
    let ibytes = gunzip_if_gzip(images, ibytes)?;
    let (dims, pixels) = parse(images, &ibytes, IMAGES_MAGIC, "image")?;
    let lbytes = gunzip_if_gzip(labels, lbytes)?;
    let (_, label_body) = parse(labels, &lbytes, LABELS_MAGIC, "label")?;
    if label_body.len() != dims[0] {
        return Err(IdxError::CountMismatch {
            images: images.into(),
            n_images: dims[0],
            labels: labels.into(),
            n_labels: label_body.len(),
        });
    }
    if let Some((index, &label)) = label_body.iter().enumerate().find(|(_, &l)| l as usize >= classes) {
        return Err(IdxError::LabelRange { path: labels.into(), index, label, classes });
    }
    if dims[1] == 0 || dims[2] == 0 {
        return Err(IdxError::Empty { path: images.into(), problem: format!("its images are {}x{} pixels", dims[1], dims[2]) });
    }
    if dims[0] == 0 {
        return Err(IdxError::Empty { path: images.into(), problem: "it holds no images".into() });
    }
    Ok(IdxSplit { count: dims[0], rows: dims[1], cols: dims[2], pixels: pixels.to_vec(), labels: label_body.to_vec() })
}

/// The Fashion-MNIST split `prefix` (`train` or `t10k`) in `dir`.
pub fn read_fashion_mnist(dir: &Path, prefix: &str, classes: usize) -> Result<IdxSplit, IdxError> {
    let images = locate(dir, &format!("{prefix}-images-idx3-ubyte.gz"))?;
    let labels = locate(dir, &format!("{prefix}-labels-idx1-ubyte.gz"))?;
    read_split(&images, &labels, classes)
}
