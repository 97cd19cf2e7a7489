//! Image files decoded by their content, with bounded memory: a forged header
//! cannot make the decoder allocate without limit.

use std::io::{BufRead, Seek};
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageReader, Limits};
use thiserror::Error;

/// A file that could not be decoded, and why.
#[derive(Debug, Error)]
#[error("{path}: {problem}")]
pub struct ImageError {
    pub path: PathBuf,
    pub problem: String,
}

/// Largest image accepted, in pixels per side and bytes decoded: enough for a
/// 4000x3000 photo, far below what a forged header could claim.
pub const MAX_SIDE: u32 = 16_384;
const MAX_ALLOC: u64 = 1 << 30;

fn limits() -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(MAX_SIDE);
    l.max_image_height = Some(MAX_SIDE);
    l.max_alloc = Some(MAX_ALLOC);
    l
}

/// Decodes an image file by its content (not its extension), with bounded memory.
pub fn open_image(path: &Path) -> Result<DynamicImage, ImageError> {
    let err = |problem: String| ImageError { path: path.to_path_buf(), problem };
    let reader = ImageReader::open(path).map_err(|e| err(e.to_string()))?;
    decode(reader, &err)
}

fn decode<R: BufRead + Seek>(reader: ImageReader<R>, err: &dyn Fn(String) -> ImageError) -> Result<DynamicImage, ImageError> {
    let mut reader = reader.with_guessed_format().map_err(|e| err(e.to_string()))?;
    if reader.format().is_none() {
        return Err(err("not an image (unknown format)".into()));
    }
    reader.limits(limits());
    reader.decode().map_err(|e| err(e.to_string()))
}
