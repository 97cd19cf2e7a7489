//! The IDX format of MNIST and Fashion-MNIST, raw or gzip-compressed.

use std::io::Read;
use std::path::Path;

use crate::error::{io, Result, TrainError};

const IMAGES_MAGIC: u32 = 0x0803;
const LABELS_MAGIC: u32 = 0x0801;

/// Reads the whole file, gunzipping it when it starts with the gzip magic.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(io(path))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| TrainError::Data { path: path.into(), problem: format!("corrupt gzip data: {e}") })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parses the header: checks the magic and returns the dimensions and body.
fn parse<'a>(path: &Path, bytes: &'a [u8], magic: u32, what: &'static str) -> Result<(Vec<usize>, &'a [u8])> {
    let word = |i: usize| -> Result<u32> {
        bytes.get(4 * i..4 * i + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])).ok_or_else(|| TrainError::Truncated {
            path: path.into(),
            expected: 4 * (i + 1),
            found: bytes.len(),
        })
    };
    let found = word(0)?;
    if found != magic {
        return Err(TrainError::Magic { path: path.into(), what, expected: magic, found });
    }
    let ndim = (magic & 0xff) as usize;
    let dims = (1..=ndim).map(|i| word(i).map(|d| d as usize)).collect::<Result<Vec<_>>>()?;
    let body = &bytes[4 * (ndim + 1)..];
    let expected: usize = dims.iter().product();
    if body.len() < expected {
        return Err(TrainError::Truncated { path: path.into(), expected, found: body.len() });
    }
    Ok((dims, &body[..expected]))
}

/// Images as `(count, rows, cols, pixels)`.
pub fn read_images(path: &Path) -> Result<(usize, usize, usize, Vec<u8>)> {
    let bytes = read_maybe_gz(path)?;
    let (dims, body) = parse(path, &bytes, IMAGES_MAGIC, "image")?;
    Ok((dims[0], dims[1], dims[2], body.to_vec()))
}

/// Labels, each checked to be below `classes`.
pub fn read_labels(path: &Path, classes: usize) -> Result<Vec<u8>> {
    let bytes = read_maybe_gz(path)?;
    let (_, body) = parse(path, &bytes, LABELS_MAGIC, "label")?;
    if let Some((index, &label)) = body.iter().enumerate().find(|(_, &l)| l as usize >= classes) {
        return Err(TrainError::LabelRange { path: path.into(), index, label, classes });
    }
    Ok(body.to_vec())
}
