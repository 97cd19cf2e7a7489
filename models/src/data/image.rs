//! Image files decoded by their content, with bounded memory (a forged header
//! cannot make the decoder allocate without limit), upright by their EXIF
//! orientation, and for JPEG straight to the channels the model needs.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use thiserror::Error;

/// A file that could not be decoded, and why.
#[derive(Debug, Error)]
#[error("{path}: {problem}")]
pub struct ImageError {
    pub path: PathBuf,
    pub problem: String,
}

/// Largest image accepted, in pixels per side and bytes decoded: a
/// 16,384-pixel panorama or scan decodes, a forged header's claim does not.
pub const MAX_SIDE: u32 = 16_384;
const MAX_ALLOC: u64 = 1 << 30;

fn limits() -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(MAX_SIDE);
    l.max_image_height = Some(MAX_SIDE);
    l.max_alloc = Some(MAX_ALLOC);
    l
}

/// How to decode: the choices the model card makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// The caller wants luma only: a JPEG that stores luma (YCbCr or gray)
    /// is decoded to its Y plane alone, skipping chroma upsampling and colour
    /// conversion. Other formats decode as stored (the caller converts).
    pub luma: bool,
    /// Turn the image upright by its EXIF orientation tag.
    pub exif_orientation: bool,
}

impl Default for DecodeOptions {
    /// Full colour, upright: what a photo viewer shows.
    fn default() -> Self {
        DecodeOptions { luma: false, exif_orientation: true }
    }
}

/// Largest image file read, in bytes: a compressed image is smaller than its
/// decoded pixels, which [`MAX_ALLOC`] bounds.
const MAX_FILE: u64 = MAX_ALLOC;

/// Decodes an image file by its content (not its extension), with bounded
/// memory, in full colour and upright.
pub fn open_image(path: &Path) -> Result<DynamicImage, ImageError> {
    open_image_with(path, &DecodeOptions::default())
}

/// [`open_image`] with the decoding a model card asks for.
pub fn open_image_with(path: &Path, opts: &DecodeOptions) -> Result<DynamicImage, ImageError> {
    let err = |problem: String| ImageError { path: path.to_path_buf(), problem };
    let bytes = crate::fsio::read_bounded(path, MAX_FILE).map_err(|e| err(e.to_string()))?;
    decode(&bytes, opts, &err)
}

/// Decodes an image held in memory, by the same rules as [`open_image`];
/// `name` is what errors call it.
pub fn decode_image(bytes: &[u8], name: &Path) -> Result<DynamicImage, ImageError> {
    decode_image_with(bytes, name, &DecodeOptions::default())
}

/// [`decode_image`] with the decoding a model card asks for.
pub fn decode_image_with(bytes: &[u8], name: &Path, opts: &DecodeOptions) -> Result<DynamicImage, ImageError> {
    let err = |problem: String| ImageError { path: name.to_path_buf(), problem };
    decode(bytes, opts, &err)
}

/// Whether JPEG data ends with its end-of-image marker, as a whole file does.
/// The decoder fills a truncated scan with grey; PIL calls that an error, and
/// so do we. (A few KiB of trailing bytes after the marker, which some cameras
/// write, are allowed: the marker is looked for in the last 4 KiB. Entropy-coded
/// data escapes 0xFF, so a cut scan cannot end in a false marker.)
fn jpeg_is_whole(bytes: &[u8]) -> bool {
    bytes[bytes.len().saturating_sub(4 * 1024)..].windows(2).any(|w| w == [0xFF, 0xD9])
}

/// The bytes `w x h` pixels of `samples` bytes each take, if within [`MAX_ALLOC`].
fn check_alloc(w: usize, h: usize, samples: usize, what: &str) -> Result<(), String> {
    let need = (w as u64) * (h as u64) * samples as u64;
    if need > MAX_ALLOC {
        return Err(format!("{w}x{h} {what} needs {} MiB to decode (limit {} MiB)", need >> 20, MAX_ALLOC >> 20));
    }
    if w as u64 > MAX_SIDE as u64 || h as u64 > MAX_SIDE as u64 {
        return Err(format!("{w}x{h} pixels: a side is over {MAX_SIDE}"));
    }
    Ok(())
}

/// zune-jpeg's decoder as every JPEG here is read: lenient (as PIL is), with
/// sizes bounded by [`check_alloc`] rather than by the decoder.
fn jpeg_decoder(bytes: &[u8]) -> zune_jpeg::JpegDecoder<zune_core::bytestream::ZCursor<&[u8]>> {
    let options = zune_core::options::DecoderOptions::default().set_strict_mode(false).set_max_width(usize::MAX).set_max_height(usize::MAX);
    zune_jpeg::JpegDecoder::new_with_options(zune_core::bytestream::ZCursor::new(bytes), options)
}

/// JPEGs are decoded by zune-jpeg directly: to the Y plane alone when luma is
/// wanted and the file stores it, to RGB otherwise (CMYK and YCCK included).
fn decode_jpeg(bytes: &[u8], opts: &DecodeOptions) -> Result<(DynamicImage, Orientation), String> {
    use zune_core::colorspace::ColorSpace;
    if !jpeg_is_whole(bytes) {
        return Err("truncated JPEG (no end-of-image marker)".into());
    }
    let mut decoder = jpeg_decoder(bytes);
    decoder.decode_headers().map_err(|e| e.to_string())?;
    let (w, h) = decoder.dimensions().ok_or("JPEG without dimensions")?;
    let input = decoder.input_colorspace().ok_or("JPEG without a colour space")?;
    let out = match input {
        ColorSpace::Luma => ColorSpace::Luma,
        ColorSpace::YCbCr if opts.luma => ColorSpace::Luma,
        _ => ColorSpace::RGB,
    };
    check_alloc(w, h, out.num_components(), "JPEG")?;
    decoder.set_options(decoder.options().jpeg_set_out_colorspace(out));
    let orientation = decoder.exif().and_then(|exif| Orientation::from_exif_chunk(exif)).unwrap_or(Orientation::NoTransforms);
    let mut pixels = spare_buffer(w * h * out.num_components());
    decoder.decode_into(&mut pixels).map_err(|e| e.to_string())?;
    let (w, h) = (w as u32, h as u32);
    let img = match out {
        ColorSpace::Luma => image::GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8),
        _ => image::RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8),
    };
    Ok((img.ok_or("the JPEG decoder returned fewer pixels than the header says")?, orientation))
}

