//! The data readers training and inference share: Fashion-MNIST's IDX files,
//! image files decoded with bounded memory, and folders of images; and what
//! a data folder is ([`DataSource`], one rule for every reader).

mod files;
mod held_out;
mod idx;
mod image;
mod source;

pub use self::image::{
    decode_image, decode_image_with, open_image, open_image_with, probe_image, recycle, DecodeOptions, ImageError, ImageProbe, MAX_SIDE,
};
pub use files::{class_folders, collect_images, IMAGE_EXTENSIONS};
pub use held_out::{held_out_root, hold_out, unsplit, HoldOutError, Labelled};
pub use idx::{locate, parse_split, read_fashion_mnist, read_split, IdxError, IdxSplit, FASHION_MNIST_CLASSES, FASHION_MNIST_FILES};
pub use source::{fashion_mnist_candidates, find_fashion_mnist, DataSource, SourceError};
