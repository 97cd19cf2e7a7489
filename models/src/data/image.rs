//! Image files decoded by their content, with bounded memory: a forged header
//! cannot make the decoder allocate without limit.

use std::io::{BufRead, Seek};
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageFormat, ImageReader, Limits};
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
    crate::fsio::check_regular(path).map_err(|e| err(e.to_string()))?;
    let reader = ImageReader::open(path).map_err(|e| err(e.to_string()))?;
    decode(reader, &err)
}

/// Decodes an image held in memory, by the same rules as [`open_image`];
/// `name` is what errors call it.
pub fn decode_image(bytes: &[u8], name: &Path) -> Result<DynamicImage, ImageError> {
    let err = |problem: String| ImageError { path: name.to_path_buf(), problem };
    decode(ImageReader::new(std::io::Cursor::new(bytes)), &err)
}

/// Whether JPEG data ends with its end-of-image marker, as a whole file does.
/// The decoder fills a truncated scan with grey; PIL calls that an error, and
/// so do we. (A few KiB of trailing bytes after the marker, which some cameras
/// write, are allowed: the marker is looked for in the last 4 KiB. Entropy-coded
/// data escapes 0xFF, so a cut scan cannot end in a false marker.)
fn jpeg_is_whole<R: BufRead + Seek>(reader: &mut R) -> std::io::Result<bool> {
    let len = reader.seek(std::io::SeekFrom::End(0))?;
    let tail_len = len.min(4 * 1024);
    reader.seek(std::io::SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0; tail_len as usize];
    reader.read_exact(&mut tail)?;
    reader.seek(std::io::SeekFrom::Start(0))?;
    Ok(tail.windows(2).any(|w| w == [0xFF, 0xD9]))
}

fn decode<R: BufRead + Seek>(reader: ImageReader<R>, err: &dyn Fn(String) -> ImageError) -> Result<DynamicImage, ImageError> {
    let reader = reader.with_guessed_format().map_err(|e| err(e.to_string()))?;
    let Some(format) = reader.format() else {
        return Err(err("not an image (unknown format)".into()));
    };
    let mut inner = reader.into_inner();
    if format == ImageFormat::Jpeg && !jpeg_is_whole(&mut inner).map_err(|e| err(e.to_string()))? {
        return Err(err("truncated JPEG (no end-of-image marker)".into()));
    }
    let mut reader = ImageReader::with_format(inner, format);
    reader.limits(limits());
    reader.decode().map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8]));
        let mut bytes = std::io::Cursor::new(vec![]);
        img.write_to(&mut bytes, ImageFormat::Jpeg).unwrap();
        bytes.into_inner()
    }

    #[test]
    fn half_a_jpeg_is_an_error_and_trailing_bytes_are_not() {
        let whole = jpeg(300, 200);
        let name = Path::new("photo.jpg");
        assert!(decode_image(&whole, name).is_ok());
        let e = decode_image(&whole[..whole.len() / 2], name).unwrap_err().to_string();
        assert!(e.starts_with("photo.jpg: truncated JPEG"), "{e}");
        let mut padded = whole.clone();
        padded.extend([0u8; 300]);
        assert!(decode_image(&padded, name).is_ok());
    }
}