thread_local! {
    /// The pixel buffer of the last JPEG this thread decoded, given back by
    /// [`recycle`]: a fresh 36 MB allocation per photo costs more in page
    /// faults than the resize does.
    static SPARE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The largest buffer a thread keeps: a 24-megapixel RGB photo.
const SPARE_MAX: usize = 6000 * 4000 * 3;

fn spare_buffer(len: usize) -> Vec<u8> {
    let mut buf = SPARE.with(|s| s.take());
    buf.clear();
    buf.resize(len, 0);
    buf
}

/// Gives a decoded image's pixel buffer back for this thread's next decode.
pub fn recycle(img: DynamicImage) {
    let buf = match img {
        DynamicImage::ImageLuma8(b) => b.into_raw(),
        DynamicImage::ImageRgb8(b) => b.into_raw(),
        _ => return,
    };
    // A thread keeps one photo's worth, not the largest image it ever saw.
    if buf.capacity() > SPARE_MAX {
        return;
    }
    SPARE.with(|s| {
        if buf.capacity() > s.borrow().capacity() {
            *s.borrow_mut() = buf;
        }
    });
}

/// What decoding an image will take, read from its header alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageProbe {
    pub width: u32,
    pub height: u32,
    /// Bytes of the decoder's output (the pixels as stored, or as the JPEG
    /// decoder is asked for them).
    pub decoded_bytes: u64,
    /// Whether the EXIF orientation turns the image by a quarter, which
    /// copies it once more.
    pub turns: bool,
}

impl ImageProbe {
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// The most memory decoding takes at once: the decoder's buffer, and a
    /// turned copy of it.
    pub fn peak_bytes(&self) -> u64 {
        self.decoded_bytes * if self.turns { 2 } else { 1 }
    }
}

/// Reads an image's header (not its pixels) to say what decoding it will
/// take, so a server can refuse or schedule it before any pixel is made.
/// `name` is what errors call the image.
pub fn probe_image(bytes: &[u8], name: &Path, opts: &DecodeOptions) -> Result<ImageProbe, ImageError> {
    let err = |problem: String| ImageError { path: name.to_path_buf(), problem };
    let format = guess(bytes).map_err(err)?;
    let turned = |o: Orientation| {
        opts.exif_orientation
            && matches!(o, Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH)
    };
    if format == ImageFormat::Jpeg {
        use zune_core::colorspace::ColorSpace;
        let mut decoder = jpeg_decoder(bytes);
        decoder.decode_headers().map_err(|e| err(e.to_string()))?;
        let (w, h) = decoder.dimensions().ok_or_else(|| err("JPEG without dimensions".into()))?;
        let luma = matches!(decoder.input_colorspace(), Some(ColorSpace::Luma))
            || (opts.luma && matches!(decoder.input_colorspace(), Some(ColorSpace::YCbCr)));
        let orientation = decoder.exif().and_then(|exif| Orientation::from_exif_chunk(exif)).unwrap_or(Orientation::NoTransforms);
        let (w, h) = (w as u32, h as u32);
        return Ok(ImageProbe {
            width: w,
            height: h,
            decoded_bytes: u64::from(w) * u64::from(h) * if luma { 1 } else { 3 },
            turns: turned(orientation),
        });
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(|e| err(e.to_string()))?;
    let (w, h) = decoder.dimensions();
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    Ok(ImageProbe { width: w, height: h, decoded_bytes: decoder.total_bytes(), turns: turned(orientation) })
}

/// Every other format through the `image` crate, with its limits.
fn decode_other(bytes: &[u8], format: ImageFormat) -> Result<(DynamicImage, Orientation), String> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(|e| e.to_string())?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let (w, h) = decoder.dimensions();
    check_alloc(w as usize, h as usize, decoder.color_type().bytes_per_pixel() as usize, &format!("{:?}", decoder.color_type()))?;
    Ok((DynamicImage::from_decoder(decoder).map_err(|e| e.to_string())?, orientation))
}

/// The format of an image by its content.
fn guess(bytes: &[u8]) -> Result<ImageFormat, String> {
    match image::guess_format(bytes) {
        Ok(f) => Ok(f),
        Err(_) if bytes.is_empty() => Err("empty file (not an image)".into()),
        Err(_) => Err("not an image (unknown format)".into()),
    }
}

fn decode(bytes: &[u8], opts: &DecodeOptions, err: &dyn Fn(String) -> ImageError) -> Result<DynamicImage, ImageError> {
    let format = guess(bytes).map_err(err)?;
    let (mut img, orientation) =
        if format == ImageFormat::Jpeg { decode_jpeg(bytes, opts) } else { decode_other(bytes, format) }.map_err(err)?;
    if opts.exif_orientation {
        img.apply_orientation(orientation);
    }
    Ok(img)
}

#[cfg(test)]
mod tests {
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
